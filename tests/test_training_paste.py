"""`--paste`: a positive pair's target pasted onto another image of the mix (the template's context is no
help), with its box following exactly."""

from __future__ import annotations

import numpy as np

from tracker.training.augment import CropAugment
from tracker.training.pairs import PairConfig, PairDataset, paste_target
from tracker.training.sources import SourceMix


def test_pasted_target_keeps_its_pixels_inside_and_background_outside():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    bg = np.full((200, 300, 3), 40, np.uint8)
    box = (30.0, 20.0, 50.0, 40.0)
    out, nb = paste_target(img, box, bg, np.random.default_rng(1))
    x, y = int(nb[0]), int(nb[1])
    assert nb[2:].tolist() == [50.0, 40.0] and nb[0] == x and nb[1] == y
    assert 0 <= x and x + 50 <= 300 and 0 <= y and y + 40 <= 200
    # the centre (inside the feathered edge) is the target exactly, nothing outside the box changed
    np.testing.assert_array_equal(out[y + 8 : y + 32, x + 8 : x + 42], img[28:52, 38:72])
    mask = np.ones(out.shape[:2], bool)
    mask[y : y + 40, x : x + 50] = False
    assert (out[mask] == 40).all()
    # the edge blends: the outermost pixels lie between target and background
    edge = out[y, x : x + 50].astype(int)
    assert np.abs(edge - 40).max() < np.abs(img[20, 30:80].astype(int) - 40).max()


def test_sub_pixel_box_position_is_kept():
    img = np.zeros((100, 100, 3), np.uint8)
    out, nb = paste_target(img, (10.4, 20.7, 30.0, 25.5), np.zeros((150, 150, 3), np.uint8), np.random.default_rng(3))
    assert abs((nb[0] % 1) - 0.4) < 1e-9 and abs((nb[1] % 1) - 0.7) < 1e-9


def test_target_that_does_not_fit_is_not_pasted():
    img = np.zeros((100, 100, 3), np.uint8)
    assert paste_target(img, (0, 0, 90, 90), np.zeros((80, 200, 3), np.uint8), np.random.default_rng(0)) is None
    assert paste_target(img, (5, 5, 2, 30), np.zeros((80, 200, 3), np.uint8), np.random.default_rng(0)) is None


class TwoImages:
    """Track 0: a white square on black; track 1: a plain grey image (the background)."""

    name, weight = "two", 1.0

    def __init__(self):
        a = np.zeros((240, 320, 3), np.uint8)
        a[100:140, 140:180] = 255
        self.items = [
            (a, np.array([140.0, 100.0, 40.0, 40.0])),
            (np.full((240, 320, 3), 90, np.uint8), np.array([10.0, 10.0, 20.0, 20.0])),
        ]

    def __len__(self):
        return 2

    def sample_pair(self, rng):
        img, box = self.items[0]
        return img, box, img, box, (self.name, 0)

    def sample_single(self, rng):
        i = int(rng.integers(2))
        return (*self.items[i], (self.name, i))


def test_paste_pairs_put_the_target_on_another_image_and_label_it_there():
    still = CropAugment(shift=0.0, scale=0.0, blur=0.0, color=0.0, flip=0.0)
    cfg = PairConfig(exemplar_size=31, search_size=63, neg=0.0, paste=1.0, template=still, search=still)
    ds = PairDataset(SourceMix([TwoImages()]), cfg, None, seed=2)
    for i in range(10):
        s = ds.sample(0, i)
        x, xb = s["x"], s["x_box"]
        # the search crop shows grey (the other image) around the square, never the black of its own frame
        assert (x == 0).sum() == 0
        bright = x[..., 0] > 200
        ys, xs = np.nonzero(bright)
        # x_box is x1, y1, x2, y2 in crop pixels
        assert abs((xs.min() + xs.max()) / 2 - (xb[0] + xb[2]) / 2) < 2.5
        assert abs((ys.min() + ys.max()) / 2 - (xb[1] + xb[3]) / 2) < 2.5
    # with paste=0 the sampler draws exactly as before (no extra random draw)
    plain = PairDataset(
        SourceMix([TwoImages()]),
        PairConfig(exemplar_size=31, search_size=63, neg=0.0, template=still, search=still),
        None,
        2,
    )
    assert (plain.sample(0, 0)["x"] == 0).sum() > 0


def test_mask_paste_moves_only_the_object():
    """With a mask, only the object's pixels arrive: the box's corners (background in the source image)
    stay the new background."""
    img = np.full((100, 100, 3), 10, np.uint8)
    mask = np.zeros((100, 100), np.uint8)
    yy, xx = np.mgrid[:100, :100]
    disc = (yy - 50) ** 2 + (xx - 50) ** 2 <= 20**2
    img[disc] = 250
    mask[disc] = 255
    bg = np.full((200, 200, 3), 100, np.uint8)
    out, nb = paste_target(img, (30.0, 30.0, 41.0, 41.0), bg, np.random.default_rng(0), mask=mask)
    x, y = int(nb[0]), int(nb[1])
    assert (out[y, x] == 100).all() and (out[y + 40, x + 40] == 100).all()  # corners: background
    assert (out[y + 20, x + 20] == 250).all()  # centre: the object
    assert not (out == 10).all(axis=2).any()  # nothing of the old background
