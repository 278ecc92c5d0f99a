"""Dataset readers: OTB (with the OTB-2015 quirks), VOT, GOT-10k, generic; clear errors for bad files."""

import math

import numpy as np
import pytest

from tracker.bench.dataset_formats import detect_format
from tracker.bench.datasets import load_dataset
from tracker.bench.sequences import DatasetError


def _images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")  # the readers list frames; they never decode them


def _otb_seq(root, name, n_img, gt_lines, gt_name="groundtruth_rect.txt", digits=4, first=1):
    d = root / name
    _images(d / "img", [f"{i:0{digits}d}.jpg" for i in range(first, first + n_img)])
    (d / gt_name).write_text("".join(line + "\n" for line in gt_lines))
    return d


def test_otb_delimiters_nan_and_zero_size_lines(tmp_path):
    _otb_seq(tmp_path, "Mixed", 4, ["1,2,3,4", "1\t2\t3\t4", "1 2  3 4", "NaN,NaN,NaN,NaN"])
    _otb_seq(tmp_path, "Zero", 2, ["1,2,3,4", "5,6,0,0"])
    fmt, seqs = load_dataset(tmp_path)
    assert fmt == "otb"
    mixed, zero = {s.name: s for s in seqs}["Mixed"], {s.name: s for s in seqs}["Zero"]
    np.testing.assert_array_equal(mixed.gt[:3], [[0, 1, 3, 4]] * 3)  # OTB's 1-based boxes, 0-based here
    assert np.isnan(mixed.gt[3]).all()  # left out of the scores
    assert np.isnan(zero.gt[1]).all()


def test_otb_2015_frame_ranges_david_and_tiger1(tmp_path):
    # David: 770 images, ground truth for frames 300..770 only
    _otb_seq(tmp_path, "David", 770, ["1,1,5,5"] * 471)
    # Tiger1: 354 images and 354 boxes; the benchmark starts at frame 6
    _otb_seq(tmp_path, "Tiger1", 354, [f"{i},1,5,5" for i in range(1, 355)])
    # Board: 5-digit file names, nothing special otherwise
    _otb_seq(tmp_path, "Board", 12, ["1,1,5,5"] * 12, digits=5)
    seqs = {s.name: s for s in load_dataset(tmp_path)[1]}
    david = seqs["David"]
    assert len(david) == 471 and david.frames[0].name == "0300.jpg" and david.frames[-1].name == "0770.jpg"
    tiger = seqs["Tiger1"]
    assert len(tiger) == 349 and tiger.frames[0].name == "0006.jpg" and tiger.gt[0, 0] == 5
    assert len(seqs["Board"]) == 12 and seqs["Board"].frames[-1].name == "00012.jpg"


def test_otb_2015_blurcar_with_numbered_images_already_cut(tmp_path):
    # BlurCar3's images start at 0003.jpg in the download; 357 boxes = frames 3..359
    _otb_seq(tmp_path, "BlurCar3", 357, ["1,1,5,5"] * 357, first=3)
    (s,) = load_dataset(tmp_path)[1]
    assert len(s) == 357 and s.frames[0].name == "0003.jpg"


def test_otb_jogging_two_targets_and_human4_empty_first_file(tmp_path):
    d = _otb_seq(tmp_path, "Jogging", 3, ["1,1,5,5"] * 3, gt_name="groundtruth_rect.1.txt")
    (d / "groundtruth_rect.2.txt").write_text("9,9,5,5\n" * 3)
    h = _otb_seq(tmp_path, "Human4", 2, ["2,2,5,5"] * 2, gt_name="groundtruth_rect.2.txt")
    (h / "groundtruth_rect.1.txt").write_text("")
    seqs = {s.name: s for s in load_dataset(tmp_path)[1]}
    assert set(seqs) == {"Jogging-1", "Jogging-2", "Human4"}
    assert seqs["Jogging-2"].gt[0, 0] == 8
    assert seqs["Human4"].gt_file.name == "groundtruth_rect.2.txt"


def test_otb_malformed_line_names_file_and_line(tmp_path):
    _otb_seq(tmp_path, "Bad", 3, ["1,2,3,4", "1,2,x,4", "1,2,3,4"])
    with pytest.raises(DatasetError, match=r"Bad/groundtruth_rect.txt:2: 'x' is not a number"):
        load_dataset(tmp_path)


def test_otb_wrong_value_count_and_count_mismatch(tmp_path):
    _otb_seq(tmp_path, "Three", 2, ["1,2,3,4", "1,2,3"])
    with pytest.raises(DatasetError, match=r"Three/groundtruth_rect.txt:2: expected 4 numbers, got 3"):
        load_dataset(tmp_path)
    (tmp_path / "Three" / "groundtruth_rect.txt").write_text("1,2,3,4\n" * 5)
    with pytest.raises(DatasetError, match=r"groundtruth_rect.txt: 5 boxes but 2 images"):
        load_dataset(tmp_path)


def test_sequence_filter_and_unknown_name(tmp_path):
    _otb_seq(tmp_path, "A", 2, ["1,1,5,5"] * 2)
    _otb_seq(tmp_path, "B", 2, ["1,1,5,5"] * 2)
    assert [s.name for s in load_dataset(tmp_path, sequences=["b"])[1]] == ["B"]
    with pytest.raises(DatasetError, match="no sequence named C"):
        load_dataset(tmp_path, sequences=["C"])


def test_vot_polygons_tags_and_colour_folder(tmp_path):
    (tmp_path / "list.txt").write_text("rot\nrect\n")
    rot = tmp_path / "rot"
    _images(rot / "color", [f"{i:08d}.jpg" for i in range(1, 4)])
    (rot / "groundtruth.txt").write_text("20,10,30,20,20,30,10,20\n" * 3)
    (rot / "occlusion.tag").write_text("0\n1\n")  # shorter than the sequence: padded with 0
    rect = tmp_path / "rect"
    _images(rect, ["00000001.jpg", "00000002.jpg"])  # VOT2016 style: images beside the ground truth
    (rect / "groundtruth.txt").write_text("1,2,3,4\n5,6,7,8\n")
    fmt, seqs = load_dataset(tmp_path)
    assert fmt == "vot"
    r = seqs[0]
    w = 20 * math.sqrt(0.5) + 1
    np.testing.assert_allclose(r.gt[0], [20 - (w - 1) / 2, 20 - (w - 1) / 2, w, w])
    assert len(r.region(0)) == 8
    np.testing.assert_array_equal(r.tags["occlusion"], [0, 1, 0])
    assert seqs[1].gt[1].tolist() == [5, 6, 7, 8]


def test_vot_mask_ground_truth_is_refused_clearly(tmp_path):
    (tmp_path / "list.txt").write_text("m\n")
    _images(tmp_path / "m" / "color", ["1.jpg"])
    (tmp_path / "m" / "groundtruth.txt").write_text("m1,2,3,4,5\n")
    with pytest.raises(DatasetError, match=r"m/groundtruth.txt:1: segmentation-mask"):
        load_dataset(tmp_path)


def test_vot_list_naming_a_missing_folder(tmp_path):
    (tmp_path / "list.txt").write_text("here\nmissing\n")
    _images(tmp_path / "here", ["1.jpg"])
    (tmp_path / "here" / "groundtruth.txt").write_text("1,1,5,5\n")
    with pytest.raises(DatasetError, match=r"list.txt:2: sequence folder .*missing does not exist"):
        load_dataset(tmp_path, "vot")


def test_got10k_absence_and_cover_leave_frames_out(tmp_path):
    (tmp_path / "list.txt").write_text("GOT-10k_Val_000001\n")
    d = tmp_path / "GOT-10k_Val_000001"
    _images(d, [f"{i:08d}.jpg" for i in range(1, 5)])
    (d / "groundtruth.txt").write_text("1,1,5,5\n2,2,5,5\n3,3,5,5\n4,4,5,5\n")
    (d / "absence.label").write_text("0\n1\n0\n0\n")
    (d / "cover.label").write_text("8\n0\n0\n5\n")
    fmt, (s,) = load_dataset(tmp_path)
    assert fmt == "got10k"
    assert np.isnan(s.gt[1]).all() and np.isnan(s.gt[2]).all()  # absent, fully covered
    assert s.gt[3].tolist() == [3, 3, 5, 5]  # GOT-10k's boxes are 1-based


def test_got10k_test_split_with_only_the_first_box(tmp_path):
    (tmp_path / "list.txt").write_text("T\n")
    _images(tmp_path / "T", ["00000001.jpg", "00000002.jpg", "00000003.jpg"])
    (tmp_path / "T" / "groundtruth.txt").write_text("1,1,5,5\n")
    (tmp_path / "T" / "meta_info.ini").write_text("[METAINFO]\n")
    (s,) = load_dataset(tmp_path)[1]
    assert len(s) == 3 and np.isnan(s.gt[1:]).all()


def test_generic_layout_and_detection(tmp_path):
    _images(tmp_path / "clip_a" / "frames", ["a1.png", "a2.png", "a10.png"])
    (tmp_path / "clip_a" / "gt.txt").write_text("1 1 5 5\n2 2 5 5\n3 3 5 5\n")
    _images(tmp_path / "clip_b", ["b1.jpg", "b2.jpg"])
    (tmp_path / "clip_b" / "my_boxes.txt").write_text("1,1,5,5\n1,1,5,5\n")
    assert detect_format(tmp_path) == "generic"
    seqs = load_dataset(tmp_path)[1]
    assert [s.name for s in seqs] == ["clip_a", "clip_b"]
    assert [f.name for f in seqs[0].frames] == ["a1.png", "a2.png", "a10.png"]  # natural order


def test_real_sequences_read_with_nan_frames(shared_dir):
    fmt, seqs = load_dataset(shared_dir / "data" / "sequences")
    assert fmt == "otb" and len(seqs) == 11
    by = {s.name: s for s in seqs}
    assert sum(len(s) for s in seqs) == 2076
    assert int(np.isnan(by["person9"].gt[:, 0]).sum()) == 12
    assert by["car1"].size == (640, 480)


def test_box_origin_per_format_and_override(tmp_path):
    """OTB and GOT-10k files are 1-based, VOT and other layouts 0-based, a folder with origin.json (the
    project's shared data) 0-based; --gt-base overrides. Sequences come back 0-based and say their origin."""
    from tracker.io.boxes import box_file_base, gt_base_for

    otb = tmp_path / "otb"
    _otb_seq(otb, "A", 2, ["11,21,5,6"] * 2)
    (s,) = load_dataset(otb)[1]
    assert s.gt_base == 1 and s.gt[0].tolist() == [10, 20, 5, 6]
    (s,) = load_dataset(otb, gt_base="0")[1]
    assert s.gt_base == 0 and s.gt[0].tolist() == [11, 21, 5, 6]
    (otb / "A" / "origin.json").write_text("{}")
    (s,) = load_dataset(otb)[1]
    assert s.gt_base == 0 and s.gt[0].tolist() == [11, 21, 5, 6]
    assert gt_base_for("vot", tmp_path / "x.txt") == 0 and gt_base_for("generic", tmp_path / "x.txt") == 0
    assert gt_base_for("got10k", tmp_path / "x.txt") == 1 and gt_base_for("got10k", tmp_path / "x", "0") == 0
    assert box_file_base(tmp_path / "groundtruth_rect.txt") == 1 and box_file_base(tmp_path / "gt.txt") == 0
    assert box_file_base(otb / "A" / "groundtruth_rect.txt") == 0  # beside origin.json


def test_shared_sequences_are_read_as_documented_zero_based(shared_dir):
    """../shared/data documents its boxes as 0-based (README, TRAIN_VAL.md); each folder has an origin.json."""
    seq_dir = shared_dir / "data" / "sequences"
    fmt, seqs = load_dataset(seq_dir, sequences=["car1", "Human3"])
    assert fmt == "otb"
    for s in seqs:
        raw = [float(v) for v in s.gt_file.read_text().splitlines()[0].split(",")]
        assert s.gt_base == 0 and np.allclose(s.gt[0], raw)


def test_results_files_keep_the_dataset_convention(tmp_path):
    """Trackers work in 0-based pixels; a 1-based dataset's results files are 1-based like its ground truth
    (and published raw results), and read back 0-based."""
    from tracker.bench.results import ResultsLayout

    layout = ResultsLayout(tmp_path, "otb", "otb")
    layout.bases = {"A": 1}
    layout.write("t", "A", [(10, 20, 5, 6), (11.5, 20, 5, 6)], [0.0, 0.01])
    assert layout.box_file("t", "A").read_text().splitlines() == ["11,21,5,6", "12.5,21,5,6"]
    np.testing.assert_array_equal(layout.read_boxes("t", "A"), [[10, 20, 5, 6], [11.5, 20, 5, 6]])
    vot = ResultsLayout(tmp_path, "vot", "vot")
    vot.bases = {"B": 1}
    vot.write("t", "B", [1, (1, 2, 3, 2, 3, 4, 1, 4), 2, 0], [0.0] * 4)
    traj = vot.read_trajectory("t", "B")
    assert traj[0] == 1 and traj[2] == 2 and traj[3] == 0
    np.testing.assert_array_equal(traj[1], [1, 2, 3, 2, 3, 4, 1, 4])
    assert vot.box_file("t", "B").read_text().splitlines()[1] == "2,3,4,3,4,5,2,5"
