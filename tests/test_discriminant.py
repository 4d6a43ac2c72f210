"""Tests of course_lib.models.discriminant: the DC models (04_discriminant_network)."""
from __future__ import annotations

import course_lib  # noqa: F401  (quiet TensorFlow before it is imported)
import numpy as np
import pytest

import keras
from course_lib.losses import CategoricalFocalLoss
from course_lib import metrics, recipes
from course_lib.models import discriminant as D

SIZE = 32


def trainable_count(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture(scope="module")
def counts_224():
    counts = {}
    for backbone in ("mobilenet", "densenet121"):
        keras.backend.clear_session()
        model = D.build_dc_model(backbone, input_shape=(224, 224, 3))
        counts[backbone] = (model.count_params(), trainable_count(model))
    keras.backend.clear_session()
    return counts


@pytest.fixture(scope="module")
def small_dc():
    """One DC-MobileNet at 32 px for the structural tests (built once)."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    return D.build_dc_model("mobilenet", input_shape=(SIZE, SIZE, 3))


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, 3)).astype("float32")


@pytest.mark.parametrize("backbone, total, trainable", [
    ("mobilenet", 3_758_790, 3_736_902),
    ("densenet121", 7_567_430, 7_483_782),
])
def test_parameter_counts_match_table_v(counts_224, backbone, total, trainable):
    assert counts_224[backbone] == (total, trainable)
    assert D.DC_PAPER_TRAINABLE_PARAMS[backbone] == trainable


def test_dc_adds_two_heads_and_the_discriminant_branch(counts_224):
    # backbone (Keras count) + 2 x Dense(1024 -> 2) + Dense(1024 -> 512) + Dense(512 -> 2)
    assert counts_224["mobilenet"][0] == 3_228_864 + 2 * 2_050 + 524_800 + 1_026


def test_squared_difference_is_eq_2():
    first = np.array([[1.0, 2.0, 3.0]], dtype="float32")
    second = np.array([[3.0, 2.0, 0.5]], dtype="float32")
    layer = D.SquaredDifference()
    out = keras.ops.convert_to_numpy(layer([first, second]))
    np.testing.assert_allclose(out, [[4.0, 0.0, 6.25]])
    assert layer.weights == []


def test_inputs_outputs_and_shapes(small_dc):
    assert [tensor.name for tensor in small_dc.inputs] == ["x1", "x2"]
    assert sorted(small_dc.output_names) == ["cls1", "cls2", "same"]
    outputs = small_dc([images(2), images(2, seed=1)], training=False)
    assert sorted(outputs) == ["cls1", "cls2", "same"]
    for name, value in outputs.items():
        value = keras.ops.convert_to_numpy(value)
        assert value.shape == (2, 2), name
        np.testing.assert_allclose(value.sum(axis=1), 1.0, atol=1e-5)


def test_one_shared_backbone(small_dc):
    backbones = [layer for layer in small_dc.layers if isinstance(layer, keras.Model)]
    assert len(backbones) == 1 and backbones[0].name == "backbone"
    backbone = backbones[0]
    heads = ("cls1", "cls2", "same_fc", "same")
    assert len(small_dc.weights) == len(backbone.weights) + sum(
        len(small_dc.get_layer(name).weights) for name in heads)
    assert small_dc.count_params() == backbone.count_params() + sum(
        small_dc.get_layer(name).count_params() for name in heads)
    # the same image through both inputs gives the same features: D = 0 exactly
    distance = keras.Model(small_dc.inputs, small_dc.get_layer("discriminant").output)
    x = images(2)
    same = keras.ops.convert_to_numpy(distance([x, x], training=False))
    assert same.shape == (2, 1024) and np.all(same == 0.0)


def test_dc_losses_and_weights():
    losses = D.dc_losses()
    assert losses == {"cls1": "categorical_crossentropy", "cls2": "categorical_crossentropy",
                      "same": "categorical_crossentropy"}
    focal = D.dc_losses("focal")
    assert isinstance(focal["cls1"], CategoricalFocalLoss)
    assert (focal["cls1"].alpha, focal["cls1"].gamma) == (0.25, 0.75)
    assert focal["same"] == "categorical_crossentropy"
    assert D.DC_LOSS_WEIGHTS == {"cls1": 1.0, "cls2": 1.0, "same": 0.5}


def test_compile_rejects_incomplete_loss_dicts(small_dc):
    with pytest.raises(ValueError, match="exactly the keys"):
        D.compile_dc_model(small_dc, loss={"cls1": "categorical_crossentropy"})
    with pytest.raises(ValueError, match="build_dc_model"):
        D.compile_dc_model(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "focal"])
def test_one_training_step_uses_eq_5(loss):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = D.build_dc_model("mobilenet", input_shape=(SIZE, SIZE, 3))
    D.compile_dc_model(model, loss=loss, run_eagerly=True)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-4)
    labels1, labels2 = np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1])
    one_hot = lambda labels: np.eye(2, dtype="float32")[labels]  # noqa: E731
    targets = {"cls1": one_hot(labels1), "cls2": one_hot(labels2),
               "same": one_hot((labels1 == labels2).astype(int))}
    before = [w.numpy().copy() for w in model.trainable_weights[:1]]
    logs = model.train_on_batch([images(4), images(4, seed=1)], targets, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert logs["loss"] == pytest.approx(
        logs["cls1_loss"] + logs["cls2_loss"] + 0.5 * logs["same_loss"], rel=1e-5)
    assert not np.array_equal(before[0], model.trainable_weights[0].numpy())


def test_dc_predict_matches_feeding_the_image_twice():
    # ResNet18: its random-init features vary from image to image (MobileNet's are ~1e-20 in
    # inference mode before training), so this test can tell images and heads apart.
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = D.build_dc_model("resnet18", input_shape=(SIZE, SIZE, 3))
    x = images(3, seed=4)
    outputs = model.predict([x, x], verbose=0)
    assert np.ptp(outputs["cls1"][:, 1]) > 1e-3                       # images differ
    assert not np.allclose(outputs["cls1"], outputs["cls2"], atol=1e-3)  # heads differ
    for head in ("cls1", "cls2"):
        p = D.dc_predict(model, x, head=head)
        assert p.shape == (3,)
        np.testing.assert_allclose(p, outputs[head][:, 1], rtol=1e-5, atol=1e-6)
    mean = D.dc_predict(model, x, head="mean")
    np.testing.assert_allclose(mean, (outputs["cls1"][:, 1] + outputs["cls2"][:, 1]) / 2,
                               rtol=1e-5, atol=1e-6)
    single = D.dc_predict(model, x[0], head="cls1")
    assert single.shape == (1,)
    np.testing.assert_allclose(single, outputs["cls1"][:1, 1], rtol=1e-5, atol=1e-6)


def test_dc_predict_argument_errors(small_dc):
    with pytest.raises(ValueError, match="head must be one of"):
        D.dc_predict(small_dc, images(1), head="cls3")


def _set_head(model, name: str, bias) -> None:
    layer = model.get_layer(name)
    layer.kernel.assign(np.zeros(layer.kernel.shape, dtype="float32"))
    layer.bias.assign(np.asarray(bias, dtype="float32"))


def test_select_head_picks_the_better_head():
    keras.backend.clear_session()
    model = D.build_dc_model("mobilenet", input_shape=(SIZE, SIZE, 3))
    with pytest.raises(ValueError, match="select_head returned"):
        D.dc_predict(model, images(2), head="best")  # no memory of earlier calls
    _set_head(model, "cls1", [5.0, 0.0])          # says benign for every image
    _set_head(model, "cls2", [0.0, 5.0])          # says melanoma for every image
    x, labels = images(4), np.array([1, 1, 1, 0])
    head, scores = D.select_head(model, x, labels, metric="accuracy")
    assert head == "cls2" and scores == {"cls1": 0.25, "cls2": 0.75}
    assert not hasattr(D, "selected_head") and not hasattr(D, "_SELECTED_HEADS")
    with pytest.raises(TypeError):
        D.dc_predict(model, x)                    # the head is always said
    # one-hot labels and a custom metric work too; ties go to cls1
    head, scores = D.select_head(model, x, np.eye(2)[labels], metric=lambda y, p: 1.0)
    assert head == "cls1" and scores == {"cls1": 1.0, "cls2": 1.0}


def test_select_head_needs_both_classes_for_ap(small_dc):
    with pytest.raises(ValueError, match="both classes"):
        D.select_head(small_dc, images(2), [1, 1], metric="ap")
    with pytest.raises(ValueError, match="metric must be"):
        D.select_head(small_dc, images(2), [0, 1], metric="f1")


def _toy_splits(n_train=20, n_val=8, size=8):
    from course_lib.data.splits import Splits

    rng = np.random.default_rng(0)
    y_train = np.array([1] * (n_train // 5) + [0] * (n_train - n_train // 5))
    y_val = np.array([1, 0] * (n_val // 2))
    return Splits(x_train=rng.integers(0, 256, (n_train, size, size, 3), dtype=np.uint8),
                  y_train=y_train, m_train=None,
                  x_val=rng.integers(0, 256, (n_val, size, size, 3), dtype=np.uint8),
                  y_val=y_val, m_val=None, x_test=None, y_test=None, m_test=None,
                  ids_train=[], ids_val=[], ids_test=[], image_size=size)


def test_dc_pair_sequences_on_the_fly_and_expanded():
    from course_lib import config

    splits = _toy_splits()
    profile = config.get_profile("smoke", batch_size=4)
    train_pairs, val_pairs = recipes.dc_pair_sequences(splits, profile)
    (x1, x2), targets = train_pairs[0]
    assert x1.shape == (4, 8, 8, 3) and set(targets) == {"cls1", "cls2", "same"}
    assert len(train_pairs) == 5 and len(val_pairs) == 2
    (v1, _), _ = val_pairs[0]
    assert any(np.array_equal(v1[0], image) for image in splits.x_val), "validation unaugmented"
    expanded, _ = recipes.dc_pair_sequences(splits, config.get_profile("paper", batch_size=4))
    assert len(expanded) * 4 >= 20 * 4430 // 900 - 4, "the paper profile expands offline"
    with pytest.raises(ValueError, match="load_splits"):
        recipes.dc_pair_sequences("not splits", profile)


def test_plot_dc_architecture_returns_a_figure():
    import matplotlib

    matplotlib.use("Agg")
    figure = D.plot_dc_architecture()
    assert figure.axes and hasattr(figure, "savefig")


# ------------------------------------------------------------------ injection points (issue 11)
def test_squared_difference_and_assemble_match_build_dc_model():
    """assemble_dc_model is build_dc_model's assembly step; squared_difference is Eq. 2."""
    f1, f2 = np.array([[1.0, -2.0]], "float32"), np.array([[3.0, 0.5]], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(D.squared_difference(f1, f2)),
                               [[4.0, 6.25]])
    keras.backend.clear_session()
    from course_lib.models import build_backbone

    backbone = build_backbone("mobilenet", input_shape=(SIZE, SIZE, 3), name="backbone")
    assembled = D.assemble_dc_model(backbone, (SIZE, SIZE, 3))
    built = D.build_dc_model("mobilenet", input_shape=(SIZE, SIZE, 3))
    assert trainable_count(assembled) == trainable_count(built)
    D.copy_dc_weights(assembled, built)
    x1, x2 = images(2, 1), images(2, 2)
    ours, theirs = assembled([x1, x2]), built([x1, x2])
    for key in ("cls1", "cls2", "same"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(ours[key]),
                                   keras.ops.convert_to_numpy(theirs[key]), atol=1e-5)
    assert sorted(D.dc_head_layers(built)) == ["cls1", "cls2", "same", "same_fc"]
    with pytest.raises(ValueError, match="no layer named"):
        D.dc_head_layers(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))


def _tiny_splits(size=32):
    from course_lib.data.splits import Splits

    rng = np.random.default_rng(0)

    def pictures(n):
        return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)

    labels = np.array([0, 1] * 4)
    return Splits(pictures(8), labels, None, pictures(4), labels[:4], None, pictures(4),
                  labels[:4], None, list(range(8)), list(range(4)), list(range(4)), size)


def test_train_and_evaluate_use_the_injected_functions(tmp_path, monkeypatch):
    """train_dc_model(build_model=, compile_model=) trains the given builder's model, compiled by
    the given function, and saves the course's architecture; evaluate_dc_model(select=) uses the
    given head selection."""
    import dataclasses

    from course_lib import config

    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    profile = dataclasses.replace(config.get_profile("smoke"), image_size=32, batch_size=4)
    splits = _tiny_splits()
    train_pairs, val_pairs = recipes.dc_pair_sequences(splits, profile)
    calls = []

    class Difference(keras.layers.Layer):  # a "student" layer the saved model must not need
        def call(self, inputs):
            return keras.ops.square(inputs[0] - inputs[1])

    def build_model(backbone_model, input_shape):
        calls.append(("build", backbone_model.name, tuple(input_shape)))
        return D.assemble_dc_model(backbone_model, input_shape, distance_layer=Difference)

    def compile_model(model, loss="categorical_crossentropy", **kwargs):
        calls.append(("compile", loss))
        return D.compile_dc_model(model, loss=loss, **kwargs)

    model, history, _ = recipes.train_dc_model("mobilenet", train_pairs, val_pairs, profile,
                                         name="dc-injected", epochs=1, steps_per_epoch=1,
                                         verbose=0, build_model=build_model,
                                         compile_model=compile_model)
    assert calls == [("build", "backbone", (32, 32, 3)), ("compile", "categorical_crossentropy")]
    assert isinstance(model.get_layer("discriminant"), Difference)
    assert np.isfinite(history.history["loss"]).all()
    from course_lib import train

    saved = keras.saving.load_model(train.saved_model_path(profile, "dc-injected"), compile=False)
    assert isinstance(saved.get_layer("discriminant"), D.SquaredDifference)
    x1, x2 = splits.x_val.astype("float32"), splits.x_test.astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(saved([x1, x2])["same"]),
                               keras.ops.convert_to_numpy(model([x1, x2])["same"]), atol=1e-5)

    chosen = []

    def select(m, val_images, val_labels):
        chosen.append(len(val_images))
        return "cls2", {"cls1": 0.1, "cls2": 0.9}

    result = recipes.evaluate_dc_model(model, splits, notebook="test", name="dc-injected",
                                 profile=profile, n_boot=10, select=select)
    assert chosen == [4] and result["head"] == "cls2"
    scores = D.dc_predict(model, splits.x_test, head="cls2")   # the test set was scored with it
    expected = metrics.classification_scores(splits.y_test, scores)
    assert result["metrics"]["AUC"] == pytest.approx(expected["AUC"])
    with pytest.raises(ValueError, match="select returned head"):
        recipes.evaluate_dc_model(model, splits, notebook="test", name="dc-injected", profile=profile,
                            n_boot=10, select=lambda m, x, y: ("both", {}))
