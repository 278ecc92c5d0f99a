"""The overlay drawn into recordings and annotated videos (tracker.io.sinks.draw_result): each box's label is
text on a filled rectangle, sized from the frame, readable on any picture, and wholly inside the frame
whatever the frame's size and wherever the box is."""

import cv2
import numpy as np
import pytest

from tracker.io.sinks import (
    LABEL_FONT,
    LOST_COLOUR,
    TRACK_COLOUR,
    draw_result,
    label_ink,
    layout_label,
    relative_luminance,
)
from tracker.trackers.base import TrackResult

SIZES = [(128, 96), (320, 240), (640, 480), (1920, 1080)]
NAME = "siamrpn_effnet_lite0_fast"


def corners(box):
    x, y, w, h = box
    return (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h)))


def edge_boxes(w, h):
    """Boxes a fifth of the frame in size at each corner and edge, in the middle, and partly outside."""
    bw, bh = w / 5, h / 5
    xs = {"left": 0.0, "centre": (w - bw) / 2, "right": w - bw}
    ys = {"top": 0.0, "middle": (h - bh) / 2, "bottom": h - bh}
    boxes = {f"{yn}-{xn}": (x, y, bw, bh) for xn, x in xs.items() for yn, y in ys.items()}
    boxes["out-top-left"] = (-bw / 2, -bh / 2, bw, bh)
    boxes["out-bottom-right"] = (w - bw / 2, h - bh / 2, bw, bh)
    return boxes


def label_texts(lost: bool, label: str | None = NAME):
    text = "0.87" + (" LOST" if lost else "")
    return [f"{label} {text}", text] if label else [text]


def contrast(a, b) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)))
    return (lb + 0.05) / (la + 0.05)


@pytest.mark.parametrize("w,h", SIZES)
@pytest.mark.parametrize("lost", [False, True])
def test_labels_at_every_edge_and_corner_stay_inside_the_frame_with_all_their_ink(w, h, lost):
    for where, box in edge_boxes(w, h).items():
        p1, p2 = corners(box)
        lab = layout_label(label_texts(lost), p1, w, h)
        x0, y0, x1, y1 = lab.rect
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (where, lab.rect)
        # the text drawn on a canvas with a margin around the frame: every lit pixel within the filled rectangle
        m = 60
        canvas = np.zeros((h + 2 * m, w + 2 * m), np.uint8)
        org = (lab.origin[0] + m, lab.origin[1] + m)
        cv2.putText(canvas, lab.text, org, LABEL_FONT, lab.scale, 255, lab.thickness, cv2.LINE_AA)
        ink = canvas.astype(bool)
        inside = ink[y0 + m : y1 + m, x0 + m : x1 + m].sum()
        assert inside > 20 and ink.sum() == inside, (where, lab)


@pytest.mark.parametrize("w,h", SIZES)
def test_draw_result_changes_nothing_outside_the_box_lines_and_the_label(w, h):
    frame = np.full((h, w, 3), 90, np.uint8)
    for box in edge_boxes(w, h).values():
        r = TrackResult(box, 0.12, True)
        out = draw_result(frame, r, NAME)
        p1, p2 = corners(box)
        x0, y0, x1, y1 = layout_label(label_texts(True), p1, w, h).rect
        changed = (out != frame).any(axis=2)
        changed[y0:y1, x0:x1] = False
        pad = 3  # the box's line width and anti-aliasing around it
        ring = np.zeros_like(changed)
        ring[max(p1[1] - pad, 0) : max(p2[1] + pad + 1, 0), max(p1[0] - pad, 0) : max(p2[0] + pad + 1, 0)] = True
        ring[max(p1[1] + pad, 0) : max(p2[1] - pad, 0), max(p1[0] + pad, 0) : max(p2[0] - pad, 0)] = False
        assert not (changed & ~ring).any(), box


@pytest.mark.parametrize("w,h", SIZES)
@pytest.mark.parametrize("lost", [False, True])
@pytest.mark.parametrize("background", ["red", "green", "noise"])
def test_label_text_contrasts_with_its_filled_background_whatever_the_picture(w, h, lost, background):
    # the report: a lost label was thin red text straight on a red picture
    rng = np.random.default_rng(0)
    frame = {
        "red": np.full((h, w, 3), LOST_COLOUR, np.uint8),
        "green": np.full((h, w, 3), TRACK_COLOUR, np.uint8),
        "noise": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
    }[background]
    box = (w * 0.4, h * 0.4, w / 5, h / 5)
    out = draw_result(frame, TrackResult(box, 0.87, lost), NAME)
    x0, y0, x1, y1 = layout_label(label_texts(lost), corners(box)[0], w, h).rect
    patch = out[y0:y1, x0:x1].reshape(-1, 3)
    fill = LOST_COLOUR if lost else TRACK_COLOUR
    is_fill = (patch == fill).all(axis=1)
    assert is_fill.mean() > 0.5  # the rectangle is filled with the box's colour ...
    # ... and the text stands out from it: its strokes' cores at WCAG's 4.5:1 for text, and most of the rest
    # (anti-aliased edges aside) at 3:1
    text = np.array([contrast(fill, p) for p in patch[~is_fill]])
    assert text.max() >= 4.5 and (text >= 3).mean() > 0.35, (text.max(), (text >= 3).mean())


def test_text_ink_is_the_more_contrasting_of_black_and_white():
    for colour in (TRACK_COLOUR, LOST_COLOUR, (0, 0, 0), (255, 255, 255), (120, 0, 0)):
        ink = label_ink(colour)
        other = (255, 255, 255) if ink == (0, 0, 0) else (0, 0, 0)
        assert contrast(colour, ink) >= contrast(colour, other)


def test_text_grows_with_the_frame():
    # the score on a 1080p frame was 9 px high, as on a 240-line one
    heights = []
    for w, h in SIZES:
        lab = layout_label(label_texts(False), (w // 3, h // 3), w, h)
        heights.append(lab.rect[3] - lab.rect[1])
    assert heights == sorted(heights) and heights[-1] >= 0.025 * 1080 and heights[1] >= 12
    big = layout_label(["0.87"], (600, 400), 1920, 1080)
    assert big.thickness >= 2


def test_a_label_too_wide_for_the_frame_keeps_the_score_at_full_size():
    w, h = 128, 96
    full = layout_label(label_texts(True), (40, 40), 1920, 1080)
    assert full.text == f"{NAME} 0.87 LOST"
    small = layout_label(label_texts(True), (40, 40), w, h)
    assert small.text == "0.87 LOST" and small.scale == layout_label(["0.87"], (40, 40), w, h).scale


def test_label_sits_on_the_box_top_left_corner_when_there_is_room():
    lab = layout_label(["0.87"], (100, 100), 640, 480)
    assert lab.rect[0] == 100 and lab.rect[3] == 100  # its bottom edge on the box's top edge


def test_draw_result_marks_the_box_on_a_copy():
    frame = np.zeros((96, 128, 3), np.uint8)
    out = draw_result(frame, TrackResult((100, 0, 28, 30), 0.5, False), "m")
    assert frame.sum() == 0 and out[25, 100, 1] > 200  # the green left edge, frame untouched
