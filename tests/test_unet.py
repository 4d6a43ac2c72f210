"""Tests of course_lib.models.unet: the U-Nets of 06_unet_segmentation (Table VIII)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import course_lib  # noqa: F401  (quiet TensorFlow before it is imported)
import numpy as np
import pytest

import keras
from course_lib import config, recipes
from course_lib.models import backbones, build_dc_model, unet
from course_lib.models import build_unet as exported_build_unet


def bn(channels):
    """Keras counts gamma, beta and the two moving statistics of a BatchNormalization."""
    return 4 * channels


def decoder_params(encoder_channels, skip_channels, filters=(256, 128, 64, 32, 16)):
    """Parameters of the five decoder blocks + the 3x3 sigmoid head, by hand."""
    total, inputs = 0, encoder_channels
    for k, f in enumerate(filters):
        skip = skip_channels[k] if k < len(skip_channels) else 0
        total += 9 * (inputs + skip) * f + bn(f) + 9 * f * f + bn(f)  # 2 x (conv no bias + BN)
        inputs = f
    return total + 9 * inputs * 1 + 1                                  # head conv with bias


# MobileNet: encoder = MobileNet without top, 3,228,864; skips 512, 256, 128, 64 channels.
#   stage0 9*(1024+512)*256 + 1024 + 9*256*256 + 1024 = 4,130,816
#   stage1 9*(256+256)*128  +  512 + 9*128*128 +  512 =   738,304
#   stage2 9*(128+128)*64   +  256 + 9*64*64   +  256 =   184,832
#   stage3 9*(64+64)*32     +  128 + 9*32*32   +  128 =    46,336
#   stage4 9*32*16          +   64 + 9*16*16   +   64 =     7,040
#   head   9*16 + 1                                   =       145  -> decoder 5,107,473
def test_decoder_arithmetic():
    assert decoder_params(1024, (512, 256, 128, 64)) == 5_107_473
    assert 3_228_864 + 5_107_473 == 8_336_337
    assert 7_037_504 + 5_107_473 == 12_144_977  # DenseNet-121: same channel counts


@pytest.mark.slow
def test_paper_counts_at_224():
    for encoder, expected in (("mobilenet", 8_336_337), ("densenet121", 12_144_977)):
        keras.backend.clear_session()
        model = unet.build_unet(encoder, input_shape=(224, 224, 3))
        assert model.count_params() == expected == unet.UNET_PARAMS[encoder]
        assert tuple(model.output.shape) == (None, 224, 224, 1)
        assert model.get_layer("preprocess").weights == []


@pytest.fixture(scope="module")
def built_64():
    """Build every encoder's U-Net once at 64x64x3; keep only numbers (models are released)."""
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    info = {}
    for encoder in unet.ENCODERS:
        keras.backend.clear_session()
        model = unet.build_unet(encoder, input_shape=(64, 64, 3))
        output = model(images).numpy()
        info[encoder] = {"params": model.count_params(), "output": output, "name": model.name,
                         "levels": unet.skip_connections(model)}
        if encoder in unet.PAPER_ENCODERS:
            info[encoder]["mib"] = unet.weights_file_size(model) / 2 ** 20
    keras.backend.clear_session()
    return info


@pytest.mark.slow
def test_every_encoder_count_and_output_at_64(built_64):
    # Convolutions do not depend on the input size, so the 224 counts hold at 64 px.
    # VGG16 (14,714,688 no top, skips 512/512/256/128 from a 512-channel block5_pool) and
    # ResNeXt-50 equal segmentation_models' counts; plain is the original U-Net.
    assert decoder_params(512, (512, 512, 256, 128)) + 14_714_688 == 19_029_585
    for encoder in unet.ENCODERS:
        info = built_64[encoder]
        assert info["params"] == unet.UNET_PARAMS[encoder], encoder
        assert info["output"].shape == (2, 64, 64, 1) and info["output"].dtype == np.float32
        assert np.all((info["output"] > 0) & (info["output"] < 1))
        assert info["name"] == f"unet_{encoder}"
    assert unet.UNET_PARAMS == {"mobilenet": 8_336_337, "densenet121": 12_144_977,
                                "vgg16": 19_029_585, "resnext50": 32_063_194,
                                "plain": 31_031_745}


def test_plain_unet_count_by_hand():
    # 2 x conv3x3 (with bias) per level, 64..1024; 2x2 up-convolutions; 1x1 head.
    def conv(k, cin, cout):
        return k * k * cin * cout + cout
    encoder = sum(conv(3, a, b) + conv(3, b, b)
                  for a, b in ((3, 64), (64, 128), (128, 256), (256, 512), (512, 1024)))
    decoder = sum(conv(2, 2 * f, f) + conv(3, 2 * f, f) + conv(3, f, f)
                  for f in (512, 256, 128, 64))
    assert encoder + decoder + conv(1, 64, 1) == 31_031_745 == unet.UNET_PARAMS["plain"]


def test_exported_from_models():
    assert exported_build_unet is unet.build_unet


def test_rectangular_multiple_of_32_works():
    keras.backend.clear_session()
    model = unet.build_unet("mobilenet", input_shape=(64, 96, 3))
    assert tuple(model.output.shape) == (None, 64, 96, 1)


@pytest.mark.parametrize("shape", [(100, 100, 3), (64, 80, 3), (16, 16, 3), (224, 224, 1),
                                   "224"])
def test_bad_input_shapes(shape):
    with pytest.raises(ValueError, match="multiples of 32|height, width, 3"):
        unet.build_unet("mobilenet", input_shape=shape)


def test_non_multiple_message_says_what_to_do():
    with pytest.raises(ValueError) as caught:
        unet.build_unet("densenet121", input_shape=(100, 100, 3))
    message = str(caught.value)
    assert "multiples of 32" in message and "100x100" in message and "96" in message


def test_unknown_encoder():
    with pytest.raises(ValueError, match="Valid encoders: mobilenet, densenet121"):
        unet.build_unet("resnet18")


@pytest.mark.parametrize("encoder", ["resnext50", "plain"])
def test_no_imagenet_for_course_built_encoders(encoder):
    with pytest.raises(ValueError, match="no ImageNet weights"):
        unet.build_unet(encoder, input_shape=(64, 64, 3), weights="imagenet")


def _offline_get_file(fname=None, origin=None, **kwargs):
    raise Exception(f"URL fetch failure on https://storage.googleapis.com/tensorflow/"
                    f"keras-applications/{fname}: None -- [Errno -3] Temporary failure in name "
                    f"resolution")


@pytest.mark.parametrize("encoder, file_name", [
    ("mobilenet", "mobilenet_1_0_224_tf_no_top.h5"),
    ("densenet121", "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
])
def test_offline_imagenet_is_the_backbones_error(monkeypatch, encoder, file_name):
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils, "get_file", _offline_get_file)
    keras.backend.clear_session()
    start = time.perf_counter()
    with pytest.raises(backbones.WeightsUnavailableError) as caught:
        with pytest.warns(UserWarning) if encoder == "mobilenet" else _no_warning_check():
            unet.build_unet(encoder, input_shape=(64, 64, 3), weights="imagenet")
    assert time.perf_counter() - start < 20
    message = str(caught.value)
    assert file_name in message and "weights=None" in message and "URL fetch failure" in message
    assert caught.value.__cause__ is None


class _no_warning_check:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_missing_and_unknown_weight_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="run that notebook first"):
        unet.build_unet("mobilenet", (64, 64, 3), weights=tmp_path / "dc-mobilenet.keras")
    other = tmp_path / "unet.weights.h5"
    other.write_bytes(b"")
    with pytest.raises(ValueError, match="model.load_weights"):
        unet.build_unet("mobilenet", (64, 64, 3), weights=other)
    with pytest.raises(ValueError, match="weights must be None"):
        unet.build_unet("mobilenet", (64, 64, 3), weights=3)


def test_skip_connections_read_from_the_model():
    keras.backend.clear_session()
    model = unet.build_unet("mobilenet", input_shape=(64, 64, 3))
    levels = unet.skip_connections(model)
    assert [lv["skip_layer"] for lv in levels] == list(unet.SKIP_LAYERS["mobilenet"]) + [None]
    assert [lv["skip_shape"] for lv in levels] == [(4, 4, 512), (8, 8, 256), (16, 16, 128),
                                                   (32, 32, 64), None]
    assert [lv["output_shape"] for lv in levels] == [
        (4, 4, 256), (8, 8, 128), (16, 16, 64), (32, 32, 32), (64, 64, 16)]
    assert levels[0]["input_shape"] == (2, 2, 1024)  # 64 / 32
    assert model.get_layer(unet.ENCODER_OUTPUT["mobilenet"]).output.shape[1:] == (2, 2, 1024)


@pytest.mark.slow
def test_skip_layers_of_every_encoder_line_up(built_64):
    for encoder in unet.ENCODERS:
        levels = built_64[encoder]["levels"]
        for level in levels:
            if level["skip_shape"] is not None:
                assert level["skip_shape"][:2] == level["output_shape"][:2], (encoder, level)
        assert levels[-1]["output_shape"][:2] == (64, 64)
    assert [lv["skip_shape"][2] for lv in built_64["densenet121"]["levels"][:4]] == [
        512, 256, 128, 64]


def test_decoder_block_shapes_and_parameters():
    x = keras.Input((4, 4, 8))
    skip = keras.Input((8, 8, 4))
    out = unet.decoder_block(x, skip, 6, name="block")
    block = keras.Model([x, skip], out)
    assert tuple(out.shape) == (None, 8, 8, 6)
    # 9*(8+4)*6 + 4*6 + 9*6*6 + 4*6 = 648 + 24 + 324 + 24
    assert block.count_params() == 1020
    kinds = [type(layer).__name__ for layer in block.layers]
    assert kinds.count("UpSampling2D") == 1 and kinds.count("Concatenate") == 1
    assert kinds.count("Conv2D") == 2 and kinds.count("BatchNormalization") == 2
    assert all(not layer.use_bias for layer in block.layers
               if isinstance(layer, keras.layers.Conv2D))
    # Without a skip (the last block): 9*8*6 + 24 + 324 + 24
    lone = unet.decoder_block(x, None, 6, name="lone")
    assert keras.Model(x, lone).count_params() == 804
    assert tuple(lone.shape) == (None, 8, 8, 6)


def test_decoder_block_validates():
    x = keras.Input((4, 4, 8))
    with pytest.raises(ValueError, match="twice the height"):
        unet.decoder_block(x, keras.Input((4, 4, 4)), 6)
    with pytest.raises(ValueError, match="positive integer"):
        unet.decoder_block(x, None, 0)


@pytest.mark.slow
def test_weights_file_sizes_match_table_viii(built_64):
    sizes = {encoder: built_64[encoder]["mib"] for encoder in unet.PAPER_ENCODERS}
    # Measured: 32.1 MiB and 47.5 MiB (paper: 32M and 48M); 4 bytes per parameter + HDF5 overhead
    assert 8_336_337 * 4 / 2 ** 20 < sizes["mobilenet"] < 32.5
    assert 12_144_977 * 4 / 2 ** 20 < sizes["densenet121"] < 48.0
    assert round(sizes["mobilenet"], 1) == 32.1 and round(sizes["densenet121"], 1) == 47.5


def test_init_encoder_from_dc_copies_the_backbone(tmp_path):
    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    dc = build_dc_model("mobilenet", input_shape=(64, 64, 3))
    model = unet.build_unet("mobilenet", input_shape=(96, 96, 3))  # other size: same weights
    before = model.get_layer("decoder_stage0a_conv").get_weights()[0].copy()
    report = unet.init_encoder_from_dc(model, dc)
    backbone = dc.get_layer("backbone")
    assert report["parameters"] == backbone.count_params() == 3_228_864
    assert report["skipped"] == []
    for name in ("conv1", "conv_pw_13", "conv_pw_13_bn"):
        for ours, theirs in zip(model.get_layer(name).get_weights(),
                                backbone.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(model.get_layer("decoder_stage0a_conv").get_weights()[0],
                                  before)  # the decoder is untouched
    # Through a saved .keras file and build_unet(weights=path)
    path = tmp_path / "dc-mobilenet.keras"
    dc.save(path)
    keras.backend.clear_session()
    loaded = unet.build_unet("mobilenet", input_shape=(64, 64, 3), weights=path)
    np.testing.assert_array_equal(loaded.get_layer("conv_pw_7").get_weights()[0],
                                  backbone.get_layer("conv_pw_7").get_weights()[0])
    # The plain U-Net shares no layer with a DC model: refused, not silently left random.
    with pytest.raises(ValueError, match="same backbone"):
        unet.build_unet("plain", input_shape=(64, 64, 3), weights=path)


def test_init_encoder_from_a_different_backbone_fails():
    keras.backend.clear_session()
    model = unet.build_unet("mobilenet", input_shape=(64, 64, 3))
    squeezenet = backbones.build_classifier("squeezenet", input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="same backbone") as caught:
        unet.init_encoder_from_dc(model, squeezenet)
    assert "dc-mobilenet -> build_unet('mobilenet')" in str(caught.value)
    with pytest.raises(ValueError, match="keras Model"):
        unet.init_encoder_from_dc(model, 42)


def test_caffe_preprocessing_matches_keras_vgg16():
    layer = unet.CaffePreprocess()
    image = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3)).astype(np.float32)
    expected = keras.applications.vgg16.preprocess_input(image.copy())
    np.testing.assert_allclose(np.asarray(layer(image)), expected, atol=1e-4)
    assert layer.weights == []


def test_upsample_probabilities_bilinear_then_threshold():
    # Left half 0.9, right half 0.1 at 4x4; at 8x8 the output column 3 samples input
    # coordinate 1.25 -> 0.75*0.9 + 0.25*0.1 = 0.7, column 4 samples 1.75 -> 0.3.
    prob = np.zeros((4, 4), np.float32)
    prob[:, :2], prob[:, 2:] = 0.9, 0.1
    (big,) = unet.upsample_probabilities([prob[..., None]], [(8, 8)])
    assert big.shape == (8, 8)
    np.testing.assert_allclose(big[0, 3], 0.7, atol=1e-5)
    np.testing.assert_allclose(big[0, 4], 0.3, atol=1e-5)
    assert ((big > 0.5) == (np.arange(8) < 4)[None, :]).all()
    (same,) = unet.upsample_probabilities([prob], [(4, 4)])
    np.testing.assert_array_equal(same, prob)
    with pytest.raises(ValueError, match="one \\(height, width\\) per map"):
        unet.upsample_probabilities([prob], [])


def _write_masks(tmp_path, masks):
    from PIL import Image

    paths = []
    for index, mask in enumerate(masks):
        path = tmp_path / f"ISIC_{index:07d}_Segmentation.png"
        Image.fromarray(mask).save(path)
        paths.append(path)
    return SimpleNamespace(mask_paths=paths)


def test_load_original_masks_and_evaluate_at_both_resolutions(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    first = np.zeros((8, 8), np.uint8)
    first[:, :4] = 255                    # lesion = left half
    second = np.zeros((8, 12), np.uint8)  # non-square original
    second[2:6, 3:9] = 255
    record = _write_masks(tmp_path, [first, second])
    originals = unet.load_original_masks(record)
    assert [m.shape for m in originals] == [(8, 8), (8, 12)] and originals[0].dtype == bool
    assert originals[0][:, :4].all() and not originals[0][:, 4:].any()
    # Model-size (4x4) probabilities: image 1 exactly the left half; image 2 all background.
    probs = np.zeros((2, 4, 4), np.float32)
    probs[0, :, :2], probs[0, :, 2:] = 0.9, 0.1
    model_size = [originals[0][::2, ::2], np.zeros((4, 4), bool)]  # truths at model size
    profile = config.get_profile("smoke")
    result = recipes.evaluate_unet(None, None, originals, name="unet-test", profile=profile,
                                model_size_masks=model_size, probabilities=probs,
                                record=True, verbose=False)
    # Image 1: perfect (JA 1). Image 2: 24 lesion pixels all missed, 72 background right:
    # JA 0, SE 0, SP 1, AC 72/96 = 0.75, DC 0 -> means over the two images.
    assert result["metrics"]["JA"] == pytest.approx(0.5)
    assert result["metrics"]["SE"] == pytest.approx(0.5)
    assert result["metrics"]["SP"] == pytest.approx(1.0)
    assert result["metrics"]["AC"] == pytest.approx((1 + 0.75) / 2)
    np.testing.assert_allclose(result["per_image"]["JA"], [1.0, 0.0])
    # At model size image 2's truth is empty and predicted empty -> JA 1 by the official rule.
    assert result["model_size"]["JA"] == pytest.approx(1.0)
    saved = list((tmp_path / "runs" / "smoke" / "results").glob("*unet-test.json"))
    assert len(saved) == 1 and "original mask size" in saved[0].read_text()
    with pytest.raises(ValueError, match="no masks"):
        unet.load_original_masks(SimpleNamespace(mask_paths=[None]))


def test_predict_masks_shape():
    keras.backend.clear_session()
    model = unet.build_unet("mobilenet", input_shape=(32, 32, 3))
    images = np.zeros((3, 32, 32, 3), np.uint8)
    probs = unet.predict_masks(model, images)
    assert probs.shape == (3, 32, 32) and probs.dtype == np.float32
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        unet.predict_masks(model, np.zeros((3, 32, 32)))


def test_segmentation_loss_names():
    from course_lib import losses

    assert unet.segmentation_loss("bce_dice") is losses.bce_dice_loss
    assert isinstance(unet.segmentation_loss("focal"), losses.SegmentationFocalLoss)
    with pytest.raises(ValueError, match="loss must be one of"):
        unet.segmentation_loss("jaccard")


@pytest.mark.slow
def test_train_unet_saves_a_model_that_loads_back(tmp_path, monkeypatch):
    from course_lib import data, train

    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    masks = np.zeros((12, 32, 32), np.uint8)
    masks[:, 8:24, 8:24] = 255
    splits = data.Splits(x_train=images[:8], y_train=np.zeros(8, int), m_train=masks[:8],
                         x_val=images[8:10], y_val=np.zeros(2, int), m_val=masks[8:10],
                         x_test=images[10:], y_test=np.zeros(2, int), m_test=masks[10:],
                         ids_train=[], ids_val=[], ids_test=[], image_size=32)
    # expand_segmentation 1350 scales to 1350 * 8 / 900 = 12 images for the 8 training sources:
    # the paper profile's OFFLINE expansion path (the notebook exercises the on-the-fly one).
    profile = config.get_profile("smoke", batch_size=4, expand_segmentation=1350)
    model, history, seconds = recipes.train_unet("mobilenet", splits, profile, name="unet-tiny",
                                              epochs=1, verbose=0)
    assert set(history) >= {"loss", "val_loss"} and len(history["loss"]) == 1
    assert np.isfinite(history["loss"][0]) and seconds > 0
    restored = train.load_saved_model(profile, "unet-tiny")
    np.testing.assert_allclose(unet.predict_masks(restored, images[10:]),
                               unet.predict_masks(model, images[10:]), atol=1e-6)
    with pytest.raises(ValueError, match="no masks"):
        recipes.train_unet("mobilenet", data.Splits(**{**splits.__dict__, "m_train": None}),
                        profile, name="x")


# ------------------------------------------------------------------- injection points (nb06)
# The exercises' checks are tested in tests/test_exercises_nb06.py.

def test_find_skip_layers_gives_the_declared_skips():
    for encoder in ("mobilenet", "vgg16"):
        keras.backend.clear_session()
        found = {}
        unet.build_unet(encoder, (64, 64, 3), skip_layers=lambda model: found.setdefault(
            "names", unet.find_skip_layers(model)))
        assert found["names"] == unet.SKIP_LAYERS[encoder]


@pytest.mark.slow
def test_find_skip_layers_every_encoder():
    for encoder in ("densenet121", "resnext50"):
        keras.backend.clear_session()
        found = {}
        unet.build_unet(encoder, (64, 64, 3), skip_layers=lambda model: found.setdefault(
            "names", unet.find_skip_layers(model)))
        assert found["names"] == unet.SKIP_LAYERS[encoder]


def test_build_unet_uses_the_given_decoder_block_and_skips():
    from keras import layers

    calls = []

    def block(x, skip, filters):  # the library's block with automatic layer names
        calls.append((tuple(x.shape[1:]), None if skip is None else tuple(skip.shape[1:]),
                      filters))
        x = layers.UpSampling2D(2)(x)
        if skip is not None:
            x = layers.Concatenate()([x, skip])
        for _ in range(2):
            x = layers.ReLU()(layers.BatchNormalization()(
                layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)))
        return x

    keras.backend.clear_session()
    default = unet.build_unet("mobilenet", (64, 64, 3))
    custom = unet.build_unet("mobilenet", (64, 64, 3), decoder_block=block,
                             skip_layers=unet.find_skip_layers)
    assert [c[2] for c in calls] == list(unet.DECODER_FILTERS)
    assert calls[0] == ((2, 2, 1024), (4, 4, 512), 256) and calls[-1][1] is None
    assert custom.count_params() == default.count_params() == unet.UNET_PARAMS["mobilenet"]
    assert not any(layer.name.startswith("decoder_stage") for layer in custom.layers)
    # The library's own block passed explicitly (what checks.use returns when 6.4 is unsolved)
    # builds the default model, layer names included.
    explicit = unet.build_unet("mobilenet", (64, 64, 3), decoder_block=unet.decoder_block,
                               skip_layers=unet.SKIP_LAYERS["mobilenet"])
    assert [layer.name for layer in explicit.layers] == [layer.name for layer in default.layers]
    # Skips given as names, deepest first; a wrong list is refused.
    other = unet.build_unet("mobilenet", (64, 64, 3),
                            skip_layers=("conv_pw_10_relu", "conv_pw_4_relu",
                                         "conv_pw_2_relu", "conv1_relu"))  # 32, not 64 channels
    assert other.count_params() == default.count_params() - 9 * 32 * 32
    with pytest.raises(ValueError, match="skip_layers"):
        unet.build_unet("mobilenet", (64, 64, 3), skip_layers=("conv_pw_1_relu",))
    with pytest.raises(ValueError, match="skip_layers"):
        unet.build_unet("mobilenet", (64, 64, 3), skip_layers=lambda m: ["nope"] * 4)
    keras.backend.clear_session()


def test_train_unet_passes_block_skips_and_loss_on(monkeypatch):
    from course_lib import train

    seen = {}

    class Stop(Exception):
        pass

    def fake_build(encoder, input_shape, weights=None, decoder_block=None, skip_layers=None):
        seen.update(decoder_block=decoder_block, skip_layers=skip_layers)
        raise Stop

    monkeypatch.setattr(recipes, "build_unet", fake_build)
    monkeypatch.setattr(train, "fresh_session", lambda profile: None)
    splits = SimpleNamespace(m_train=np.zeros((1, 32, 32)), m_val=np.zeros((1, 32, 32)),
                             image_size=32)
    profile = SimpleNamespace(weights=None)
    block, skips = object(), unet.find_skip_layers
    with pytest.raises(Stop):
        recipes.train_unet("mobilenet", splits, profile, name="x", decoder_block=block,
                        skip_layers=skips)
    assert seen == {"decoder_block": block, "skip_layers": skips}


def test_dice_loss_numpy_equals_the_keras_loss():
    from course_lib import losses

    rng = np.random.default_rng(3)
    y_true = (rng.uniform(size=(3, 4, 5, 1)) > 0.5).astype(np.float32)
    y_pred = rng.uniform(size=(3, 4, 5, 1)).astype(np.float32)
    np.testing.assert_allclose(unet.dice_loss_numpy(y_true, y_pred),
                               keras.ops.convert_to_numpy(losses.dice_loss(y_true, y_pred)),
                               rtol=1e-5)


def test_decoder_filters_set_the_block_widths_and_bad_ones_are_refused():
    import keras as _keras

    _keras.backend.clear_session()
    model = unet.build_unet("mobilenet", input_shape=(64, 64, 3),
                            decoder_filters=(64, 32, 16, 8, 4))
    widths = [model.get_layer(f"decoder_stage{s}b_conv").filters for s in range(5)]
    assert widths == [64, 32, 16, 8, 4]
    default = unet.build_unet("mobilenet", input_shape=(64, 64, 3))
    assert [default.get_layer(f"decoder_stage{s}b_conv").filters for s in range(5)] == list(
        unet.DECODER_FILTERS)
    assert model.count_params() < default.count_params()
    for bad in ((64, 32, 16, 8), (64, 32, 16, 8, 0), (64, 32, 16, 8, 2.5), "wide"):
        with pytest.raises(ValueError, match="decoder_filters must be 5 positive"):
            unet.build_unet("mobilenet", input_shape=(64, 64, 3), decoder_filters=bad)


def test_skip_connections_names_the_missing_layer():
    import keras as _keras
    from keras import layers as _layers

    _keras.backend.clear_session()

    def own_block(x, skip, filters):
        x = _layers.UpSampling2D()(x)
        if skip is not None:
            x = _layers.Concatenate()([x, skip])
        return _layers.Conv2D(filters, 3, padding="same")(x)

    model = unet.build_unet("mobilenet", input_shape=(64, 64, 3), decoder_block=own_block)
    with pytest.raises(ValueError, match="has no layer 'decoder_stage0_upsampling'"):
        unet.skip_connections(model, "mobilenet")


def test_declared_skip_layers_come_from_the_registry_and_a_wrong_one_fails_loudly(monkeypatch):
    import dataclasses

    assert unet.SKIP_LAYERS == {name: backbones.REGISTRY[name].skip_layers
                                for name in unet.ENCODERS}
    keras.backend.clear_session()
    wrong = dataclasses.replace(backbones.REGISTRY["mobilenet"], skip_layers=(
        "conv_pw_11_relu", "conv_pw_5_relu", "conv_pw_3_relu", "conv_pw_1_rleu"))
    monkeypatch.setitem(backbones.REGISTRY, "mobilenet", wrong)
    with pytest.raises(ValueError, match=r"has no layer \['conv_pw_1_rleu'\]") as caught:
        unet.build_unet("mobilenet", (64, 64, 3))
    assert "find_skip_layers" in str(caught.value)
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"has no layer \['nope'\]"):
        unet.build_unet("vgg16", (64, 64, 3), skip_layers=("block5_conv3", "block4_conv3",
                                                           "block3_conv3", "nope"))


def test_unet_uses_only_public_names_of_backbones():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(unet))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "backbones" for alias in node.names]
    assert imported and not [name for name in imported if name.startswith("_")]
    assert unet.resnext50_encoder is backbones.resnext50_encoder
    assert unet.CaffePreprocess is backbones.CaffePreprocess
