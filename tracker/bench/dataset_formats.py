"""The dataset formats: OTB (with the OTB-2015 quirks), VOT, GOT-10k and a generic layout, one reader each
(READERS), and how a folder's format is told (detect_format). Each reader returns the folder's sequences with
the ground truth as its box files give it (tracker.bench.datasets.load_dataset moves it to 0-based)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..io.boxes import boxes_from_rows, split_values
from ..io.sources import IMAGE_EXTS, list_images, natural_key
from .sequences import DatasetError, Sequence, parse_box_file

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


# ------------------------------------------------------------------------------------- helpers


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


def _listed_groundtruth(d: Path, **parse) -> tuple[Path, list]:
    """A listed sequence's groundtruth.txt (VOT, GOT-10k) and its rows; missing is an error."""
    gt_file = d / "groundtruth.txt"
    if not gt_file.is_file():
        raise DatasetError(f"{gt_file}: missing")
    return gt_file, parse_box_file(gt_file, **parse)


def read_vot(root: Path) -> list[Sequence]:
    root = Path(root)
    seqs = []
    for name in _read_list(root):
        d = root / name
        gt_file, rows = _listed_groundtruth(d, counts=(4, 8))
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
        gt_file, rows = _listed_groundtruth(d)
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


# ------------------------------------------------------------------------------------- which format


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
