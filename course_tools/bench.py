"""Is the input pipeline keeping the model busy? Training throughput, model only vs full pipeline.

Not taught in a notebook: ``course bench`` runs it (README, "GPU"; docs/GPU.md). One run, on one
compiled model, measures **model only** (synthetic tensors in memory), **full pipeline** (SynthDerm
images through :func:`course_lib.data.classification_dataset` with
:func:`course_lib.augment.tf_augment_fn`) and **input alone** (the pipeline without a model), and
their ratio pipeline / model only (goal >= 0.9). Throughputs are images/s from the median step
time after one warm-up step, the two measurements alternating so that load from another process
skews neither. On a GPU it also measures mixed precision, XLA and MirroredStrategy (on a CPU
only with ``course bench --cpu-variants``: they are slower there, so this only checks the code).
"""
from __future__ import annotations

import json
import math
import statistics
import time
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from course_lib import config

__all__ = ["MODELS", "run_benchmark", "format_benchmark", "synthderm_arrays", "tiny_classifier",
           "notebook_times", "format_notebook_times", "estimate_training_memory",
           "memory_table", "MEMORY_MODELS", "save_benchmark"]

#: Models ``course bench --model`` accepts: the Table III backbones and "tiny" (two small
#: convolutions, for tests and quick checks of the pipeline).
MODELS = ("tiny", "squeezenet", "shufflenet", "resnet18", "mobilenet", "densenet121")
GPU_SKIPPED = "skipped: no GPU"


# --- Inputs and models ---
def _check_positive(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def synthderm_arrays(n_images: int, image_size: int, seed: int = 0):
    """``n_images`` SynthDerm training images rendered in memory at ``image_size`` (uint8,
    ``(n, s, s, 3)``) and their labels (ISIC 2016's melanoma ratio), without touching the disk."""
    from course_lib.data import synthetic

    n_images = _check_positive("n_images", n_images)
    labels = synthetic.synthderm_labels(n_images, "train")
    images = np.stack([synthetic.render_lesion(synthetic.image_rng(seed, "train", i),
                                               int(labels[i]), image_size)[0]
                       for i in range(n_images)])
    return images, labels


def tiny_classifier(image_size: int):
    """Two convolutions and a softmax, with the course's input convention (float RGB in
    [0, 255], rescaled inside the model). Builds and traces in about a second."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(2, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny")


def _build(model_name: str, image_size: int, jit_compile: bool = False):
    from course_lib import train
    from course_lib.models import build_classifier

    model = (tiny_classifier(image_size) if model_name == "tiny"
             else build_classifier(model_name, (image_size, image_size, 3), weights=None))
    model.compile(optimizer=train.paper_optimizer(), loss="categorical_crossentropy",
                  jit_compile=jit_compile)
    return model


# --- Timing ---
def _step_seconds(model, dataset, steps: int) -> list[float]:
    """Seconds of each of ``steps`` training steps after one warm-up step, in one ``fit``."""
    import keras

    marks = {}

    class _StepClock(keras.callbacks.Callback):
        # Keras turns the logs into Python numbers before calling a batch hook, so the step has
        # finished on the device when it runs.
        def on_train_batch_end(self, batch, logs=None):
            marks[batch] = time.perf_counter()

    model.fit(dataset, epochs=1, steps_per_epoch=steps + 1, verbose=0, shuffle=False,
              callbacks=[_StepClock()])
    # From the end of the warm-up step (0) on: fit's own start-up and tear-down are left out.
    return [marks[step] - marks[step - 1] for step in range(1, steps + 1)]


def _throughput(step_seconds: list[float], batch_size: int) -> float:
    """Images/s from the MEDIAN step time: robust to a step slowed by another process."""
    return batch_size / statistics.median(step_seconds)


def _timed_fit(model, dataset, steps: int, batch_size: int) -> float:
    """Images/s of ``steps`` training steps after one warm-up step (median step time)."""
    return _throughput(_step_seconds(model, dataset, steps), batch_size)


def _input_only(dataset, steps: int, batch_size: int) -> float:
    iterator = iter(dataset)
    next(iterator)  # warm-up: fills the shuffle buffer, starts the prefetch threads
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        next(iterator)
        seconds.append(time.perf_counter() - start)
    return _throughput(seconds, batch_size)


def _model_only_dataset(batch_size: int, image_size: int, seed: int):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (batch_size, image_size, image_size, 3)).astype(np.float32)
    targets = np.eye(2, dtype=np.float32)[rng.integers(0, 2, batch_size)]
    # One batch in memory, repeated: no input work at all during training.
    return tf.data.Dataset.from_tensor_slices((images, targets)).batch(batch_size).cache().repeat()


def _gpu_variants(model_name, image_size, batch_size, steps, seed, verbose) -> dict:
    """Model-only throughput with mixed precision, XLA, both, and under MirroredStrategy."""
    import keras
    import tensorflow as tf

    from tensorflow.python.framework.config import is_op_determinism_enabled

    variants = {}
    dataset = _model_only_dataset(batch_size, image_size, seed)
    # Keras compiles without XLA (with a warning) while op determinism is on: say so.
    xla = "XLA (jit_compile)" + (" -- ignored: TF op determinism is on"
                                 if is_op_determinism_enabled() else "")
    for label, policy, jit in (("mixed precision (mixed_float16)", "mixed_float16", False),
                               (xla, "float32", True),
                               ("mixed precision + " + xla, "mixed_float16", True)):
        keras.mixed_precision.set_global_policy(policy)
        try:
            keras.utils.set_random_seed(seed)
            with warnings.catch_warnings():  # the label already says when XLA is ignored
                warnings.filterwarnings("ignore", message=".*support `jit_compile=True`.*")
                model = _build(model_name, image_size, jit)
                variants[label] = _timed_fit(model, dataset, steps, batch_size)
        except Exception as err:  # noqa: BLE001 - a variant that fails is reported, not fatal
            variants[label] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
        finally:
            keras.mixed_precision.set_global_policy("float32")
        if verbose:
            print(f"  {label}: {_text(variants[label])}", flush=True)
    from course_lib import train

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        devices = [f"/gpu:{index}" for index in range(len(gpus))]
        label = f"MirroredStrategy ({len(gpus)} GPU(s), global batch {batch_size})"
    else:  # the code path only: every logical CPU (one, unless the caller configured more)
        devices = [device.name for device in tf.config.list_logical_devices("CPU")]
        label = f"MirroredStrategy ({len(devices)} CPU device(s), global batch {batch_size})"
    try:
        # Through train's one-strategy-per-process cache (a second MirroredStrategy over the
        # same devices can corrupt the gradient all-reduce); even one GPU gets a
        # MirroredStrategy, so its overhead against the plain model-only number is measured.
        with train.mirrored_strategy(devices) as strategy, strategy.scope():
            model = _build(model_name, image_size)
            variants[label] = _timed_fit(model, dataset, steps, batch_size)
    except Exception as err:  # noqa: BLE001
        variants[label] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
    if verbose:
        print(f"  {label}: {_text(variants[label])}", flush=True)
    return variants


def _text(value) -> str:
    return f"{value:.1f} images/s" if isinstance(value, float) else str(value)


def run_benchmark(image_size: int = 96, batch_size: int = 16, steps: int = 5,
                  model: str = "mobilenet", *, rounds: int = 2, n_images: int | None = None,
                  seed: int = 0, variants: bool = True, verbose: bool = True) -> dict:
    """Measure (see the module docstring) and return a dict of plain numbers and strings:
    ``model_only_images_per_s``, ``pipeline_images_per_s``, ``input_only_images_per_s``,
    ``ratio`` (pipeline / model only), ``variants`` (GPU: images/s per variant; CPU:
    ``"skipped: no GPU"``, unless ``variants="always"``, which measures them on the CPU too),
    and the setup (model, sizes, steps, device, time, seconds). ``n_images`` defaults to one
    epoch of ``steps + 1`` batches (no epoch boundary inside the timed steps); the two
    measurements alternate ``rounds`` times, each throughput from the median over all rounds.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {model!r}.")
    image_size = _check_positive("image_size", image_size, minimum=32)
    batch_size = _check_positive("batch_size", batch_size)
    steps = _check_positive("steps", steps)
    rounds = _check_positive("rounds", rounds)
    n_images = (steps + 1) * batch_size if n_images is None else _check_positive("n_images",
                                                                                 n_images)
    started = time.perf_counter()
    import keras
    import tensorflow as tf

    from course_lib import augment
    from course_lib.data import classification_dataset
    from course_lib.results import hardware_summary

    def say(text):
        if verbose:
            print(text, flush=True)

    gpus = tf.config.list_physical_devices("GPU")
    say(f"course bench: {model} at {image_size} px, batch {batch_size}, {steps} timed step(s) "
        f"after 1 warm-up step, on {'GPU' if gpus else 'CPU'}")
    keras.utils.set_random_seed(seed)
    network = _build(model, image_size)

    synthetic = _model_only_dataset(batch_size, image_size, seed)
    images, labels = synthderm_arrays(n_images, image_size, seed)
    pipeline = classification_dataset(images, labels, batch_size, shuffle=True, seed=seed,
                                      augment=augment.tf_augment_fn(seed)).repeat()
    say(f"model only = synthetic tensors in memory; full pipeline = {n_images} SynthDerm "
        f"images rendered in memory -> classification_dataset + tf_augment_fn; {rounds} "
        "interleaved round(s)")
    model_steps, pipeline_steps = [], []
    for round_number in range(rounds):
        model_steps += _step_seconds(network, synthetic, steps)
        pipeline_steps += _step_seconds(network, pipeline, steps)
        say(f"  round {round_number + 1}: model only "
            f"{_throughput(model_steps[-steps:], batch_size):.1f}, full pipeline "
            f"{_throughput(pipeline_steps[-steps:], batch_size):.1f} images/s")
    model_only = _throughput(model_steps, batch_size)
    with_pipeline = _throughput(pipeline_steps, batch_size)
    input_only = _input_only(pipeline, steps, batch_size)
    say(f"input pipeline alone: {input_only:.1f} images/s")

    if variants == "always" or (variants and gpus):
        say("GPU variants (model only)" + ("" if gpus else ", measured on the CPU: this checks "
                                           "the code path; the speed-ups are for GPUs") + ":")
        measured = _gpu_variants(model, image_size, batch_size, steps, seed, verbose)
    else:
        measured = GPU_SKIPPED if not gpus else "not requested"
        say(f"mixed precision / XLA / MirroredStrategy: {measured}")
    return {"model": model, "image_size": image_size, "batch_size": batch_size, "steps": steps,
            "rounds": rounds, "n_images": n_images, "seed": seed, "device": hardware_summary(),
            "model_only_images_per_s": model_only, "pipeline_images_per_s": with_pipeline,
            "input_only_images_per_s": input_only, "ratio": with_pipeline / model_only,
            "goal_ratio": 0.9, "variants": measured, "seconds": time.perf_counter() - started,
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def format_benchmark(result: Mapping) -> str:
    """A few human lines for a :func:`run_benchmark` result."""
    ratio = result["ratio"]
    verdict = "meets" if ratio >= result.get("goal_ratio", 0.9) else "below"
    lines = [f"model only      {result['model_only_images_per_s']:10.1f} images/s",
             f"full pipeline   {result['pipeline_images_per_s']:10.1f} images/s",
             f"input alone     {result['input_only_images_per_s']:10.1f} images/s",
             f"ratio           {ratio:10.2f}  ({verdict} the goal of "
             f"{result.get('goal_ratio', 0.9)})"]
    variants = result.get("variants")
    if isinstance(variants, Mapping):
        base = result["model_only_images_per_s"]
        for name, value in variants.items():
            gain = (f"  (x{value / base:.2f} vs model only: float32, no XLA)"
                    if isinstance(value, float) else "")
            lines.append(f"{name}: {_text(value)}{gain}")
    else:
        lines.append(f"mixed precision / XLA: {variants}")
    lines.append(f"({result['model']}, {result['image_size']} px, batch {result['batch_size']}, "
                 f"{result['steps']} steps; {result['device']}; {result['seconds']:.0f} s)")
    return "\n".join(lines)


def save_benchmark(result: Mapping, path: Path | str) -> Path:
    """Write a :func:`run_benchmark` result as JSON (``course report`` shows the one in
    ``runs/<profile>/bench.json``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in result.items()}
    config.write_atomic(path, json.dumps(clean, indent=2) + "\n")
    return path


# --- Notebook wall times (from `course run`) ---
def notebook_times(profile: str = "smoke", runs_base: Path | str | None = None) -> dict:
    """The run log ``course run`` wrote (``runs/<profile>/run_log.json``): per-notebook seconds.
    Raises FileNotFoundError saying which command writes it when there is none."""
    base = Path(runs_base).expanduser() if runs_base is not None else config.runs_dir()
    path = base / profile / "run_log.json"
    if not path.exists():
        raise FileNotFoundError(f"No run log at {path}: it is written by `course run --profile "
                                f"{profile}`; run the notebooks first.")
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); run `course run --profile "
                         f"{profile}` again to rewrite it.") from None
    log.setdefault("notebooks", [])
    log["path"] = str(path)
    return log


def format_notebook_times(log: Mapping) -> str:
    """The run log as a table: notebook, seed, status, seconds, and the total."""
    entries = list(log.get("notebooks", []))
    width = max([len("notebook")] + [len(str(e.get("name"))) for e in entries])
    lines = [f"{'notebook':<{width}}  {'seed':>4}  {'status':<6}  {'seconds':>8}  when"]
    for entry in entries:
        seed = entry.get("seed")
        lines.append(f"{entry.get('name', '?'):<{width}}  {'-' if seed is None else seed:>4}  "
                     f"{'ok' if entry.get('ok') else 'FAILED':<6}  "
                     f"{float(entry.get('seconds') or 0):8.1f}  {entry.get('time', '')}")
    total = sum(float(e.get("seconds") or 0) for e in entries)
    lines.append(f"{'total':<{width}}  {'':>4}  {'':<6}  {total:8.1f}")
    lines.append(f"(profile {log.get('profile', '?')}, "
                 f"{log.get('hardware', 'hardware not recorded')}; {log.get('path', '')})")
    return "\n".join(lines)


# --- Memory: how large a batch fits a GPU ---
def _kept_elements(model) -> int:
    """Elements per image of every layer output kept for the backward pass, once per CALL: a
    nested model counts its own layers (a DC model's shared backbone runs twice per pair, so
    it counts twice)."""
    import keras

    total = 0
    for nodes in model._nodes_by_depth.values():  # the calls that make up this graph
        for node in nodes:
            operation = node.operation
            if type(operation).__name__ == "InputLayer":
                continue
            if isinstance(operation, keras.Model) and hasattr(operation, "_nodes_by_depth"):
                total += _kept_elements(operation)
                continue
            for tensor in node.outputs:
                shape = list(tensor.shape[1:])
                if any(d is None for d in shape):
                    raise ValueError(f"Layer {operation.name} has an unknown output shape "
                                     f"{shape}; build the model with a fixed input size.")
                total += int(np.prod(shape))
    return total


def estimate_training_memory(model, batch_size: int, mixed_precision: bool = False) -> dict:
    """A rough estimate (bytes) of the GPU memory training ``model`` needs at ``batch_size``.

    Used for docs/GPU.md. Parameters: 16 bytes each (float32 weight, gradient, Adam's two
    moments). Activations: ``batch_size`` x :func:`_kept_elements` x 4 bytes (2 with mixed
    precision), plus 50 % for the backward pass's temporaries and the framework's workspace.
    An estimate: on a GPU check with ``course bench`` and
    ``tf.config.experimental.get_memory_info``.
    """
    batch_size = _check_positive("batch_size", batch_size)
    elements = _kept_elements(model)
    bytes_per_activation = 2 if mixed_precision else 4
    parameters = model.count_params() * 16
    activations = int(elements * batch_size * bytes_per_activation * 1.5)
    return {"parameters_bytes": parameters, "activations_bytes": activations,
            "total_bytes": parameters + activations}


#: Models :func:`memory_table` estimates by default: the Table III classifiers, the DC models
#: (a pair per sample) and the U-Nets of Table VIII.
MEMORY_MODELS = MODELS[1:] + ("dc-mobilenet", "dc-densenet121", "unet-mobilenet",
                              "unet-densenet121", "unet-vgg16", "unet-resnext50", "unet-plain")


def memory_table(image_size: int = 224, batch_sizes=(16, 32), models=MEMORY_MODELS) -> str:
    """Estimated training memory (GiB) of each classifier / U-Net (``"unet-<encoder>"``) at
    ``image_size`` for each batch size, float32 and mixed precision (see
    :func:`estimate_training_memory`)."""
    import keras

    from course_lib.models import build_classifier, build_dc_model, build_unet

    lines = ["| model | batch | float32 (GiB) | mixed precision (GiB) |", "|---|---:|---:|---:|"]
    for name in models:
        shape = (image_size, image_size, 3)
        if name.startswith("unet-"):
            model = build_unet(name.removeprefix("unet-"), shape, weights=None)
        elif name.startswith("dc-"):
            model = build_dc_model(name.removeprefix("dc-"), shape, weights=None)
        else:
            model = build_classifier(name, shape, weights=None)
        for batch in batch_sizes:
            full = estimate_training_memory(model, batch)["total_bytes"] / 2**30
            half = estimate_training_memory(model, batch, True)["total_bytes"] / 2**30
            lines.append(f"| {name} | {batch} | {full:.1f} | {half:.1f} |")
        del model
        keras.backend.clear_session()
    return "\n".join(lines)
