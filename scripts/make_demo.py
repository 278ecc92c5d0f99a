#!/usr/bin/env python
"""Generate the demo clip weights/demo/demo.mp4 and its ground truth weights/demo/groundtruth.txt.

Everything comes from scikit-image's sample photographs (``skimage.data``; see skimage's licence notes:
the photographs used here are public domain or CC0 / freely licensed as listed in skimage/data/README):
a world canvas is tiled from several photographs, a target (the cat's face from ``chelsea``, which is not in the
mosaic, with a feathered elliptical edge) and a distractor (the astronaut's face) move over it on smooth paths, the
target slowly grows and shrinks, and a virtual camera pans after the target with lag and zooms in and out.
The camera is a pure scale + translation, so the target's box in each frame is exact (no rotation).

scikit-image is needed only to run this script (``pip install scikit-image``); the package does not
depend on it. The output is deterministic (no randomness). Usage:

    python scripts/make_demo.py [--out weights/demo] [--frames 120] [--size 400x300]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def rgb2bgr(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3][..., ::-1]).astype(np.uint8)


def world_canvas():
    """A 1080x1560 mosaic of sample photographs (BGR)."""
    from skimage import data

    tiles = [
        data.coffee(),
        data.rocket(),
        data.astronaut(),
        data.hubble_deep_field(),
        data.stereo_motorcycle()[0],
        data.immunohistochemistry(),
    ]
    H, W = 1080, 1560
    canvas = np.zeros((H, W, 3), np.uint8)
    cells = [
        (0, 0, 540, 520),
        (0, 520, 540, 520),
        (0, 1040, 540, 520),
        (540, 0, 540, 520),
        (540, 520, 540, 520),
        (540, 1040, 540, 520),
    ]
    for img, (y, x, h, w) in zip(tiles, cells):
        canvas[y : y + h, x : x + w] = cv2.resize(rgb2bgr(img), (w, h), interpolation=cv2.INTER_AREA)
    return canvas


def sprite(img_rgb, box, width):
    """A BGR patch cut from a sample photograph, resized to `width` pixels wide, and an elliptical alpha
    mask with a feathered edge."""
    x, y, w, h = box
    patch = rgb2bgr(img_rgb)[y : y + h, x : x + w]
    h, w = int(round(h * width / w)), width
    patch = cv2.resize(patch, (w, h), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - (w - 1) / 2) / (w / 2)) ** 2 + ((yy - (h - 1) / 2) / (h / 2)) ** 2)
    alpha = np.clip((1.0 - r) / 0.12, 0.0, 1.0)
    return patch, alpha


def paste(canvas, patch, alpha, cx, cy, scale):
    """Alpha-blend `patch` scaled by `scale` centred at (cx, cy); returns the visible box (x, y, w, h)
    of the scaled patch's bounding rectangle in canvas coordinates (the sprite is always fully inside)."""
    h0, w0 = patch.shape[:2]
    w, h = max(2, int(round(w0 * scale))), max(2, int(round(h0 * scale)))
    p = cv2.resize(patch, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    a = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    roi = canvas[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
    canvas[y0 : y0 + h, x0 : x0 + w] = (a * p + (1 - a) * roi + 0.5).astype(np.uint8)
    return float(x0), float(y0), float(w), float(h)


def generate(out_dir: Path, frames: int, size: tuple[int, int], fps: float = 25.0) -> tuple[Path, Path]:
    from skimage import data

    world = world_canvas()
    H, W = world.shape[:2]
    cat, cat_a = sprite(data.chelsea(), (60, 0, 340, 300), 130)  # the cat's face
    astro, astro_a = sprite(data.astronaut(), (150, 20, 130, 150), 110)  # distractor: the astronaut's face
    out_w, out_h = size
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path, gt_path = out_dir / "demo.mp4", out_dir / "groundtruth.txt"
    tmp_video = out_dir / ".demo.tmp.mp4"
    writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), fps, (out_w, out_h))
    if not writer.isOpened():
        sys.exit(f"cannot open a mp4v video writer for {tmp_video}")
    lines = []
    cam_x, cam_y = None, None
    for i in range(frames):
        t = i / max(1, frames - 1)
        # target: a smooth loop over the mosaic, size 0.75..1.15 of the sprite
        tx = W / 2 + 430 * math.sin(2 * math.pi * t) + 60 * math.sin(6 * math.pi * t)
        ty = H / 2 + 250 * math.sin(4 * math.pi * t + 0.6)
        ts = 0.95 + 0.2 * math.sin(2 * math.pi * t * 1.5)
        # distractor: crosses the target's path
        dx = W / 2 + 480 * math.cos(2 * math.pi * t * 1.3 + 1.0)
        dy = H / 2 - 200 * math.cos(2 * math.pi * t * 0.9)
        frame_world = world.copy()
        paste(frame_world, astro, astro_a, dx, dy, 1.0)
        bx, by, bw, bh = paste(frame_world, cat, cat_a, tx, ty, ts)
        # camera: follows the target with lag; view width zooms between 1.3x and 2.1x the output width
        zoom = 1.7 + 0.4 * math.sin(2 * math.pi * t * 1.2 + 0.3)
        vw, vh = out_w * zoom, out_h * zoom
        cx, cy = bx + bw / 2, by + bh / 2
        cam_x = cx if cam_x is None else cam_x + 0.12 * (cx - cam_x)
        cam_y = cy if cam_y is None else cam_y + 0.12 * (cy - cam_y)
        vx = min(max(cam_x - vw / 2, 0.0), W - vw)
        vy = min(max(cam_y - vh / 2, 0.0), H - vh)
        s = out_w / vw
        # pure scale + translation: frame = (world - (vx, vy)) * s
        M = np.array([[s, 0, -vx * s], [0, s, -vy * s]], np.float64)
        frame = cv2.warpAffine(frame_world, M, (out_w, out_h), flags=cv2.INTER_AREA)
        writer.write(frame)
        # ground truth: the sprite rectangle mapped through the same transform (pixel-edge convention)
        gx, gy, gw, gh = (bx - vx) * s, (by - vy) * s, bw * s, bh * s
        lines.append(f"{gx:.2f},{gy:.2f},{gw:.2f},{gh:.2f}")
    writer.release()
    os.replace(tmp_video, video_path)
    tmp_gt = gt_path.with_suffix(".tmp")
    tmp_gt.write_text("\n".join(lines) + "\n")
    os.replace(tmp_gt, gt_path)
    return video_path, gt_path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "weights" / "demo"))
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", default="400x300")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    video, gt = generate(Path(a.out), a.frames, (w, h))
    print(f"wrote {video} ({video.stat().st_size / 1e6:.2f} MB) and {gt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
