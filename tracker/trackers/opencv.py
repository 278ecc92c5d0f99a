"""OpenCV's trackers behind the project's `Tracker` interface, as baselines for `bench`, `track` and the GUI.

Names: `opencv:csrt`, `opencv:kcf`, `opencv:mil` (no model files), and the DNN trackers that need model
files: `opencv:nano` (NanoTrack: backbone + neck/head ONNX), `opencv:vit` (one ONNX) and
`opencv:dasiamrpn` (model + kernel_cls1 + kernel_r1 ONNX). Give the files either one by one
(`backbone=`, `neckhead=`, `net=`, `model=`, `kernel_cls1=`, `kernel_r1=`) or as `model_dir=` a folder
holding them under their usual names (see `MODEL_FILES`).

OpenCV's `update()` returns `(ok, box)`: `lost = not ok`. The score is OpenCV's tracking score where the
tracker has one (Nano, Vit, DaSiamRPN: `getTrackingScore()`), otherwise 1.0 / 0.0 from `ok`. Nano and
DaSiamRPN always report ok, so for them `lost` is never set; the score is the only confidence signal.
"""

from __future__ import annotations

import glob
import math
import os
from pathlib import Path
from typing import cast

from ..result import TrackerError, TrackResult
from .base import Tracker

# For each DNN tracker: parameter name -> (file names tried first in model_dir, glob patterns tried next).
MODEL_FILES: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "nano": {
        "backbone": (
            ("backbone.onnx", "nanotrack_backbone_sim.onnx", "nanotrack_v2_backbone.onnx", "nanotrack_backbone.onnx"),
            ("*backbone*.onnx",),
        ),
        "neckhead": (
            ("neckhead.onnx", "nanotrack_head_sim.onnx", "nanotrack_v2_head.onnx", "nanotrack_head.onnx"),
            ("*neckhead*.onnx", "*head*.onnx"),
        ),
    },
    "vit": {
        "net": (("vitTracker.onnx", "object_tracking_vittrack_2023sep.onnx"), ("*vit*.onnx",)),
    },
    "dasiamrpn": {
        "model": (("dasiamrpn_model.onnx",), ("*dasiamrpn*model*.onnx",)),
        "kernel_cls1": (("dasiamrpn_kernel_cls1.onnx",), ("*kernel_cls1*.onnx", "*cls1*.onnx")),
        "kernel_r1": (("dasiamrpn_kernel_r1.onnx",), ("*kernel_r1*.onnx", "*_r1*.onnx")),
    },
}

# Friendly aliases accepted as overrides.
_ALIASES = {"head": "neckhead", "onnx": "net", "cls1": "kernel_cls1", "r1": "kernel_r1"}

SIMPLE = ("csrt", "kcf", "mil")
KNOWN = SIMPLE + tuple(MODEL_FILES)


def list_opencv_trackers() -> list[str]:
    return [f"opencv:{k}" for k in KNOWN]


def opencv_kind(name: str) -> str:
    """'nano' for 'opencv:nano' (any case, spaces around), the name itself without the prefix."""
    return name.split(":", 1)[1].strip().lower() if name.lower().startswith("opencv:") else name.strip().lower()


def model_dir_overrides(name: str, dirs: dict) -> dict:
    """{'model_dir': FOLDER} for an opencv: DNN tracker whose folder `dirs` (model_dirs) gives, else {}."""
    folder = dirs.get(opencv_kind(name)) if name.lower().startswith("opencv:") else None
    return {"model_dir": str(folder)} if folder is not None else {}


def _find_in_dir(model_dir: Path, names: tuple[str, ...], patterns: tuple[str, ...], exclude: set[str]):
    for n in names:
        p = model_dir / n
        if p.is_file():
            return p
    for pat in patterns:
        hits = sorted(p for p in map(Path, glob.glob(str(model_dir / pat))) if p.name not in exclude)
        if len(hits) == 1:
            return hits[0]
    return None


def resolve_model_files(kind: str, model_dir=None, **given) -> dict[str, str]:
    """Paths of the ONNX files a DNN tracker needs: explicit paths win, then `model_dir`'s usual names.
    Raises TrackerError naming every missing file."""
    spec = MODEL_FILES[kind]
    out: dict[str, str] = {}
    missing: list[str] = []
    found_names: set[str] = set()
    for key in spec:
        if given.get(key):
            p = Path(given[key]).expanduser()
            if not p.is_file():
                raise TrackerError(f"opencv:{kind}: {key} file {p} does not exist")
            out[key] = str(p)
            found_names.add(p.name)
    if model_dir is not None:
        d = Path(model_dir).expanduser()
        if not d.is_dir():
            raise TrackerError(f"opencv:{kind}: model folder {d} does not exist")
    for key, (names, patterns) in spec.items():
        if key in out:
            continue
        found = None
        if model_dir is not None:
            # a backbone file must not be taken for the head ("*head*" never matches "backbone", but be safe)
            found = _find_in_dir(
                Path(model_dir).expanduser(),
                names,
                patterns,
                exclude=found_names | {str(Path(v).name) for v in out.values()},
            )
        if found is None:
            where = f" in {model_dir}" if model_dir is not None else ""
            missing.append(f"{key} (e.g. {names[0]}{where})")
        else:
            out[key] = str(found)
    if missing:
        flags = ", ".join(f"{k}=PATH" for k in spec)
        raise TrackerError(
            f"opencv:{kind} needs its ONNX model files; missing: {'; '.join(missing)}. "
            f"Give model_dir=FOLDER or {flags} (on the command line: --{kind}-dir FOLDER or "
            f"--opencv-models FOLDER)"
        )
    return out


def _cv2():
    import cv2

    return cv2


def _make_factory(kind: str, files: dict[str, str] | None):
    files = files or {}  # the DNN trackers' model files (the others take none)
    cv2 = _cv2()
    if kind == "csrt":
        return cv2.TrackerCSRT.create
    if kind == "kcf":
        return cv2.TrackerKCF.create
    if kind == "mil":
        return cv2.TrackerMIL.create
    if kind == "nano":

        def make():
            p = cv2.TrackerNano_Params()
            p.backbone, p.neckhead = files["backbone"], files["neckhead"]
            return cv2.TrackerNano.create(p)
    elif kind == "vit":

        def make():
            p = cv2.TrackerVit_Params()
            p.net = files["net"]
            return cv2.TrackerVit.create(p)
    elif kind == "dasiamrpn":

        def make():
            p = cv2.TrackerDaSiamRPN_Params()
            p.model, p.kernel_cls1, p.kernel_r1 = files["model"], files["kernel_cls1"], files["kernel_r1"]
            return cv2.TrackerDaSiamRPN.create(p)
    else:  # pragma: no cover - guarded by build_opencv_tracker
        raise TrackerError(f"unknown OpenCV tracker {kind}")
    return make


def _int_box_in_frame(box, frame_shape) -> tuple[int, int, int, int]:
    """OpenCV wants an integer Rect inside the image: each value rounded (as the usual OpenCV benchmark
    scripts do: NanoTrack's AUC on the 11 sequences moves by 0.03 with a one-pixel change of the initial
    box), then clipped to the frame (validate_box has checked the overlap)."""
    H, W = frame_shape[:2]
    x, y, w, h = (int(round(v)) for v in box)
    x1, y1 = max(0, x), max(0, y)
    x2, y2 = min(W, x + w), min(H, y + h)
    if x2 - x1 < 1 or y2 - y1 < 1:
        raise TrackerError(f"box {x:g},{y:g},{w:g},{h:g} covers less than one pixel of the {W}x{H} frame")
    return x1, y1, x2 - x1, y2 - y1


class OpenCVTracker(Tracker):
    """One OpenCV tracker; a fresh OpenCV object is made at every `init`, so re-initialising is clean."""

    def __init__(self, kind: str, factory, files: dict[str, str] | None = None):
        self.kind = kind
        self.name = f"opencv:{kind}"
        self.files = files or {}
        self._factory = factory
        self._cv = None
        self._box: tuple[float, float, float, float] | None = None
        # Built once here so that a bad model file fails at construction, not at the first frame.
        self._cv = self._new()

    def _new(self):
        cv2 = _cv2()
        logging = getattr(getattr(cv2, "utils", None), "logging", None)
        level = logging.getLogLevel() if logging is not None else None
        try:
            if logging is not None:  # the DNN backends warn about targets on every creation; keep stderr clean
                logging.setLogLevel(min(level, logging.LOG_LEVEL_ERROR))
            return self._factory()
        except cv2.error as exc:
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else exc.__class__.__name__
            raise TrackerError(
                f"{self.name}: OpenCV could not load its model files "
                f"({', '.join(self.files.values()) or 'none'}): {detail}"
            ) from None
        finally:
            if logging is not None:
                logging.setLogLevel(level)

    def spawn(self) -> OpenCVTracker:
        twin = cast(OpenCVTracker, super().spawn())
        twin._cv = None  # its own OpenCV object (built by its init)
        return twin

    def _init(self, frame, box):
        if self._cv is None:
            self._cv = self._new()
        rect = _int_box_in_frame(box, frame.shape)
        cv = self._cv
        self._cv = None  # the next init builds a fresh object
        try:
            cv.init(frame, rect)
        except _cv2().error as exc:
            raise TrackerError(
                f"{self.name}: OpenCV refused the initial box {rect}: {str(exc).strip().splitlines()[-1]}"
            ) from None
        self._tracker = cv
        x, y, w, h = (float(v) for v in rect)
        self._box = (x, y, w, h)

    def _update(self, frame) -> TrackResult:
        if self._box is None:
            raise TrackerError(f"{self.name}: update() called before init()")
        try:
            ok, rect = self._tracker.update(frame)
        except _cv2().error:
            # Some OpenCV trackers throw when the target leaves the image: report it as lost.
            return TrackResult(self._box, 0.0, True)
        ok = bool(ok)
        box = tuple(float(v) for v in rect)
        if not ok or len(box) != 4 or box[2] <= 0 or box[3] <= 0 or not all(map(math.isfinite, box)):
            return TrackResult(self._box, 0.0, True)
        self._box = box
        score = 1.0
        # every cv2.Tracker has getTrackingScore(); only the DNN trackers implement it (others say -1)
        get_score = getattr(self._tracker, "getTrackingScore", None) if self.kind in MODEL_FILES else None
        if get_score is not None:
            try:
                s = float(get_score())
                if math.isfinite(s) and s >= 0:
                    score = s
            except Exception:  # noqa: BLE001 - a score is a bonus; never fail a frame for it
                pass
        return TrackResult(box, score, False)


def build_opencv_tracker(name: str, model_dir=None, **overrides) -> OpenCVTracker:
    """`build_opencv_tracker("opencv:nano", model_dir="../shared/peers")` or with explicit file paths
    (`backbone=`, `neckhead=`; `net=`; `model=`, `kernel_cls1=`, `kernel_r1=`)."""
    kind = opencv_kind(name)
    if kind not in KNOWN:
        raise TrackerError(f"unknown OpenCV tracker '{name}'; choose from {', '.join(list_opencv_trackers())}")
    given = {}
    for key, value in overrides.items():
        key = _ALIASES.get(key, key)
        if value is None:
            continue
        if kind in SIMPLE or key not in MODEL_FILES[kind]:
            allowed = ", ".join(["model_dir", *MODEL_FILES.get(kind, {})]) if kind not in SIMPLE else "none"
            raise TrackerError(f"opencv:{kind} does not take the option '{key}' (accepted: {allowed})")
        given[key] = os.fspath(value)
    if kind in SIMPLE:
        return OpenCVTracker(kind, _make_factory(kind, None))
    files = resolve_model_files(kind, model_dir=model_dir, **given)
    return OpenCVTracker(kind, _make_factory(kind, files), files)
