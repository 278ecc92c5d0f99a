"""What a batch run is asked for (`BatchOptions`: the model, the output folder, the limits per item), what of it
defines an item's result (`BatchOptions.fingerprint`), and whether its processes set torch's threads
(`uses_torch`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .inputs import BatchItem


@dataclass
class BatchOptions:
    out_dir: str
    model: str = ""
    weights: str | None = None
    config: str | None = None
    device: str = "cpu"
    xcorr: str = "torch"
    engine: str = "auto"  # what runs the network (tracker.engines)
    max_frames: int | None = None
    save_video: bool = False
    force: bool = False
    threads: int | None = None  # CPU threads per process (--threads); None: the free cores split among workers
    model_dir: str | None = None  # an opencv: DNN tracker's ONNX folder (--nano-dir, --opencv-models ...)
    # Library/test hook: a picklable zero-argument callable returning a fresh Tracker, used instead of
    # build_tracker (with workers it must be importable by name in the spawned processes).
    tracker_factory: Callable | None = None

    @property
    def model_label(self) -> str:
        if self.tracker_factory is not None:
            f = self.tracker_factory
            while hasattr(f, "func"):  # functools.partial
                f = f.func
            return f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', type(f).__name__)}"
        return self.config or self.model

    def fingerprint(self, item: BatchItem) -> dict:
        """Everything that defines an item's result; a finished result made with other inputs is redone.
        (Device and xcorr backend are how the result is computed, not what is computed.)"""
        fp = item.fingerprint()
        fp.update(model=self.model_label, weights=self.weights, max_frames=self.max_frames)
        return fp


def uses_torch(opts: BatchOptions) -> bool:
    return opts.tracker_factory is None and not (opts.config is None and str(opts.model).startswith("opencv:"))
