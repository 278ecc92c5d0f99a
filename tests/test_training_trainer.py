"""The trainer's parts on a tiny model: the loss step, one epoch, saving, resuming (position and weights)
and the refusal of another preset's checkpoint; the pruning of a run's checkpoint files and the window of
steps a metrics row sums up. test_training_loop.py covers whole runs through train()."""

import numpy as np
import pytest
import torch
from test_training_loop import config, make_sequences

from tracker.errors import UserError
from tracker.training.checkpoint import prune_checkpoints
from tracker.training.metrics_log import LogWindow
from tracker.training.pairs import collate
from tracker.training.step import loss_step
from tracker.training.tiny import TinySiamese, tiny_preset
from tracker.training.trainer import Trainer


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_sequences(tmp_path_factory.mktemp("seqs"))


def trainer(cfg, family="siamrpn", seed=0):
    torch.manual_seed(seed)
    return Trainer(cfg, TinySiamese(family), tiny_preset(family), log=lambda *a: None)


@pytest.mark.parametrize("family", ["siamrpn", "siamfc"])
def test_loss_step_gives_finite_losses_with_gradients(data, tmp_path, family):
    t = trainer(config(data, tmp_path / "o", family), family)
    batch = collate([t.dataset[(0, i)] for i in range(3)])
    losses = loss_step(t.model, batch, t.cfg, t.geom, t.info.device, use_amp=False)
    assert {"loss", "cls", "loc"} <= set(losses) and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in t.model.parameters())


def test_an_epoch_then_its_end_saves_and_moves_on(data, tmp_path):
    t = trainer(config(data, tmp_path / "o", epochs=2))
    t.run_epoch()
    assert (t.epoch, t.step_in_epoch, t.global_step) == (0, 3, 3)
    assert [h["step"] for h in t.history] == [1, 2, 3] and all(np.isfinite(h["loss"]) for h in t.history)
    t.end_epoch()
    assert (t.epoch, t.step_in_epoch) == (1, 0)
    assert t.last_path == tmp_path / "o" / "checkpoint_e001.pth"
    ckpt = torch.load(t.last_path, weights_only=True)
    assert ckpt["training"]["sampler"] == {"epoch": 1, "step": 0, "seed": 0} and ckpt["training"]["step"] == 3
    assert (tmp_path / "o" / "last.pth").is_file()


def test_max_steps_stops_mid_epoch_with_a_checkpoint(data, tmp_path):
    t = trainer(config(data, tmp_path / "o", max_steps=2))
    t.run_epoch()
    assert t.stopped and (t.epoch, t.step_in_epoch, t.global_step) == (0, 2, 2)
    assert t.last_path == tmp_path / "o" / "checkpoint_e001_s000002.pth"
    assert torch.load(t.last_path, weights_only=True)["training"]["sampler"] == {"epoch": 0, "step": 2, "seed": 0}


def test_resume_restores_position_and_weights(data, tmp_path):
    a = trainer(config(data, tmp_path / "o", max_steps=2))
    a.run_epoch()
    b = trainer(config(data, tmp_path / "o"), seed=123)  # other initial weights
    b.resume(str(a.last_path))
    assert (b.epoch, b.step_in_epoch, b.global_step) == (0, 2, 2)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert b.schedule.state_dict() == a.schedule.state_dict()


def test_resume_refuses_a_checkpoint_of_another_preset(data, tmp_path):
    a = trainer(config(data, tmp_path / "fc", "siamfc", max_steps=1), "siamfc")
    a.run_epoch()
    b = trainer(config(data, tmp_path / "rpn"))
    with pytest.raises(UserError, match="a checkpoint of tiny_siamfc, not tiny_siamrpn"):
        b.resume(str(a.last_path))


@pytest.mark.parametrize(
    "keep, left",
    [
        (0, {"checkpoint_e001.pth", "checkpoint_e002.pth", "checkpoint_e003_s000001.pth", "last.pth"}),
        (1, {"checkpoint_e002.pth", "checkpoint_e003_s000001.pth", "last.pth"}),
    ],
)
def test_pruning_drops_superseded_mid_epoch_checkpoints_and_keeps_the_last_epochs(tmp_path, keep, left):
    names = [
        "checkpoint_e001.pth",
        "checkpoint_e001_s000002.pth",
        "checkpoint_e002.pth",
        "checkpoint_e002_s000001.pth",
        "checkpoint_e003_s000001.pth",  # the epoch after the last complete one: still needed to resume
        "last.pth",
    ]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    prune_checkpoints(tmp_path, keep)
    assert {p.name for p in tmp_path.iterdir()} == left


def test_a_log_window_averages_its_steps_and_counts_a_non_finite_one_with_nothing_added():
    w = LogWindow()
    w.add({"finite": True, "loss": 3.0, "cls": 1.0, "loc": 2.0}, pos=4.0)
    w.add({"finite": False, "loss": float("nan"), "cls": float("nan"), "loc": float("nan")}, pos=2.0)
    assert w.n == 2
    assert w.means() == [1.5, 0.5, 1.0, 3.0]
