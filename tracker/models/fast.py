"""Faster CPU inference for the Siamese models' branches (template, search, correlation) without changing
what they compute, in eager PyTorch.

Each branch runs through a transformed copy of its modules: every BatchNorm fed by a convolution folded into
it (`fold_batchnorms`), the 1x1 convolutions computed as matrix products (`pointwise_as_matmul`), and the
weights and inputs in channels-last (NHWC) memory format (`ChannelsLast`). One copy is built per input shape,
because the BatchNorm pairs are found by running that shape: a shape-dependent Python branch (the neck's
template crop, 'same' padding) is then seen exactly as it will run. Each copy is checked against the eager
module on a random input of its shape before it is kept; if building or checking it fails, the eager module
runs: never wrong, only slower.

One form for every model, no timed choice: channels-last with the 1x1 convolutions as matrix products was
the fastest eager form measured, for the dense AlexNet and ResNet-50 convolutions (where it matches the
oneDNN blocked layout that TorchScript's optimize_for_inference used) as well as for EfficientNet-Lite0's
depthwise ones (docs/speed.md, "Implementation choices").

What is promised about the thread count, which follows the free cores (docs/speed.md, "Determinism"): at
one thread count every call gives the same bits, so a rerun on the same machine gives the same boxes;
across thread counts the outputs agree within a few float32 ulps (about 3e-7 of their scale), the boxes
within 0.01 px, but not to the bit. How oneDNN and the matrix product split a sum across threads depends on
the CPU's instruction set: on the AVX2 CPU this was written on, Lite0's branches gave the same bits on 1, 2
and 3 threads in this form (not in NCHW), while on an AVX-512 EPYC 3 threads differ from 1 in the last bits.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, TypeGuard

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

if TYPE_CHECKING:
    from .heads import Head


class ChannelsLast(nn.Module):
    """`module` with its weights and its 4-d inputs in channels-last (NHWC) memory format; the values are
    the same, only the layout (and so the convolution kernels oneDNN picks) differs."""

    def __init__(self, module: nn.Module):
        super().__init__()
        # torch's stubs omit Module.to(memory_format=), which torch has
        self.module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def forward(self, *xs):
        return self.module(*(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs))


def _tensors(obj):
    """The tensors in `obj` (a tensor, or tensors in nested tuples, lists and dict values)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


class _Dataflow(TorchFunctionMode):
    """Records, for one run, which tensors each convolution of `convs` (by weight) produced, how often each
    convolution ran, and how often each tensor was used: as an argument of any call that returns a tensor or
    writes into it (reading its shape is no use)."""

    def __init__(self, convs: dict[int, nn.Conv2d]):
        super().__init__()
        self.convs = convs
        self.produced_by: dict[int, nn.Conv2d] = {}
        self.conv_runs: dict[int, int] = {}
        self.uses: dict[int, int] = {}
        self.alive: list = []  # every tensor seen stays alive for the run, so that no id is reused

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outs = list(_tensors(out))
        if outs or getattr(func, "__name__", "") == "__setitem__":
            for t in _tensors((args, kwargs)):
                self.uses[id(t)] = self.uses.get(id(t), 0) + 1
                self.alive.append(t)
        if func is F.conv2d and len(outs) == 1:
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            conv = self.convs.get(id(weight))
            if conv is not None:
                self.produced_by[id(outs[0])] = conv
                self.conv_runs[id(conv)] = self.conv_runs.get(id(conv), 0) + 1
        self.alive.extend(outs)
        return out


def fold_batchnorms(module: nn.Module, example: tuple) -> nn.Module:
    """A copy of `module` (in eval mode, its parameters without gradients) with every BatchNorm2d that
    directly follows a convolution folded into it (the convolution gains a bias; the BatchNorm becomes an
    identity). The pairs are found by running `example` and following the tensors: a BatchNorm (run once)
    whose input is the output of a convolution (an nn.Conv2d's weight, run once, whether through the module
    or F.conv2d) used by nothing else. So any module structure works, including a convolution called as
    `F.conv2d(x, conv.weight, conv.bias, ...)` from another module's forward."""
    module = copy.deepcopy(module).eval()
    for param in module.parameters():
        param.requires_grad_(False)
    convs = {id(m.weight): m for m in module.modules() if isinstance(m, nn.Conv2d)}
    bn_inputs: list[tuple[nn.BatchNorm2d, torch.Tensor]] = []
    hooks = [
        m.register_forward_pre_hook(lambda m, inp: bn_inputs.append((m, inp[0])))
        for m in module.modules()
        if isinstance(m, nn.BatchNorm2d)
    ]
    flow = _Dataflow(convs)
    try:
        with torch.no_grad(), flow:
            module(*example)
    finally:
        for h in hooks:
            h.remove()
    owner = {id(child): (parent, name) for parent in module.modules() for name, child in parent.named_children()}
    bn_runs: dict[int, int] = {}
    for bn, _ in bn_inputs:
        bn_runs[id(bn)] = bn_runs.get(id(bn), 0) + 1
    for bn, inp in bn_inputs:
        conv = flow.produced_by.get(id(inp))
        mean, var = bn.running_mean, bn.running_var
        if (
            conv is None
            or flow.conv_runs[id(conv)] != 1
            or flow.uses.get(id(inp)) != 1
            or bn_runs[id(bn)] != 1
            or id(bn) not in owner
            or mean is None  # no running statistics: normalised by the batch's own, nothing to fold
            or var is None
        ):
            continue
        with torch.no_grad():
            scale = (bn.weight if bn.affine else 1.0) / torch.sqrt(var + bn.eps)
            shift = (bn.bias if bn.affine else 0.0) - mean * scale
            bias = conv.bias if conv.bias is not None else torch.zeros_like(mean)
            conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
            conv.bias = nn.Parameter(bias * scale + shift, requires_grad=False)
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


def transformed(module: nn.Module, example: tuple) -> nn.Module:
    """`module`'s fast copy for inputs shaped like `example` (see the module docstring): BatchNorms folded,
    1x1 convolutions as matrix products, channels-last. Raises ValueError where the copy's results on
    `example` differ from the eager module's by more than float rounding."""
    fast = ChannelsLast(pointwise_as_matmul(fold_batchnorms(module, example))).eval()
    with torch.no_grad():
        want = list(_tensors(module(*example)))
        got = list(_tensors(fast(*example)))
    if len(got) != len(want):
        raise ValueError(f"the transformed module returns {len(got)} tensors, the module {len(want)}")
    for a, b in zip(got, want):
        scale = max(b.abs().max().item(), 1.0) if b.numel() else 1.0
        if a.shape != b.shape or not torch.allclose(a, b, rtol=0.0, atol=1e-3 * scale):
            raise ValueError("the transformed module computes something else than the module")
    return fast


class ShapeSpecialised:
    """Calls `module(*tensors)` through its transformed copy for those tensors' shapes (`transformed`),
    built on first use, or through `module` itself where that copy cannot be built."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.copies: dict = {}

    def build(self, xs: tuple[torch.Tensor, ...]) -> nn.Module:
        """The module to run for tensors shaped like `xs`: the transformed copy, else the eager module."""
        # a fixed random example: the check needs values that exercise every channel, and the same
        # example every run keeps which module runs the same
        gen = torch.Generator(device="cpu").manual_seed(0)
        with torch.inference_mode(False), torch.no_grad():
            example = tuple(
                torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device) if x.is_floating_point() else x.clone()
                for x in xs
            )
            try:
                return transformed(self.module, example)
            except Exception:  # noqa: BLE001 - a module the rewrites cannot handle runs as it is
                return self.module

    def __call__(self, *xs: torch.Tensor):
        key = tuple((tuple(x.shape), x.dtype, x.device) for x in xs)
        module = self.copies.get(key)
        if module is None:
            module = self.copies[key] = self.build(xs)
        return module(*xs)


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
    as a module of flat tensors, so that one transformed copy per input shape is kept as for the search
    branch. The nesting of `prepared` and of the search features is fixed per model and recorded at
    construction."""

    def __init__(self, head: Head, spec):
        super().__init__()
        self.head = head
        self.spec = spec

    def forward(self, *leaves):
        prepared, sf = unflatten(iter(leaves), self.spec)
        return self.head.correlate(prepared, sf)


class FastCorrelate:
    """`correlate(prepared, sf)` through a ShapeSpecialised CorrelateBranch, one per nesting of the inputs
    (used with the torch xcorr backend; SiameseModel.track runs the other backends' correlation as it is)."""

    def __init__(self, head: Head):
        self.head = head
        self.branches: dict = {}

    def __call__(self, prepared, sf):
        leaves: list[torch.Tensor] = []
        spec = flatten((prepared, sf), leaves)
        branch = self.branches.get(spec)
        if branch is None:
            branch = self.branches[spec] = ShapeSpecialised(CorrelateBranch(self.head, spec).eval())
        return branch(*leaves)
