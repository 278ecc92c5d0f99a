"""The tracker class of each Siamese family, in one place: whichever engine runs the network (torch or an
exported graph), the same per-frame logic tracks with it. Imports no torch."""

from __future__ import annotations

from ..errors import UserError


def siamese_tracker(preset, runner, long_term: bool = False):
    """A SiamFC, SiamRPN or anchor-free tracker for `preset`, running its network through `runner`
    (a tracker.engines.Engine)."""
    if preset.family == "siamfc":
        if long_term:
            raise UserError(f"model {preset.name}: --long-term is available for SiamRPN and anchor-free models only")
        from .siamfc import SiamFCTracker

        return SiamFCTracker(preset, runner)
    if preset.family == "anchor_free":
        from .anchor_free import AnchorFreeTracker

        return AnchorFreeTracker(preset, runner, long_term=long_term)
    from .siamrpn import SiamRPNTracker

    return SiamRPNTracker(preset, runner, long_term=long_term)
