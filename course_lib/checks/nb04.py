"""Checks for the exercises of 04_discriminant_network.

4.1 compares ``squared_difference`` with NumPy on fixed, asymmetric tensors; 4.2 does the same
for the student's Keras layer; 4.3 builds the student's DC model around a toy backbone (with
BatchNorm whose statistics and gammas are randomised), copies identical head weights into it and
the course's reference and compares the three outputs on asymmetric pairs; 4.4 compiles a tiny
DC model and compares Eq. 5's total loss with a hand computation; 4.5 compares the chosen head
and the validation APs with sklearn's on a tiny model whose heads differ; 4.6 compares the
``same`` head's accuracy with a direct computation.
"""
from __future__ import annotations

import numpy as np

from . import CheckFailed, describe, expect_close, expect_equal, expect_true, register

#: Table V's trainable parameters of DC-MobileNetV1 (224 x 224 x 3).
DC_MOBILENET_TRAINABLE = 3_736_902
#: Image side of the toy models in the checks.
TOY_SIZE = 8

_F1 = np.array([[1.0, 2.0, 3.0, -1.0], [0.5, 0.0, -2.0, 4.0]], dtype="float32")
_F2 = np.array([[3.0, 2.0, 0.5, 1.0], [0.5, 1.0, 2.0, 1.5]], dtype="float32")


def _to_numpy(value, what):
    import keras

    try:
        return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)
    except Exception:  # noqa: BLE001 - report what came back instead of a traceback
        raise CheckFailed(f"{what} returned {describe(value)}, expected a tensor") from None


def _compare_difference(compute, name):
    """compute(f1, f2) on arrays, tensors and symbolic inputs vs NumPy's (f1 - f2)^2."""
    import keras

    expected = (_F1.astype(np.float64) - _F2) ** 2  # [[4, 0, 6.25, 4], [0, 1, 16, 6.25]]
    cases = [("numpy arrays", _F1, _F2),
             ("keras tensors", keras.ops.convert_to_tensor(_F1), keras.ops.convert_to_tensor(_F2))]
    for description, f1, f2 in cases:
        what = f"{name} on two (2, 4) {description} f1 = {_F1[0].tolist()}…, f2 = {_F2[0].tolist()}…"
        result = _to_numpy(compute(f1, f2), what)
        if result.shape != expected.shape:
            raise CheckFailed(f"{what} has shape {result.shape}, expected {expected.shape}: "
                              "D is element-wise, one value per feature")
        if not np.allclose(result, expected, rtol=1e-6, atol=1e-6):
            row = int(np.argmax(np.abs(result - expected).max(axis=1)))
            raise CheckFailed(f"{what} returned {describe(result[row])} in row {row}, "
                              f"expected {describe(expected[row])}")
    symbolic_1, symbolic_2 = keras.Input(shape=(1024,)), keras.Input(shape=(1024,))
    try:
        symbolic = compute(symbolic_1, symbolic_2)
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001
        raise CheckFailed(f"{name} on two keras.Input((1024,)) raised {type(err).__name__}; use "
                          "keras.ops (not NumPy) so that it also works on the symbolic tensors "
                          "of a functional model") from None
    expect_equal(tuple(getattr(symbolic, "shape", ())), (None, 1024),
                 f"{name} on two keras.Input((1024,)) tensors: output shape")


@register("4.1", title="the discriminant D = (f1 - f2)^2",
          hint="subtract element by element, then square: keras.ops.square(keras.ops.subtract("
               "f1, f2)); no sum, no absolute value, no square root -- the output keeps the "
               "shape of f1")
def check_squared_difference(squared_difference):
    _compare_difference(squared_difference, "squared_difference(f1, f2)")
    return ("matches NumPy on arrays and tensors and keeps the (None, 1024) shape of symbolic "
            "inputs")


@register("4.2", title="the discriminant as a Keras layer",
          hint="subclass keras.layers.Layer; call(self, inputs) receives the list [f1, f2] and "
               "returns keras.ops.square(keras.ops.subtract(f1, f2)); create no weights")
def check_discriminant_layer(layer_class):
    import keras

    expect_true(isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer),
                f"DiscriminantLayer is {describe(layer_class)}, expected a subclass of "
                "keras.layers.Layer")
    try:
        layer = layer_class(name="discriminant")
    except TypeError:
        raise CheckFailed("DiscriminantLayer(name='discriminant') raised TypeError; keep the "
                          "constructor of keras.layers.Layer (do not override __init__, or pass "
                          "**kwargs on to super().__init__)") from None
    _compare_difference(lambda f1, f2: layer([f1, f2]), "DiscriminantLayer()([f1, f2])")
    expect_equal(len(layer.weights), 0, "DiscriminantLayer(): number of weights (Eq. 2 is "
                                        "non-parametric)")
    first = np.array([[2.0, -1.0, 0.5, 3.0, 1.0]], dtype="float32")
    second = np.array([[-1.0, 1.0, 0.5, 0.0, 4.0]], dtype="float32")
    expected = (first.astype(np.float64) - second) ** 2  # [[9, 4, 0, 9, 9]]
    f1, f2 = keras.Input((5,)), keras.Input((5,))
    model = keras.Model([f1, f2], layer_class()([f1, f2]))
    result = _to_numpy(model([first, second]),
                       "a keras.Model([f1, f2], DiscriminantLayer()([f1, f2]))")
    expect_true(result.shape == expected.shape and np.allclose(result, expected, atol=1e-6),
                f"inside a functional keras.Model on f1 = {first[0].tolist()}, f2 = "
                f"{second[0].tolist()} the layer returned {describe(result[0])}, expected "
                f"{describe(expected[0])}")
    return "equals (f1 - f2)^2 on arrays, tensors and inside a model, and has no weights"


def _toy_backbone(seed: int):
    """Conv2D(8) -> BatchNorm (random gammas, betas, moving statistics) -> ReLU -> GAP."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    backbone = keras.Sequential(
        [keras.Input((TOY_SIZE, TOY_SIZE, 3)), layers.Conv2D(8, 3, name="toy_conv"),
         layers.BatchNormalization(name="toy_bn"), layers.ReLU(name="toy_relu"),
         layers.GlobalAveragePooling2D(name="toy_gap")], name="backbone")
    rng = np.random.default_rng(seed)
    bn = backbone.get_layer("toy_bn")
    bn.set_weights([rng.uniform(0.5, 2.0, 8), rng.normal(0, 0.5, 8), rng.normal(0, 3.0, 8),
                    rng.uniform(0.5, 4.0, 8)])
    return backbone


#: Scales of the random head weights: features of the toy backbone are ~10-100, D ~1-50, so
#: these keep the softmax outputs away from 0 and 1 (a saturated output hides mistakes).
_WEIGHT_SCALE = {"cls1": 0.005, "cls2": 0.005, "same_fc": 0.0005, "same": 0.05}


def _randomise(model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.name in _WEIGHT_SCALE:
            layer.set_weights([rng.normal(0, _WEIGHT_SCALE[layer.name], w.shape).astype("float32")
                               for w in layer.get_weights()])


def _outputs(model, pair, what):
    result = model([pair[0], pair[1]], training=False)
    if isinstance(result, (list, tuple)):
        names = list(getattr(model, "output_names", []) or [])
        if len(names) == len(result):
            result = dict(zip(names, result))
    if not isinstance(result, dict):
        raise CheckFailed(f"{what} returned {describe(result)}; expected the three outputs "
                          "'cls1', 'cls2', 'same' as a dict {'cls1': ..., 'cls2': ..., 'same': ...}")
    expect_equal(sorted(result), ["cls1", "cls2", "same"], f"{what}: output names")
    return {key: _to_numpy(value, f"{what}: output {key!r}") for key, value in result.items()}


def _trainable(model) -> int:
    return int(sum(int(np.prod(weight.shape)) for weight in model.trainable_weights))


_BRANCH_HINTS = {"cls1": "'cls1' must be Dense(2, softmax) on f1 = backbone(x1)",
                 "cls2": "'cls2' must be Dense(2, softmax) on f2 = backbone(x2)",
                 "same": "'same' must be Dense(2, softmax) after Dense(512, relu) after "
                         "distance_layer()([f1, f2])"}


@register("4.3", title="assembling the three-branch DC model",
          hint="two keras.Input (x1, x2); call the SAME backbone on both (f1, f2); "
               "Dense(2, softmax) named 'cls1' on f1 and 'cls2' on f2; D = distance_layer()"
               "([f1, f2]), then Dense(512, relu) and Dense(2, softmax) named 'same'; "
               "keras.Model([x1, x2], {'cls1': ..., 'cls2': ..., 'same': ...})")
def check_assemble_dc_model(assemble_dc_model):
    import keras

    from ..models import discriminant

    calls = []

    class CountingDifference(discriminant.SquaredDifference):
        def __init__(self, *args, **kwargs):
            calls.append(1)
            super().__init__(*args, **kwargs)

    shape = (TOY_SIZE, TOY_SIZE, 3)
    backbone = _toy_backbone(4)
    what = "assemble_dc_model(toy_backbone, (8, 8, 3), distance_layer)"
    model = assemble_dc_model(backbone, shape, CountingDifference)
    expect_true(isinstance(model, keras.Model),
                f"{what} returned {describe(model)}, expected a keras.Model")
    expect_equal(len(model.inputs), 2, f"{what}: number of model inputs")
    expect_true(calls, f"{what} never created the distance_layer it was given; build D with "
                       "distance_layer()([f1, f2]) (the class passed in, your layer of 4.2)")
    reference = discriminant.assemble_dc_model(backbone, shape)
    expect_equal(_trainable(model), _trainable(reference),
                 f"{what}: trainable parameters (the reference has {_trainable(reference):,}: "
                 "one shared backbone, 2 x Dense(8 -> 2), Dense(8 -> 512), Dense(512 -> 2))")
    _randomise(reference, 7)
    try:
        discriminant.copy_dc_weights(reference, model)
    except ValueError as err:
        raise CheckFailed(f"{what}: {err}") from None
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(0, 255, (3,) + shape).astype("float32")
            * rng.uniform(0.5, 1.0, (3, 1, 1, 1)).astype("float32") for _ in range(2))
    for label, pair in (("(a, b)", (a, b)), ("(b, a)", (b, a))):
        ours = _outputs(model, pair, f"the model called on {label}")
        expected = _outputs(reference, pair, "the reference")
        for key in ("cls1", "cls2", "same"):
            if ours[key].shape != expected[key].shape or not np.allclose(
                    ours[key], expected[key], atol=1e-5):
                raise CheckFailed(
                    f"{what}: with identical weights, output {key!r} on the pair {label} is "
                    f"{describe(ours[key][0])} for the first pair, the reference gives "
                    f"{describe(expected[key][0])}; {_BRANCH_HINTS[key]}")
    keras.backend.clear_session()
    return ("one shared backbone, the given distance layer, and the three outputs equal the "
            "reference's on asymmetric pairs with identical weights")


def _tiny_dc_model(seed: int = 3):
    from ..models import discriminant

    model = discriminant.assemble_dc_model(_toy_backbone(seed), (TOY_SIZE, TOY_SIZE, 3))
    _randomise(model, seed)
    return model


def _cross_entropy(y, p):
    return float(np.mean(-np.sum(y * np.log(np.clip(p, 1e-7, 1 - 1e-7)), axis=1)))


@register("4.4", title="compiling with the joint loss of Eq. 5",
          hint="model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-4), loss={'cls1': "
               "loss, 'cls2': loss, 'same': 'categorical_crossentropy'}, loss_weights={'cls1': "
               "1.0, 'cls2': 1.0, 'same': 0.5}, metrics=..., **compile_kwargs); return the model")
def check_compile_dc_model(compile_dc_model):
    import keras

    from .. import losses

    model = _tiny_dc_model()
    rng = np.random.default_rng(1)
    x1, x2 = (rng.uniform(0, 255, (6, TOY_SIZE, TOY_SIZE, 3)).astype("float32") for _ in "ab")
    labels = {key: np.eye(2, dtype="float32")[rng.integers(0, 2, 6)] for key in ("cls1", "cls2")}
    labels["same"] = np.eye(2, dtype="float32")[[0, 1, 1, 0, 1, 1]]
    predicted = {k: v.astype(np.float64) for k, v in _outputs(model, (x1, x2), "model").items()}
    focal = losses.categorical_focal_loss(alpha=0.25, gamma=2.0)
    for loss_name, loss in (("'categorical_crossentropy'", "categorical_crossentropy"),
                            ("categorical_focal_loss(0.25, 2.0)", focal)):
        what = f"compile_dc_model(model, loss={loss_name}, run_eagerly=True)"
        returned = compile_dc_model(model, loss=loss, run_eagerly=True)
        expect_true(returned is model, f"{what} returned {describe(returned)}; return the "
                                       "compiled model itself")
        optimizer = model.optimizer
        expect_true(isinstance(optimizer, keras.optimizers.Adam),
                    f"{what}: the optimizer is {describe(optimizer)}, expected Adam (the paper's)")
        expect_close(float(keras.ops.convert_to_numpy(optimizer.learning_rate)), 1e-4,
                     f"{what}: the learning rate of Adam", rtol=1e-4)
        expect_true(bool(model.run_eagerly), f"{what}: run_eagerly is False; pass the extra "
                                             "keyword arguments on to model.compile")
        head = [float(np.mean(keras.ops.convert_to_numpy(focal.call(labels[k], predicted[k]))))
                if loss is focal else _cross_entropy(labels[k], predicted[k])
                for k in ("cls1", "cls2")]
        same = _cross_entropy(labels["same"], predicted["same"])
        try:
            total = float(keras.ops.convert_to_numpy(model.compute_loss(
                x=(x1, x2), y=labels, y_pred={k: keras.ops.convert_to_tensor(v, "float32")
                                              for k, v in predicted.items()})))
        except Exception as err:  # noqa: BLE001 - a compile call Keras cannot use
            raise CheckFailed(f"{what}: Keras could not compute the compiled loss of the three "
                              f"outputs ({type(err).__name__}: {str(err)[:160]}); give loss and "
                              "loss_weights as dicts keyed 'cls1', 'cls2', 'same'") from None
        expected = 1.0 * head[0] + 1.0 * head[1] + 0.5 * same
        expect_close(total, expected, f"{what}: the compiled total loss on a batch of 6 pairs "
                     f"with L1 = {head[0]:.4f}, L2 = {head[1]:.4f}, Ld = {same:.4f}", rtol=1e-4)
    keras.backend.clear_session()
    return "Adam(1e-4), the given loss on cls1/cls2, cross-entropy on same, A = B = 1, C = 0.5"


def _head_model():
    """A DC model on 2x2x2 'images' whose backbone is GAP: cls1 reads channel 0, cls2 channel 1."""
    import keras

    from ..models import discriminant

    backbone = keras.Sequential([keras.Input((2, 2, 2)), keras.layers.GlobalAveragePooling2D()],
                                name="backbone")
    model = discriminant.assemble_dc_model(backbone, (2, 2, 2))
    model.get_layer("cls1").set_weights([np.array([[-4.0, 4.0], [0.0, 0.0]], "float32"),
                                         np.zeros(2, "float32")])
    model.get_layer("cls2").set_weights([np.array([[0.0, 0.0], [-4.0, 4.0]], "float32"),
                                         np.zeros(2, "float32")])
    return model


def _head_cases():
    """(description, images, labels): channel 0 / channel 1 hold the heads' melanoma evidence."""
    labels = np.array([1, 0, 1, 0, 0, 1, 0, 0])
    # cls1: ranks well, but every score is above 0.5 (accuracy at 0.5 = 3/8);
    # cls2: scores around 0.5, ranking worse (AP lower) but accuracy at 0.5 higher.
    first = np.array([0.9, 0.3, 0.8, 0.2, 0.25, 0.7, 0.1, 0.15])
    second = np.array([0.2, -0.3, -0.1, -0.4, 0.1, 0.3, -0.2, -0.5])
    images = np.zeros((8, 2, 2, 2), "float32")
    images[..., 0] = first[:, None, None]
    images[..., 1] = second[:, None, None]
    swapped = images[..., ::-1].copy()
    return [("8 validation images on which cls1 ranks best", images, labels),
            ("the same images with the heads' evidence swapped (cls2 ranks best)", swapped,
             labels),
            ("one-hot labels (8, 2)", images, np.eye(2)[labels])]


@register("4.5", title="choosing the head on validation data",
          hint="for head in ('cls1', 'cls2'): p = discriminant.dc_predict(model, val_images, "
               "head=head) (melanoma probabilities); score = sklearn's average_precision_score"
               "(labels, p) with 0/1 labels (argmax of one-hot rows); return the head with the "
               "higher AP (cls1 on a tie) and {'cls1': ap1, 'cls2': ap2}")
def check_choose_head(choose_head):
    from sklearn.metrics import average_precision_score

    from ..models import discriminant

    model = _head_model()
    for description, images, labels in _head_cases():
        flat = np.asarray(labels).argmax(1) if np.ndim(labels) == 2 else labels
        expected = {h: float(average_precision_score(
            flat, discriminant.dc_predict(model, images, head=h))) for h in ("cls1", "cls2")}
        best = "cls2" if expected["cls2"] > expected["cls1"] else "cls1"
        what = f"choose_head(model, val_images, val_labels) on {description}"
        result = choose_head(model, images, labels)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise CheckFailed(f"{what} returned {describe(result)}, expected (head, "
                              "{'cls1': ap, 'cls2': ap})")
        head, scores = result
        expect_equal(sorted(scores), ["cls1", "cls2"], f"{what}: the keys of the scores")
        for key in ("cls1", "cls2"):
            expect_close(scores[key], expected[key], f"{what}: the AP of {key}", rtol=1e-6)
        expect_equal(head, best, f"{what}: the chosen head (APs cls1 {expected['cls1']:.3f}, "
                                 f"cls2 {expected['cls2']:.3f})")
    tie = np.zeros((4, 2, 2, 2), "float32")
    tie[..., 0] = tie[..., 1] = np.array([0.4, -0.1, 0.3, 0.0])[:, None, None]
    head, _ = choose_head(model, tie, np.array([1, 0, 0, 1]))
    expect_equal(head, "cls1", "choose_head on 4 images where both heads give equal APs "
                               "(a tie goes to cls1)")
    return "APs equal sklearn's, the better head is chosen, one-hot labels and ties handled"


def _pair_batches():
    """Three pair batches for the tiny model, with 'same' targets one-hot (column 1 = same)."""
    rng = np.random.default_rng(5)
    batches = []
    for size, same in ((4, [1, 1, 0, 1]), (3, [0, 0, 1]), (5, [1, 1, 1, 1, 0])):
        x1, x2 = (rng.uniform(0, 255, (size, TOY_SIZE, TOY_SIZE, 3)).astype("float32")
                  for _ in "ab")
        targets = {"cls1": np.eye(2)[rng.integers(0, 2, size)],
                   "cls2": np.eye(2)[rng.integers(0, 2, size)], "same": np.eye(2)[same]}
        batches.append(((x1, x2), targets))
    return batches


@register("4.6", title="how good is the 'same' head?",
          hint="over every batch ((x1, x2), targets): p = model.predict([x1, x2])['same'] (or "
               "model([x1, x2])); correct += sum(argmax(p, 1) == argmax(targets['same'], 1)); "
               "the baseline 'always same' is right on the same-class pairs; divide both by the "
               "total number of pairs (not batches)")
def check_same_head_accuracy(same_head_accuracy):
    import keras

    model = _tiny_dc_model(seed=16)  # accuracy 9/12, always-same 8/12: the two differ
    batches = _pair_batches()
    correct = same_pairs = total = 0
    for (x1, x2), targets in batches:
        p = keras.ops.convert_to_numpy(model([x1, x2], training=False)["same"])
        truth = targets["same"].argmax(1)
        correct += int(np.sum(p.argmax(1) == truth))
        same_pairs += int(truth.sum())
        total += len(truth)
    result = same_head_accuracy(model, batches)
    what = "same_head_accuracy(model, 3 batches of 4, 3 and 5 pairs)"
    if not (isinstance(result, tuple) and len(result) == 2):
        raise CheckFailed(f"{what} returned {describe(result)}, expected (accuracy, "
                          "always_same_accuracy)")
    expect_close(result[0], correct / total, f"{what}: the accuracy of the 'same' head",
                 rtol=1e-9)
    expect_close(result[1], same_pairs / total, f"{what}: the accuracy of always answering "
                 "'same'", rtol=1e-9)
    keras.backend.clear_session()
    return (f"accuracy {correct}/{total} and the always-same baseline {same_pairs}/{total} "
            "match, pooled over the pairs")
