"""The overlay drawn into recordings and annotated videos (tracker.io.sinks.draw_result): labels stay inside
the frame, whatever the frame's size and wherever the box is."""

import numpy as np
import pytest

from tracker.io.sinks import LABEL_FONT, draw_result, label_position
from tracker.trackers.base import TrackResult


def _label_pixels_outside(w, h, box, text_label):
    """Draw the label on a canvas with a 60-px margin around a w x h frame: count lit pixels outside it."""
    import cv2

    r = TrackResult(box, 0.87, True)
    text = f"{text_label} {r.score:.2f} LOST"
    p1 = (int(round(box[0])), int(round(box[1])))
    p2 = (int(round(box[0] + box[2])), int(round(box[1] + box[3])))
    (x, y), scale = label_position(text, p1, p2, w, h)
    m = 60
    canvas = np.zeros((h + 2 * m, w + 2 * m), np.uint8)
    cv2.putText(canvas, text, (x + m, y + m), LABEL_FONT, scale, 255, 1, cv2.LINE_AA)
    inside = canvas[m : m + h, m : m + w].astype(bool).sum()
    return int(canvas.astype(bool).sum()) - int(inside), int(inside)


@pytest.mark.parametrize("w,h", [(128, 96), (640, 480)])
@pytest.mark.parametrize(
    "box",
    [(-10, -5, 40, 30), (100, 0, 28, 20), (110, 80, 40, 30), (30, 40, 20, 20), (600, 2, 30, 30), (-50, 450, 60, 60)],
)
def test_labels_stay_inside_the_frame(w, h, box):
    outside, inside = _label_pixels_outside(w, h, box, "siamrpn_alex_dwxcorr")
    assert outside == 0 and inside > 20


def test_label_keeps_its_place_above_the_box_when_there_is_room():
    (x, y), scale = label_position("0.87", (100, 100), (140, 140), 640, 480)
    assert (x, y) == (100, 96) and scale == pytest.approx(0.45)


def test_draw_result_marks_the_box_on_a_copy():
    frame = np.zeros((96, 128, 3), np.uint8)
    out = draw_result(frame, TrackResult((100, 0, 28, 30), 0.5, False), "m")
    assert frame.sum() == 0 and out[15, 100, 1] > 200  # the green left edge, frame untouched
