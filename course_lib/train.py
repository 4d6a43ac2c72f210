"""The paper's training protocol, in one place.

Taught in 03_lightweight_cnns (and reused by 04–06). Paper, III.B.4 and III.C.3: Adam 1e-4,
ReduceLROnPlateau (factor 0.5, patience 3), 50 epochs, batch 32. On top of the paper: resumable
checkpoints, a CSV history, the distribution strategy and mixed precision on GPUs.
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
           "fresh_session", "gpu_memory", "mirrored_strategy", "use_mixed_precision",
           "paper_optimizer", "paper_callbacks", "run_directory", "fit", "saved_model_path",
           "load_saved_model", "recalibrate_batchnorm", "PreciseBatchNorm", "BatchLossLog",
           "configure_for_hardware", "out_of_memory_message"]


_STRATEGY = {}  # one distribution strategy per process (see get_strategy)


def get_strategy(verbose: bool = True, devices=None):
    """TPU if one is attached, MirroredStrategy over several GPUs, else the default strategy.
    Made once per process (two MirroredStrategy objects can mix up their all-reduces);
    ``devices`` (e.g. ``["/cpu:0", "/cpu:1"]``) forces a new MirroredStrategy over them."""
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
    ``devices`` for the block only (``course bench`` measures that path with it)."""
    saved = dict(_STRATEGY)
    try:
        yield get_strategy(verbose=False, devices=devices)
    finally:
        _STRATEGY.clear()
        _STRATEGY.update(saved)


def strategy_scope():
    """``with train.strategy_scope(): model = build(...); model.compile(...)``: the scope of
    :func:`get_strategy`'s strategy (no change on a CPU or one GPU)."""
    return get_strategy(verbose=False).scope()


def compile_options(profile) -> dict:
    """``model.compile`` keywords for the profile and hardware: ``run_eagerly`` (the profile's)
    and ``jit_compile`` (XLA, as :func:`configure_for_hardware` decides)."""
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
    """Turn on ``mixed_float16`` on a GPU that profits from it (compute capability >= 7.0;
    ``enable=None``: decide). Returns the policy name. Keep final activations in float32."""
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
    """Mixed precision and XLA for the profile and hardware (03_lightweight_cnns on): both in
    ``lab`` / ``paper`` on a GPU, else neither (on CPUs XLA made training about 4x SLOWER).
    Returns ``{"policy", "jit_compile", "gpus", "reason"}``."""
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
    """Clear Keras' session, seed everything, re-apply :func:`configure_for_hardware` (clearing
    resets the precision policy to float32); returns those settings."""
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
    """The paper's ReduceLROnPlateau, a CSV history, the best checkpoint, a resumable backup."""
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
    ("precise BatchNorm"); returns the batches used. Taught in 03_lightweight_cnns: after a short
    run stale moving averages make the model predict one class everywhere. Frozen layers keep
    theirs."""
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
    """Keras callback: :func:`recalibrate_batchnorm` before every validation pass and after the
    last epoch, so validation loss and saved model use statistics of the current weights.
    Measured (benchmarks/bench_batchnorm.py, SynthDerm 128 px, 16 epochs, random weights):
    without it the U-Net's test JA was 0.000 in inference mode (0.870 in training mode) and the
    classifier's AUC 0.500; with it JA 0.910 and the classifier's AUC within 0.004 of its
    training-mode AUC. The paper's training protocol is unchanged."""

    def __init__(self, data, max_batches: int = 4):
        super().__init__()
        self.data = data
        self.max_batches = int(max_batches)
        self.calls = 0          # recalibrations done (tests and benchmarks read it)
        self._stale = False     # weights changed since the last recalibration

    def batches(self) -> int:
        """Batches per recalibration: at most ``max_batches`` and an eighth of an epoch's steps
        (at least one); a quarter cost 15 % of the run, an eighth keeps it under about 10 %."""
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
    """Keras callback: the training loss (running mean of the epoch) after every batch, with its
    position ``epoch + fraction done``; :func:`fit` adds both to the History it returns."""

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
    """``{"device", "peak_bytes", "current_bytes"}`` of the first GPU since the last reset, or
    None without a GPU. ``reset=True`` starts a new measurement (and returns None)."""
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
    memory = gpu_memory()
    if memory is None:
        return None
    memory.update(model=name, profile=profile.name, batch_size=profile.batch_size,
                  image_size=profile.image_size, policy=keras.mixed_precision.global_policy().name)
    config.write_atomic(run_dir / "memory.json", json.dumps(memory, indent=2) + "\n")
    if verbose:
        print(f"{name}: peak GPU memory {memory['peak_bytes'] / 2**30:.2f} GiB (batch "
              f"{profile.batch_size}, {profile.image_size} px, {memory['policy']})")
    return memory


def fit(model, train_data, validation_data, *, profile, name: str, epochs: int | None = None,
        extra_callbacks=(), fresh: bool = False, verbose: int = 2, **fit_kwargs):
    """Train ``model`` with the paper's callbacks and save it under ``runs/<profile>/models/``.
    The same call resumes an interrupted run (``fresh=True`` starts over); returns its History.
    Out of GPU memory: ``ResourceExhaustedError`` naming what to lower."""
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
    model.save(saved_model_path(profile, name))
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
    path = saved_model_path(profile, name)
    if not path.exists():
        profile_name = profile.name if isinstance(profile, config.Profile) else profile
        raise FileNotFoundError(
            f"No saved model {path}. It is written by the notebook that trains '{name}' "
            f"(run it first in the same profile: course run --profile {profile_name} NN).")
    return keras.saving.load_model(path, compile=compile)
