"""TFLite export (course_lib.export) and `course export`."""
from __future__ import annotations

import json

import numpy as np
import pytest

from course_lib import cli, export


def _model(size: int = 32):
    """A small classifier with varied outputs (seeded), in the course's input convention."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(1)
    inputs = keras.Input((size, size, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = layers.Conv2D(32, 3, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(2, activation="softmax")(layers.Dense(2)(x) * 4.0)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def model_and_images():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (24, 32, 32, 3)).astype(np.float32)
    return _model(), images


@pytest.fixture(scope="module")
def float32_file(model_and_images, tmp_path_factory):
    model, _ = model_and_images
    return export.export_tflite(model, tmp_path_factory.mktemp("lite") / "m.tflite")


def test_float32_matches_keras(model_and_images, float32_file):
    model, images = model_and_images
    keras_out = model.predict(images, verbose=0)
    lite_out = export.tflite_predict(float32_file, images)
    assert lite_out.shape == (24, 2)
    assert np.std(keras_out[:, 1]) > 1e-3, "outputs should vary, or the comparison is empty"
    np.testing.assert_allclose(lite_out, keras_out, atol=1e-5)
    one = export.tflite_predict(float32_file, images[0])  # a single image works too
    np.testing.assert_allclose(one, keras_out[:1], atol=1e-5)

    labels = (keras_out[:, 1] > np.median(keras_out[:, 1])).astype(int)
    report = export.compare_with_keras(model, float32_file, images, labels=labels)
    assert report["max_abs_diff"] < 1e-5
    assert report["size_bytes"] == float32_file.stat().st_size
    assert report["latency_ms_per_image"] > 0 and report["keras_latency_ms_per_image"] > 0
    assert report["agreement"] == 1.0 and report["n_images"] == 24
    assert report["keras_scores"]["AUC"] == pytest.approx(1.0)  # labels come from the outputs
    assert abs(report["score_change"]["AUC"]) < 1e-9
    assert report["interpreter"] in ("tf.lite", "ai_edge_litert")


def test_float16_and_int8_are_smaller_and_close(model_and_images, float32_file, tmp_path):
    model, images = model_and_images
    keras_out = model.predict(images, verbose=0)
    half = export.export_tflite(model, tmp_path / "half.tflite", "float16")
    eight = export.export_tflite(model, tmp_path / "int8.tflite", "int8",
                                 representative_images=images)
    full_size = float32_file.stat().st_size
    assert half.stat().st_size < full_size
    assert eight.stat().st_size < half.stat().st_size
    np.testing.assert_allclose(export.tflite_predict(half, images), keras_out, atol=1e-2)
    quantised = export.tflite_predict(eight, images)
    assert np.max(np.abs(quantised - keras_out)) < 0.08
    assert np.mean(quantised.argmax(1) == keras_out.argmax(1)) >= 0.9


def test_export_refusals(model_and_images, tmp_path):
    import keras

    model, images = model_and_images
    with pytest.raises(ValueError, match="quantization must be one of"):
        export.export_tflite(model, tmp_path / "x.tflite", "int4")
    with pytest.raises(ValueError, match="needs representative_images"):
        export.export_tflite(model, tmp_path / "x.tflite", "int8")
    with pytest.raises(ValueError, match="resize them"):
        export.export_tflite(model, tmp_path / "x.tflite", "int8",
                             representative_images=np.zeros((2, 16, 16, 3)))
    a, b = keras.Input((4,)), keras.Input((4,))
    two_inputs = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="single-input model"):
        export.export_tflite(two_inputs, tmp_path / "x.tflite")
    with pytest.raises(FileNotFoundError, match="export_tflite"):
        export.tflite_predict(tmp_path / "missing.tflite", images)
    assert not (tmp_path / "x.tflite").exists()


def test_course_export_command(model_and_images, monkeypatch, tmp_path, capsys):
    model, _ = model_and_images
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["export", "--profile", "smoke", "--model", "tiny"]) == 2
    assert "No saved model" in capsys.readouterr().err
    (tmp_path / "runs" / "smoke" / "models").mkdir(parents=True)
    model.save(tmp_path / "runs" / "smoke" / "models" / "tiny.keras")
    assert cli.main(["export", "--profile", "smoke", "--model", "tiny", "--quantization",
                     "float32", "--n-images", "6"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["quantization", "size", "(MB)"]
    assert out.splitlines()[1].startswith("float32")
    folder = tmp_path / "runs" / "smoke" / "tflite"
    summary = json.loads((folder / "tiny.json").read_text())
    assert summary["n_images"] == 6 and list(summary["results"]) == ["float32"]
    result = summary["results"]["float32"]
    assert result["max_abs_diff"] < 1e-5
    assert result["size_bytes"] == (folder / "tiny-float32.tflite").stat().st_size
