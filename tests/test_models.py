"""The model library loads reference-layout state_dicts unchanged and computes what the references compute.

Each reference network is rewritten here as plain functional code (F.conv2d, F.batch_norm, ...) from the
layer order and formulas in REFERENCE.md, reading the same state_dict tensors; our modules must agree
within 1e-4 relative. The state_dicts are built in the tests with the reference key names.
"""

import re

import pytest
import torch
import torch.nn.functional as F

from tracker.config.presets import get_preset
from tracker.models import build_model, load_into
from tracker.models.checkpoint import CheckpointError

torch.manual_seed(0)


def randomise(model, seed=0):
    """Fill every parameter and buffer with seeded random values (positive BN variances)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            state[k] = torch.rand(v.shape, generator=g) + 0.5
        elif k.endswith("running_mean") or k.endswith(".bias"):
            state[k] = torch.randn(v.shape, generator=g) * 0.1
        elif v.dim() == 1:  # BN weight, fusion weights
            state[k] = torch.rand(v.shape, generator=g) + 0.5
        else:
            fan_in = v[0].numel()
            state[k] = torch.randn(v.shape, generator=g) * (2.0 / fan_in) ** 0.5
    return state


def bn(x, sd, p, eps=1e-5):
    return F.batch_norm(
        x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"], False, 0.0, eps
    )


def conv(x, sd, p, **kw):
    return F.conv2d(x, sd[p + ".weight"], sd.get(p + ".bias"), **kw)


def ref_alexnet_siamfc(sd, x):
    """siamfc-pytorch AlexNetV1: groups 2 at conv2/4/5, BN eps 1e-6, conv5 with bias and no BN."""
    b = "backbone."
    x = F.max_pool2d(F.relu(bn(conv(x, sd, b + "conv1.0", stride=2), sd, b + "conv1.1", 1e-6)), 3, 2)
    x = F.max_pool2d(F.relu(bn(conv(x, sd, b + "conv2.0", groups=2), sd, b + "conv2.1", 1e-6)), 3, 2)
    x = F.relu(bn(conv(x, sd, b + "conv3.0"), sd, b + "conv3.1", 1e-6))
    x = F.relu(bn(conv(x, sd, b + "conv4.0", groups=2), sd, b + "conv4.1", 1e-6))
    return conv(x, sd, b + "conv5.0", groups=2)


def ref_alexnet_legacy(sd, x):
    """pysot AlexNetLegacy: Conv-BN-MaxPool-ReLU twice, then Conv-BN-ReLU twice, Conv-BN."""
    b = "backbone.features."
    x = F.relu(F.max_pool2d(bn(conv(x, sd, b + "0", stride=2), sd, b + "1"), 3, 2))
    x = F.relu(F.max_pool2d(bn(conv(x, sd, b + "4"), sd, b + "5"), 3, 2))
    x = F.relu(bn(conv(x, sd, b + "8"), sd, b + "9"))
    x = F.relu(bn(conv(x, sd, b + "11"), sd, b + "12"))
    return bn(conv(x, sd, b + "14"), sd, b + "15")


def ref_xcorr(x, z):
    """Per-sample correlation, sample by sample."""
    return torch.cat([F.conv2d(x[i : i + 1], z[i : i + 1] if z.size(0) > 1 else z) for i in range(x.size(0))])


def ref_dw_xcorr(x, k):
    return torch.cat([F.conv2d(x[i : i + 1], k[i].unsqueeze(1), groups=x.size(1)) for i in range(x.size(0))])


def ref_depthwise_rpn(sd, p, z, x):
    out = []
    for branch in ("cls", "loc"):
        q = f"{p}.{branch}."
        k = F.relu(bn(conv(z, sd, q + "conv_kernel.0"), sd, q + "conv_kernel.1"))
        s = F.relu(bn(conv(x, sd, q + "conv_search.0"), sd, q + "conv_search.1"))
        f = ref_dw_xcorr(s, k)
        f = F.relu(bn(conv(f, sd, q + "head.0"), sd, q + "head.1"))
        out.append(conv(f, sd, q + "head.3"))
    return out


def ref_upchannel_rpn(sd, z, x, k):
    p = "rpn_head."
    c = z.size(1)
    ck = conv(z, sd, p + "template_cls_conv")
    lk = conv(z, sd, p + "template_loc_conv")
    cs = conv(x, sd, p + "search_cls_conv")
    ls = conv(x, sd, p + "search_loc_conv")
    cls = torch.cat([F.conv2d(cs[i : i + 1], ck[i].view(2 * k, c, ck.size(2), ck.size(3))) for i in range(x.size(0))])
    loc = torch.cat([F.conv2d(ls[i : i + 1], lk[i].view(4 * k, c, lk.size(2), lk.size(3))) for i in range(x.size(0))])
    return cls, conv(loc, sd, p + "loc_adjust")


def ref_adjust(sd, p, f):
    f = bn(conv(f, sd, p + ".downsample.0"), sd, p + ".downsample.1")
    if f.size(3) < 20:
        left = (f.size(3) - 7) // 2
        f = f[:, :, left : left + 7, left : left + 7]
    return f


def close(a, b, tol=1e-4):
    scale = b.abs().max().clamp_min(1e-12)
    return ((a - b).abs().max() / scale).item() < tol


PYSOT_KEYS = {
    "siamrpn_alex_dwxcorr": [
        r"backbone\.features\.(0|4|8|11|14)\.(weight|bias)",
        r"rpn_head\.(cls|loc)\.(conv_kernel|conv_search)\.[01]\.",
        r"rpn_head\.(cls|loc)\.head\.(0|1|3)\.",
    ],
    "siamrpn_alex_upxcorr": [r"rpn_head\.template_cls_conv\.weight", r"rpn_head\.loc_adjust\.bias"],
    "siamrpn_r50_l234_dwxcorr": [
        r"backbone\.layer4\.0\.downsample\.0\.weight",
        r"neck\.downsample[234]\.downsample\.[01]\.",
        r"rpn_head\.rpn[234]\.(cls|loc)\.",
        r"rpn_head\.cls_weight",
        r"rpn_head\.loc_weight",
    ],
    "siamrpn_r50_l234_dwxcorr_otb": [
        r"neck\.downsample4\.downsample\.1\.running_var",
        r"rpn_head\.rpn4\.loc\.head\.3\.bias",
    ],
    "siamfc_alexnet": [r"backbone\.conv5\.0\.bias", r"backbone\.conv1\.1\.num_batches_tracked"],
}


@pytest.mark.parametrize("name", sorted(PYSOT_KEYS))
def test_reference_key_names_present(name):
    keys = build_model(get_preset(name)).state_dict().keys()
    for pattern in PYSOT_KEYS[name]:
        assert any(re.match(pattern, k) for k in keys), f"{name}: no key matches {pattern}"
    if name == "siamrpn_r50_l234_dwxcorr_otb":
        assert "rpn_head.cls_weight" not in keys  # unweighted fusion has no weights


def _loaded(name, seed=1):
    preset = get_preset(name)
    model = build_model(preset).eval()
    sd = randomise(model, seed)
    fresh = build_model(preset).eval()
    load_into(fresh, dict(sd), "test", name)
    return fresh, sd


def test_siamfc_alexnet_matches_functional_reference():
    model, sd = _loaded("siamfc_alexnet")
    z, x = torch.rand(1, 3, 127, 127) * 255, torch.rand(3, 3, 255, 255) * 255
    with torch.no_grad():
        ours = model(z, x)["cls"]
        ref = ref_xcorr(ref_alexnet_siamfc(sd, x), ref_alexnet_siamfc(sd, z)) * 0.001
    assert ours.shape == (3, 1, 17, 17)
    assert close(ours, ref)


def test_siamrpn_alex_dwxcorr_matches_functional_reference():
    model, sd = _loaded("siamrpn_alex_dwxcorr")
    z, x = torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 287, 287) * 255
    with torch.no_grad():
        out = model(z, x)
        cls, loc = ref_depthwise_rpn(sd, "rpn_head", ref_alexnet_legacy(sd, z), ref_alexnet_legacy(sd, x))
    assert out["cls"].shape == (2, 10, 21, 21) and out["loc"].shape == (2, 20, 21, 21)
    assert close(out["cls"], cls) and close(out["loc"], loc)


def test_siamrpn_alex_upxcorr_matches_functional_reference():
    model, sd = _loaded("siamrpn_alex_upxcorr")
    z, x = torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 271, 271) * 255
    with torch.no_grad():
        out = model(z, x)
        cls, loc = ref_upchannel_rpn(sd, ref_alexnet_legacy(sd, z), ref_alexnet_legacy(sd, x), 5)
    assert out["cls"].shape == (2, 10, 19, 19)
    assert close(out["cls"], cls) and close(out["loc"], loc)


@pytest.mark.parametrize("name,weighted", [("siamrpn_r50_l234_dwxcorr", True), ("siamrpn_r50_l234_dwxcorr_otb", False)])
@pytest.mark.slow
def test_siamrpn_r50_neck_and_fusion_match_functional_reference(name, weighted):
    """The ResNet-50 backbone is checked against its own functional reference in test_backbones; here
    its maps feed an independent neck + MultiRPN computation."""
    model, sd = _loaded(name)
    z, x = torch.rand(1, 3, 127, 127) * 255, torch.rand(1, 3, 255, 255) * 255
    with torch.no_grad():
        out = model(z, x)
        zf, xf = model.backbone(z), model.backbone(x)
        cls, loc = [], []
        for i, lvl in enumerate((2, 3, 4)):
            za = ref_adjust(sd, f"neck.downsample{lvl}", zf[i])
            xa = ref_adjust(sd, f"neck.downsample{lvl}", xf[i])
            c, lc = ref_depthwise_rpn(sd, f"rpn_head.rpn{lvl}", za, xa)
            cls.append(c)
            loc.append(lc)
        if weighted:
            wc, wl = F.softmax(sd["rpn_head.cls_weight"], 0), F.softmax(sd["rpn_head.loc_weight"], 0)
            cls_ref = sum(w * c for w, c in zip(wc, cls))
            loc_ref = sum(w * lc for w, lc in zip(wl, loc))
        else:
            cls_ref, loc_ref = sum(cls) / 3, sum(loc) / 3
    assert zf[0].shape[-1] == 15 and xf[0].shape[-1] == 31
    assert out["cls"].shape == (1, 10, 25, 25)
    assert close(out["cls"], cls_ref) and close(out["loc"], loc_ref)


def test_strict_loading_reports_missing_unexpected_and_shape_and_guesses_preset():
    preset = get_preset("siamrpn_alex_dwxcorr")
    dw_state = randomise(build_model(preset))
    target = build_model(get_preset("siamrpn_alex_upxcorr"))
    with pytest.raises(CheckpointError) as exc:
        load_into(target, dw_state, "model.pth", "siamrpn_alex_upxcorr")
    msg = str(exc.value)
    assert "missing" in msg and "rpn_head.template_cls_conv.weight" in msg
    assert "unexpected" in msg and "rpn_head.cls.conv_kernel.0.weight" in msg
    assert "most likely belongs to preset siamrpn_alex_dwxcorr" in msg


def test_strict_loading_rejects_a_wrong_shape():
    preset = get_preset("siamfc_alexnet")
    state = randomise(build_model(preset))
    state["backbone.conv3.0.weight"] = state["backbone.conv3.0.weight"][:100]
    with pytest.raises(CheckpointError, match=r"conv3\.0\.weight: file \(100, 256, 3, 3\) vs model \(384, 256, 3, 3\)"):
        load_into(build_model(preset), state, "x.pth", preset.name)


BACKBONE_CASES = [
    ("alexnet_siamfc", {}),
    ("alexnet_legacy", {}),
    ("alexnet", {}),
    ("resnet50", {"used_layers": [3]}),
    ("resnet50", {"used_layers": [2, 3, 4]}),
    ("efficientnet_lite0", {"pretrained": False}),
]
HEADS = ["siamfc", "upchannel", "depthwise", "multi"]


@pytest.mark.parametrize("backbone,kw", BACKBONE_CASES, ids=lambda v: str(v))
def test_any_head_on_any_backbone_has_consistent_shapes(backbone, kw):
    """Every head works on every backbone; output sizes follow from the backbone's feature sizes."""
    from backbones import build_backbone
    from tracker.config.presets import PYSOT_INPUT, HeadSpec, ModelSpec, NeckSpec, Preset, SiamFCParams, SiamRPNParams

    bb = build_backbone(backbone, **kw)
    levels = len(bb.out_channels)
    for head in HEADS:
        if head in ("siamfc", "upchannel", "depthwise") and levels > 1:
            continue
        neck = (
            NeckSpec([64] * levels, resize_to_first=len(set(bb.strides)) > 1) if backbone != "alexnet_siamfc" else None
        )
        family = "siamfc" if head == "siamfc" else "siamrpn"
        params = SiamFCParams() if family == "siamfc" else SiamRPNParams()
        preset = Preset(
            f"{backbone}-{head}",
            family,
            ModelSpec(backbone, dict(kw), neck, HeadSpec(head)),
            params,
            PYSOT_INPUT,
            "siamtrack",
        )
        with torch.device("meta"):  # shapes only: no memory, no arithmetic
            model = build_model(preset).eval()
            z = torch.empty(1, 3, 127, 127)
            zsize = model.features(z)[0].shape[-1]
        for size in (255, 271, 287):
            with torch.no_grad(), torch.device("meta"):
                out = model(z, torch.empty(1, 3, size, size))
            xsize = bb.feature_size(size)[0]
            expected = xsize - zsize + 1
            assert out["cls"].shape[-1] == expected, (backbone, head, size)
            if head == "siamfc":
                assert out["cls"].shape[1] == 1 and out["loc"] is None
            else:
                assert out["cls"].shape[1] == 10 and out["loc"].shape[1] == 20


def test_reads_pysot_snapshots_with_module_prefix_and_own_format(tmp_path):
    """A pysot training snapshot ({epoch, state_dict with 'module.' keys, optimizer}) and the project's own
    format load into the same model with the same tensors as the bare state_dict."""
    from tracker.models import read_checkpoint, save_checkpoint

    preset = get_preset("siamrpn_alex_dwxcorr")
    model = build_model(preset)
    sd = randomise(model, 3)
    snap = tmp_path / "checkpoint_e20.pth"
    torch.save(
        {
            "epoch": 20,
            "state_dict": {"module." + k: v for k, v in sd.items()},
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.01}]},
        },
        snap,
    )
    state, meta = read_checkpoint(snap)
    assert meta == {} and set(state) == set(sd)
    assert all(torch.equal(state[k], sd[k]) for k in sd)
    load_into(model, state, str(snap), preset.name)
    own = tmp_path / "own.pth"
    save_checkpoint(own, model, {"preset": preset.name})
    state2, meta2 = read_checkpoint(own)
    assert meta2["preset"] == preset.name and "version" in meta2
    assert all(torch.equal(state2[k], sd[k]) for k in sd if not k.endswith("num_batches_tracked"))


def test_a_pickle_that_is_not_weights_only_is_refused(tmp_path):
    import pickle

    from tracker.models import read_checkpoint

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": Evil()}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="holds pickled Python objects"):
        read_checkpoint(path)


@pytest.mark.parametrize("name", ["siamfc_alexnet", "siamrpn_alex_dwxcorr", "siamrpn_effnet_lite0"])
def test_input_adapter_cpu_path_equals_the_formula(name):
    # the CPU path (OpenCV/NumPy) must give exactly (pixel * scale - mean) / std in the model's channel order
    import numpy as np

    from tracker.models.siamese import InputAdapter

    conv = get_preset(name).input
    crops = np.random.default_rng(0).integers(0, 256, (2, 31, 29, 3), dtype=np.uint8)
    got = InputAdapter(conv, torch.device("cpu"))(crops)
    x = torch.from_numpy(crops.astype(np.float32)).permute(0, 3, 1, 2)
    if conv.channel_order == "RGB":
        x = x.flip(1)
    x = x * conv.scale
    if conv.mean is not None:
        x = (x - torch.tensor(conv.mean).view(1, 3, 1, 1)) / torch.tensor(conv.std).view(1, 3, 1, 1)
    assert got.shape == (2, 3, 31, 29) and got.dtype == torch.float32 and got.is_contiguous()
    assert torch.equal(got, x)
    assert torch.equal(InputAdapter(conv, torch.device("cpu"))(crops[0]), x[:1])


@pytest.mark.parametrize("mean, std", [((1.0, 2.0, 3.0), None), (None, (2.0, 4.0, 8.0))])
def test_cpu_input_takes_a_mean_or_a_std_alone(mean, std):
    # InputConvention allows either alone (mean 0, std 1 for the other), as the OpenCV-nano export reads it
    import numpy as np

    from tracker.config.presets import InputConvention
    from tracker.preprocess import NumpyInput

    crops = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    from tracker.models.siamese import InputAdapter

    conv = InputConvention(mean=mean, std=std)
    got = NumpyInput(conv)(crops)
    want = crops.transpose(0, 3, 1, 2).astype(np.float32)
    want = (want - np.float32(mean or 0.0).reshape(-1, 1, 1)) / np.float32(std or 1.0).reshape(-1, 1, 1)
    assert np.array_equal(got, want)
    # the torch path (the GPU's; float64 takes it on the CPU too)
    t = InputAdapter(conv, torch.device("cpu"), dtype=torch.float64)(crops)
    assert np.allclose(t.numpy(), want, rtol=0, atol=1e-5)


def with_random_bn_stats(model):
    """Non-trivial BatchNorm statistics, so that folding them into the convolutions matters."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.parametrize(
    "name", ["siamrpn_alex_upxcorr", "siamrpn_effnet_lite0", "siamrpn_effnet_lite0_fast", "siamfc_alexnet"]
)
def test_fast_inference_computes_what_the_eager_model_does(name):
    # the BN-folded, channels-last copies of the template, search and correlation branches are an
    # optimisation, not another model
    torch.manual_seed(0)
    preset = get_preset(name)
    model = with_random_bn_stats(build_model(preset).eval())
    z = torch.randn(1, 3, 127, 127)
    x = torch.randn(1, 3, preset.track.instance_size, preset.track.instance_size)
    with torch.inference_mode():
        prepared = model.template(z)
        eager = model.track(x, prepared)
        model.enable_fast_inference()
        fast_prepared = model.template(z)
        for _ in range(2):  # the first call builds the copies, the second uses them
            fast = model.track(x, fast_prepared)
    for key in ("cls", "loc"):
        if eager[key] is None:
            assert fast[key] is None
            continue
        scale = eager[key].abs().max().item()
        assert fast[key].shape == eager[key].shape
        assert torch.allclose(fast[key], eager[key], atol=1e-4 * max(scale, 1.0)), (fast[key] - eager[key]).abs().max()
    # and they really are the transformed copies, not the eager fallback
    from tracker.models.fast import ChannelsLast

    fast_path = model.fast_path
    specialised = [fast_path.search, fast_path.template]
    if preset.family != "siamfc":
        specialised += list(fast_path.correlate.branches.values())
    for branch in specialised:
        assert branch.copies and all(isinstance(m, ChannelsLast) for m in branch.copies.values())


def test_neck_crops_by_size_as_pysot_or_the_template_only():
    from tracker.models.necks import AdjustAllLayer

    small, large = torch.randn(1, 8, 8, 8), torch.randn(1, 8, 16, 16)
    pysot = AdjustAllLayer([8], [4], center_size=6).eval()
    # pysot's rule goes by size: any map narrower than 20 is cut to its centre, template or not
    assert pysot([small])[0].shape[-1] == 6 and pysot([large])[0].shape[-1] == 6
    neck = AdjustAllLayer([8], [4], center_size=6, template_only=True).eval()
    assert neck([small], template=True)[0].shape[-1] == 6
    assert neck([large])[0].shape[-1] == 16 and neck([small])[0].shape[-1] == 8
    # the crop is the centre: cells 1..6 of 8
    full = neck([small])[0]
    assert torch.equal(neck([small], template=True)[0], full[..., 1:7, 1:7])


def test_lite0_fast_preset_keeps_its_search_map_whole():
    # stride 16: 127 -> 8x8 template cut to 6x6, 255 -> 16x16 search map kept, so an 11x11 score map
    model = build_model(get_preset("siamrpn_effnet_lite0_fast")).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 127, 127), torch.zeros(1, 3, 255, 255))
    assert out["cls"].shape == (1, 10, 11, 11) and out["loc"].shape == (1, 20, 11, 11)


def test_the_transformed_copy_works_on_its_own_weights():
    # the channels-last copy works on a copy: the model's own weights keep their layout
    from tracker.models import fast as fast_mod
    from tracker.models import siamese as siamese_mod

    model = with_random_bn_stats(build_model(get_preset("siamrpn_effnet_lite0_fast")).eval())
    branch = fast_mod.ShapeSpecialised(siamese_mod.SearchBranch(model).eval())
    with torch.inference_mode():
        branch(torch.randn(1, 3, 255, 255))
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous()
    assert not any(isinstance(m, torch.nn.Identity) for m in model.modules())  # no BatchNorm folded away
    wrapped = fast_mod.ChannelsLast(torch.nn.Conv2d(4, 8, 3)).eval()
    assert wrapped.module.weight.is_contiguous(memory_format=torch.channels_last)


def test_fold_batchnorms_folds_only_batchnorms_fed_by_a_convolution():
    from tracker.models.fast import PointwiseAsMatmul, fold_batchnorms, pointwise_as_matmul

    torch.manual_seed(0)
    net = with_random_bn_stats(
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3),
            torch.nn.BatchNorm2d(8),
            torch.nn.ReLU(),
            torch.nn.BatchNorm2d(8),  # fed by the ReLU: must stay
            torch.nn.Conv2d(8, 6, 1, bias=True),
            torch.nn.BatchNorm2d(6),
        ).eval()
    )
    x = torch.randn(2, 3, 12, 12)
    folded = fold_batchnorms(net, (x,))
    kinds = [type(m).__name__ for m in folded]
    assert kinds == ["Conv2d", "Identity", "ReLU", "BatchNorm2d", "Conv2d", "Identity"]
    assert all(isinstance(m, torch.nn.BatchNorm2d) for m in (net[1], net[3], net[5]))  # the original is untouched
    with torch.no_grad():
        ref = net(x)
        assert torch.allclose(folded(x), ref, atol=1e-5)
        pointwise_as_matmul(folded)
        assert isinstance(folded[4], PointwiseAsMatmul) and isinstance(folded[0], torch.nn.Conv2d)
        assert torch.allclose(folded(x), ref, atol=1e-5)  # NCHW input
        assert torch.allclose(folded(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-5)  # matmul


class _Functional(torch.nn.Module):
    """A convolution called through F.conv2d from its parent's forward (as Lite0's stride-2 blocks call
    theirs), one whose output is also used elsewhere, and one module called twice."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, bias=False)
        self.bn = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 1)
        self.bn2 = torch.nn.BatchNorm2d(8)
        self.conv3 = torch.nn.Conv2d(8, 8, 1)
        self.bn3 = torch.nn.BatchNorm2d(8)

    def forward(self, x):
        x = self.bn(F.conv2d(x, self.conv.weight, self.conv.bias))  # folded: the conv is seen as F.conv2d
        y = self.conv2(x)
        x = self.bn2(y) + y  # not folded: the conv's output is used twice
        return self.bn3(self.conv3(self.bn3(self.conv3(x))))  # not folded: conv3 and bn3 run twice


def test_fold_batchnorms_follows_the_tensors_not_the_module_calls():
    from tracker.models.fast import fold_batchnorms

    torch.manual_seed(0)
    net = with_random_bn_stats(_Functional().eval())
    x = torch.randn(2, 3, 12, 12)
    folded = fold_batchnorms(net, (x,))
    assert isinstance(folded.bn, torch.nn.Identity) and folded.conv.bias is not None
    assert isinstance(folded.bn2, torch.nn.BatchNorm2d) and isinstance(folded.bn3, torch.nn.BatchNorm2d)
    with torch.no_grad():
        assert torch.allclose(folded(x), net(x), atol=1e-5)


@pytest.mark.parametrize("failure", ["raises", "computes something else"])
def test_a_transform_that_fails_leaves_the_eager_module(monkeypatch, failure):
    from tracker.models import fast as fast_mod
    from tracker.models import siamese as siamese_mod

    def broken(module):
        if failure == "raises":
            raise RuntimeError("cannot rewrite this module")
        conv = next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d))
        conv.weight.add_(1.0)  # a rewrite that is wrong: the check against the eager module must catch it
        return module

    monkeypatch.setattr(fast_mod, "pointwise_as_matmul", broken)
    model = build_model(get_preset("siamrpn_effnet_lite0_fast")).eval()
    branch = fast_mod.ShapeSpecialised(siamese_mod.SearchBranch(model).eval())
    x = torch.randn(1, 3, 255, 255)
    with torch.inference_mode():
        out = branch(x)
        eager = siamese_mod.SearchBranch(model).eval()(x)
    assert list(branch.copies.values()) == [branch.module]
    assert all(torch.equal(a, b) for a, b in zip(out, eager))


@pytest.mark.slow
def test_warm_up_builds_the_fast_path_and_leaves_nothing_behind(shared_dir):
    import cv2

    from tracker.build import build_siamese_tracker

    seq = shared_dir / "data/sequences/BMX3"
    frames = [cv2.imread(str(p)) for p in sorted((seq / "img").iterdir())[:8]]
    box = [float(v) for v in (seq / "groundtruth_rect.txt").read_text().split()[0].split(",")]

    def track(tracker):
        tracker.init(frames[0], box)
        return [tracker.update(f).box for f in frames[1:]]

    warm = build_siamese_tracker("siamrpn_effnet_lite0_fast", engine="torch")
    assert not warm.model.fast_path.search.copies
    warm.warm_up()
    shapes = [key[0][0] for key in warm.model.fast_path.search.copies]
    assert shapes == [(1, 3, 255, 255)]  # the search crop's copy exists before any real frame
    # the same boxes as a fresh tracker's, bit for bit: what runs does not depend on what ran before
    assert track(warm) == track(build_siamese_tracker("siamrpn_effnet_lite0_fast", engine="torch"))


def test_the_fast_path_is_a_named_part_of_the_model_outside_its_state():
    """`fast_path` (enable_fast_inference) is used in eval mode without autograd and is no submodule: not in
    state_dict, parameters or modules; setting it to None runs the eager modules again."""
    model = build_model(get_preset("siamrpn_alex_dwxcorr")).eval()
    keys = set(model.state_dict())
    n_modules = len(list(model.modules()))
    assert model.fast_path is None
    model.enable_fast_inference()
    fast = model.fast_path
    assert fast is not None and fast.correlate is not None
    assert set(model.state_dict()) == keys and len(list(model.modules())) == n_modules
    z, x = torch.rand(1, 3, 127, 127) * 255, torch.rand(1, 3, 255, 255) * 255
    with torch.no_grad():
        prepared = model.template(z)
        quick = model.track(x, prepared)
        assert fast.search.copies and fast.template.copies  # the fast path ran
        model.fast_path = None
        eager = model.track(x, prepared)
    for k in ("cls", "loc"):
        torch.testing.assert_close(quick[k], eager[k], rtol=1e-4, atol=1e-3)
    with pytest.raises(TypeError, match="FastPath or None"):
        model.fast_path = "fast"
    siamfc = build_model(get_preset("siamfc_alexnet")).eval()
    siamfc.enable_fast_inference()
    assert siamfc.fast_path.correlate is None  # SiamFC's correlation is one conv


def test_fast_correlate_flattens_nested_features_and_rebuilds_them_exactly():
    """The correlation branch takes flat tensors; the nesting of the heads' features is kept in a hashable spec
    (no private torch API) and rebuilt exactly, tuples as tuples and lists as lists."""
    from tracker.models.fast import flatten, unflatten

    a, b, c = torch.zeros(1), torch.ones(2), torch.full((3,), 2.0)
    tree = ([a, (b,)], c)
    leaves: list = []
    spec = flatten(tree, leaves)
    assert [x is y for x, y in zip(leaves, (a, b, c))] == [True, True, True]
    hash(spec)
    again = unflatten(iter(leaves), spec)
    assert isinstance(again, tuple) and isinstance(again[0], list) and isinstance(again[0][1], tuple)
    assert again[0][0] is a and again[0][1][0] is b and again[1] is c
    assert flatten(([a], c), []) != spec
    with pytest.raises(TypeError):
        flatten({"x": a}, [])


NO_DEPRECATED_SCRIPT = r"""
import json, sys, warnings
from pathlib import Path
import cv2, numpy as np, torch  # noqa: E401 - their own import-time notices are not ours to judge

# every warning counts, also one that the code silences around its call (as the TorchScript path did), and
# so does any call of TorchScript's entry points
raised = []
real_warn = warnings.warn


def recording_warn(message, category=None, *args, **kwargs):
    raised.append((category or UserWarning, str(message)))
    return real_warn(message, category, *args, **kwargs)


def refuse(name):
    def call(*args, **kwargs):
        raised.append((DeprecationWarning, f"torch.jit.{name} called"))
        raise RuntimeError(f"torch.jit.{name} called")

    return call


warnings.warn = recording_warn
for name in ("trace", "script", "freeze", "optimize_for_inference", "trace_module"):
    setattr(torch.jit, name, refuse(name))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from tracker.build import build_siamese_tracker

    seq = Path(sys.argv[1])
    frames = [cv2.imread(str(p)) for p in sorted((seq / "img").iterdir())[:6]]
    box = [float(v) for v in (seq / "groundtruth_rect.txt").read_text().split()[0].split(",")]
    fast = build_siamese_tracker("siamrpn_effnet_lite0_fast", engine="torch")
    eager = build_siamese_tracker("siamrpn_effnet_lite0_fast", engine="torch", fast=False)
    boxes = []
    for tracker in (fast, eager):
        tracker.init(frames[0], box)
        boxes.append([tracker.update(f).box for f in frames[1:]])
    # the networks' outputs on real crops (a corner of the first frame and the middle of the last)
    z = np.ascontiguousarray(cv2.resize(frames[0][:200, :200], (127, 127)))
    x = np.ascontiguousarray(cv2.resize(frames[-1], (255, 255))[None])
    outputs = [t.engine.search(x, t.engine.template(z)) for t in (fast, eager)]
    used = bool(fast.model.fast_path.search.copies) and bool(fast.model.fast_path.template.copies)
err = max(
    float(np.abs(a - b).max()) / max(1.0, float(np.abs(b).max())) for a, b in zip(outputs[0], outputs[1])
)
box_err = max(abs(a - b) for p, q in zip(*boxes) for a, b in zip(p, q))
notices = sorted(
    {
        f"{category.__name__}: {message}"
        for category, message in raised + [(w.category, str(w.message)) for w in caught]
        if issubclass(category, DeprecationWarning) or "jit" in message.lower() or "torchscript" in message.lower()
    }
)
print(json.dumps({"notices": notices, "err": err, "box_err": box_err, "used": used}))
"""


@pytest.mark.slow
def test_tracking_on_the_torch_engine_uses_no_deprecated_api_and_computes_what_eager_does(shared_dir):
    """Issue 16: nothing deprecated on the torch engine's path (TorchScript is deprecated since torch 2.13,
    and tracker/ calls none of it). A fresh process, so that import-time notices count too, tracks real frames
    with the default model on the torch engine with every warning recorded: none may be a DeprecationWarning
    or mention torch.jit / TorchScript; and the fast path's outputs equal the eager modules' within 1e-5 of
    their scale."""
    import json
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", NO_DEPRECATED_SCRIPT, str(shared_dir / "data/sequences/BMX3")],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["notices"] == []
    assert result["used"]  # the fast path ran, not the eager fallback
    assert result["err"] <= 1e-5 and result["box_err"] <= 1e-2, result


def test_the_package_calls_no_torchscript():
    """TorchScript (torch.jit) is deprecated: tracker/ and backbones/ must not call it."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    hits = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("tracker", "backbones")
        for path in sorted((root / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\btorch\.jit\b|\bjit\.(trace|script|freeze)\b", line)
    ]
    assert hits == []


@pytest.mark.parametrize("name", ["siamrpn_effnet_lite0_fast", "siamrpn_alex_dwxcorr"])
def test_the_fast_search_branch_repeats_its_bits_and_agrees_across_thread_counts(name):
    """The thread count follows the free cores. What is promised (docs/speed.md, "Determinism"): at one
    thread count the fast search branch and correlation give the same bits on every call; across thread
    counts they agree within 1e-5 of the outputs' scale, the tolerance the fast path keeps to the eager model
    (test_fast_inference_computes_what_the_eager_model_does). Not the same bits: how oneDNN and the matrix
    product split a sum across threads depends on the instruction set (on an AVX-512 EPYC, 3 threads differ
    from 1 by about 3e-7 of the scale; on the AVX2 CPU the suite was written on they did not)."""
    torch.manual_seed(0)
    preset = get_preset(name)
    model = with_random_bn_stats(build_model(preset).eval())
    model.enable_fast_inference()
    z = torch.rand(1, 3, 127, 127) * 255
    x = torch.rand(1, 3, preset.track.instance_size, preset.track.instance_size) * 255
    threads = torch.get_num_threads()
    outs = []
    try:
        with torch.inference_mode():
            prepared = model.template(z)
            for n in (1, 2, 3):
                torch.set_num_threads(n)
                first, again = model.track(x, prepared), model.track(x, prepared)
                assert all(torch.equal(first[k], again[k]) for k in ("cls", "loc")), n
                outs.append(first)
    finally:
        torch.set_num_threads(threads)
    search = model.fast_path.search
    assert search.copies and all(m is not search.module for m in search.copies.values())  # not the eager one
    for k in ("cls", "loc"):
        scale = outs[0][k].abs().max().item()
        for n, out in zip((2, 3), outs[1:]):
            assert (out[k] - outs[0][k]).abs().max().item() <= 1e-5 * scale, (k, n)
