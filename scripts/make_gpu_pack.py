#!/usr/bin/env python
"""Copy of ../shared small enough to travel to a device machine with the working tree (64 MiB in all).

Writes DEST/shared/ (default .gpu/shared; add `/.gpu/` to .git/info/exclude and name `.gpu` in the run's
carry list), then `SHARED_PACK=.gpu bash scripts/train_gpu.sh` links it as ../shared there:
- the seven training sequences, every frame re-encoded as JPEG quality 50 (same frames, same boxes);
- car1 (first 41 frames) and BMX3 (first 40) unchanged, for the CUDA speed benchmark and CUDA parity;
  the validation split itself never travels (so it cannot be trained on);
- still/ unchanged; Megamind.avi and oneperson.mp4 unchanged; vtest.avi as every third frame at 3/4 size;
- the parity fixture pysot_alex_dwxcorr_w05.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2

TRAIN = ["ball1", "boat1", "car16_1", "person12_1", "person9", "truck4_2", "wakeboard7"]
ORIGINAL_PREFIX = {"car1": 41, "BMX3": 40}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--dest", default=".gpu")
    args = ap.parse_args()
    src, dst = Path(args.shared), Path(args.dest) / "shared"
    if dst.exists():
        shutil.rmtree(dst)
    seq_src, seq_dst = src / "data" / "sequences", dst / "data" / "sequences"
    for name in TRAIN:
        (seq_dst / name / "img").mkdir(parents=True)
        for f in ("groundtruth_rect.txt", "origin.json"):
            if (seq_src / name / f).exists():
                shutil.copy(seq_src / name / f, seq_dst / name / f)
        for f in sorted((seq_src / name / "img").iterdir()):
            cv2.imwrite(str(seq_dst / name / "img" / f.name), cv2.imread(str(f)), [cv2.IMWRITE_JPEG_QUALITY, 50])
    for name, n in ORIGINAL_PREFIX.items():
        (seq_dst / name / "img").mkdir(parents=True)
        lines = (seq_src / name / "groundtruth_rect.txt").read_text().splitlines()[:n]
        (seq_dst / name / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
        for f in sorted((seq_src / name / "img").iterdir())[:n]:
            shutil.copy(f, seq_dst / name / "img" / f.name)
    shutil.copytree(src / "data" / "still", dst / "data" / "still")
    (dst / "data" / "videos").mkdir(parents=True)
    for v in ("Megamind.avi", "oneperson.mp4"):
        shutil.copy(src / "data" / "videos" / v, dst / "data" / "videos" / v)
    cap = cv2.VideoCapture(str(src / "data" / "videos" / "vtest.avi"))
    ok, frame = cap.read()
    size = (frame.shape[1] // 4 * 3, frame.shape[0] // 4 * 3)
    out = cv2.VideoWriter(str(dst / "data" / "videos" / "vtest.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, size)
    i = 0
    while ok:
        if i % 3 == 0:
            out.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        ok, frame = cap.read()
        i += 1
    out.release()
    shutil.copytree(src / "parity" / "pysot_alex_dwxcorr_w05", dst / "parity" / "pysot_alex_dwxcorr_w05")
    total = sum(f.stat().st_size for f in dst.rglob("*") if f.is_file())
    print(f"{dst}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
