"""Presets and pysot configs: what is honoured, and what fails with a message naming the key."""

import json
import subprocess
import sys

import pytest
import yaml

from tracker.build import resolve_preset
from tracker.config.presets import get_preset, list_presets
from tracker.config.pysot import load_pysot_config
from tracker.errors import UserError

R50_YAML = {
    "META_ARC": "siamrpn_r50_l234_dwxcorr",
    "BACKBONE": {"TYPE": "resnet50", "KWARGS": {"used_layers": [2, 3, 4]}},
    "ADJUST": {
        "ADJUST": True,
        "TYPE": "AdjustAllLayer",
        "KWARGS": {"in_channels": [512, 1024, 2048], "out_channels": [256, 256, 256]},
    },
    "RPN": {"TYPE": "MultiRPN", "KWARGS": {"anchor_num": 5, "in_channels": [256, 256, 256], "weighted": True}},
    "MASK": {"MASK": False},
    "ANCHOR": {"STRIDE": 8, "RATIOS": [0.33, 0.5, 1, 2, 3], "SCALES": [8], "ANCHOR_NUM": 5},
    "TRACK": {
        "TYPE": "SiamRPNTracker",
        "PENALTY_K": 0.05,
        "WINDOW_INFLUENCE": 0.42,
        "LR": 0.38,
        "EXEMPLAR_SIZE": 127,
        "INSTANCE_SIZE": 255,
        "BASE_SIZE": 8,
        "CONTEXT_AMOUNT": 0.5,
    },
}


def write(tmp_path, cfg, name="config.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_pysot_r50_config_equals_the_builtin_preset(tmp_path):
    preset = load_pysot_config(write(tmp_path, R50_YAML))
    builtin = get_preset("siamrpn_r50_l234_dwxcorr")
    assert preset.model == builtin.model
    assert preset.track == builtin.track
    assert preset.input == builtin.input


def test_parity_configs_translate(shared_dir):
    dw = load_pysot_config(shared_dir / "parity/pysot_alex_dwxcorr_w05/config.yaml")
    assert dw.model.backbone == "alexnet_legacy" and dw.model.backbone_kwargs == {"width_mult": 0.5}
    assert dw.model.head.type == "depthwise" and dw.model.head.hidden == 128
    assert (dw.track.instance_size, dw.track.base_size, dw.track.penalty_k) == (287, 0, 0.16)
    up = load_pysot_config(shared_dir / "parity/pysot_alex_upxcorr_w025/config.yaml")
    assert up.model.head.type == "upchannel" and up.track.instance_size == 271 and up.track.lr == 0.295


@pytest.mark.parametrize(
    "section,key,value,needle",
    [
        ("MASK", "MASK", True, "MASK.MASK"),
        ("TRACK", "TYPE", "SiamMaskTracker", "TRACK.TYPE"),
        ("BACKBONE", "TYPE", "mobilenetv2", "BACKBONE.TYPE"),
        ("RPN", "TYPE", "BANHead", "RPN.TYPE"),
        ("TRACK", "MYSTERY", 1, "TRACK.MYSTERY"),
    ],
)
def test_unsupported_keys_fail_naming_the_key(tmp_path, section, key, value, needle):
    cfg = json.loads(json.dumps(R50_YAML))
    cfg[section][key] = value
    with pytest.raises(UserError, match=needle.replace(".", r"\.")):
        load_pysot_config(write(tmp_path, cfg))


def test_channel_mismatch_between_yaml_and_backbone_is_reported(tmp_path):
    cfg = json.loads(json.dumps(R50_YAML))
    cfg["ADJUST"]["KWARGS"]["in_channels"] = [256, 512, 1024]
    with pytest.raises(UserError, match="in_channels"):
        load_pysot_config(write(tmp_path, cfg))


def test_long_term_tracker_type_switches_long_term_on(tmp_path):
    cfg = json.loads(json.dumps(R50_YAML))
    cfg["TRACK"]["TYPE"] = "SiamRPNLTTracker"
    cfg["TRACK"]["LOST_INSTANCE_SIZE"] = 831
    assert load_pysot_config(write(tmp_path, cfg)).track.long_term is True


def test_preset_yaml_round_trip(tmp_path):
    for preset in list_presets():
        p = tmp_path / f"{preset.name}.yaml"
        p.write_text(yaml.safe_dump(json.loads(json.dumps(preset.to_dict()))))
        again = resolve_preset(str(p))
        assert again == preset


def test_unknown_preset_and_override_are_clear():
    with pytest.raises(UserError, match="unknown model preset 'nope'.*siamfc_alexnet"):
        get_preset("nope")
    with pytest.raises(UserError, match="unknown tracking parameter"):
        get_preset("siamfc_alexnet").replace_track(penalty_k=1.0)


def test_models_command_lists_every_preset():
    out = subprocess.run([sys.executable, "-m", "tracker.cli", "models", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {p.name for p in list_presets()}
    assert rows["siamfc_alexnet"]["input"] == "RGB 0..255" and rows["siamfc_alexnet"]["backbone"] == "alexnet_siamfc"
    assert rows["siamrpn_alex_dwxcorr"]["input"] == "BGR 0..255"
    for name, row in rows.items():
        assert row["weights"] == ("shipped" if get_preset(name).weights_available else "--weights FILE")


def test_track_param_overrides_are_typed_and_checked():
    from tracker.cli.track import parse_params

    preset = get_preset("siamfc_alexnet").replace_track(
        **parse_params(["scale_num=5", "clamp_search=true", "window_influence=0.2"])
    )
    assert preset.track.scale_num == 5 and preset.track.clamp_search is True and preset.track.window_influence == 0.2
    with pytest.raises(UserError, match="clamp_search must be a bool"):
        get_preset("siamfc_alexnet").replace_track(clamp_search="maybe")
    with pytest.raises(UserError, match="NAME=VALUE"):
        parse_params(["scale_num"])
