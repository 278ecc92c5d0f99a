"""Training data readers: annotated sequences (OTB / VOT / GOT-10k folders), still images with boxes
(COCO JSON, YOLO txt) and unlabeled videos.

Every labelled reader returns `Track`s: a list of image paths and one 0-based (x, y, w, h) box per frame,
NaN where the target is not visible. A still-image object is a one-frame track. Readers only parse text;
images are read when a pair is sampled. Bad annotation files raise `DataError` naming the file and line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io.boxes import read_box_rows, region_to_box
from ..io.sources import IMAGE_EXTS
from ..io.sources import list_images as _list_image_paths

VIDEO_EXTS = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg")


class DataError(UserError):
    pass


@dataclass
class Track:
    """One target through a list of frames. `boxes` (N, 4) x, y, w, h in pixels, NaN = not visible.
    `normalized` marks YOLO boxes given as fractions of the image size (converted once it is read)."""

    name: str
    frames: list[str]
    boxes: np.ndarray
    normalized: bool = False
    masks: list[str | None] | None = None  # per-frame object mask files (0 / 255 images), where known
    category: str | None = None  # object class, where the data names it (stills)
    valid: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if len(self.boxes) != len(self.frames):
            raise ValueError(f"{self.name}: {len(self.frames)} frames but {len(self.boxes)} boxes")
        if self.masks is not None and len(self.masks) != len(self.frames):
            raise ValueError(f"{self.name}: {len(self.frames)} frames but {len(self.masks)} mask entries")
        b = self.boxes
        self.valid = np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)

    @property
    def valid_indices(self) -> np.ndarray:
        return np.flatnonzero(self.valid)

    def __len__(self) -> int:
        return len(self.frames)


# ---------------------------------------------------------------------------------------------- text


def parse_box_lines(path: str | os.PathLike) -> np.ndarray:
    """Parse a ground-truth file (tracker.io.boxes' rules): one box per line, 4 values (x, y, w, h) or 8 (a
    VOT polygon, converted to VOT's axis-aligned box). 'NaN' values mark a missing target."""
    rows = read_box_rows(path, counts=(4, 8), error=DataError)
    return np.array([region_to_box(r) for r in rows], dtype=np.float64).reshape(-1, 4)


def _read_flags(path: Path, n: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    vals = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            vals.append(int(float(line)))
        except ValueError:
            raise DataError(f"{path}:{lineno}: expected an integer, got {line[:40]!r}") from None
    arr = np.zeros(n, dtype=np.int64)
    arr[: min(n, len(vals))] = vals[:n]
    return arr


def list_images(folder: Path) -> list[str]:
    """The folder's images in natural order (tracker.io.sources.list_images), as strings."""
    return [str(p) for p in _list_image_paths(folder)]


# ------------------------------------------------------------------------------------- sequences

_GT_NAMES = ("groundtruth_rect.txt", "groundtruth.txt")


def _sequence_gt_files(folder: Path) -> list[Path]:
    for name in _GT_NAMES:
        if (folder / name).is_file():
            return [folder / name]
    # OTB's two-target sequences: groundtruth_rect.1.txt, groundtruth_rect.2.txt
    multi = sorted(folder.glob("groundtruth_rect.*.txt"))
    return multi


def _sequence_image_dir(folder: Path) -> Path:
    for sub in ("img", "color", "imgs", "images"):
        if (folder / sub).is_dir():
            return folder / sub
    return folder


def is_sequence_folder(folder: Path) -> bool:
    return folder.is_dir() and bool(_sequence_gt_files(folder))


def _frame_masks(frames: list[str], mask_dir: Path | None) -> list[str | None] | None:
    """Mask files named like the frames (any image extension) in `mask_dir`; None when there are none."""
    if mask_dir is None or not mask_dir.is_dir():
        return None
    by_stem = {Path(m).stem: m for m in list_images(mask_dir)}
    masks = [by_stem.get(Path(f).stem) for f in frames]
    return masks if any(m is not None for m in masks) else None


def read_sequence(folder: str | os.PathLike, mask_root: str | os.PathLike | None = None) -> list[Track]:
    """One OTB / VOT / GOT-10k sequence folder → its track(s). Frames: `img/`, `color/` or the folder
    itself; ground truth: groundtruth_rect.txt or groundtruth.txt (or .1/.2 variants). GOT-10k's
    absence.label (1 = absent) and cover.label (0 = fully covered) mark frames invalid. With `mask_root`,
    `mask_root/<sequence name>/` holds per-frame object masks named like the frames (DAVIS)."""
    folder = Path(folder)
    gts = _sequence_gt_files(folder)
    if not gts:
        raise DataError(f"{folder}: no groundtruth_rect.txt or groundtruth.txt")
    frames = list_images(_sequence_image_dir(folder))
    if not frames:
        raise DataError(f"{folder}: no images found")
    tracks = []
    for gt in gts:
        boxes = parse_box_lines(gt)
        n = min(len(frames), len(boxes))
        if n == 0:
            raise DataError(f"{gt}: no boxes")
        boxes = boxes[:n].copy()
        absence = _read_flags(folder / "absence.label", n)
        if absence is not None:
            boxes[absence == 1] = np.nan
        cover = _read_flags(folder / "cover.label", n)
        if cover is not None:
            boxes[cover == 0] = np.nan
        suffix = gt.name[len("groundtruth_rect") : -len(".txt")] if gt.name.startswith("groundtruth_rect.") else ""
        masks = _frame_masks(frames[:n], Path(mask_root) / folder.name) if mask_root and not suffix else None
        tracks.append(Track(folder.name + suffix, frames[:n], boxes, masks=masks))
    return tracks


def read_sequences(root: str | os.PathLike, mask_root: str | os.PathLike | None = None) -> list[Track]:
    """A folder of sequence folders (OTB / VOT / GOT-10k train layout; GOT-10k's list.txt, when present,
    names the sequences and their order), or a single sequence folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if mask_root is not None and not Path(mask_root).is_dir():
        raise DataError(f"{mask_root}: mask folder not found")
    if is_sequence_folder(root):
        return read_sequence(root, mask_root)
    listing = root / "list.txt"
    if listing.is_file():
        names = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
        folders = []
        for i, name in enumerate(names, 1):
            if not (root / name).is_dir():
                raise DataError(f"{listing}:{i}: sequence folder {name!r} not found")
            folders.append(root / name)
    else:
        folders = sorted(p for p in root.iterdir() if is_sequence_folder(p))
    if not folders:
        raise DataError(f"{root}: no sequence folders (with groundtruth_rect.txt / groundtruth.txt) inside")
    tracks = []
    for f in folders:
        tracks.extend(read_sequence(f, mask_root))
    return tracks


# ------------------------------------------------------------------------------------------ stills


def read_coco_json(
    json_path: str | os.PathLike, image_root: str | os.PathLike | None = None, min_size: float = 4.0
) -> list[Track]:
    """COCO detection JSON: each non-crowd annotation with a box at least `min_size` px is a one-frame
    track. Images are looked up under `image_root` (default: the JSON's folder, then its images/)."""
    json_path = Path(json_path)
    try:
        data = json.loads(json_path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{json_path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise DataError(f"{json_path}: not a COCO file (needs 'images' and 'annotations')")
    roots = [Path(image_root)] if image_root else [json_path.parent, json_path.parent / "images"]
    images = {}
    for im in data["images"]:
        try:
            images[im["id"]] = im["file_name"]
        except (KeyError, TypeError):
            raise DataError(f"{json_path}: image entry without 'id' / 'file_name': {str(im)[:80]}") from None
    tracks = []
    for k, ann in enumerate(data["annotations"]):
        if ann.get("iscrowd", 0):
            continue
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
            fname = images[ann["image_id"]]
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{json_path}: annotation {k} lacks a valid 'bbox' or 'image_id'") from None
        if w < min_size or h < min_size:
            continue
        path = next((r / fname for r in roots if (r / fname).is_file()), roots[0] / fname)
        tracks.append(Track(f"{Path(fname).stem}#{ann.get('id', k)}", [str(path)], np.array([[x, y, w, h]])))
    return tracks


def read_yolo(root: str | os.PathLike, min_size: float = 4.0) -> list[Track]:
    """YOLO layout: images under root (e.g. images/train/*.jpg) with labels in the mirrored labels/ tree
    (or beside the image): `class cx cy w h` normalised per line (segment lines: class x1 y1 x2 y2 ...).
    Each object is a one-frame track with a normalised box; `min_size` is applied once the size is known."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    tracks = []
    for img in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS):
        rel = img.relative_to(root)
        parts = list(rel.parts)
        candidates = []
        if "images" in parts:
            i = len(parts) - 1 - parts[::-1].index("images")
            candidates.append(root.joinpath(*parts[:i], "labels", *parts[i + 1 :]).with_suffix(".txt"))
        candidates.append(img.with_suffix(".txt"))
        label = next((c for c in candidates if c.is_file()), None)
        if label is None:
            continue
        for lineno, line in enumerate(label.read_text().splitlines(), 1):
            vals = line.split()
            if not vals:
                continue
            try:
                nums = [float(v) for v in vals[1:]]
            except ValueError:
                raise DataError(f"{label}:{lineno}: expected numbers, got {line[:60]!r}") from None
            if len(nums) == 4:
                cx, cy, w, h = nums
            elif len(nums) >= 6 and len(nums) % 2 == 0:
                pts = np.array(nums).reshape(-1, 2)
                (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
                cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
            else:
                raise DataError(f"{label}:{lineno}: expected 'class cx cy w h', got {len(vals)} values")
            if not (0 <= cx <= 1 and 0 <= cy <= 1 and 0 < w <= 1.0001 and 0 < h <= 1.0001):
                raise DataError(f"{label}:{lineno}: box values must be normalised to 0..1")
            t = Track(f"{img.stem}#{lineno}", [str(img)], np.array([[cx - w / 2, cy - h / 2, w, h]]), normalized=True)
            t.min_size = min_size  # type: ignore[attr-defined]
            tracks.append(t)
    if not tracks:
        raise DataError(f"{root}: no YOLO label files found (labels/**/*.txt beside images/**)")
    return tracks


def read_boxes_csv(
    csv_path: str | os.PathLike, min_size: float = 4.0, mask_dir: str | os.PathLike | None = None
) -> list[Track]:
    """A CSV of still images with one box each: header `image,x,y,w,h[,class]`, image paths relative to
    the CSV's folder, 0-based pixel boxes. Each row is a one-frame track; a mask named like the image in
    `mask_dir` (default: `masks/` beside the CSV, when it exists) is attached to it."""
    import csv

    csv_path = Path(csv_path)
    if csv_path.is_dir():
        csv_path = csv_path / "boxes.csv"
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: no such CSV file")
    root = csv_path.parent
    mdir = Path(mask_dir) if mask_dir else root / "masks"
    masks = {Path(m).stem: m for m in list_images(mdir)} if mdir.is_dir() else {}
    tracks = []
    with csv_path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"image", "x", "y", "w", "h"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise DataError(f"{csv_path}: header must name image,x,y,w,h (got {reader.fieldnames})")
        for lineno, row in enumerate(reader, 2):
            try:
                box = [float(row[k]) for k in ("x", "y", "w", "h")]
            except (TypeError, ValueError):
                raise DataError(f"{csv_path}:{lineno}: x,y,w,h must be numbers") from None
            if box[2] < min_size or box[3] < min_size:
                continue
            img = root / row["image"]
            tracks.append(
                Track(
                    f"{img.stem}#{lineno}",
                    [str(img)],
                    np.array([box]),
                    masks=[masks.get(img.stem)] if masks else None,
                    category=(row.get("class") or None),
                )
            )
    if not tracks:
        raise DataError(f"{csv_path}: no box of at least {min_size} px")
    return tracks


# ------------------------------------------------------------------------------------------ videos


def list_videos(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    if path.is_file():
        return [str(path)]
    if not path.is_dir():
        raise DataError(f"{path}: no such video file or folder")
    vids = sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTS and p.is_file())
    if not vids:
        raise DataError(f"{path}: no video files ({', '.join(VIDEO_EXTS)}) inside")
    return vids


def read_image(path: str) -> np.ndarray:
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{path}: cannot read image")
    return img


def read_mask(path: str | None, image_shape) -> np.ndarray | None:
    """A 0 / 255 object mask as uint8 of the image's size (resized nearest when it differs), or None."""
    if path is None:
        return None
    import cv2

    m = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise DataError(f"{path}: cannot read mask")
    h, w = image_shape[:2]
    if m.shape != (h, w):
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)
    return m


def track_box(track: Track, i: int, image_shape) -> np.ndarray:
    """Frame i's box in pixels (normalised YOLO boxes scaled by the image size)."""
    b = track.boxes[i].copy()
    if track.normalized:
        h, w = image_shape[:2]
        b *= (w, h, w, h)
    return b
