"""The report of one benchmark, written from the trackers' scores (tracker.bench.scoring): report.md (the
ranked table, what its columns mean, the plots, the per-sequence and per-attribute tables, what was not
scored), report.csv, report.json, attributes.csv and the plots (tracker.bench.plots)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..io.sinks import atomic_write_text
from .scoring import TrackerScores, print_warning
from .vot_metrics import EAO_INTERVALS

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
            print_warning(f"plots skipped ({exc}); pip install 'siamtrack[bench]' (matplotlib) for them")
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
        low, high = EAO_INTERVALS.get(int(meta.get("vot_year") or 2018), EAO_INTERVALS[2018])
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
