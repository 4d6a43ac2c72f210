"""The checks of 04_discriminant_network accept a right answer and reject the mistakes students
make (tables read by tests/test_exercise_coverage.py); the library's references pass too."""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops
from sklearn.metrics import average_precision_score, roc_auc_score

from course_lib.models import discriminant
from exercise_probe import rejected


# ---------------------------------------------------------------- 4.1 squared_difference
def squared_difference(f1, f2):
    return ops.square(f1 - f2)


def difference_without_square(f1, f2):
    return ops.subtract(f1, f2)


def absolute_difference(f1, f2):
    return ops.abs(ops.subtract(f1, f2))


def summed_squares(f1, f2):
    return ops.sum(ops.square(ops.subtract(f1, f2)), axis=-1, keepdims=True)


def difference_of_squares(f1, f2):
    return ops.square(f1) - ops.square(f2)


def numpy_only(f1, f2):
    return (np.asarray(f1) - np.asarray(f2)) ** 2


def added_features(f1, f2):
    return ops.add(f1, f2)


# ---------------------------------------------------------------- 4.2 the layer
class DiscriminantLayer(layers.Layer):
    def call(self, inputs):
        f1, f2 = inputs
        return ops.square(ops.subtract(f1, f2))


class AddLayer(layers.Layer):
    def call(self, inputs):
        return ops.add(inputs[0], inputs[1])


class AbsLayer(layers.Layer):
    def call(self, inputs):
        return ops.abs(inputs[0] - inputs[1])


class DistanceLayer(layers.Layer):
    def call(self, inputs):
        return ops.sqrt(ops.sum(ops.square(inputs[0] - inputs[1]), axis=-1, keepdims=True))


class WeightedLayer(layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[0][-1],), initializer="ones")

    def call(self, inputs):
        return self.scale * ops.square(inputs[0] - inputs[1])


class FirstSquaredLayer(layers.Layer):
    def call(self, inputs):
        return ops.square(inputs[0])


def not_a_layer(inputs):
    return ops.square(inputs[0] - inputs[1])


# ---------------------------------------------------------------- 4.3 the assembled model
def _heads(f1, f2, distance, activation="relu"):
    cls1 = layers.Dense(2, activation="softmax", name="cls1")(f1)
    cls2 = layers.Dense(2, activation="softmax", name="cls2")(f2)
    hidden = layers.Dense(512, activation=activation, name="same_fc")(distance)
    same = layers.Dense(2, activation="softmax", name="same")(hidden)
    return {"cls1": cls1, "cls2": cls2, "same": same}


def assemble_dc_model(backbone, input_shape, distance_layer):
    x1, x2 = keras.Input(input_shape), keras.Input(input_shape)
    f1, f2 = backbone(x1), backbone(x2)
    return keras.Model([x1, x2], _heads(f1, f2, distance_layer()([f1, f2])))


def assemble_with_add(backbone, input_shape, distance_layer):
    """The known hole of the old check: f1 + f2 in place of (f1 - f2)^2."""
    x1, x2 = keras.Input(input_shape), keras.Input(input_shape)
    f1, f2 = backbone(x1), backbone(x2)
    distance_layer()([f1, f2])  # created, then not used
    return keras.Model([x1, x2], _heads(f1, f2, layers.Add()([f1, f2])))


def assemble_with_swapped_heads(backbone, input_shape, distance_layer):
    x1, x2 = keras.Input(input_shape), keras.Input(input_shape)
    f1, f2 = backbone(x1), backbone(x2)
    return keras.Model([x1, x2], _heads(f2, f1, distance_layer()([f1, f2])))


def assemble_with_two_backbones(backbone, input_shape, distance_layer):
    second = keras.models.clone_model(backbone)  # a second network with its own weights
    second.name = "backbone_copy"
    x1, x2 = keras.Input(input_shape), keras.Input(input_shape)
    f1, f2 = backbone(x1), second(x2)
    return keras.Model([x1, x2], _heads(f1, f2, distance_layer()([f1, f2])))


def assemble_without_relu(backbone, input_shape, distance_layer):
    x1, x2 = keras.Input(input_shape), keras.Input(input_shape)
    f1, f2 = backbone(x1), backbone(x2)
    return keras.Model([x1, x2], _heads(f1, f2, distance_layer()([f1, f2]), activation=None))


def assemble_with_difference(backbone, input_shape, distance_layer):
    x1, x2 = keras.Input(input_shape), keras.Input(input_shape)
    f1, f2 = backbone(x1), backbone(x2)
    distance_layer()([f1, f2])
    return keras.Model([x1, x2], _heads(f1, f2, layers.Subtract()([f1, f2])))


# ---------------------------------------------------------------- 4.4 compile
def compile_dc_model(model, loss="categorical_crossentropy", **compile_kwargs):
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss={"cls1": loss, "cls2": loss, "same": "categorical_crossentropy"},
                  loss_weights={"cls1": 1.0, "cls2": 1.0, "same": 0.5},
                  metrics={"cls1": ["accuracy"], "cls2": ["accuracy"], "same": ["accuracy"]},
                  **compile_kwargs)
    return model


def _compile(model, losses, weights, optimizer=None, **kwargs):
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-4), loss=losses,
                  loss_weights=weights, **kwargs)
    return model


def compile_equal_weights(model, loss="categorical_crossentropy", **kwargs):
    return _compile(model, {"cls1": loss, "cls2": loss, "same": "categorical_crossentropy"},
                    {"cls1": 1.0, "cls2": 1.0, "same": 1.0}, **kwargs)


def compile_swapped_weights(model, loss="categorical_crossentropy", **kwargs):
    return _compile(model, {"cls1": loss, "cls2": loss, "same": "categorical_crossentropy"},
                    {"cls1": 0.5, "cls2": 0.5, "same": 1.0}, **kwargs)


def compile_focal_everywhere(model, loss="categorical_crossentropy", **kwargs):
    return _compile(model, {"cls1": loss, "cls2": loss, "same": loss},
                    {"cls1": 1.0, "cls2": 1.0, "same": 0.5}, **kwargs)


def compile_ignoring_loss(model, loss="categorical_crossentropy", **kwargs):
    return _compile(model, "categorical_crossentropy", {"cls1": 1.0, "cls2": 1.0, "same": 0.5},
                    **kwargs)


def compile_default_adam(model, loss="categorical_crossentropy", **kwargs):
    return _compile(model, {"cls1": loss, "cls2": loss, "same": "categorical_crossentropy"},
                    {"cls1": 1.0, "cls2": 1.0, "same": 0.5}, optimizer="adam", **kwargs)


def compile_dropping_kwargs(model, loss="categorical_crossentropy", **kwargs):
    return _compile(model, {"cls1": loss, "cls2": loss, "same": "categorical_crossentropy"},
                    {"cls1": 1.0, "cls2": 1.0, "same": 0.5})


def compile_returning_none(model, loss="categorical_crossentropy", **kwargs):
    compile_dc_model(model, loss, **kwargs)


# ---------------------------------------------------------------- 4.5 choose the head
def _labels(val_labels):
    labels = np.asarray(val_labels)
    return labels.argmax(1) if labels.ndim == 2 else labels


def choose_head(model, val_images, val_labels):
    labels = _labels(val_labels)
    scores = {h: float(average_precision_score(labels, discriminant.dc_predict(
        model, val_images, head=h))) for h in ("cls1", "cls2")}
    return ("cls2" if scores["cls2"] > scores["cls1"] else "cls1"), scores


def choose_lower_ap(model, val_images, val_labels):
    head, scores = choose_head(model, val_images, val_labels)
    return ("cls1" if scores["cls2"] > scores["cls1"] else "cls2"), scores


def choose_by_auc(model, val_images, val_labels):
    labels = _labels(val_labels)
    scores = {h: float(roc_auc_score(labels, discriminant.dc_predict(model, val_images, head=h)))
              for h in ("cls1", "cls2")}
    return ("cls2" if scores["cls2"] > scores["cls1"] else "cls1"), scores


def choose_by_accuracy(model, val_images, val_labels):
    labels = _labels(val_labels)
    scores = {h: float(np.mean((discriminant.dc_predict(model, val_images, head=h) > 0.5)
                               == labels)) for h in ("cls1", "cls2")}
    return ("cls2" if scores["cls2"] > scores["cls1"] else "cls1"), scores


def choose_on_benign_column(model, val_images, val_labels):
    labels = _labels(val_labels)
    scores = {}
    for h in ("cls1", "cls2"):
        classifier = discriminant.dc_classifier(model, h)
        scores[h] = float(average_precision_score(labels, classifier.predict(
            val_images, verbose=0)[:, 0]))
    return ("cls2" if scores["cls2"] > scores["cls1"] else "cls1"), scores


def choose_with_ties_to_cls2(model, val_images, val_labels):
    head, scores = choose_head(model, val_images, val_labels)
    return ("cls2" if scores["cls2"] >= scores["cls1"] else "cls1"), scores


def choose_ignoring_one_hot(model, val_images, val_labels):
    labels = np.asarray(val_labels).reshape(-1)[: len(val_images)]
    scores = {h: float(average_precision_score(labels, discriminant.dc_predict(
        model, val_images, head=h))) for h in ("cls1", "cls2")}
    return ("cls2" if scores["cls2"] > scores["cls1"] else "cls1"), scores


# ---------------------------------------------------------------- 4.6 the same head
def _same_counts(model, pairs):
    for (x1, x2), targets in pairs:
        predicted = ops.convert_to_numpy(model([x1, x2], training=False)["same"]).argmax(1)
        truth = np.asarray(targets["same"]).argmax(1)
        yield predicted, truth


def same_head_accuracy(model, pairs):
    correct = same = total = 0
    for predicted, truth in _same_counts(model, pairs):
        correct += int(np.sum(predicted == truth))
        same += int(truth.sum())
        total += len(truth)
    return correct / total, same / total


def same_accuracy_mean_of_batches(model, pairs):
    accuracies, baselines = [], []
    for predicted, truth in _same_counts(model, pairs):
        accuracies.append(np.mean(predicted == truth))
        baselines.append(np.mean(truth == 1))
    return float(np.mean(accuracies)), float(np.mean(baselines))


def same_accuracy_baseline_different(model, pairs):
    accuracy, same = same_head_accuracy(model, pairs)
    return accuracy, 1.0 - same


def same_accuracy_swapped(model, pairs):
    accuracy, same = same_head_accuracy(model, pairs)
    return same, accuracy


def same_accuracy_first_column(model, pairs):
    correct = same = total = 0
    for (x1, x2), targets in pairs:
        p = ops.convert_to_numpy(model([x1, x2], training=False)["same"])
        truth = np.asarray(targets["same"]).argmax(1)
        correct += int(np.sum((p[:, 0] > 0.5) == truth))
        same += int(truth.sum())
        total += len(truth)
    return correct / total, same / total


def same_accuracy_cls1_head(model, pairs):
    correct = same = total = 0
    for (x1, x2), targets in pairs:
        p = ops.convert_to_numpy(model([x1, x2], training=False)["cls1"])
        truth = np.asarray(targets["same"]).argmax(1)
        correct += int(np.sum(p.argmax(1) == truth))
        same += int(truth.sum())
        total += len(truth)
    return correct / total, same / total


RIGHT_ANSWERS = {
    "4.1": squared_difference,
    "4.2": DiscriminantLayer,
    "4.3": assemble_dc_model,
    "4.4": compile_dc_model,
    "4.5": choose_head,
    "4.6": same_head_accuracy,
}

WRONG_ANSWERS = {
    "4.1": [difference_without_square, absolute_difference, summed_squares,
            difference_of_squares, numpy_only, added_features],
    "4.2": [AddLayer, AbsLayer, DistanceLayer, WeightedLayer, FirstSquaredLayer, not_a_layer],
    "4.3": [assemble_with_add, assemble_with_swapped_heads, assemble_with_two_backbones,
            assemble_without_relu, assemble_with_difference],
    "4.4": [compile_equal_weights, compile_swapped_weights, compile_focal_everywhere,
            compile_ignoring_loss, compile_default_adam, compile_dropping_kwargs,
            compile_returning_none],
    "4.5": [choose_lower_ap, choose_by_auc, choose_by_accuracy, choose_on_benign_column,
            choose_with_ties_to_cls2, choose_ignoring_one_hot],
    "4.6": [same_accuracy_mean_of_batches, same_accuracy_baseline_different, same_accuracy_swapped,
            same_accuracy_first_column, same_accuracy_cls1_head],
}

#: The course's own implementations, where their signature is the exercise's.
REFERENCES = {
    "4.1": discriminant.squared_difference,
    "4.2": discriminant.SquaredDifference,
    "4.3": discriminant.assemble_dc_model,
    "4.4": discriminant.compile_dc_model,
    "4.5": discriminant.select_head,
}


def _stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write the body of this function")


class StubLayer(layers.Layer):
    def call(self, inputs):
        raise NotImplementedError("Exercise 4.2: write call()")


def test_failure_messages_say_what_was_wrong():
    message = rejected("4.3", assemble_with_add)
    assert "never created the distance_layer" in message or "'same'" in message
    message = rejected("4.4", compile_swapped_weights)
    assert "total loss" in message and "expected" in message
    message = rejected("4.1", absolute_difference)
    assert "expected" in message and "Hint" in message


STUBS = {"4.2": StubLayer}  # a Keras layer class: its call() raises
