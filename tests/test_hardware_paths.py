"""The GPU code paths, run on this CPU: mixed precision, XLA settings, several replicas.

A course machine without a GPU must still prove that what runs on Colab or a multi-GPU
workstation works: the precision policy survives ``clear_session`` (it does not by itself), the
course's models train under ``mixed_float16`` with float32 heads and loss scaling, and the
training helpers train under a two-replica MirroredStrategy (two logical CPUs stand in for two
GPUs, in a subprocess because logical devices must be set before TensorFlow starts).
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course_lib import config, train


@pytest.fixture()
def fake_gpu(monkeypatch):
    """Make ``train`` believe one GPU of compute capability >= 7.0 is present."""
    import keras

    def fake_mixed_precision(enable=None, verbose=True):
        policy = "mixed_float16" if enable is None or enable else "float32"
        keras.mixed_precision.set_global_policy(policy)
        return policy

    monkeypatch.setattr(train, "_gpu_count", lambda: 1)
    monkeypatch.setattr(train, "use_mixed_precision", fake_mixed_precision)
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_hardware_settings_on_a_gpu_by_profile(fake_gpu):
    import keras

    lab = train.configure_for_hardware("lab", verbose=False)
    assert (lab["policy"], lab["jit_compile"], lab["gpus"]) == ("mixed_float16", True, 1)
    assert train.compile_options("lab") == {"run_eagerly": False, "jit_compile": True}
    deterministic = dataclasses.replace(config.get_profile("lab"), deterministic=True)
    settings = train.configure_for_hardware(deterministic, verbose=False)
    assert (settings["policy"], settings["jit_compile"]) == ("mixed_float16", False)
    assert "op determinism" in settings["reason"]
    assert train.compile_options(deterministic)["jit_compile"] is False
    smoke = train.configure_for_hardware("smoke", verbose=False)
    assert (smoke["policy"], smoke["jit_compile"]) == ("float32", False)
    assert "smoke profile" in smoke["reason"]
    assert train.compile_options("smoke") == {"run_eagerly": True, "jit_compile": False}
    assert keras.mixed_precision.global_policy().name == "float32"


def test_fresh_session_reapplies_mixed_precision(fake_gpu):
    """clear_session() resets Keras' policy to float32; fresh_session turns it back on."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.backend.clear_session()
    assert keras.mixed_precision.global_policy().name == "float32"  # the trap
    settings = train.fresh_session("lab")
    assert settings["policy"] == "mixed_float16"
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    train.fresh_session("smoke")
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.skipif(config.has_gpu(), reason="checks the CPU settings")
def test_compile_options_on_cpu():
    for name in config.PROFILES:
        options = train.compile_options(name)
        assert options["jit_compile"] is False
        assert options["run_eagerly"] is config.get_profile(name).run_eagerly


@pytest.mark.slow
def test_course_models_train_under_mixed_precision():
    """One step of each model family under mixed_float16: loss scaling, float32 outputs,
    finite losses (float16 heads would overflow the softmax)."""
    import keras

    from course_lib.models import build_classifier, build_dc_model, build_unet, discriminant
    from course_lib.models.unet import segmentation_loss

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[[0, 1, 0, 1]]
    masks = (rng.uniform(size=(4, 32, 32, 1)) > 0.5).astype("float32")
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        classifier = build_classifier("mobilenet", (32, 32, 3), weights=None)
        classifier.compile(optimizer=train.paper_optimizer(), loss="categorical_crossentropy",
                           run_eagerly=True)
        dc = build_dc_model("mobilenet", (32, 32, 3), weights=None)
        discriminant.compile_dc_model(dc, run_eagerly=True)
        unet = build_unet("mobilenet", (32, 32, 3), weights=None)
        unet.compile(optimizer=train.paper_optimizer(), loss=segmentation_loss("bce_dice"),
                     run_eagerly=True)
        losses = {
            "classifier": classifier.fit(x, y, epochs=1, verbose=0).history["loss"],
            "dc": dc.fit([x, x], {"cls1": y, "cls2": y, "same": y}, epochs=1,
                         verbose=0).history["loss"],
            "unet": unet.fit(x, masks, epochs=1, verbose=0).history["loss"],
        }
        for name, model in (("classifier", classifier), ("dc", dc), ("unet", unet)):
            assert type(model.optimizer).__name__ == "LossScaleOptimizer", name
            assert all(str(output.dtype) == "float32" for output in model.outputs), name
            assert np.isfinite(losses[name]).all(), (name, losses[name])
        conv = next(layer for layer in classifier.layers if "conv" in layer.name)
        assert conv.compute_dtype == "float16" and conv.variable_dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


_TWO_REPLICAS = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import dataclasses
    import numpy as np
    from course_lib import config, train
    from course_lib.data import Splits
    from course_lib import recipes

    strategy = train.get_strategy(verbose=False, devices=["/cpu:0", "/cpu:1"])
    assert train.get_strategy(verbose=False) is strategy  # cached: one strategy per process
    profile = dataclasses.replace(config.get_profile("smoke"), image_size=32, batch_size=4)
    rng = np.random.default_rng(0)
    def images(n):
        return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    def masks(n):
        return (rng.uniform(size=(n, 32, 32)) > 0.5).astype(np.uint8) * 255
    labels = np.array([0, 1] * 4)
    splits = Splits(images(8), labels, masks(8), images(4), labels[:4], masks(4),
                    images(4), labels[:4], masks(4), list(range(8)), list(range(4)),
                    list(range(4)), 32)
    report = {"replicas": strategy.num_replicas_in_sync}
    train_pairs, val_pairs = recipes.dc_pair_sequences(splits, profile)
    model, history, _ = recipes.train_dc_model("mobilenet", train_pairs, val_pairs,
                                                    profile, epochs=1, verbose=0)
    report["dc_loss"] = history.history["loss"]
    report["dc_variable"] = type(model.trainable_variables[0].value).__name__
    model, history, _ = recipes.train_unet("mobilenet", splits, profile, name="unet-mobilenet",
                                        epochs=1, verbose=0)
    report["unet_loss"] = history["loss"]
    report["unet_variable"] = type(model.trainable_variables[0].value).__name__
    print("REPORT" + json.dumps(report))
""")


@pytest.mark.slow
def test_training_helpers_run_on_two_replicas(tmp_path):
    """train_dc_model and train_unet under MirroredStrategy over two logical CPUs: the
    variables are mirrored and training gives finite losses (the multi-GPU code path)."""
    env = {**os.environ, "COURSE_RUNS_DIR": str(tmp_path / "runs"),
           "COURSE_DATA_DIR": str(tmp_path / "data"), "COURSE_PROFILE": "smoke"}
    done = subprocess.run([sys.executable, "-c", _TWO_REPLICAS], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).resolve().parent.parent, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT"):])
    assert report["replicas"] == 2
    for name in ("dc", "unet"):
        assert "Mirrored" in report[f"{name}_variable"], report
        assert np.isfinite(report[f"{name}_loss"]).all(), report
    assert (tmp_path / "runs" / "smoke" / "models" / "dc-mobilenet.keras").exists()
    assert (tmp_path / "runs" / "smoke" / "models" / "unet-mobilenet.keras").exists()


def test_start_notebook_applies_and_prints_the_hardware_settings(fake_gpu, capsys):
    import keras

    from course_lib import runtime

    runtime.start_notebook("smoke")
    assert "Hardware settings: float32, XLA off — smoke profile" in capsys.readouterr().out
    runtime.start_notebook("lab")
    assert "Hardware settings: mixed_float16, XLA on — 1 GPU(s), profile 'lab'" in (
        capsys.readouterr().out)
    assert keras.mixed_precision.global_policy().name == "mixed_float16"


@pytest.mark.skipif(config.has_gpu(), reason="checks the CPU answer")
def test_gpu_memory_is_none_without_a_gpu():
    assert train.gpu_memory() is None and train.gpu_memory(reset=True) is None


def test_fit_records_peak_gpu_memory_for_the_report(monkeypatch, tmp_path, capsys):
    """What fit writes on a GPU (the reading faked here) and how the report shows it."""
    import keras
    from keras import layers

    from course_tools import report

    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path))
    readings = []

    def fake_gpu_memory(reset=False):
        readings.append(reset)
        return None if reset else {"device": "GPU:0", "peak_bytes": 3 * 2**30,
                                   "current_bytes": 2**30}

    monkeypatch.setattr(train, "gpu_memory", fake_gpu_memory)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=train.paper_optimizer(), loss="categorical_crossentropy")
    x = np.zeros((8, 4), "float32")
    y = np.eye(2, dtype="float32")[[0, 1] * 4]
    train.fit(model, x, (x, y), profile="smoke", name="tiny", epochs=1, verbose=1, y=y)
    assert readings == [True, False]  # reset before training, read after
    assert "tiny: peak GPU memory 3.00 GiB (batch 16, 64 px, float32)" in capsys.readouterr().out
    memory = json.loads((tmp_path / "smoke" / "models" / "tiny" / "memory.json").read_text())
    assert memory["peak_bytes"] == 3 * 2**30 and memory["model"] == "tiny"
    text = report.write_report("smoke", figure=False)[0].read_text(encoding="utf-8")
    assert "### Peak GPU memory (measured by `train.fit`)" in text
    assert "| tiny | 16 | 64 px | float32 | 3.00 |" in text
