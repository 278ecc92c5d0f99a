#!/usr/bin/env python
"""Tracking speed per preset and xcorr backend: median ms per update() on real frames.

Weights do not change the cost, so presets without shipped weights run with random weights saved to a
temporary checkpoint. Usage:
    python scripts/bench_speed.py [--presets a,b] [--xcorr torch,numba] [--frames 60] [--sequence car1]
        [--device cpu] [--peak] [--conv-floor]

--peak also measures what these cores can do: the best rate of one large float32 convolution (AlexNet's
5x5 conv2, 2.4 GMAC, oneDNN on channels-last tensors as the torch engine's fast path runs it), and counts
the multiply-adds of every convolution one update() runs; the last columns are then the preset's GMAC per
frame, the fps that rate would give, and the share of it reached.

--conv-floor times every convolution one update() runs, each alone on its own input shape through the same
oneDNN path (channels-last, best of several runs; or plain NCHW where that is faster), and sums them: the time a
perfect graph of exactly these convolutions would take on these cores. The last column is the share of that
floor reached. A large network can sit well below the single-convolution peak and still be at its floor:
oneDNN runs some shapes (thousands of channels on small maps, dilated kernels) slower than the peak's.

--engine torch,onnxruntime,openvino (default auto) runs each preset on each engine; every tracker of a run is
built first and they then take their updates in turns, frame by frame, so a busy machine slows them alike; the
order of the turns rotates by one each frame, so that each tracker follows every other equally often (an update
right after one on the same runtime, whose threads are still awake, took 10-15% less than one right after
OpenCV's or the other runtime's).
--presets also takes export folders (`siamtrack export --out DIR`, e.g. float32 beside --int8).
--vs-nano adds OpenCV's NanoTrack (`opencv:nano`, files from --nano-dir, default ../shared/peers) to the same
interleaved run and prints each row's ratio, NanoTrack's ms over the row's (>= 1.0: at least as fast).

--breakdown splits each Siamese tracker's update, in the same interleaved run, into the crop (cutting and
resizing the search region), the conversion (uint8 crop to the network's float32 input), the graph (the engine's
network call; for the torch engine this includes the conversion), the decoding of the head's outputs (with the
choice of the box: penalties, window, best candidate, for the SiamRPN-style trackers; SiamFC's responses
upsampled), and the rest of the update
(the state, the checks, the engine's call around the graph); medians per update, in ms, and "outside" = the update
minus the graph.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker import build_tracker
from tracker.config.presets import get_preset, list_presets
from tracker.engines import engine_text
from tracker.io.boxes import read_box_rows
from tracker.models import build_model, save_checkpoint

SEQ = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sequences" / "car1"


def frames_and_box(n, seq: Path = SEQ):
    files = sorted((seq / "img").iterdir())[: n + 1]
    box = read_box_rows(seq / "groundtruth_rect.txt")[0]  # the first row as written (any of the separators)
    return [cv2.imread(str(f)) for f in files], box


def conv_peak_gmacs(runs: int = 40) -> float:
    """Best GMAC/s of one large float32 convolution (AlexNet conv2: 5x5, 96->256 channels, 67x67 input)."""
    best = _best_conv_s(torch.nn.Conv2d(96, 256, 5).eval(), torch.randn(1, 96, 67, 67), runs, warm=3)
    return 63 * 63 * 256 * 96 * 25 / 1e9 / best


def _timed(fn, x) -> float:
    t0 = time.perf_counter()
    fn(x)
    return time.perf_counter() - t0


def _best_conv_s(module, x, runs: int, warm: int) -> float:
    """Best time (s) of `module(x)` through the trackers' oneDNN path (the torch engine's fast path: weights
    and input in channels-last memory format, tracker.models.fast.ChannelsLast), after `warm` untimed calls.
    (As fast as the oneDNN blocked layout of TorchScript's optimize_for_inference, which this used before
    TorchScript was deprecated: 65 GMAC/s both for the 5x5 convolution of conv_peak_gmacs, docs/speed.md.)"""
    from tracker.models.fast import ChannelsLast

    with torch.no_grad():
        g = ChannelsLast(module).eval()
        x = x.contiguous(memory_format=torch.channels_last)
        for _ in range(warm):
            g(x)
        return min(_timed(g, x) for _ in range(runs))


def count_update_gmacs(tracker, frame, calls: list | None = None) -> float:
    """Multiply-adds of every convolution in one update(): nn.Conv2d modules and the xcorr's functional
    convolutions both go through torch.nn.functional.conv2d, which is counted. With `calls`, each
    convolution's (input, weight, stride, padding, dilation, groups) is appended to it."""
    import torch.nn.functional as F

    total = [0]
    model = tracker.model
    # eager modules: the fast path computes the 1x1 convolutions as matrix products, which F.conv2d does not see
    fast, model.fast_path = model.fast_path, None
    real_conv2d = F.conv2d

    def counting_conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1):
        out = real_conv2d(x, w, bias, stride, padding, dilation, groups)
        total[0] += out.numel() * w.shape[1] * w.shape[2] * w.shape[3]
        if calls is not None:
            calls.append((x.detach().clone(), w.detach().clone(), stride, padding, dilation, groups))
        return out

    F.conv2d = counting_conv2d
    try:
        tracker.update(frame)
    finally:
        F.conv2d = real_conv2d
        model.fast_path = fast
    return total[0] / 1e9


class _Conv(torch.nn.Module):
    def __init__(self, w, stride, padding, dilation, groups):
        super().__init__()
        self.w = torch.nn.Parameter(w, requires_grad=False)
        self.args = (stride, padding, dilation, groups)

    def forward(self, x):
        return torch.nn.functional.conv2d(x, self.w, None, *self.args)


def conv_floor_ms(calls, runs: int = 5) -> float:
    """Sum over `calls` of each convolution's best time alone (ms), through the same oneDNN path as the
    torch engine's fast path (channels-last). Identical calls (same shapes and arguments) are timed once and
    counted as often as they occur; a batched template (the xcorr's grouped convolution) is timed as it was
    called."""
    import torch.nn.functional as F

    cache: dict = {}
    total = 0.0
    for x, w, stride, padding, dilation, groups in calls:
        key = (tuple(x.shape), tuple(w.shape), str(stride), str(padding), str(dilation), groups)
        if key not in cache:
            best = _best_conv_s(_Conv(w, stride, padding, dilation, groups).eval(), x, runs, warm=2)
            with torch.no_grad():
                # the plain NCHW call, for shapes where channels-last loses
                conv = functools.partial(
                    F.conv2d, weight=w, bias=None, stride=stride, padding=padding, dilation=dilation, groups=groups
                )
                best = min(best, min(_timed(conv, x) for _ in range(runs)))
            cache[key] = best
        total += cache[key]
    return total * 1000


STAGES = ("crop", "conversion", "graph", "decode")


class Breakdown:
    """Times the stages of a Siamese tracker's updates (see --breakdown) by wrapping, on this tracker only, the
    crop function its update calls, its engine's conversion and network call, and its decoding; each update's
    stage times are summed into one row of `rows`."""

    def __init__(self, tracker):
        self.rows: list[dict] = []
        self._row: dict = dict.fromkeys(STAGES, 0.0)
        self._tracker = tracker
        self._patched: list = []
        engine = getattr(tracker, "engine", None)
        if engine is None:
            return
        # the crop function as the modules of the tracker's classes hold it (imported by name: the module that
        # calls it, e.g. trackers/siamrpn.py for every SiamRPN-style tracker, whose update is in trackers/base.py)
        modules = {inspect.getmodule(cls) for cls in type(tracker).__mro__}
        for module in sorted((m for m in modules if m is not None), key=lambda m: m.__name__):
            for name in ("subwindow", "crop_resize"):
                if name in vars(module):
                    self._patched.append((module, name, getattr(module, name)))
        prepare = getattr(engine, "prepare", None)
        if prepare is not None and hasattr(prepare, "into"):
            self._wrap(prepare, "into", "conversion")
        for name in ("_run_bound", "search"):  # the ONNX engines' bound search call, else the whole search
            if hasattr(engine, name):
                self._wrap(engine, name, "graph")
                break
        # the decoding and the choice of the box (penalties, window, best candidate), where the tracker has them
        # as one step (SiamRPN-style trackers: _choose), else the decoding alone (SiamFC: its responses upsampled)
        decode = next(n for n in ("_choose", "_decode", "_responses") if hasattr(tracker, n))
        self._wrap(tracker, decode, "decode")

    def _wrap(self, obj, attr, stage):
        fn = getattr(obj, attr)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self._row[stage] += time.perf_counter() - t0

        setattr(obj, attr, timed)

    def update(self, frame) -> float:
        """One timed update; returns its seconds."""
        self._row = dict.fromkeys(STAGES, 0.0)
        saved = []
        for module, name, fn in self._patched:  # the module's crop function, only during this tracker's update
            saved.append((module, name, fn))
            setattr(module, name, self._timed_crop(fn))
        try:
            t0 = time.perf_counter()
            self._tracker.update(frame)
            total = time.perf_counter() - t0
        finally:
            for module, name, fn in saved:
                setattr(module, name, fn)
        self._row["total"] = total
        self.rows.append(self._row)
        return total

    def _timed_crop(self, fn):
        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self._row["crop"] += time.perf_counter() - t0

        return timed

    def medians(self) -> dict:
        """Median ms per update of each stage, the rest, and outside the graph."""
        out = {k: statistics.median(r[k] for r in self.rows) * 1000 for k in (*STAGES, "total")}
        out["rest"] = statistics.median((r["total"] - sum(r[k] for k in STAGES)) for r in self.rows) * 1000
        out["outside"] = statistics.median((r["total"] - r["graph"]) for r in self.rows) * 1000
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--presets",
        default=",".join(p.name for p in list_presets()),
        help="preset names or export folders, comma-separated",
    )
    ap.add_argument("--xcorr", default="torch,numba")
    ap.add_argument("--engine", default="auto", help="engines, comma-separated: auto, torch, onnxruntime, openvino")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument(
        "--sequence",
        default=str(SEQ),
        help="a sequence folder (img/ and groundtruth_rect.txt; default ../shared/data/sequences/car1, whose "
        "search region leaves the frame: the crop pads); a bare name is looked up beside car1",
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, help="torch threads (default: the cores free at start-up)")
    ap.add_argument(
        "--vs-nano",
        action="store_true",
        help="time OpenCV's NanoTrack in the same run and print the ratio of its ms per frame to each row's",
    )
    ap.add_argument(
        "--nano-dir",
        default=str(SEQ.parent.parent.parent / "peers"),
        help="folder with NanoTrack's ONNX files (default ../shared/peers)",
    )
    ap.add_argument(
        "--peak",
        action="store_true",
        help="also measure the cores' float32 convolution rate and report each preset's GMAC per frame against it",
    )
    ap.add_argument(
        "--conv-floor",
        action="store_true",
        help="also time each convolution of one update() "
        "alone and report the sum (the floor for a graph of exactly these convolutions)",
    )
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="also split each Siamese tracker's update into crop, conversion, graph, decode and the rest (median ms)",
    )
    args = ap.parse_args()
    from tracker.runtime import configure_process, configure_threads

    configure_threads(args.threads)
    configure_process()  # as the siamtrack commands run: freed memory kept, TF32 off
    seq = Path(args.sequence)
    seq = seq if seq.is_dir() else SEQ.parent / args.sequence
    frames, box = frames_and_box(args.frames, seq)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}, "
        f"{len(frames) - 1} frames of {seq.name}"
    )
    peak = conv_peak_gmacs() if (args.peak or args.conv_floor) and args.device == "cpu" else None
    head, rule = "| preset | xcorr | engine | median ms/frame | fps |", "|---|---|---|---|---|"
    if peak:
        print(f"float32 convolution peak of these cores: {peak:.0f} GMAC/s ({2 * peak:.0f} GFLOP/s)")
        head, rule = head + " GMAC/frame | fps at the peak | share of the peak |", rule + "---|---|---|"
        if args.conv_floor:
            head, rule = head + " conv floor ms | share of the floor |", rule + "---|---|"
    if args.vs_nano:
        head, rule = head + " NanoTrack ms / this |", rule + "---|"
    with tempfile.TemporaryDirectory() as tmp:
        runs = []  # (preset, xcorr, engine asked, tracker)
        for name in args.presets.split(","):
            weights = None
            if not Path(name).is_dir():
                preset = get_preset(name)
                if not preset.weights_available:
                    torch.manual_seed(0)
                    weights = Path(tmp) / f"{name}.pth"
                    save_checkpoint(weights, build_model(preset), {"preset": name})
            for backend in args.xcorr.split(","):
                for engine in args.engine.split(","):
                    if Path(name).is_dir() and (backend != "torch" or engine == "torch"):
                        continue  # an export runs on an ONNX engine, with its own correlation
                    if engine in ("onnxruntime", "openvino") and backend != "torch":
                        continue
                    runs.append(
                        (
                            Path(name).name,
                            backend,
                            build_tracker(name, weights=weights, device=args.device, xcorr=backend, engine=engine),
                        )
                    )
        if args.vs_nano:
            runs.append(("opencv:nano", "-", build_tracker("opencv:nano", model_dir=args.nano_dir)))
        times = {i: [] for i in range(len(runs))}
        for _, _, tracker in runs:
            tracker.init(frames[0], box)
            tracker.update(frames[1])  # builds what a tracker builds on first use
        parts = {
            i: Breakdown(tracker)
            for i, (_, _, tracker) in enumerate(runs)
            if args.breakdown and getattr(tracker, "engine", None) is not None
        }
        for k, f in enumerate(frames[2:]):
            # the order rotates by one each frame: each tracker follows every other equally often (what ran just
            # before an update, the same runtime with its threads still awake or another library, moves its time)
            for i in [(k + j) % len(runs) for j in range(len(runs))]:
                tracker = runs[i][2]
                if i in parts:
                    times[i].append(parts[i].update(f))
                    continue
                t0 = time.perf_counter()
                tracker.update(f)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                times[i].append(time.perf_counter() - t0)
        ms = {i: statistics.median(t) * 1000 for i, t in times.items()}
        nano_ms = ms[len(runs) - 1] if args.vs_nano else None
        print(head)
        print(rule)
        for i, (name, backend, tracker) in enumerate(runs):
            row = f"| {name} | {backend} | {engine_text(tracker) or '-'} | {ms[i]:.1f} | {1000 / ms[i]:.1f} |"
            if peak:
                if getattr(tracker, "model", None) is not None and getattr(tracker, "engine_name", "") == "torch":
                    calls = [] if args.conv_floor else None
                    gmac = count_update_gmacs(tracker, frames[-1], calls)
                    bound = peak / gmac
                    row += f" {gmac:.2f} | {bound:.1f} | {100 * (1000 / ms[i]) / bound:.0f}% |"
                    if calls is not None:
                        floor = conv_floor_ms(calls)
                        row += f" {floor:.1f} | {100 * floor / ms[i]:.0f}% |"
                else:
                    row += " - | - | - |" + (" - | - |" if args.conv_floor else "")
            if nano_ms is not None:
                row += f" {nano_ms / ms[i]:.2f} |"
            print(row, flush=True)
        for name, _, tracker in runs:
            why = getattr(tracker, "engine_choice", None)
            if why:  # auto timed engine and precision on this machine (once, remembered)
                times_ = ", ".join(f"{k} {v:.2f} ms" for k, v in sorted(why.items(), key=lambda kv: kv[1]))
                print(f"auto chose {engine_text(tracker)} for {name} on this CPU (timed once, search graph: {times_})")
        if parts:
            print("\nWhere an update's time goes (median ms per update; outside = the update minus the graph):")
            print("| preset | engine | update | crop | conversion | graph | decode | rest | outside |")
            print("|---|---|---|---|---|---|---|---|---|")
            for i, b in parts.items():
                m = b.medians()
                name, _, tracker = runs[i]
                print(
                    f"| {name} | {engine_text(tracker) or '-'} | {m['total']:.2f} | {m['crop']:.2f} | "
                    f"{m['conversion']:.2f} | {m['graph']:.2f} | {m['decode']:.2f} | {m['rest']:.2f} | "
                    f"{m['outside']:.2f} |"
                )


if __name__ == "__main__":
    main()
