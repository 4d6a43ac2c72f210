"""TFLite export (course_lib.export) and `course export`."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # builds, trains and converts models (seconds each)

from course_lib import export
from course_tools import cli


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


def _segmenter(size: int = 32, seed: int = 2):
    """A tiny per-pixel sigmoid model (same convention as the course's U-Nets)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(1, 3, padding="same")(x)
    return keras.Model(inputs, layers.Activation("sigmoid", dtype="float32")(x * 3.0))


def test_fused_model_is_the_weighted_average(model_and_images):
    from course_lib import fusion

    model, images = model_and_images
    import keras

    other = _model()  # the same architecture with other weights: a distinct second member
    other.set_weights([w * 0.5 for w in model.get_weights()])
    # and the same name, as two DC models from one builder have: fused_model keeps them apart
    other = keras.Model(other.inputs, other.outputs, name=model.name)
    fused = fusion.fused_model(model, other, weight=0.3)
    expected = fusion.weighted_average([model.predict(images, verbose=0),
                                        other.predict(images, verbose=0)], [0.3, 0.7])
    np.testing.assert_allclose(fused.predict(images, verbose=0), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"weight must lie in \[0, 1\]"):
        fusion.fused_model(model, other, weight=1.5)
    with pytest.raises(ValueError, match="same shapes"):
        fusion.fused_model(model, _segmenter(), weight=0.5)


def test_segmentation_export_reports_mask_metrics(tmp_path):
    """A segmentation model (and a fused pair of them) converts; the JA/DC change is measured
    against truth masks and is ~0 for float32."""
    from course_lib import fusion, metrics

    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (6, 32, 32, 3)).astype(np.float32)
    fused = fusion.fused_model(_segmenter(seed=2), _segmenter(seed=5), weight=0.5,
                               name="unet_fusion")
    keras_maps = fused.predict(images, verbose=0)
    masks = ((keras_maps[..., 0] > np.median(keras_maps)) * 255).astype(np.uint8)
    path = export.export_tflite(fused, tmp_path / "seg.tflite")
    report = export.compare_with_keras(fused, path, images, masks=masks)
    assert report["max_abs_diff"] < 1e-5 and report["agreement"] > 0.999
    expected = metrics.segmentation_scores(list(masks), list(keras_maps[..., 0]))
    assert report["keras_scores"]["JA"] == pytest.approx(expected["JA"])
    assert 0 < expected["JA"] < 1  # not a degenerate comparison
    assert abs(report["score_change"]["JA"]) < 1e-3
    with pytest.raises(ValueError, match="resize the masks"):
        export.compare_with_keras(fused, path, images, masks=masks[:, :16, :16])


def test_course_export_fusion_and_best_unet(monkeypatch, tmp_path, capsys):
    """`course export --model unet-fusion` exports the two saved U-Nets as one weighted
    model; `--model best-unet` picks the saved U-Net with the best recorded JA."""
    from course_lib import config, results

    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    size = config.get_profile("smoke").image_size
    folder = tmp_path / "runs" / "smoke" / "models"
    assert cli.main(["export", "--profile", "smoke", "--model", "unet-fusion"]) == 2
    assert "No saved model 'unet-mobilenet'" in capsys.readouterr().err
    folder.mkdir(parents=True)
    _segmenter(size, seed=2).save(folder / "unet-mobilenet.keras")
    _segmenter(size, seed=5).save(folder / "unet-densenet121.keras")
    assert cli.main(["export", "--profile", "smoke", "--model", "unet-fusion",
                     "--quantization", "float32", "--n-images", "4"]) == 0
    out = capsys.readouterr().out
    assert "no weight recorded by 07_fusion" in out and "w = 0.50" in out
    assert "JA change" in out
    summary = json.loads((tmp_path / "runs" / "smoke" / "tflite" / "unet-fusion.json")
                         .read_text())
    assert summary["task"] == "segmentation" and summary["image_size"] == size
    result = summary["results"]["float32"]
    assert result["max_abs_diff"] < 1e-4 and "JA" in result["score_change"]

    assert cli.main(["export", "--profile", "smoke", "--model", "best-unet"]) == 2
    assert "no saved U-Net with a recorded JA" in capsys.readouterr().err
    for name, ja in (("unet-mobilenet", 0.61), ("unet-densenet121", 0.72)):
        results.record_result("06_unet_segmentation", "segmentation", name,
                              {"JA": ja, "DC": ja + 0.1}, profile="smoke")
    assert cli.main(["export", "--profile", "smoke", "--model", "best-unet", "--quantization",
                     "float16", "--n-images", "4"]) == 0
    assert "best-unet: unet-densenet121 (test JA 0.720" in capsys.readouterr().out
    assert (tmp_path / "runs" / "smoke" / "tflite" / "unet-densenet121-float16.tflite").exists()


def test_mixed_precision_model_exports_through_a_float32_copy(model_and_images, tmp_path):
    """A model trained with mixed precision (lab/paper on a GPU) keeps mixed_float16 layers
    when saved; the converter rejects them ("Could not translate MLIR to FlatBuffer"), so
    export_tflite converts a float32 copy with the same weights."""
    import keras

    model, images = model_and_images
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = _model()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    mixed.set_weights(model.get_weights())
    assert any(layer.dtype_policy.name == "mixed_float16" for layer in mixed.layers)
    copy = export.as_float32(mixed)
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    assert export.as_float32(model) is model  # float32 models are used as they are
    float32_out = model.predict(images, verbose=0)
    np.testing.assert_allclose(copy.predict(images, verbose=0), float32_out, atol=1e-6)
    path = export.export_tflite(mixed, tmp_path / "mixed.tflite")
    lite = export.tflite_predict(path, images)
    np.testing.assert_allclose(lite, float32_out, atol=1e-5)
    # against the float16-computing Keras model itself the difference is float16 rounding
    assert np.max(np.abs(lite - mixed.predict(images, verbose=0))) < 2e-2
