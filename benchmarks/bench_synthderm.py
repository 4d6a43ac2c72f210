"""How fast SynthDerm draws and writes images (goal: >= 100 images/second at 256 px, one core).

Run:  python benchmarks/bench_synthderm.py [--images 300] [--image-size 256]

Prints images/second for (1) drawing in memory with render_lesion and (2) make_synthderm, which
also encodes JPEG + PNG files and writes them to a temporary folder. Pins NumPy's BLAS to one
thread so the number is per core. The machine may be shared: run it twice, compare ratios.
"""
from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from course_lib.data.synthetic import (  # noqa: E402
    image_rng, make_synthderm, render_lesion, synthderm_labels,
)


def bench_in_memory(n_images: int, image_size: int) -> float:
    labels = synthderm_labels(n_images, "train")
    render_lesion(image_rng(0, "train", 0), 0, image_size)          # warm caches
    start = time.perf_counter()
    for index in range(n_images):
        render_lesion(image_rng(0, "train", index), int(labels[index]), image_size)
    return n_images / (time.perf_counter() - start)


def bench_to_disk(n_images: int, image_size: int) -> float:
    n_test = max(1, n_images // 4)
    n_train = n_images - n_test
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        make_synthderm(folder, n_train=n_train, n_test=n_test, image_size=image_size, seed=0)
        elapsed = time.perf_counter() - start
    return n_images / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300, help="images per measurement")
    parser.add_argument("--image-size", type=int, default=256, help="pixels per side")
    arguments = parser.parse_args()
    n_images, image_size = arguments.images, arguments.image_size
    print(f"SynthDerm, {n_images} images at {image_size} px, one BLAS thread")
    in_memory = bench_in_memory(n_images, image_size)
    print(f"  in memory (render_lesion):          {in_memory:7.1f} images/s "
          f"({1000 / in_memory:.1f} ms each)")
    to_disk = bench_to_disk(n_images, image_size)
    print(f"  to disk (make_synthderm, JPEG+PNG):  {to_disk:7.1f} images/s "
          f"({1000 / to_disk:.1f} ms each)")
    if image_size == 256:
        goal = 100.0
        print(f"  goal >= {goal:.0f} images/s in memory at 256 px: "
              f"{'met' if in_memory >= goal else 'NOT met'}")


if __name__ == "__main__":
    main()
