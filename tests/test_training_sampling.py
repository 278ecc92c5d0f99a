"""Pair sampling and augmentation: the crop geometry is the tracker's, the spatially aware shift is uniform
in ±SHIFT and moves the target (and its box) by exactly -shift/scale, flips and grays do what they say, and
a sample is a pure function of (seed, epoch, index)."""

import cv2
import numpy as np

from tracker.geometry import context_size, subwindow, xywh_to_center
from tracker.training.augment import CropAugment, augmented_crop
from tracker.training.pairs import PairConfig, PairDataset, StepBatchSampler
from tracker.training.sources import SourceMix


def square_image(box, size=(240, 320)):
    img = np.zeros((*size, 3), np.uint8)
    x, y, w, h = box
    img[y : y + h, x : x + w] = 255
    return img


def bright_extent(crop):
    ys, xs = np.nonzero(crop[..., 0] > 127)
    return np.array([xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5])


def test_unaugmented_crop_is_the_trackers_crop():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (200, 260, 3), dtype=np.uint8), (0, 0), 3)
    box = (100, 70, 40, 30)
    crop, corners, _ = augmented_crop(img, box, 255, 127, 0.5, CropAugment(), rng, pad=(0, 0, 0))
    c, (w, h) = xywh_to_center(box)
    s_x = round(context_size(w, h, 0.5) * 255 / 127)
    ref = subwindow(img, c, 255, s_x, (0, 0, 0))
    # same window up to the rounding of the crop side and interpolation: images nearly identical
    assert np.abs(crop.astype(float) - ref.astype(float))[20:-20, 20:-20].mean() < 4.0
    # the target centre lands on the crop centre, its size scaled by 127 / s_z
    scale = 127 / context_size(w, h, 0.5)
    assert np.allclose(corners, [127 - 20 * scale, 127 - 15 * scale, 127 + 20 * scale, 127 + 15 * scale], atol=1e-3)


def test_shift_moves_the_target_and_its_box_exactly():
    box = (140, 100, 40, 40)
    img = square_image(box)
    aug = CropAugment(shift=64, scale=0.18, flip=0.5)
    for seed in range(12):
        crop, corners, info = augmented_crop(img, box, 255, 127, 0.5, aug, np.random.default_rng(seed))
        ext = bright_extent(crop)
        assert np.allclose(ext, corners, atol=1.5), (seed, ext, corners)
        centre = (corners[:2] + corners[2:]) / 2 - 127
        expect = -info["shift"] / info["jitter"]
        if info["flip"]:
            expect[0] = -expect[0]
        assert np.allclose(centre, expect, atol=1e-3)


def test_shift_distribution_is_uniform_within_the_limit():
    img = square_image((60, 40, 20, 20), (100, 140))
    aug = CropAugment(shift=64)
    rng = np.random.default_rng(1)
    offsets = np.array(
        [augmented_crop(img, (60, 40, 20, 20), 127, 127, 0.5, aug, rng, pad=(0, 0, 0))[1] for _ in range(1200)]
    )
    centres = (offsets[:, :2] + offsets[:, 2:]) / 2 - 63
    assert np.abs(centres).max() <= 64 + 1e-3
    assert np.abs(centres).max() > 62  # the whole range is used
    for axis in range(2):
        v = centres[:, axis]
        assert abs(v.mean()) < 3.0
        assert abs(v.std() - 64 / np.sqrt(3)) < 2.0  # uniform on [-64, 64]
        hist, _ = np.histogram(v, bins=8, range=(-64, 64))
        assert hist.min() > 0.75 * len(v) / 8 and hist.max() < 1.25 * len(v) / 8
    assert abs(np.corrcoef(centres.T)[0, 1]) < 0.1  # axes independent


def test_gray_pair_and_flip():
    box = (140, 100, 60, 30)
    img = square_image(box)
    img[..., 2] = 200  # coloured background
    crop, corners, info = augmented_crop(
        img, box, 127, 127, 0.5, CropAugment(flip=1.0), np.random.default_rng(0), gray=True
    )
    assert info["gray"] and info["flip"]
    assert (crop[..., 0] == crop[..., 1]).all() and (crop[..., 1] == crop[..., 2]).all()
    assert np.allclose(bright_extent(crop), corners, atol=1.5)


class StillSource:
    """In-memory stills: track i is a bright square at a known place (fast, no files)."""

    name = "mem"
    weight = 1.0

    def __init__(self, n=6):
        self.items = [
            (square_image((60 + 10 * i, 50, 30, 30), (160, 200)), np.array([60 + 10 * i, 50, 30, 30.0]))
            for i in range(n)
        ]

    def __len__(self):
        return len(self.items)

    def sample_pair(self, rng):
        i = int(rng.integers(len(self.items)))
        return (*self.items[i], *self.items[i], (self.name, i))

    def sample_single(self, rng):
        i = int(rng.integers(len(self.items)))
        return (*self.items[i], (self.name, i))


def small_dataset(neg=0.2, seed=5):
    cfg = PairConfig(exemplar_size=31, search_size=63, neg=neg)
    return PairDataset(SourceMix([StillSource()]), cfg, None, seed=seed)


def test_samples_are_a_pure_function_of_seed_epoch_index():
    ds = small_dataset()
    a, b, c = ds[(0, 3)], ds[(0, 3)], ds[(1, 3)]
    assert all(np.array_equal(a[k], b[k]) for k in ("z", "x", "x_box", "shift"))
    assert not np.array_equal(a["shift"], c["shift"])
    assert not np.array_equal(small_dataset(seed=6)[(0, 3)]["shift"], a["shift"])


def test_negative_pair_probability():
    ds = small_dataset(neg=0.3)
    negs = [ds.sample(0, i)["negative"] for i in range(300)]
    assert abs(np.mean(negs) - 0.3) < 0.08


def test_ranks_take_disjoint_slices_of_each_step():
    r0 = list(StepBatchSampler(0, 3, 2, rank=0, world=2))
    r1 = list(StepBatchSampler(0, 3, 2, rank=1, world=2))
    idx0 = {k for b in r0 for k in b}
    idx1 = {k for b in r1 for k in b}
    assert not idx0 & idx1 and len(idx0 | idx1) == 12
    # resuming at step 2 yields exactly the tail of the full sequence
    assert list(StepBatchSampler(0, 3, 2, rank=1, world=2, start=2)) == r1[2:]
