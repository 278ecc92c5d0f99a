"""The cross-correlation core: every backend against an independent float64 reference.

Reference: a float64 numpy loop over the kernel taps (i, j), each tap adding
kernel[..., i, j] * x[..., i:i+Ho, j:j+Wo] summed over channels - the definition of correlation,
written without conv2d.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import tracker.xcorr as xc
from tracker.errors import UserError
from tracker.xcorr import BACKENDS, check_backend, xcorr_depthwise, xcorr_pixelwise, xcorr_plain

REPO = Path(__file__).resolve().parent.parent
TOL = 1e-4  # max |out - ref| / max |ref|


def ref_plain(x, k):
    x = np.asarray(x, np.float64)
    k = np.asarray(k, np.float64)
    B, C, H, W = x.shape
    Bk, K, _, h, w = k.shape
    k = np.broadcast_to(k, (B, K, C, h, w))
    Ho, Wo = H - h + 1, W - w + 1
    out = np.zeros((B, K, Ho, Wo))
    for i in range(h):
        for j in range(w):
            out += np.einsum("bkc,bcyx->bkyx", k[:, :, :, i, j], x[:, :, i : i + Ho, j : j + Wo])
    return out


def ref_depthwise(x, k):
    x = np.asarray(x, np.float64)
    k = np.asarray(k, np.float64)
    B, C, H, W = x.shape
    h, w = k.shape[-2:]
    k = np.broadcast_to(k, (B, C, h, w))
    Ho, Wo = H - h + 1, W - w + 1
    out = np.zeros((B, C, Ho, Wo))
    for i in range(h):
        for j in range(w):
            out += k[:, :, i, j, None, None] * x[:, :, i : i + Ho, j : j + Wo]
    return out


def ref_pixelwise(x, k):
    x = np.asarray(x, np.float64)
    k = np.asarray(k, np.float64)
    B, C, H, W = x.shape
    h, w = k.shape[-2:]
    k = np.broadcast_to(k, (B, C, h, w))
    out = np.zeros((B, h * w, H, W))
    for i in range(h):
        for j in range(w):
            out[:, i * w + j] = (k[:, :, i, j, None, None] * x).sum(1)
    return out


REFS = {"plain": ref_plain, "depthwise": ref_depthwise, "pixelwise": ref_pixelwise}
OPS = {"plain": xcorr_plain, "depthwise": xcorr_depthwise, "pixelwise": xcorr_pixelwise}


def rel_err(out, ref):
    out = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else out
    return float(np.abs(out.astype(np.float64) - ref).max() / np.abs(ref).max())


def rand(shape, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


# (name, x shape, kernel shape) at full size, as the heads use them
PLAIN_SHAPES = [
    ("siamfc_3scales_broadcast", (3, 256, 22, 22), (1, 1, 256, 6, 6)),  # SiamFC AlexNet at 255
    ("siamfc_per_sample", (3, 256, 22, 22), (3, 1, 256, 6, 6)),
    ("upchannel_cls_271", (1, 256, 22, 22), (1, 10, 256, 4, 4)),  # UP-channel at 271, k = 5
    ("upchannel_loc_271", (1, 256, 22, 22), (1, 20, 256, 4, 4)),
    ("upchannel_loc_255_batch2", (2, 256, 20, 20), (2, 20, 256, 4, 4)),
    ("upchannel_cls_255_broadcast", (2, 256, 20, 20), (1, 10, 256, 4, 4)),
]
DW_SHAPES = [
    ("r50_batch2", (2, 256, 29, 29), (2, 256, 5, 5)),  # SiamRPN++ R50 neck
    ("alex_287_broadcast", (3, 256, 24, 24), (1, 256, 4, 4)),  # alex_dwxcorr at 287
]
PW_SHAPES = [
    ("lite0_fast_255", (1, 64, 16, 16), (1, 64, 6, 6)),  # anchor-free head, 2 levels each
    ("batch3_broadcast", (3, 64, 16, 16), (1, 64, 6, 6)),
    ("per_sample_odd", (2, 17, 9, 7), (2, 17, 3, 4)),
]
CPU_BACKENDS = ["torch", "numba"]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name,xs,ks", PW_SHAPES)
def test_pixelwise_matches_reference(backend, name, xs, ks):
    x, k = rand(xs, 11), rand(ks, 12)
    with torch.no_grad():
        out = xcorr_pixelwise(x, k, backend=backend)
    assert out.shape == (xs[0], ks[2] * ks[3], xs[2], xs[3])
    assert rel_err(out, ref_pixelwise(x.numpy(), k.numpy())) < TOL
    x64, k64 = rand(xs, 13, torch.float64), rand(ks, 14, torch.float64)
    with torch.no_grad():
        assert rel_err(xcorr_pixelwise(x64, k64, backend=backend), ref_pixelwise(x64.numpy(), k64.numpy())) < 1e-12


def test_pixelwise_torch_is_differentiable():
    x = rand((2, 5, 6, 6), 3).requires_grad_()
    k = rand((2, 5, 2, 3), 4).requires_grad_()
    xcorr_pixelwise(x, k).square().sum().backward()
    # d/dx of sum_n (k_n . x)^2 = 2 sum_n (k_n . x) k_n
    out = xcorr_pixelwise(x.detach(), k.detach())
    gx = 2 * torch.einsum("bnyx,bcn->bcyx", out, k.detach().reshape(2, 5, 6))
    assert torch.allclose(x.grad, gx, atol=1e-4)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name,xs,ks", PLAIN_SHAPES, ids=[s[0] for s in PLAIN_SHAPES])
def test_plain_matches_reference(backend, name, xs, ks):
    x, k = rand(xs, 1), rand(ks, 2)
    with torch.no_grad():
        out = xcorr_plain(x, k, backend=backend)
    assert out.shape == (xs[0], ks[1], xs[2] - ks[3] + 1, xs[3] - ks[4] + 1)
    assert out.dtype == torch.float32
    assert rel_err(out, ref_plain(x, k)) < TOL


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name,xs,ks", DW_SHAPES, ids=[s[0] for s in DW_SHAPES])
def test_depthwise_matches_reference(backend, name, xs, ks):
    x, k = rand(xs, 3), rand(ks, 4)
    with torch.no_grad():
        out = xcorr_depthwise(x, k, backend=backend)
    assert out.shape == (xs[0], xs[1], xs[2] - ks[2] + 1, xs[3] - ks[3] + 1)
    assert out.dtype == torch.float32
    assert rel_err(out, ref_depthwise(x, k)) < TOL


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_float64_odd_shapes_and_noncontiguous(backend):
    # float64 in -> float64 out and exact to float64 precision; non-square kernels; K not a multiple of 4;
    # a non-contiguous search tensor (a transposed view)
    x = rand((2, 7, 11, 9), 5, torch.float64).transpose(2, 3)  # (2, 7, 9, 11), non-contiguous
    assert not x.is_contiguous()
    k = rand((2, 6, 7, 3, 2), 6, torch.float64)
    out = xcorr_plain(x, k, backend=backend)
    assert out.dtype == torch.float64 and out.shape == (2, 6, 7, 10)
    assert rel_err(out, ref_plain(x, k)) < 1e-12
    kd = rand((1, 7, 2, 5), 7, torch.float64)
    out = xcorr_depthwise(x, kd, backend=backend)
    assert out.dtype == torch.float64 and out.shape == (2, 7, 8, 7)
    assert rel_err(out, ref_depthwise(x, kd)) < 1e-12


def test_numba_equals_torch_on_kernel_size_of_search():
    # kernel as large as the search map -> 1x1 output
    x, k = rand((2, 16, 5, 5), 8), rand((2, 3, 16, 5, 5), 9)
    a = xcorr_plain(x, k, backend="numba")
    assert a.shape == (2, 3, 1, 1)
    assert rel_err(a, ref_plain(x, k)) < TOL


def test_torch_backend_is_differentiable():
    # gradients of a weighted sum through the torch backend equal those through the tap-loop formula
    x = rand((2, 3, 6, 6), 10, torch.float64)
    k = rand((2, 2, 3, 3, 3), 11, torch.float64)
    k1 = rand((1, 1, 3, 3, 3), 13, torch.float64)  # K = 1 (SiamFC) takes a different route on the CPU
    kd = rand((1, 3, 2, 2), 12, torch.float64)

    def tap_plain(x, k):
        h, w = k.shape[-2:]
        Ho, Wo = x.shape[2] - h + 1, x.shape[3] - w + 1
        return sum(
            torch.einsum("bkc,bcyx->bkyx", k[:, :, :, i, j], x[:, :, i : i + Ho, j : j + Wo])
            for i in range(h)
            for j in range(w)
        )

    def tap_dw(x, k):
        h, w = k.shape[-2:]
        Ho, Wo = x.shape[2] - h + 1, x.shape[3] - w + 1
        return sum(k[:, :, i, j, None, None] * x[:, :, i : i + Ho, j : j + Wo] for i in range(h) for j in range(w))

    for op, ref, kern in ((xcorr_plain, tap_plain, k), (xcorr_plain, tap_plain, k1), (xcorr_depthwise, tap_dw, kd)):
        grads = []
        for f in (op, ref):
            a, b = x.clone().requires_grad_(), kern.clone().requires_grad_()
            y = f(a, b)
            (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)).sum().backward()
            grads.append((a.grad, b.grad))
        for g1, g2 in zip(*grads):
            torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-10)


def test_numba_backend_refuses_gradients_but_runs_under_no_grad():
    x = rand((1, 4, 6, 6), 13)
    k = rand((1, 4, 3, 3), 14).requires_grad_()
    with pytest.raises(UserError, match="inference-only.*--xcorr torch"):
        xcorr_depthwise(x, k, backend="numba")
    with torch.no_grad():
        out = xcorr_depthwise(x, k, backend="numba")
    assert not out.requires_grad
    assert rel_err(out, ref_depthwise(x, k.detach())) < TOL


def test_shape_errors():
    x = rand((2, 4, 8, 8), 15)
    with pytest.raises(ValueError, match="kernel batch 3"):
        xcorr_plain(x, rand((3, 1, 4, 3, 3), 16))
    with pytest.raises(ValueError, match="kernel has 5 channels but x has 4"):
        xcorr_depthwise(x, rand((1, 5, 3, 3), 16), backend="numba")
    with pytest.raises(ValueError, match="does not fit"):
        xcorr_depthwise(x, rand((1, 4, 9, 3), 16))
    with pytest.raises(ValueError, match=r"\(Bk, K, C, h, w\)"):
        xcorr_plain(x, rand((1, 4, 3, 3), 16))
    with pytest.raises(ValueError, match="must have one dtype"):
        xcorr_depthwise(x, rand((1, 4, 3, 3), 16, torch.float64))
    with pytest.raises(ValueError, match=r"float32 or float64 \(backend 'numba'\)"):
        xcorr_depthwise(x.half(), rand((1, 4, 3, 3), 16).half(), backend="numba")
    with pytest.raises(ValueError, match="must have one dtype"):
        xcorr_depthwise(x.int(), rand((1, 4, 3, 3), 16).int())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_torch_backend_takes_half_precision(dtype):
    # mixed-precision training runs the heads under autocast: the correlation sees half-precision tensors
    x, k, kd = rand((2, 8, 12, 12), 21), rand((2, 3, 8, 4, 4), 22), rand((1, 8, 5, 5), 23)
    out = xcorr_plain(x.to(dtype), k.to(dtype))
    assert out.dtype == dtype and rel_err(out.float(), ref_plain(x, k)) < 2e-2
    out = xcorr_depthwise(x.to(dtype), kd.to(dtype))
    assert out.dtype == dtype and rel_err(out.float(), ref_depthwise(x, kd)) < 2e-2


def test_unknown_backend_message():
    assert BACKENDS == ("torch", "numba", "cuda")
    with pytest.raises(UserError, match=r"unknown xcorr backend 'numpy'; choose one of: torch, numba, cuda"):
        check_backend("numpy", "cpu")
    with pytest.raises(UserError, match="unknown xcorr backend 'tensorflow'"):
        xcorr_plain(rand((1, 2, 4, 4), 1), rand((1, 1, 2, 2, 2), 2), backend="tensorflow")


def test_backend_device_messages(monkeypatch):
    check_backend("torch", "cpu")
    check_backend("numba", "cpu")
    with pytest.raises(UserError, match="'numba' runs on the CPU only.*--device cpu"):
        check_backend("numba", "cuda:0")
    # the real (not simulated) cuda backend on a machine without a CUDA device
    monkeypatch.setattr(xc, "cuda_simulator_enabled", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="'cuda' needs the model on a CUDA device.*--device cuda"):
        check_backend("cuda", "cpu")
    with pytest.raises(UserError, match="'cuda' requested but torch sees no CUDA device"):
        check_backend("cuda", "cuda")
    with pytest.raises(UserError, match="invalid device 'gpu0'"):
        check_backend("torch", "gpu0")


def test_cuda_without_nvvm_message(monkeypatch):
    # a GPU and a driver, but no CUDA toolkit for numba to compile with
    from numba import cuda
    from numba.cuda.cudadrv import nvvm

    monkeypatch.setattr(xc, "cuda_simulator_enabled", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setattr(nvvm, "is_available", lambda: False)
    with pytest.raises(UserError, match="cannot find libNVVM.*--xcorr torch"):
        check_backend("cuda", "cuda:0")


def test_numba_missing_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` raise ImportError
    for backend in ("numba", "cuda"):
        with pytest.raises(UserError, match=f"backend '{backend}' needs the 'numba' package"):
            check_backend(backend, "cpu")


# ---- the cuda backend: simulator in a subprocess (the env var must be set before numba is imported),
# ---- and the same cases on a real GPU when there is one

CUDA_CASES = [  # small: the simulator runs every GPU thread as a Python thread
    ("plain", (2, 20, 6, 7), (2, 3, 20, 3, 2)),  # C = 20 > 16: two channel chunks summed
    ("plain", (3, 5, 6, 6), (1, 1, 5, 3, 3)),  # SiamFC-like: one template over 3 scales
    ("depthwise", (2, 6, 7, 6), (2, 6, 3, 2)),
    ("depthwise", (3, 4, 5, 5), (1, 4, 3, 3)),
    ("pixelwise", (2, 6, 5, 4), (2, 6, 2, 3)),
    ("pixelwise", (3, 4, 4, 4), (1, 4, 2, 2)),
]

SIM_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    import tracker, tracker.xcorr as xc
    numba_imported_early = "numba" in sys.modules  # numba must load lazily, on first use of its backends
    from tracker.errors import UserError
    cases = json.loads(sys.argv[1]); out_path = sys.argv[2]
    xc.check_backend("cuda", "cpu")
    assert xc.cuda_simulator_enabled()
    try:
        xc.check_backend("cuda", "cuda")
        msg = ""
    except UserError as e:
        msg = str(e)
    arrays = {"device_msg": np.array(msg), "numba_imported_early": np.array(numba_imported_early)}
    for n, (op, xs, ks, dt) in enumerate(cases):
        dtype = getattr(torch, dt)
        g = torch.Generator().manual_seed(100 + n)
        x = torch.randn(xs, generator=g, dtype=torch.float64).to(dtype)
        k = torch.randn(ks, generator=g, dtype=torch.float64).to(dtype)
        f = getattr(xc, "xcorr_" + op)
        y = f(x, k, backend="cuda")
        arrays[f"x{n}"], arrays[f"k{n}"], arrays[f"y{n}"] = x.numpy(), k.numpy(), y.numpy()
    np.savez(out_path, **arrays)
""")


def _check_cuda_case(op, x, k, y, dtype):
    ref = REFS[op](x, k)
    assert y.shape == ref.shape
    assert y.dtype == dtype
    assert rel_err(y, ref) < (TOL if dtype == np.float32 else 1e-12)


@pytest.mark.slow
def test_cuda_backend_in_simulator(tmp_path):
    cases = [(op, xs, ks, "float32") for op, xs, ks in CUDA_CASES] + [
        ("plain", (1, 3, 4, 5), (1, 2, 3, 2, 2), "float64")
    ]
    out = tmp_path / "sim.npz"
    env = {
        **os.environ,
        "NUMBA_ENABLE_CUDASIM": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    res = subprocess.run(
        [sys.executable, "-c", SIM_SCRIPT, json.dumps(cases), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    data = np.load(out)
    assert not data["numba_imported_early"], "import tracker / tracker.xcorr must not import numba"
    assert "works on CPU tensors only" in str(data["device_msg"])
    for n, (op, _xs, _ks, dt) in enumerate(cases):
        _check_cuda_case(op, data[f"x{n}"], data[f"k{n}"], data[f"y{n}"], np.dtype(dt))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the simulator test covers CI)")
def test_cuda_backend_on_gpu():
    if xc.cuda_simulator_enabled():
        pytest.skip("NUMBA_ENABLE_CUDASIM is set in this process")
    cases = [(op, xs, ks) for op, xs, ks in CUDA_CASES]
    cases += [("plain", xs, ks) for _, xs, ks in PLAIN_SHAPES] + [("depthwise", xs, ks) for _, xs, ks in DW_SHAPES]
    cases += [("pixelwise", xs, ks) for _, xs, ks in PW_SHAPES]
    for n, (op, xs, ks) in enumerate(cases):
        for dtype in (torch.float32, torch.float64):
            x, k = rand(xs, 200 + n, dtype).cuda(), rand(ks, 300 + n, dtype).cuda()
            f = OPS[op]
            with torch.no_grad():
                y = f(x, k, backend="cuda")
            assert y.device == x.device
            _check_cuda_case(
                op,
                x.cpu().numpy(),
                k.cpu().numpy(),
                y.cpu().numpy(),
                np.float32 if dtype == torch.float32 else np.float64,
            )
    with pytest.raises(UserError, match="needs CUDA tensors|needs the model on a CUDA device"):
        xcorr_plain(rand((1, 2, 4, 4), 1), rand((1, 1, 2, 2, 2), 2), backend="cuda")


def test_cuda_kernel_that_cannot_compile_is_one_clear_error():
    # seen on a GPU machine: numba-cuda's compiler failed on numpy 2.5 (no np.row_stack) at first launch
    from tracker.xcorr import _numba_cuda

    class Uncompiled:
        overloads: dict = {}

        def __getitem__(self, config):
            def launch(*args):
                raise AttributeError("module 'numpy' has no attribute 'row_stack'")

            return launch

    with pytest.raises(UserError, match=r"could not compile its kernel \(AttributeError: .*row_stack.*--xcorr torch"):
        _numba_cuda._run_kernel(Uncompiled(), (1, 32, 0), ())

    class Compiled(Uncompiled):  # once compiled, a failure is a launch error and is not renamed
        overloads = {("float32",): object()}

    with pytest.raises(AttributeError):
        _numba_cuda._run_kernel(Compiled(), (1, 32, 0), ())
