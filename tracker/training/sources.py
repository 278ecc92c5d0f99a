"""Training sources and their mix.

A source yields (template image, template box, search image, search box, key) pairs: two frames of one
track within the source's frame range (sequences), one image twice (stills: the augmentation makes the
pair), or a video frame and a copy of it under a random similarity transform and photometric change of
known parameters (unlabeled video: the target is a random textured region). `key` identifies the track,
so that a negative pair can take its search image from a different one.

`SourceMix` picks a source with probability proportional to its weight. Every draw comes from the
`numpy.random.Generator` passed in, so a sample is a pure function of its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .data import (
    DataError,
    Track,
    list_videos,
    read_boxes_csv,
    read_coco_json,
    read_image,
    read_mask,
    read_sequences,
    read_yolo,
    track_box,
)

SOURCE_KINDS = {
    "sequences": "OTB / VOT / GOT-10k style folder of sequence folders (or one sequence folder)",
    "got10k": "GOT-10k training layout (alias of sequences; honours list.txt and absence.label)",
    "otb": "alias of sequences",
    "vot": "alias of sequences",
    "coco": "COCO detection JSON (option images=FOLDER for the image root)",
    "yolo": "YOLO folder: images/**.jpg with labels/**.txt",
    "csv": "still images with one box each: a CSV image,x,y,w,h[,class] (masks/ beside it, when present)",
    "video": "a video file or a folder of videos without labels (self-supervised pairs)",
}


@dataclass
class SourceSpec:
    kind: str
    path: str
    weight: float = 1.0
    frame_range: int = 100
    images: str | None = None  # COCO image root
    min_size: float = 4.0  # stills: smaller boxes are skipped
    name: str | None = None
    masks: str | None = None  # object masks: per-sequence folders (sequences) or a folder (csv)

    def to_dict(self) -> dict:
        d = {
            "kind": self.kind,
            "path": self.path,
            "weight": float(self.weight),
            "frame_range": int(self.frame_range),
            "min_size": float(self.min_size),
        }
        if self.images:
            d["images"] = self.images
        if self.masks:
            d["masks"] = self.masks
        if self.name:
            d["name"] = self.name
        return d


_KEYS = {"weight": float, "range": int, "frame_range": int, "images": str, "min_size": float, "name": str, "masks": str}


def parse_source_spec(text: str) -> SourceSpec:
    """`KIND=PATH[,weight=W][,range=R][,images=DIR][,min_size=PX][,name=N][,masks=DIR]`, e.g.
    `sequences=../shared/data/sequences,weight=2,range=50`."""
    parts = [p.strip() for p in text.split(",")]
    head = parts[0]
    if "=" not in head:
        raise DataError(f"--data {text!r}: expected KIND=PATH (kinds: {', '.join(SOURCE_KINDS)})")
    kind, path = head.split("=", 1)
    kind = kind.strip().lower()
    if kind not in SOURCE_KINDS:
        raise DataError(f"--data {text!r}: unknown kind {kind!r} (kinds: {', '.join(SOURCE_KINDS)})")
    spec = SourceSpec(kind, path.strip())
    for p in parts[1:]:
        if "=" not in p:
            raise DataError(f"--data {text!r}: option {p!r} is not KEY=VALUE")
        k, v = (s.strip() for s in p.split("=", 1))
        if k not in _KEYS:
            raise DataError(f"--data {text!r}: unknown option {k!r} (options: {', '.join(_KEYS)})")
        try:
            val = _KEYS[k](v)
        except ValueError:
            raise DataError(f"--data {text!r}: {k}={v!r} is not a valid {_KEYS[k].__name__}") from None
        setattr(spec, "frame_range" if k == "range" else k, val)
    if spec.weight < 0:
        raise DataError(f"--data {text!r}: weight must be >= 0")
    return spec


def spec_from_dict(d: dict, where: str = "recipe") -> SourceSpec:
    d = dict(d)
    try:
        kind, path = str(d.pop("kind")).lower(), str(d.pop("path"))
    except KeyError as exc:
        raise DataError(f"{where}: a source needs {exc.args[0]!r}") from None
    if kind not in SOURCE_KINDS:
        raise DataError(f"{where}: unknown source kind {kind!r} (kinds: {', '.join(SOURCE_KINDS)})")
    if "range" in d:
        d["frame_range"] = d.pop("range")
    unknown = set(d) - {"weight", "frame_range", "images", "min_size", "name", "masks"}
    if unknown:
        raise DataError(f"{where}: unknown source option(s) {', '.join(sorted(unknown))}")
    return SourceSpec(kind, path, **d)


# ------------------------------------------------------------------------------------------ sources


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
