"""How much the load_arrays cache saves: first (decode + write cache) vs second (read cache) load.

Usage::

    python benchmarks/bench_cache.py                 # real samples if present, else a fixture
    python benchmarks/bench_cache.py --fixture --n 60 --image-size 224

Uses the 28 real ISIC 2016 samples in ../shared/samples/isic2016 when that folder exists
(full-resolution JPEGs, no masks), otherwise generates ``--n`` 1024x768 JPEGs with masks in
a temporary folder. The cache goes to a temporary COURSE_DATA_DIR, so nothing is left behind.
Goal: the second load is at least 10x faster.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples" / "isic2016"


def make_fixture(root: Path, n: int, size=(1024, 768)) -> Path:
    """``n`` noisy 1024x768 JPEGs with masks and labels in the official training layout."""
    from PIL import Image

    rng = np.random.default_rng(0)
    images = root / "ISBI2016_ISIC_Part1_Training_Data"
    masks = root / "ISBI2016_ISIC_Part1_Training_GroundTruth"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    rows = []
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    for index in range(n):
        name = f"ISIC_{index:07d}"
        base = rng.integers(60, 200, 3)
        pixels = np.clip(base + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(images / f"{name}.jpg", quality=90)
        radius = rng.uniform(0.15, 0.4) * height
        mask = ((yy - height / 2) ** 2 + (xx - width / 2) ** 2 < radius ** 2) * 255
        Image.fromarray(mask.astype(np.uint8)).save(masks / f"{name}_Segmentation.png")
        rows.append(f"{name},{'malignant' if index % 5 == 0 else 'benign'}")
    (root / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv").write_bytes("\r\n".join(rows).encode())
    return root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", action="store_true", help="use a generated fixture even if "
                        "the real samples are present")
    parser.add_argument("--n", type=int, default=40, help="fixture images (default 40)")
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as temporary:
        os.environ["COURSE_DATA_DIR"] = str(Path(temporary) / "data")
        sys.path.insert(0, str(REPO))
        from course_lib.data import load_arrays, load_isic2016

        if SAMPLES.is_dir() and not args.fixture:
            root, source = SAMPLES, f"real ISIC 2016 samples ({SAMPLES})"
        else:
            root = make_fixture(Path(temporary) / "fixture", args.n)
            source = f"generated fixture, {args.n} JPEGs 1024x768 with masks"
        record = load_isic2016(root, "train")
        print(f"source: {source}")
        print(f"record: {record}")

        start = time.perf_counter()
        images, masks = load_arrays(record, args.image_size)
        first = time.perf_counter() - start
        start = time.perf_counter()
        images_again, masks_again = load_arrays(record, args.image_size)
        second = time.perf_counter() - start

        assert np.array_equal(images, images_again)
        assert (masks is None and masks_again is None) or np.array_equal(masks, masks_again)
        ratio = first / second
        print(f"image_size {args.image_size}: images {images.shape}, masks "
              f"{None if masks is None else masks.shape}")
        print(f"first load (decode + write cache): {first:8.3f} s  "
              f"({len(record) / first:.1f} images/s)")
        print(f"second load (cache hit):           {second:8.3f} s")
        print(f"speed-up: {ratio:.0f}x  (goal >= 10x: {'met' if ratio >= 10 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
