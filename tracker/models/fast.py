"""Faster CPU inference for the search branch (backbone, neck, head's search convs) without changing what it computes.

TorchScript's freeze folds BatchNorm into the convolutions; optimize_for_inference also runs them on
oneDNN's blocked layouts, about 1.3-1.4x less CPU time for the AlexNets measured here (see README, Speed)
but slower for depthwise convolutions, so on the CPU both graphs are built and the faster one is kept.
A trace fixes any shape-dependent Python branch (the neck's template crop, 'same' padding), so one
optimised graph is kept per input shape — which is also exactly when such a branch can change.
If tracing fails for a module, the eager module is used: never wrong, only slower.

Which candidate runs is chosen once per machine and model and remembered (tracker.engines.choice), not
re-timed in every run: the candidates' results differ by about 1e-6, and a choice that flips between runs
changed whole trajectories (docs/speed.md, "Determinism"). The plain frozen NCHW graph is not
a candidate: its results change with the thread count (measured here: up to 5e-6 between 1 and 2 threads
for the default's search branch), and the thread count follows the free cores; the oneDNN blocked-layout and
channels-last graphs gave bit-identical results on 1, 2 and 3 threads.
"""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, TypeGuard

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from .heads import Head
    from .siamese import SiameseModel


class ChannelsLast(nn.Module):
    """`module` with its weights and its 4-d inputs in channels-last (NHWC) memory format; the values are
    the same, only the layout (and so the convolution kernels oneDNN picks) differs."""

    def __init__(self, module: nn.Module):
        super().__init__()
        # torch's stubs omit Module.to(memory_format=), which torch has
        self.module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def forward(self, *xs):
        return self.module(*(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs))


def fold_batchnorms(module: nn.Module, example: tuple) -> nn.Module:
    """A copy of `module` (in eval mode) with every BatchNorm2d that directly follows a convolution folded
    into it (the convolution gains a bias; the BatchNorm becomes an identity). The pairs are found by
    running `example` and matching each BatchNorm's input tensor to the convolution that produced it, so
    any module structure works. TorchScript's freeze folds such pairs too, but only for aten::conv2d
    nodes, and the matrix-product 1x1 convolutions below are not."""
    module = copy.deepcopy(module).eval()
    calls = []
    hooks = [
        m.register_forward_hook(lambda m, inp, out: calls.append((m, inp[0], out)))
        for m in module.modules()
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))
    ]
    try:
        with torch.no_grad():
            module(*example)
    finally:
        for h in hooks:
            h.remove()
    producer = {id(out): m for m, _, out in calls if isinstance(m, nn.Conv2d)}
    owner = {id(child): (parent, name) for parent in module.modules() for name, child in parent.named_children()}
    folded = set()
    for bn, inp, _ in calls:
        conv = producer.get(id(inp)) if isinstance(bn, nn.BatchNorm2d) else None
        if conv is None or id(conv) in folded or id(bn) not in owner or not bn.track_running_stats:
            continue
        folded.add(id(conv))
        with torch.no_grad():
            scale = (bn.weight if bn.affine else 1.0) / torch.sqrt(bn.running_var + bn.eps)
            shift = (bn.bias if bn.affine else 0.0) - bn.running_mean * scale
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bias * scale + shift)
        parent, name = owner[id(bn)]
        setattr(parent, name, nn.Identity())
    return module


class PointwiseAsMatmul(nn.Module):
    """A 1x1, stride-1, ungrouped convolution computed, on a channels-last input, as one matrix product of
    the (pixels x channels) view by the weights: the same sums, without copies, and faster than oneDNN's
    convolution for Lite0's 1x1 shapes (measured: docs/speed.md, "Implementation choices")."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv
        self.weight = nn.Parameter(conv.weight.detach().reshape(conv.out_channels, conv.in_channels))
        self.bias = conv.bias

    def forward(self, x):
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            return F.linear(x.permute(0, 2, 3, 1), self.weight, self.bias).permute(0, 3, 1, 2)
        return self.conv(x)

    @staticmethod
    def applies_to(m: nn.Module) -> TypeGuard[nn.Conv2d]:
        # a 1x1 kernel needs no padding, so 'same', 'valid' and (0, 0) are all none; `dynamic` is
        # PaddedConv2d's own padding (stride 2 only, so never set here, but checked rather than assumed)
        return (
            isinstance(m, nn.Conv2d)
            and not getattr(m, "dynamic", False)
            and m.kernel_size == (1, 1)
            and m.stride == (1, 1)
            and m.groups == 1
            and m.dilation == (1, 1)
            and m.padding in ((0, 0), "same", "valid")
            and m.padding_mode == "zeros"
        )


def pointwise_as_matmul(module: nn.Module) -> nn.Module:
    """Replaces (in place) every plain 1x1 convolution of `module` by a PointwiseAsMatmul."""
    for name, child in module.named_children():
        if PointwiseAsMatmul.applies_to(child):
            setattr(module, name, PointwiseAsMatmul(child))
        else:
            pointwise_as_matmul(child)
    return module


class ShapeSpecialised:
    """Calls `module(*tensors)` through an optimised graph built for those tensors' shapes."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.graphs: dict = {}

    def candidates(self, xs: tuple[torch.Tensor, ...]) -> tuple[dict, tuple]:
        """The optimised graphs that trace and run for these tensors' shapes, by name, and the example."""
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            example = tuple(torch.zeros(x.shape, dtype=x.dtype, device=x.device) for x in xs)

            def frozen(make=lambda: self.module):
                return torch.jit.freeze(torch.jit.trace(make(), example, check_trace=False))

            # optimize_for_inference rewrites the graph it is given in place, hence one trace per candidate
            makers = {"onednn": lambda: torch.jit.optimize_for_inference(frozen())}
            if xs[0].device.type == "cpu":
                # oneDNN's blocked layouts win for dense convolutions (AlexNet, ResNet) but lose for depthwise
                # ones (EfficientNet-Lite0's backbone); channels-last (NHWC) tensors run those faster, the more
                # so with BatchNorms folded and the 1x1 convolutions as matrix products (measured:
                # docs/speed.md, "Implementation choices"). So on the CPU both are tried on this shape and the
                # faster is kept.
                makers["nhwc"] = lambda: frozen(
                    lambda: ChannelsLast(pointwise_as_matmul(fold_batchnorms(self.module, example))).eval()
                )
            graphs = {}
            for name, make in makers.items():
                try:
                    graph = make()
                    graph(*example)
                except Exception:  # noqa: BLE001 - a candidate that cannot be traced or run leaves the others
                    continue
                graphs[name] = graph
        return graphs, example

    def _build(self, xs: tuple[torch.Tensor, ...]):
        graphs, example = self.candidates(xs)
        if not graphs:  # none traced (depends on the module): the eager module, never wrong, only slower
            return self.module
        from ..engines.choice import cached_choice, fastest

        key = [
            "torchscript",
            repr(self.module),
            [list(x.shape) for x in xs],
            str(xs[0].dtype),
            xs[0].device.type,
            torch.__version__,
        ]
        with torch.inference_mode(False), torch.no_grad():
            choice = cached_choice(
                "graph",
                key,
                list(graphs),
                lambda: fastest({n: (lambda g=g: g(*example)) for n, g in graphs.items()}, budget_s=0.5, max_rounds=5),
            )
        return graphs[choice]

    def __call__(self, *xs: torch.Tensor):
        key = tuple((tuple(x.shape), x.dtype, x.device) for x in xs)
        graph = self.graphs.get(key)
        if graph is None:
            graph = self.graphs[key] = self._build(xs)
        return graph(*xs)


class SearchBranch(nn.Module):
    """The search crop's whole template-independent path (backbone → neck → the head's search convs) as
    one module, so it is traced, and its BatchNorms folded, as a whole."""

    def __init__(self, model: SiameseModel):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.head_module.search_features(self.model.features(x))


def flatten(tree, leaves: list) -> object:
    """Append the tensors of `tree` (tensors in nested tuples and lists, as the heads' prepared templates and
    search features are) to `leaves` in order; returns the nesting as a hashable spec for `unflatten`."""
    if isinstance(tree, torch.Tensor):
        leaves.append(tree)
        return None
    if isinstance(tree, (tuple, list)):
        return (type(tree), tuple(flatten(t, leaves) for t in tree))
    raise TypeError(f"cannot flatten a {type(tree).__name__}: only tensors in tuples and lists")


def unflatten(leaves, spec):
    """The nesting `spec` (from `flatten`) rebuilt from the iterator `leaves`."""
    if spec is None:
        return next(leaves)
    kind, children = spec
    return kind(unflatten(leaves, c) for c in children)


class CorrelateBranch(nn.Module):
    """A head's correlation step (`correlate(prepared, search features)`: xcorr and the layers after it)
    as a module of flat tensors, so it is traced and its BatchNorms folded like the search branch. The
    nesting of `prepared` and of the search features is fixed per model and recorded at construction."""

    def __init__(self, head: Head, spec):
        super().__init__()
        self.head = head
        self.spec = spec

    def forward(self, *leaves):
        prepared, sf = unflatten(iter(leaves), self.spec)
        return self.head.correlate(prepared, sf)


class FastCorrelate:
    """`correlate(prepared, sf)` through a ShapeSpecialised CorrelateBranch (torch xcorr backend only:
    the Numba backends are called from Python and cannot be traced)."""

    def __init__(self, head: Head):
        self.head = head
        self.graphs: dict = {}

    def __call__(self, prepared, sf):
        leaves: list[torch.Tensor] = []
        spec = flatten((prepared, sf), leaves)
        branch = self.graphs.get(spec)
        if branch is None:
            branch = self.graphs[spec] = ShapeSpecialised(CorrelateBranch(self.head, spec).eval())
        return branch(*leaves)
