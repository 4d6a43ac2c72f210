"""Precise BatchNorm, measured: inference-mode vs training-mode scores after a lab-like run.

Usage::

    python benchmarks/bench_batchnorm.py                       # classifier and U-Net, 128 px
    python benchmarks/bench_batchnorm.py --task unet --epochs 8 --image-size 96

Trains each recipe twice on SynthDerm (no ImageNet weights, ``--n-train`` images of which 20 %
go to validation, the paper's optimiser and callbacks): once with momentum-0.99 BatchNorm
statistics alone (``precise_bn_batches=0``, the course before the fix) and once with
``train.PreciseBatchNorm`` (the course's default). For each run it prints

- the training loss next to the validation loss, epoch by epoch (a flat validation loss while
  the training loss falls is the symptom: the statistics lag the weights);
- the test score in inference mode (what ``predict`` and the challenge see) and in training
  mode (BatchNorm on batch statistics), AUC for the classifier and JA for the U-Net;
- the seconds spent recomputing statistics and their share of the run.

Target (the issue on BatchNorm): inference-mode score within 0.02 of training-mode, for at most
10 % more training time. Nothing here is a timed test; it prints measurements.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class TimedPreciseBatchNorm:
    """Wraps train.PreciseBatchNorm to add up the seconds spent recalibrating."""

    @staticmethod
    def make(data, max_batches):
        from course_lib import train

        class Timed(train.PreciseBatchNorm):
            seconds = 0.0

            def _recalibrate(self):
                start = time.perf_counter()
                super()._recalibrate()
                Timed.seconds += time.perf_counter() - start

        return Timed(data, max_batches)


def _scores(task, model, splits, batch_size):
    """Test score in inference mode, then in training mode (batch statistics)."""
    from course_lib import metrics

    x = splits.x_test.astype("float32")
    inference = model.predict(x, batch_size=batch_size, verbose=0)
    training = np.concatenate([np.asarray(model(x[i:i + batch_size], training=True))
                               for i in range(0, len(x), batch_size)])
    if task == "classifier":
        return tuple(metrics.classification_scores(splits.y_test, p[:, 1])["AUC"]
                     for p in (inference, training)), (inference[:, 1].mean(), training[:, 1].mean())
    truths = list(splits.m_test)
    return tuple(metrics.segmentation_scores(truths, list(p[..., 0] > 0.5))["JA"]
                 for p in (inference, training)), (inference.mean(), training.mean())


def run(task: str, profile, splits) -> dict:
    from course_lib import augment, data, train
    from course_lib.models import backbones, unet

    train.fresh_session(profile)
    size = profile.image_size
    if task == "classifier":
        model = backbones.build_classifier("mobilenet", (size, size, 3), weights=None)
        model.compile(optimizer=train.paper_optimizer(), loss="categorical_crossentropy")
        train_data = data.classification_dataset(splits.x_train, splits.y_train,
                                                 profile.batch_size,
                                                 augment=augment.tf_augment_fn(seed=profile.seed),
                                                 seed=profile.seed)
        val_data = data.classification_dataset(splits.x_val, splits.y_val, profile.batch_size,
                                               shuffle=False)
    else:
        model = unet.build_unet("mobilenet", (size, size, 3), weights=None)
        model.compile(optimizer=train.paper_optimizer(), loss=unet.segmentation_loss("bce_dice"))
        train_data = data.segmentation_dataset(splits.x_train, splits.m_train, profile.batch_size,
                                               augment=augment.tf_augment_fn(seed=profile.seed),
                                               seed=profile.seed)
        val_data = data.segmentation_dataset(splits.x_val, splits.m_val, profile.batch_size,
                                             shuffle=False)
    batches = profile.precise_bn_batches
    callback = TimedPreciseBatchNorm.make(train_data, batches) if batches else None
    # the callback is passed explicitly (timed); the profile's own is switched off
    plain = dataclasses.replace(profile, precise_bn_batches=0)
    start = time.perf_counter()
    history = train.fit(model, train_data, val_data, profile=plain,
                        name=f"bench-bn-{task}-{batches}", fresh=True, verbose=0,
                        epochs=profile.seg_epochs if task == "unet" else profile.epochs,
                        extra_callbacks=[callback] if callback else [])
    seconds = time.perf_counter() - start
    (inference, training), (mean_inf, mean_train) = _scores(task, model, splits,
                                                              profile.batch_size)
    return {"history": history.history, "seconds": seconds,
            "bn_seconds": type(callback).seconds if callback else 0.0,
            "inference": inference, "training": training,
            "mean_inference": float(mean_inf), "mean_training": float(mean_train)}


def report(task: str, label: str, result: dict) -> None:
    metric = "AUC" if task == "classifier" else "JA"
    print(f"\n{task}, {label}")
    print("  epoch  train loss  val loss")
    for epoch, (loss, val) in enumerate(zip(result["history"]["loss"],
                                            result["history"]["val_loss"]), start=1):
        print(f"  {epoch:5d}  {loss:10.4f}  {val:8.4f}")
    gap = result["training"] - result["inference"]
    print(f"  test {metric}: inference mode {result['inference']:.3f}, training mode "
          f"{result['training']:.3f} (gap {gap:+.3f}; mean output {result['mean_inference']:.3f} "
          f"vs {result['mean_training']:.3f})")
    share = result["bn_seconds"] / max(result["seconds"] - result["bn_seconds"], 1e-9)
    print(f"  run {result['seconds']:.0f} s, of which recomputing BatchNorm statistics "
          f"{result['bn_seconds']:.1f} s (+{100 * share:.1f} %)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("classifier", "unet", "both"), default="both")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--n-train", type=int, default=180, help="SynthDerm training images "
                        "(80 %% train, 20 %% validation)")
    parser.add_argument("--n-test", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bn-batches", type=int, default=4)
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="bench-bn-")  # data and runs of its own: nothing shared
    os.environ.setdefault("COURSE_RUNS_DIR", str(Path(scratch) / "runs"))
    os.environ.setdefault("COURSE_DATA_DIR", str(Path(scratch) / "data"))
    from course_lib import config, data

    base = dataclasses.replace(
        config.get_profile("smoke"), name="bench-bn", image_size=args.image_size,
        n_train=args.n_train, n_test=args.n_test, epochs=args.epochs, seg_epochs=args.epochs,
        batch_size=args.batch_size, synth_image_size=max(args.image_size, 96),
        run_eagerly=False)
    splits = data.load_splits(base, masks=True)
    print(f"SynthDerm: {splits.describe()}; {args.epochs} epochs, batch {args.batch_size}, "
          "no ImageNet weights, paper optimiser and callbacks")
    tasks = ("classifier", "unet") if args.task == "both" else (args.task,)
    for task in tasks:
        for batches, label in ((0, "momentum 0.99 only (before the fix)"),
                               (args.bn_batches, f"PreciseBatchNorm, {args.bn_batches} batches")):
            result = run(task, dataclasses.replace(base, precise_bn_batches=batches), splits)
            report(task, label, result)
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
