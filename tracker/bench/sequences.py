"""A benchmark sequence as every dataset reader returns it: the frame files in order, one ground-truth box per
frame, 0-based (NaN rows for frames the scores leave out), the regions as given (VOT polygons), per-frame tags
and sequence attributes where the dataset has them; and DatasetError, which names the file (and line) of
anything malformed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io.boxes import read_box_rows


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


def parse_box_file(path: Path, counts=(4,)) -> list[list[float]]:
    """One region per line (tracker.io.boxes.read_box_rows), raw rows; an empty file is an error. Raises
    DatasetError naming the file and line of a malformed row."""
    rows = read_box_rows(path, counts=counts, error=DatasetError)
    if not rows:
        raise DatasetError(f"{path}: no boxes in the file")
    return rows
