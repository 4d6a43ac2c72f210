"""DC models: a lightweight CNN plus the discriminant branch of Eq. (2).

Taught in 04_discriminant_network (paper sections III.B.3-4 and IV.A.2, Fig. 2, Table V).
One backbone is SHARED by the two inputs (one set of weights, applied twice)::

    x1 -> backbone -> f1 -> Dense(2, softmax) "cls1"
    x2 -> backbone -> f2 -> Dense(2, softmax) "cls2"
    (f1 - f2)^2 "discriminant" -> Dense(512, relu) "same_fc" -> Dense(2, softmax) "same"

"same": do x1 and x2 share a class (column 1 = same). Loss (Eq. 5): A L(cls1) + B L(cls2) +
C L(same), A = B = 1, C = 0.5. Table V prints the TRAINABLE counts at 224x224x3: 3,736,902
(DC-MobileNetV1), 7,483,782 (DC-DenseNet121); with BatchNorm statistics 3,758,790 and 7,567,430
(Keras 3.15).
"""
from __future__ import annotations

import weakref

import numpy as np

import keras
from keras import layers, ops

from ..paper import DC_LOSS_WEIGHTS, LEARNING_RATE  # Eq. 5's A = B = 1, C = 0.5; Adam 1e-4
from .backbones import build_backbone

__all__ = [
    "DC_LOSS_WEIGHTS", "DC_PAPER_TRAINABLE_PARAMS", "HEADS", "SquaredDifference",
    "squared_difference", "assemble_dc_model", "dc_head_layers", "copy_dc_weights",
    "build_dc_model", "dc_losses", "compile_dc_model", "dc_classifier", "dc_predict",
    "select_head", "plot_dc_architecture",
]

#: Table V's parameter counts of the DC models (trainable parameters, 224x224x3).
DC_PAPER_TRAINABLE_PARAMS = {"mobilenet": 3_736_902, "densenet121": 7_483_782}
#: The two classification heads of a DC model.
HEADS = ("cls1", "cls2")

# a cache, not state: model -> {head: the single-input classifier built on its layers}
_CLASSIFIERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@keras.saving.register_keras_serializable(package="course_lib")
class SquaredDifference(layers.Layer):
    """Eq. (2): D(Y1, Y2) = (Y1 - Y2)^2, element by element; no weights ("non-parametric").
    Taught in 04_discriminant_network."""

    def call(self, inputs):
        first, second = inputs
        return ops.square(ops.subtract(first, second))

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def squared_difference(f1, f2):
    """Eq. (2) with ``keras.ops`` (arrays and tensors). Exercise 4.1 (04_discriminant_network)."""
    return ops.square(ops.subtract(f1, f2))


def assemble_dc_model(backbone: keras.Model, input_shape, distance_layer=SquaredDifference,
                      name: str | None = None) -> keras.Model:
    """The three branches of Fig. 2 around an existing ``backbone`` (image -> feature vector).
    Taught in 04_discriminant_network (Exercise 4.3). ``distance_layer``: the CLASS of the
    Eq. (2) layer (made once, named "discriminant"). Inputs "x1", "x2"; outputs
    ``{"cls1", "cls2", "same"}``, each an ``(N, 2)`` softmax."""
    x1 = keras.Input(shape=tuple(input_shape), name="x1")
    x2 = keras.Input(shape=tuple(input_shape), name="x2")
    f1 = backbone(x1)
    f2 = backbone(x2)  # the same layer object: one set of weights
    cls1 = layers.Dense(2, activation="softmax", name="cls1", dtype="float32")(f1)
    cls2 = layers.Dense(2, activation="softmax", name="cls2", dtype="float32")(f2)
    distance = distance_layer(name="discriminant")([f1, f2])
    hidden = layers.Dense(512, activation="relu", name="same_fc")(distance)
    same = layers.Dense(2, activation="softmax", name="same", dtype="float32")(hidden)
    return keras.Model([x1, x2], {"cls1": cls1, "cls2": cls2, "same": same},
                       name=name or "dc_model")


def build_dc_model(backbone: str = "mobilenet", input_shape=(224, 224, 3), weights=None,
                   name: str | None = None) -> keras.Model:
    """The DC model of Fig. 2: inputs ``[x1, x2]``, outputs ``{"cls1", "cls2", "same"}``.
    Taught in 04_discriminant_network. ``weights`` initialises the shared backbone, the nested
    layer ``model.get_layer("backbone")``."""
    feature_model = build_backbone(backbone, input_shape=input_shape, weights=weights,
                                   name="backbone")
    return assemble_dc_model(feature_model, feature_model.input.shape[1:],
                             name=name or f"dc_{backbone.strip().lower()}")


def dc_head_layers(model: keras.Model) -> dict:
    """The layers of a DC model by role: ``{"cls1", "cls2", "same", "same_fc"}`` -> layer.
    Taught in 04_discriminant_network (Exercise 4.3's check). "same_fc" is the one other Dense
    layer. Raises ``ValueError`` saying what is missing."""
    found = {}
    for role in ("cls1", "cls2", "same"):
        if not _has_layer(model, role):
            raise ValueError(f"the model has no layer named {role!r}; name the Dense layers of "
                             "the three heads 'cls1', 'cls2' and 'same'")
        found[role] = model.get_layer(role)
    others = [layer for layer in model.layers if isinstance(layer, layers.Dense)
              and layer.name not in ("cls1", "cls2", "same")]
    if len(others) != 1:
        raise ValueError(f"expected exactly one more Dense layer (Dense(512, relu) between D and "
                         f"'same'), found {len(others)}: {[layer.name for layer in others]}")
    found["same_fc"] = others[0]
    return found


def copy_dc_weights(source: keras.Model, target: keras.Model) -> keras.Model:
    """Copy DC model ``source``'s weights into ``target`` by role (:func:`dc_head_layers`, plus
    "backbone" when both have one); returns ``target``, ``ValueError`` on a shape mismatch.
    Taught in 04_discriminant_network."""
    pairs = list(zip(dc_head_layers(source).items(), dc_head_layers(target).values()))
    if _has_layer(source, "backbone") and _has_layer(target, "backbone"):
        pairs.append((("backbone", source.get_layer("backbone")), target.get_layer("backbone")))
    for (role, from_layer), to_layer in pairs:
        weights = from_layer.get_weights()
        shapes = [w.shape for w in weights], [tuple(w.shape) for w in to_layer.weights]
        if [tuple(s) for s in shapes[0]] != shapes[1]:
            raise ValueError(f"layer {role!r}: weight shapes {shapes[1]} differ from the "
                             f"reference's {[tuple(s) for s in shapes[0]]}")
        to_layer.set_weights(weights)
    return target


def dc_losses(classification_loss="categorical_crossentropy") -> dict:
    """The loss of each output: ``classification_loss`` for cls1 and cls2 (``"focal"``: the
    paper's focal loss), cross-entropy for "same" (04_discriminant_network, 05_focal_loss)."""
    if isinstance(classification_loss, str) and classification_loss.strip().lower() == "focal":
        from ..losses import categorical_focal_loss
        classification_loss = categorical_focal_loss()  # the paper's alpha and gamma
    if classification_loss is None:
        raise ValueError("classification_loss is None: pass 'categorical_crossentropy', 'focal' "
                         "or a keras loss.")
    return {"cls1": classification_loss, "cls2": classification_loss,
            "same": "categorical_crossentropy"}


def compile_dc_model(model: keras.Model, optimizer=None, loss="categorical_crossentropy",
                     loss_weights: dict | None = None, metrics=("accuracy",),
                     **compile_kwargs) -> keras.Model:
    """Compile a DC model with the joint loss of Eq. (5), in place; returns it.
    Taught in 04_discriminant_network. ``optimizer``: default Adam 1e-4 (the paper's); ``loss``:
    both heads' loss (:func:`dc_losses`) or a full dict by output; ``metrics``: for each output."""
    output_names = ("cls1", "cls2", "same")
    if not isinstance(model, keras.Model) or not all(
            _has_layer(model, name) for name in output_names):
        raise ValueError("compile_dc_model expects a model from build_dc_model (outputs "
                         "'cls1', 'cls2', 'same').")
    losses = dict(loss) if isinstance(loss, dict) else dc_losses(loss)
    loss_weights = dict(DC_LOSS_WEIGHTS if loss_weights is None else loss_weights)
    for label, mapping in (("loss", losses), ("loss_weights", loss_weights)):
        if set(mapping) != set(output_names):
            raise ValueError(f"{label} must have exactly the keys {list(output_names)}; got "
                             f"{sorted(mapping)}.")
    if optimizer is None:
        optimizer = keras.optimizers.Adam(learning_rate=LEARNING_RATE)
    if metrics is not None:
        metrics = list([metrics] if isinstance(metrics, str) else metrics)
        metrics = {name: list(metrics) for name in output_names}
    model.compile(optimizer=optimizer, loss=losses, loss_weights=loss_weights, metrics=metrics,
                  **compile_kwargs)
    return model


def _has_layer(model: keras.Model, name: str) -> bool:
    try:
        model.get_layer(name)
    except ValueError:
        return False
    return True


def _resolve_head(head: str) -> str:
    valid = ("cls1", "cls2", "mean")
    if head == "best":
        raise ValueError("head='best' is not a head: the library keeps no memory of earlier "
                         "calls. Pass the head select_head returned, e.g. head, _ = "
                         "select_head(model, x_val, y_val); dc_predict(model, x, head=head).")
    if head not in valid:
        raise ValueError(f"head must be one of {valid}; got {head!r}.")
    return head


def dc_classifier(model: keras.Model, head: str) -> keras.Model:
    """A single-input classifier sharing the DC model's weights: image -> (N, 2) softmax.
    Taught in 04_discriminant_network. ``head``: "cls1", "cls2" or "mean" (of both)."""
    head = _resolve_head(head)
    cache = _CLASSIFIERS.setdefault(model, {})
    if head not in cache:
        backbone = model.get_layer("backbone")
        image = keras.Input(shape=model.inputs[0].shape[1:], name="image")
        features = backbone(image)
        if head == "mean":
            probabilities = layers.Average(name="mean_head")(
                [model.get_layer("cls1")(features), model.get_layer("cls2")(features)])
        else:
            probabilities = model.get_layer(head)(features)
        cache[head] = keras.Model(image, probabilities, name=f"{model.name}_{head}")
    return cache[head]


def dc_predict(model: keras.Model, images, head: str, batch_size: int = 32,
               verbose: int = 0) -> np.ndarray:
    """Melanoma probabilities ``(N,)`` of a DC model for images ``(N, H, W, 3)``, one image
    ``(H, W, 3)`` or a ``tf.data.Dataset`` of batches. Taught in 04_discriminant_network."""
    classifier = dc_classifier(model, head)
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = images[None]
    probabilities = classifier.predict(images, batch_size=batch_size, verbose=verbose)
    return np.asarray(probabilities)[:, 1]


def _labels_1d(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 2:
        labels = labels.argmax(axis=1)
    return labels.reshape(-1).astype(int)


def _score(metric, labels: np.ndarray, probabilities: np.ndarray) -> float:
    if callable(metric):
        return float(metric(labels, probabilities))
    from sklearn.metrics import average_precision_score, roc_auc_score
    if metric in ("AUC", "AP") and len(np.unique(labels)) < 2:
        raise ValueError(f"metric={metric!r} needs both classes among val_labels (got only "
                         f"{np.unique(labels).tolist()}); use more validation images or "
                         "metric='AC'.")
    if metric == "AUC":
        return float(roc_auc_score(labels, probabilities))
    if metric == "AP":
        return float(average_precision_score(labels, probabilities))
    return float(np.mean((probabilities > 0.5).astype(int) == labels))


#: select_head's metric names: the library's names (course_lib.metrics), any case; "accuracy" = AC.
_HEAD_METRICS = {"ap": "AP", "auc": "AUC", "ac": "AC", "accuracy": "AC"}


def select_head(model: keras.Model, val_images, val_labels, metric="AP",
                batch_size: int = 32) -> tuple[str, dict]:
    """Pick the better classification head on validation data, as the paper does (III.B.4).
    Taught in 04_discriminant_network. ``metric``: "AP" (default), "AUC", "AC" (any case;
    "accuracy" too) or ``fn(labels, melanoma_probabilities) -> score``, higher is better. Ties
    go to cls1. Returns ``(head, {"cls1": score, "cls2": score})``; nothing is remembered."""
    if not callable(metric):
        if str(metric).lower() not in _HEAD_METRICS:
            raise ValueError(f"metric must be 'AP', 'AUC', 'AC' or a function; got {metric!r}.")
        metric = _HEAD_METRICS[str(metric).lower()]
    labels = _labels_1d(val_labels)
    scores = {}
    for head in HEADS:
        probabilities = dc_predict(model, val_images, head=head, batch_size=batch_size)
        if len(probabilities) != len(labels):
            raise ValueError(f"{len(labels)} labels for {len(probabilities)} images: pass one "
                             "label per validation image.")
        scores[head] = _score(metric, labels, probabilities)
    best = "cls2" if scores["cls2"] > scores["cls1"] else "cls1"
    return best, scores


def plot_dc_architecture(backbone: str = "MobileNetV1 / DenseNet-121", feature_dim: int = 1024,
                         loss_weights: dict | None = None,
                         classification_loss: str = "cross-entropy"):
    """Draw the DC model of Fig. 2 (boxes and arrows); returns the matplotlib Figure.
    Taught in 04_discriminant_network. ``loss_weights`` (default :data:`DC_LOSS_WEIGHTS`) and
    ``classification_loss`` (e.g. "focal loss") only label the figure."""
    import matplotlib.pyplot as plt
    weights = dict(DC_LOSS_WEIGHTS if loss_weights is None else loss_weights)
    fig, ax = plt.subplots(figsize=(11, 4.2))
    ax.set(xlim=(-0.2, 11.4), ylim=(-0.6, 4.6))
    ax.axis("off")
    colours = {"input": "#dbe9f6", "backbone": "#fde2c4", "feature": "#e6e6e6",
               "head": "#d5efd5", "disc": "#f6d5e5"}

    def box(x, y, text, kind):
        ax.text(x, y, text, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", fc=colours[kind], ec="0.3"))

    def arrow(start, end, **style):
        ax.annotate("", xy=end, xytext=start,
                    arrowprops=dict(arrowstyle="->", color="0.25", lw=1.2, **style))

    for y, k in ((3.4, 1), (0.6, 2)):
        head_y = y + (0.8 if k == 1 else -0.8)
        box(0.4, y, f"$x_{k}$\nimage", "input")
        box(2.4, y, f"{backbone}\n(feature extractor)", "backbone")
        box(4.6, y, f"GAP → $f_{k}$\n({feature_dim})", "feature")
        box(6.9, head_y, f"Dense(2, softmax)\n\"cls{k}\": class of $x_{k}$", "head")
        arrow((0.85, y), (1.3, y))
        arrow((3.5, y), (3.95, y))
        arrow((5.25, y), (5.85, head_y))
        arrow((5.25, y), (6.2, 2.0 + (0.3 if k == 1 else -0.3)))
        letter = "A" if k == 1 else "B"
        ax.text(8.1, head_y, f"$L_{k}$ ({classification_loss}), {letter} = {weights[f'cls{k}']:g}",
                va="center", fontsize=9)
    ax.plot([2.4, 2.4], [2.85, 1.15], ls="--", color="0.4")
    ax.text(2.5, 2.0, "shared\nweights", fontsize=8, color="0.3", va="center")
    box(6.9, 2.0, "D = $(f_1 - f_2)^2$\nEq. 2, no weights", "disc")
    box(8.75, 2.0, "Dense(512, ReLU)", "disc")
    box(10.55, 2.0, "Dense(2, softmax)\n\"same\": same class?", "disc")
    arrow((7.6, 2.0), (8.1, 2.0))
    arrow((9.4, 2.0), (9.75, 2.0))
    ax.text(10.55, 1.25, f"$L_d$ (cross-entropy), C = {weights['same']:g}", ha="center",
            fontsize=9)
    ax.set_title("DC model (Fig. 2): $L_{total} = A L_1 + B L_2 + C L_d$ (Eq. 5)")
    fig.tight_layout()
    return fig
