"""Geometry: the pure functions every tracker and the training crops rely on."""

import numpy as np
import pytest

from tracker.geometry import anchor_boxes, anchor_shapes, context_size, decode_deltas, padded_region, subwindow


def naive_region(img, y0, y1, x0, x1, fill):
    pad = max(0, -y0, -x0, y1 - img.shape[0], x1 - img.shape[1])
    big = np.empty((img.shape[0] + 2 * pad, img.shape[1] + 2 * pad, 3), img.dtype)
    big[...] = fill
    big[pad : pad + img.shape[0], pad : pad + img.shape[1]] = img
    return big[y0 + pad : y1 + pad, x0 + pad : x1 + pad]


@pytest.mark.parametrize(
    "rect",
    [
        (5, 25, 7, 30),
        (-10, 15, -3, 12),
        (30, 70, 40, 90),
        (-20, 70, -20, 90),
        (100, 120, 5, 9),
        (-30, -10, -40, -20),
        (10, 20, 70, 80),
    ],
)
def test_padded_region_equals_padding_the_whole_frame(rect):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    got = padded_region(img, *rect, (1, 2, 3))
    assert np.array_equal(got, naive_region(img, *rect, (1, 2, 3)))


def test_subwindow_pads_with_the_truncated_mean_like_pysot():
    img = np.full((20, 20, 3), 200, np.uint8)
    patch = subwindow(img, (0.0, 0.0), 9, 9, (10.9, 20.5, 30.99))
    assert patch.shape == (9, 9, 3)
    assert tuple(patch[0, 0]) == (10, 20, 30)  # truncated, not rounded
    assert tuple(patch[-1, -1]) == (200, 200, 200)


def test_anchor_shapes_match_pysot():
    shapes = anchor_shapes(8, [0.33, 0.5, 1, 2, 3], [8])
    assert shapes.tolist() == [[104, 32], [88, 40], [64, 64], [40, 80], [32, 96]]


def test_anchor_layout_is_k_major_then_y_then_x():
    a = anchor_boxes(8, [0.33, 0.5, 1, 2, 3], [8], 3).reshape(5, 3, 3, 4)
    assert a[0, 0, 0].tolist() == [-8, -8, 104, 32]
    assert a[0, 0, 2].tolist() == [8, -8, 104, 32]  # x varies fastest
    assert a[0, 2, 0].tolist() == [-8, 8, 104, 32]
    assert a[4, 1, 1].tolist() == [0, 0, 32, 96]


def test_decode_and_context():
    anchors = np.array([[0, 0, 64, 64], [8, -8, 32, 96]], np.float32)
    deltas = np.array([[0.5, 0], [0, 0.25], [0, np.log(2)], [np.log(0.5), 0]], np.float32)
    boxes = decode_deltas(deltas, anchors)
    assert np.allclose(boxes[:, 0], [32, 0, 64, 32])
    assert np.allclose(boxes[:, 1], [8, 16, 64, 96])
    assert context_size(100, 50) == pytest.approx(np.sqrt(175 * 125))


def test_polygon_to_box_is_pysots_rule_for_training_and_bench_alike(tmp_path):
    from tracker.bench import metrics
    from tracker.geometry import polygon_to_box
    from tracker.training.data import parse_box_lines

    # the axis-aligned rectangle with corners 10..30 x 20..40: centre (20, 30), size 20 + 1 = 21 (pysot adds
    # one pixel), x = cx - (w - 1) / 2 = 10, not cx - w / 2 = 9.5
    poly = [10, 20, 30, 20, 30, 40, 10, 40]
    assert polygon_to_box(poly) == pytest.approx((10.0, 20.0, 21.0, 21.0))
    assert metrics.polygon_to_box is polygon_to_box
    (tmp_path / "gt.txt").write_text("10,20,30,20,30,40,10,40\n1,2,3,4\nnan,nan,nan,nan,nan,nan,nan,nan\n")
    rows = parse_box_lines(tmp_path / "gt.txt")
    assert rows[0] == pytest.approx([10.0, 20.0, 21.0, 21.0]) and rows[1].tolist() == [1, 2, 3, 4]
    assert np.isnan(rows[2]).all()
    # a rotated square: scaled extent, same centre
    x, y, w, h = polygon_to_box([20, 10, 30, 20, 20, 30, 10, 20])
    assert (x + (w - 1) / 2, y + (h - 1) / 2) == pytest.approx((20.0, 20.0))
    assert w == pytest.approx(20 / np.sqrt(2) + 1)
