"""Model fusion: weighted averages of probabilities, the weight chosen on validation.

Taught in 07_fusion (paper sections IV.A.3 and IV.B.2, Tables VII and XI): DC-MobileNetV1 +
DC-DenseNet121 and U-MobileNetV1 + U-DenseNet121, ``p_fused = w * p_a + (1 - w) * p_b``, equal
weights by default. Choose ``w`` and thresholds on the VALIDATION split, never on test. The paper
quotes 42M (classification) and 80M (segmentation) for the fusions' sizes (:func:`fusion_size`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "DEFAULT_GRID", "FUSIONS", "SMOKE_SUBSTITUTES", "Member", "weighted_average", "weight_scores",
    "search_weight", "classification_metric", "segmentation_metric", "threshold_for_sensitivity",
    "sensitivity_specificity_curve", "model_size", "fusion_size", "get_member", "chosen_weight",
    "member_probabilities", "member_prob_maps", "predict_members", "fused_model", "mean_jaccard",
    "fuse_at_original_size", "sensitivity_specificity",
]

#: The weights :func:`search_weight` tries by default: 0, 0.05, ..., 1 (21 values).
DEFAULT_GRID = np.round(np.linspace(0.0, 1.0, 21), 12)

#: The two members of each of the paper's fusions, as saved-model names (train.fit name=...).
FUSIONS = {
    "fusion": ("dc-mobilenet", "dc-densenet121"),           # Table VII, classification
    "unet-fusion": ("unet-mobilenet", "unet-densenet121"),  # Tables VIII / XI, segmentation
}

#: Profiles without large models: saved models that stand in for an untrained DenseNet member,
#: in order of preference (the notebook prints which one was used).
SMOKE_SUBSTITUTES = {
    "dc-densenet121": ("dc-mobilenet-focal", "mobilenet", "mobilenet-noaug"),
    "unet-densenet121": ("unet-mobilenet-focal", "unet-mobilenet-noaug"),
}

_TIE_TOLERANCE = 1e-12


# --------------------------------------------------------------------------- fusion
def _as_array(values, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a numeric array (probabilities in [0, 1]).") from None
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or infinite values; check the model output.")
    return array


def weighted_average(probabilities: Sequence, weights: Sequence[float] | None = None
                     ) -> np.ndarray:
    """Fuse same-shape probability arrays by a weighted average. Taught in 07_fusion.
    ``weights``: one non-negative number per array, normalised to sum 1 (``[1, 3]`` means
    0.25 / 0.75); ``None`` gives equal weights (the paper's default). Returns float64."""
    if isinstance(probabilities, np.ndarray) or not isinstance(probabilities, Sequence):
        raise ValueError("probabilities must be a list of arrays, one per model, e.g. "
                         "weighted_average([p_mobilenet, p_densenet], [0.5, 0.5]).")
    if len(probabilities) == 0:
        raise ValueError("probabilities is empty: pass one array per model to fuse.")
    arrays = [_as_array(p, f"probabilities[{i}]") for i, p in enumerate(probabilities)]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"all probability arrays must have the same shape; got "
                         f"{[a.shape for a in arrays]}. Predict every model on the same images "
                         "(and the same image size for probability maps).")
    if weights is None:
        weights = [1.0] * len(arrays)
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    if weights.size != len(arrays):
        raise ValueError(f"{len(arrays)} probability arrays but {weights.size} weights; pass one "
                         "weight per model (or weights=None for equal weights).")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(f"weights must be finite and non-negative; got {weights.tolist()}.")
    total = weights.sum()
    if total <= 0:
        raise ValueError(f"weights sum to {total:g}; at least one weight must be positive.")
    weights = weights / total
    fused = np.zeros(arrays[0].shape, dtype=np.float64)
    for weight, array in zip(weights, arrays):
        fused += weight * array
    return fused


def _check_grid(grid) -> np.ndarray:
    grid = np.asarray(DEFAULT_GRID if grid is None else grid, dtype=np.float64).reshape(-1)
    grid = np.round(grid, 12)  # np.linspace(0, 1, 21)[14] is 0.7000000000000001
    if grid.size == 0 or not np.isfinite(grid).all() or grid.min() < 0 or grid.max() > 1:
        raise ValueError(f"grid must be a non-empty list of weights in [0, 1], e.g. "
                         f"np.linspace(0, 1, 21); got {grid.tolist()[:6]}.")
    return grid


def weight_scores(prob_a, prob_b, y_true, metric: Callable, grid=None,
                  fuse: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``metric(y_true, w * prob_a + (1 - w) * prob_b)`` for every ``w`` of ``grid``.
    Taught in 07_fusion (the "metric vs w" plot). Returns ``(grid, scores)``; a score may be NaN.
    ``fuse(probabilities, weights)`` replaces :func:`weighted_average` (07 passes Exercise 7.1)."""
    fuse = weighted_average if fuse is None else fuse
    if not callable(metric):
        raise ValueError("metric must be a function metric(y_true, y_score) -> float (higher is "
                         "better), e.g. fusion.classification_metric('AP').")
    grid = _check_grid(grid)
    prob_a, prob_b = _as_array(prob_a, "prob_a"), _as_array(prob_b, "prob_b")
    if prob_a.shape != prob_b.shape:
        raise ValueError(f"prob_a has shape {prob_a.shape} but prob_b has {prob_b.shape}; the two "
                         "models must be predicted on the same images.")
    scores = np.array([float(metric(y_true, fuse([prob_a, prob_b], [w, 1.0 - w])))
                       for w in grid])
    return grid, scores


def search_weight(prob_a, prob_b, y_true, metric: Callable, grid=None,
                  fuse: Callable | None = None) -> float:
    """The weight ``w`` of ``prob_a`` that maximises ``metric(y_true, w·a + (1 − w)·b)``
    (higher is better), e.g. :func:`classification_metric` ``("AP")`` or :func:`segmentation_metric`
    ``("JA")``. Taught in 07_fusion. Call it on VALIDATION predictions, never on test. Ties (within
    1e-12): the weight closest to 0.5 wins (the paper's default), then the smaller one. NaN scores
    are skipped; ``ValueError`` when all are NaN."""
    grid, scores = weight_scores(prob_a, prob_b, y_true, metric, grid, fuse)
    valid = ~np.isnan(scores)
    if not valid.any():
        raise ValueError("the metric is NaN for every weight (e.g. AP on a validation set with a "
                         "single class); use a larger validation split or another metric.")
    best = scores[valid].max()
    tied = np.flatnonzero(valid & (scores >= best - _TIE_TOLERANCE))
    distance = np.abs(grid[tied] - 0.5)
    candidates = tied[np.isclose(distance, distance.min(), rtol=0, atol=1e-12)]
    return float(grid[candidates].min())


def classification_metric(name: str = "AP", threshold: float = 0.5) -> Callable:
    """``metric(y_true, y_score) -> float`` for :func:`search_weight`: one ISIC score.
    Taught in 07_fusion. ``name``: "AP" (the ranking metric, default), "AUC", "AC", "SE", "SP"
    or "AP_interp" (see :func:`course_lib.metrics.classification_scores`)."""
    from . import metrics
    if name not in metrics.CLASSIFICATION_METRICS:
        raise ValueError(f"Unknown classification metric {name!r}; choose one of "
                         f"{', '.join(metrics.CLASSIFICATION_METRICS)}.")

    def metric(y_true, y_score) -> float:
        truth = np.asarray(y_true).reshape(-1)
        if name in ("AUC", "AP", "AP_interp") and len(np.unique(truth)) < 2:
            return math.nan
        score = np.clip(np.asarray(y_score, dtype=np.float64), 0.0, 1.0)
        return metrics.classification_scores(truth, score, threshold=threshold)[name]

    metric.__name__ = f"classification_{name}"
    return metric


def segmentation_metric(name: str = "JA", threshold: float = 0.5) -> Callable:
    """``metric(true_masks, prob_maps) -> float``: the per-image mean of one ISIC segmentation
    score (JA by default, the ranking metric) of ``prob_maps > threshold``. Taught in 07_fusion."""
    from . import metrics
    if name not in metrics.SEGMENTATION_METRICS:
        raise ValueError(f"Unknown segmentation metric {name!r}; choose one of "
                         f"{', '.join(metrics.SEGMENTATION_METRICS)}.")

    def metric(true_masks, prob_maps) -> float:
        predicted = [np.squeeze(np.asarray(p)) > threshold for p in prob_maps]
        truths = [np.squeeze(np.asarray(t)) for t in true_masks]
        return metrics.segmentation_scores(truths, predicted)[name]

    metric.__name__ = f"segmentation_{name}"
    return metric


def mean_jaccard(true_masks, prob_maps, threshold: float = 0.5) -> float:
    """Per-image Jaccard index of ``prob_maps > threshold`` against the true masks, averaged
    over the images. Taught in 07_fusion (reference of Exercise 7.3). ``true_masks`` in any
    binary encoding (:func:`course_lib.metrics.binarize`); both masks empty scores 1."""
    from . import metrics
    scores = []
    for truth, prob in zip(list(true_masks), list(prob_maps), strict=True):
        lesion = metrics.binarize(np.squeeze(np.asarray(truth)))
        predicted = np.squeeze(np.asarray(prob, dtype=np.float64)) > threshold
        union = np.logical_or(lesion, predicted).sum()
        scores.append(1.0 if union == 0 else np.logical_and(lesion, predicted).sum() / union)
    return float(np.mean(scores))


def fuse_at_original_size(prob_maps: Sequence, weights: Sequence[float], sizes) -> list:
    """Fuse segmentation probability maps FIRST, then resize each fused map bilinearly to its
    ``sizes[i]`` (one ``(height, width)`` per image). Taught in 07_fusion (Exercise 7.4).
    Returns a list of N float32 arrays; the caller thresholds at 0.5."""
    from .models.unet import upsample_probabilities
    squeezed = [np.asarray(p, dtype=np.float64) for p in prob_maps]
    squeezed = [p[..., 0] if p.ndim == 4 else p for p in squeezed]
    return upsample_probabilities(weighted_average(squeezed, weights), sizes)


# --------------------------------------------------------------------------- thresholds
def _labels_and_scores(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(y_true).reshape(-1)
    score = np.asarray(y_score, dtype=np.float64)
    if score.ndim == 2 and score.shape[1] == 2:
        score = score[:, 1]
    score = score.reshape(-1)
    if truth.size != score.size or truth.size == 0:
        raise ValueError(f"y_true has {truth.size} entries and y_score {score.size}; pass one "
                         "melanoma score per labelled image.")
    if not np.isin(truth, (0, 1)).all():
        raise ValueError("y_true must hold 0/1 labels (1 = melanoma).")
    if not np.isfinite(score).all():
        raise ValueError("y_score contains NaN or infinite values.")
    return truth.astype(bool), score


def sensitivity_specificity_curve(y_true, y_score, thresholds=None) -> dict:
    """SE and SP at each threshold (melanoma when ``score > threshold``, strict). Taught in
    07_fusion. ``thresholds``: default 0, 0.01, ..., 1. Returns ``{"threshold", "SE", "SP"}``."""
    truth, score = _labels_and_scores(y_true, y_score)
    thresholds = (np.linspace(0.0, 1.0, 101) if thresholds is None
                  else np.asarray(thresholds, dtype=np.float64).reshape(-1))
    predicted = score[None, :] > thresholds[:, None]
    positives, negatives = truth.sum(), (~truth).sum()
    se = (predicted & truth).sum(axis=1) / positives if positives else np.ones(len(thresholds))
    sp = ((~predicted) & ~truth).sum(axis=1) / negatives if negatives else np.ones(len(thresholds))
    return {"threshold": thresholds, "SE": se.astype(np.float64), "SP": sp.astype(np.float64)}


def sensitivity_specificity(y_true, y_score, threshold: float = 0.5) -> tuple[float, float]:
    """``(SE, SP)`` of the rule "melanoma when ``score > threshold``" (strict); an empty class
    scores 1.0. Taught in 07_fusion (the reference of Exercise 7.5)."""
    curve = sensitivity_specificity_curve(y_true, y_score, [float(threshold)])
    return float(curve["SE"][0]), float(curve["SP"][0])


def threshold_for_sensitivity(y_true, y_score, target: float = 0.9) -> float:
    """The highest decision threshold whose sensitivity reaches ``target``. Taught in 07_fusion.
    Use VALIDATION data. With ``k = ceil(target * n_melanoma)`` and ``s`` the k-th highest
    melanoma score, returns the midpoint between ``s`` and the next lower score of any image
    (just below ``s`` when none is lower)."""
    target = float(target)
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be a sensitivity in (0, 1], e.g. 0.9; got {target}.")
    truth, score = _labels_and_scores(y_true, y_score)
    positives = np.sort(score[truth])[::-1]
    if positives.size == 0:
        raise ValueError("y_true holds no melanoma: a sensitivity target needs melanoma cases "
                         "(use a validation split with both classes).")
    k = math.ceil(target * positives.size - 1e-9)
    kth = positives[k - 1]
    lower = score[score < kth]
    return float((kth + lower.max()) / 2.0) if lower.size else float(np.nextafter(kth, -np.inf))


# --------------------------------------------------------------------------- model size
def model_size(model) -> dict:
    """Parameters and float32 size of one Keras model. Taught in 07_fusion.
    Returns ``{"params", "trainable", "megabytes"}``: ``params`` counts every weight (BatchNorm
    moving statistics included); ``megabytes = params * 4 / 2**20``, the unit of the paper's
    "32M", "48M" (Table VIII), "42M" and "80M"."""
    params = int(model.count_params())
    trainable = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    return {"params": params, "trainable": trainable, "megabytes": params * 4 / 2**20}


def fusion_size(models: Mapping) -> dict:
    """:func:`model_size` of every ``{name: keras model}`` plus their ``"total"`` (a fusion
    runs every member). Taught in 07_fusion."""
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty dict {name: keras model}.")
    sizes = {name: model_size(model) for name, model in models.items()}
    sizes["total"] = {key: sum(size[key] for size in list(sizes.values()))
                      for key in ("params", "trainable", "megabytes")}
    return sizes


def chosen_weight(profile, fusion_name: str) -> float | None:
    """The weight 07_fusion chose on validation for ``fusion_name``, read from its result record;
    None when 07 has not run in this profile. Taught in 08_visualisation_and_demo."""
    from . import results
    for record in results.load_results(profile, notebook="07_fusion"):
        weight = (record.get("extra") or {}).get("weight")
        if record.get("model") == fusion_name and isinstance(weight, (int, float)):
            return float(weight)
    return None


def fused_model(model_a, model_b, weight: float = 0.5, name: str = "fusion"):
    """The fusion as ONE single-input Keras model: ``image -> w * a(image) + (1 - w) * b(image)``.
    Taught in 08_visualisation_and_demo (section 8; ``course export --model fusion``).
    ``model_a``/``model_b``: :class:`Member` objects or single-input Keras models with the same
    input and output shapes; ``weight`` is ``w`` for ``model_a`` (:func:`chosen_weight`)."""
    import keras
    from keras import layers
    weight = float(weight)
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must lie in [0, 1]; got {weight}.")
    networks = []
    for label, member in (("model_a", model_a), ("model_b", model_b)):
        if isinstance(member, Member):
            member = member.classifier if member.task == "classification" else member.model
        if not isinstance(member, keras.Model) or len(member.inputs) != 1:
            raise ValueError(f"{label} must be a Member or a single-input Keras model (for a DC "
                             "model use models.dc_classifier(model, head)).")
        networks.append(member)
    shapes = [tuple(network.inputs[0].shape[1:]) for network in networks]
    outputs = [tuple(network.outputs[0].shape[1:]) for network in networks]
    if shapes[0] != shapes[1] or outputs[0] != outputs[1]:
        raise ValueError(f"The two models must take and give the same shapes; got inputs "
                         f"{shapes[0]} / {shapes[1]} and outputs {outputs[0]} / {outputs[1]}.")
    def single(outputs):  # a model built with outputs=[tensor] returns a one-element list
        return outputs[0] if isinstance(outputs, (list, tuple)) else outputs

    if networks[0].name == networks[1].name:  # e.g. two DC models built by the same builder:
        inner = keras.Input(shapes[1])         # the functional graph needs distinct names
        networks[1] = keras.Model(inner, single(networks[1](inner)),
                                  name=f"{networks[1].name}_b")
    inputs = keras.Input(shapes[0], name="image")
    fused = layers.Add(name="weighted_average", dtype="float32")([
        layers.Rescaling(weight, name="weight_a", dtype="float32")(single(networks[0](inputs))),
        layers.Rescaling(1.0 - weight, name="weight_b",
                         dtype="float32")(single(networks[1](inputs)))])
    return keras.Model(inputs, fused, name=name)


# --------------------------------------------------------------------------- members
class Member:
    """One model of a fusion, with where it came from (``source`` differs from ``name`` for a
    stand-in; ``base``: the member a mirrored stand-in mirrors). Taught in 07_fusion."""

    def __init__(self, name: str, model, source: str, note: str, *, head: str | None = None,
                 trained_here: bool = False, stand_in: bool = False, base=None):
        self.name, self.model, self.source, self.note = name, model, source, note
        self.head, self.trained_here, self.stand_in, self.base = head, trained_here, stand_in, base

    @property
    def is_dc(self) -> bool:
        """True for a DC model (two inputs, heads cls1/cls2)."""
        return len(self.model.inputs) == 2

    @property
    def task(self) -> str:
        """"segmentation" for a model with a per-pixel output, else "classification"."""
        return "segmentation" if len(self.model.outputs[0].shape) == 4 else "classification"

    @property
    def classifier(self):
        """A single-input model image -> softmax (a DC model through ``head``), e.g. for CAM."""
        from .models import dc_classifier
        return dc_classifier(self.model, self.head or "cls1") if self.is_dc else self.model

    def __repr__(self) -> str:
        return f"Member({self.name!r}, source={self.source!r})"


def _saved(profile, name: str) -> bool:
    from . import train
    return train.saved_model_path(profile, name).exists()


def _recorded_head(profile, name: str) -> str | None:
    """The head notebook 04/05 chose on validation for DC model ``name`` (from its record)."""
    from . import results
    for record in results.load_results(profile, task="classification"):
        head = (record.get("extra") or {}).get("head")
        if record.get("model") == name and head in ("cls1", "cls2"):
            return head
    return None


def _flipped(model, segmentation: bool, name: str):
    """``model`` applied to the left-right mirrored image (and its map mirrored back)."""
    import keras
    from keras import layers, ops
    inputs = keras.Input(model.inputs[0].shape[1:], name="image")
    mirrored = layers.Lambda(lambda x: ops.flip(x, axis=2), name="mirror")(inputs)
    outputs = model(mirrored)
    if segmentation:
        outputs = layers.Lambda(lambda x: ops.flip(x, axis=2), name="mirror_back")(outputs)
    return keras.Model(inputs, outputs, name=name)


def _train_small(profile, name: str, splits, seed: int):
    """Train the profile's version of ``name`` ("dc-<backbone>" or "unet-<backbone>") with the
    recipe of notebook 04 / 06 and save it under ``name``."""
    import dataclasses

    from . import recipes
    backbone = name.split("-")[1]
    if name.startswith("unet-"):
        model, _, _ = recipes.train_unet(backbone, splits, dataclasses.replace(profile, seed=seed),
                                         name=name, fresh=True, verbose=0)
        return model
    if not name.startswith("dc-"):
        raise ValueError(f"Don't know how to train {name!r}: fusion members are 'dc-<backbone>' "
                         "or 'unet-<backbone>' models.")
    train_pairs, val_pairs = recipes.dc_pair_sequences(splits, profile, seed=seed)
    model, _, _ = recipes.train_dc_model(
        backbone, train_pairs, val_pairs,
        dataclasses.replace(profile, image_size=splits.image_size), name=name, seed=seed,
        steps_per_epoch=4 if profile.name == "smoke" else None, fresh=True, verbose=0)
    return model


def get_member(profile, name: str, splits=None, *, train_if_missing: bool = True) -> Member:
    """The fusion member ``name``, loaded from ``runs/<profile>/models/`` when an earlier
    notebook saved it. Taught in 07_fusion (used again in 08_visualisation_and_demo).
    When it is missing: without ``large_models``, a DenseNet-121 member is replaced by the first
    saved model of :data:`SMOKE_SUBSTITUTES`, else by the MobileNet member on the mirrored
    image; otherwise, with ``train_if_missing``, it is trained here (``splits`` required);
    otherwise ``FileNotFoundError``. DC models use the head recorded by their notebook, else
    :func:`course_lib.models.select_head` on ``splits``, else "cls1"."""
    from . import config, train
    from .models import select_head
    profile = config.as_profile(profile)
    segmentation = name.startswith("unet-")
    if _saved(profile, name):
        member = Member(name, train.load_saved_model(profile, name), name,
                        f"{name}: loaded the model saved by an earlier notebook")
    elif not profile.large_models and name in SMOKE_SUBSTITUTES:
        substitute = next((s for s in SMOKE_SUBSTITUTES[name] if _saved(profile, s)), None)
        if substitute is not None:
            member = Member(name, train.load_saved_model(profile, substitute), substitute,
                            f"{name}: not trained in the {profile.name} profile -- STAND-IN: the saved "
                            f"'{substitute}' model (so that the fusion code runs; not the "
                            "paper's member)", stand_in=True)
        else:
            base_name = name.replace("densenet121", "mobilenet")
            base = get_member(profile, base_name, splits, train_if_missing=train_if_missing)
            mirrored = _flipped(base.classifier if not segmentation else base.model,
                                segmentation, f"{base_name}_mirrored")
            member = Member(name, mirrored, f"{base_name} (mirrored image)",
                            f"{name}: not trained in the {profile.name} profile -- STAND-IN: "
                            f"{base_name} applied to the left-right mirrored image (test-time "
                            "augmentation, no training; not the paper's member)", stand_in=True,
                            base=base)
            return member
    elif train_if_missing:
        if splits is None:
            raise ValueError(f"'{name}' is not saved and must be trained here: pass "
                             "splits=data.load_splits(profile).")
        model = _train_small(profile, name, splits, profile.seed)
        epochs = profile.seg_epochs if segmentation else profile.epochs
        member = Member(name, model, name,
                        f"{name}: not found in runs/{profile.name}/models/ -- TRAINED HERE "
                        f"({epochs} epoch(s), {splits.image_size} px; run notebook "
                        f"{'06' if segmentation else '04'} for the full recipe)",
                        trained_here=True)
    else:
        raise FileNotFoundError(f"No saved model '{name}' in runs/{profile.name}/models/; "
                                "run the notebook that trains it first (04 for DC models, "
                                "06 for U-Nets).")
    if member.is_dc:
        member.head = _recorded_head(profile, member.source)
        if member.head is None and splits is not None:
            member.head, _ = select_head(member.model, splits.x_val, splits.y_val)
        member.head = member.head or "cls1"
    return member


def _batched_call(model, images, batch_size: int) -> np.ndarray:
    """``model(images)`` in batches, eagerly: for the few images of a notebook this is faster
    than ``model.predict``, which first traces a graph (seconds per model on a CPU)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    outputs = [np.asarray(model(images[start:start + batch_size], training=False))
               for start in range(0, len(images), batch_size)]
    return np.concatenate(outputs)


def member_probabilities(member: Member, images, batch_size: int = 32) -> np.ndarray:
    """Melanoma probabilities ``(N,)`` of a classification member (a DC model through its
    head, or a single-input softmax classifier). Taught in 07_fusion."""
    output = _batched_call(member.classifier, images, batch_size)
    return output[:, 1] if output.ndim == 2 and output.shape[1] == 2 else output.reshape(-1)


def member_prob_maps(member: Member, images, batch_size: int = 16) -> np.ndarray:
    """Lesion probability maps ``(N, H, W)`` of a segmentation member. Taught in 07_fusion."""
    output = _batched_call(member.model, images, batch_size)
    return output[..., 0] if output.ndim == 4 else output


def predict_members(members: Mapping, splits, parts=("val", "test")) -> dict:
    """``{member name: {part: predictions}}`` for the validation and test images of ``splits``.
    Taught in 07_fusion. Each model predicts all parts in ONE call (one graph trace)."""
    arrays = {"train": splits.x_train, "val": splits.x_val, "test": splits.x_test}
    if unknown := set(parts) - set(arrays):
        raise ValueError(f"parts must be among {sorted(arrays)}; got {sorted(unknown)}.")
    images = np.concatenate([arrays[part] for part in parts])
    bounds = np.cumsum([0] + [len(arrays[part]) for part in parts])
    predictions = {}
    for name, member in members.items():
        predict = member_prob_maps if member.task == "segmentation" else member_probabilities
        output = predict(member, images)
        predictions[name] = {part: output[bounds[i]:bounds[i + 1]]
                             for i, part in enumerate(parts)}
    return predictions
