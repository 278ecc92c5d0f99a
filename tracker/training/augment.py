"""Training crops and augmentation.

A crop uses the tracker's test-time geometry: the template region is the context square
s_z = sqrt((w+p)(h+p)), p = context·(w+h), resized to the exemplar size; the search region is the same
scale (exemplar/s_z output pixels per image pixel) around the same centre, `search_size` pixels wide.
Coordinates are pixel-centre based: the target centre x + (w-1)/2 lands on the crop centre (out-1)/2 —
as in `tracker.geometry.subwindow` — unless shifted.

Spatially aware sampling (SiamRPN++): the crop window moves by (dx, dy) drawn uniformly from ±shift
output pixels, so the target sits at -(dx, dy)/scale from the centre; each axis of the window is scaled
by 1 ± scale. Then colour (a random offset along the RGB covariance's principal axes), blur, gray and
flip, each with its probability. One interpolation from the original image (cv2.warpAffine), padding with
the image's mean colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Colour noise: offset = RGB_VAR @ N(0, I), the 3x3 matrix pysot uses (principal axes of ImageNet RGB
# pixel covariance, scaled by sqrt of the eigenvalues); rows are R, G, B.
RGB_VAR = np.array(
    [
        [-0.55919361, 0.98062831, -0.41940627],
        [1.72091413, 0.19879334, -1.82968581],
        [4.64467907, 4.73710203, 4.88324118],
    ],
    dtype=np.float32,
)


@dataclass
class CropAugment:
    shift: float = 0.0  # max window shift, output pixels, uniform in [-shift, shift] per axis
    scale: float = 0.0  # per-axis window scale factor uniform in [1-scale, 1+scale]
    blur: float = 0.0  # probability of a random motion/box blur
    color: float = 0.0  # probability of a colour offset
    flip: float = 0.0  # probability of a horizontal flip

    @staticmethod
    def template_default() -> CropAugment:
        return CropAugment(shift=4, scale=0.05, blur=0.0, color=1.0, flip=0.0)

    @staticmethod
    def search_default(shift: float = 64) -> CropAugment:
        return CropAugment(shift=shift, scale=0.18, blur=0.2, color=1.0, flip=0.0)


def target_center(box) -> tuple[float, float]:
    x, y, w, h = box
    return x + (w - 1) / 2, y + (h - 1) / 2


def context_side(w: float, h: float, context: float) -> float:
    p = context * (w + h)
    return math.sqrt(max(w + p, 1e-6) * max(h + p, 1e-6))


def affine_crop(img: np.ndarray, center, scale_xy, out_size: int, pad) -> np.ndarray:
    """Image point p maps to (p - center)·scale + (out_size-1)/2 per axis."""
    sx, sy = scale_xy
    c = (out_size - 1) / 2
    m = np.array([[sx, 0, c - sx * center[0]], [0, sy, c - sy * center[1]]], dtype=np.float64)
    return cv2.warpAffine(
        img,
        m,
        (out_size, out_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(float(v) for v in pad),
    )


def blur_image(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random cross-shaped motion kernel (mix of horizontal and vertical), odd size 5..min(25, out/8)."""
    max_k = max(5, min(25, img.shape[0] // 8))
    size = int(rng.choice(np.arange(5, max_k + 1, 2)))
    wx = rng.random()
    k = np.zeros((size, size), np.float32)
    k[size // 2, :] += wx / size
    k[:, size // 2] += (1 - wx) / size
    return cv2.filter2D(img, -1, k)


def color_offset(rng: np.random.Generator) -> np.ndarray:
    """Per-channel BGR offset (subtracted from the image)."""
    rgb = RGB_VAR @ rng.standard_normal(3).astype(np.float32)
    return rgb[::-1].copy()


def to_gray(img: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def augmented_crop(
    img: np.ndarray,
    box,
    out_size: int,
    exemplar_size: int,
    context: float,
    aug: CropAugment,
    rng: np.random.Generator,
    gray: bool = False,
    pad=None,
):
    """Crop `out_size` pixels around `box` (x, y, w, h) at the template scale exemplar/s_z, with the
    augmentations of `aug`. Returns (crop uint8, box_in_crop (x1, y1, x2, y2) corners, info dict).
    In the crop the box's corners are centre ± size/2 (pixel-centre coordinates)."""
    x, y, w, h = (float(v) for v in box)
    cx, cy = target_center(box)
    base = exemplar_size / context_side(w, h, context)  # output pixels per image pixel
    # draw every random number in a fixed order, whether used or not, so one option never shifts another
    u_scale = rng.uniform(-1, 1, 2)
    u_shift = rng.uniform(-1, 1, 2)
    p_color, p_blur, p_flip = rng.random(3)
    col = color_offset(rng)
    jitter = 1.0 + u_scale * aug.scale  # window size factor per axis
    shift = u_shift * aug.shift  # window shift, output pixels
    scale = base / jitter  # output pixels per image pixel, per axis
    # window centre, in image pixels: the shift is measured at the unjittered scale (as pysot's pre-crop)
    wc = (cx + shift[0] / base, cy + shift[1] / base)
    if gray:
        img = to_gray(img)
    if pad is None:
        pad = cv2.mean(img)[:3]  # per-channel mean colour (numpy's mean is much slower)
    crop = affine_crop(img, wc, scale, out_size, pad)
    c = (out_size - 1) / 2
    tcx = (cx - wc[0]) * scale[0] + c
    tcy = (cy - wc[1]) * scale[1] + c
    tw, th = w * scale[0], h * scale[1]
    colored = bool(p_color < aug.color)
    if colored:
        crop = np.clip(crop.astype(np.float32) - col, 0, 255).astype(np.uint8)
    blurred = bool(p_blur < aug.blur)
    if blurred:
        crop = blur_image(crop, rng)
    flipped = bool(p_flip < aug.flip)
    if flipped:
        crop = crop[:, ::-1].copy()
        tcx = (out_size - 1) - tcx
    corners = np.array([tcx - tw / 2, tcy - th / 2, tcx + tw / 2, tcy + th / 2], dtype=np.float32)
    info = {
        "shift": shift.astype(np.float32),
        "jitter": jitter.astype(np.float32),
        "flip": flipped,
        "blur": blurred,
        "color": colored,
        "gray": bool(gray),
    }
    return crop, corners, info
