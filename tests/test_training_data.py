"""Training data: readers for sequences (OTB / VOT / GOT-10k), stills (COCO JSON, YOLO), unlabeled video,
and the source mix (weights, frame ranges, held-out validation sequences)."""

import json

import cv2
import numpy as np
import pytest

from tracker.geometry import polygon_to_box
from tracker.training.data import (
    DataError,
    parse_box_lines,
    read_coco_json,
    read_image,
    read_sequences,
    read_yolo,
    track_box,
)
from tracker.training.source_spec import SourceSpec, parse_source_spec
from tracker.training.sources import TrackSource, build_mix
from tracker.training.video_source import SelfSupervisedParams, VideoSource, similarity_pair


def write_sequence(folder, boxes, size=48, gt_name="groundtruth_rect.txt", img_sub="img", sep=","):
    d = folder / img_sub if img_sub else folder
    d.mkdir(parents=True, exist_ok=True)
    for i in range(len(boxes)):
        img = np.full((size, size, 3), 90, np.uint8)
        cv2.putText(img, str(i), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        cv2.imwrite(str(d / f"{i + 1:08d}.jpg"), img)
    (folder / gt_name).write_text("\n".join(sep.join(str(v) for v in b) for b in boxes) + "\n")


def test_shared_sequences_are_read_with_missing_frames_marked(shared_dir):
    tracks = {t.name: t for t in read_sequences(shared_dir / "data" / "sequences")}
    assert len(tracks) == 11
    assert len(tracks["car1"]) == 252
    # person9 has 12 frames out of view (NaN), which must never be sampled
    assert (~tracks["person9"].valid).sum() == 12
    assert np.isfinite(tracks["car1"].boxes).all()


def test_bad_ground_truth_line_names_file_and_line(tmp_path):
    write_sequence(tmp_path / "s", [[1, 2, 3, 4], [1, 2, 3, 4]])
    (tmp_path / "s" / "groundtruth_rect.txt").write_text("1,2,3,4\n1,2,x,4\n")
    with pytest.raises(DataError, match=r"groundtruth_rect.txt:2"):
        read_sequences(tmp_path)
    (tmp_path / "s" / "groundtruth_rect.txt").write_text("1,2,3\n")
    with pytest.raises(DataError, match=r":1: expected 4 or 8 numbers, got 3"):  # tracker.io.boxes' wording
        parse_box_lines(tmp_path / "s" / "groundtruth_rect.txt")


def test_delimiters_and_vot_polygons(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("1\t2\t3\t4\n5 6 7 8\n10,20,30,20,30,40,10,40\n")
    b = parse_box_lines(p)
    assert b[:2].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    # an axis-aligned polygon: VOT's rule gives the corner extent + 1, centred on the corners' mean
    assert np.allclose(b[2], polygon_to_box([10, 20, 30, 20, 30, 40, 10, 40]))
    x, y, w, h = b[2]
    assert (w, h) == (21, 21) and np.isclose(x + (w - 1) / 2, 20) and np.isclose(y + (h - 1) / 2, 30)


def test_got10k_layout_list_and_absence(tmp_path):
    for name in ("GOT-10k_Train_000002", "GOT-10k_Train_000001"):
        write_sequence(tmp_path / name, [[5, 5, 10, 10]] * 4, gt_name="groundtruth.txt", img_sub=None)
    (tmp_path / "GOT-10k_Train_000001" / "absence.label").write_text("0\n1\n0\n0\n")
    (tmp_path / "list.txt").write_text("GOT-10k_Train_000002\nGOT-10k_Train_000001\n")
    tracks = read_sequences(tmp_path)
    assert [t.name for t in tracks] == ["GOT-10k_Train_000002", "GOT-10k_Train_000001"]  # list.txt order
    assert tracks[1].valid.tolist() == [True, False, True, True]
    (tmp_path / "list.txt").write_text("GOT-10k_Train_000002\nmissing_one\n")
    with pytest.raises(DataError, match=r"list.txt:2"):
        read_sequences(tmp_path)


def test_coco_json_skips_crowd_and_tiny_boxes(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((40, 60, 3), np.uint8))
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 60, "height": 40}],
        "annotations": [
            {"id": 1, "image_id": 7, "bbox": [1, 2, 20, 10], "iscrowd": 0},
            {"id": 2, "image_id": 7, "bbox": [1, 2, 20, 10], "iscrowd": 1},
            {"id": 3, "image_id": 7, "bbox": [1, 2, 2, 10], "iscrowd": 0},
        ],
    }
    (tmp_path / "ann.json").write_text(json.dumps(data))
    tracks = read_coco_json(tmp_path / "ann.json")
    assert len(tracks) == 1 and tracks[0].boxes.tolist() == [[1, 2, 20, 10]]
    assert tracks[0].frames[0] == str(tmp_path / "a.jpg")
    (tmp_path / "bad.json").write_text('{"images": [\n  1,,\n]}')
    with pytest.raises(DataError, match=r"bad.json:2"):
        read_coco_json(tmp_path / "bad.json")


def test_yolo_boxes_match_the_pixel_csv(shared_dir):
    root = shared_dir / "data" / "still" / "coco8"
    tracks = read_yolo(root)
    assert len(tracks) == 30
    rows = [ln.split(",") for ln in (root / "boxes_xywh_pixels.csv").read_text().splitlines()[1:]]
    t = next(t for t in tracks if t.frames[0].endswith(rows[0][0].split("/")[-1]))
    img = read_image(t.frames[0])
    assert np.allclose(track_box(t, 0, img.shape), [float(v) for v in rows[0][2:]], atol=0.2)


def test_frame_range_limits_the_template_search_distance(tmp_path):
    # box x encodes the frame number, so the sampled pair tells its frame distance
    write_sequence(tmp_path / "s", [[10 + i, 5, 8, 8] for i in range(12)])
    src = TrackSource("s", read_sequences(tmp_path), frame_range=2)
    gaps = []
    for k in range(60):
        _, bz, _, bx, _, _ = src.sample_pair(np.random.default_rng(k))
        gaps.append(abs(bz[0] - bx[0]))
    assert max(gaps) <= 2 and min(gaps) == 0 and 2 in gaps


def test_mix_weights_and_validation_hold_out(tmp_path):
    for s in ("a", "b", "val1"):
        write_sequence(tmp_path / s, [[4, 4, 10, 10]] * 3)
    mix = build_mix(
        [parse_source_spec(f"sequences={tmp_path},weight=3"), parse_source_spec(f"otb={tmp_path / 'a'},weight=1")],
        ["val1"],
    )
    assert [t.name for t in mix.validation] == ["val1"]
    assert np.allclose(mix.probs, [0.75, 0.25])
    picks = [mix.pick(np.random.default_rng(i)) for i in range(2000)]
    assert abs(np.mean(np.array(picks) == 0) - 0.75) < 0.04
    keys = {mix.sample_pair(np.random.default_rng(i))[4] for i in range(100)}
    names = {mix.sources[0].tracks[k[1]].name for k in keys if k[0] == mix.sources[0].name}
    assert names == {"a", "b"}  # val1 never sampled
    with pytest.raises(DataError, match="not found.*nosuch"):
        build_mix([SourceSpec("sequences", str(tmp_path))], ["nosuch"])


def test_source_spec_parsing_errors():
    s = parse_source_spec("yolo=/x/y,weight=0.5,range=7,min_size=3")
    assert (s.kind, s.path, s.weight, s.frame_range, s.min_size) == ("yolo", "/x/y", 0.5, 7, 3.0)
    for bad, msg in [
        ("nokind", "KIND=PATH"),
        ("foo=/x", "unknown kind"),
        ("yolo=/x,weight=abc", "valid float"),
        ("yolo=/x,colour=1", "unknown option"),
    ]:
        with pytest.raises(DataError, match=msg):
            parse_source_spec(bad)


def test_self_supervised_pair_box_follows_the_known_transform():
    img = np.full((120, 160, 3), 60, np.uint8)
    cv2.circle(img, (70, 50), 6, (255, 255, 255), -1)  # a blob at the box centre
    box = np.array([70 - 9.5, 50 - 9.5, 20, 20])
    p = SelfSupervisedParams(rotation=10, scale=0.15, translate=0.3, brightness=0, contrast=0)
    for seed in range(5):
        out, nb, params = similarity_pair(img, box, np.random.default_rng(seed), p)
        ys, xs = np.nonzero(out[..., 0] > 200)
        cx, cy = nb[0] + (nb[2] - 1) / 2, nb[1] + (nb[3] - 1) / 2
        assert abs(xs.mean() - cx) < 1.0 and abs(ys.mean() - cy) < 1.0
        assert np.isclose(nb[2], 20 * params["scale"])


def test_video_source_reads_frames_and_makes_pairs(shared_dir):
    path = shared_dir / "data" / "videos" / "Megamind.avi"  # 720x528, 270 frames
    src = VideoSource("v", str(path), frames_per_video=5)
    assert len(src.frames[0]) == 5 and src.frames[0][0].shape == (469, 640, 3)  # long side fitted to 640
    img_z, bz, img_x, bx, key, _ = src.sample_pair(np.random.default_rng(3))
    assert img_z.shape == img_x.shape == (469, 640, 3)
    assert 0 <= bz[0] and bz[0] + bz[2] <= 640 and bz[2] > 0 and bx[2] > 0
    assert key[0] == "v"
    # the preloaded frames are the video's frames 0, 67, 134, 202, 269 (evenly spaced)
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 269)
    ok, last = cap.read()
    assert ok and np.abs(src._fit(last).astype(int) - src.frames[0][4]).mean() < 2
    # too many videos for the frame budget: frames are read on demand
    lazy = VideoSource("v", str(path), max_frames=3)
    assert lazy.frames is None and lazy.sample_single(np.random.default_rng(0))[0].shape == (469, 640, 3)


def test_masks_and_csv_stills_are_read(tmp_path):
    from pathlib import Path

    """A sequence with a mask folder gets per-frame masks; a boxes CSV of stills gets one-frame tracks with
    their masks; the search frame's mask comes with a sampled pair."""
    import cv2

    from tracker.training.data import read_boxes_csv, read_sequences
    from tracker.training.sources import TrackSource

    seq = tmp_path / "seqs" / "s1"
    (seq / "img").mkdir(parents=True)
    mroot = tmp_path / "masks"
    (mroot / "s1").mkdir(parents=True)
    for i in range(1, 4):
        img = np.zeros((40, 60, 3), np.uint8)
        img[10:20, 10 + i : 30 + i] = 200
        cv2.imwrite(str(seq / "img" / f"{i:05d}.jpg"), img)
        m = np.zeros((40, 60), np.uint8)
        m[10:20, 10 + i : 30 + i] = 255
        cv2.imwrite(str(mroot / "s1" / f"{i:05d}.png"), m)
    (seq / "groundtruth_rect.txt").write_text("".join(f"{10 + i},10,20,10\n" for i in range(1, 4)))
    tracks = read_sequences(tmp_path / "seqs", mroot)
    assert len(tracks) == 1 and [Path(m).name for m in tracks[0].masks] == ["00001.png", "00002.png", "00003.png"]
    assert read_sequences(tmp_path / "seqs")[0].masks is None
    *_, mask = TrackSource("s", tracks).sample_pair(np.random.default_rng(0))
    assert mask.shape == (40, 60) and mask.max() == 255 and (mask > 127).sum() == 200

    still = tmp_path / "still"
    (still / "images").mkdir(parents=True)
    (still / "masks").mkdir()
    cv2.imwrite(str(still / "images" / "a.jpg"), np.zeros((30, 30, 3), np.uint8))
    cv2.imwrite(str(still / "masks" / "a.png"), np.zeros((30, 30), np.uint8))
    (still / "boxes.csv").write_text("image,x,y,w,h,class\nimages/a.jpg,1,2,10,12,thing\nimages/a.jpg,0,0,2,2,tiny\n")
    st = read_boxes_csv(still)
    assert len(st) == 1 and st[0].boxes.tolist() == [[1, 2, 10, 12]] and st[0].masks[0].endswith("a.png")
    with pytest.raises(DataError, match="header"):
        (still / "bad.csv").write_text("file,a,b\nx,1,2\n")
        read_boxes_csv(still / "bad.csv")
