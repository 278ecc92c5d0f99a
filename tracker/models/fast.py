"""Faster CPU inference for the search branch (backbone, neck, head's search convs) without changing what it computes.

TorchScript's freeze folds BatchNorm into the convolutions; optimize_for_inference also runs them on
oneDNN's blocked layouts, about 1.3-1.4x less CPU time for the AlexNets measured here (see README, Speed)
but slower for depthwise convolutions, so on the CPU both graphs are built and the faster one is kept.
A trace fixes any shape-dependent Python branch (the neck's template crop, 'same' padding), so one
optimised graph is kept per input shape — which is also exactly when such a branch can change.
If tracing fails for a module, the eager module is used: never wrong, only slower.
"""
from __future__ import annotations

import copy
import time
import warnings

import torch
from torch import nn


def _fastest(graphs: list, example: torch.Tensor, budget_s: float = 0.5):
    """The graph that runs `example` fastest. Each runs twice first (TorchScript's profiling executor
    optimises a graph on its second call), then they are timed in turns, best of up to 5 rounds within
    about `budget_s`: turns and minima keep a busy machine from deciding by accident."""
    if len(graphs) == 1:
        return graphs[0]
    one_round = 0.0
    for g in graphs:
        g(*example)
        t = time.perf_counter()
        g(*example)
        one_round += time.perf_counter() - t
    rounds = max(1, min(5, int(budget_s / max(one_round, 1e-6))))
    best = [float("inf")] * len(graphs)
    for _ in range(rounds):
        for k, g in enumerate(graphs):
            t = time.perf_counter()
            g(*example)
            best[k] = min(best[k], time.perf_counter() - t)
    return graphs[best.index(min(best))]


class ChannelsLast(nn.Module):
    """`module` with its weights and its 4-d inputs in channels-last (NHWC) memory format; the values are
    the same, only the layout (and so the convolution kernels oneDNN picks) differs."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module.to(memory_format=torch.channels_last)

    def forward(self, *xs):
        return self.module(*(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs))


class ShapeSpecialised:
    """Calls `module(*tensors)` through an optimised graph built for those tensors' shapes."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.graphs: dict = {}

    def _build(self, xs: tuple[torch.Tensor, ...]):
        try:
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                example = tuple(torch.zeros(x.shape, dtype=x.dtype, device=x.device) for x in xs)
                def frozen(module=self.module):
                    return torch.jit.freeze(torch.jit.trace(module, example, check_trace=False))
                # optimize_for_inference rewrites the graph it is given in place, hence two traces
                candidates = [torch.jit.optimize_for_inference(frozen())]
                if xs[0].device.type == "cpu":
                    # oneDNN's blocked layouts win for dense convolutions (AlexNet, ResNet: 1.2-1.6x) but
                    # lose for depthwise ones (EfficientNet-Lite0's backbone: 1.6x slower than the plain
                    # frozen graph); channels-last (NHWC) tensors run them faster still (Lite0-fast search
                    # branch, interleaved, 2 threads: 24.0 ms against 28.6 ms NCHW). So on the CPU all three
                    # are timed on this shape and the fastest is kept.
                    candidates.append(frozen())
                    candidates.append(frozen(ChannelsLast(copy.deepcopy(self.module)).eval()))
                return _fastest(candidates, example)
        except Exception:  # pragma: no cover - depends on the module; eager is always correct
            return self.module

    def __call__(self, *xs: torch.Tensor):
        key = tuple((tuple(x.shape), x.dtype, x.device) for x in xs)
        graph = self.graphs.get(key)
        if graph is None:
            graph = self.graphs[key] = self._build(xs)
        return graph(*xs)


class SearchBranch(nn.Module):
    """The search crop's whole template-independent path (backbone → neck → the head's search convs) as
    one module, so it is traced, and its BatchNorms folded, as a whole."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.head_module.search_features(self.model.features(x))


class CorrelateBranch(nn.Module):
    """A head's correlation step (`correlate(prepared, search features)`: xcorr and the layers after it)
    as a module of flat tensors, so it is traced and its BatchNorms folded like the search branch. The
    nesting of `prepared` and of the search features is fixed per model and recorded at construction."""

    def __init__(self, head: nn.Module, spec):
        super().__init__()
        self.head = head
        self.spec = spec

    def forward(self, *leaves):
        from torch.utils._pytree import tree_unflatten
        prepared, sf = tree_unflatten(list(leaves), self.spec)
        return self.head.correlate(prepared, sf)


class FastCorrelate:
    """`correlate(prepared, sf)` through a ShapeSpecialised CorrelateBranch (torch xcorr backend only:
    the Numba backends are called from Python and cannot be traced)."""

    def __init__(self, head: nn.Module):
        self.head = head
        self.graphs: dict = {}

    def __call__(self, prepared, sf):
        from torch.utils._pytree import tree_flatten
        leaves, spec = tree_flatten((prepared, sf))
        branch = self.graphs.get(spec)
        if branch is None:
            branch = self.graphs[spec] = ShapeSpecialised(CorrelateBranch(self.head, spec).eval())
        return branch(*leaves)
