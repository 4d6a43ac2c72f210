"""Checks for the exercises of 04_discriminant_network.

4.1 compares the discriminant layer with NumPy on fixed tensors; 4.2 builds the student's DC
model around a small MobileNet (32 px, random weights) and a toy backbone whose parameter count is
computed by hand.
"""
from __future__ import annotations

import numpy as np

from . import CheckFailed, describe, expect_equal, expect_true, register

#: Table V's trainable parameters of DC-MobileNetV1 (224 x 224 x 3).
DC_MOBILENET_TRAINABLE = 3_736_902
#: Image side used by check 4.2 (the smallest input keras.applications accepts).
SMALL_SIZE = 32


def _to_numpy(value, what):
    import keras

    try:
        return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)
    except Exception:  # noqa: BLE001 - report what came back instead of a traceback
        raise CheckFailed(f"{what} returned {describe(value)}, expected a tensor") from None


@register("4.1", title="the discriminant layer D = (f1 - f2)^2",
          hint="subtract element by element, then square: keras.ops.square(keras.ops.subtract("
               "f1, f2)); no sum, no square root -- the output keeps the shape of f1")
def check_squared_difference(squared_difference):
    import keras

    first = np.array([[1.0, 2.0, 3.0, -1.0], [0.5, 0.0, -2.0, 4.0]], dtype="float32")
    second = np.array([[3.0, 2.0, 0.5, 1.0], [0.5, 1.0, 2.0, 1.5]], dtype="float32")
    expected = (first.astype(np.float64) - second) ** 2  # [[4, 0, 6.25, 4], [0, 1, 16, 6.25]]
    cases = [("numpy arrays", first, second),
             ("keras tensors", keras.ops.convert_to_tensor(first),
              keras.ops.convert_to_tensor(second))]
    for description, f1, f2 in cases:
        what = f"squared_difference(f1, f2) on two (2, 4) {description}"
        result = _to_numpy(squared_difference(f1, f2), what)
        if result.shape != expected.shape:
            raise CheckFailed(f"{what} has shape {result.shape}, expected {expected.shape}: "
                              "D is element-wise, one value per feature")
        if not np.allclose(result, expected, rtol=1e-6, atol=1e-6):
            raise CheckFailed(f"{what} returned {describe(result[0])} in the first row, "
                              f"expected {describe(expected[0])}")
    what = "squared_difference(f2, f1) (inputs swapped)"
    swapped = _to_numpy(squared_difference(second, first), what)
    expect_true(np.allclose(swapped, expected, atol=1e-6),
                f"{what} differs from squared_difference(f1, f2); D must be symmetric")
    # Symbolic inputs: the function must work inside a functional keras.Model (keras.ops).
    symbolic_1, symbolic_2 = keras.Input(shape=(1024,)), keras.Input(shape=(1024,))
    try:
        symbolic = squared_difference(symbolic_1, symbolic_2)
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001
        raise CheckFailed(f"squared_difference(keras.Input((1024,)), keras.Input((1024,))) "
                          f"raised {type(err).__name__}; use keras.ops (not NumPy) so that the "
                          "function also works on the symbolic tensors of a functional model"
                          ) from None
    expect_equal(tuple(getattr(symbolic, "shape", ())), (None, 1024),
                 "squared_difference on two keras.Input((1024,)) tensors: output shape")
    return ("matches NumPy on arrays and tensors, is symmetric, and keeps the (None, 1024) "
            "shape of symbolic inputs")


def _outputs_by_name(model, result, what):
    if isinstance(result, dict):
        return dict(result)
    if isinstance(result, (list, tuple)):
        names = list(getattr(model, "output_names", []) or [])
        if len(names) == len(result):
            return dict(zip(names, result))
    raise CheckFailed(f"{what} returned {describe(result)}; expected the three outputs "
                      "'cls1', 'cls2', 'same' (e.g. a dict {'cls1': ..., 'cls2': ..., 'same': ...})")


def _trainable(model) -> int:
    return int(sum(int(np.prod(weight.shape)) for weight in model.trainable_weights))


@register("4.2", title="assembling the three-branch DC model",
          hint="two keras.Input (x1, x2); call the SAME backbone on both (f1, f2); "
               "Dense(2, softmax) named 'cls1' on f1 and 'cls2' on f2; D = (f1 - f2)^2, then "
               "Dense(512, relu) and Dense(2, softmax) named 'same'; "
               "keras.Model([x1, x2], {'cls1': ..., 'cls2': ..., 'same': ...})")
def check_assemble_dc_model(assemble_dc_model):
    import keras
    from keras import layers

    from ..models import build_backbone, build_dc_model

    shape = (SMALL_SIZE, SMALL_SIZE, 3)
    # 1. A toy backbone: Conv2D(8, 3x3) = 3*3*3*8 + 8 = 224 weights, then GAP -> 8 features.
    #    DC head weights: 2 x Dense(8 -> 2) = 2 x 18, Dense(8 -> 512) = 4,608, Dense(512 -> 2)
    #    = 1,026; total 224 + 36 + 4,608 + 1,026 = 5,894.
    keras.utils.set_random_seed(0)
    toy = keras.Sequential([keras.Input(shape), layers.Conv2D(8, 3, name="toy_conv"),
                            layers.GlobalAveragePooling2D(name="toy_gap")], name="toy_backbone")
    model = assemble_dc_model(toy, shape)
    what = "assemble_dc_model(toy_backbone, (32, 32, 3))"
    expect_true(isinstance(model, keras.Model), f"{what} returned {describe(model)}, expected a "
                                                "keras.Model")
    expect_equal(len(model.inputs), 2, f"{what}: number of model inputs")
    expect_equal(_trainable(model), 5_894,
                 f"{what}: trainable parameters (224 backbone + 2 x 18 + 4,608 + 1,026)")
    rng = np.random.default_rng(0)
    a, b, c = (rng.uniform(0, 255, (3,) + shape).astype("float32") for _ in range(3))
    outputs = {}
    for name, pair in (("ab", (a, b)), ("ba", (b, a)), ("ac", (a, c))):
        result = model([pair[0], pair[1]], training=False)
        result = _outputs_by_name(model, result, f"{what} called on [x1, x2]")
        expect_equal(sorted(result), ["cls1", "cls2", "same"], f"{what}: output names")
        outputs[name] = {key: _to_numpy(value, f"output {key!r}")
                         for key, value in result.items()}
    for key, value in outputs["ab"].items():
        if value.shape != (3, 2):
            raise CheckFailed(f"{what}: output {key!r} for 3 pairs has shape {value.shape}, "
                              "expected (3, 2)")
        expect_true(np.allclose(value.sum(axis=1), 1.0, atol=1e-5),
                    f"{what}: the rows of output {key!r} do not sum to 1 (use softmax)")
    expect_true(np.allclose(outputs["ab"]["cls1"], outputs["ac"]["cls1"], atol=1e-5),
                f"{what}: 'cls1' changed when only x2 changed; cls1 must classify x1 alone")
    expect_true(np.allclose(outputs["ab"]["cls1"], outputs["ba"]["cls2"], atol=1e-5),
                f"{what}: 'cls2' of (x2, x1) differs from 'cls1' of (x1, x2); both heads "
                "read features of the same shared backbone")
    expect_true(np.allclose(outputs["ab"]["same"], outputs["ba"]["same"], atol=1e-5),
                f"{what}: 'same' changed when x1 and x2 were swapped; D = (f1 - f2)^2 is "
                "symmetric")

    # 2. MobileNet at 32 px: the count must equal build_dc_model's at the same size, and --
    #    because global average pooling makes every weight shape independent of the image size --
    #    Table V's 224-px count.
    keras.backend.clear_session()
    backbone = build_backbone("mobilenet", input_shape=shape, name="backbone")
    model = assemble_dc_model(backbone, shape)
    reference = build_dc_model("mobilenet", input_shape=shape)
    what = "assemble_dc_model(MobileNetV1 backbone, (32, 32, 3))"
    expect_equal(_trainable(model), _trainable(reference),
                 f"{what}: trainable parameters (course_lib.models.build_dc_model at 32 px has "
                 f"{_trainable(reference):,})")
    expect_equal(_trainable(reference), DC_MOBILENET_TRAINABLE,
                 "build_dc_model('mobilenet', (32, 32, 3)): trainable parameters (Table V, "
                 "224 px: 3,736,902)")
    keras.backend.clear_session()
    return ("toy backbone: 5,894 trainable weights, shapes (N, 2), heads and D behave; "
            f"MobileNetV1: {DC_MOBILENET_TRAINABLE:,} trainable = build_dc_model at 32 px = "
            "Table V at 224 px")
