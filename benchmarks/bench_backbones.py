"""Parameters, compute and CPU speed of the five Table III backbones (03_lightweight_cnns).

Usage::

    python benchmarks/bench_backbones.py                      # 128 and 224 px, all five
    python benchmarks/bench_backbones.py --sizes 224 --models mobilenet densenet121
    python benchmarks/bench_backbones.py --profiler           # also TensorFlow's own FLOP count

For each backbone classifier (``course_lib.models.build_classifier``, random weights, two classes)
and image size it prints:

- total parameters (Table III's convention; independent of the image size);
- MACs per image, counted from the layer shapes (output positions x kernel weights for every
  Conv2D / DepthwiseConv2D / SeparableConv2D, kernel weights for every Dense) -- the analytic
  count notebook 03 teaches; FLOPs are about 2 x MACs;
- with ``--profiler``: the float operations TensorFlow's profiler counts in the frozen inference
  graph (multiplies and adds separately, plus batch norm, biases and activations), a cross-check;
- CPU latency of one image (batch 1, median of ``--repeats`` calls after a warm-up that traces the
  graph) and throughput at batch ``--batch-size`` (images per second), both under ``tf.function``
  on ``/CPU:0``.

Timings depend on the machine and on everything else running on it: compare rows of one run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import course_lib  # noqa: E402,F401 -- sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads


def count_macs(model) -> int:
    """Multiply-accumulates of one forward pass on one image (conv and dense layers only)."""
    from keras import layers

    total = 0
    for layer in model.layers:
        kernel = sum(int(np.prod(w.shape)) for w in layer.weights if w.path.endswith("kernel"))
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)):
            height, width = layer.output.shape[1:3]
            total += height * width * kernel
        elif isinstance(layer, layers.Dense):
            total += kernel
    return total


def profiler_flops(model, size: int) -> int:
    """Float operations of the frozen inference graph, as tf.compat.v1.profiler counts them."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    spec = tf.TensorSpec((1, size, size, 3), tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(),
                                         cmd="op", options=options)
    return int(info.total_float_ops)


def time_calls(function, argument, repeats: int) -> float:
    """Median seconds of ``function(argument)`` after one warm-up call."""
    function(argument).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(argument).numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv=None) -> int:
    from course_lib.models import BACKBONES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224],
                        help="square image sides in pixels (default: 128 224)")
    parser.add_argument("--models", nargs="+", default=list(BACKBONES), choices=BACKBONES,
                        help="backbones to measure (default: all five)")
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed calls per measurement after the warm-up (default 20)")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="batch size of the throughput measurement (default 16)")
    parser.add_argument("--profiler", action="store_true",
                        help="also count FLOPs with TensorFlow's profiler (slower)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch_size < 1 or min(args.sizes) < 32:
        parser.error("--repeats and --batch-size must be >= 1 and every size >= 32")

    import keras
    import tensorflow as tf

    from course_lib.models import build_classifier

    tf.get_logger().setLevel("ERROR")  # the v1 profiler prints deprecation notices otherwise

    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} logical "
          f"CPU cores; median of {args.repeats} calls, tf.function on /CPU:0, random weights")
    header = (f"{'model':<12} {'size':>5} {'params':>11} {'MACs':>9} {'FLOPs~2xMACs':>13}"
              + (f" {'profiler FLOPs':>15}" if args.profiler else "")
              + f" {'latency b=1':>12} {'throughput b=' + str(args.batch_size):>16} {'build+trace':>12}")
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        for name in args.models:
            keras.backend.clear_session()
            with tf.device("/CPU:0"):
                start = time.perf_counter()
                model = build_classifier(name, input_shape=(size, size, 3))
                forward = tf.function(lambda x: model(x, training=False))
                one = tf.constant(np.full((1, size, size, 3), 128.0, np.float32))
                batch = tf.constant(np.full((args.batch_size, size, size, 3), 128.0, np.float32))
                forward(one).numpy()
                setup = time.perf_counter() - start
                latency = time_calls(forward, one, args.repeats)
                per_batch = time_calls(forward, batch, max(3, args.repeats // 4))
            macs = count_macs(model)
            row = (f"{name:<12} {size:>5} {model.count_params():>11,} {macs / 1e6:>7.1f} M "
                   f"{2 * macs / 1e9:>11.3f} G")
            if args.profiler:
                row += f" {profiler_flops(model, size) / 1e9:>13.3f} G"
            row += (f" {1000 * latency:>9.1f} ms {args.batch_size / per_batch:>10.1f} img/s "
                    f"{setup:>10.1f} s")
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
