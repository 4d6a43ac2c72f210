"""The ISIC 2016 challenge metrics, computed exactly as the official scorer does.

Taught in 00_setup_and_metrics. The reference is ImageMarkup/isic-challenge-scoring (tag
``2016-final`` for the rules, the current scorer for the empty-denominator conventions).
Segmentation (Part 1): masks binarised (``> 128`` for 0/255 PNGs), each metric computed PER
IMAGE, then the MEAN over images; a denominator of 0 scores 1.0::

    AC = (TP + TN) / (TP + FP + FN + TN)      DC = 2 TP / (2 TP + FP + FN)
    JA = TP / (TP + FP + FN)  (ranking)       SE = TP / (TP + FN)      SP = TN / (TN + FP)

Classification (Part 3, melanoma vs. benign): AC, SE, SP with strict ``score > threshold``
(0.5 is benign); AUC = ``sklearn.metrics.roc_auc_score``; AP = ``average_precision_score``
(step-wise) and AP_interp = ``auc(recall, precision)`` (trapezoid, as the 2016 leaderboard).
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .paper import MASK_THRESHOLD

__all__ = [
    "SEGMENTATION_METRICS", "CLASSIFICATION_METRICS", "BootstrapCI", "binarize", "confusion_counts",
    "segmentation_scores", "segmentation_scores_per_image", "classification_scores", "bootstrap_ci",
    "bootstrap_mean_ci", "format_scores", "jaccard", "image_scores", "challenge_scores",
    "threshold_segmentation", "sensitivity_specificity",
]

#: Keys of :func:`segmentation_scores`, in the order the 2016 leaderboard printed them.
SEGMENTATION_METRICS = ("AC", "DC", "JA", "SE", "SP")
#: Keys of :func:`classification_scores`.
CLASSIFICATION_METRICS = ("AC", "SE", "SP", "AUC", "AP", "AP_interp")

# Metrics that need both classes in y_true to be defined (bootstrap skips resamples without).
_NEEDS_BOTH_CLASSES = frozenset({"SE", "SP", "AUC", "AP", "AP_interp"})


# -------------------------------------------------------------------------------- segmentation
def binarize(mask) -> np.ndarray:
    """Turn one mask into a 2-D boolean lesion map. Taught in 00_setup_and_metrics.
    ``bool`` as is; integers ``> 128`` (the ISIC rule: 128 is background); floats ``> 0.5``.
    ``(H, W, 1)`` is squeezed. An integer mask of only 0 and 1 warns (it is all background)."""
    array = np.asarray(mask)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"A mask must be 2-D (height, width) or (height, width, 1); got shape "
                         f"{array.shape}. Pass one mask at a time; convert RGB masks to one "
                         "channel first (e.g. mask[..., 0]).")
    if array.size == 0:
        raise ValueError(f"The mask has no pixels (shape {array.shape}); check how it was loaded.")
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.integer):
        if array.max() == 1 and array.min() >= 0:
            warnings.warn("Integer mask holding only 0 and 1: the official ISIC rule keeps "
                          "pixels > 128, so every pixel counts as background. Multiply by 255 "
                          "or pass mask.astype(bool) if 1 means lesion.", UserWarning,
                          stacklevel=2)
        return array > MASK_THRESHOLD
    if np.issubdtype(array.dtype, np.floating):
        if np.isnan(array).any():
            raise ValueError("The mask contains NaN values; check the model output (a NaN loss "
                             "during training gives NaN predictions).")
        return array > 0.5
    raise ValueError(f"Cannot binarise a mask of dtype {array.dtype}; use bool, an integer "
                     "(0/255) or a float (probability) array.")


def confusion_counts(true_mask, pred_mask) -> tuple[int, int, int, int]:
    """Pixel counts ``(TP, FP, FN, TN)`` of one image (masks through :func:`binarize`).
    Taught in 00_setup_and_metrics."""
    truth, prediction = binarize(true_mask), binarize(pred_mask)
    if truth.shape != prediction.shape:
        raise ValueError(f"Truth mask shape {truth.shape} != prediction shape "
                         f"{prediction.shape}; resize the prediction to the truth mask's size "
                         "(nearest neighbour) before scoring.")
    tp = int(np.count_nonzero(truth & prediction))
    fp = int(np.count_nonzero(prediction & ~truth))
    fn = int(np.count_nonzero(truth & ~prediction))
    tn = int(truth.size) - tp - fp - fn
    return tp, fp, fn, tn


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, with 1.0 where the denominator is 0 (official convention)."""
    numerator, denominator = (np.asarray(v, dtype=np.float64) for v in (numerator, denominator))
    out = np.ones(np.broadcast(numerator, denominator).shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _metrics_from_counts(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    tp, fp, fn, tn = (np.asarray(c, dtype=np.float64) for c in (tp, fp, fn, tn))
    return {"AC": _ratio(tp + tn, tp + fp + fn + tn), "DC": _ratio(2 * tp, 2 * tp + fp + fn),
            "JA": _ratio(tp, tp + fp + fn), "SE": _ratio(tp, tp + fn), "SP": _ratio(tn, tn + fp)}


def _mask_list(masks, which: str) -> list:
    if isinstance(masks, np.ndarray) and masks.ndim == 2:
        raise ValueError(f"{which} is a single 2-D mask; pass a list of masks ([mask]) or a "
                         "stacked array of shape (images, height, width).")
    try:
        return list(masks)
    except TypeError as err:
        raise ValueError(f"{which} must be a sequence of 2-D masks (a list or an array of shape "
                         f"(images, height, width)); got {type(masks).__name__}.") from err


def _all_counts(true_masks, pred_masks) -> np.ndarray:
    """(images, 4) int64 array of TP, FP, FN, TN."""
    truths, predictions = _mask_list(true_masks, "true_masks"), _mask_list(pred_masks, "pred_masks")
    if len(truths) != len(predictions):
        raise ValueError(f"Got {len(truths)} truth masks but {len(predictions)} predicted masks; "
                         "pass one prediction per truth mask, in the same order.")
    if not truths:
        raise ValueError("No masks to score: true_masks and pred_masks are empty.")
    counts = np.zeros((len(truths), 4), dtype=np.int64)
    for index, (truth, prediction) in enumerate(zip(truths, predictions)):
        try:
            counts[index] = confusion_counts(truth, prediction)
        except ValueError as err:
            raise ValueError(f"Image at index {index} (truth shape {np.shape(truth)}, prediction "
                             f"shape {np.shape(prediction)}): {err}") from err
    return counts


def segmentation_scores_per_image(true_masks: Sequence, pred_masks: Sequence
                                  ) -> dict[str, np.ndarray]:
    """Per-image AC, DC, JA, SE, SP as float arrays of length ``len(true_masks)``.
    Taught in 00_setup_and_metrics; rules as :func:`segmentation_scores`."""
    return _metrics_from_counts(*_all_counts(true_masks, pred_masks).T)


def segmentation_scores(true_masks: Sequence, pred_masks: Sequence, pooled: bool = False
                        ) -> dict[str, float]:
    """The ISIC 2016 Part 1 scores ``{"AC", "DC", "JA", "SE", "SP"}``. Taught in
    00_setup_and_metrics. Masks: sequences of 2-D masks (sizes may differ between images),
    binarised with :func:`binarize`. Official (``pooled=False``): each metric per image, then
    the mean. ``pooled=True`` sums the counts over all images first: NOT the challenge metric
    (large lesions dominate)."""
    if pooled:
        counts = _all_counts(true_masks, pred_masks).sum(axis=0)
        return {key: float(value) for key, value in _metrics_from_counts(*counts).items()}
    per_image = segmentation_scores_per_image(true_masks, pred_masks)
    return {key: float(np.mean(values)) for key, values in per_image.items()}


# ------------------------------------ one image at a time: the exercises of 00_setup_and_metrics
def jaccard(true_mask, pred_mask) -> float:
    """JA = TP / (TP + FP + FN) of ONE image, 1.0 when both masks are empty. Reference of
    exercise 0.1 (00_setup_and_metrics); masks binarised with :func:`binarize`."""
    return float(image_scores(true_mask, pred_mask)["JA"])


def image_scores(true_mask, pred_mask) -> dict[str, float]:
    """``{"AC", "DC", "JA", "SE", "SP"}`` of ONE image (a zero denominator scores 1.0).
    Reference of exercise 0.4 (00_setup_and_metrics)."""
    counts = confusion_counts(true_mask, pred_mask)
    return {key: float(value) for key, value in _metrics_from_counts(*counts).items()}


def challenge_scores(true_masks: Sequence, pred_masks: Sequence,
                     score_image: Callable | None = None) -> dict[str, float]:
    """The challenge's aggregation: ``score_image(truth, prediction)`` (default
    :func:`image_scores`) for every image, then the mean of each metric over the images.
    Reference of exercise 0.5 (00_setup_and_metrics)."""
    score_image = image_scores if score_image is None else score_image
    truths, predictions = _mask_list(true_masks, "true_masks"), _mask_list(pred_masks, "pred_masks")
    if len(truths) != len(predictions) or not truths:
        raise ValueError(f"Got {len(truths)} truth masks and {len(predictions)} predicted masks; "
                         "pass one prediction per truth mask (at least one).")
    per_image = [score_image(truth, prediction) for truth, prediction in zip(truths, predictions)]
    return {key: float(np.mean([scores[key] for scores in per_image])) for key in per_image[0]}


def threshold_segmentation(image, tolerance: float = 0.5, max_iterations: int = 100) -> np.ndarray:
    """A segmentation baseline without learning: the iterative (Ridler-Calvard / isodata)
    threshold of the image's brightness. Reference of exercise 0.3 (00_setup_and_metrics).
    ``t = (mean(grey[grey < t]) + mean(grey[grey >= t])) / 2`` from ``t = grey.mean()`` until
    ``t`` moves by less than ``tolerance``. Returns a uint8 0/255 mask (lesion = darker than t)."""
    grey = np.asarray(image, dtype=np.float64)
    if grey.ndim != 3 or grey.shape[-1] != 3:
        raise ValueError(f"image must have shape (height, width, 3); got {grey.shape}.")
    grey = grey.mean(axis=-1)
    threshold = grey.mean()
    for _ in range(max_iterations):
        below, above = grey[grey < threshold], grey[grey >= threshold]
        if below.size == 0 or above.size == 0:
            break
        new = (below.mean() + above.mean()) / 2
        moved = abs(new - threshold)
        threshold = new
        if moved < tolerance:
            break
    return np.where(grey < threshold, 255, 0).astype(np.uint8)


# ------------------------------------------------------------------------------ classification
def _as_column(values, name: str, allow_two_columns: bool) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind in "OUSV":
        raise ValueError(f"{name} must be numeric (got dtype {array.dtype}); map labels such as "
                         "'benign'/'malignant' to 0/1 first.")
    array = array.astype(np.float64)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 2 and array.shape[1] == 2 and allow_two_columns:
        array = array[:, 1]
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), (N, 1) or (N, 2) (two-class softmax, "
                         f"column 1 = melanoma); got shape {np.shape(values)}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values "
                         f"({int((~np.isfinite(array)).sum())} of {array.size}); check the model "
                         "output or the CSV it was read from.")
    return array


def _prepare_classification(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    """Validated (truth as bool, melanoma score as float), both 1-D of the same length."""
    truth = _as_column(y_true, "y_true", allow_two_columns=True)
    score = _as_column(y_score, "y_score", allow_two_columns=True)
    if truth.shape[0] != score.shape[0]:
        raise ValueError(f"y_true has {truth.shape[0]} entries but y_score has {score.shape[0]}; "
                         "pass one score per image, in the same order.")
    if truth.shape[0] == 0:
        raise ValueError("y_true and y_score are empty: nothing to score.")
    if not np.isin(truth, (0.0, 1.0)).all():
        bad = truth[~np.isin(truth, (0.0, 1.0))][:3]
        raise ValueError(f"y_true must hold 0/1 labels (1 = melanoma); found values such as "
                         f"{bad.tolist()}.")
    if score.min() < 0.0 or score.max() > 1.0:
        raise ValueError(f"y_score must be probabilities in [0, 1] (got range [{score.min():.3g}, "
                         f"{score.max():.3g}]); apply a sigmoid/softmax to logits first.")
    return truth > 0.5, score


def _single_metric(key: str, truth: np.ndarray, score: np.ndarray, threshold: float) -> float:
    """One classification metric on validated arrays; NaN for AUC/AP with a single class."""
    if key in ("AC", "SE", "SP"):
        predicted = score > threshold
        tp = np.count_nonzero(truth & predicted)
        tn = np.count_nonzero(~truth & ~predicted)
        if key == "AC":
            return float((tp + tn) / truth.size)
        if key == "SE":
            return float(_ratio(tp, np.count_nonzero(truth)))
        return float(_ratio(tn, np.count_nonzero(~truth)))
    if key not in ("AUC", "AP", "AP_interp"):
        raise ValueError(f"Unknown classification metric {key!r}; choose one of "
                         f"{', '.join(CLASSIFICATION_METRICS)}.")
    if truth.all() or not truth.any():
        return math.nan
    from sklearn import metrics as skm
    labels = truth.astype(np.int64)
    if key == "AUC":
        return float(skm.roc_auc_score(labels, score))
    if key == "AP":
        return float(skm.average_precision_score(labels, score))
    precision, recall, _ = skm.precision_recall_curve(labels, score)
    return float(skm.auc(recall, precision))


def classification_scores(y_true, y_score, threshold: float = 0.5) -> dict[str, float]:
    """The ISIC 2016 Part 3 scores ``{"AC", "SE", "SP", "AUC", "AP", "AP_interp"}``.
    Taught in 00_setup_and_metrics (rules in the module docstring). ``y_true``: 0/1 labels
    (1 = melanoma), (N,), (N, 1) or one-hot (N, 2); ``y_score``: melanoma probability (N,),
    (N, 1) or a two-class softmax (N, 2) (column 1). SE (SP) is 1.0 without melanoma (benign)
    cases. With one class only, AUC, AP and AP_interp are NaN and a warning is issued."""
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number (got {threshold}); the challenge "
                         "uses 0.5.")
    truth, score = _prepare_classification(y_true, y_score)
    if truth.all() or not truth.any():
        only = "melanoma" if truth.all() else "benign"
        warnings.warn(f"y_true holds only {only} cases ({truth.size} images): AUC, AP and "
                      "AP_interp are undefined and set to NaN. Score a set with both classes.",
                      UserWarning, stacklevel=2)
    return {key: _single_metric(key, truth, score, threshold) for key in CLASSIFICATION_METRICS}


# ------------------------------------------------------------------ bootstrap confidence intervals
@dataclasses.dataclass(frozen=True)
class BootstrapCI:
    """A percentile-bootstrap interval: ``point``, ``low``, ``high``, the ``level`` and how many
    resamples were used (``n_used``) or skipped (``n_skipped``). Unpacks as ``point, low, high``."""

    point: float
    low: float
    high: float
    level: float = dataclasses.field(kw_only=True)
    n_used: int = dataclasses.field(kw_only=True)
    n_skipped: int = dataclasses.field(kw_only=True)

    def __iter__(self):
        return iter((self.point, self.low, self.high))

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index):
        return tuple(self)[index]

    def __repr__(self) -> str:
        return (f"BootstrapCI(point={self.point:.4f}, low={self.low:.4f}, high={self.high:.4f}, "
                f"level={self.level}, n_used={self.n_used}, n_skipped={self.n_skipped})")


def _check_bootstrap_args(n: int, level: float) -> None:
    if int(n) != n or n < 1:
        raise ValueError(f"n (number of bootstrap resamples) must be a positive integer; got {n}. "
                         "1000 is usual.")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95 for a 95% interval); "
                         f"got {level}.")


def _percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def _bootstrap_target(metric: str | Callable, y_true, y_score
                      ) -> tuple[Callable, bool, float, np.ndarray, np.ndarray]:
    """``(evaluate, needs_both, point, y_true_used, y_score_used)`` for :func:`bootstrap_ci`:
    the function scored on each resample, whether it needs both classes, its value on the full
    set and the arrays to resample."""
    if isinstance(metric, str):
        if metric not in CLASSIFICATION_METRICS:
            raise ValueError(f"Unknown metric {metric!r}; choose one of "
                             f"{', '.join(CLASSIFICATION_METRICS)} or pass a callable "
                             "metric(y_true, y_score) -> float.")
        truth, score = _prepare_classification(y_true, y_score)

        def evaluate(t, s):
            return _single_metric(metric, t, s, 0.5)

        needs_both = metric in _NEEDS_BOTH_CLASSES
        point = evaluate(truth, score)
        if needs_both and not math.isfinite(point):
            raise ValueError(f"{metric} is undefined on the full set: y_true has a single class.")
        return evaluate, needs_both, point, truth, score
    if callable(metric):
        y_true_used, y_score_used = np.asarray(y_true), np.asarray(y_score)
        if len(y_true_used) != len(y_score_used):
            raise ValueError(f"y_true has {len(y_true_used)} entries but y_score has "
                             f"{len(y_score_used)}; pass one score per sample.")
        point = float(metric(y_true_used, y_score_used))
        return metric, False, point, y_true_used, y_score_used
    raise ValueError(f"metric must be a name ({', '.join(CLASSIFICATION_METRICS)}) or a "
                     f"callable(y_true, y_score) -> float; got {type(metric).__name__}.")


def _bootstrap_values(evaluate: Callable, y_true_used: np.ndarray, y_score_used: np.ndarray,
                      needs_both: bool, n: int, seed: int) -> tuple[list[float], int]:
    """``(values, skipped)``: the metric on ``n`` resamples drawn with
    ``np.random.default_rng(seed)``, and how many resamples were skipped as undefined."""
    size = len(y_true_used)
    # Classes per sample, to recognise single-class resamples (callable path: any label type).
    labels = np.asarray(y_true_used)
    if labels.ndim == 2 and labels.shape[1] == 2:
        labels = labels[:, 1]
    labels = labels.reshape(size, -1)[:, 0]
    rng = np.random.default_rng(seed)
    values, skipped = [], 0
    for _ in range(int(n)):
        index = rng.integers(0, size, size)
        single_class = np.unique(labels[index]).size < 2
        if needs_both and single_class:
            skipped += 1
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = float(evaluate(y_true_used[index], y_score_used[index]))
        except ValueError:
            if not single_class:
                raise
            value = math.nan  # a single-class resample: skipped below
        if not math.isfinite(value):
            skipped += 1
            continue
        values.append(value)
    return values, skipped


def bootstrap_ci(metric: str | Callable, y_true, y_score, n: int = 1000, seed: int = 0,
                 level: float = 0.95) -> BootstrapCI:
    """Percentile bootstrap interval of a classification metric. Taught in 00_setup_and_metrics.
    ``metric``: a key of :func:`classification_scores` or ``metric(y_true, y_score) -> float``.
    ``n`` resamples with ``np.random.default_rng(seed)``; resamples where the metric is undefined
    (a single class drawn) are skipped and counted in ``n_skipped``. Returns a
    :class:`BootstrapCI` (``point`` is the metric on the full set)."""
    _check_bootstrap_args(n, level)
    evaluate, needs_both, point, y_true_used, y_score_used = _bootstrap_target(
        metric, y_true, y_score)
    if len(y_true_used) == 0:
        raise ValueError("y_true and y_score are empty: nothing to resample.")
    values, skipped = _bootstrap_values(evaluate, y_true_used, y_score_used, needs_both, n, seed)
    if not values:
        raise ValueError(f"The metric was undefined on all {n} resamples (each drew a single "
                         "class?); use a larger test set.")
    if skipped:
        warnings.warn(f"bootstrap_ci: skipped {skipped} of {n} resamples where the metric was "
                      "undefined (single class drawn).", UserWarning, stacklevel=2)
    low, high = _percentile_interval(np.asarray(values), level)
    return BootstrapCI(point, low, high, level=level, n_used=len(values), n_skipped=skipped)


def bootstrap_mean_ci(values, n: int = 1000, seed: int = 0, level: float = 0.95) -> BootstrapCI:
    """Percentile bootstrap interval of the mean of per-image values, e.g.
    ``bootstrap_mean_ci(per_image["JA"])``. Taught in 00_setup_and_metrics."""
    _check_bootstrap_args(n, level)
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence of per-image numbers; got "
                         f"shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError("values contains NaN or infinite entries; drop or fix them first.")
    rng = np.random.default_rng(seed)
    means = np.array([array[rng.integers(0, array.size, array.size)].mean() for _ in range(int(n))])
    low, high = _percentile_interval(means, level)
    return BootstrapCI(array.mean(), low, high, level=level, n_used=int(n), n_skipped=0)


# ------------------------------------------------------------------------------------- display
def format_scores(scores: Mapping[str, float], ci: Mapping[str, Sequence[float]] | None = None,
                  digits: int = 3) -> str:
    """One line such as ``"AC 0.865  AUC 0.832 [0.780, 0.880]"``. Taught in
    00_setup_and_metrics. ``ci`` maps a name to ``(low, high)`` or a :class:`BootstrapCI`."""
    parts = []
    for name, value in scores.items():
        text = f"{name} {float(value):.{digits}f}"
        if ci and name in ci:
            interval = tuple(ci[name])
            low, high = interval[-2], interval[-1]
            text += f" [{float(low):.{digits}f}, {float(high):.{digits}f}]"
        parts.append(text)
    return "  ".join(parts)


def sensitivity_specificity(y_true, y_score, threshold: float = 0.5) -> tuple[float, float]:
    """``(SE, SP)`` of melanoma scores at a strict ``score > threshold`` (truth: ``> 0.5``).
    Reference of exercise 0.2 (00_setup_and_metrics); an empty class scores 1.0."""
    truth, score = _prepare_classification(y_true, y_score)
    return (_single_metric("SE", truth, score, threshold),
            _single_metric("SP", truth, score, threshold))
