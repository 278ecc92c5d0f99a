"""Training sources and their mix.

A source yields (template image, template box, search image, search box, key) pairs: two frames of one
track within the source's frame range (sequences), one image twice (stills: the augmentation makes the
pair), or a video frame and a copy of it under a random similarity transform and photometric change of
known parameters (unlabeled video, tracker.training.video_source). `key` identifies the track, so that a
negative pair can take its search image from a different one.

`SourceMix` picks a source with probability proportional to its weight. Every draw comes from the
`numpy.random.Generator` passed in, so a sample is a pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import (
    DataError,
    Track,
    read_boxes_csv,
    read_coco_json,
    read_image,
    read_mask,
    read_sequences,
    read_yolo,
    track_box,
)
from .source_spec import SourceSpec
from .video_source import VideoSource


class TrackSource:
    """Annotated tracks (sequences or stills). Tracks are drawn uniformly; the template frame uniformly
    among the visible ones, the search frame among visible frames within ±frame_range of it. A pair is
    (template image, box, search image, box, key, search mask or None)."""

    def __init__(
        self, name: str, tracks: list[Track], weight: float = 1.0, frame_range: int = 100, min_size: float = 0.0
    ):
        self.name = name
        self.tracks = [t for t in tracks if t.valid.any()]
        if not self.tracks:
            raise DataError(f"source {name}: no track with a visible target")
        self.weight = float(weight)
        self.frame_range = int(frame_range)
        self.min_size = float(min_size)
        self._by_category: dict[str, list[int]] = {}
        for i, t in enumerate(self.tracks):
            if t.category is not None:
                self._by_category.setdefault(t.category, []).append(i)

    def __len__(self) -> int:
        return len(self.tracks)

    def _load(self, t: Track, i: int):
        img = read_image(t.frames[i])
        return img, track_box(t, i, img.shape)

    def _ok(self, box) -> bool:
        return box[2] >= max(self.min_size, 1.0) and box[3] >= max(self.min_size, 1.0)

    def sample_pair(self, rng: np.random.Generator):
        for _ in range(20):
            ti = int(rng.integers(len(self.tracks)))
            t = self.tracks[ti]
            idx = t.valid_indices
            a = int(idx[rng.integers(len(idx))])
            near = idx[np.abs(idx - a) <= self.frame_range]
            b = int(near[rng.integers(len(near))])
            img_z, box_z = self._load(t, a)
            if not self._ok(box_z):
                continue
            img_x, box_x = (img_z, box_z) if b == a else self._load(t, b)
            mask_x = read_mask(t.masks[b], img_x.shape) if t.masks is not None else None
            return img_z, box_z, img_x, box_x, (self.name, ti), mask_x
        raise DataError(f"source {self.name}: no box of at least {self.min_size} px found in 20 tries")

    def sample_similar(self, rng: np.random.Generator, ti: int):
        """Another object like track `ti`'s: of the same category where the data names one, else another track
        of this source. (image, box, key, mask or None), or None when the source has no other track."""
        cat = self.tracks[ti].category
        pool = self._by_category.get(cat, []) if cat is not None else range(len(self.tracks))
        others = [j for j in pool if j != ti]
        if not others:
            return None
        tj = int(others[int(rng.integers(len(others)))])
        t = self.tracks[tj]
        idx = t.valid_indices
        a = int(idx[rng.integers(len(idx))])
        img, box = self._load(t, a)
        mask = read_mask(t.masks[a], img.shape) if t.masks is not None else None
        return img, box, (self.name, tj), mask

    def sample_single(self, rng: np.random.Generator):
        for _ in range(20):
            ti = int(rng.integers(len(self.tracks)))
            t = self.tracks[ti]
            idx = t.valid_indices
            a = int(idx[rng.integers(len(idx))])
            img, box = self._load(t, a)
            if self._ok(box):
                return img, box, (self.name, ti)
        raise DataError(f"source {self.name}: no box of at least {self.min_size} px found in 20 tries")


def build_source(spec: SourceSpec, val_names: set[str] | None = None):
    """Build a source; tracks named in `val_names` are held out. Returns (source or None, held-out tracks)."""
    val_names = val_names or set()
    name = spec.name or f"{spec.kind}:{Path(spec.path).name}"
    if spec.kind == "video":
        return VideoSource(name, spec.path, spec.weight), []
    if spec.kind in ("sequences", "got10k", "otb", "vot"):
        tracks = read_sequences(spec.path, spec.masks)
        min_size = 0.0
    elif spec.kind == "csv":
        tracks = read_boxes_csv(spec.path, spec.min_size, spec.masks)
        min_size = spec.min_size
    elif spec.kind == "coco":
        tracks = read_coco_json(spec.path, spec.images, spec.min_size)
        min_size = spec.min_size
    elif spec.kind == "yolo":
        tracks = read_yolo(spec.path, spec.min_size)
        min_size = spec.min_size
    else:  # pragma: no cover - parse_source_spec rejects it
        raise DataError(f"unknown source kind {spec.kind}")
    held = [t for t in tracks if _base_name(t.name) in val_names or t.name in val_names]
    keep = [t for t in tracks if not (_base_name(t.name) in val_names or t.name in val_names)]
    if not keep:
        return None, held
    return TrackSource(name, keep, spec.weight, spec.frame_range, min_size), held


def _base_name(name: str) -> str:
    return name.split(".")[0]


@dataclass
class SourceMix:
    sources: list = field(default_factory=list)
    validation: list[Track] = field(default_factory=list)

    def __post_init__(self):
        w = np.array([s.weight for s in self.sources], dtype=np.float64)
        if len(w) == 0 or w.sum() <= 0:
            raise DataError("no training source with a positive weight")
        self.probs = w / w.sum()

    def pick(self, rng: np.random.Generator) -> int:
        return int(rng.choice(len(self.sources), p=self.probs))

    def sample_pair(self, rng: np.random.Generator):
        return self.sources[self.pick(rng)].sample_pair(rng)

    def sample_distractor(self, rng: np.random.Generator, key):
        """An object similar to the one of `key` (DaSiamRPN's semantic distractors): from the same source, of
        the same category where known (see TrackSource.sample_similar); any other object otherwise.
        (image, box, key, mask or None)."""
        for src in self.sources:
            if isinstance(src, TrackSource) and src.name == key[0]:
                out = src.sample_similar(rng, int(key[1]))
                if out is not None:
                    return out
        img, box, k = self.sample_negative(rng, key)
        return img, box, k, None

    def sample_negative(self, rng: np.random.Generator, exclude):
        """A search image of a different track (any source, by weight)."""
        out = None
        for _ in range(10):
            out = self.sources[self.pick(rng)].sample_single(rng)
            if out[2] != exclude:
                return out
        return out

    def describe(self) -> list[str]:
        return [
            f"{s.name}: {len(s)} {'videos' if isinstance(s, VideoSource) else 'tracks'}, "
            f"p={p:.2f}" + (f", range {s.frame_range}" if isinstance(s, TrackSource) else "")
            for s, p in zip(self.sources, self.probs)
        ]


def build_mix(specs: list[SourceSpec], val_names=()) -> SourceMix:
    """Build every source; tracks named in `val_names` become the validation set and are never sampled.
    A validation name that matches no track is an error (a typo would silently train on it)."""
    val = {v for v in val_names if v}
    sources, held = [], []
    for spec in specs:
        src, h = build_source(spec, val)
        held.extend(h)
        if src is not None and src.weight > 0:
            sources.append(src)
    seen: dict[str, int] = {}
    for src in sources:  # two folders of one name (sequences/ and train/sequences/) stay apart
        n = seen[src.name] = seen.get(src.name, 0) + 1
        if n > 1:
            src.name = f"{src.name}#{n}"
    found = {_base_name(t.name) for t in held} | {t.name for t in held}
    missing = sorted(val - found)
    if missing:
        raise DataError(f"validation sequence(s) not found in the data: {', '.join(missing)}")
    return SourceMix(sources, held)
