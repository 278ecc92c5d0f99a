"""Raw results in the layout the community exchanges, so published results dropped in sit beside ours.

    <results>/<dataset>/<tracker>/<sequence>.txt                         OTB one-pass (x,y,w,h per frame)
    <results>/<dataset>/<tracker>/times/<sequence>_time.txt              seconds per frame (ours)
    <results>/<dataset>/<tracker>/baseline/<seq>/<seq>_001.txt           VOT supervised: 1 init, 2 failure,
    <results>/<dataset>/<tracker>/baseline/<seq>/<seq>_time.txt            0 skipped, else x,y,w,h
    <results>/<dataset>/<tracker>/<seq>/<seq>_001.txt                    GOT-10k one-pass
    <results>/<dataset>/<tracker>/<seq>/<seq>_time.txt

Files are written atomically (temporary name, then rename), so a file that exists is complete.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io.boxes import split_values
from ..io.sinks import atomic_write_text, format_box

PROTOCOLS = ("otb", "vot", "got10k")


class ResultsError(UserError):
    """A raw results file that cannot be read; the message names the file and line."""


def safe_label(text: str) -> str:
    """A tracker label usable as a folder name everywhere (no ':' or path separators)."""
    s = re.sub(r"[:/\\]+", "-", text.strip())
    s = re.sub(r"\s+", "_", s)
    return s or "tracker"


class ResultsLayout:
    def __init__(self, results_dir, dataset: str, protocol: str):
        if protocol not in PROTOCOLS:
            raise UserError(f"unknown protocol '{protocol}' (choose from {', '.join(PROTOCOLS)})")
        self.root = Path(results_dir) / dataset
        self.dataset = dataset
        self.protocol = protocol
        # per sequence, the origin of its box files (Sequence.gt_base): results files are written in the
        # dataset's own convention, like its ground truth and published raw results; read back 0-based
        self.bases: dict[str, int] = {}

    def tracker_dir(self, label: str) -> Path:
        return self.root / label

    def box_file(self, label: str, seq: str) -> Path:
        t = self.tracker_dir(label)
        if self.protocol == "otb":
            return t / f"{seq}.txt"
        if self.protocol == "vot":
            return t / "baseline" / seq / f"{seq}_001.txt"
        return t / seq / f"{seq}_001.txt"

    def time_file(self, label: str, seq: str) -> Path:
        t = self.tracker_dir(label)
        if self.protocol == "otb":
            return t / "times" / f"{seq}_time.txt"
        if self.protocol == "vot":
            return t / "baseline" / seq / f"{seq}_time.txt"
        return t / seq / f"{seq}_time.txt"

    def trackers(self, seq_names) -> list[str]:
        """Tracker folders holding a result for at least one of the sequences, in this protocol's layout."""
        if not self.root.is_dir():
            return []
        out = []
        for d in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            if any(self.box_file(d.name, s).is_file() for s in seq_names):
                out.append(d.name)
        return out

    def lost_file(self, label: str, seq: str) -> Path:
        """Per-frame lost flags (0/1) of a one-pass run: ours, beside the times."""
        return self.tracker_dir(label) / "lost" / f"{seq}_lost.txt"

    # ------------------------------------------------------------------ writing

    def write_lost(self, label: str, seq: str, lost) -> None:
        atomic_write_text(self.lost_file(label, seq), "".join(f"{int(bool(v))}\n" for v in lost))

    def read_lost(self, label: str, seq: str) -> np.ndarray | None:
        p = self.lost_file(label, seq)
        if not p.is_file():
            return None
        try:
            return np.array([int(v) for v in p.read_text().split()], dtype=bool)
        except ValueError:
            return None

    def write(self, label: str, seq: str, rows, times) -> None:
        """`rows`: boxes, or (VOT) codes and boxes. Times first, boxes last: the box file marks completion."""
        atomic_write_text(self.time_file(label, seq), "".join(f"{t:.6f}\n" for t in times))
        from .sequences import shift_region

        base = self.bases.get(seq, 0)
        lines = []
        for r in rows:
            if np.ndim(r) == 0:
                lines.append(f"{int(r)}\n")
            else:
                lines.append(format_box([float(v) for v in shift_region(r, base)]) + "\n")
        atomic_write_text(self.box_file(label, seq), "".join(lines))

    # ------------------------------------------------------------------ reading

    def read_boxes(self, label: str, seq: str) -> np.ndarray:
        """One-pass results as an (N, 4) array; 8-value polygons are turned into boxes."""
        from .metrics import polygon_to_box
        from .sequences import shift_region

        base = self.bases.get(seq, 0)
        rows = read_rows(self.box_file(label, seq), allow_codes=False)
        out = np.full((len(rows), 4), np.nan)
        for i, r in enumerate(rows):
            r = shift_region(r, -base) if base else r
            out[i] = r if len(r) == 4 else polygon_to_box(r)
        return out

    def read_trajectory(self, label: str, seq: str) -> list:
        """VOT supervised results: per frame an int code or a float array (4 or 8 values)."""
        from .sequences import shift_region

        base = self.bases.get(seq, 0)
        rows = read_rows(self.box_file(label, seq), allow_codes=True)
        return [int(r[0]) if len(r) == 1 else shift_region(r, -base) for r in rows]

    def read_times(self, label: str, seq: str) -> np.ndarray | None:
        p = self.time_file(label, seq)
        if not p.is_file():
            return None
        vals = []
        for line in p.read_text().splitlines():
            parts = split_values(line)
            if parts:
                try:
                    vals.append(float(parts[0]))
                except ValueError:
                    return None
        return np.asarray(vals, dtype=np.float64)

    def line_count(self, label: str, seq: str) -> int | None:
        p = self.box_file(label, seq)
        if not p.is_file():
            return None
        return sum(1 for ln in p.read_text().splitlines() if ln.strip())


def read_rows(path: Path, allow_codes: bool) -> list[list[float]]:
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError:
        raise ResultsError(f"{path}: not a text file") from None
    rows = []
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        parts = split_values(s)
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            raise ResultsError(f"{path}:{no}: '{s}' is not a row of numbers") from None
        ok = len(vals) in (4, 8) or (allow_codes and len(vals) == 1 and vals[0] in (0, 1, 2))
        if not ok:
            what = "a code 0/1/2, 4 or 8 numbers" if allow_codes else "4 numbers x,y,w,h (or 8 for a polygon)"
            raise ResultsError(f"{path}:{no}: expected {what}, got {len(vals)} value(s)")
        rows.append(vals)
    return rows
