"""build_tracker: one entry point for every tracker family."""
from __future__ import annotations

from .base import Tracker


def build_tracker(preset_or_config, weights=None, device="cpu", xcorr="torch", **overrides) -> Tracker:
    if isinstance(preset_or_config, str) and preset_or_config.startswith("opencv:"):
        from .opencv_trackers import build_opencv_tracker
        return build_opencv_tracker(preset_or_config, **overrides)
    from .siamese import build_siamese_tracker
    return build_siamese_tracker(preset_or_config, weights=weights, device=device, xcorr=xcorr, **overrides)
