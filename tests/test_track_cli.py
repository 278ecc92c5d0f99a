"""`siamtrack track`: outputs in the community format, annotated video, and one-line errors."""

import math

import cv2
import numpy as np
import pytest
import torch

from tracker import TrackResult, build_tracker
from tracker.cli import main
from tracker.config.presets import get_preset
from tracker.models import build_model, save_checkpoint


@pytest.fixture(scope="module")
def parity(shared_dir):
    return shared_dir / "parity" / "pysot_alex_dwxcorr_w05"


def test_track_writes_boxes_video_and_scores(shared_dir, parity, tmp_path, capsys):
    seq = shared_dir / "data/sequences/BMX3"
    out, video = tmp_path / "boxes.txt", tmp_path / "out.avi"
    rc = main(
        [
            "track",
            str(seq / "img"),
            "--config",
            str(parity / "config.yaml"),
            "--weights",
            str(parity / "weights.pth"),
            "--groundtruth",
            str(seq / "groundtruth_rect.txt"),
            "--output",
            str(out),
            "--save-video",
            str(video),
            "--max-frames",
            "6",
            "--quiet",
        ]
    )
    assert rc == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 6
    assert [float(v) for v in lines[0].split(",")] == [294.0, 58.5, 74.5, 101.0]  # line 1 = the initial box
    expected = [[float(v) for v in ln.split(",")] for ln in (parity / "boxes.txt").read_text().split()[:6]]
    got = [[float(v) for v in ln.split(",")] for ln in lines]
    assert np.abs(np.array(got) - np.array(expected)).max() < 0.5
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert cap.read()[0]
    final = capsys.readouterr().out.strip().splitlines()[-1]
    assert final.startswith("frames 6") and "AUC" in final and "lost" in final


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["/no/such/video.mp4", "--init", "1,1,5,5", "--model", "opencv:kcf"], "no such file"),
        (["{seq}", "--init", "10,10,0,5", "--model", "opencv:kcf"], "zero or negative size"),
        (["{seq}", "--init", "5000,10,20,20", "--model", "opencv:kcf"], "outside"),
        (
            ["{seq}", "--init", "10,10,20,20", "--model", "siamrpn_alex_upxcorr", "--weights", "{parity}/weights.pth"],
            "no registered preset matches it",
        ),
        (
            ["{seq}", "--init", "10,10,20,20", "--model", "siamfc_alexnet", "--weights", "{parity}/config.yaml"],
            "not a checkpoint (corrupt or not a torch file)",
        ),
        (["{seq}", "--init", "10,10,20,20", "--model", "nope"], "unknown model preset"),
        (["{seq}", "--init", "10,10,20,20", "--model", "opencv:nano"], "--nano-dir FOLDER"),
        (
            ["{seq}", "--init", "10,10,20,20", "--model", "opencv:nano", "--nano-dir", "/no/such/folder"],
            "model folder /no/such/folder does not exist",
        ),
    ],
)
def test_errors_are_one_clear_line_and_exit_2(shared_dir, parity, capsys, argv, needle):
    seq = str(shared_dir / "data/sequences/BMX3/img")
    argv = [a.format(seq=seq, parity=parity) for a in argv]
    rc = main(["track", *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err
    assert "Traceback" not in err


def test_cuda_request_without_cuda_is_a_clear_error(shared_dir, parity, capsys):
    if torch.cuda.is_available():
        pytest.fail("this check needs a machine without CUDA; run the GPU tests instead")
    rc = main(
        [
            "track",
            str(shared_dir / "data/sequences/BMX3/img"),
            "--init",
            "10,10,20,20",
            "--config",
            str(parity / "config.yaml"),
            "--weights",
            str(parity / "weights.pth"),
            "--device",
            "cuda",
        ]
    )
    assert rc == 2 and "CUDA is not available" in capsys.readouterr().err


def test_undecodable_frame_is_reported_and_skipped(shared_dir, tmp_path, capsys):
    src = sorted((shared_dir / "data/sequences/BMX3/img").iterdir())[:5]
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, p in enumerate(src):
        (folder / f"{i:03d}.jpg").write_bytes(p.read_bytes() if i != 2 else b"not a jpeg")
    out = tmp_path / "b.txt"
    rc = main(
        ["track", str(folder), "--init", "294,58.5,74.5,101", "--model", "opencv:kcf", "--output", str(out), "--quiet"]
    )
    assert rc == 0
    assert len(out.read_text().splitlines()) == 5  # one line per frame, the bad one included
    captured = capsys.readouterr()
    assert "frame 2 skipped" in captured.err and "skipped 1" in captured.out


def test_no_nan_box_ever(parity, shared_dir):
    tracker = build_tracker(str(parity / "config.yaml"), weights=parity / "weights.pth", engine="torch")
    frame = cv2.imread(str(sorted((shared_dir / "data/sequences/BMX3/img").iterdir())[0]))
    tracker.init(frame, (294, 58.5, 74.5, 101))
    with torch.no_grad():
        for p in tracker.model.parameters():
            p.fill_(float("nan"))
    tracker.model.fast_path = None  # the fast path holds its own folded copies of the weights
    r = tracker.update(frame)
    assert isinstance(r, TrackResult)
    assert all(math.isfinite(v) for v in r.box) and math.isfinite(r.score)


@pytest.mark.slow
def test_long_term_mode_widens_the_search_when_unsure(shared_dir, tmp_path):
    preset = get_preset("siamrpn_alex_dwxcorr")
    torch.manual_seed(0)
    w = tmp_path / "w.pth"
    save_checkpoint(w, build_model(preset), {"preset": preset.name})
    tracker = build_tracker("siamrpn_alex_dwxcorr", weights=w, long_term=True, confidence_low=1.01, engine="torch")
    frames = sorted((shared_dir / "data/sequences/BMX3/img").iterdir())[:3]
    tracker.init(cv2.imread(str(frames[0])), (294, 58.5, 74.5, 101))
    first = tracker.update(cv2.imread(str(frames[1])))
    # every score is below a confidence_low of 1.01: the state is kept, and the tracker reports lost
    assert first.lost and tracker.redetecting
    assert np.allclose(first.box[2:], (74.5, 101))
    seen = []
    original = tracker.model.track
    tracker.model.track = lambda x, k: seen.append(x.shape[-1]) or original(x, k)
    tracker.update(cv2.imread(str(frames[2])))
    assert seen == [831]  # the enlarged search region was used for this frame


def test_nanotrack_from_the_command_line_with_its_folder(shared_dir, tmp_path, capsys):
    seq = shared_dir / "data/sequences/BMX3"
    rc = main(
        [
            "track",
            str(seq / "img"),
            "--groundtruth",
            str(seq / "groundtruth_rect.txt"),
            "--model",
            "opencv:nano",
            "--opencv-models",
            str(shared_dir / "peers"),
            "--max-frames",
            "10",
            "--quiet",
        ]
    )
    assert rc == 0 and capsys.readouterr().out.strip().splitlines()[-1].startswith("frames 10 ")


@pytest.mark.parametrize("model", ["nanotrack_v3", "anchorfree_effnet_lite0", "siamfc_alexnet"])
def test_long_term_is_refused_in_one_line_where_it_does_not_help(model, capsys):
    """Re-detection made the anchor-free models worse on real footage (kinds.check_long_term); SiamFC has none."""
    rc = main(["track", "--demo", "--model", model, "--long-term", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "--long-term is for the SiamRPN models only" in err and "Traceback" not in err
