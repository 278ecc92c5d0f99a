"""The tracker class of each Siamese family, in one place: whichever engine runs the network (torch or an
exported graph), the same per-frame logic tracks with it. Imports no torch."""

from __future__ import annotations

from ..errors import UserError


def check_long_term(preset, long_term: bool = False) -> None:
    """Long-term re-detection (pysot's: below a confidence the search widens and the window almost vanishes)
    is offered for the SiamRPN models only. On real footage it made every anchor-free model worse: NanoTrack
    v3 0.749 -> 0.673 and v2 0.743 -> 0.681 AUC on the seven training sequences (person9 0.78 -> 0.33: it
    re-detects onto a look-alike), the project's anchor-free model 0.743 -> 0.102 on VOT2014 drunk
    (weights/README.md). SiamFC has no such mode."""
    if not (long_term or getattr(preset.track, "long_term", False)) or preset.family == "siamrpn":
        return
    raise UserError(
        f"model {preset.name}: --long-term is for the SiamRPN models only "
        f"(on real footage it made the {preset.family.replace('_', '-')} models worse)"
    )


def siamese_tracker(preset, runner, long_term: bool = False):
    """A SiamFC, SiamRPN or anchor-free tracker for `preset`, running its network through `runner`
    (a tracker.engines.Engine)."""
    check_long_term(preset, long_term)
    if preset.family == "siamfc":
        from .siamfc import SiamFCTracker

        return SiamFCTracker(preset, runner)
    if preset.family == "anchor_free":
        from .anchor_free import AnchorFreeTracker

        return AnchorFreeTracker(preset, runner)
    from .siamrpn import SiamRPNTracker

    return SiamRPNTracker(preset, runner, long_term=long_term)
