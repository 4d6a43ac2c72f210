"""TFLite export: the paper's stated future work (running the lightweight models on a phone).

Taught in 08_visualisation_and_demo (section 8: the fusion as one TFLite file);
``course export --profile P --model NAME`` runs it on any saved model (README, "GPU";
docs/GPU.md). :func:`export_tflite` converts with ``tf.lite.TFLiteConverter`` to float32, float16
(about half the size) or int8 (about a quarter; inputs and outputs stay float32);
:func:`tflite_predict` runs the file with ``ai-edge-litert`` when installed, else the deprecated
``tf.lite.Interpreter`` (:func:`interpreter_name` says which); :func:`compare_with_keras` measures
what the conversion costs (output difference, size, CPU latency, metric change).
"""
from __future__ import annotations

import contextlib
import io
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ["QUANTIZATIONS", "export_tflite", "tflite_predict", "compare_with_keras",
           "interpreter_name", "load_interpreter", "as_float32"]

#: What :func:`export_tflite` accepts.
QUANTIZATIONS = ("float32", "float16", "int8")
#: Representative images the int8 converter calibrates on (at most).
MAX_REPRESENTATIVE = 200


@contextlib.contextmanager
def _native_output_silenced():
    """Silence what TensorFlow's C++ code writes straight to file descriptors 1 and 2
    ("INFO: Created TensorFlow Lite XNNPACK delegate ..."), which redirect_stdout cannot catch."""
    import os
    import sys
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no real file descriptors (unusual hosts): leave the output alone
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def interpreter_name() -> str:
    """``"ai_edge_litert"`` when that package is importable, else ``"tf.lite"``."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return "tf.lite"
    return "ai_edge_litert"


def load_interpreter(path, num_threads: int | None = None):
    """An allocated interpreter for the ``.tflite`` file at ``path`` (see the module docstring
    for which implementation)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No TFLite model at {path}; write one with "
                                "export_tflite(model, path) or `course export`.")
    if interpreter_name() == "ai_edge_litert":
        from ai_edge_litert.interpreter import Interpreter
    else:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806 - a class
    with warnings.catch_warnings(), _native_output_silenced():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    return interpreter


def _check_images(images, what: str = "images") -> np.ndarray:
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or len(array) == 0:
        raise ValueError(f"{what} must be an array (N, height, width, channels) with N >= 1, or "
                         f"one image (height, width, channels); got shape {array.shape}.")
    return array.astype(np.float32)


_MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


def _replace_policies(value):
    if isinstance(value, dict):
        return {key: _replace_policies(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_policies(item) for item in value]
    return "float32" if value in _MIXED_POLICIES else value


def as_float32(model):
    """``model`` itself when every layer computes in float32; else a float32 copy with the same
    weights (the TFLite converter rejects a mixed-precision model's float16 arithmetic: "Could
    not translate MLIR to FlatBuffer")."""
    import keras
    policies = {getattr(getattr(layer, "dtype_policy", None), "name", "float32")
                for layer in model._flatten_layers()}
    if not policies & set(_MIXED_POLICIES):
        return model
    config = _replace_policies(keras.saving.serialize_keras_object(model))
    # safe_mode=False: the course's own in-memory model may hold Lambda layers (fusion's
    # mirrored stand-in); nothing is read from an untrusted file here.
    copy = keras.saving.deserialize_keras_object(config, safe_mode=False)
    copy.set_weights(model.get_weights())
    return copy


def export_tflite(model, path, quantization: str = "float32", representative_images=None
                  ) -> Path:
    """Convert the single-input Keras ``model`` to TFLite, write it to ``path`` and return the
    path. ``"int8"`` needs ``representative_images`` (e.g. 100 training images ``(N, H, W, 3)`` in
    the model's input range) to calibrate the activations."""
    import tensorflow as tf
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}; got "
                         f"{quantization!r}.")
    if len(model.inputs) != 1:
        raise ValueError(f"export_tflite takes a single-input model; {model.name} has "
                         f"{len(model.inputs)} inputs. For a DC model export "
                         "course_lib.models.dc_classifier(model, head) instead.")
    converter = tf.lite.TFLiteConverter.from_keras_model(as_float32(model))
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        if representative_images is None:
            raise ValueError("int8 quantization needs representative_images: about 100 "
                             "training images (N, H, W, 3) in the model's input range, on "
                             "which the converter calibrates the activations.")
        samples = _check_images(representative_images,
                                "representative_images")[:MAX_REPRESENTATIVE]
        expected = tuple(model.inputs[0].shape[1:])
        if tuple(samples.shape[1:]) != expected:
            raise ValueError(f"representative_images have shape {samples.shape[1:]} but the "
                             f"model takes {expected}; resize them to the model's input.")

        def representative_dataset():
            for sample in samples:
                yield [sample[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), \
            _native_output_silenced():
        warnings.simplefilter("ignore")
        flatbuffer = converter.convert()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(flatbuffer)
    return path


def _run(interpreter, images: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Outputs and per-image seconds, one image per invoke (a phone classifies one at a time)."""
    (input_detail,) = interpreter.get_input_details()
    output_detail = interpreter.get_output_details()[0]
    expected = tuple(input_detail["shape"][1:])
    if tuple(images.shape[1:]) != expected:
        raise ValueError(f"images have shape {images.shape[1:]} but the TFLite model takes "
                         f"{expected}; resize them first.")
    outputs, seconds = [], []
    for image in images:
        start = time.perf_counter()
        interpreter.set_tensor(input_detail["index"], image[None].astype(input_detail["dtype"]))
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_tensor(output_detail["index"])[0]))
        seconds.append(time.perf_counter() - start)
    return np.stack(outputs).astype(np.float32), seconds


def tflite_predict(path, images, num_threads: int | None = None) -> np.ndarray:
    """Run the TFLite model at ``path`` on ``images`` ``(N, H, W, 3)`` (or one image) and return
    its outputs stacked, ``(N, ...)``, like ``model.predict``."""
    interpreter = load_interpreter(path, num_threads=num_threads)
    outputs, _ = _run(interpreter, _check_images(images))
    return outputs


def compare_with_keras(model, path, images, labels=None, num_threads: int | None = None,
                       masks=None) -> dict:
    """How far the TFLite file at ``path`` is from the Keras ``model`` on ``images``: a dict of
    ``max_abs_diff``, ``size_bytes``, ``latency_ms_per_image`` and ``keras_latency_ms_per_image``
    (median, one image per call, after a warm-up), ``agreement`` (same arg-max class; for a
    segmentation output ``(N, H, W, 1)``: pixels on the same side of 0.5), ``interpreter``; with
    binary ``labels`` (classification) or ``masks`` ``(N, H, W)`` (segmentation) also
    ``keras_scores``, ``tflite_scores`` and ``score_change`` (TFLite - Keras)."""
    images = _check_images(images)
    if masks is not None and np.asarray(masks).shape[:3] != images.shape[:3]:
        raise ValueError(f"masks have shape {np.asarray(masks).shape} but the model's maps are "
                         f"{images.shape[:3]}; resize the masks to the model's size.")
    path = Path(path)
    interpreter = load_interpreter(path, num_threads=num_threads)
    _run(interpreter, images[:1])  # warm-up
    lite, seconds = _run(interpreter, images)
    keras_outputs, keras_seconds = [], []
    model.predict_on_batch(images[:1])  # warm-up: traces Keras' compiled predict step
    for image in images:
        start = time.perf_counter()
        keras_outputs.append(np.asarray(model.predict_on_batch(image[None]))[0])
        keras_seconds.append(time.perf_counter() - start)
    reference = np.stack(keras_outputs).astype(np.float32)
    result = {"max_abs_diff": float(np.max(np.abs(lite - reference))),
              "size_bytes": path.stat().st_size,
              "latency_ms_per_image": 1000 * statistics.median(seconds),
              "keras_latency_ms_per_image": 1000 * statistics.median(keras_seconds),
              "n_images": len(images), "interpreter": interpreter_name()}
    from . import metrics
    keras_scores = tflite_scores = None
    if reference.ndim == 2:
        result["agreement"] = float(np.mean(lite.argmax(1) == reference.argmax(1)))
        if labels is not None and reference.shape[1] == 2:
            keras_scores = metrics.classification_scores(labels, reference[:, 1])
            tflite_scores = metrics.classification_scores(labels, lite[:, 1])
    elif reference.ndim == 4 and reference.shape[-1] == 1:
        result["agreement"] = float(np.mean((lite > 0.5) == (reference > 0.5)))
        if masks is not None:  # shape checked above, before any work
            truth = np.asarray(masks)
            keras_scores = metrics.segmentation_scores(list(truth), list(reference[..., 0]))
            tflite_scores = metrics.segmentation_scores(list(truth), list(lite[..., 0]))
    if keras_scores is not None:
        result["keras_scores"] = keras_scores
        result["tflite_scores"] = tflite_scores
        result["score_change"] = {name: tflite_scores[name] - keras_scores[name]
                                  for name in keras_scores}
    return result
