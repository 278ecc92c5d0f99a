"""siamtrack: Siamese single-object trackers (SiamFC, SiamRPN, SiamRPN++) and the tools around them."""
from .base import Tracker, TrackerError, TrackResult
from .errors import UserError

__version__ = "0.2.0"


def build_tracker(preset_or_config, weights=None, device="cpu", xcorr="torch", **overrides) -> Tracker:
    """Build any tracker by name: a preset (`siamrpn_alex_dwxcorr`), a pysot YAML path, a preset object,
    or an OpenCV baseline (`opencv:csrt`, `opencv:kcf`, `opencv:mil`, `opencv:nano`, ...)."""
    from .factory import build_tracker as _build
    return _build(preset_or_config, weights=weights, device=device, xcorr=xcorr, **overrides)


__all__ = ["Tracker", "TrackerError", "TrackResult", "UserError", "build_tracker"]
