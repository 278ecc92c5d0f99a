"""Scoring the raw results in a results folder (ours and any dropped in) and writing the report: one table
(markdown, CSV, JSON), per-sequence and per-attribute tables, and OTB-style success / precision plots."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.sinks import atomic_write_text
from . import metrics as M
from .datasets import Sequence
from .results import ResultsError, ResultsLayout


@dataclass
class TrackerScores:
    label: str
    sequences: list = field(default_factory=list)  # names scored
    missing: list = field(default_factory=list)  # (name, why)
    per_sequence: dict = field(default_factory=dict)  # name -> {metric: value}
    summary: dict = field(default_factory=dict)  # metric -> value
    curves: dict = field(default_factory=dict)  # curve name -> list
    attributes: dict = field(default_factory=dict)  # attribute -> {metric: value, "sequences": n}


def _warn(msg: str, stream=None):
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
            if M.is_code(r) and M.code_of(r) != M.VOT_FAILURE:
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


def score_otb(layout: ResultsLayout, label: str, seqs, truncated=False, warn=_warn) -> TrackerScores:
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


def score_got10k(layout: ResultsLayout, label: str, seqs, truncated=False, warn=_warn) -> TrackerScores:
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


def score_vot(layout: ResultsLayout, label: str, seqs, truncated=False, year=2018, warn=_warn) -> TrackerScores:
    ts = TrackerScores(label)
    runs, times_all = [], []
    for seq in seqs:
        traj = _read_result(layout, label, seq, layout.read_trajectory, truncated, ts, warn)
        if traj is None:
            continue
        traj = traj[: len(seq)]
        regions = [seq.region(i) for i in range(len(seq))]
        run = M.VOTSequenceResult(traj, regions, seq.size, seq.tags)
        runs.append(run)
        times = _update_times(_first(layout.read_times(label, seq.name), len(seq)), traj)
        if times is not None:
            times_all.append(times)
        a, r, f = M.vot_accuracy_robustness([run])
        ts.sequences.append(seq.name)
        ts.per_sequence[seq.name] = {"accuracy": a, "failures": f, "frames": len(traj)}
    if runs:
        a, r, f = M.vot_accuracy_robustness(runs)
        interval = M.EAO_INTERVALS.get(int(year), M.EAO_INTERVALS[2018])
        e, curve = M.eao(runs, interval=interval)
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
                te, _ = M.eao(runs, interval=interval, tag=t)
                n_frames = sum(
                    int(np.sum(np.asarray((run.tags or {}).get(t, []))[: len(run.trajectory)] > 0)) for run in runs
                )
                ts.attributes[t] = {"eao": te, "frames": n_frames}
    return ts


# ---------------------------------------------------------------------------------- tables

COLUMNS = {
    "otb": [
        ("auc", "AUC"),
        ("precision20", "P@20"),
        ("norm_precision20", "NP@0.2"),
        ("size_err", "size err"),
        ("jitter_spread", "jitter spread"),
        ("false_lost", "lost@IoU≥.5"),
        ("absent_flagged", "lost@absent"),
        ("fps", "fps"),
        ("ms_per_frame", "ms/frame"),
    ],
    "got10k": [("ao", "AO"), ("sr50", "SR@0.5"), ("sr75", "SR@0.75"), ("fps", "fps"), ("ms_per_frame", "ms/frame")],
    "vot": [
        ("eao", "EAO"),
        ("accuracy", "A"),
        ("robustness", "R"),
        ("failures", "failures"),
        ("fps", "fps"),
        ("ms_per_frame", "ms/frame"),
    ],
}
RANK_KEY = {"otb": "auc", "got10k": "ao", "vot": "eao"}


def _fmt(v, key="") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if key == "failures":
        return str(int(v))
    if key in ("false_lost", "absent_flagged"):
        return f"{100 * v:.1f}%"
    if key in ("fps", "ms_per_frame", "robustness"):
        return f"{v:.1f}" if key != "robustness" else f"{v:.3f}"
    return f"{v:.3f}"


def ranked(scores: list[TrackerScores], protocol: str) -> list[TrackerScores]:
    key = RANK_KEY[protocol]

    def value(s):
        v = float(s.summary.get(key, float("nan")))
        return v if math.isfinite(v) else -math.inf

    return sorted((s for s in scores if s.summary), key=value, reverse=True)


def markdown_table(headers, rows) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _json_clean(o):
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _json_clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_clean(v) for v in o]
    if isinstance(o, np.generic):
        return _json_clean(o.item())
    return o


def write_csv_table(path: Path, order: list[TrackerScores], protocol: str) -> Path:
    """report.csv: one row per tracker in rank order, the protocol's columns at full precision."""
    cols = COLUMNS[protocol]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["tracker"] + [k for k, _ in cols] + ["sequences"])
    for s in order:
        w.writerow(
            [s.label]
            + [
                ("" if not math.isfinite(float(s.summary.get(k, float("nan")))) else f"{float(s.summary[k]):.6g}")
                for k, _ in cols
            ]
            + [len(s.sequences)]
        )
    atomic_write_text(path, buf.getvalue())
    return path


def write_json_report(
    path: Path, scores: list[TrackerScores], order: list[TrackerScores], protocol: str, meta: dict
) -> Path:
    """report.json: the ranking and everything scored for each tracker (non-finite numbers as null)."""
    data = {
        "meta": meta,
        "protocol": protocol,
        "ranking": [s.label for s in order],
        "trackers": {
            s.label: {
                "summary": s.summary,
                "sequences": s.sequences,
                "missing": s.missing,
                "per_sequence": s.per_sequence,
                "attributes": s.attributes,
                "curves": s.curves,
            }
            for s in scores
        },
    }
    atomic_write_text(path, json.dumps(_json_clean(data), indent=1))
    return path


def write_plots(report_dir: Path, order: list[TrackerScores], protocol: str, meta: dict, wanted: bool) -> dict:
    """The plots ({kind: path}); none without matplotlib (with a warning when they were wanted)."""
    try:
        if not wanted:
            raise ImportError("--no-plots")
        from . import plots as P

        return P.make_plots(report_dir, order, protocol, meta)
    except ImportError as exc:
        if wanted:
            _warn(f"plots skipped ({exc}); pip install 'siamtrack[bench]' (matplotlib) for them")
        return {}


def _md_summary(order: list[TrackerScores], protocol: str, meta: dict, seqs) -> list[str]:
    """The report's title, what was run, and the ranked table."""
    n_seq = len(seqs)
    cols = COLUMNS[protocol]
    md = [
        f"# Benchmark: {meta.get('dataset')} ({protocol.upper()} protocol)\n\n",
        f"{n_seq} sequences, {sum(len(s) for s in seqs)} frames"
        + (f", first {meta['max_frames']} frames of each" if meta.get("max_frames") else "")
        + (f", EAO interval of VOT{meta.get('vot_year')}" if protocol == "vot" else "")
        + ".\n\n",
    ]
    if (meta.get("workers") or 1) > 1:
        md.append(f"Speeds were measured with {meta['workers']} sequences running in parallel.\n\n")
    headers = ["rank", "tracker"] + [h for _, h in cols] + ["sequences"]
    rows = [
        [i + 1, s.label] + [_fmt(s.summary.get(k), k) for k, _ in cols] + [f"{len(s.sequences)}/{n_seq}"]
        for i, s in enumerate(order)
    ]
    md.append(markdown_table(headers, rows))
    return md


def _md_legend(protocol: str, meta: dict, seqs) -> list[str]:
    """What the columns of the protocol mean (and, for VOT, how far the sequences reach the EAO interval)."""
    if protocol == "otb":
        return [
            "\nAUC: mean over sequences of the success curve (IoU > t, t = 0, 0.05 .. 1); P@20: centre error "
            "<= 20 px; NP@0.2: centre error / target size <= 0.2; size err: mean over sequences of the "
            "median |log2(sqrt(predicted area / true area))| (0.26 = boxes 20% off in size); jitter "
            "spread: mean over sequences of max - min AUC of the runs started from a jittered first box "
            "(--jitter); lost@IoU≥.5: share of the frames tracked with IoU >= 0.5 that the tracker "
            "flagged lost (false alarms); lost@absent: share of the frames without a target (out of view) "
            "flagged lost; fps: 1 / median update time (initialisation excluded); frames without ground "
            "truth are left out of AUC, precision and size.\n"
        ]
    if protocol == "vot":
        low, high = M.EAO_INTERVALS.get(int(meta.get("vot_year") or 2018), M.EAO_INTERVALS[2018])
        longest = max((len(q) for q in seqs), default=0)
        md = [
            "\nA: mean overlap (10 frames after each initialisation excluded); R: failures per 100 frames; "
            f"EAO: expected average overlap over sequence lengths {low}..{high} (pysot's method).\n"
        ]
        if longest < low:
            md.append(f"\nThe longest sequence has {longest} frames, shorter than {low}: no EAO.\n")
        elif longest < high:
            md.append(f"\nThe longest sequence has {longest} frames: EAO averages lengths {low}..{longest} only.\n")
        return md
    return [
        "\nAO: mean IoU over all frames after the first (boxes clipped to the image, hidden targets "
        "left out); SR@t: fraction of frames with IoU > t.\n"
    ]


def _md_per_sequence(order: list[TrackerScores], protocol: str, seqs) -> list[str]:
    """A sequence × tracker table of the ranking metric (VOT: accuracy with the failures)."""
    if not order:
        return []
    key = RANK_KEY[protocol] if protocol != "vot" else "accuracy"

    def cell(s, q):
        d = s.per_sequence.get(q.name, {})
        if protocol == "vot" and d:
            return f"{_fmt(d.get('accuracy'), 'accuracy')} ({int(d.get('failures', 0))})"
        return _fmt(d.get(key), key)

    what = "accuracy (failures)" if protocol == "vot" else key.upper()
    headers = ["sequence"] + [s.label for s in order]
    rows = [[q.name] + [cell(s, q) for s in order] for q in seqs]
    return [f"\n## Per sequence: {what}\n\n", markdown_table(headers, rows)]


def attribute_names(order: list[TrackerScores]) -> list[str]:
    return sorted(set().union(*(set(s.attributes) for s in order))) if order else []


def _attribute_key(protocol: str) -> str:
    return "eao" if protocol == "vot" else "auc"


def _md_per_attribute(order: list[TrackerScores], protocol: str) -> list[str]:
    """An attribute × tracker table of AUC (VOT: EAO); nothing when no sequence has attributes."""
    attrs = attribute_names(order)
    if not attrs:
        return []
    akey = _attribute_key(protocol)
    headers = ["attribute"] + [s.label for s in order]
    rows = [[a] + [_fmt(s.attributes.get(a, {}).get(akey), akey) for s in order] for a in attrs]
    return [f"\n## Per attribute ({akey.upper()})\n\n", markdown_table(headers, rows)]


def write_attributes_csv(path: Path, order: list[TrackerScores], protocol: str) -> Path | None:
    """attributes.csv: the per-attribute table with full values; None (no file) without attributes."""
    attrs = attribute_names(order)
    if not attrs:
        return None
    akey = _attribute_key(protocol)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["attribute"] + [s.label for s in order])
    for a in attrs:
        w.writerow([a] + [s.attributes.get(a, {}).get(akey, "") for s in order])
    atomic_write_text(path, buf.getvalue())
    return path


def _md_not_scored(scores: list[TrackerScores]) -> list[str]:
    missing = [(s.label, n, why) for s in scores for n, why in s.missing]
    if not missing:
        return []
    return ["\n## Not scored\n\n"] + [f"- {lab} / {n}: {why}\n" for lab, n, why in missing]


def write_report(report_dir, scores: list[TrackerScores], protocol: str, meta: dict, seqs, plots=True) -> dict:
    """Write report.md, report.csv, report.json and the plots; return {kind: path}."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    order = ranked(scores, protocol)
    files = {
        "csv": write_csv_table(report_dir / "report.csv", order, protocol),
        "json": write_json_report(report_dir / "report.json", scores, order, protocol, meta),
    }
    made = write_plots(report_dir, order, protocol, meta, plots)
    files.update(made)
    md = _md_summary(order, protocol, meta, seqs) + _md_legend(protocol, meta, seqs)
    md += [f"\n![{kind}]({Path(p).name})\n" for kind, p in made.items()]
    md += _md_per_sequence(order, protocol, seqs) + _md_per_attribute(order, protocol)
    attributes_csv = write_attributes_csv(report_dir / "attributes.csv", order, protocol)
    if attributes_csv is not None:
        files["attributes_csv"] = attributes_csv
    md += _md_not_scored(scores)
    atomic_write_text(report_dir / "report.md", "".join(md))
    files["md"] = report_dir / "report.md"
    return files


def score_all(layout: ResultsLayout, labels, seqs, protocol: str, truncated=False, vot_year=2018, warn=_warn):
    out = []
    for label in labels:
        if protocol == "otb":
            out.append(score_otb(layout, label, seqs, truncated, warn))
        elif protocol == "got10k":
            out.append(score_got10k(layout, label, seqs, truncated, warn))
        else:
            out.append(score_vot(layout, label, seqs, truncated, vot_year, warn))
    return out
