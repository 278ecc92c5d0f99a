"""Plots in the OTB toolkit's style: success and precision curves, trackers ranked in the legend by AUC /
precision@20 with the score in brackets. matplotlib with the Agg backend (no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import metrics as M
from .vot_metrics import EAO_INTERVALS

_COLOURS = [
    "#d62728",
    "#1f77b4",
    "#2ca02c",
    "#000000",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
]
_STYLES = ["-", "--", "-.", ":"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _styles(labels):
    """One colour and line style per tracker, fixed by its overall rank, so it looks the same in every plot."""
    return {
        lab: (_COLOURS[i % len(_COLOURS)], _STYLES[(i // len(_COLOURS)) % len(_STYLES)]) for i, lab in enumerate(labels)
    }


def _curve_plot(path, series, thresholds, title, xlabel, ylabel, xlim, legend_loc, marker_x=None, styles=None):
    """`series`: [(label, score, curve)], ranked best first in the legend."""
    plt = _plt()
    styles = styles or _styles([lab for lab, _, _ in series])
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    for label, score, curve in series:
        colour, style = styles[label]
        ax.plot(thresholds, curve, style, color=colour, linewidth=1.8, label=f"[{score:.3f}] {label}")
    if marker_x is not None:
        ax.axvline(marker_x, color="0.6", linewidth=0.8, linestyle=":")
    ax.set_xlim(*xlim)
    ax.set_ylim(0, 1.02)  # a curve at 1.0 stays visible
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, linestyle="--", linewidth=0.5, color="0.8")
    if series:
        ax.legend(loc=legend_loc, fontsize=8, framealpha=0.9)
    fig.tight_layout()
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return Path(path)


def make_plots(report_dir, ranked_scores, protocol: str, meta: dict) -> dict:
    report_dir = Path(report_dir)
    name = meta.get("dataset", "")
    out = {}
    styles = _styles([t.label for t in ranked_scores])
    if protocol == "otb":
        s = [(t.label, t.summary["auc"], t.curves["success"]) for t in ranked_scores if "success" in t.curves]
        s.sort(key=lambda x: -x[1])
        out["success_plot"] = _curve_plot(
            report_dir / "success_plot.png",
            s,
            M.OTB_IOU_THRESHOLDS,
            f"Success plots of OPE - {name}",
            "Overlap threshold",
            "Success rate",
            (0, 1),
            "best",
            styles=styles,
        )
        p = [
            (t.label, t.summary["precision20"], t.curves["precision"]) for t in ranked_scores if "precision" in t.curves
        ]
        p.sort(key=lambda x: -x[1])
        out["precision_plot"] = _curve_plot(
            report_dir / "precision_plot.png",
            p,
            M.PRECISION_THRESHOLDS,
            f"Precision plots of OPE - {name}",
            "Location error threshold (px)",
            "Precision",
            (0, 50),
            "lower right",
            marker_x=20,
            styles=styles,
        )
        n = [
            (t.label, t.summary["norm_precision20"], t.curves["norm_precision"])
            for t in ranked_scores
            if "norm_precision" in t.curves
        ]
        n.sort(key=lambda x: -x[1])
        out["norm_precision_plot"] = _curve_plot(
            report_dir / "norm_precision_plot.png",
            n,
            M.NORM_PRECISION_THRESHOLDS,
            f"Normalized precision plots of OPE - {name}",
            "Normalized location error threshold",
            "Precision",
            (0, 0.5),
            "lower right",
            marker_x=0.2,
            styles=styles,
        )
    elif protocol == "got10k":
        s = [(t.label, t.summary["ao"], t.curves["success"]) for t in ranked_scores if "success" in t.curves]
        out["success_plot"] = _curve_plot(
            report_dir / "success_plot.png",
            s,
            M.GOT_IOU_THRESHOLDS,
            f"Success plots on {name} (legend: AO)",
            "Overlap threshold",
            "Success rate",
            (0, 1),
            "best",
            styles=styles,
        )
    else:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
        year = int(meta.get("vot_year") or 2018)
        low, high = EAO_INTERVALS.get(year, EAO_INTERVALS[2018])
        for t in ranked_scores:
            curve = t.curves.get("expected_overlap")
            if not curve:
                continue
            colour, style = styles[t.label]
            ax.plot(
                np.arange(1, len(curve) + 1),
                curve,
                style,
                color=colour,
                linewidth=1.6,
                label=f"[{t.summary['eao']:.3f}] {t.label}",
            )
        ax.axvspan(low, high, color="0.9", zorder=0, label=f"VOT{year} interval [{low}, {high}]")
        ax.set_xlabel("Sequence length (frames)")
        ax.set_ylabel("Expected average overlap")
        ax.set_ylim(0, 1)
        ax.set_title(f"Expected overlap curves - {name}")
        ax.grid(True, linestyle="--", linewidth=0.5, color="0.8")
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        path = report_dir / "eao_plot.png"
        tmp = path.with_name(".eao_plot.tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
        os.replace(tmp, path)
        out["eao_plot"] = path
    return out
