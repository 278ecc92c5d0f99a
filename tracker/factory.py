"""build_tracker: one entry point for every tracker family."""
from __future__ import annotations

from .base import Tracker


def build_tracker(preset_or_config, weights=None, device="cpu", xcorr="torch", engine=None, **overrides) -> Tracker:
    """A preset name, preset object or YAML (run by `engine`: auto, torch, onnxruntime, openvino; None: auto
    unless tracker.engines.set_default_engine said otherwise); a folder
    written by `siamtrack export` (ONNX engines only, no torch needed); or an OpenCV baseline (`opencv:...`)."""
    if isinstance(preset_or_config, str) and preset_or_config.startswith("opencv:"):
        if engine not in (None, "auto"):
            from .errors import UserError
            raise UserError(f"--engine {engine} applies to the Siamese models, not {preset_or_config}")
        from .opencv_trackers import build_opencv_tracker
        return build_opencv_tracker(preset_or_config, **overrides)
    from .engines.exported import is_export
    if is_export(preset_or_config):
        if weights is not None:
            from .errors import UserError
            raise UserError(f"{preset_or_config} is an export: its weights are in its graphs (drop --weights)")
        if str(device or "cpu") != "cpu" or xcorr != "torch":
            from .errors import UserError
            raise UserError(f"{preset_or_config} is an export: it runs on the CPU with its own correlation "
                            f"(drop --device / --xcorr)")
        from .engines.exported import build_exported_tracker
        return build_exported_tracker(preset_or_config, engine=engine, **overrides)
    from .siamese import build_siamese_tracker
    return build_siamese_tracker(preset_or_config, weights=weights, device=device, xcorr=xcorr, engine=engine,
                                 **overrides)
