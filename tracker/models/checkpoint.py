"""Reading checkpoints: pysot model-zoo files (bare state_dict), pysot and NanoTrack training snapshots
(`state_dict` inside, `module.` prefixes, an optimizer state beside it), siamfc-pytorch files, and the project's
own format ({"state_dict": ..., "meta": {...}}). Always `weights_only=True`; always strict.

A mismatch never loads silently: the error lists missing, unexpected and mis-shaped keys and names the
preset the file most likely belongs to.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from backbones.errors import unreadable_checkpoint

from ..errors import UserError

OWN_FORMAT_VERSION = 1


class CheckpointError(UserError):
    pass


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def numpy_scalar_globals() -> list:
    """What a training snapshot's optimizer state may hold besides tensors: numpy scalars (NanoTrack's files
    store their step counts and learning rates as numpy float64/int64). These rebuild plain numbers from a
    dtype and bytes; they are the only globals allowed beyond torch's own weights-only set. numpy 2 moved
    `numpy.core` to `numpy._core`: files written under numpy 1 name the old path, under numpy 2 the new one."""
    import numpy as np

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    dtypes = {type(np.dtype(t)) for t in (np.float64, np.float32, np.float16, np.int64, np.int32, np.bool_)}
    return [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, *sorted(dtypes - {np.dtype}, key=str)]


def read_checkpoint(path: str | os.PathLike, expected_sha256: str | None = None) -> tuple[dict, dict]:
    """Return (state_dict, meta). meta is {} for pysot / siamfc-pytorch files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    if expected_sha256 and sha256_file(path) != expected_sha256:
        raise CheckpointError(
            f"{path}: sha256 does not match the one recorded for this model (file damaged or replaced)"
        )
    try:
        with torch.serialization.safe_globals(numpy_scalar_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle errors, truncated zips, non-weights content
        raise CheckpointError(unreadable_checkpoint(path, exc)) from None
    meta: dict = {}
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        meta = obj.get("meta") or {}
        if not isinstance(meta, dict):
            meta = {}
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: does not contain a state_dict of tensors")
    state = {}
    for k, v in obj.items():
        while k.startswith("module."):
            k = k[len("module.") :]
        state[k] = v
    return state, meta


def diff_state(model_state: dict, file_state: dict) -> tuple[list[str], list[str], list[str]]:
    """missing, unexpected, mis-shaped (as 'key: file (shape) vs model (shape)')."""
    missing = [k for k in model_state if k not in file_state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in file_state if k not in model_state]
    shaped = [
        f"{k}: file {tuple(file_state[k].shape)} vs model {tuple(model_state[k].shape)}"
        for k in model_state
        if k in file_state and tuple(file_state[k].shape) != tuple(model_state[k].shape)
    ]
    return missing, unexpected, shaped


def _summarise(keys: list[str], limit: int = 6) -> str:
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def guess_preset(file_state: dict) -> tuple[str | None, float]:
    """The registered preset whose parameter names and shapes best match the file (built on the meta
    device: no memory, no time)."""
    from ..config.presets import list_presets
    from .siamese import build_model

    best, best_score = None, 0.0
    for preset in list_presets():
        try:
            with torch.device("meta"):
                model = build_model(preset)
        except Exception:  # noqa: BLE001 - a preset that cannot be built here cannot be the match
            continue
        ms = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        keys = set(ms) | set(file_state)
        hits = sum(1 for k in keys if k in ms and k in file_state and tuple(file_state[k].shape) == ms[k])
        score = hits / max(1, len(keys))
        if score > best_score:
            best, best_score = preset.name, score
    return best, best_score


def load_into(model: nn.Module, file_state: dict, source: str, preset_name: str) -> None:
    """Strictly load `file_state` into `model`, or raise a CheckpointError that says what differs."""
    model_state = model.state_dict()
    missing, unexpected, shaped = diff_state(model_state, file_state)
    if missing or unexpected or shaped:
        lines = [f"{source}: does not fit model {preset_name}"]
        if missing:
            lines.append(f"  missing {len(missing)} key(s): {_summarise(missing)}")
        if unexpected:
            lines.append(f"  unexpected {len(unexpected)} key(s): {_summarise(unexpected)}")
        if shaped:
            lines.append(f"  {len(shaped)} key(s) of another shape: {_summarise(shaped, 3)}")
        guess, score = guess_preset(file_state)
        if guess and guess != preset_name and score > 0.5:
            lines.append(f"  this file most likely belongs to preset {guess} ({score:.0%} of keys match)")
        elif guess != preset_name:
            lines.append("  no registered preset matches it; if it came with a pysot config.yaml, pass --config")
        raise CheckpointError("\n".join(lines))
    converted = {k: v.to(model_state[k].dtype) if v.is_floating_point() else v for k, v in file_state.items()}
    model.load_state_dict(converted, strict=False)  # strictness checked above (num_batches_tracked optional)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, meta: dict, half: bool = False) -> str:
    """Write the project's own format atomically; returns the file's sha256."""
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    meta = dict(meta, version=OWN_FORMAT_VERSION)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"state_dict": state, "meta": meta}, tmp)
    os.replace(tmp, path)
    return sha256_file(path)
