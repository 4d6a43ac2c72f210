"""Tests of course_lib.models.backbones: the Table III zoo (03_lightweight_cnns)."""
from __future__ import annotations

import time

import course_lib  # noqa: F401  (quiet TensorFlow before it is imported)
import numpy as np
import pytest

import keras
from course_lib.models import backbones as B

# Table III (total parameters, 224x224x3, 2 classes) and the counts measured with Keras.
EXACT_TOTALS = {"squeezenet": 1_237_498, "resnet18": 11_187_915, "mobilenet": 3_230_914,
                "densenet121": 7_039_554}
TRAINABLE = {"mobilenet": 3_209_026, "densenet121": 6_955_906}
BACKBONE_TOTALS = {  # no classifier: image -> feature vector
    "squeezenet": 722_496 + 513_000,     # SqueezeNet 1.1 features + 1000-class conv10
    "resnet18": 11_186_889,              # classification_models ResNet18, no top
    "mobilenet": 3_228_864,
    "densenet121": 7_037_504,
}


def trainable_count(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def shufflenet_v2_formula(widths=(176, 352, 704), repeats=(4, 8, 4), last=1024) -> int:
    """ShuffleNet V2 parameters by hand (Keras BN = 4 numbers per channel), + Dense(1000) + Dense(2)."""
    bn = 4
    total = 3 * 3 * 3 * 24 + bn * 24                       # conv1 (no bias) + BN
    inputs = 24
    for width, repeat in zip(widths, repeats):
        half = width // 2
        # stride-2 unit: left = dw3x3 + BN + 1x1 + BN ; right = 1x1 + BN + dw3x3 + BN + 1x1 + BN
        total += 9 * inputs + bn * inputs + inputs * half + bn * half
        total += inputs * half + bn * half + 9 * half + bn * half + half * half + bn * half
        total += (repeat - 1) * (half * half + bn * half + 9 * half + bn * half + half * half
                                 + bn * half)
        inputs = width
    total += inputs * last + bn * last                     # conv5 + BN
    return total + (last * 1000 + 1000) + (1000 * 2 + 2)


@pytest.fixture(scope="module")
def built_224():
    """Build every classifier once at 224x224x3; keep only numbers (models are released)."""
    info = {}
    for backbone in B.BACKBONES:
        keras.backend.clear_session()
        model = B.build_classifier(backbone, input_shape=(224, 224, 3), weights=None)
        info[backbone] = {
            "total": model.count_params(),
            "trainable": trainable_count(model),
            "last_conv_shape": tuple(model.get_layer(B.LAST_CONV_LAYER[backbone]).output.shape),
            "feature_shape": tuple(model.get_layer("predictions").input.shape),
            "preprocess_weights": len(model.get_layer("preprocess").weights),
            "layer_counts": {layer.name: layer.count_params() for layer in model.layers},
        }
    keras.backend.clear_session()
    return info


@pytest.mark.parametrize("backbone", sorted(EXACT_TOTALS))
@pytest.mark.slow
def test_total_parameters_match_table_iii(built_224, backbone):
    assert built_224[backbone]["total"] == EXACT_TOTALS[backbone] == B.PAPER_PARAMS[backbone]


@pytest.mark.parametrize("backbone", sorted(TRAINABLE))
@pytest.mark.slow
def test_trainable_parameters_match_facts(built_224, backbone):
    assert built_224[backbone]["trainable"] == TRAINABLE[backbone]


@pytest.mark.slow
def test_shufflenet_count_and_documented_difference(built_224):
    total = built_224["shufflenet"]["total"]
    print(f"ShuffleNet V2 1.5x: {total:,} vs Table III {B.SHUFFLENET_PAPER_PARAMS:,}")
    assert total == shufflenet_v2_formula() == B.SHUFFLENET_PARAMS == 3_529_066
    diff = B.shufflenet_difference()
    assert diff["paper"] == 3_616_946
    assert diff["course"] == total
    assert diff["difference"] == total - 3_616_946 == -87_880
    assert diff["relative"] == pytest.approx(-0.0243, abs=5e-4)


@pytest.mark.slow
def test_squeezenet_structure_adds_up(built_224):
    counts = built_224["squeezenet"]["layer_counts"]
    features = sum(n for name, n in counts.items() if name == "conv1" or name.startswith("fire"))
    assert features == 722_496
    assert counts["conv10"] == 512 * 1000 + 1000
    assert counts["predictions"] == 1000 * 2 + 2


@pytest.mark.slow
def test_resnet18_structure_matches_classification_models(built_224):
    counts = built_224["resnet18"]["layer_counts"]
    shortcuts = sorted(name for name in counts if name.endswith("_sc"))
    assert shortcuts == ["stage1_unit1_sc", "stage2_unit1_sc", "stage3_unit1_sc",
                         "stage4_unit1_sc"]
    assert counts["stage1_unit1_sc"] == 64 * 64          # 1x1, no bias, even in stage 1
    assert counts["bn_data"] == 3 * 3                     # beta + moving mean/var, no gamma
    assert counts["conv0"] == 7 * 7 * 3 * 64              # no bias
    assert counts["predictions"] == 512 * 2 + 2


@pytest.mark.parametrize("backbone", B.BACKBONES)
@pytest.mark.slow
def test_last_conv_layer_and_features(built_224, backbone):
    last_conv = built_224[backbone]["last_conv_shape"]
    side = 13 if backbone == "squeezenet" else 7      # SqueezeNet 1.1 pools with "valid"
    assert len(last_conv) == 4 and last_conv[1:3] == (side, side)
    assert built_224[backbone]["feature_shape"] == (None, B.FEATURE_DIMS[backbone])


@pytest.mark.parametrize("backbone", B.BACKBONES)
@pytest.mark.slow
def test_preprocessing_holds_no_weights(built_224, backbone):
    assert built_224[backbone]["preprocess_weights"] == 0
    assert built_224[backbone]["layer_counts"]["preprocess"] == 0


@pytest.mark.parametrize("backbone", sorted(BACKBONE_TOTALS))
def test_backbone_counts(backbone):
    keras.backend.clear_session()
    model = B.build_backbone(backbone, input_shape=(224, 224, 3))
    assert model.count_params() == BACKBONE_TOTALS[backbone]
    assert model.output.shape == (None, B.FEATURE_DIMS[backbone])


@pytest.mark.parametrize("backbone", B.BACKBONES)
def test_forward_pass_small_images(backbone):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = B.build_classifier(backbone, input_shape=(64, 64, 3))
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(model(images, training=False))
    assert probabilities.shape == (2, 2)
    assert np.all(np.isfinite(probabilities)) and np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_smallest_input_size_builds():
    keras.backend.clear_session()
    for backbone in B.BACKBONES:
        model = B.build_classifier(backbone, input_shape=(32, 32, 3))
        assert model.output.shape == (None, 2)


@pytest.mark.parametrize("backbone, reference", [
    ("mobilenet", keras.applications.mobilenet.preprocess_input),
    ("densenet121", keras.applications.densenet.preprocess_input),
])
def test_preprocessing_matches_keras_applications(backbone, reference):
    images = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    ours = keras.ops.convert_to_numpy(B.preprocessing_layer(backbone)(images))
    np.testing.assert_allclose(ours, reference(images.copy()), atol=1e-5)


def test_channel_shuffle_interleaves_groups():
    x = np.arange(6, dtype="float32").reshape(1, 1, 1, 6)
    shuffled = keras.ops.convert_to_numpy(B.ChannelShuffle(2)(x)).reshape(-1)
    assert shuffled.tolist() == [0, 3, 1, 4, 2, 5]
    first, second = B.ChannelSplit()(x)
    assert keras.ops.convert_to_numpy(first).reshape(-1).tolist() == [0, 1, 2]
    assert keras.ops.convert_to_numpy(second).reshape(-1).tolist() == [3, 4, 5]


# ------------------------------------------------------------------- the encoder registry

def test_registry_is_the_one_table_of_names():
    import dataclasses

    assert B.BACKBONES == ("squeezenet", "shufflenet", "resnet18", "mobilenet", "densenet121")
    assert B.KERAS_APPLICATIONS == ("mobilenet", "densenet121")
    assert B.COURSE_BUILT == ("squeezenet", "shufflenet", "resnet18")
    assert B.LAST_CONV_LAYER["mobilenet"] == "conv_pw_13_relu"
    assert B.FEATURE_DIMS == {"squeezenet": 1000, "shufflenet": 1000, "resnet18": 512,
                              "mobilenet": 1024, "densenet121": 1024}
    assert set(B.PREPROCESSING) == set(B.REGISTRY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        B.REGISTRY["mobilenet"].output_layer = "conv1"


@pytest.mark.parametrize("name", [n for n in B.REGISTRY if B.REGISTRY[n].build is not None])
def test_every_encoder_ends_at_its_declared_output_layer(name):
    keras.backend.clear_session()
    model = B.encoder_model(name, keras.Input((64, 64, 3), name="image"))
    assert model.layers[-1].name == B.REGISTRY[name].output_layer
    assert model.layers[1].name == "preprocess" and model.layers[1].count_params() == 0
    names = {layer.name for layer in model.layers}
    assert set(B.REGISTRY[name].skip_layers) <= names


# ------------------------------------------------------------------- argument errors

def test_unknown_backbone_lists_valid_names():
    with pytest.raises(ValueError, match="Valid backbones: squeezenet, shufflenet, resnet18, "
                                         "mobilenet, densenet121"):
        B.build_classifier("vgg16")


@pytest.mark.parametrize("backbone", B.COURSE_BUILT)
def test_imagenet_for_course_built_backbone_is_value_error(backbone):
    with pytest.raises(ValueError, match="no ImageNet weights"):
        B.build_classifier(backbone, weights="imagenet")


@pytest.mark.parametrize("shape", [(16, 16, 3), (64, 64, 1), (64, 64), "224"])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="input_shape must be"):
        B.build_backbone("mobilenet", input_shape=shape)


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        B.build_backbone("mobilenet", input_shape=(32, 32, 3), weights=tmp_path / "nope.h5")


def test_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        B.build_classifier("squeezenet", input_shape=(32, 32, 3), num_classes=1)


# ------------------------------------------------------------------- weights

def _offline_get_file(fname=None, origin=None, **kwargs):
    """What keras.utils.get_file raises on a machine without internet."""
    raise Exception(f"URL fetch failure on https://storage.googleapis.com/tensorflow/"
                    f"keras-applications/{fname}: None -- [Errno -3] Temporary failure in name "
                    f"resolution")


@pytest.mark.parametrize("backbone, file_name", [
    ("mobilenet", "mobilenet_1_0_224_tf_no_top.h5"),
    ("densenet121", "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
])
def test_offline_imagenet_raises_one_clear_error(monkeypatch, backbone, file_name):
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils, "get_file", _offline_get_file)
    keras.backend.clear_session()
    start = time.perf_counter()
    with pytest.warns(UserWarning) if backbone == "mobilenet" else _no_check():
        with pytest.raises(B.WeightsUnavailableError) as caught:
            B.build_classifier(backbone, input_shape=(64, 64, 3), weights="imagenet")
    assert time.perf_counter() - start < 20
    message = str(caught.value)
    assert isinstance(caught.value, RuntimeError)
    assert file_name in message and "weights=None" in message and ".keras" in message
    assert "URL fetch failure" in message          # what Keras said, inside the one message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_offline_file_name_follows_mobilenet_input_size(monkeypatch):
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils, "get_file", _offline_get_file)
    keras.backend.clear_session()
    with pytest.raises(B.WeightsUnavailableError, match="mobilenet_1_0_128_tf_no_top.h5"):
        B.build_backbone("mobilenet", input_shape=(128, 128, 3), weights="imagenet")


def test_other_errors_during_download_are_not_masked(monkeypatch):
    from keras.src.utils import file_utils

    def broken(*args, **kwargs):
        raise KeyError("not a download problem")

    monkeypatch.setattr(file_utils, "get_file", broken)
    keras.backend.clear_session()
    with pytest.raises(KeyError):
        B.build_backbone("mobilenet", input_shape=(128, 128, 3), weights="imagenet")


class _no_check:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _outputs(model, images):
    return keras.ops.convert_to_numpy(model(images, training=False))


def _weights_equal(first, second) -> bool:
    return len(first.weights) == len(second.weights) and all(
        np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first.weights, second.weights))


@pytest.mark.parametrize("backbone", ["mobilenet", "resnet18"])
def test_weights_path_loads_saved_backbone(tmp_path, backbone):
    keras.backend.clear_session()
    images = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    keras.utils.set_random_seed(1)
    source = B.build_backbone(backbone, input_shape=(32, 32, 3))
    path = tmp_path / f"{backbone}.weights.h5"
    source.save_weights(path)
    keras.utils.set_random_seed(2)
    fresh = B.build_backbone(backbone, input_shape=(32, 32, 3))
    loaded = B.build_backbone(backbone, input_shape=(32, 32, 3), weights=str(path))
    assert not _weights_equal(fresh, source)
    assert _weights_equal(loaded, source)
    # Random MobileNet features are tiny (~1e-21) in inference mode: compare relatively.
    np.testing.assert_allclose(_outputs(loaded, images), _outputs(source, images), rtol=1e-5,
                               atol=0)
    # the classifier built on the same file starts from these weights too
    classifier = B.build_classifier(backbone, input_shape=(32, 32, 3), weights=path)
    first_conv = "conv1" if backbone == "mobilenet" else "conv0"
    np.testing.assert_array_equal(classifier.get_layer(first_conv).kernel.numpy(),
                                  source.get_layer(first_conv).kernel.numpy())


def test_weights_path_reads_keras_imagenet_file_format(tmp_path):
    """The ~/.keras/models/*.h5 files are legacy HDF5 files of the keras.applications model."""
    h5py = pytest.importorskip("h5py")
    from keras.src.legacy.saving import legacy_h5_format

    keras.backend.clear_session()
    keras.utils.set_random_seed(3)
    application = keras.applications.MobileNet(include_top=False, weights=None,
                                                input_shape=(32, 32, 3))
    path = tmp_path / "mobilenet_1_0_224_tf_no_top.h5"
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, application)
    model = B.build_classifier("mobilenet", input_shape=(32, 32, 3), weights=path)
    for name in ("conv1", "conv_dw_7", "conv_pw_13", "conv_pw_13_bn"):
        for ours, theirs in zip(model.get_layer(name).weights, application.get_layer(name).weights):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_wrong_weights_file_says_what_it_expects(tmp_path):
    keras.backend.clear_session()
    source = B.build_backbone("squeezenet", input_shape=(32, 32, 3))
    path = tmp_path / "squeezenet.weights.h5"
    source.save_weights(path)
    with pytest.raises(ValueError, match="no-top backbone"):
        B.build_backbone("resnet18", input_shape=(32, 32, 3), weights=path)


# ------------------------------------------------------------------ MobileNetV1 by hand (Ex. 3.x)

def test_mobilenet_extractor_equals_keras_applications():
    ours = B.mobilenet_extractor((64, 64, 3))
    reference = B.build_backbone("mobilenet", (64, 64, 3))
    assert ours.count_params() == BACKBONE_TOTALS["mobilenet"]
    assert [layer.name for layer in ours.layers] == [layer.name for layer in reference.layers
                                                     if layer.name != "conv_pad_2"
                                                     and not layer.name.startswith("conv_pad")]
    rng = np.random.default_rng(0)
    weights = [w + rng.normal(0, 0.1, w.shape).astype("float32") if w.ndim > 1
               else np.abs(w + rng.normal(0, 0.2, w.shape)).astype("float32") + 0.1
               for w in reference.get_weights()]
    reference.set_weights(weights)
    ours.set_weights(weights)
    images = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(ours(images), reference(images), atol=1e-4)


def test_mobilenet_extractor_takes_any_block():
    calls = []

    def block(x, filters, stride):
        calls.append((filters, stride))
        return B.depthwise_separable_block(x, filters, stride)

    model = B.mobilenet_extractor((32, 32, 3), block)
    assert tuple(calls) == B.MOBILENET_BLOCKS and model.count_params() == 3_228_864


def test_build_classifier_puts_the_head_on_given_features(tmp_path):
    features = B.mobilenet_extractor((32, 32, 3), lambda x, f, s: B.depthwise_separable_block(x, f, s))
    model = B.build_classifier("mobilenet", (32, 32, 3), features=features)
    assert model.count_params() == EXACT_TOTALS["mobilenet"]
    assert model.output.shape == (None, 2)
    # weights: copied from the named backbone (here a saved file) into the given features
    source = B.build_backbone("mobilenet", (32, 32, 3))
    source.set_weights([w + 0.5 for w in source.get_weights()])
    path = tmp_path / "mobilenet.weights.h5"
    source.save_weights(path)
    fresh = B.mobilenet_extractor((32, 32, 3), lambda x, f, s: B.depthwise_separable_block(x, f, s))
    B.build_classifier("mobilenet", (32, 32, 3), weights=path, features=fresh)
    assert _weights_equal(fresh, source)


def test_build_classifier_rejects_features_it_cannot_use(tmp_path):
    with pytest.raises(ValueError, match="keras.Model"):
        B.build_classifier("mobilenet", (32, 32, 3), features="mobilenet")
    tiny_in = keras.Input(shape=(32, 32, 3))
    tiny = keras.Model(tiny_in, keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(4, 3)(tiny_in)))
    assert B.build_classifier("mobilenet", (32, 32, 3), features=tiny).count_params() == 112 + 10
    path = tmp_path / "mobilenet.weights.h5"
    B.build_backbone("mobilenet", (32, 32, 3)).save_weights(path)
    with pytest.raises(ValueError, match="other shapes"):
        B.build_classifier("mobilenet", (32, 32, 3), weights=path, features=tiny)


def test_count_macs_and_separable_savings_on_mobilenet():
    model = B.build_backbone("mobilenet", (224, 224, 3))
    rows = B.separable_savings(model)
    assert len(rows) == 13 and rows[0] == (32, 64, 1, 18_432, 2_336)
    assert sum(row[4] for row in rows) == 3_184_224
    assert B.count_macs(model) == 567_716_352  # 0.568 G: the Table III classifier minus Dense(2)
    assert B.depthwise_separable_params(3, 32, 64) == 2_336
