"""U-Nets for lesion segmentation: a lightweight encoder under a standard decoder.

Taught in 06_unet_segmentation (paper sections III.C and IV.B, Fig. 3 and 6, Tables VIII-X).
The decoder follows the ``segmentation_models`` 0.2.x U-Net, which reproduces the paper's model
sizes: five blocks of 256 ... 16 filters (Fig. 6c), skips at 1/16 ... 1/2 of the input size, no
centre block. Images are float32 RGB in [0, 255]; encoders come from
:data:`~course_lib.models.backbones.REGISTRY`.

=====================  ===========================  ==========================================
``encoder``            Table VIII (size)            this module (total parameters, 224x224x3)
=====================  ===========================  ==========================================
``mobilenet``          U-MobileNetV1 (32M)          8,336,337 (32.1 MiB of weights)
``densenet121``        U-DenseNet121 (48M)          12,144,977 (47.5 MiB)
``vgg16``              U-VGG16 (73M)                19,029,585 (72.7 MiB)
``resnext50``          U-ResNeXt50 (125M)           32,063,194 (122.9 MiB)
``plain``              U-Net (120M)                 31,031,745 (118.5 MiB)
=====================  ===========================  ==========================================

Sizes are ``save_weights`` HDF5 files (:func:`weights_file_size`). The first four counts equal
the ``segmentation_models`` U-Nets' exactly (Keras 3.15); ``plain`` is Ronneberger et al.'s
original U-Net, this module's own version. U-ResNeXt50's file is 2.2 MiB smaller than
segmentation_models' (125.1 MiB) for the same parameters: each grouped 3x3 convolution is ONE
``Conv2D(groups=32)`` here, 32 separate ones (more HDF5 datasets) in ``classification_models``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

import keras
from keras import layers

from ..paper import MASK_THRESHOLD
from .backbones import (REGISTRY, CaffePreprocess, check_input_shape, check_name,
                        check_weights, encoder_model, load_weights_file, preprocessing_layer,
                        resnext50_encoder)

__all__ = [
    "ENCODERS", "PAPER_ENCODERS", "IMAGENET_ENCODERS", "SKIP_LAYERS", "ENCODER_OUTPUT",
    "DECODER_FILTERS", "UNET_PARAMS", "MODEL_NAMES", "INPUT_MULTIPLE", "CaffePreprocess",
    "build_unet", "decoder_block", "find_skip_layers", "dice_loss_numpy", "resnext50_encoder",
    "init_encoder_from_dc", "skip_connections", "weights_file_size", "load_original_masks",
    "upsample_probabilities", "predict_masks", "segmentation_loss",
]

#: Every encoder :func:`build_unet` accepts: those of the registry with declared skip layers.
ENCODERS = tuple(name for name, spec in REGISTRY.items() if spec.skip_layers)
#: The paper's two lightweight encoders (U-MobileNetV1, U-DenseNet121).
PAPER_ENCODERS = ("mobilenet", "densenet121")
#: Encoders with ImageNet weights in ``keras.applications``.
IMAGENET_ENCODERS = tuple(name for name in ENCODERS if REGISTRY[name].imagenet_file)
#: The course's model (and result-record) name of each U-Net.
MODEL_NAMES = {encoder: f"unet-{encoder}" for encoder in ENCODERS}
#: Encoder layers feeding the skips, deepest first (1/16 ... 1/2 of the side; block 5 has none).
SKIP_LAYERS = {name: REGISTRY[name].skip_layers for name in ENCODERS}
#: The encoder's last layer (1/32 of the input side; 1/16 for the plain U-Net's bottleneck).
ENCODER_OUTPUT = {name: REGISTRY[name].output_layer for name in ENCODERS}
#: Output channels of the five decoder blocks (segmentation_models' defaults).
DECODER_FILTERS = (256, 128, 64, 32, 16)
#: Input sides must be multiples of this (five halvings in the encoder).
INPUT_MULTIPLE = 32

#: Total parameters of each U-Net at 224x224x3 (Keras counts, BatchNorm statistics included).
UNET_PARAMS = {"mobilenet": 8_336_337, "densenet121": 12_144_977, "vgg16": 19_029_585,
               "resnext50": 32_063_194, "plain": 31_031_745}


# --------------------------------------------------------------------------- checks
def _check_weights(encoder: str, weights):
    """``check_weights``, then a file must be a ``.keras`` model or a Keras ImageNet ``.h5``."""
    weights = check_weights(encoder, weights, ENCODERS, (
        "a model saved by notebook 03/04 (e.g. runs/<profile>/models/dc-mobilenet.keras; run "
        "that notebook first) or of the encoder's Keras ImageNet .h5 file"))
    if not isinstance(weights, Path) or weights.suffix == ".keras":
        return weights
    if weights.suffix != ".h5" or weights.name.endswith(".weights.h5"):
        raise ValueError(
            f"Cannot tell what {weights.name!r} holds. build_unet accepts a .keras model saved by "
            f"notebook 03/04 (its backbone initialises the encoder) or the encoder's Keras "
            f"ImageNet .h5 file. To restore a whole U-Net saved with save_weights, build it "
            f"with weights=None and call model.load_weights(path).")
    if REGISTRY[encoder].imagenet_file is None:
        raise ValueError(f"An .h5 encoder file can only initialise a keras.applications "
                         f"encoder ({', '.join(IMAGENET_ENCODERS)}), not {encoder!r}.")
    return weights


# --------------------------------------------------------------------------- decoder
def _conv_bn_relu(x, filters: int, name: str):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def decoder_block(x, skip, filters: int, name: str = "decoder_block"):
    """One decoder block of Fig. 6(c). Taught in 06_unet_segmentation (exercise 6.4).
    UpSampling2D(2), concatenate ``skip`` (``None``: none), then twice Conv2D 3x3 (no bias) ->
    BN -> ReLU: ``9 (C_x + C_skip) filters + 4 filters``, then ``9 filters^2 + 4 filters``."""
    if not isinstance(filters, (int, np.integer)) or filters < 1:
        raise ValueError(f"filters must be a positive integer (the paper's decoder: "
                         f"{DECODER_FILTERS}); got {filters!r}.")
    x = layers.UpSampling2D(2, name=f"{name}_upsampling")(x)
    if skip is not None:
        if tuple(skip.shape[1:3]) != tuple(x.shape[1:3]):
            raise ValueError(f"The skip connection is {tuple(skip.shape[1:3])} but the upsampled "
                             f"input is {tuple(x.shape[1:3])}: a skip must have twice the height "
                             "and width of the block's input.")
        x = layers.Concatenate(name=f"{name}_concat")([x, skip])
    x = _conv_bn_relu(x, int(filters), f"{name}a")
    return _conv_bn_relu(x, int(filters), f"{name}b")


#: The library's block, under a second name: build_unet's ``decoder_block`` argument shadows it.
_reference_decoder_block = decoder_block


def find_skip_layers(encoder_model: keras.Model, strides=(16, 8, 4, 2)) -> tuple[str, ...]:
    """The encoder layers that feed the skip connections, deepest first. Taught in
    06_unet_segmentation (exercise 6.5): for each stride s the LAST layer whose output is
    (H/s) x (W/s); padded maps (larger than an earlier one) are passed over. Gives
    :data:`SKIP_LAYERS` for every encoder but ``plain``."""
    height, width = (int(v) for v in encoder_model.inputs[0].shape[1:3])
    last_at, smallest = {}, (height, width)
    for layer in encoder_model.layers:
        shape = tuple(layer.output.shape)
        if len(shape) != 4 or shape[1] > smallest[0] or shape[2] > smallest[1]:
            continue  # not a feature map, or a padded one
        smallest = (shape[1], shape[2])
        last_at[smallest] = layer.name
    names = []
    for stride in strides:
        size = (height // stride, width // stride)
        if height % stride or width % stride or size not in last_at:
            raise ValueError(f"{encoder_model.name!r} has no layer with a {size[0]}x{size[1]} "
                             f"output (1/{stride} of its {height}x{width} input).")
        names.append(last_at[size])
    return tuple(names)


def _sigmoid_head(x, kernel_size: int = 3):
    x = layers.Conv2D(1, kernel_size, padding="same", name="final_conv")(x)
    # float32 even under mixed precision: probabilities and the loss stay accurate.
    return layers.Activation("sigmoid", dtype="float32", name="mask")(x)


# --------------------------------------------------------------------------- original U-Net
def _plain_unet(x):
    """Ronneberger et al. (2015), 'same' padding: 64 -> 1024 filters, 2x2 up-convolutions."""
    skips = []
    for level, filters in enumerate((64, 128, 256, 512), start=1):
        for i in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", name=f"enc{level}_conv{i}")(x)
            x = layers.ReLU(name=f"enc{level}_relu{i}")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    for i in (1, 2):
        x = layers.Conv2D(1024, 3, padding="same", name=f"bottleneck_conv{i}")(x)
        x = layers.ReLU(name=f"bottleneck_relu{i}")(x)
    for level, filters in zip((4, 3, 2, 1), (512, 256, 128, 64)):
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"dec{level}_upconv")(x)
        x = layers.Concatenate(name=f"dec{level}_concat")([x, skips[level - 1]])
        for i in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", name=f"dec{level}_conv{i}")(x)
            x = layers.ReLU(name=f"dec{level}_relu{i}")(x)
    return _sigmoid_head(x, kernel_size=1)


# --------------------------------------------------------------------------- build_unet
def _skip_names(encoder: str, encoder_model: keras.Model, skip_layers) -> tuple[str, ...]:
    """The declared skip layers, a given sequence or ``fn(encoder_model)``, checked."""
    declared = REGISTRY[encoder].skip_layers
    names = declared if skip_layers is None else (
        skip_layers(encoder_model) if callable(skip_layers) else skip_layers)
    names = tuple(names) if isinstance(names, (list, tuple)) else ()
    missing = [n for n in names if n not in {layer.name for layer in encoder_model.layers}]
    if len(names) != len(declared) or missing:
        raise ValueError(
            f"skip_layers must give {len(declared)} layer names of the {encoder!r} encoder, "
            f"deepest first (declared: {declared}); got {names!r}"
            + (f", and {encoder_model.name!r} has no layer {missing}" if missing else "")
            + ". unet.find_skip_layers(encoder_model) finds them from the layer shapes.")
    return names


def _check_decoder_filters(decoder_filters) -> tuple[int, ...]:
    """Five positive whole numbers, one per decoder block (deepest first)."""
    if decoder_filters is None:
        return DECODER_FILTERS
    values = tuple(decoder_filters) if isinstance(decoder_filters, (list, tuple)) else ()
    if len(values) != len(DECODER_FILTERS) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
            for v in values):
        raise ValueError(f"decoder_filters must be {len(DECODER_FILTERS)} positive whole "
                         f"numbers, one per decoder block, deepest first (the paper's: "
                         f"{DECODER_FILTERS}); got {decoder_filters!r}.")
    return tuple(int(v) for v in values)


def _unet_decoder(encoder_model: keras.Model, skip_names, decoder_block=None,
                  decoder_filters=DECODER_FILTERS):
    """Five decoder blocks on the encoder's output, with skips from ``skip_names``."""
    x = encoder_model.output
    skip_tensors = [encoder_model.get_layer(layer_name).output for layer_name in skip_names]
    skip_tensors += [None] * (len(decoder_filters) - len(skip_tensors))
    for stage, (filters, skip) in enumerate(zip(decoder_filters, skip_tensors)):
        if decoder_block is None or decoder_block is _reference_decoder_block:
            x = _reference_decoder_block(x, skip, filters, name=f"decoder_stage{stage}")
        else:
            x = decoder_block(x, skip, filters)
    return x


def build_unet(encoder: str, input_shape=(224, 224, 3), weights=None,
               name: str | None = None, *, decoder_block=None, skip_layers=None,
               decoder_filters=None) -> keras.Model:
    """A U-Net with the given encoder: image in [0, 255] -> lesion probabilities (N, H, W, 1).
    Taught in 06_unet_segmentation (paper III.C.2, Fig. 3 and 6); sides multiples of 32.
    ``weights`` (encoder only): ``None``, ``"imagenet"``, the encoder's Keras ImageNet ``.h5``
    file, or a notebook 03/04 ``.keras`` model (:func:`init_encoder_from_dc`). ``decoder_block``
    (exercise 6.4), ``skip_layers`` (names or ``fn(encoder_model)``, exercise 6.5) and
    ``decoder_filters`` replace the library's; ``"plain"`` ignores them."""
    encoder = check_name(encoder, ENCODERS, "encoder")
    input_shape = check_input_shape(input_shape, multiple=INPUT_MULTIPLE)
    weights = _check_weights(encoder, weights)
    decoder_filters = _check_decoder_filters(decoder_filters)
    inputs = keras.Input(shape=input_shape, name="image")
    if REGISTRY[encoder].build is None:  # "plain": the original U-Net, with its own decoder
        outputs = _plain_unet(preprocessing_layer(encoder)(inputs))
    else:
        encoder_net = encoder_model(encoder, inputs, weights)
        if isinstance(weights, Path) and weights.suffix == ".h5":
            load_weights_file(encoder_net, weights, encoder)
        outputs = _sigmoid_head(_unet_decoder(
            encoder_net, _skip_names(encoder, encoder_net, skip_layers), decoder_block,
            decoder_filters))
    model = keras.Model(inputs, outputs, name=name or f"unet_{encoder}")
    if isinstance(weights, Path) and weights.suffix == ".keras":
        init_encoder_from_dc(model, weights)
    return model


# --------------------------------------------------------------------------- migration
def _feature_model(source) -> keras.Model:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"No saved model {str(path)!r}: run the notebook that "
                                    "trains it first (04_discriminant_network writes "
                                    "runs/<profile>/models/dc-mobilenet.keras).")
        source = keras.saving.load_model(path, compile=False)
    if not isinstance(source, keras.Model):
        raise ValueError(f"source must be a keras Model or the path of a .keras file; got "
                         f"{type(source).__name__}.")
    try:
        nested = source.get_layer("backbone")  # a DC model: the shared backbone
    except ValueError:
        nested = None
    return nested if isinstance(nested, keras.Model) else source


def init_encoder_from_dc(unet: keras.Model, source) -> dict:
    """Copy a trained DC model's, classifier's or backbone's (or its ``.keras`` file's) layers
    into the U-Net's encoder by name and shape ("migration" start, 06_unet_segmentation).
    Returns ``{"layers", "parameters", "skipped"}``; ``ValueError`` when nothing matches."""
    features = _feature_model(source)
    copied_layers, copied_numbers, skipped = 0, 0, []
    targets = {layer.name: layer for layer in unet.layers}
    for layer in features.layers:
        values = layer.get_weights()
        if not values or layer.name not in targets:
            continue
        target = targets[layer.name]
        shapes = [w.shape for w in target.get_weights()]
        if shapes != [v.shape for v in values]:
            skipped.append(layer.name)
            continue
        target.set_weights(values)
        copied_layers += 1
        copied_numbers += int(sum(v.size for v in values))
    if copied_layers == 0:
        raise ValueError(
            f"No layer of {features.name!r} matches the encoder of {unet.name!r}: initialise a "
            f"U-Net from a model with the same backbone (dc-mobilenet -> build_unet('mobilenet'),"
            f" dc-densenet121 -> build_unet('densenet121')).")
    return {"layers": copied_layers, "parameters": copied_numbers, "skipped": skipped}


# --------------------------------------------------------------------------- inspection
def _encoder_of(model: keras.Model) -> str:
    for encoder in ENCODERS:
        if model.name == f"unet_{encoder}":
            return encoder
    names = {layer.name for layer in model.layers}
    for encoder in ENCODERS:
        if set(SKIP_LAYERS[encoder]) <= names:
            return encoder
    raise ValueError(f"{model.name!r} does not look like a build_unet model; pass encoder=...")


def skip_connections(model: keras.Model, encoder: str | None = None) -> list[dict]:
    """The U-Net's levels, deepest first (06_unet_segmentation): one ``{"stage", "skip_layer",
    "skip_shape", "input_shape", "output_shape"}`` per decoder block (no skip: ``None``)."""
    encoder = check_name(encoder, ENCODERS, "encoder") if encoder else _encoder_of(model)

    def shape(layer_name, which="output"):
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            raise ValueError(f"skip_connections reads the levels of a U-Net built by build_unet "
                             f"with the course's decoder block: {model.name!r} has no layer "
                             f"{layer_name!r} (a decoder_block of your own names its layers "
                             "itself; use the reference block to draw the levels).") from None
        return tuple(int(v) for v in getattr(layer, which).shape[1:])

    if encoder == "plain":  # (skip, first layer, last layer) of its four up-convolution levels
        blocks = [(skip, f"dec{level}_upconv", f"dec{level}_relu2")
                  for skip, level in zip(SKIP_LAYERS["plain"], (4, 3, 2, 1))]
    else:
        declared = SKIP_LAYERS[encoder]
        skips = list(declared) + [None] * (len(DECODER_FILTERS) - len(declared))
        blocks = [(skip, f"decoder_stage{stage}_upsampling", f"decoder_stage{stage}b_relu")
                  for stage, skip in enumerate(skips)]
    return [{"stage": stage, "skip_layer": skip, "skip_shape": shape(skip) if skip else None,
             "input_shape": shape(first, "input"), "output_shape": shape(last)}
            for stage, (skip, first, last) in enumerate(blocks)]


def weights_file_size(model: keras.Model) -> int:
    """Bytes of ``model.save_weights(...)`` (HDF5): Table VIII's "model size" (notebook 06)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.weights.h5"
        model.save_weights(path)
        return path.stat().st_size


# --------------------------------------------------------------------------- evaluation helpers
def load_original_masks(record) -> list[np.ndarray]:
    """A record's ground-truth masks at their ORIGINAL size, as booleans (06_unet_segmentation)."""
    from PIL import Image
    paths = list(getattr(record, "mask_paths", []) or [])
    if not paths or any(path is None for path in paths):
        raise ValueError("The record has no masks (or some rows lack one): pass a segmentation "
                         "record from data.prepare_data(profile, split).")
    masks = []
    for path in paths:
        with Image.open(path) as picture:
            masks.append(np.asarray(picture.convert("L")) > MASK_THRESHOLD)
    return masks


def upsample_probabilities(prob_maps, sizes) -> list[np.ndarray]:
    """Resize each probability map (bilinear) to ``sizes[i] = (height, width)``; taught in
    06_unet_segmentation (the challenge thresholds at the original size). ``prob_maps``:
    (N, h, w) or (N, h, w, 1) floats in [0, 1]."""
    from PIL import Image
    prob_maps = list(prob_maps)
    sizes = [tuple(int(v) for v in size[:2]) for size in sizes]
    if len(prob_maps) != len(sizes):
        raise ValueError(f"{len(prob_maps)} probability maps but {len(sizes)} sizes: pass one "
                         "(height, width) per map.")
    resized = []
    for prob, (height, width) in zip(prob_maps, sizes):
        array = np.squeeze(np.asarray(prob, dtype=np.float32))
        if array.ndim != 2:
            raise ValueError(f"A probability map must be (h, w) or (h, w, 1); got "
                             f"{np.shape(prob)}.")
        if array.shape == (height, width):
            resized.append(array)
            continue
        picture = Image.fromarray(array, mode="F").resize((width, height), Image.BILINEAR)
        resized.append(np.asarray(picture, dtype=np.float32))
    return resized


def predict_masks(model: keras.Model, images, batch_size: int = 16) -> np.ndarray:
    """Lesion probability maps ``(N, H, W)`` for images ``(N, H, W, 3)`` in [0, 255].
    Taught in 06_unet_segmentation."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3); got {images.shape}.")
    # Direct calls batch by batch: model.predict would trace a tf.function for every model.
    outputs = [keras.ops.convert_to_numpy(model(images[start:start + batch_size]
                                                .astype(np.float32), training=False))
               for start in range(0, len(images), batch_size)]
    return np.concatenate(outputs)[..., 0]


# --------------------------------------------------------------------------- training
def dice_loss_numpy(y_true, y_pred, eps: float = 1.0) -> np.ndarray:
    """Eq. (10) in NumPy: one Dice loss per image, ``(N,)`` (exercise 6.1, 06_unet_segmentation)."""
    n = len(y_true)
    truth = np.asarray(y_true, dtype=np.float64).reshape(n, -1)
    prob = np.asarray(y_pred, dtype=np.float64).reshape(n, -1)
    s1, s2, s3 = (truth * prob).sum(axis=1), truth.sum(axis=1), prob.sum(axis=1)
    return 1.0 - (2.0 * s1 + eps) / (s2 + s3 + eps)


def segmentation_loss(loss="bce_dice"):
    """``"bce_dice"`` (Eq. 11), ``"focal"`` (Table X) or ``"dice"`` -> the loss of
    :mod:`course_lib.losses`; a callable is returned as is. Taught in 06_unet_segmentation."""
    from .. import losses
    if callable(loss):
        return loss
    choices = {"bce_dice": losses.bce_dice_loss, "dice": losses.dice_loss,
               "focal": losses.segmentation_focal_loss}
    if loss not in choices:
        raise ValueError(f"loss must be one of {sorted(choices)} or a Keras loss; got {loss!r}.")
    return choices[loss]() if loss == "focal" else choices[loss]
