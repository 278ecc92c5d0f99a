"""Image folders: one listing (natural order, one extension list) for tracking, bench and training."""

import cv2
import numpy as np

from tracker.io.sources import IMAGE_EXTS, list_images, natural_key, open_source

NAMES = ["frame_1.png", "frame_2.png", "frame_10.png", "frame_11.jpg", "frame_100.JPG"]


def _folder(tmp_path):
    d = tmp_path / "img"
    d.mkdir()
    for i, name in enumerate(NAMES):
        img = np.full((8, 10, 3), i * 40, np.uint8)  # frame i has colour value i * 40
        ok, buf = cv2.imencode(".png", img)
        (d / name).write_bytes(buf.tobytes())  # PNG bytes under every name: lossless
    (d / "notes.txt").write_text("not an image")
    (d / "sub_3.png").mkdir()  # a folder named like an image is not one
    return d


def test_unpadded_frame_numbers_are_read_in_numeric_order_everywhere(tmp_path):
    from tracker.bench import dataset_formats
    from tracker.training import data

    d = _folder(tmp_path)
    assert [p.name for p in list_images(d)] == NAMES
    assert [p.name for p in dataset_formats.list_images(d)] == NAMES
    assert [p.split("/")[-1] for p in data.list_images(d)] == NAMES
    with open_source(str(d)) as src:
        got = [(i, int(f[0, 0, 0])) for i, f in src]
    assert got == [(i, i * 40) for i in range(len(NAMES))]


def test_one_extension_list():
    from tracker.bench import dataset_formats
    from tracker.training import data

    assert dataset_formats.IMAGE_EXTS is IMAGE_EXTS and data.IMAGE_EXTS is IMAGE_EXTS
    assert {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"} <= set(IMAGE_EXTS)


def test_natural_key_orders_numbers_by_value_and_ignores_case():
    names = ["b10", "B2", "a", "b1", "a01x", "a1y"]
    assert sorted(names, key=natural_key) == ["a", "a01x", "a1y", "b1", "B2", "b10"]


def test_a_missing_folder_lists_no_images(tmp_path):
    assert list_images(tmp_path / "missing") == []
