"""The course's encoders: the lightweight CNN zoo of Table III and the U-Net encoders.

Taught in 03_lightweight_cnns (paper III.A, IV.A.1); the U-Nets of 06_unet_segmentation take
their encoders from here too. One table, :data:`REGISTRY`, says how to build each encoder, its
preprocessing, its last feature map and its U-Net skip layers. Every model takes float32 RGB in
``[0, 255]`` and carries its preprocessing as a weightless layer, so the counts stay the paper's:

========================  ==========  ===============================================
backbone                  Table III   this module (total parameters, 224x224x3, 2 classes)
========================  ==========  ===============================================
``squeezenet`` (1.1)      1,237,498   1,237,498 (exact)
``shufflenet`` (V2 1.5x)  3,616,946   3,529,066 (-87,880, -2.4 %; variant not given by the paper)
``resnet18``              11,187,915  11,187,915 (exact)
``mobilenet`` (V1, 1.0)   3,230,914   3,230,914 (exact)
``densenet121``           7,039,554   7,039,554 (exact)
========================  ==========  ===============================================

MobileNet, DenseNet-121 (and VGG16) come from ``keras.applications``; SqueezeNet, ShuffleNet,
ResNet18 (and ResNeXt-50) have no Keras application: built here, they start from random weights.
"""
from __future__ import annotations

import math
import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
from keras import layers, ops

__all__ = [
    "Encoder", "REGISTRY", "BACKBONES", "KERAS_APPLICATIONS", "COURSE_BUILT", "LAST_CONV_LAYER",
    "FEATURE_LAYER", "FEATURE_DIMS", "PREPROCESSING", "PAPER_PARAMS", "SHUFFLENET_PAPER_PARAMS",
    "SHUFFLENET_PARAMS", "IMAGENET_WEIGHT_FILES", "MIN_INPUT_SIZE", "WeightsUnavailableError",
    "build_backbone", "build_classifier", "preprocessing_layer", "CaffePreprocess", "check_name",
    "check_input_shape", "check_weights", "encoder_model", "load_weights_file",
    "shufflenet_difference", "ChannelSplit", "ChannelShuffle", "resnext50_encoder",
    "MOBILENET_BLOCKS", "depthwise_separable_block", "mobilenet_extractor", "dense_block",
    "count_macs", "depthwise_separable_params", "separable_savings",
]

#: Total parameters of each Table III model as the paper prints them (2 classes, 224x224x3).
PAPER_PARAMS = {"squeezenet": 1_237_498, "shufflenet": 3_616_946, "resnet18": 11_187_915,
                "mobilenet": 3_230_914, "densenet121": 7_039_554}
#: Table III's ShuffleNet count. The paper does not say which ShuffleNet it used.
SHUFFLENET_PAPER_PARAMS = PAPER_PARAMS["shufflenet"]
#: Total parameters of this module's ShuffleNet classifier (V2 1.5x + 1000-unit Dense + Dense(2)).
SHUFFLENET_PARAMS = 3_529_066

#: Name of every backbone's global-average-pooling layer (ShuffleNet: a 1000-unit Dense follows).
FEATURE_LAYER = "avg_pool"
#: Smallest image side every backbone accepts (keras.applications' own limit is 32 px).
MIN_INPUT_SIZE = 32


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights could not be downloaded; the message says how to proceed offline."""


# --------------------------------------------------------------------------- preprocessing
# What each mode of Encoder.preprocessing computes on [0, 255] RGB (keras.applications' modes).
_PREPROCESSING_MODES = {
    "tf": "x / 127.5 - 1 (mobilenet's ImageNet weights; the course-built encoders start "
          "random, for them any fixed centring works)",
    "torch": "(x / 255 - mean) / std per channel, mean (0.485, 0.456, 0.406), std "
             "(0.229, 0.224, 0.225) (keras.applications.densenet.preprocess_input)",
    "caffe": "RGB -> BGR, minus the ImageNet mean (103.939, 116.779, 123.68) "
             "(keras.applications.vgg16.preprocess_input)",
}
# The ImageNet normalisations of torchvision / keras.applications ("torch" mode).
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
# VGG16's ImageNet weights expect keras.applications' "caffe" preprocessing: BGR, mean removed.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="course_lib")
class CaffePreprocess(layers.Layer):
    """VGG16's ImageNet preprocessing ('caffe' mode): RGB -> BGR, minus the ImageNet mean.
    Taught in 06_unet_segmentation. No weights; same numbers as ``vgg16.preprocess_input``."""

    def call(self, inputs):
        bgr = keras.ops.flip(inputs, axis=-1)
        return bgr - keras.ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=bgr.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def preprocessing_layer(encoder: str, name: str = "preprocess") -> layers.Layer:
    """The weightless layer mapping [0, 255] RGB to ``encoder``'s input range (any name of
    :data:`REGISTRY`). Taught in 03_lightweight_cnns. ``Rescaling`` adds no parameters (a
    ``Normalization`` layer would add its mean and variance to the count)."""
    mode = REGISTRY[check_name(encoder, tuple(REGISTRY), "encoder")].preprocessing
    if mode == "caffe":
        return CaffePreprocess(name=name)
    if mode == "torch":
        scale = [1.0 / (255.0 * s) for s in _TORCH_STD]
        offset = [-m / s for m, s in zip(_TORCH_MEAN, _TORCH_STD)]
        return layers.Rescaling(scale=scale, offset=offset, name=name)
    return layers.Rescaling(scale=1.0 / 127.5, offset=-1.0, name=name)


# --------------------------------------------------------------------------- SqueezeNet 1.1
def _fire(x, squeeze: int, expand: int, name: str):
    """SqueezeNet's fire module: 1x1 squeeze, then 1x1 and 3x3 expand, concatenated."""
    s = layers.Conv2D(squeeze, 1, name=f"{name}_squeeze1x1")(x)
    s = layers.ReLU(name=f"{name}_relu_squeeze1x1")(s)
    e1 = layers.Conv2D(expand, 1, name=f"{name}_expand1x1")(s)
    e1 = layers.ReLU(name=f"{name}_relu_expand1x1")(e1)
    e3 = layers.Conv2D(expand, 3, padding="same", name=f"{name}_expand3x3")(s)
    e3 = layers.ReLU(name=f"{name}_relu_expand3x3")(e3)
    return layers.Concatenate(name=f"{name}_concat")([e1, e3])


def _squeezenet(x):
    """SqueezeNet 1.1 (Iandola et al. 2016; torchvision's layout) with its 1000-class conv head."""
    x = layers.Conv2D(64, 3, strides=2, name="conv1")(x)
    x = layers.ReLU(name="relu_conv1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for fire, squeeze in zip(range(2, 10), (16, 16, 32, 32, 48, 48, 64, 64)):
        x = _fire(x, squeeze, 4 * squeeze, f"fire{fire}")  # expand: 4 x squeeze
        if fire in (3, 5):
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{fire}")(x)
    x = layers.Dropout(0.5, name="drop9")(x)
    x = layers.Conv2D(1000, 1, name="conv10")(x)
    return layers.ReLU(name="relu_conv10")(x)


# --------------------------------------------------------------------------- ShuffleNet V2
@keras.saving.register_keras_serializable(package="course_lib")
class ChannelSplit(layers.Layer):
    """Split the channels into two equal halves (ShuffleNet V2's stride-1 unit). No weights."""

    def call(self, inputs):
        half = inputs.shape[-1] // 2
        return [inputs[..., :half], inputs[..., half:]]

    def compute_output_shape(self, input_shape):
        half = input_shape[-1] // 2
        return [(*input_shape[:-1], half), (*input_shape[:-1], input_shape[-1] - half)]


@keras.saving.register_keras_serializable(package="course_lib")
class ChannelShuffle(layers.Layer):
    """Interleave the channels of ``groups`` groups. No weights. Taught in 03_lightweight_cnns."""

    def __init__(self, groups: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def call(self, inputs):
        height, width, channels = inputs.shape[1:]
        x = ops.reshape(inputs, (-1, height, width, self.groups, channels // self.groups))
        x = ops.transpose(x, (0, 1, 2, 4, 3))
        return ops.reshape(x, (-1, height, width, channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


def _conv_bn(x, filters: int, kernel: int, strides: int, name: str, relu: bool = True):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _dw_bn(x, strides: int, name: str):
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False,
                               name=f"{name}_dwconv")(x)
    return layers.BatchNormalization(name=f"{name}_dwbn")(x)


def _shuffle_unit(x, out_channels: int, strides: int, name: str):
    """ShuffleNet V2 unit (Ma et al. 2018, Fig. 3c/d; torchvision's InvertedResidual)."""
    branch = out_channels // 2
    if strides == 1:
        shortcut, x2 = ChannelSplit(name=f"{name}_split")(x)
    else:  # both branches see the whole input; the left one is downsampled too
        shortcut = _dw_bn(x, 2, f"{name}_left")
        shortcut = _conv_bn(shortcut, branch, 1, 1, f"{name}_left_pw")
        x2 = x
    y = _conv_bn(x2, branch, 1, 1, f"{name}_pw1")
    y = _dw_bn(y, strides, name)
    y = _conv_bn(y, branch, 1, 1, f"{name}_pw2")
    y = layers.Concatenate(name=f"{name}_concat")([shortcut, y])
    return ChannelShuffle(2, name=f"{name}_shuffle")(y)


def _shufflenet(x, stage_channels=(176, 352, 704), repeats=(4, 8, 4), last_channels=1024):
    """ShuffleNet V2 1.5x up to conv5's ReLU (``build_backbone`` adds the Dense ``fc1000``)."""
    x = _conv_bn(x, 24, 3, 2, "conv1")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    for stage, (channels, repeat) in enumerate(zip(stage_channels, repeats), start=2):
        for unit in range(1, repeat + 1):
            x = _shuffle_unit(x, channels, 2 if unit == 1 else 1, f"stage{stage}_unit{unit}")
    return _conv_bn(x, last_channels, 1, 1, "conv5")


def shufflenet_difference() -> dict:
    """How far this course's ShuffleNet is from Table III's count. Taught in 03_lightweight_cnns.
    The paper cites ShuffleNet [55] without the variant. Keras totals (BatchNorm moving statistics
    included, as in the paper's other counts) of the standard variants at 224x224x3:

    - V1 g=3 1.0x / 1.5x / 2.0x + Dense(2): 879,296 / 1,927,631 / 3,381,758 (2.0x: -235,188)
    - V1 g=3 with its 1000-unit output + Dense(2): 1,840,376 / 3,367,751 / 5,300,918
    - V1 g=8 1.0x / 2.0x + Dense(2): 888,332 / 3,337,190
    - V2 1.0x / 1.5x / 2.0x + Dense(2): 1,271,834 / 2,504,114 / 5,382,810
    - V2 with its 1000-unit output + Dense(2): 2,296,786 / **3,529,066** / 7,429,714

    The closest, V2 1.5x keeping its 1000-unit output plus Dense(2) (the convention that
    reproduces SqueezeNet's count exactly), is built here. (V1 counts by formula, after
    scheckmedia/keras-shufflenet; V2 checked in tests/test_backbones.py.) Returns
    ``{"variant", "paper", "course", "difference", "relative"}`` (difference = course - paper)."""
    difference = SHUFFLENET_PARAMS - SHUFFLENET_PAPER_PARAMS
    return {"variant": "ShuffleNet V2 1.5x + Dense(1000) + Dense(2)",
            "paper": SHUFFLENET_PAPER_PARAMS, "course": SHUFFLENET_PARAMS,
            "difference": difference, "relative": difference / SHUFFLENET_PAPER_PARAMS}


# --------------------------------------------------------------------------- ResNet18, ResNeXt-50
# BatchNormalization settings of the classification_models package (ResNet18, ResNeXt-50).
_CM_BN = dict(momentum=0.99, epsilon=2e-5)


def _classification_models_stem(x, **conv):
    """``classification_models``' ResNet/ResNeXt stem, down to 1/4 of the input side."""
    x = layers.BatchNormalization(scale=False, name="bn_data", **_CM_BN)(x)
    x = layers.ZeroPadding2D(3, name="pad0")(x)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv0", **conv)(x)
    x = layers.BatchNormalization(name="bn0", **_CM_BN)(x)
    x = layers.ReLU(name="relu0")(x)
    x = layers.ZeroPadding2D(1, name="pad_pool0")(x)
    return layers.MaxPooling2D(3, strides=2, name="pooling0")(x)


def _resnet_block(x, filters: int, strides: int, stage: int, unit: int, shortcut_conv: bool):
    """Pre-activation residual block of the ``classification_models`` ResNet18."""
    name = f"stage{stage}_unit{unit}"
    conv = dict(use_bias=False, kernel_initializer="he_uniform")
    y = layers.BatchNormalization(name=f"{name}_bn1", **_CM_BN)(x)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    shortcut = (layers.Conv2D(filters, 1, strides=strides, name=f"{name}_sc", **conv)(y)
                if shortcut_conv else x)
    y = layers.ZeroPadding2D(1, name=f"{name}_pad1")(y)
    y = layers.Conv2D(filters, 3, strides=strides, name=f"{name}_conv1", **conv)(y)
    y = layers.BatchNormalization(name=f"{name}_bn2", **_CM_BN)(y)
    y = layers.ReLU(name=f"{name}_relu2")(y)
    y = layers.ZeroPadding2D(1, name=f"{name}_pad2")(y)
    y = layers.Conv2D(filters, 3, name=f"{name}_conv2", **conv)(y)
    return layers.Add(name=f"{name}_add")([y, shortcut])


def _resnet18(x):
    """ResNet18 as in the Keras ``classification_models`` package (layer names too); a 1x1
    shortcut convolution on the first block of EVERY stage. No top: 11,186,889 parameters."""
    x = _classification_models_stem(x, kernel_initializer="he_uniform")
    for stage, filters in enumerate((64, 128, 256, 512), start=1):
        for unit in (1, 2):
            strides = 2 if (unit == 1 and stage > 1) else 1
            x = _resnet_block(x, filters, strides, stage, unit, shortcut_conv=(unit == 1))
    x = layers.BatchNormalization(name="bn1", **_CM_BN)(x)
    return layers.ReLU(name="relu1")(x)


def _resnext_block(x, filters: int, stage: int, unit: int, strides: int, cardinality: int):
    """ResNeXt bottleneck block (Xie et al. 2017, Fig. 3c), as ``classification_models``'."""
    name = f"stage{stage}_unit{unit}_"
    y = layers.Conv2D(filters, 1, use_bias=False, name=name + "conv1")(x)
    y = layers.BatchNormalization(name=name + "bn1", **_CM_BN)(y)
    y = layers.ReLU(name=name + "relu1")(y)
    y = layers.ZeroPadding2D(1, name=name + "pad2")(y)
    y = layers.Conv2D(filters, 3, strides=strides, groups=cardinality, use_bias=False,
                      name=name + "conv2")(y)
    y = layers.BatchNormalization(name=name + "bn2", **_CM_BN)(y)
    y = layers.ReLU(name=name + "relu2")(y)
    y = layers.Conv2D(filters * 2, 1, use_bias=False, name=name + "conv3")(y)
    y = layers.BatchNormalization(name=name + "bn3", **_CM_BN)(y)
    if unit == 1:
        shortcut = layers.Conv2D(filters * 2, 1, strides=strides, use_bias=False,
                                 name=name + "sc")(x)
        shortcut = layers.BatchNormalization(name=name + "sc_bn", **_CM_BN)(shortcut)
    else:
        shortcut = x
    y = layers.Add(name=name + "add")([y, shortcut])
    return layers.ReLU(name=name + "relu")(y)


def resnext50_encoder(x, repetitions=(3, 4, 6, 3), cardinality: int = 32):
    """ResNeXt-50 (32x4d) without its classifier, for the U-ResNeXt50 baseline of Table VIII.
    Taught in 06_unet_segmentation. Keras ships no ResNeXt: built here in the layout (and with
    the layer names) of ``classification_models``, which the paper's ``segmentation_models``
    U-Net used. Returns the last block's output (1/32 of the input side, 2048 channels)."""
    x = _classification_models_stem(x)
    for stage, repeat in enumerate(repetitions, start=1):
        filters = 128 * 2 ** (stage - 1)
        for unit in range(1, repeat + 1):
            strides = 2 if (unit == 1 and stage > 1) else 1
            x = _resnext_block(x, filters, stage, unit, strides, cardinality)
    return x


# --------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Encoder:
    """One entry of :data:`REGISTRY`. ``build``: a ``keras.applications`` constructor, a builder
    ``fn(preprocessed images) -> tensor``, or ``None`` (the plain U-Net, built by
    :mod:`course_lib.models.unet`). ``feature_dims`` / ``skip_layers`` unset: not a Table III
    backbone / not a U-Net encoder."""

    build: Callable | None
    preprocessing: str
    output_layer: str
    feature_dims: int | None = None
    dense_units: int = 0
    skip_layers: tuple[str, ...] = ()
    imagenet_file: str | None = None


#: Every encoder of the course. Skip layers: segmentation_models' choices, Keras 3 names (VGG16's
#: block1_conv2 is not used: with it U-VGG16 would have 9,216 more parameters than its 19,029,585).
REGISTRY = {
    "squeezenet": Encoder(_squeezenet, "tf", "relu_conv10", feature_dims=1000),
    "shufflenet": Encoder(_shufflenet, "tf", "conv5_relu", feature_dims=1000, dense_units=1000),
    "resnet18": Encoder(_resnet18, "tf", "relu1", feature_dims=512),
    "mobilenet": Encoder(
        keras.applications.MobileNet, "tf", "conv_pw_13_relu", feature_dims=1024,
        skip_layers=("conv_pw_11_relu", "conv_pw_5_relu", "conv_pw_3_relu", "conv_pw_1_relu"),
        imagenet_file="mobilenet_1_0_{size}_tf_no_top.h5"),
    "densenet121": Encoder(
        keras.applications.DenseNet121, "torch", "relu", feature_dims=1024,
        skip_layers=("pool4_conv", "pool3_conv", "pool2_conv", "conv1_relu"),
        imagenet_file="densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "vgg16": Encoder(
        keras.applications.VGG16, "caffe", "block5_pool",
        skip_layers=("block5_conv3", "block4_conv3", "block3_conv3", "block2_conv2"),
        imagenet_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "resnext50": Encoder(
        resnext50_encoder, "tf", "stage4_unit3_relu",
        skip_layers=("stage4_unit1_relu1", "stage3_unit1_relu1", "stage2_unit1_relu1", "relu0")),
    "plain": Encoder(None, "tf", "bottleneck_relu2",
                     skip_layers=("enc4_relu2", "enc3_relu2", "enc2_relu2", "enc1_relu2")),
}

#: Every backbone name accepted by :func:`build_backbone` / :func:`build_classifier`.
BACKBONES = tuple(name for name, spec in REGISTRY.items() if spec.feature_dims)
#: Backbones with ImageNet weights in ``keras.applications``.
KERAS_APPLICATIONS = tuple(name for name in BACKBONES if REGISTRY[name].imagenet_file)
#: Backbones Keras does not ship: built in this module, random initialisation only.
COURSE_BUILT = tuple(name for name in BACKBONES if name not in KERAS_APPLICATIONS)
#: The last convolutional activation of each backbone, read by CAM / Grad-CAM (08).
LAST_CONV_LAYER = {name: REGISTRY[name].output_layer for name in BACKBONES}
#: Length of the feature vector a backbone outputs (what the classifier's Dense layer sees).
FEATURE_DIMS = {name: REGISTRY[name].feature_dims for name in BACKBONES}
#: How each encoder maps [0, 255] RGB to its input range (a weightless layer).
PREPROCESSING = {name: _PREPROCESSING_MODES[spec.preprocessing]
                 for name, spec in REGISTRY.items()}
#: File names Keras caches under ~/.keras/models/ for the backbones' no-top ImageNet weights.
IMAGENET_WEIGHT_FILES = {name: REGISTRY[name].imagenet_file for name in KERAS_APPLICATIONS}


# --------------------------------------------------------------------------- checks and weights
def check_name(name, names, what: str) -> str:
    """``name`` lower-cased if it is one of ``names``, else a ``ValueError`` listing them."""
    if not isinstance(name, str) or name.strip().lower() not in names:
        raise ValueError(f"Unknown {what} {name!r}. Valid {what}s: {', '.join(names)}.")
    return name.strip().lower()


def check_input_shape(input_shape, multiple: int = 1) -> tuple[int, int, int]:
    """``(height, width, 3)`` as ints, sides >= 32 and multiples of ``multiple``, or ValueError."""
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or shape[2] != 3 or min(shape[:2]) < MIN_INPUT_SIZE:
        raise ValueError(f"input_shape must be (height, width, 3) with height and width >= "
                         f"{MIN_INPUT_SIZE}, e.g. (224, 224, 3); got {input_shape!r}.")
    height, width = shape[:2]
    if height % multiple or width % multiple:
        raise ValueError(
            f"The U-Net's input height and width must be multiples of {multiple} (the "
            f"encoder halves them five times and the decoder doubles them back, so the skip "
            f"connections line up); got {height}x{width}. Resize the images to e.g. "
            f"{max(multiple, round(height / multiple) * multiple)} px "
            "(224, 128, 96 and 64 all work).")
    return shape


def check_weights(name: str, weights, names, files: str):
    """``weights`` as ``None``, ``"imagenet"`` or an existing ``Path``, else a clear error
    (``names``: the caller's encoders; ``files``: the files it accepts, in words)."""
    with_imagenet = ", ".join(n for n in names if REGISTRY[n].imagenet_file)
    if weights is None:
        return None
    if isinstance(weights, str) and weights.strip().lower() == "imagenet":
        if REGISTRY[name].imagenet_file is None:
            raise ValueError(
                f"There are no ImageNet weights for {name!r}: Keras ships none and the course "
                f"builds it from scratch. Use weights=None (random initialisation) or the path "
                f"of weights you saved. ImageNet weights exist for: {with_imagenet}.")
        return "imagenet"
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"Weights file {str(path)!r} does not exist. Pass weights=None, "
                f"weights='imagenet' ({with_imagenet} only) or the path of {files}.")
        return path
    raise ValueError(f"weights must be None, 'imagenet' or a file path; got {weights!r}.")


def _imagenet_file_name(name: str, input_shape) -> str:
    rows, cols = input_shape[:2]  # MobileNet: 128, 160, 192 or 224; other sizes load 224
    size = rows if rows == cols and rows in (128, 160, 192, 224) else 224
    return REGISTRY[name].imagenet_file.format(size=size)


def _is_download_failure(error: BaseException) -> bool:
    text = str(error)
    return (isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError))
            or text.startswith("URL fetch failure")
            or "Incomplete or corrupted file detected" in text)


def _weights_unavailable(name: str, input_shape, error: BaseException):
    file_name = _imagenet_file_name(name, input_shape)
    cache = Path(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")).expanduser()
    reason = str(error).strip() or type(error).__name__
    return WeightsUnavailableError(
        f"Could not download the ImageNet weights for {name!r} (Keras said: {reason}). "
        f"This machine is probably offline. To go on, either\n"
        f"  1. copy the file {file_name} into {cache / 'models'}/ (Keras looks there before "
        f"downloading; download it on a machine with internet, e.g. Colab), or\n"
        f"  2. pass weights='/path/to/{file_name}', or\n"
        f"  3. use weights=None (random initialisation, as the smoke profile does).")


def encoder_model(name: str, inputs, weights=None) -> keras.Model:
    """Flat Model image -> last feature map of encoder ``name`` (preprocessing included).
    ``weights``: ``"imagenet"`` (offline: :class:`WeightsUnavailableError`), else random."""
    spec = REGISTRY[name]
    x = preprocessing_layer(name)(inputs)
    if spec.imagenet_file is None:  # course-built: a Model only to reach its layers by name
        return keras.Model(inputs, spec.build(x), name=name)
    input_shape = tuple(inputs.shape[1:])
    try:
        return spec.build(include_top=False, weights="imagenet" if weights == "imagenet" else None,
                          input_tensor=x, input_shape=input_shape, pooling=None)
    except Exception as error:  # noqa: BLE001 -- only download failures are translated
        if weights == "imagenet" and _is_download_failure(error):
            raise _weights_unavailable(name, input_shape, error) from None
        raise


def load_weights_file(model: keras.Model, path: Path, name: str) -> None:
    """``model.load_weights(path)``, or a ``ValueError`` saying which files fit encoder ``name``."""
    expected = [f"the Keras ImageNet file (e.g. {_imagenet_file_name(name, (224, 224))})"
                ] if REGISTRY[name].imagenet_file else []
    if name in BACKBONES:
        expected.append(f"a file written by build_backbone({name!r}, same input_shape)"
                        ".save_weights('name.weights.h5')")
    try:
        model.load_weights(str(path))
    except Exception as error:  # noqa: BLE001 -- re-raised with what to do
        raise ValueError(
            f"Could not load {str(path)!r} into the {name!r} encoder ({error}). The file must "
            f"hold the weights of the no-top backbone: {' or '.join(expected)}."
        ) from error


# --------------------------------------------------------------------------- MobileNetV1 by hand
#: (filters, stride) of MobileNetV1's 13 depthwise separable blocks (Howard et al. 2017,
#: Table 1, width multiplier 1.0), after the first standard 3x3 convolution (32 filters, stride 2).
MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                    (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def depthwise_separable_params(k: int, n: int, m: int) -> int:
    """Weights of a depthwise separable convolution, no bias: ``k^2 n + n m`` (Exercise 3.1)."""
    return k * k * n + n * m


def separable_savings(model: keras.Model) -> list[tuple[int, int, int, int, int]]:
    """What each depthwise separable step of ``model`` saves (Exercise 3.6, 03_lightweight_cnns):
    ``(N, M, stride, K^2 N M of a standard convolution, the two layers' count_params())``."""
    convolutions = [layer for layer in model.layers
                    if isinstance(layer, (layers.DepthwiseConv2D, layers.Conv2D))]
    rows = []
    for depthwise, pointwise in zip(convolutions, convolutions[1:]):
        if isinstance(depthwise, layers.DepthwiseConv2D) and isinstance(pointwise, layers.Conv2D):
            k1, k2, n, _ = depthwise.kernel.shape
            m = pointwise.filters
            rows.append((int(n), int(m), int(depthwise.strides[0]), int(k1 * k2 * n * m),
                         depthwise.count_params() + pointwise.count_params()))
    return rows


def depthwise_separable_block(x, filters: int, stride: int, name: str | None = None):
    """MobileNet's depthwise separable block (03_lightweight_cnns, Exercise 3.2). With
    ``name="k"`` the layers are named like keras.applications' block ``k``."""
    names = ([f"conv_dw_{name}", f"conv_dw_{name}_bn", f"conv_dw_{name}_relu", f"conv_pw_{name}",
              f"conv_pw_{name}_bn", f"conv_pw_{name}_relu"] if name is not None else [None] * 6)
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                               name=names[0])(x)
    x = layers.BatchNormalization(name=names[1])(x)
    x = layers.ReLU(6.0, name=names[2])(x)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=names[3])(x)
    x = layers.BatchNormalization(name=names[4])(x)
    return layers.ReLU(6.0, name=names[5])(x)


def mobilenet_extractor(input_shape=(224, 224, 3), block=None) -> keras.Model:
    """MobileNetV1's feature extractor written out (03_lightweight_cnns, Exercise 3.3): 3,228,864
    parameters, taking ``MobileNet(include_top=False)``'s weights in order. ``block(x, filters,
    stride)`` defaults to :func:`depthwise_separable_block`."""
    input_shape = check_input_shape(input_shape)
    named = block is None
    inputs = keras.Input(shape=input_shape, name="image")
    x = preprocessing_layer("mobilenet")(inputs)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="conv1")(x)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for index, (filters, stride) in enumerate(MOBILENET_BLOCKS, start=1):
        if named:
            x = depthwise_separable_block(x, filters, stride, name=str(index))
        else:
            x = block(x, filters, stride)
    features = layers.GlobalAveragePooling2D(name=FEATURE_LAYER)(x)
    return keras.Model(inputs, features, name="mobilenet_backbone")


def dense_block(x, n_layers: int, growth_rate: int):
    """A dense block (Eq. 1), H_l = BN -> ReLU -> 3x3 conv (03_lightweight_cnns, Exercise 3.4)."""
    features = [x]
    for _ in range(n_layers):
        seen = layers.Concatenate()(features) if len(features) > 1 else x
        h = layers.BatchNormalization()(seen)
        h = layers.ReLU()(h)
        features.append(layers.Conv2D(growth_rate, 3, padding="same", use_bias=False)(h))
    return layers.Concatenate()(features)


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass on one image (Exercise 3.5, 03_lightweight_cnns):
    convolutions and Dense layers only (the MobileNet / ShuffleNet papers' convention)."""
    total = 0
    for layer in model.layers:
        kernel_weights = sum(int(math.prod(w.shape)) for w in layer.weights
                             if w.path.endswith("kernel"))
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)):
            height, width = layer.output.shape[1:3]
            total += height * width * kernel_weights
        elif isinstance(layer, layers.Dense):
            total += kernel_weights
    return int(total)


# --------------------------------------------------------------------------- public builders
def build_backbone(backbone: str, input_shape=(224, 224, 3), weights=None,
                   name: str | None = None) -> keras.Model:
    """Image in [0, 255] -> feature vector: the backbone of a Table III model (no classifier).
    Taught in 03_lightweight_cnns; shared by both inputs of the DC models (04). ``weights``:
    ``None``, ``"imagenet"`` (mobilenet / densenet121), the Keras ImageNet ``.h5`` file or a
    ``.weights.h5`` of the same backbone and shape. Offline: :class:`WeightsUnavailableError`."""
    backbone = check_name(backbone, BACKBONES, "backbone")
    input_shape = check_input_shape(input_shape)
    weights = check_weights(backbone, weights, BACKBONES, f"an existing .h5 / .weights.h5 file "
                            f"for the no-top {backbone!r} backbone")
    inputs = keras.Input(shape=input_shape, name="image")
    encoder = encoder_model(backbone, inputs, weights)
    features = layers.GlobalAveragePooling2D(name=FEATURE_LAYER)(encoder.output)
    units = REGISTRY[backbone].dense_units
    if units:  # ShuffleNet's ImageNet-style output, kept as in Table III's count
        features = layers.Dense(units, name=f"fc{units}")(features)
    model = keras.Model(inputs, features, name=name or f"{backbone}_backbone")
    if isinstance(weights, Path):
        load_weights_file(model, weights, backbone)
    return model


def _own_features(features, backbone: str, input_shape, weights) -> keras.Model:
    """Check a caller's feature extractor; copy ``weights`` of the named backbone into it."""
    if not isinstance(features, keras.Model) or len(features.outputs) != 1 or \
            len(features.output.shape) != 2:
        raise ValueError("features must be a keras.Model from images to one feature vector "
                         f"(batch, n_features); got {type(features).__name__}.")
    if weights is not None:
        source = build_backbone(backbone, input_shape=input_shape, weights=weights).get_weights()
        shapes = [tuple(w.shape) for w in features.get_weights()]
        if shapes != [tuple(w.shape) for w in source]:
            raise ValueError(f"cannot copy the {backbone!r} weights into features: its weights "
                             f"have other shapes ({len(shapes)} arrays vs {len(source)}).")
        features.set_weights(source)
    return features


def build_classifier(backbone: str, input_shape=(224, 224, 3), weights=None,
                     num_classes: int = 2, name: str | None = None,
                     features: keras.Model | None = None) -> keras.Model:
    """A Table III single model: :func:`build_backbone` + ``Dense(num_classes, softmax)``.
    Taught in 03_lightweight_cnns; column 1 = melanoma. ``features``: your own extractor (e.g.
    the student's MobileNet) instead of the backbone; with ``weights`` set, the backbone's are
    copied into it."""
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2 (the paper: 2, benign / "
                         f"melanoma); got {num_classes!r}.")
    if features is None:
        base = build_backbone(backbone, input_shape=input_shape, weights=weights)
    else:
        base = _own_features(features, backbone, input_shape, weights)
    # dtype float32: the softmax stays in float32 under mixed precision
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions",
                           dtype="float32")(base.output)
    return keras.Model(base.input, outputs, name=name or f"{base.name.removesuffix('_backbone')}")
