"""siamtrack: Siamese single-object trackers (SiamFC, SiamRPN, SiamRPN++) and the tools around them."""
import os as _os

# Library chatter stays off the user's terminal: OpenCV's log (e.g. the camera probe's warnings) and FFmpeg's
# (e.g. "moov atom not found" for a file that is not a video). Our own messages say what is wrong. Set before
# OpenCV is imported; set either variable yourself to see that output (OPENCV_LOG_LEVEL=INFO,
# OPENCV_FFMPEG_LOGLEVEL=32).
_os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
from .base import Tracker, TrackerError, TrackResult
from .errors import UserError

__version__ = "0.2.0"


def build_tracker(preset_or_config, weights=None, device="cpu", xcorr="torch", **overrides) -> Tracker:
    """Build any tracker by name: a preset (`siamrpn_alex_dwxcorr`), a pysot YAML path, a preset object,
    or an OpenCV baseline (`opencv:csrt`, `opencv:kcf`, `opencv:mil`, `opencv:nano`, ...)."""
    from .factory import build_tracker as _build
    return _build(preset_or_config, weights=weights, device=device, xcorr=xcorr, **overrides)


__all__ = ["Tracker", "TrackerError", "TrackResult", "UserError", "build_tracker"]
