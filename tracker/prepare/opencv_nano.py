"""`--model opencv-nano:DIR`: the two ONNX files of OpenCV's cv2.TrackerNano (a backbone and a neck-head, as
OpenCV's users have them, e.g. NanoTrack v2's `nanotrack_backbone_sim.onnx` / `nanotrack_head_sim.onnx`, or
what `siamtrack export --format opencv-nano` writes) run by our engines with our anchor-free tracker around them.

OpenCV's contract (tracker.export.nano): the backbone takes a 1x3xSxS blob, RGB 0..255, and is run on the
127-px template and on each 255-px search crop; the neck-head takes `input1` (template features) and `input2`
(search features) and gives `output1` (1x2xNxN logits, channel 1 the target) and `output2` (1x4xNxN distances
l, t, r, b in search-crop pixels). OpenCV runs the backbone and then the whole neck-head every frame, the
template's side of the head (its convolutions of `input1`) included.

Here the pair becomes, once per pair of files (cached by their sha256 in the cache folder's `exports/`), an
ordinary siamtrack export: a template graph (the backbone at 127 px, then every node of the neck-head that
depends on the template alone: run once per target) and one fused search graph (the backbone at 255 px, then the
rest of the neck-head, the template side's results as kernel inputs): one graph call per frame instead of
two, and none of the template's work repeated. Tracking values: the preset named in the folder's
`opencv_nano.json` (written by `siamtrack export --format opencv-nano`) where there is one, else NanoTrack v2's
(`nanotrack_v2`), with the input convention OpenCV feeds (RGB 0..255). Making the export needs the `onnx`
package (it rewrites the graphs); running it later does not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..engines.exported import FORMAT, SIDECAR, VERSION, ExportError, file_sha256
from ..errors import UserError

PREFIX = "opencv-nano:"
DEFAULT_PRESET = "nanotrack_v2"
HEAD_INPUTS = ("input1", "input2")
HEAD_OUTPUTS = ("output1", "output2")
# bump when the conversion changes: a cached conversion of another version is made again
CONVERSION = 1


def is_opencv_nano(spec) -> bool:
    return isinstance(spec, str) and spec.lower().startswith(PREFIX)


def nano_files(spec: str) -> tuple[Path, Path, Path]:
    """(folder, backbone, neck-head) for `opencv-nano:DIR`: the files found under the names cv2.TrackerNano's
    users give them (tracker.trackers.opencv.MODEL_FILES); one line naming what is missing otherwise."""
    from ..trackers.opencv import resolve_model_files

    folder = Path(spec[len(PREFIX) :].strip()).expanduser()
    if not str(spec[len(PREFIX) :].strip()):
        raise UserError(f"{spec}: give the folder holding the backbone and neck-head ONNX files (opencv-nano:DIR)")
    if not folder.is_dir():
        raise UserError(f"{spec}: {folder} is not a folder (opencv-nano:DIR takes the folder of the two ONNX files)")
    try:
        files = resolve_model_files("nano", model_dir=folder)
    except UserError as exc:  # "... missing: backbone (e.g. backbone.onnx in DIR); ... . Give model_dir=..."
        missing = str(exc).split("missing: ", 1)[-1].split(". Give", 1)[0]
        raise UserError(f"{spec}: no cv2.TrackerNano files there (missing: {missing})") from None
    return folder, Path(files["backbone"]), Path(files["neckhead"])


def _preset_for(folder: Path):
    """The tracking values: the preset `siamtrack export --format opencv-nano` recorded, else NanoTrack v2's; the
    input convention OpenCV's (RGB 0..255), which is what the backbone graph expects."""
    from ..config.presets import InputConvention, get_preset

    name = DEFAULT_PRESET
    info = folder / "opencv_nano.json"
    if info.is_file():
        try:
            recorded = json.loads(info.read_text(encoding="utf-8")).get("preset")
            if isinstance(recorded, str):
                get_preset(recorded)
                name = recorded
        except (OSError, ValueError, UserError, AttributeError):
            pass  # an unreadable note or an unknown preset: NanoTrack v2's values
    preset = get_preset(name)
    preset.input = InputConvention("RGB", 1.0, None, None)
    return preset


def nano_export(spec: str):
    """The siamtrack export (tracker.engines.exported.Export) made from `opencv-nano:DIR`'s pair: read from the
    cache, or converted now (needs the onnx package) and kept there."""
    from ..engines.choice import announce_preparation, cache_dir
    from .auto import cached_export

    folder, backbone, head = nano_files(spec)
    h = hashlib.sha256()
    for f in (backbone, head):
        h.update(file_sha256(f).encode())
    preset = _preset_for(folder)
    h.update(json.dumps([CONVERSION, preset.to_dict()], sort_keys=True).encode())
    key = h.hexdigest()[:24]

    def make(tmp: Path) -> None:
        try:
            import onnx  # noqa: F401 - only to say in one line that it is needed
        except ImportError:
            raise UserError(
                f"{spec}: converting OpenCV's NanoTrack files (once, then cached) needs the onnx package: "
                "pip install onnx"
            ) from None
        announce_preparation(f"opencv-nano ({folder.name})", "conversion of its two ONNX files")
        convert_pair(backbone, head, tmp, preset, weights_sha256=key)

    return cached_export(cache_dir() / "exports" / f"opencv-nano-{key}", make)


def _load(path: Path, what: str):
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises protobuf's and its own exception types
        raise ExportError(f"{path}: not an ONNX file cv2.TrackerNano could load as its {what} ({exc})") from None


def _split_head(head) -> tuple[list, list, list[str]]:
    """The neck-head's nodes split into those that depend on `input1` alone (the template's side: constants
    included where it needs them), the rest, and the template-side tensors the rest reads (the kernel)."""
    graph = head.graph
    known = {i.name for i in graph.initializer} | {HEAD_INPUTS[0]}
    template, search = [], []
    for node in graph.node:  # topological order (ONNX requires it)
        inputs = [i for i in node.input if i]
        if all(i in known for i in inputs) and (inputs or node.op_type == "Constant"):
            template.append(node)
            known.update(node.output)
        else:
            search.append(node)
    made = {o for n in template for o in n.output} | {HEAD_INPUTS[0]}
    kernel: list[str] = []
    constants = []
    for node in search:
        for i in node.input:
            if i in made and i not in kernel:
                producer = next((n for n in template if i in n.output), None)
                if producer is not None and producer.op_type == "Constant":
                    if producer not in constants:
                        constants.append(producer)  # a constant is copied into the search graph, not fed
                else:
                    kernel.append(i)
    return template, constants + search, kernel


def convert_pair(backbone_path: Path, head_path: Path, out: Path, preset, weights_sha256: str) -> None:
    """Writes the template graph, the fused 255-px search graph and the sidecar of the export into `out`."""
    import numpy as np
    import onnx
    from onnx import helper

    backbone = _load(backbone_path, "backbone")
    head = _load(head_path, "neck-head")
    b_in = [i.name for i in backbone.graph.input if i.name not in {t.name for t in backbone.graph.initializer}]
    h_in = [i.name for i in head.graph.input if i.name not in {t.name for t in head.graph.initializer}]
    h_out = [o.name for o in head.graph.output]
    if len(b_in) != 1 or len(backbone.graph.output) != 1:
        raise ExportError(f"{backbone_path}: a cv2.TrackerNano backbone has one input and one output")
    if sorted(h_in) != sorted(HEAD_INPUTS) or sorted(h_out) != sorted(HEAD_OUTPUTS):
        raise ExportError(
            f"{head_path}: a cv2.TrackerNano neck-head takes input1, input2 and gives output1, output2 "
            f"(this one: {h_in} -> {h_out})"
        )
    template_nodes, search_nodes, kernel = _split_head(head)
    b_out = backbone.graph.output[0].name

    def renamed(nodes, prefix: str, names: dict):
        result = []
        for n in nodes:
            m = onnx.NodeProto()
            m.CopyFrom(n)
            m.name = prefix + (n.name or n.op_type)
            m.input[:] = [names.get(i, prefix + i) if i else "" for i in n.input]
            m.output[:] = [names.get(o, prefix + o) for o in n.output]
            for a in m.attribute:  # subgraphs (If, Loop) would need their own renaming: none in these heads
                if a.g.node or a.graphs:
                    raise ExportError(f"{head_path}: control flow ({n.op_type}) is not supported here")
            result.append(m)
        return result

    def initializers(model, prefix: str, nodes) -> list:
        used = {i for n in nodes for i in n.input}
        out_ = []
        for t in model.graph.initializer:
            if prefix + t.name in used:
                c = onnx.TensorProto()
                c.CopyFrom(t)
                c.name = prefix + t.name
                out_.append(c)
        return out_

    k_names = [f"k{i}" for i in range(len(kernel))]
    opset = max(next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 13) for m in (backbone, head))

    def build(inp: str, size: int, head_nodes, head_names: dict, inputs_extra, outputs, name: str):
        b_nodes = renamed(backbone.graph.node, "backbone/", {b_in[0]: inp, b_out: head_names["__features__"]})
        names = {k: v for k, v in head_names.items() if k != "__features__"}
        h_nodes = renamed(head_nodes, "head/", names)
        nodes = b_nodes + h_nodes
        graph = helper.make_graph(
            nodes,
            name,
            [helper.make_tensor_value_info(inp, onnx.TensorProto.FLOAT, [1, 3, size, size]), *inputs_extra],
            [helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, [1]) for o in outputs],  # set once run
            initializer=initializers(backbone, "backbone/", b_nodes) + initializers(head, "head/", h_nodes),
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="siamtrack")
        model.ir_version = max(backbone.ir_version, head.ir_version)
        return model

    # the template graph: backbone at the exemplar size, then the head's template side; outputs: the kernel
    t_names = {"__features__": "head/" + HEAD_INPUTS[0], **dict(zip(kernel, k_names))}
    if HEAD_INPUTS[0] in kernel:  # the search side reads the template features themselves: passed on as they are
        t_names[HEAD_INPUTS[0]] = "head/" + HEAD_INPUTS[0]
        template_nodes = [
            *template_nodes,
            helper.make_node("Identity", [HEAD_INPUTS[0]], [k_names[kernel.index(HEAD_INPUTS[0])]]),
        ]
    p = preset.track
    template = build("z", p.exemplar_size, template_nodes, t_names, [], k_names, "opencv_nano_template")
    t_path, s_path = out / "template.onnx", out / f"search_{p.instance_size}.onnx"
    onnx.save(template, str(t_path))
    # the kernel's shapes, from running the template graph once
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(t_path), so, providers=["CPUExecutionProvider"])
        z = np.zeros((1, 3, p.exemplar_size, p.exemplar_size), np.float32)
        k_values = sess.run(k_names, {"z": z})
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types
        raise ExportError(
            f"{backbone_path}: the backbone does not run on a {p.exemplar_size}-px template in ONNX Runtime "
            f"({str(exc).strip().splitlines()[0][:200]})"
        ) from None
    k_inputs = [
        helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, list(v.shape)) for n, v in zip(k_names, k_values)
    ]
    s_names = {
        "__features__": "head/" + HEAD_INPUTS[1],
        **dict(zip(kernel, k_names)),
        "output1": "cls",
        "output2": "loc",
    }
    search = build("x", p.instance_size, search_nodes, s_names, k_inputs, ["cls", "loc"], "opencv_nano_search")
    onnx.save(search, str(s_path))
    try:
        sess = ort.InferenceSession(str(s_path), so, providers=["CPUExecutionProvider"])
        x = np.zeros((1, 3, p.instance_size, p.instance_size), np.float32)
        s_values = sess.run(["cls", "loc"], {"x": x, **dict(zip(k_names, k_values))})
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types
        raise ExportError(
            f"{head_path}: backbone and neck-head do not run on a {p.instance_size}-px search crop in ONNX Runtime "
            f"({str(exc).strip().splitlines()[0][:200]})"
        ) from None
    # the outputs' shapes, now known, declared (ONNX wants them), and both graphs checked
    for m, path, values in ((template, t_path, k_values), (search, s_path, s_values)):
        for o, v in zip(m.graph.output, values):
            o.CopyFrom(helper.make_tensor_value_info(o.name, onnx.TensorProto.FLOAT, list(v.shape)))
        onnx.save(m, str(path))
        try:
            onnx.checker.check_model(m)
        except Exception as exc:  # noqa: BLE001 - onnx's checker raises its own types
            raise ExportError(f"{path}: the converted graph is not valid ONNX ({exc})") from None
    shapes = {n: list(v.shape) for n, v in zip(k_names, k_values)}
    graphs = {
        "template": {
            "file": t_path.name,
            "inputs": ["z"],
            "outputs": k_names,
            "shapes": {"z": [1, 3, p.exemplar_size, p.exemplar_size], **shapes},
            "size": p.exemplar_size,
            "batch": 1,
            "precision": "float32",
        },
        "search": [
            {
                "file": s_path.name,
                "inputs": ["x", *k_names],
                "outputs": ["cls", "loc"],
                "shapes": {"x": [1, 3, p.instance_size, p.instance_size], **shapes},
                "size": p.instance_size,
                "batch": 1,
                "precision": "float32",
            }
        ],
    }
    sidecar = {
        "format": FORMAT,
        "version": VERSION,
        "precision": "float32",
        "opset": opset,
        "converted_from": {
            "format": "opencv-nano",
            "backbone": {"file": backbone_path.name, "sha256": file_sha256(backbone_path)},
            "neckhead": {"file": head_path.name, "sha256": file_sha256(head_path)},
        },
        "weights_sha256": weights_sha256,
        "input": {"crops": "BGR uint8 crops become RGB 0..255 float32 NCHW, as cv2.TrackerNano feeds them"},
        "preset": {**preset.to_dict(), "weights": None, "weights_sha256": None},
        "graphs": graphs,
        "files": {f.name: file_sha256(f) for f in (t_path, s_path)},
    }
    (out / SIDECAR).write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")


def build_opencv_nano_tracker(spec: str, engine: str | None = None, long_term: bool = False, **overrides):
    """A tracker on `opencv-nano:DIR`'s pair (see the module docstring), run by an ONNX engine."""
    from ..engines import check_engine, default_engine
    from .on_export import tracker_on_export

    name = (engine or default_engine()).lower()
    if name != "torch":
        name = check_engine(engine)
    if name == "torch":
        raise ExportError(
            f"{spec}: OpenCV's NanoTrack files run on an ONNX engine (onnxruntime or openvino), not torch"
        )
    if long_term or overrides.get("long_term"):
        raise ExportError(f"{spec}: OpenCV's NanoTrack files have no long-term re-detection graph (drop --long-term)")
    export = nano_export(spec)
    preset = export.preset.replace_track(**overrides) if overrides else export.preset
    return tracker_on_export(export, preset, name, False)
