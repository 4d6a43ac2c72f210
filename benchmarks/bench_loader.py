"""What checking every file costs when ISIC 2016 is read: load_isic2016 on a folder of the full
size (900 + 379 JPEGs at 1024x768, with masks), checks on vs the bare folder listing.

Usage::

    python benchmarks/bench_loader.py            # builds the fixture in a temporary folder
    python benchmarks/bench_loader.py --n 200    # a quicker, smaller run

load_isic2016 parses every JPEG header, looks for the end-of-image marker (a download cut
short lacks it) and compares every mask's size with its image's, all without decoding pixels.
Goal (the data-layer issue): under a second or two for 1,279 files, and within 2x of the
loader without the checks. Uses the 28 real samples in ../shared/samples too when present.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SAMPLES = REPO.parent / "shared" / "samples" / "isic2016"


def build(root: Path, n_train: int, n_test: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    mask = np.zeros((768, 1024), np.uint8)
    mask[200:500, 300:700] = 255
    words = {"train": "Training", "test": "Test"}
    for split, n in (("train", n_train), ("test", n_test)):
        images = root / f"ISBI2016_ISIC_Part1_{words[split]}_Data"
        masks = root / f"ISBI2016_ISIC_Part1_{words[split]}_GroundTruth"
        images.mkdir(parents=True)
        masks.mkdir(parents=True)
        first = Image.fromarray(pixels)
        first.save(images / "template.jpg", quality=90)
        Image.fromarray(mask).save(masks / "template.png")
        jpeg, png = (images / "template.jpg").read_bytes(), (masks / "template.png").read_bytes()
        (images / "template.jpg").unlink()
        (masks / "template.png").unlink()
        rows = []
        for index in range(n):
            name = f"ISIC_{index + (0 if split == 'train' else 100000):07d}"
            (images / f"{name}.jpg").write_bytes(jpeg)
            (masks / f"{name}_Segmentation.png").write_bytes(png)
            rows.append(f"{name},{'benign' if index % 5 else 'malignant'}")
        (root / f"ISBI2016_ISIC_Part3_{words[split]}_GroundTruth.csv").write_text(
            "\r\n".join(rows))
    return root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1279, help="files in all (70 %% training)")
    args = parser.parse_args(argv)
    from course_lib.data import isic2016

    n_train = round(args.n * 900 / 1279)
    with tempfile.TemporaryDirectory() as folder:
        root = build(Path(folder) / "isic2016", n_train, args.n - n_train)
        rounds = {}
        for label, patch in (("with checks", False), ("listing only", True)):
            saved = isic2016._broken_jpegs, isic2016._broken_masks
            if patch:
                isic2016._broken_jpegs = lambda *a: ({}, {})
                isic2016._broken_masks = lambda *a: {}
            best = []
            for _ in range(3):
                start = time.perf_counter()
                for split in ("train", "test"):
                    isic2016.load_isic2016(root, split)
                best.append(time.perf_counter() - start)
            isic2016._broken_jpegs, isic2016._broken_masks = saved
            rounds[label] = min(best)
            print(f"load_isic2016, {args.n} images + masks, {label}: {min(best):.2f} s "
                  "(best of 3)")
        print(f"cost of the checks: {rounds['with checks'] - rounds['listing only']:.2f} s, "
              f"ratio {rounds['with checks'] / rounds['listing only']:.1f}x")
    if SAMPLES.is_dir():
        start = time.perf_counter()
        record = isic2016.load_isic2016(SAMPLES, "train")
        print(f"real samples: {len(record)} training images checked in "
              f"{time.perf_counter() - start:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
