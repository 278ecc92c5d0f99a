"""Export a Siamese model to ONNX: the template branch and the search branch + head as two graphs
(opset 18), checked with onnx.checker and against the torch model, plus the sidecar that makes the folder a
tracker on its own (tracker.engines.exported). Optionally the search graph in int8 (static post-training
quantization, ONNX Runtime QDQ) calibrated on real frames.

The correlation's kernel is a graph input (the template graph's outputs), so each graph is a plain
feed-forward network that any ONNX runtime can run. Shapes are fixed: one template graph at the exemplar
size, one search graph per search size the tracking values use (SiamFC: batched over its scales; SiamRPN
with long-term re-detection: the wider re-detection size too).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..config.presets import Preset, SiamFCParams
from ..engines.exported import FORMAT, SIDECAR, VERSION, ExportError, file_sha256, read_export

if TYPE_CHECKING:
    from ..models.siamese import SiameseModel

OPSET = 18
# torch and an ONNX engine agree within a few 1e-6 on these graphs in float32; a difference above this
# (relative to the output's largest value) means the export computes something else
MAX_RELATIVE_ERROR = 1e-4


def tree_flatten(obj) -> tuple[list, object]:
    """The tensors of a nested list/tuple structure (a head's prepared template), in order, and its shape."""
    if isinstance(obj, torch.Tensor):
        return [obj], None
    leaves, specs = [], []
    for item in obj:
        sub, spec = tree_flatten(item)
        leaves += sub
        specs.append((len(sub), spec))
    return leaves, (type(obj), specs)


def tree_unflatten(leaves: list, spec):
    if spec is None:
        return leaves[0]
    kind, specs = spec
    out, i = [], 0
    for n, sub in specs:
        out.append(tree_unflatten(leaves[i : i + n], sub))
        i += n
    return kind(out)


class _Template(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, z):
        return tuple(tree_flatten(self.model.template(z))[0])


class _Search(nn.Module):
    def __init__(self, model, spec):
        super().__init__()
        self.model = model
        self.spec = spec

    def forward(self, x, *kernel):
        out = self.model.track(x, tree_unflatten(list(kernel), self.spec))
        return (out["cls"],) if out["loc"] is None else (out["cls"], out["loc"])


@contextlib.contextmanager
def _quiet():
    """The exporter's progress lines, warnings and log records (e.g. 'torchvision is not installed')."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _onnx_export(module: nn.Module, args: tuple, path, input_names=None, output_names=None) -> None:
    # with autograd on, layers take their plain path: inference-only shortcuts such as Lite0's in-place
    # border zeroing (tracker/models, backbones) would become ScatterND nodes, which OpenVINO rejects
    with _quiet(), torch.enable_grad():
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=True,
            opset_version=OPSET,
            input_names=input_names,
            output_names=output_names,
            external_data=False,
            optimize=True,
            verbose=False,
        )


def _reason(exc: BaseException) -> str:
    """The cause of an exporter error in one line: the first entry of its exception summary where it has one
    (the exporter's own first lines only say which step failed), else the first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if "## Exception summary" in lines:
        rest = lines[lines.index("## Exception summary") + 1 :]
        if rest:
            return re.sub(r"^<class '(?:[\w.]+\.)?(\w+)'>: ", r"\1: ", rest[0])[:200]
    return (lines[0] if lines else type(exc).__name__)[:200]


class _Call(nn.Module):
    """`module(*args, **kwargs)` with the keyword arguments fixed, as a module the exporter can take."""

    def __init__(self, module: nn.Module, kwargs: dict):
        super().__init__()
        self.m = module
        self.kwargs = kwargs

    def forward(self, *args):
        return self.m(*args, **self.kwargs)


def find_unexportable(module: nn.Module, args: tuple) -> tuple[str, str]:
    """(layer path, reason) for the innermost layer of `module` that cannot be exported when `module` is
    called with `args`: every layer's first inputs are recorded in one eager run; then, top-down, each layer
    is exported alone on its inputs and the search descends into the first that fails (and into layers that
    are never called as modules, through their children). A layer whose sub-layers all export alone is itself
    the culprit (its own forward code is)."""
    seen: dict = {}
    handles = [
        m.register_forward_hook(lambda m, a, kw, out: seen.setdefault(id(m), (a, kw)) and None, with_kwargs=True)
        for m in module.modules()
        if m is not module
    ]
    try:
        with torch.no_grad():
            module(*args)
    except Exception as exc:  # noqa: BLE001 - a layer that does not even run eagerly
        return type(module).__name__, _reason(exc)
    finally:
        for h in handles:
            h.remove()

    def search(parent: nn.Module, prefix: str):
        for name, child in parent.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if id(child) not in seen:  # not called as a module: look at what it contains
                found = search(child, path)
                if found:
                    return found
                continue
            a, kw = seen[id(child)]
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    _onnx_export(_Call(child, kw).eval(), tuple(a), Path(tmp) / "layer.onnx")
            except Exception as exc:  # noqa: BLE001 - this layer fails alone: look inside it
                return search(child, path) or (path, _reason(exc))
        return None

    return search(module, "") or (type(module).__name__, "its own forward code (each of its layers exports alone)")


def export_graph(wrapper: nn.Module, args: tuple, path: Path, inputs, outputs, what: str, model: nn.Module):
    """`wrapper(*args)` as one ONNX graph at `path` (`inputs`, `outputs`: its tensor names), checked with
    onnx.checker; a failure is one ExportError naming the layer of `model` that cannot be exported (`what`:
    the graph, in words)."""
    try:
        _onnx_export(wrapper, args, path, inputs, outputs)
    except Exception as exc:  # any exporter failure becomes one line naming the layer (re-raised)
        layer, why = find_unexportable(wrapper, args)
        layer = layer.removeprefix("model.").removeprefix("model") or "(the whole model)"
        raise ExportError(
            f"cannot export the {what}: layer {layer} ({_layer_type(model, layer)}) cannot be exported to ONNX: {why}"
        ) from exc
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # noqa: BLE001 - onnx's checker raises its own types
        raise ExportError(f"the exported {what} fails onnx.checker: {_reason(exc)}") from None


def _layer_type(model: nn.Module, path: str) -> str:
    try:
        return type(model.get_submodule(path)).__name__
    except AttributeError:
        return type(model).__name__


def search_shapes(preset: Preset, long_term: bool = False, targets: int = 1) -> list[tuple[int, int]]:
    """(size, batch) of each search graph the tracking values use, for `targets` targets at once (their
    crops in one batch)."""
    p = preset.track
    if preset.family == "siamfc":
        assert isinstance(p, SiamFCParams)
        return [(p.instance_size, p.scale_num * targets)]
    assert not isinstance(p, SiamFCParams)
    sizes = [(p.instance_size, targets)]
    if (long_term or p.long_term) and p.lost_instance_size != p.instance_size:
        sizes.append((p.lost_instance_size, targets))
    return sizes


def _max_error(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x - y).max() / max(1e-6, float(np.abs(y).max()))) for x, y in zip(a, b))


def prepare_export(model: SiameseModel, out_dir) -> tuple[Path, SiameseModel]:
    """The output folder (made) and `model` ready to export: eval mode, on the CPU, its eager modules (the fast path
    holds its own transformed copies of the weights, so the export would not read the model's own), torch
    correlation."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    model.fast_path = None
    model.set_xcorr_backend("torch")
    return out, model


def export_model(
    preset: Preset,
    model: SiameseModel,
    out_dir,
    weights_sha256: str | None = None,
    long_term: bool = False,
    int8: bool = False,
    calibration=None,
    calibration_frames: int = 96,
    targets: int = 1,
):
    """Writes the export of `model` (the preset's network, eval mode, CPU) to `out_dir`; returns its
    tracker.engines.exported.Export (read back and verified). With `targets` > 1 the search graphs take the
    crops of that many targets in one batch and a kernel per crop (the kernel inputs' batch is the crops'),
    for tracking several targets at once (tracker.engines.Engine.search_targets); float32 only. With `int8` the
    search graph at the instance size is quantized, calibrated on `calibration` (tracker.export.quantize)."""
    if targets > 1 and int8:
        raise ExportError("an export for several targets at once is float32 only")
    out, model = prepare_export(model, out_dir)
    p = preset.track
    gen = torch.Generator().manual_seed(0)
    z = torch.rand(1, 3, p.exemplar_size, p.exemplar_size, generator=gen)
    with torch.no_grad():
        kernel, spec = tree_flatten(model.template(z))
    k_names = [f"k{i}" for i in range(len(kernel))]
    t_path = out / "template.onnx"
    export_graph(_Template(model).eval(), (z,), t_path, ["z"], k_names, "template branch", model)
    graphs: dict[str, Any]
    graphs = {
        "template": {
            "file": t_path.name,
            "inputs": ["z"],
            "outputs": k_names,
            "shapes": {"z": list(z.shape), **{n: list(k.shape) for n, k in zip(k_names, kernel)}},
            "size": p.exemplar_size,
            "batch": 1,
            "precision": "float32",
        },
        "search": [],
    }
    outputs = ["cls"] if preset.family == "siamfc" else ["cls", "loc"]
    # checked on other inputs than the traced examples: an operation the exporter could only evaluate on its
    # example (and so froze into a constant) then shows
    z2 = torch.rand(1, 3, p.exemplar_size, p.exemplar_size, generator=gen)
    with torch.no_grad():
        kernel2 = tree_flatten(model.template(z2))[0]
    checks = [(t_path, (z2,), [k.numpy() for k in kernel2])]
    for size, batch in search_shapes(preset, long_term, targets):
        example, check_kernel = kernel, kernel2
        if targets > 1:  # a kernel per crop; checked with a different one for each
            example = [k.repeat(batch, *[1] * (k.dim() - 1)) for k in kernel]
            zs = torch.rand(batch, 3, p.exemplar_size, p.exemplar_size, generator=gen)
            with torch.no_grad():
                check_kernel = tree_flatten(model.template(zs))[0]
        x = torch.rand(batch, 3, size, size, generator=gen)
        path = out / f"search_{size}.onnx"
        export_graph(
            _Search(model, spec).eval(),
            (x, *example),
            path,
            ["x", *k_names],
            outputs,
            f"search branch and head ({size} px)",
            model,
        )
        x2 = torch.rand(batch, 3, size, size, generator=gen)
        with torch.no_grad():
            res = model.track(x2, tree_unflatten(list(check_kernel), spec))
        checks.append((path, (x2, *check_kernel), [res[o].numpy() for o in outputs]))
        graphs["search"].append(
            {
                "file": path.name,
                "inputs": ["x", *k_names],
                "outputs": outputs,
                "shapes": {"x": list(x.shape), **{n: list(k.shape) for n, k in zip(k_names, example)}},
                "size": size,
                "batch": batch,
                "precision": "float32",
            }
        )
    _check_against_torch(checks, graphs)
    files = [t_path.name] + [g["file"] for g in graphs["search"]]
    sidecar: dict[str, Any]
    sidecar = {
        "format": FORMAT,
        "version": VERSION,
        "precision": "float32",
        "opset": OPSET,
        "exported_by": {"siamtrack": _version(), "torch": torch.__version__},
        "weights_sha256": weights_sha256,
        "input": {
            "crops": "BGR uint8 crops become float32 NCHW per preset.input: channel order, then "
            "(pixel * scale - mean) / std",
            **preset.to_dict()["input"],
        },
        "preset": {**preset.to_dict(), "weights": None, "weights_sha256": weights_sha256},
        "graphs": graphs,
    }
    _write_sidecar(out, sidecar, files)
    if int8:
        from .quantize import quantize_export

        quantize_export(out, sidecar, calibration, calibration_frames)
        _write_sidecar(out, sidecar, [t_path.name] + [g["file"] for g in sidecar["graphs"]["search"]])
    return read_export(out)


def _write_sidecar(out: Path, sidecar: dict, files: list[str]) -> None:
    sidecar["files"] = {name: file_sha256(out / name) for name in files}
    (out / SIDECAR).write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")


def _check_against_torch(checks, graphs) -> None:
    """Each graph run by ONNX Runtime (where installed) gives torch's answer, within MAX_RELATIVE_ERROR."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    for path, args, expected in checks:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        got = sess.run(None, {n: a.numpy() for n, a in zip(names, args)})
        err = _max_error(got, expected)
        if not err <= MAX_RELATIVE_ERROR:
            raise ExportError(
                f"{path.name}: ONNX Runtime's answer differs from torch's by {err:.2g} of the "
                f"output's range (allowed {MAX_RELATIVE_ERROR:g}); the export is not faithful"
            )


def _version() -> str:
    from ..version import __version__

    return __version__
