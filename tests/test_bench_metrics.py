"""Benchmark metrics against cases computed by hand."""

import math

import numpy as np
import pytest

from tracker.bench import metrics as M
from tracker.bench import polygons as P
from tracker.bench import vot_metrics as V

# ------------------------------------------------------------------ IoU and centre errors


def test_iou_of_half_shifted_squares_is_25_over_175():
    # two 10x10 squares offset by (5, 5): intersection 5x5 = 25, union 100 + 100 - 25 = 175
    assert M.iou([[0, 0, 10, 10]], [[5, 5, 10, 10]])[0] == pytest.approx(25 / 175)


def test_iou_identical_disjoint_and_contained():
    pred = [[0, 0, 10, 10], [0, 0, 10, 10], [2, 2, 4, 4]]
    gt = [[0, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]]
    np.testing.assert_allclose(M.iou(pred, gt), [1.0, 0.0, 16 / 100])


def test_iou_invalid_ground_truth_is_nan_and_bad_prediction_is_zero():
    out = M.iou([[0, 0, 10, 10], [np.nan, 0, 1, 1], [0, 0, 5, 5]], [[np.nan] * 4, [0, 0, 10, 10], [0, 0, 0, 10]])
    assert math.isnan(out[0]) and out[1] == 0.0 and math.isnan(out[2])


def test_iou_with_bound_clips_both_boxes_to_the_image():
    # prediction hangs 10 px out of a 20x20 image: clipped it is [10,0,10,10], the ground truth's twin
    assert M.iou([[10, 0, 20, 10]], [[10, 0, 10, 10]], bound=(20, 20))[0] == pytest.approx(1.0)
    assert M.iou([[10, 0, 20, 10]], [[10, 0, 10, 10]])[0] == pytest.approx(0.5)


def test_iou_with_bound_follows_the_got10k_toolkit_at_the_left_and_top_edges():
    # got10k's rect_iou clips x to [0, W] and then w to [0, W - x]: a box hanging 50 px off the left edge
    # keeps its width (becomes [0, 0, 100, 100]), so against [0, 0, 50, 100] the IoU is 0.5, not 1.0
    assert M.iou([[-50, 0, 100, 100]], [[0, 0, 50, 100]], bound=(200, 200))[0] == pytest.approx(0.5)
    assert M.iou([[0, -50, 100, 100]], [[0, 0, 100, 50]], bound=(200, 200))[0] == pytest.approx(0.5)
    assert M.clip_boxes([[-50, -10, 100, 300]], (200, 200)).tolist() == [[0, 0, 100, 200]]
    assert M.clip_boxes([[250, 10, 20, 20]], (200, 200)).tolist() == [[200, 10, 0, 20]]


def test_centre_error_and_normalised_error():
    # centres (5, 5) and (8, 9): distance 5; normalised by gt size 10x20: (0.3, 0.2) -> sqrt(0.13)
    assert M.centre_error([[0, 0, 10, 10]], [[3, 4, 10, 10]])[0] == pytest.approx(5.0)
    assert M.normalised_centre_error([[3, 4, 10, 20]], [[0, 0, 10, 20]])[0] == pytest.approx(math.sqrt(0.09 + 0.04))


# ------------------------------------------------------------------ OTB curves


def test_success_curve_counts_strictly_greater_and_leaves_nan_frames_out():
    ious = [1.0, 0.5, 0.0, 0.26, np.nan]
    curve = M.success_curve(ious)
    # thresholds 0, .05, ..., 1: at t=0 three of four frames (0.0 is not > 0); at t=0.25: 1, .5, .26;
    # at t=0.5: only 1.0 (0.5 is not > 0.5); at t=1: none
    assert len(curve) == 21
    assert curve[0] == pytest.approx(3 / 4)
    assert curve[5] == pytest.approx(3 / 4)
    assert curve[6] == pytest.approx(2 / 4)  # t = 0.30: 1.0 and 0.5
    assert curve[10] == pytest.approx(1 / 4)
    assert curve[20] == 0.0


def test_auc_of_constant_iou_is_fraction_of_thresholds_below_it():
    # IoU 0.62 in every frame: success 1 for t in {0, .05, ..., .60} (13 thresholds), else 0 -> AUC 13/21
    assert M.auc(M.success_curve([0.62] * 7)) == pytest.approx(13 / 21)


def test_precision_at_20_counts_errors_up_to_and_including_20():
    curve = M.precision_curve([0, 19.9, 20.0, 20.1, np.inf, np.nan])
    assert curve[20] == pytest.approx(3 / 5)
    assert curve[50] == pytest.approx(4 / 5)


def test_otb_scores_of_a_perfect_track():
    gt = np.array([[10, 10, 20, 30]] * 5, dtype=float)
    s = M.otb_scores(gt, gt)
    # success: IoU 1 > t for every t except t = 1
    assert s.auc == pytest.approx(20 / 21)
    assert s.precision20 == 1.0 and s.norm_precision20 == 1.0 and s.frames == 5


# ------------------------------------------------------------------ polygons


def test_polygon_overlap_of_rectangles_matches_box_iou():
    assert P.polygon_overlap([0, 0, 10, 10], [5, 5, 10, 10]) == pytest.approx(25 / 175)


def test_polygon_overlap_square_and_diamond():
    # diamond with corners (5,0) (15,5) (5,10) (-5,5): area 20*10/2 = 100; the two tips outside x in [0,10]
    # are triangles of base 5 and height 5 (12.5 each): intersection 75, union 125 -> 0.6
    diamond = [5, 0, 15, 5, 5, 10, -5, 5]
    assert P.polygon_overlap([0, 0, 10, 10], diamond) == pytest.approx(0.6)
    assert P.polygon_overlap(diamond, [0, 0, 10, 10]) == pytest.approx(0.6)


def test_polygon_overlap_is_clipped_to_the_image():
    # unclipped: [-10,0,20,10] vs [0,0,10,10] -> 100/200 = 0.5; clipped to the image both are [0,0,10,10]
    assert P.polygon_overlap([-10, 0, 20, 10], [0, 0, 10, 10]) == pytest.approx(0.5)
    assert P.polygon_overlap([-10, 0, 20, 10], [0, 0, 10, 10], bound=(50, 50)) == pytest.approx(1.0)
    # a prediction wholly outside the image has zero overlap (a VOT failure)
    assert P.polygon_overlap([60, 0, 10, 10], [45, 0, 10, 10], bound=(50, 50)) == 0.0


def test_polygon_overlap_non_convex_both_sides_uses_the_fallback_within_a_percent():
    # two L-shapes (non-convex, so no convex clipping applies): first = [0,10]x[5,10] + [0,5]x[0,5],
    # second = [5,15]x[5,10] + [5,10]x[0,5]; areas 75 each, intersection [5,10]x[5,10] = 25
    # -> IoU 25 / (150 - 25) = 0.2
    l1 = [0, 0, 5, 0, 5, 5, 10, 5, 10, 10, 0, 10]
    l2 = [5, 0, 10, 0, 10, 5, 15, 5, 15, 10, 5, 10]
    assert P.polygon_overlap(l1, l2) == pytest.approx(0.2, abs=0.01)


def test_polygon_to_box_axis_aligned_rectangle_and_rotated_square():
    # axis-aligned polygon with corners 1..11: centre 6, s = 1, w = 10 + 1 = 11, x = 6 - 5 = 1
    assert M.polygon_to_box([1, 1, 1, 11, 11, 11, 11, 1]) == pytest.approx((1, 1, 11, 11))
    # a square of side 10*sqrt(2) rotated 45 degrees around (20, 20): corners at distance 10 on the axes.
    # extent 20x20 = 400, polygon area 200 -> s = sqrt(1/2), w = h = 20*sqrt(1/2) + 1
    w = 20 * math.sqrt(0.5) + 1
    box = M.polygon_to_box([20, 10, 30, 20, 20, 30, 10, 20])
    assert box == pytest.approx((20 - (w - 1) / 2, 20 - (w - 1) / 2, w, w))


# ------------------------------------------------------------------ VOT

GT = [0, 0, 10, 10]
IOU_05, IOU_08, IOU_04 = [0, 0, 10, 5], [0, 0, 10, 8], [0, 0, 10, 4]


def _runs():
    # A: tracked throughout, IoU 0.5. B: IoU 0.8, failure at frame 2, re-initialised at frame 4
    # (skipping = 2 in this constructed case), then IoU 0.4.
    a = V.VOTSequenceResult([1] + [IOU_05] * 5, [GT] * 6, (100, 100))
    b = V.VOTSequenceResult([1, IOU_08, 2, 0, 1, IOU_04], [GT] * 6, (100, 100))
    return [a, b]


def test_vot_overlaps_codes_are_nan_and_burn_in_hides_frames_after_each_init():
    _, b = _runs()
    ov = V.vot_overlaps(b.trajectory, b.gt_regions)
    np.testing.assert_allclose(ov, [np.nan, 0.8, np.nan, np.nan, np.nan, 0.4])
    ov = V.vot_overlaps(b.trajectory, b.gt_regions, burnin=2)
    assert np.all(np.isnan(ov))  # frames 0,1 and 4,5 hidden; 2, 3 are codes


def test_vot_accuracy_and_robustness():
    acc, rob, fails = V.vot_accuracy_robustness(_runs(), burnin=2)
    # only A's frames 2..5 (IoU 0.5) remain; one failure in 12 frames -> 8.33 per 100 frames
    assert acc == pytest.approx(0.5)
    assert fails == 1
    assert rob == pytest.approx(100 / 12)


def test_eao_on_a_constructed_failure_pattern():
    # Fragments (pysot's rule): A = [nan, .5, .5, .5, .5, .5] (open); B1 = frames 0..4 with codes as 0 and
    # zero-padded: [0, .8, 0, 0, 0, 0]; B2 = from the re-init at 4: [0, .4, nan, nan, nan, nan] (open).
    # Expected overlap for length L (mean over frames 1..L-1 of the fragments still running):
    #   L=2: (.5 + .8 + .4)/3 = .5667   L=3: (.5 + .4)/2 = .45   L=4: (.5 + .8/3)/2 = .38333
    #   L=5: (.5 + .2)/2 = .35          L=6: (.5 + .16)/2 = .33
    eao, curve = V.eao(_runs(), interval=(2, 4), skipping=2)
    np.testing.assert_allclose(curve, [1.0, 1.7 / 3, 0.45, (0.5 + 0.8 / 3) / 2, 0.35, 0.33], rtol=1e-6)
    assert eao == pytest.approx((1.7 / 3 + 0.45 + (0.5 + 0.8 / 3) / 2) / 3)


def test_eao_tag_weights_fragments_by_tagged_frames():
    runs = _runs()
    # tag only B's frames: A's fragment gets weight 0, so the curve is B's alone
    runs[0].tags = {"occlusion": np.zeros(6)}
    runs[1].tags = {"occlusion": np.ones(6)}
    _, curve = V.eao(runs, interval=(2, 4), skipping=2, tag="occlusion")
    np.testing.assert_allclose(curve[1:4], [(0.8 + 0.4) / 2, 0.4, 0.8 / 3], rtol=1e-6)


def test_eao_intervals_are_the_vot_years():
    assert V.EAO_INTERVALS[2016] == (108, 371)
    assert V.EAO_INTERVALS[2018] == (100, 356)
    assert V.EAO_INTERVALS[2019] == (46, 291)


# ------------------------------------------------------------------ GOT-10k and speed


def test_got10k_ao_and_success_rates():
    s = M.got10k_scores([0.9, 0.6, 0.5, 0.1, np.nan])
    assert s["ao"] == pytest.approx(0.525)
    assert s["sr50"] == pytest.approx(0.5)  # 0.5 is not > 0.5
    assert s["sr75"] == pytest.approx(0.25)


def test_fps_is_one_over_the_median_time():
    assert M.fps_from_times([0.01, 0.02, 0.5, 0.0]) == pytest.approx(50.0)  # zero (skipped) frames ignored


def test_box_size_error_is_log2_of_the_linear_size_ratio():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [np.nan] * 4])
    pred = np.array([[0, 0, 20, 20], [0, 0, 10, 10], [0, 0, 5, 5], [0, 0, 10, 10]])
    np.testing.assert_allclose(M.size_errors(pred, gt)[:3], [1.0, 0.0, 1.0])
    assert math.isnan(M.size_errors(pred, gt)[3])
    assert M.box_size_error(pred, gt) == 1.0  # median of 1, 0, 1 (the NaN frame left out)
    # aspect does not count, area does: 40 x 10 has the area of 20 x 20
    assert M.box_size_error(np.array([[0, 0, 40, 10]]), np.array([[0, 0, 10, 10]])) == 1.0


def test_lost_flag_counts_split_tracked_and_absent_frames():
    gt = np.array([[0, 0, 10, 10]] * 4 + [[np.nan] * 4] * 2)
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    lost = [1, 1, 0, 1, 1, 0]  # frame 0 (initialisation) is not counted
    c = M.lost_flag_counts(lost, pred, gt)
    assert c == {"tracked": 2, "tracked_flagged": 1, "absent": 2, "absent_flagged": 1}


def test_jittered_boxes_are_reproducible_bounded_and_differ_between_runs():
    box = (100.0, 50.0, 30.0, 40.0)
    a, b = M.jitter_box(box, 1, "car1"), M.jitter_box(box, 1, "car1")
    assert a == b and a != M.jitter_box(box, 2, "car1") and a != M.jitter_box(box, 1, "BMX3")
    for run in range(1, 20):
        j = np.array(M.jitter_box(box, run, "seq", px=2.0))
        assert (np.abs(j - box) <= 2.0).all()
