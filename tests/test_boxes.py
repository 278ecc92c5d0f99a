"""One box parser (tracker.io.boxes) and one IoU (tracker.geometry): every entry point follows the same rules."""

import argparse
import math

import numpy as np
import pytest

from tracker.batch.manifest import parse_box_text
from tracker.bench.metrics import iou
from tracker.bench.sequences import DatasetError, parse_box_file
from tracker.cli.args import box_arg
from tracker.geometry import iou_corners, iou_xywh
from tracker.io.boxes import BoxFileError, boxes_from_rows, parse_box, read_box_file, read_box_rows, split_values
from tracker.training.data import DataError, parse_box_lines
from tracker.training.targets import iou_corners as training_iou


@pytest.mark.parametrize("text", ["1,2,3,4", "1\t2\t3\t4", "1 2 3 4", "1;2;3;4", " 1, 2,\t3 ;4 "])
def test_every_entry_point_splits_box_text_alike(tmp_path, text):
    assert split_values(text) == ["1", "2", "3", "4"]
    assert parse_box(text) == parse_box_text(text) == box_arg(text) == (1.0, 2.0, 3.0, 4.0)
    f = tmp_path / "gt.txt"
    f.write_text(f"{text}\n{text}\n")
    assert read_box_rows(f) == parse_box_file(f) == [[1.0, 2.0, 3.0, 4.0]] * 2
    assert parse_box_lines(f).tolist() == [[1.0, 2.0, 3.0, 4.0]] * 2


def test_box_text_is_checked_once(tmp_path):
    with pytest.raises(ValueError, match="zero or negative size"):
        parse_box("1,2,0,4")
    with pytest.raises(ValueError, match="not finite"):
        parse_box("1,2,nan,4")
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected X,Y,W,H \(four numbers\), got '1,2,3'"):
        box_arg("1,2,3")
    assert box_arg("-1,-2.5,3,4") == (-1.0, -2.5, 3.0, 4.0)  # --init: whether it fits is the tracker's check


def test_nan_marks_a_missing_target_and_trailing_blank_lines_are_ignored(tmp_path):
    f = tmp_path / "gt.txt"
    f.write_text("1,2,3,4\nNaN,NaN,NaN,NaN\n5,6,7,8\n\n\n")
    rows = read_box_rows(f)
    assert len(rows) == 3 and all(math.isnan(v) for v in rows[1])
    assert np.isnan(boxes_from_rows(rows)[1]).all() and np.isnan(parse_box_lines(f)[1]).all()
    assert len(parse_box_file(f)) == 3


def test_a_blank_line_inside_is_an_error_everywhere(tmp_path):
    """Line n is frame n: a blank line would shift every box after it (training skipped it before)."""
    f = tmp_path / "gt.txt"
    f.write_text("1,2,3,4\n\n5,6,7,8\n")
    for read, error in ((read_box_rows, BoxFileError), (parse_box_file, DatasetError), (parse_box_lines, DataError)):
        with pytest.raises(error, match=r"gt.txt:2: empty line"):
            read(f)


def test_values_and_counts_are_named_alike(tmp_path):
    f = tmp_path / "gt.txt"
    f.write_text("1,2,3,4\n1,2,x,4\n")
    for read, error in ((parse_box_file, DatasetError), (parse_box_lines, DataError)):
        with pytest.raises(error, match=r"gt.txt:2: 'x' is not a number"):
            read(f)
    f.write_text("m1,2,3\n")
    for read, error in ((parse_box_file, DatasetError), (parse_box_lines, DataError)):
        with pytest.raises(error, match=r"gt.txt:1: segmentation-mask ground truth is not supported"):
            read(f)


def test_polygons_use_the_one_vot_rule(tmp_path):
    f = tmp_path / "gt.txt"
    f.write_text("10,20,30,20,30,40,10,40\n")
    assert np.allclose(parse_box_lines(f)[0], boxes_from_rows(parse_box_file(f, counts=(4, 8)))[0])


def test_a_lone_box_file_is_read_0_based_by_its_format(tmp_path):
    otb = tmp_path / "groundtruth_rect.txt"
    otb.write_text("11,21,5,6\n")
    other = tmp_path / "gt.txt"
    other.write_text("11,21,5,6\n")
    assert read_box_file(otb) == [[10.0, 20.0, 5.0, 6.0]]  # OTB: 1-based
    assert read_box_file(other) == [[11.0, 21.0, 5.0, 6.0]]  # anything else: 0-based
    assert read_box_file(otb, "0") == [[11.0, 21.0, 5.0, 6.0]]  # --gt-base overrides
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(BoxFileError, match="no boxes in the file"):
        read_box_file(tmp_path / "empty.txt")


def test_one_iou_for_training_and_bench():
    rng = np.random.default_rng(1)
    xywh = np.abs(rng.normal(50, 20, (200, 4)))
    other = np.abs(rng.normal(50, 20, (200, 4)))
    corners = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    other_c = np.concatenate([other[:, :2], other[:, :2] + other[:, 2:]], axis=1)
    np.testing.assert_allclose(iou_xywh(xywh, other), iou_corners(corners, other_c), atol=1e-12)
    np.testing.assert_array_equal(iou(xywh, other), iou_xywh(xywh, other))  # bench scores: this IoU
    assert training_iou is iou_corners  # training targets: this one
    assert iou_corners(corners, tuple(corners[0]))[0] == 1.0
    assert iou_xywh([[0, 0, 10, 10]], [5, 5, 10, 10])[0] == pytest.approx(25 / 175)
    assert iou_xywh([[0, 0, 0, 0]], [0, 0, 0, 0])[0] == 0.0  # empty union: 0
