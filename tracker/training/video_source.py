"""Unlabeled video as a training source: self-supervised pairs. The target is a random textured region of a
frame; the search image is that frame under a random similarity transform and photometric change of known
parameters, so the target's box in it is known exactly. Every draw comes from the `numpy.random.Generator`
passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .data import DataError, list_videos


@dataclass
class SelfSupervisedParams:
    area: tuple[float, float] = (0.01, 0.12)  # target area as a fraction of the frame
    aspect: tuple[float, float] = (0.5, 2.0)  # w / h, log-uniform
    rotation: float = 10.0  # degrees, uniform ±
    scale: float = 0.15  # uniform 1 ± scale
    translate: float = 0.3  # fraction of the target size, uniform ±
    brightness: float = 25.0  # additive, uniform ±
    contrast: float = 0.2  # multiplicative, uniform 1 ±
    min_texture: float = 12.0  # std of the region's gray levels; flat regions are redrawn


def random_region(frame_shape, rng: np.random.Generator, p: SelfSupervisedParams) -> np.ndarray:
    h, w = frame_shape[:2]
    area = rng.uniform(*p.area) * w * h
    aspect = math.exp(rng.uniform(math.log(p.aspect[0]), math.log(p.aspect[1])))
    bw = min(math.sqrt(area * aspect), w * 0.9)
    bh = min(math.sqrt(area / aspect), h * 0.9)
    x = rng.uniform(0, w - bw)
    y = rng.uniform(0, h - bh)
    return np.array([x, y, bw, bh])


def similarity_pair(frame: np.ndarray, box, rng: np.random.Generator, p: SelfSupervisedParams):
    """Transform `frame` by a random similarity about the box centre (rotation, scale, translation) and a
    brightness / contrast change. Returns (image, box, params); the box follows the transform exactly
    for its centre and scale (the rotation is small, the box keeps its axis-aligned size times scale)."""
    cx, cy = box[0] + (box[2] - 1) / 2, box[1] + (box[3] - 1) / 2
    angle = rng.uniform(-p.rotation, p.rotation)
    s = 1.0 + rng.uniform(-p.scale, p.scale)
    t = rng.uniform(-p.translate, p.translate, 2) * (box[2], box[3])
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), float(angle), float(s))
    m[:, 2] += t
    out = cv2.warpAffine(
        frame, m, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    gain = 1.0 + rng.uniform(-p.contrast, p.contrast)
    bias = rng.uniform(-p.brightness, p.brightness)
    out = np.clip(out.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    ncx, ncy = cx + t[0], cy + t[1]  # the rotation centre is the box centre: it only translates
    nw, nh = box[2] * s, box[3] * s
    new_box = np.array([ncx - (nw - 1) / 2, ncy - (nh - 1) / 2, nw, nh])
    params = {"angle": angle, "scale": s, "translate": t, "gain": gain, "bias": bias, "matrix": m}
    return out, new_box, params


class VideoSource:
    """Unlabeled videos → self-supervised pairs: a random textured region of a random frame is the target;
    the search image is that frame under a known random similarity transform and photometric change.

    Seeking a compressed video costs tens of milliseconds per frame, so up to `frames_per_video` evenly
    spaced frames of each video (at most `max_frames` in all, long side scaled to `max_side`) are decoded
    once, sequentially, at construction; DataLoader workers share them (fork). With more videos than that
    budget allows, frames are read on demand instead (slower, bounded memory)."""

    def __init__(
        self,
        name: str,
        path: str,
        weight: float = 1.0,
        params: SelfSupervisedParams | None = None,
        frames_per_video: int = 32,
        max_frames: int = 256,
        max_side: int = 640,
    ):
        self.name = name
        self.weight = float(weight)
        self.params = params or SelfSupervisedParams()
        self.videos = list_videos(path)
        self.max_side = int(max_side)
        self.counts = []
        for v in self.videos:
            cap = cv2.VideoCapture(v)
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
            cap.release()
            if n <= 0:
                raise DataError(f"{v}: cannot open video or unknown frame count")
            self.counts.append(n)
        per = min(frames_per_video, max_frames // len(self.videos))
        self.frames: list[list[np.ndarray]] | None = None
        if per >= 4:
            self.frames = [self._preload(i, per) for i in range(len(self.videos))]
        self._caps: dict[int, cv2.VideoCapture] = {}

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_caps"] = {}
        return d

    def __len__(self) -> int:
        return len(self.videos)

    def _fit(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        s = self.max_side / max(h, w)
        if s < 1:
            frame = cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        return frame

    def _preload(self, vi: int, k: int) -> list[np.ndarray]:
        n = self.counts[vi]
        wanted = set(np.linspace(0, n - 1, min(k, n)).round().astype(int).tolist())
        last = max(wanted)
        cap = cv2.VideoCapture(self.videos[vi])
        out = []
        i = 0
        while i <= last and cap.grab():
            if i in wanted:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    out.append(self._fit(frame))
            i += 1
        cap.release()
        if not out:
            raise DataError(f"{self.videos[vi]}: no frame could be decoded")
        return out

    def read_frame(self, vi: int, fi: int) -> np.ndarray:
        cap = self._caps.get(vi)
        if cap is None:
            cap = self._caps[vi] = cv2.VideoCapture(self.videos[vi])
        cap.set(cv2.CAP_PROP_POS_FRAMES, fi)
        ok, frame = cap.read()
        if not ok or frame is None:
            # some containers cannot seek to the very end: fall back to the first frame
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = cap.read()
            if not ok:
                raise DataError(f"{self.videos[vi]}: cannot read frame {fi}")
        return self._fit(frame)

    def _region(self, rng):
        vi = int(rng.integers(len(self.videos)))
        if self.frames is not None:
            fi = int(rng.integers(len(self.frames[vi])))
            frame = self.frames[vi][fi]
        else:
            fi = int(rng.integers(self.counts[vi]))
            frame = self.read_frame(vi, fi)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        box = None
        for _ in range(8):
            box = random_region(frame.shape, rng, self.params)
            x, y, w, h = (int(round(v)) for v in box)
            if gray[y : y + h, x : x + w].std() >= self.params.min_texture:
                break
        return frame, box, (self.name, vi, fi)

    def sample_pair(self, rng: np.random.Generator):
        frame, box, key = self._region(rng)
        img_x, box_x, _ = similarity_pair(frame, box, rng, self.params)
        return frame, box, img_x, box_x, key, None

    def sample_single(self, rng: np.random.Generator):
        frame, box, key = self._region(rng)
        return frame, box, key
