"""Dataset readers: OTB (with the OTB-2015 quirks), VOT, GOT-10k and a generic layout.

Every reader returns `Sequence` objects: the frame files in order, one ground-truth box per frame (NaN rows
for frames the scores leave out), the ground-truth regions as given (VOT polygons), per-frame tags and
sequence attributes where the dataset has them. Anything malformed raises `DatasetError` naming the file
and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io.boxes import boxes_from_rows, gt_base_for, read_box_rows, split_values
from ..io.sources import IMAGE_EXTS, list_images, natural_key

FORMATS = ("otb", "vot", "got10k", "generic")

# OTB-2015: sequences evaluated on a frame range of the image folder (1-based, inclusive), from the
# benchmark's own configuration. Tiger1's first 5 frames are dropped from both images and ground truth.
OTB_FRAME_RANGES = {
    "david": (300, 770),
    "blurcar1": (247, 988),
    "blurcar3": (3, 359),
    "blurcar4": (18, 397),
    "tiger1": (6, 354),
    "football1": (1, 74),
    "freeman3": (1, 460),
    "freeman4": (1, 283),
    "diving": (1, 215),
}

# Files the generic reader accepts as a sequence's box file, in order of preference.
BOX_FILE_NAMES = ("groundtruth_rect.txt", "groundtruth.txt", "gt.txt", "boxes.txt", "annotations.txt")
IMAGE_DIR_NAMES = ("img", "color", "imgs", "images", "frames")


class DatasetError(UserError):
    """A dataset that cannot be read as laid out; the message names the file (and line)."""


@dataclass
class Sequence:
    name: str
    frames: list[Path]
    gt: np.ndarray  # (N, 4) x, y, w, h; NaN rows are left out of the scores
    gt_file: Path
    regions: list | None = None  # VOT: per-frame region as given (4 or 8 values)
    tags: dict[str, np.ndarray] = field(default_factory=dict)  # per-frame 0/1 attributes
    attributes: tuple[str, ...] = ()  # sequence-level attributes
    cover: np.ndarray | None = None  # GOT-10k visible ratio class per frame (0 = fully occluded)
    _size: tuple[int, int] | None = None
    gt_base: int = 0  # the box file's origin (1: OTB, GOT-10k); gt/regions here are 0-based

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) of the frames, read from the first image."""
        if self._size is None:
            import cv2

            img = cv2.imread(str(self.frames[0]), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise DatasetError(f"{self.frames[0]}: cannot read the image")
            self._size = (int(img.shape[1]), int(img.shape[0]))
        return self._size

    def region(self, i: int):
        return self.regions[i] if self.regions is not None else self.gt[i]

    def truncated(self, max_frames: int | None) -> Sequence:
        if not max_frames or max_frames >= len(self.frames):
            return self
        n = max_frames
        return Sequence(
            self.name,
            self.frames[:n],
            self.gt[:n],
            self.gt_file,
            None if self.regions is None else self.regions[:n],
            {k: v[:n] for k, v in self.tags.items()},
            self.attributes,
            None if self.cover is None else self.cover[:n],
            self._size,
            self.gt_base,
        )

    def all_attributes(self) -> set[str]:
        """Sequence attributes plus every per-frame tag that occurs at least once."""
        return set(self.attributes) | {k for k, v in self.tags.items() if np.any(v)}


# Box files follow tracker.io.boxes' rules (separators, NaN, blank lines, polygons) and its origin rule
# (gt_base_for: where each format puts the first pixel; `--gt-base 0|1` overrides).


def shift_region(region, d: float):
    """A box (x, y, w, h) or polygon (x1, y1, ... x4, y4) moved by d pixels along both axes."""
    r = np.asarray(region, dtype=np.float64).copy()
    if r.size == 4:
        r[:2] += d
    else:
        r += d
    return r


def to_zero_based(seq: Sequence, base: int) -> Sequence:
    """`seq` with its ground truth (and regions) moved to 0-based pixels; `seq.gt_base` records the file's."""
    seq.gt_base = int(base)
    if base:
        seq.gt = seq.gt - np.array([base, base, 0, 0], dtype=np.float64)
        if seq.regions is not None:
            seq.regions = [shift_region(r, -base) for r in seq.regions]
    return seq


# ------------------------------------------------------------------------------------- parsing


def parse_box_file(path: Path, counts=(4,)) -> list[list[float]]:
    """One region per line (tracker.io.boxes.read_box_rows), raw rows; an empty file is an error. Raises
    DatasetError naming the file and line of a malformed row."""
    rows = read_box_rows(path, counts=counts, error=DatasetError)
    if not rows:
        raise DatasetError(f"{path}: no boxes in the file")
    return rows


def _natural_key(p: Path):
    return natural_key(p.name)


def _frame_number(p: Path) -> int | None:
    m = re.search(r"(\d+)$", p.stem)
    return int(m.group(1)) if m else None


def _read_tag_file(path: Path, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float64)
    lines = path.read_text().splitlines()
    for no, line in enumerate(lines[:n], 1):
        s = line.strip()
        if not s:
            continue
        try:
            out[no - 1] = float(s.split(",")[0])
        except ValueError:
            raise DatasetError(f"{path}:{no}: '{s}' is not a 0/1 tag value") from None
    return out


def _check_counts(name, frames, n_gt, gt_file, image_dir):
    if not frames:
        raise DatasetError(f"{image_dir}: no images ({'/'.join(IMAGE_EXTS)}) for sequence {name}")
    if len(frames) != n_gt:
        raise DatasetError(
            f"{gt_file}: {n_gt} boxes but {len(frames)} images in {image_dir} (one box per frame expected)"
        )


# ------------------------------------------------------------------------------------- OTB


def _otb_gt_files(seq_dir: Path) -> list[Path]:
    main = seq_dir / "groundtruth_rect.txt"
    if main.is_file() and main.stat().st_size > 0:
        return [main]
    numbered = sorted(seq_dir.glob("groundtruth_rect.*.txt"), key=_natural_key)
    # Human4 ships an empty groundtruth_rect.1.txt next to the real groundtruth_rect.2.txt
    return [p for p in numbered if p.read_text().strip()]


def _otb_select_range(name, frames, rows, rng, gt_file):
    s, e = rng
    n = e - s + 1
    if len(frames) != n:
        nums = [_frame_number(p) for p in frames]
        picked = [p for p, k in zip(frames, nums) if k is not None and s <= k <= e]
        if len(picked) == n:
            frames = picked
        elif len(frames) >= e:
            frames = frames[s - 1 : e]
    if len(rows) != n and len(rows) >= e:
        rows = rows[s - 1 : e]
    return frames, rows


def read_otb(root: Path) -> list[Sequence]:
    root = Path(root)
    seqs = []
    for d in sorted((p for p in root.iterdir() if p.is_dir()), key=_natural_key):
        gt_files = _otb_gt_files(d)
        if not gt_files:
            continue
        img_dir = d / "img"
        frames_all = list_images(img_dir)
        for k, gt_file in enumerate(gt_files):
            name = d.name if len(gt_files) == 1 else f"{d.name}-{_numbered_suffix(gt_file, k)}"
            rows = parse_box_file(gt_file)
            frames = frames_all
            rng = OTB_FRAME_RANGES.get(d.name.lower())
            if rng is not None:
                frames, rows = _otb_select_range(name, frames, rows, rng, gt_file)
            _check_counts(name, frames, len(rows), gt_file, img_dir)
            attrs = _read_sequence_attributes(d)
            seqs.append(Sequence(name, frames, boxes_from_rows(rows), gt_file, attributes=attrs))
    if not seqs:
        raise DatasetError(f"{root}: no OTB sequences (folders with img/ and groundtruth_rect.txt)")
    return seqs


def _numbered_suffix(gt_file: Path, k: int) -> str:
    m = re.match(r"groundtruth_rect\.(\d+)\.txt$", gt_file.name)
    return m.group(1) if m else str(k + 1)


def _read_sequence_attributes(seq_dir: Path) -> tuple[str, ...]:
    """Optional sequence-level attributes: attributes.txt / attrs.txt with names separated by commas,
    spaces or lines (the OTB attribute codes IV, SV, OCC, DEF, MB, FM, IPR, OPR, OV, BC, LR, ...)."""
    for n in ("attributes.txt", "attrs.txt"):
        p = seq_dir / n
        if p.is_file():
            return tuple(sorted(set(split_values(p.read_text()))))
    return ()


# ------------------------------------------------------------------------------------- VOT


def _read_list(root: Path) -> list[str]:
    lst = root / "list.txt"
    names = [ln.strip() for ln in lst.read_text().splitlines() if ln.strip()]
    if not names:
        raise DatasetError(f"{lst}: lists no sequences")
    for no, n in enumerate(names, 1):
        if not (root / n).is_dir():
            raise DatasetError(f"{lst}:{no}: sequence folder {root / n} does not exist")
    return names


def read_vot(root: Path) -> list[Sequence]:
    root = Path(root)
    seqs = []
    for name in _read_list(root):
        d = root / name
        gt_file = d / "groundtruth.txt"
        if not gt_file.is_file():
            raise DatasetError(f"{gt_file}: missing")
        rows = parse_box_file(gt_file, counts=(4, 8))
        img_dir = d / "color" if (d / "color").is_dir() else d
        frames = list_images(img_dir)
        _check_counts(name, frames, len(rows), gt_file, img_dir)
        tags = {}
        for tf in sorted(list(d.glob("*.tag")) + list(d.glob("*.label")), key=_natural_key):
            tags[tf.stem] = _read_tag_file(tf, len(frames))
        regions = [np.asarray(r, dtype=np.float64) for r in rows]
        seqs.append(
            Sequence(
                name,
                frames,
                boxes_from_rows(rows),
                gt_file,
                regions=regions,
                tags=tags,
                attributes=_read_sequence_attributes(d),
            )
        )
    return seqs


# ------------------------------------------------------------------------------------- GOT-10k


def read_got10k(root: Path) -> list[Sequence]:
    root = Path(root)
    seqs = []
    for name in _read_list(root):
        d = root / name
        gt_file = d / "groundtruth.txt"
        if not gt_file.is_file():
            raise DatasetError(f"{gt_file}: missing")
        rows = parse_box_file(gt_file)
        frames = list_images(d)
        if len(rows) == 1 and len(frames) > 1:
            # the test split: only the first box is public; tracking runs, scoring is impossible
            rows = rows + [[float("nan")] * 4] * (len(frames) - 1)
        _check_counts(name, frames, len(rows), gt_file, d)
        gt = boxes_from_rows(rows)
        cover = None
        absent = np.zeros(len(frames), dtype=bool)
        if (d / "absence.label").is_file():
            absent = _read_tag_file(d / "absence.label", len(frames)) > 0
        if (d / "cover.label").is_file():
            cover = _read_tag_file(d / "cover.label", len(frames))
        # frames where the target is absent or fully covered are left out of the scores (not frame 0)
        hidden = absent.copy()
        if cover is not None:
            hidden |= cover <= 0
        hidden[0] = False
        gt[hidden] = np.nan
        seqs.append(Sequence(name, frames, gt, gt_file, cover=cover))
    return seqs


# ------------------------------------------------------------------------------------- generic


def _generic_box_file(d: Path) -> Path | None:
    for n in BOX_FILE_NAMES:
        if (d / n).is_file():
            return d / n
    txts = [p for p in d.glob("*.txt") if p.name not in ("attributes.txt", "attrs.txt", "list.txt")]
    return txts[0] if len(txts) == 1 else None


def read_generic(root: Path) -> list[Sequence]:
    """Any folder of sequence folders, each with its images (directly or in img/, color/, imgs/, images/,
    frames/) and one box file (groundtruth_rect.txt, groundtruth.txt, gt.txt ... or its only .txt)."""
    root = Path(root)
    seqs = []
    for d in sorted((p for p in root.iterdir() if p.is_dir()), key=_natural_key):
        img_dir = next((d / n for n in IMAGE_DIR_NAMES if (d / n).is_dir()), d)
        frames = list_images(img_dir)
        box_file = _generic_box_file(d)
        if not frames and box_file is None:
            continue
        if box_file is None:
            raise DatasetError(f"{d}: no box file ({', '.join(BOX_FILE_NAMES)} or a single .txt)")
        rows = parse_box_file(box_file, counts=(4, 8))
        _check_counts(d.name, frames, len(rows), box_file, img_dir)
        regions = [np.asarray(r, dtype=np.float64) for r in rows] if any(len(r) == 8 for r in rows) else None
        seqs.append(
            Sequence(
                d.name,
                frames,
                boxes_from_rows(rows),
                box_file,
                regions=regions,
                attributes=_read_sequence_attributes(d),
            )
        )
    if not seqs:
        raise DatasetError(f"{root}: no sequences (sub-folders with images and a box file)")
    return seqs


# ------------------------------------------------------------------------------------- entry point


def detect_format(root: Path) -> str:
    root = Path(root)
    if (root / "list.txt").is_file():
        names = [ln.strip() for ln in (root / "list.txt").read_text().splitlines() if ln.strip()]
        for n in names[:5]:
            d = root / n
            if (d / "absence.label").is_file() or (d / "cover.label").is_file() or (d / "meta_info.ini").is_file():
                return "got10k"
        return "vot"
    for d in root.iterdir():
        if d.is_dir() and (d / "img").is_dir() and _otb_gt_files(d):
            return "otb"
    return "generic"


READERS = {"otb": read_otb, "vot": read_vot, "got10k": read_got10k, "generic": read_generic}


def read_split(path: Path, fmt: str = "auto", gt_base: str | int | None = None) -> tuple[str, list[Sequence]]:
    """A split file: one dataset folder per line, relative to the file's folder, optionally followed by
    `: A,B,C` to take only those sequences; `#` starts a comment. The sequences of all lines, in order;
    their names must be unique and their formats agree."""
    fmts, seqs = [], []
    for no, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        folder, _, names = line.partition(":")
        picked = [n.strip() for n in names.split(",") if n.strip()] or None
        target = path.parent / folder.strip()
        if not target.is_dir():
            raise DatasetError(f"{path}:{no}: dataset folder {folder.strip()} not found (at {target})")
        f, part = load_dataset(target, fmt, picked, gt_base)
        fmts.append(f)
        seqs.extend(part)
    if not seqs:
        raise DatasetError(f"{path}: a split file lists dataset folders, one per line; none found")
    if len(set(fmts)) > 1:
        raise DatasetError(f"{path}: its folders have different formats ({', '.join(sorted(set(fmts)))})")
    seq_names = [q.name for q in seqs]
    dup = sorted({n for n in seq_names if seq_names.count(n) > 1})
    if dup:
        raise DatasetError(f"{path}: sequence name(s) {', '.join(dup)} appear twice")
    return fmts[0], seqs


def load_dataset(
    root, fmt: str = "auto", sequences: list[str] | None = None, gt_base: str | int | None = None
) -> tuple[str, list[Sequence]]:
    """(format, sequences) of the dataset at `root`; `sequences` keeps only those names (in that order).
    Ground truth is returned 0-based: each box file's origin follows `gt_base_for` (`gt_base` overrides).
    `root` may also be a split file (`read_split`): a .txt listing dataset folders."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".txt":
        fmt, seqs = read_split(root, fmt, gt_base)
        if sequences:
            by_lower = {q.name.lower(): q for q in seqs}
            unknown = [n for n in sequences if n.lower() not in by_lower]
            if unknown:
                raise DatasetError(f"{root}: no sequence named {', '.join(unknown)}")
            seqs = [by_lower[n.lower()] for n in sequences]
        return fmt, seqs
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder does not exist")
    if fmt == "auto":
        fmt = detect_format(root)
    if fmt not in READERS:
        raise DatasetError(f"unknown dataset format '{fmt}' (choose from auto, {', '.join(FORMATS)})")
    seqs = [to_zero_based(s, gt_base_for(fmt, s.gt_file, gt_base)) for s in READERS[fmt](root)]
    if sequences:
        by_name = {s.name: s for s in seqs}
        by_lower = {s.name.lower(): s for s in seqs}
        picked, unknown = [], []
        for n in sequences:
            s = by_name.get(n) or by_lower.get(n.lower())
            (picked.append(s) if s is not None else unknown.append(n))
        if unknown:
            raise DatasetError(
                f"{root}: no sequence named {', '.join(unknown)} (have: {', '.join(s.name for s in seqs)})"
            )
        seqs = picked
    return fmt, seqs
