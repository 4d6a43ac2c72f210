"""The paper's training protocol, in one place.

Taught in 03_lightweight_cnns (and reused by 04–06). Paper, III.B.4 and III.C.3: Adam with
learning rate 1e-4; the learning rate halves when the validation loss has not improved for three
epochs (ReduceLROnPlateau, factor 0.5, patience 3); 50 epochs; batch 32. On top of the paper:
checkpoints that let an interrupted run resume (Colab disconnects), a CSV history, the
distribution strategy (TPU / several GPUs / default) and mixed precision on GPUs.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import keras

from . import config
from .paper import LEARNING_RATE as PAPER_LEARNING_RATE  # Adam, both tasks
from .paper import LR_FACTOR as PAPER_LR_FACTOR, LR_PATIENCE as PAPER_LR_PATIENCE

__all__ = ["PAPER_LEARNING_RATE", "get_strategy", "strategy_scope", "compile_options",
           "fresh_session", "gpu_memory", "mirrored_strategy",
           "use_mixed_precision", "paper_optimizer",
           "paper_callbacks", "run_directory", "fit", "saved_model_path", "load_saved_model",
           "recalibrate_batchnorm", "PreciseBatchNorm", "BatchLossLog",
           "configure_for_hardware", "out_of_memory_message"]


_STRATEGY = {}  # one distribution strategy per process (see get_strategy)


def get_strategy(verbose: bool = True, devices=None):
    """TPU if one is attached, MirroredStrategy over several GPUs, else the default strategy.

    Build and compile models inside ``with strategy.scope():`` (or :func:`strategy_scope`). The
    batch size stays the GLOBAL batch (the paper's 32): each of the
    ``strategy.num_replicas_in_sync`` replicas gets an equal share of every batch.

    The strategy is made once per process and returned again on later calls: two
    MirroredStrategy objects over the same devices in one process can mix up their gradient
    all-reduces (TensorFlow aborts with "Shape mismatch in the collective instance").
    ``devices`` (e.g. ``["/cpu:0", "/cpu:1"]``) forces a MirroredStrategy over exactly those
    devices and replaces the cached one: the tests use two logical CPUs to run the multi-GPU
    code path on a machine without GPUs.
    """
    import tensorflow as tf

    if devices is not None:
        devices = list(devices)
        _STRATEGY["strategy"] = tf.distribute.MirroredStrategy(devices)
        _STRATEGY["kind"] = f"MirroredStrategy over {len(devices)} device(s): {', '.join(devices)}"
    elif "strategy" not in _STRATEGY:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            strategy, kind = tf.distribute.TPUStrategy(resolver), "TPU"
        except (ValueError, RuntimeError, tf.errors.NotFoundError, AttributeError):
            gpus = tf.config.list_physical_devices("GPU")
            if len(gpus) > 1:
                strategy = tf.distribute.MirroredStrategy()
                kind = f"MirroredStrategy over {len(gpus)} GPUs"
            else:
                strategy = tf.distribute.get_strategy()
                kind = "one GPU" if gpus else "CPU"
        _STRATEGY.update(strategy=strategy, kind=kind)
    strategy = _STRATEGY["strategy"]
    if verbose:
        print(f"Distribution: {_STRATEGY['kind']} ({strategy.num_replicas_in_sync} replica(s))")
    return strategy


@contextlib.contextmanager
def mirrored_strategy(devices):
    """``with train.mirrored_strategy(["/gpu:0"]) as strategy: ...``: a MirroredStrategy over
    ``devices`` for the block (it becomes the process's strategy, see :func:`get_strategy`);
    the previous one is given back afterwards. ``course bench`` measures the MirroredStrategy
    path with it, even on one GPU."""
    saved = dict(_STRATEGY)
    try:
        yield get_strategy(verbose=False, devices=devices)
    finally:
        _STRATEGY.clear()
        _STRATEGY.update(saved)


def strategy_scope():
    """``with train.strategy_scope(): model = build(...); model.compile(...)``.

    The scope of :func:`get_strategy`'s strategy: on a CPU or one GPU it changes nothing; on
    several GPUs (or a TPU) the model's variables are mirrored on every device and each batch
    is split between them. The course's training helpers build their models inside it.
    """
    return get_strategy(verbose=False).scope()


def compile_options(profile) -> dict:
    """The ``model.compile`` keywords that depend on the profile and the hardware:
    ``run_eagerly`` (the profile's: the smoke profile skips graph tracing) and ``jit_compile``
    (XLA: on in ``lab``/``paper`` on a GPU, off everywhere else, as
    :func:`configure_for_hardware` decides). ``model.compile(..., **train.compile_options(profile))``.
    """
    profile = config.as_profile(profile)
    return {"run_eagerly": profile.run_eagerly,
            "jit_compile": _xla_wanted(profile) and not profile.run_eagerly}


def _gpu_count() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def _xla_wanted(profile) -> bool:
    # Keras silently compiles without XLA while TF op determinism is on (not every XLA op is
    # deterministic), so a deterministic profile does not ask for it.
    return bool(_gpu_count()) and profile.name != "smoke" and not profile.deterministic


def use_mixed_precision(enable: bool | None = None, verbose: bool = True) -> str:
    """Turn on ``mixed_float16`` on a GPU that profits from it (compute capability >= 7.0).

    ``enable=None`` decides automatically; on a CPU it stays ``float32`` (mixed precision is
    slower there). Returns the active policy name. Models built afterwards must keep their final
    softmax/sigmoid in float32 — the course's builders do (``dtype="float32"`` on the heads).
    """
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if enable is None:
        enable = False
        for gpu in gpus:
            capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
            if capability and tuple(capability) >= (7, 0):
                enable = True
    if enable and not gpus:
        raise RuntimeError("Mixed precision was requested but TensorFlow sees no GPU. On Colab: "
                           "Runtime > Change runtime type > GPU; elsewhere call "
                           "use_mixed_precision(False) or leave it to decide (None).")
    policy = "mixed_float16" if enable else "float32"
    keras.mixed_precision.set_global_policy(policy)
    if verbose:
        print(f"Precision policy: {policy}")
    return policy


def configure_for_hardware(profile=None, verbose: bool = True) -> dict:
    """Mixed precision and XLA for the profile and the hardware at hand; returns the settings.

    For the training notebooks (03_lightweight_cnns on). In ``lab`` and ``paper`` on a GPU it
    turns on ``mixed_float16`` (compute capability >= 7.0, see :func:`use_mixed_precision`) and
    asks for XLA: pass the returned ``jit_compile`` to ``model.compile(..., jit_compile=...)``.
    Everywhere else (the ``smoke`` profile, any CPU) it keeps ``float32`` and
    ``jit_compile=False``: on this course's CPUs XLA made training about 4x SLOWER and mixed
    precision is slower too. Returns ``{"policy", "jit_compile", "gpus", "reason"}``; ``course
    bench`` on the GPU measures what the two settings gain.
    """
    profile = config.as_profile(profile)
    gpus = _gpu_count()
    if gpus and profile.name != "smoke":
        policy = use_mixed_precision(None, verbose=False)
        jit_compile = _xla_wanted(profile)
        reason = (f"{gpus} GPU(s), profile '{profile.name}': XLA "
                  + ("on" if jit_compile else "off (the profile turns on TF op determinism, "
                     "under which Keras compiles without XLA)")
                  + (", mixed precision on" if policy == "mixed_float16"
                     else ", mixed precision off (GPU older than compute capability 7.0)"))
    else:
        policy = use_mixed_precision(False, verbose=False)
        jit_compile = False
        reason = ("no GPU: float32 without XLA (both are slower on a CPU)" if not gpus else
                  "smoke profile: float32 without XLA (tiny steps gain nothing from compiling)")
    if verbose:
        print(f"Hardware settings: policy {policy}, jit_compile={jit_compile} ({reason})")
    return {"policy": policy, "jit_compile": jit_compile, "gpus": gpus, "reason": reason}


def fresh_session(profile, seed: int | None = None) -> dict:
    """A clean start for the next model: clear Keras' session, seed everything, and re-apply
    the hardware settings of :func:`configure_for_hardware`. Returns those settings.

    ``keras.backend.clear_session()`` also resets the global precision policy to float32, so a
    notebook that clears the session before each model (as the training helpers do, to free
    memory and make each model independent of the ones before) must turn mixed precision on
    again afterwards; this does both in the right order. ``seed`` defaults to ``profile.seed``.
    """
    import keras

    profile = config.as_profile(profile)
    keras.backend.clear_session()
    config.set_seed(profile.seed if seed is None else seed, deterministic=profile.deterministic)
    return configure_for_hardware(profile, verbose=False)


def out_of_memory_message(profile, name: str = "") -> str:
    """What to lower when training runs out of (GPU) memory. Used by :func:`fit`."""
    profile = config.as_profile(profile)
    smaller = max(1, profile.batch_size // 2)
    where = f" while training '{name}'" if name else ""
    return (f"Out of memory{where} (profile '{profile.name}': batch size {profile.batch_size}, "
            f"images {profile.image_size} px). Lower the batch size first: set BATCH_SIZE = "
            f"{smaller} in the parameters cell where the notebook has one, or after the setup "
            f"cell run `profile = dataclasses.replace(profile, batch_size={smaller})` and rebuild "
            "the datasets; if that is not enough, lower the image size (IMAGE_SIZE / "
            "profile.image_size, e.g. 192 or 160) or turn on mixed precision "
            "(train.configure_for_hardware). docs/GPU.md lists batch sizes that fit a 16 GB GPU. "
            "Restart the kernel afterwards: TensorFlow keeps the memory it grabbed.")


def paper_optimizer(learning_rate: float = PAPER_LEARNING_RATE):
    """Adam with the paper's initial learning rate (1e-4)."""
    import keras

    return keras.optimizers.Adam(learning_rate=learning_rate)


def run_directory(profile, name: str) -> Path:
    """``runs/<profile>/models/<name>/``: checkpoints, backup and history of one training run."""
    path = config.runs_dir(profile) / "models" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def saved_model_path(profile, name: str) -> Path:
    """Where the final model of run ``name`` is saved: ``runs/<profile>/models/<name>.keras``."""
    return config.runs_dir(profile) / "models" / f"{name}.keras"


def paper_callbacks(run_dir: Path, monitor: str = "val_loss", *, resume: bool = True,
                    save_best: bool = True):
    """ReduceLROnPlateau as in the paper, a CSV history, the best checkpoint, and a backup
    from which an interrupted ``fit`` resumes (``keras.callbacks.BackupAndRestore``)."""
    import keras

    run_dir = Path(run_dir)
    callbacks = [
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=PAPER_LR_FACTOR,
                                          patience=PAPER_LR_PATIENCE, verbose=0),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume),
    ]
    if save_best:
        callbacks.append(keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"),
                                                         monitor=monitor, save_best_only=True))
    if resume:
        callbacks.append(keras.callbacks.BackupAndRestore(str(run_dir / "backup")))
    return callbacks


def _batchnorm_layers(layer):
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        yield layer
    for sub in getattr(layer, "layers", None) or []:
        yield from _batchnorm_layers(sub)


def _input_batches(data, max_batches: int):
    """The model inputs of the first ``max_batches`` batches of a Dataset, PyDataset or array."""
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        for batch in data.take(max_batches):
            yield batch[0] if isinstance(batch, tuple) else batch
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__") and not hasattr(data, "shape"):
        for index in range(min(max_batches, len(data))):
            batch = data[index]
            yield batch[0] if isinstance(batch, tuple) else batch
    else:  # a numpy array of images
        for start in range(0, min(len(data), 32 * max_batches), 32):
            yield data[start:start + 32]


def recalibrate_batchnorm(model, data, max_batches: int = 4) -> int:
    """Recompute every BatchNormalization layer's moving mean and variance from training batches
    ("precise BatchNorm"). Returns the number of batches used.

    Taught in 03_lightweight_cnns. At inference BatchNorm normalises with moving averages that
    move 1 % per step (momentum 0.99). After a short run from random weights they still hold
    stale values, the activations drift block after block, and the model predicts one class
    everywhere (a U-Net: every pixel background). A forward pass in training mode over a few
    batches, with the momentum set so that the moving statistics become the average over those
    batches, fixes the statistics without changing any trained weight. :class:`PreciseBatchNorm`
    does it in every training run of the course; frozen layers (``trainable=False``) keep
    theirs, as Keras leaves them in inference mode.
    """
    layers = list(_batchnorm_layers(model))
    if not layers:
        return 0
    saved = [layer.momentum for layer in layers]
    used = 0
    try:
        for used, inputs in enumerate(_input_batches(data, max_batches), start=1):
            for layer in layers:
                layer.momentum = (used - 1) / used  # running average over the batches seen
            model(list(inputs) if isinstance(inputs, tuple) else inputs, training=True)
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum
    return used


class PreciseBatchNorm(keras.callbacks.Callback):
    """Keras callback: recompute BatchNorm statistics (:func:`recalibrate_batchnorm`) from
    ``max_batches`` training batches before every validation pass of ``fit`` and after the last
    epoch, so that the validation loss (which ReduceLROnPlateau and the best checkpoint follow)
    and the saved model use statistics of the current weights.

    Why a callback and not a lower momentum: measured with benchmarks/bench_batchnorm.py
    (SynthDerm, 128 px, 144 training images, 16 epochs, batch 16, no ImageNet weights, 2 busy
    CPU cores). Momentum 0.99 alone: the U-Net's validation loss stayed at 1.37-1.22 while its
    training loss fell from 1.19 to 0.38, and the test JA was 0.000 in inference mode against
    0.870 in training mode (the failure seen on real images); the MobileNet classifier gave one
    score to every image (AUC 0.500). With this callback: validation loss 1.01 -> 0.30 beside
    the training loss, test JA 0.910 in inference mode (0.864 with batch statistics), and the
    classifier's inference-mode AUC within 0.004 of its training-mode AUC. The cost was 10.7 %
    (U-Net) and 15.5 % (classifier) with a quarter of the steps per recalibration, hence the
    eighth used now (:meth:`batches`). It needs no change to any builder or to the Keras
    applications' own BatchNorm momenta, and works for every model of the course
    (classifiers, DC models with a shared backbone, U-Nets). Training itself is unchanged: the
    paper's protocol (Adam 1e-4, ReduceLROnPlateau 0.5/3) stays as it is.
    """

    def __init__(self, data, max_batches: int = 4):
        super().__init__()
        self.data = data
        self.max_batches = int(max_batches)
        self.calls = 0          # recalibrations done (tests and benchmarks read it)
        self._stale = False     # weights changed since the last recalibration

    def batches(self) -> int:
        """Batches per recalibration: at most ``max_batches`` and at most an eighth of an
        epoch's steps (at least one). Measured here, one eager forward pass in training mode
        costs about two thirds of a compiled training step (MobileNet, 128 px, batch 16: 1.0 s
        vs 1.5 s), so a quarter of the steps cost 15 % of the run
        (benchmarks/bench_batchnorm.py) and an eighth keeps the fix under about 10 %."""
        steps = (self.params or {}).get("steps") or self.max_batches * 8
        return max(1, min(self.max_batches, int(steps) // 8))

    def _recalibrate(self):
        if self._stale and self.max_batches > 0:
            recalibrate_batchnorm(self.model, self.data, self.batches())
            self.calls += 1
        self._stale = False

    def on_train_batch_end(self, batch, logs=None):
        self._stale = True

    def on_test_begin(self, logs=None):
        self._recalibrate()

    def on_train_end(self, logs=None):
        self._recalibrate()


class BatchLossLog(keras.callbacks.Callback):
    """Keras callback: the training loss after every batch (Keras reports the running mean of
    the epoch so far), kept as ``batch_loss`` with ``batch_epoch`` (epoch + fraction done) so
    that a curve has more than one point even after one short epoch. :func:`fit` adds both to
    the History it returns; :func:`course_lib.viz.plot_history` draws them."""

    def __init__(self):
        super().__init__()
        self.loss: list[float] = []
        self.position: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs:
            steps = (self.params or {}).get("steps") or 1
            self.loss.append(float(logs["loss"]))
            self.position.append(self._epoch + (batch + 1) / steps)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def gpu_memory(reset: bool = False) -> dict | None:
    """Peak and current memory TensorFlow has used on the first GPU since the last reset, in
    bytes (``{"device", "peak_bytes", "current_bytes"}``), or None without a GPU.

    ``reset=True`` starts a new measurement (and returns None). :func:`fit` measures every
    training run this way and writes ``memory.json`` beside its history, which ``course report``
    lists: the real figure next to the estimates of docs/GPU.md.
    """
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    try:
        if reset:
            tf.config.experimental.reset_memory_stats("GPU:0")
            return None
        info = tf.config.experimental.get_memory_info("GPU:0")
    except (ValueError, RuntimeError, AttributeError):  # an old TF or an odd device: no figure
        return None
    return {"device": "GPU:0", "peak_bytes": int(info["peak"]),
            "current_bytes": int(info["current"])}


def _record_memory(run_dir: Path, profile, name: str, verbose: int) -> dict | None:
    """After training: the peak GPU memory of this run, printed and written to memory.json."""
    import json

    import keras

    memory = gpu_memory()
    if memory is None:
        return None
    memory.update(model=name, profile=profile.name, batch_size=profile.batch_size,
                  image_size=profile.image_size,
                  policy=keras.mixed_precision.global_policy().name)
    config.write_atomic(run_dir / "memory.json", json.dumps(memory, indent=2) + "\n")
    if verbose:
        print(f"{name}: peak GPU memory {memory['peak_bytes'] / 2**30:.2f} GiB (batch "
              f"{profile.batch_size}, {profile.image_size} px, {memory['policy']})")
    return memory


def fit(model, train_data, validation_data, *, profile, name: str, epochs: int | None = None,
        extra_callbacks=(), fresh: bool = False, verbose: int = 2, **fit_kwargs):
    """Train ``model`` with the paper's callbacks and save it under ``runs/<profile>/models/``.

    Re-running the same call after an interruption resumes from the last finished epoch
    (``fresh=True`` discards the backup and history and starts over). ``epochs`` defaults to
    the profile's (the paper: 50). Returns the Keras History of this call. Running out of GPU
    memory raises ``tf.errors.ResourceExhaustedError`` with a message naming what to lower
    (:func:`out_of_memory_message`). On a GPU the run's peak GPU memory is printed and written
    to ``runs/<profile>/models/<name>/memory.json`` (:func:`gpu_memory`; ``batch_size`` there is
    the profile's).
    """
    profile = config.as_profile(profile)
    epochs = profile.epochs if epochs is None else epochs
    run_dir = run_directory(profile, name)
    if fresh:
        shutil.rmtree(run_dir / "backup", ignore_errors=True)
        (run_dir / "history.csv").unlink(missing_ok=True)
    monitor = "val_loss" if validation_data is not None else "loss"
    callbacks = paper_callbacks(run_dir, monitor=monitor) + list(extra_callbacks)
    if profile.precise_bn_batches:  # first, so that validation sees fresh BatchNorm statistics
        callbacks.insert(0, PreciseBatchNorm(train_data, profile.precise_bn_batches))
    batch_log = BatchLossLog()
    callbacks.append(batch_log)
    _start_learning_rate(model, profile, verbose)
    if hasattr(train_data, "element_spec"):  # a tf.data.Dataset shuffles itself; Keras 3 warns
        fit_kwargs.setdefault("shuffle", False)  # about its default shuffle=True otherwise
    import tensorflow as tf

    gpu_memory(reset=True)
    try:
        history = model.fit(train_data, validation_data=validation_data, epochs=epochs,
                            callbacks=callbacks, verbose=verbose, **fit_kwargs)
    except tf.errors.ResourceExhaustedError as err:
        raise tf.errors.ResourceExhaustedError(
            err.node_def, err.op, out_of_memory_message(profile, name)
            + f"\n\nOriginal error: {str(err.message).strip()[:2000]}") from err
    _record_memory(run_dir, profile, name, verbose)
    history.history["batch_loss"] = batch_log.loss        # curves with more than one point
    history.history["batch_epoch"] = batch_log.position
    path = saved_model_path(profile, name)
    model.save(path)
    return history


def _start_learning_rate(model, profile, verbose) -> None:
    # A profile with its own learning rate (showcase: random weights, 1e-3) starts Adam there;
    # the paper's 1e-4 leaves the compiled optimizer as it is. ReduceLROnPlateau goes on from it.
    optimizer = getattr(model, "optimizer", None)
    rate = float(profile.learning_rate)
    if optimizer is None or rate == PAPER_LEARNING_RATE:
        return
    optimizer.learning_rate = rate
    if verbose:
        print(f"Learning rate {rate:g} (profile '{profile.name}'; the paper's "
              f"{PAPER_LEARNING_RATE:g} fine-tunes ImageNet weights, random weights need larger "
              "steps on a CPU budget)")


def load_saved_model(profile, name: str, compile: bool = False):
    """Load a model an earlier notebook saved with :func:`fit`; a clear error when absent."""
    import keras

    path = saved_model_path(profile, name)
    if not path.exists():
        profile_name = profile.name if isinstance(profile, config.Profile) else profile
        raise FileNotFoundError(
            f"No saved model {path}. It is written by the notebook that trains '{name}' "
            f"(run it first in the same profile: course run --profile {profile_name} NN).")
    return keras.saving.load_model(path, compile=compile)
