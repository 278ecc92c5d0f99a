"""Training checkpoints in the project's own format, loadable with torch.load(..., weights_only=True).

    {"state_dict": {name: tensor},                      # the model, no `module.` prefix
     "meta": {"preset", "family", "input_convention", "recipe", "version", "epoch", "step"},
     "training": {"optimizer", "schedule", "scaler", "rng", "sampler", "epoch", "step"}}

A training checkpoint is also a weights file: the tracker reads "state_dict" and "meta" and ignores
"training". `export_weights` strips the training state (optionally to fp16) for shipping.
Random states are stored as plain lists / ints / tensors (no numpy objects, no tuples of pickled types).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError


def _format_version() -> int:
    from ..models.checkpoint import OWN_FORMAT_VERSION  # one definition of the own format

    return int(OWN_FORMAT_VERSION)


class TrainCheckpointError(UserError):
    pass


def capture_rng() -> dict:
    version, mt, gauss = random.getstate()
    state = np.random.get_state()
    assert isinstance(state, tuple)  # the legacy form (the default)
    keys, pos, has_gauss, cached = state[1:]
    d: dict = {
        "python": {"version": int(version), "state": [int(v) for v in mt]},
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if gauss is not None:
        d["python"]["gauss"] = float(gauss)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        d["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return d


def restore_rng(d: dict) -> None:
    py = d["python"]
    random.setstate((py["version"], tuple(py["state"]), py.get("gauss")))
    n = d["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(d["torch"])
    if "cuda" in d and torch.cuda.is_available():
        states = d["cuda"]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def plain(obj):
    """Convert a recipe-like object to weights_only-safe plain data (dict/list/str/int/float/bool)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    if isinstance(obj, (str, os.PathLike)):
        return str(obj)
    return str(obj)


def unwrap(model):
    return getattr(model, "module", model)


def model_state(model) -> dict:
    return {k: v.detach().cpu().clone() for k, v in unwrap(model).state_dict().items()}


def atomic_save(obj, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def link_or_copy(src, dst) -> None:
    """Make `dst` the same file as `src` (a hard link where the file system allows it), atomically."""
    import shutil

    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def save_training_checkpoint(path, model, meta: dict, training: dict) -> None:
    atomic_save(
        {"state_dict": model_state(model), "meta": plain(dict(meta, version=_format_version())), "training": training},
        path,
    )


def load_training_checkpoint(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise TrainCheckpointError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle errors, truncated zips, non-weights content
        from ..models.checkpoint import unreadable_checkpoint

        raise TrainCheckpointError(unreadable_checkpoint(path, exc)) from None
    if not isinstance(ckpt, dict) or "training" not in ckpt or "state_dict" not in ckpt:
        raise TrainCheckpointError(
            f"{path}: a weights file without training state; to start from its weights use --init, not --resume"
        )
    return ckpt


def export_weights(train_ckpt, out, half: bool = False) -> Path:
    """Weights-only copy of a training checkpoint (state_dict + meta), fp16 floats when `half`."""
    ckpt = load_training_checkpoint(train_ckpt)
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    meta = dict(ckpt["meta"], dtype="float16" if half else "float32")
    atomic_save({"state_dict": state, "meta": meta}, out)
    return Path(out)


def prune_checkpoints(out_dir: Path, keep: int) -> None:
    """Drop mid-epoch checkpoints superseded by an epoch checkpoint; keep the last `keep` epoch files (0: all)."""
    epochs = sorted(out_dir.glob("checkpoint_e[0-9][0-9][0-9].pth"))
    if not epochs:
        return
    last_epoch = int(epochs[-1].name[12:15])
    for p in out_dir.glob("checkpoint_e[0-9][0-9][0-9]_s*.pth"):
        if int(p.name[12:15]) <= last_epoch:
            p.unlink(missing_ok=True)
    if keep:
        for p in epochs[:-keep]:
            p.unlink(missing_ok=True)
