"""siamtrack: Siamese single-object trackers (SiamFC, SiamRPN, SiamRPN++) and the tools around them."""

import os as _os

# Library chatter stays off the user's terminal: OpenCV's log (e.g. the camera probe's warnings) and FFmpeg's
# (e.g. "moov atom not found" for a file that is not a video). Our own messages say what is wrong. Set before
# OpenCV is imported; set either variable yourself to see that output (OPENCV_LOG_LEVEL=INFO,
# OPENCV_FFMPEG_LOGLEVEL=32).
_os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
from typing import TYPE_CHECKING, Any, Union

from .errors import UserError
from .result import TrackerError, TrackResult
from .trackers.base import NotInitializedError, Tracker
from .version import __version__ as __version__

if TYPE_CHECKING:
    from .config.presets import Preset
    from .sequence import FrameResult, TrackRun, fps_from_times


def build_tracker(
    preset_or_config: Union[str, "_os.PathLike[str]", "Preset"],
    weights: Union[str, "_os.PathLike[str]", None] = None,
    device: str = "cpu",
    xcorr: str = "torch",
    **overrides: Any,
) -> Tracker:
    """Build any tracker by name: a preset (`siamrpn_alex_dwxcorr`), a pysot YAML path, a preset object, a
    folder written by `siamtrack export` (runs without torch), or an OpenCV baseline (`opencv:csrt`,
    `opencv:kcf`, `opencv:mil`, `opencv:nano`, ...). `engine=` (auto, torch, onnxruntime, openvino) chooses
    what runs a Siamese model's network (tracker.engines); tracking values go in as keywords."""
    from .build import build_tracker as _build

    return _build(preset_or_config, weights=weights, device=device, xcorr=xcorr, **overrides)


def __getattr__(name: str) -> Any:
    # the frame-loop types, imported on first use (tracker.sequence brings in OpenCV)
    if name in ("FrameResult", "TrackRun", "fps_from_times"):
        from . import sequence

        return getattr(sequence, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Tracker",
    "TrackerError",
    "TrackResult",
    "UserError",
    "NotInitializedError",
    "build_tracker",
    "FrameResult",
    "TrackRun",
    "fps_from_times",
]
