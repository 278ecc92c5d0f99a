"""The ONNX engines: ONNX Runtime and OpenVINO running an export's template and search graphs.

Both take the export's description (tracker.engines.exported.Export): file paths, input and output names.
Neither imports torch. Thread counts follow the project's policy (tracker.runtime): the count set by the
command (--threads, or the cores free at start-up), one inter-op thread, and ONNX Runtime's thread
spinning off — a spinning pool keeps its cores busy after every run and slows whatever runs next
(another engine, the GUI, a second tracker) by up to 2x.
"""

from __future__ import annotations

import functools

import numpy as np

from ..preprocess import NumpyInput
from . import Engine, repeat_kernel
from .exported import ExportError


class OnnxEngine(Engine):
    """Shared by the ONNX engines: the input convention, the kernel as the template graph's outputs in
    order, and one search graph per crop shape (the export has one per search size).

    The per-frame path allocates nothing: each search graph has its own float32 NCHW input array, which the
    crops are converted into (NumpyInput.into) and which the engine hands to the runtime once (ONNX Runtime's
    I/O binding, OpenVINO's shared tensors); the kernel is handed over once per target (the same kernel object
    as the last call's is not bound again), and the outputs land in arrays allocated once, of which `search`
    returns copies (a caller may keep them past the next call)."""

    def __init__(self, export, threads: int, precision: str | None = None):
        self.export = export
        self.threads = max(1, int(threads))
        # what the arithmetic runs in: the graphs' own precision, or "bfloat16" on a float32 export
        # (OpenVINO only: the CPU's bfloat16 units run the float32 graphs; see bfloat16_native)
        self.precision = precision or export.precision
        if self.precision not in (export.precision, *self.runtime_precisions):
            raise ExportError(f"{self.name} cannot run a {export.precision} export in {self.precision}")
        self.prepare = NumpyInput(export.preset.input)
        self._template = self._load(export.template)
        self._search: dict = {}  # (size, batch) -> (graph, loaded graph, input array)
        self.batch_export = None  # see search_targets
        self._batch_exports: dict = {}  # target count -> the export for that many targets, or None
        self._batch_sessions: dict = {}  # graph path -> loaded graph

    # Several targets (Engine.search_targets): an export's graphs take one kernel (batch 1), so a batch of
    # targets needs search graphs with a kernel per crop, exported for that many targets. `batch_export`,
    # where the builder could set one (tracker.prepare.auto.batch_exporter: torch and the weights at hand),
    # gives that export for a target count (None: not available); without it, or where it gives none,
    # each target runs the batch-1 graph in turn (the same numbers, one call per target).
    def _batch_graph(self, size: int, batch: int, targets: int):
        exports = self._batch_exports
        if targets not in exports:
            exports[targets] = self.batch_export(targets) if self.batch_export is not None else None
        export = exports[targets]
        return None if export is None else next((g for g in export.search if (g.size, g.batch) == (size, batch)), None)

    def search_targets(self, crops, kernel, targets: int):
        if targets == 1:
            return self.search(crops, kernel)
        graph = self._batch_graph(crops.shape[1], len(crops), targets)  # crops (N, H, W, 3)
        if graph is None:
            return super().search_targets(crops, kernel, targets)
        x = self.prepare(crops)
        sessions = self._batch_sessions
        session = sessions.get(graph.path)
        if session is None:
            session = sessions[graph.path] = self._load(graph)
        per = x.shape[0] // targets
        if per > 1:  # several crops per target (SiamFC's scales): its kernel for each
            kernel = repeat_kernel(kernel, per, lambda a, n: np.repeat(a, n, axis=0))
        outs = self._run(session, graph, [x, *kernel])
        return outs[0], (outs[1] if len(outs) > 1 else None)

    runtime_precisions: tuple[str, ...] = ()  # precisions the runtime may compute a float32 graph in

    def _load(self, graph):
        raise NotImplementedError

    def _run(self, session, graph, feeds: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def _bind(self, loaded, graph, x: np.ndarray, kernel: list[np.ndarray], state):
        """Hand the input array and the kernel's arrays to a loaded search graph (when the kernel changes);
        returns what `_run_bound` needs (`state`: the previous call's, None the first time)."""
        raise NotImplementedError

    def _run_bound(self, loaded, state) -> list[np.ndarray]:
        """Run a search graph on what was bound; its outputs (the engine's own arrays)."""
        raise NotImplementedError

    def template(self, crop):
        return self._run(self._template, self.export.template, [self.prepare(crop)])

    def search(self, crops, kernel):
        if crops.ndim == 3:
            crops = crops[None]
        key = (crops.shape[1], crops.shape[0])
        entry = self._search.get(key)
        if entry is None:
            graph = self.export.search_graph(crops.shape[1], crops.shape[0])
            loaded = self._load(graph)
            x = np.empty((crops.shape[0], 3, crops.shape[1], crops.shape[2]), np.float32)
            entry = self._search[key] = [graph, loaded, x, None, None, None]
        graph, loaded, x, bound, _, state = entry
        self.prepare.into(crops, x)
        if bound is not kernel:
            arrays = [np.ascontiguousarray(k, dtype=np.float32) for k in kernel]
            # the kernel and its arrays held, so that what the runtime reads stays alive
            entry[3:] = [kernel, arrays, self._bind(loaded, graph, x, arrays, state)]
        outs = self._run_bound(loaded, entry[5])
        return outs[0].copy(), (outs[1].copy() if len(outs) > 1 else None)


class OnnxRuntimeEngine(OnnxEngine):
    name = "onnxruntime"

    def _load(self, graph):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        so.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(graph.path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types
            raise ExportError(f"{graph.path}: ONNX Runtime cannot load it ({_first_line(exc)})") from None
        graph.check_signature([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
        return session

    def _run(self, session, graph, feeds):
        return session.run(graph.outputs, dict(zip(graph.inputs, feeds)))

    def _bind(self, session, graph, x, kernel, state):
        if state is None:
            binding = session.io_binding()
            shapes = {o.name: o.shape for o in session.get_outputs()}
            outs: list[np.ndarray] = []
            if all(isinstance(d, int) for name in graph.outputs for d in shapes[name]):
                outs = [np.empty(shapes[name], np.float32) for name in graph.outputs]
                for name, out in zip(graph.outputs, outs):
                    binding.bind_output(name, "cpu", 0, np.float32, list(out.shape), out.ctypes.data)
            else:  # a symbolic output dimension: the runtime allocates
                for name in graph.outputs:
                    binding.bind_output(name, "cpu")
            binding.bind_cpu_input(graph.inputs[0], x)
            state = (binding, outs)
        for name, k in zip(graph.inputs[1:], kernel):
            state[0].bind_cpu_input(name, k)
        return state

    def _run_bound(self, session, state):
        binding, outs = state
        session.run_with_iobinding(binding)
        return outs or binding.copy_outputs_to_cpu()


class OpenVinoEngine(OnnxEngine):
    name = "openvino"
    runtime_precisions = ("bfloat16",)

    def _load(self, graph):
        core = openvino_core()
        config = {
            "INFERENCE_NUM_THREADS": self.threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            # float32 unless bfloat16 was chosen: on CPUs with bf16/fp16 units OpenVINO would otherwise
            # lower the precision by itself
            "INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bfloat16" else "f32",
        }
        try:
            model = core.read_model(str(graph.path))
            compiled = core.compile_model(model, "CPU", config)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own exception types
            raise ExportError(f"{graph.path}: OpenVINO cannot load it ({_first_line(exc)})") from None
        graph.check_signature([i.get_any_name() for i in compiled.inputs], [o.get_any_name() for o in compiled.outputs])
        return compiled.create_infer_request(), [compiled.output(n) for n in graph.outputs]

    def _run(self, session, graph, feeds):
        request, outputs = session
        result = request.infer(dict(zip(graph.inputs, feeds)))
        # copies: the request reuses its output buffers on the next call
        return [np.array(result[o], copy=True) for o in outputs]

    def _bind(self, session, graph, x, kernel, state):
        import openvino as ov

        request, _ = session
        # shared: the request reads these arrays themselves, so writing the crop into x is all a frame needs
        if state is None:
            request.set_tensor(graph.inputs[0], ov.Tensor(x, shared_memory=True))
        for name, k in zip(graph.inputs[1:], kernel):
            request.set_tensor(name, ov.Tensor(k, shared_memory=True))
        return True

    def _run_bound(self, session, state):
        request, outputs = session
        request.infer()
        return [request.get_tensor(o).data for o in outputs]


@functools.cache
def openvino_core():
    """The process's one OpenVINO Core, kept for the life of the process. Each Core sets the signal stack of
    the thread that first compiles with it and, when destroyed, puts back the one it found: Cores destroyed
    out of order (one per graph, collected in any order) left the main thread's signal stack pointing at
    freed memory, so the next signal with a handler (Ctrl-C, a child process ending) killed the process with
    SIGSEGV. One Core never destroyed keeps that stack valid."""
    import openvino as ov

    return ov.Core()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


@functools.cache
def bfloat16_native() -> bool:
    """Whether OpenVINO computes bfloat16 natively on this CPU (AVX-512 BF16 or AMX); elsewhere a bfloat16
    request would run float32 anyway, so it is never offered."""
    try:
        return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - OpenVINO raises its own exception types
        return False


def make_onnx_engine(name: str, export, threads: int, precision: str | None = None) -> OnnxEngine:
    """ONNX engine `name` on `export`'s graphs, computing in `precision` (default: the graphs' own)."""
    return {"onnxruntime": OnnxRuntimeEngine, "openvino": OpenVinoEngine}[name](export, threads, precision)
