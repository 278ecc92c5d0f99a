"""Training pairs: source mix → crops → targets.

A sample is a pure function of (seed, epoch, index): its generator is
`numpy.random.default_rng([seed, epoch, index])`. Workers, ranks and resumption therefore never change
what a given step sees, and the sampler's whole state is (epoch, step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .augment import CropAugment, augmented_crop
from .targets import RPNTargets, anchor_free_targets, siamfc_labels


@dataclass
class PairConfig:
    exemplar_size: int = 127
    search_size: int = 255
    context: float = 0.5
    neg: float = 0.2  # probability of a negative pair
    gray: float = 0.0  # probability of a grayscale pair (both crops)
    paste: float = 0.0  # probability of pasting a positive pair's target onto another image
    distractor: float = 0.0  # probability of adding a similar object beside a positive pair's target
    template: CropAugment = field(default_factory=CropAugment.template_default)
    search: CropAugment = field(default_factory=CropAugment.search_default)


def paste_target(
    img: np.ndarray,
    box,
    background: np.ndarray,
    rng: np.random.Generator,
    feather: float = 0.12,
    mask: np.ndarray | None = None,
    at: tuple[int, int] | None = None,
):
    """The target of `img` (its box, rounded outwards) pasted into `background` at a uniformly random place
    where it fits whole, its edges blended over `feather` of its size on each side so that a hard border is
    no cue. With an object `mask` (uint8, the image's size, > 127 = object) only the object's own pixels
    are pasted, their outline softened by a small blur, so none of its old background comes along.
    `at` gives the pasted patch's top-left corner instead of a random one (it must fit).
    Returns (image, box) with the box's sub-pixel position kept, or None when the target does not
    fit (it is as large as the background) or is degenerate.

    Everything around the target is new, so the template's context is no help in finding it: pairs like
    this teach the network to match the target itself, where the whole-frame self-supervised pairs and
    stills (target and context moving together) reward following the background."""
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(img.shape[1], int(np.ceil(x + w))), min(img.shape[0], int(np.ceil(y + h)))
    pw, ph = x1 - x0, y1 - y0
    H, W = background.shape[:2]
    if pw < 4 or ph < 4 or pw >= W or ph >= H or background.shape[2:] != img.shape[2:]:
        return None
    if at is None:
        nx, ny = int(rng.integers(0, W - pw + 1)), int(rng.integers(0, H - ph + 1))
    else:
        nx, ny = int(at[0]), int(at[1])
        if not (0 <= nx <= W - pw and 0 <= ny <= H - ph):
            return None

    def ramp(n):
        k = max(1.0, feather * n)
        i = np.arange(n, dtype=np.float32)
        return np.clip(np.minimum(i + 0.5, n - 0.5 - i) / k, 0.0, 1.0)

    alpha = None
    if mask is not None:
        m = (mask[y0:y1, x0:x1] > 127).astype(np.float32)
        if m.sum() >= 0.05 * pw * ph:  # a mask that (nearly) misses the box is not used
            k = 2 * max(1, int(round(0.02 * max(pw, ph)))) + 1
            alpha = cv2.GaussianBlur(m, (k, k), 0)[..., None]
    if alpha is None:
        alpha = (ramp(ph)[:, None] * ramp(pw)[None, :])[..., None]
    out = background.copy()
    region = out[ny : ny + ph, nx : nx + pw].astype(np.float32)
    out[ny : ny + ph, nx : nx + pw] = np.clip(
        region + alpha * (img[y0:y1, x0:x1].astype(np.float32) - region) + 0.5, 0, 255
    ).astype(np.uint8)
    return out, np.array([x + nx - x0, y + ny - y0, w, h])


def add_distractor(
    img: np.ndarray,
    box,
    other: np.ndarray,
    other_box,
    rng: np.random.Generator,
    other_mask: np.ndarray | None = None,
    tries: int = 10,
):
    """`img` with another object (`other` at `other_box`, its mask where known) resized to about the target's
    size and pasted beside the target — within two target sizes of it, never over it — so that the search
    crop holds a similar object that is not the target (DaSiamRPN's distractor-aware training). The target's
    box is unchanged. Returns the image, or `img` itself when no place fits."""
    x, y, w, h = (float(v) for v in box)
    ox, oy, ow, oh = (float(v) for v in other_box)
    x0, y0 = max(0, int(np.floor(ox))), max(0, int(np.floor(oy)))
    x1, y1 = min(other.shape[1], int(np.ceil(ox + ow))), min(other.shape[0], int(np.ceil(oy + oh)))
    if x1 - x0 < 4 or y1 - y0 < 4 or w < 2 or h < 2:
        return img
    s = np.sqrt(w * h / ((x1 - x0) * (y1 - y0))) * float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    dw, dh = max(4, int(round((x1 - x0) * s))), max(4, int(round((y1 - y0) * s)))
    H, W = img.shape[:2]
    if dw >= W or dh >= H:
        return img
    patch = cv2.resize(other[y0:y1, x0:x1], (dw, dh), interpolation=cv2.INTER_LINEAR)
    pmask = (
        None if other_mask is None else cv2.resize(other_mask[y0:y1, x0:x1], (dw, dh), interpolation=cv2.INTER_NEAREST)
    )
    cx, cy = x + w / 2, y + h / 2
    for _ in range(tries):
        ang = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(1.0, 2.0) * (w + h) / 2 + (dw + dh) / 4
        nx, ny = int(round(cx + dist * np.cos(ang) - dw / 2)), int(round(cy + dist * np.sin(ang) - dh / 2))
        if not (0 <= nx <= W - dw and 0 <= ny <= H - dh):
            continue
        if nx < x + w and nx + dw > x and ny < y + h and ny + dh > y:
            continue  # would cover part of the target
        out = paste_target(patch, (0.0, 0.0, float(dw), float(dh)), img, rng, mask=pmask, at=(nx, ny))
        if out is not None:
            return out[0]
    return img


def identity(key) -> int:
    """A stable integer for a track key (metric-learning identities)."""
    import zlib

    return zlib.crc32(repr(key).encode("utf-8")) & 0x7FFFFFFF


class SiamFCTargetMaker:
    def __init__(self, score_size: int, stride: float, crop_size: int, radius: float = 16.0):
        self.score_size, self.stride, self.crop_size, self.radius = score_size, stride, crop_size, radius

    def __call__(self, box, negative, rng):
        lab, w = siamfc_labels(box, self.score_size, self.stride, self.crop_size, self.radius, negative)
        return {"label": lab, "label_weight": w}


class AnchorFreeTargetMaker:
    def __init__(self, score_size: int, stride: float, crop_size: int):
        self.score_size, self.stride, self.crop_size = score_size, stride, crop_size

    def __call__(self, box, negative, rng):
        label, cls_target, ltrb = anchor_free_targets(box, self.score_size, self.stride, self.crop_size, negative)
        return {"label": label, "cls_target": cls_target, "ltrb": ltrb}


class RPNTargetMaker:
    def __init__(self, rpn: RPNTargets):
        self.rpn = rpn

    def __call__(self, box, negative, rng):
        label, delta, weight = self.rpn(box, negative, rng)
        return {"label": label, "delta": delta, "delta_weight": weight}


class PairDataset:
    """Map-style dataset indexed by (epoch, index) tuples."""

    def __init__(self, mix, config: PairConfig, targets, seed: int = 0):
        self.mix, self.config, self.targets, self.seed = mix, config, targets, int(seed)

    def rng(self, epoch: int, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(epoch), int(index)])

    def sample(self, epoch: int, index: int) -> dict:
        cfg = self.config
        rng = self.rng(epoch, index)
        negative = bool(rng.random() < cfg.neg)
        gray = bool(rng.random() < cfg.gray)
        pair = self.mix.sample_pair(rng)
        img_z, box_z, img_x, box_x, key = pair[:5]
        mask_x = pair[5] if len(pair) > 5 else None
        x_key = key
        if negative:
            img_x, box_x, x_key = self.mix.sample_negative(rng, key)
        elif cfg.paste > 0 and rng.random() < cfg.paste:
            background, _, _ = self.mix.sample_negative(rng, key)
            pasted = paste_target(img_x, box_x, background, rng, mask=mask_x)
            if pasted is not None:
                img_x, box_x = pasted
        if not negative and cfg.distractor > 0 and rng.random() < cfg.distractor:
            d_img, d_box, _, d_mask = self.mix.sample_distractor(rng, key)
            img_x = add_distractor(img_x, box_x, d_img, d_box, rng, d_mask)
        z, zb, _ = augmented_crop(
            img_z, box_z, cfg.exemplar_size, cfg.exemplar_size, cfg.context, cfg.template, rng, gray
        )
        x, xb, xinfo = augmented_crop(
            img_x, box_x, cfg.search_size, cfg.exemplar_size, cfg.context, cfg.search, rng, gray
        )
        out = {
            "z": z,
            "x": x,
            "z_box": zb,
            "x_box": xb,
            "negative": negative,
            "shift": xinfo["shift"],
            "jitter": xinfo["jitter"],
            "z_id": identity(key),
            "x_id": identity(x_key),
        }
        if self.targets is not None:
            out.update(self.targets(xb, negative, rng))
        return out

    def __getitem__(self, key) -> dict:
        epoch, index = key
        return self.sample(epoch, index)


class StepBatchSampler:
    """Yields, for steps start..steps-1 of an epoch, this rank's batch of (epoch, index) keys: global
    sample index = (step·world + rank)·batch + i."""

    def __init__(self, epoch: int, steps: int, batch_size: int, rank: int = 0, world: int = 1, start: int = 0):
        self.epoch, self.steps, self.batch, self.rank, self.world, self.start = (
            epoch,
            steps,
            batch_size,
            rank,
            world,
            start,
        )

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self):
        for step in range(self.start, self.steps):
            base = (step * self.world + self.rank) * self.batch
            yield [(self.epoch, base + i) for i in range(self.batch)]


def collate(samples: list[dict]) -> dict:
    """Stack numpy fields; images stay uint8 NHWC (converted to the model's input on the main side)."""
    import torch

    out = {}
    for k in samples[0]:
        vals = [s[k] for s in samples]
        if isinstance(vals[0], np.ndarray):
            out[k] = torch.from_numpy(np.stack(vals))
        elif isinstance(vals[0], (bool, int, float, np.bool_)):
            out[k] = torch.tensor(vals)
    return out
