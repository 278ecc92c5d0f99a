"""Scoring the raw results in a results folder (ours and any dropped in) under one protocol: per tracker, its
per-sequence scores, summary, curves and per-attribute scores (TrackerScores), and what could not be scored
and why. OTB: success / precision / size error, lost flags, jitter spread; GOT-10k: AO and SR; VOT: accuracy,
robustness and EAO, overall and per tag."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from . import metrics as M
from .results import ResultsError, ResultsLayout
from .sequences import Sequence
from .vot_metrics import EAO_INTERVALS, VOT_FAILURE, VOTSequenceResult, code_of, eao, is_code, vot_accuracy_robustness


@dataclass
class TrackerScores:
    label: str
    sequences: list = field(default_factory=list)  # names scored
    missing: list = field(default_factory=list)  # (name, why)
    per_sequence: dict = field(default_factory=dict)  # name -> {metric: value}
    summary: dict = field(default_factory=dict)  # metric -> value
    curves: dict = field(default_factory=dict)  # curve name -> list
    attributes: dict = field(default_factory=dict)  # attribute -> {metric: value, "sequences": n}


def print_warning(msg: str, stream=None):
    """One line on stderr (or `stream`): `siamtrack bench: warning: ...`."""
    (stream or sys.stderr).write(f"siamtrack bench: warning: {msg}\n")


def _aligned(pred_len: int, seq: Sequence, path, truncated: bool):
    """Why a result of `pred_len` lines cannot be scored against `seq`, or None when it can."""
    if pred_len == len(seq) or (truncated and pred_len > len(seq)):
        return None
    return f"{path}: {pred_len} lines for {len(seq)} frames"


def _speed(times_list) -> tuple[float, float]:
    t = np.concatenate(times_list) if times_list else np.array([])
    t = t[np.isfinite(t) & (t > 0)]
    if not t.size:
        return float("nan"), float("nan")
    med = float(np.median(t))
    return 1.0 / med, med * 1000.0


def _first(a, n):
    return None if a is None else a[:n]


def _update_times(times, rows=None):
    """Per-frame times of the tracker's update calls only: frame 0 (initialisation) and VOT code frames
    other than failures are left out."""
    if times is None:
        return None
    t = np.asarray(times, dtype=np.float64)
    keep = np.ones(len(t), dtype=bool)
    keep[:1] = False
    if rows is not None:
        for i, r in enumerate(rows[: len(t)]):
            if is_code(r) and code_of(r) != VOT_FAILURE:
                keep[i] = False
    return t[keep]


def _read_result(layout: ResultsLayout, label: str, seq, reader, truncated, ts: TrackerScores, warn):
    """A tracker's raw result for one sequence, checked against the sequence's length; None (and the reason
    recorded in ts.missing) when it is absent, unreadable or misaligned."""
    path = layout.box_file(label, seq.name)
    if not path.is_file():
        ts.missing.append((seq.name, "no result"))
        return None
    try:
        result = reader(label, seq.name)
    except ResultsError as exc:
        warn(str(exc))
        ts.missing.append((seq.name, str(exc)))
        return None
    why = _aligned(len(result), seq, path, truncated)
    if why:
        warn(why)
        ts.missing.append((seq.name, why))
        return None
    return result


def _jitter_aucs(layout: ResultsLayout, label: str, seq) -> list[float]:
    """AUCs of the jittered runs of `label` on `seq` that are complete (runs 1, 2, ... until one is missing)."""
    from .runner import jitter_label

    aucs: list[float] = []
    run = 1
    while True:
        sub = jitter_label(label, run)
        if layout.line_count(sub, seq.name) != len(seq):
            return aucs
        aucs.append(M.otb_scores(layout.read_boxes(sub, seq.name), seq.gt).auc)
        run += 1


def score_otb(layout: ResultsLayout, label: str, seqs, truncated=False, warn=print_warning) -> TrackerScores:
    ts = TrackerScores(label)
    times_all: list = []
    curves: dict[str, list] = {"success": [], "precision": [], "norm_precision": []}
    lost_counts = {"tracked": 0, "tracked_flagged": 0, "absent": 0, "absent_flagged": 0}
    have_lost = False
    for seq in seqs:
        pred = _read_result(layout, label, seq, layout.read_boxes, truncated, ts, warn)
        if pred is None:
            continue
        pred = pred[: len(seq)]
        s = M.otb_scores(pred, seq.gt)
        curves["success"].append(s.success)
        curves["precision"].append(s.precision)
        curves["norm_precision"].append(s.norm_precision)
        ts.sequences.append(seq.name)
        times = _update_times(_first(layout.read_times(label, seq.name), len(seq)))
        fps, ms = _speed([times]) if times is not None else (float("nan"), float("nan"))
        if times is not None:
            times_all.append(times)
        row = {
            "auc": s.auc,
            "precision20": s.precision20,
            "norm_precision20": s.norm_precision20,
            "size_err": M.box_size_error(pred, seq.gt),
            "frames": s.frames,
            "fps": fps,
        }
        lost = layout.read_lost(label, seq.name)
        if lost is not None and len(lost) >= len(seq):
            have_lost = True
            c = M.lost_flag_counts(lost[: len(seq)], pred, seq.gt)
            for k in lost_counts:
                lost_counts[k] += c[k]
            row["lost_frames"] = int(lost[1 : len(seq)].sum())
        aucs = _jitter_aucs(layout, label, seq) if not truncated else []
        if aucs:
            row["jitter_runs"] = len(aucs)
            row["jitter_spread"] = float(max(aucs) - min(aucs))
        ts.per_sequence[seq.name] = row
    if ts.sequences:
        for k, v in curves.items():
            ts.curves[k] = np.nanmean(np.array(v), axis=0).tolist()
        fps, ms = _speed(times_all)

        def mean(key, names=ts.sequences):
            vals = [ts.per_sequence[n][key] for n in names if key in ts.per_sequence[n]]
            return float(np.nanmean(vals)) if vals and np.isfinite(vals).any() else float("nan")

        ts.summary = {
            "auc": mean("auc"),
            "precision20": mean("precision20"),
            "norm_precision20": mean("norm_precision20"),
            "size_err": mean("size_err"),
            "jitter_spread": mean("jitter_spread"),
            "fps": fps,
            "ms_per_frame": ms,
        }
        if have_lost:
            t, a = lost_counts["tracked"], lost_counts["absent"]
            ts.summary["false_lost"] = lost_counts["tracked_flagged"] / t if t else float("nan")
            ts.summary["absent_flagged"] = lost_counts["absent_flagged"] / a if a else float("nan")
            ts.summary.update({f"lost_{k}": v for k, v in lost_counts.items()})
        by_name = {s.name: s for s in seqs}
        attrs = sorted(set().union(*(by_name[n].all_attributes() for n in ts.sequences)))
        for a in attrs:
            names = [n for n in ts.sequences if a in by_name[n].all_attributes()]
            ts.attributes[a] = {
                "sequences": len(names),
                "auc": mean("auc", names),
                "precision20": mean("precision20", names),
            }
    return ts


def score_got10k(layout: ResultsLayout, label: str, seqs, truncated=False, warn=print_warning) -> TrackerScores:
    ts = TrackerScores(label)
    ious_all, times_all = [], []
    for seq in seqs:
        pred = _read_result(layout, label, seq, layout.read_boxes, truncated, ts, warn)
        if pred is None:
            continue
        ious = M.iou(pred[1 : len(seq)], seq.gt[1:], bound=seq.size)
        if np.all(np.isnan(ious)):
            ts.missing.append((seq.name, "no ground truth after the first frame (test split?)"))
            continue
        ious_all.append(ious)
        times = _update_times(_first(layout.read_times(label, seq.name), len(seq)))
        if times is not None:
            times_all.append(times)
        g = M.got10k_scores(ious)
        ts.sequences.append(seq.name)
        ts.per_sequence[seq.name] = {
            "ao": g["ao"],
            "sr50": g["sr50"],
            "sr75": g["sr75"],
            "fps": _speed([times])[0] if times is not None else float("nan"),
        }
    if ts.sequences:
        g = M.got10k_scores(np.concatenate(ious_all))
        fps, ms = _speed(times_all)
        ts.summary = {"ao": g["ao"], "sr50": g["sr50"], "sr75": g["sr75"], "fps": fps, "ms_per_frame": ms}
        ts.curves["success"] = g["curve"].tolist()
    return ts


def score_vot(layout: ResultsLayout, label: str, seqs, truncated=False, year=2018, warn=print_warning) -> TrackerScores:
    ts = TrackerScores(label)
    runs, times_all = [], []
    for seq in seqs:
        traj = _read_result(layout, label, seq, layout.read_trajectory, truncated, ts, warn)
        if traj is None:
            continue
        traj = traj[: len(seq)]
        regions = [seq.region(i) for i in range(len(seq))]
        run = VOTSequenceResult(traj, regions, seq.size, seq.tags)
        runs.append(run)
        times = _update_times(_first(layout.read_times(label, seq.name), len(seq)), traj)
        if times is not None:
            times_all.append(times)
        a, r, f = vot_accuracy_robustness([run])
        ts.sequences.append(seq.name)
        ts.per_sequence[seq.name] = {"accuracy": a, "failures": f, "frames": len(traj)}
    if runs:
        a, r, f = vot_accuracy_robustness(runs)
        interval = EAO_INTERVALS.get(int(year), EAO_INTERVALS[2018])
        e, curve = eao(runs, interval=interval)
        fps, ms = _speed(times_all)
        ts.summary = {"accuracy": a, "robustness": r, "failures": f, "eao": e, "fps": fps, "ms_per_frame": ms}
        ts.curves["expected_overlap"] = curve.tolist()
        tags = sorted(set().union(*(set(run.tags or {}) for run in runs)))
        if tags:
            for run in runs:  # 'empty': frames carrying none of the tags, as pysot reports it
                n = len(run.trajectory)
                stack = np.array([np.asarray((run.tags or {}).get(t, np.zeros(n)))[:n] for t in tags])
                run.tags = dict(run.tags or {}, empty=(stack.sum(axis=0) == 0).astype(float))
            for t in tags + ["empty"]:
                te, _ = eao(runs, interval=interval, tag=t)
                n_frames = sum(
                    int(np.sum(np.asarray((run.tags or {}).get(t, []))[: len(run.trajectory)] > 0)) for run in runs
                )
                ts.attributes[t] = {"eao": te, "frames": n_frames}
    return ts


def score_all(layout: ResultsLayout, labels, seqs, protocol: str, truncated=False, vot_year=2018, warn=print_warning):
    out = []
    for label in labels:
        if protocol == "otb":
            out.append(score_otb(layout, label, seqs, truncated, warn))
        elif protocol == "got10k":
            out.append(score_got10k(layout, label, seqs, truncated, warn))
        else:
            out.append(score_vot(layout, label, seqs, truncated, vot_year, warn))
    return out
