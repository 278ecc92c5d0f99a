"""Metric-learning losses on the Siamese embeddings, distractor-aware pairs, and a training step with both."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tracker.training.augment import CropAugment
from tracker.training.data import Track
from tracker.training.metric import METRIC_LOSSES, metric_loss, search_embedding, template_embedding
from tracker.training.pairs import PairConfig, PairDataset, add_distractor, identity
from tracker.training.sources import SourceMix, TrackSource


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


@pytest.mark.parametrize("kind", METRIC_LOSSES[1:])
def test_losses_are_zero_for_separated_identities_and_positive_for_swapped_ones(kind):
    za = unit([1, 0, 0], [0, 1, 0], [0, 0, 1])
    ids = torch.tensor([1, 2, 3])
    good = metric_loss(kind, za, za.clone(), ids, ids, margin=0.5)
    # search embeddings of identities 1 and 2 swapped: each anchor's positive is far, a negative near
    bad = metric_loss(kind, za, za[[1, 0, 2]].clone(), ids, ids, margin=0.5)
    assert good.item() == pytest.approx(0.0, abs=1e-6)
    assert bad.item() > 0.5


def test_triplet_batch_hard_value():
    # anchor 0: positive at distance d_ap, negatives at 1.0 and 1.3 -> max(0, d_ap - 1.0 + m)
    za = unit([1, 0])
    xs = unit([np.cos(0.6), np.sin(0.6)], [np.cos(1.0472), np.sin(1.0472)], [np.cos(1.4), np.sin(1.4)])
    d = (2 - 2 * (za @ xs.t())).sqrt()[0]
    loss = metric_loss("triplet", za, xs, torch.tensor([7]), torch.tensor([7, 8, 9]), margin=0.5)
    assert loss.item() == pytest.approx(max(0.0, d[0].item() - d[1].item() + 0.5), rel=1e-5)
    # semi-hard: the nearest negative farther than the positive; here the hardest is already farther
    semi = metric_loss("triplet_semi", za, xs, torch.tensor([7]), torch.tensor([7, 8, 9]), margin=0.5)
    assert semi.item() == pytest.approx(loss.item(), rel=1e-5)


def test_semi_hard_skips_negatives_nearer_than_the_positive():
    za = unit([1, 0])
    xs = unit([np.cos(0.8), np.sin(0.8)], [np.cos(0.3), np.sin(0.3)], [np.cos(1.0), np.sin(1.0)])
    d = (2 - 2 * (za @ xs.t())).sqrt()[0]
    ids = torch.tensor([1, 2, 3])
    semi = metric_loss("triplet_semi", za, xs, torch.tensor([1]), ids, margin=0.5)
    hard = metric_loss("triplet", za, xs, torch.tensor([1]), ids, margin=0.5)
    assert semi.item() == pytest.approx(d[0].item() - d[2].item() + 0.5, rel=1e-5)
    assert hard.item() == pytest.approx(d[0].item() - d[1].item() + 0.5, rel=1e-5)


def test_quadruplet_adds_the_negative_pair_term():
    za = unit([1, 0, 0])
    xs = unit([0.6, 0.8, 0], [0, 1, 0], [0, 0.9, 0.1])  # the two negatives nearly coincide
    ids = torch.tensor([1, 2, 3])
    trip = metric_loss("triplet", za, xs, torch.tensor([1]), ids)
    quad = metric_loss("quadruplet", za, xs, torch.tensor([1]), ids)
    assert quad.item() > trip.item()


def test_embeddings_sample_the_box_centre_cell():
    xf = [torch.zeros(1, 2, 5, 5)]
    xf[0][0, 0, 1, 3] = 1.0  # cell (row 1, col 3)
    # cell i sits at (crop-1)/2 + (i - 2) * stride with crop 65, stride 16: col 3 -> 48, row 1 -> 16
    e = search_embedding(xf, torch.tensor([[48.0, 16.0]]), 65, 16.0)
    assert torch.allclose(e, torch.tensor([[1.0, 0.0]]))
    t = template_embedding([torch.ones(2, 3, 4, 4)])
    assert torch.allclose(t.norm(dim=1), torch.ones(2))


def test_distractor_is_pasted_beside_the_target_never_over_it():
    img = np.full((200, 300, 3), 50, np.uint8)
    box = (130.0, 80.0, 40.0, 40.0)
    other = np.zeros((100, 100, 3), np.uint8)
    other[20:60, 30:70] = 220
    rng = np.random.default_rng(0)
    placed = 0
    for _ in range(20):
        out = add_distractor(img, box, other, (30, 20, 40, 40), rng)
        assert (out[80:120, 130:170] == 50).all()  # the target's box is untouched
        placed += int((out > 200).any())
    assert placed >= 15


def test_pairs_carry_identities_and_distractors_come_from_the_same_category(tmp_path):
    import cv2

    tracks = []
    for i, cat in enumerate(["cat", "cat", "dog"]):
        img = np.full((160, 200, 3), 30 + 60 * i, np.uint8)
        img[60:100, 80:120] = 200
        p = tmp_path / f"{i}.jpg"
        cv2.imwrite(str(p), img)
        tracks.append(Track(f"s{i}", [str(p)], [[80, 60, 40, 40]], category=cat))
    src = TrackSource("stills", tracks)
    mix = SourceMix([src])
    for k in range(10):
        img, box, key, mask = mix.sample_distractor(np.random.default_rng(k), ("stills", 0))
        assert key == ("stills", 1)  # the other cat, never itself or the dog
    still = CropAugment(shift=0.0, scale=0.0, blur=0.0, color=0.0, flip=0.0)
    ds = PairDataset(mix, PairConfig(neg=0.5, distractor=1.0, template=still, search=still), None, seed=0)
    samples = [ds.sample(0, i) for i in range(12)]
    assert any(s["negative"] for s in samples) and not all(s["negative"] for s in samples)
    for s in samples:
        assert (s["z_id"] == s["x_id"]) != s["negative"]
    assert identity(("stills", 1)) == identity(("stills", 1)) != identity(("stills", 2))


def test_training_with_a_metric_loss_and_distractors(tmp_path, shared_dir, monkeypatch):
    """Two steps of a real training run with --metric-loss triplet and --distractor: the metric term is
    computed on every step and finite, and the run writes its checkpoint and records the options."""
    import tracker.training.metric as metric
    from tracker.cli import main

    seen = []
    real = metric.metric_loss

    def spy(kind, *a, **kw):
        v = real(kind, *a, **kw)
        seen.append((kind, float(v.detach())))
        return v

    monkeypatch.setattr(metric, "metric_loss", spy)
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "siamrpn_alex_dwxcorr",
            "--data",
            f"sequences={shared_dir / 'data' / 'sequences'},range=20",
            "--val",
            "car1",
            "--val-every",
            "0",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "2",
            "--batch-size",
            "4",
            "--data-workers",
            "0",
            "--no-pretrained",
            "--metric-loss",
            "triplet",
            "--metric-weight",
            "0.5",
            "--distractor",
            "0.5",
            "--out-dir",
            str(out),
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0 and (out / "checkpoint_e001.pth").is_file()
    assert len(seen) == 2 and all(k == "triplet" and np.isfinite(v) for k, v in seen)
    import yaml

    rec = yaml.safe_load((out / "recipe.yaml").read_text())
    assert rec["metric_loss"] == "triplet" and rec["distractor"] == 0.5


def test_sources_of_one_folder_name_get_distinct_names(tmp_path):
    """Two training folders both called 'sequences' (the shared data's sequences/ and train/sequences/) are
    two sources with two names, so track keys (identities, negatives, distractors) never mix them up."""
    import cv2

    from tracker.training.source_spec import SourceSpec
    from tracker.training.sources import build_mix

    for root, n in ((tmp_path / "a" / "sequences", 1), (tmp_path / "b" / "sequences", 3)):
        for i in range(n):
            d = root / f"s{i}" / "img"
            d.mkdir(parents=True)
            cv2.imwrite(str(d / "0001.jpg"), np.zeros((40, 40, 3), np.uint8))
            (d.parent / "groundtruth_rect.txt").write_text("5,5,10,10\n")
    mix = build_mix(
        [
            SourceSpec("sequences", str(tmp_path / "a" / "sequences")),
            SourceSpec("sequences", str(tmp_path / "b" / "sequences")),
        ]
    )
    names = [s.name for s in mix.sources]
    assert len(set(names)) == 2
    img, box, key, mask = mix.sample_distractor(np.random.default_rng(0), (names[1], 2))
    assert key[0] == names[1] and key[1] in (0, 1)
