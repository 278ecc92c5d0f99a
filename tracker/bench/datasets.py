"""Loading a benchmark dataset: a folder in one of the formats (tracker.bench.dataset_formats, detected or
named) or a split file listing such folders, its sequences picked by name, the ground truth moved to 0-based
pixels. The sequences are tracker.bench.sequences.Sequence; anything malformed raises DatasetError naming the
file and line.

Box files follow tracker.io.boxes' rules (separators, NaN, blank lines, polygons) and its origin rule
(gt_base_for: where each format puts the first pixel; `--gt-base 0|1` overrides).
"""

from __future__ import annotations

from pathlib import Path

from ..io.boxes import gt_base_for
from .dataset_formats import FORMATS, READERS, detect_format
from .sequences import DatasetError, Sequence, to_zero_based


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
