"""Final numbers: ISIC metrics on the test split, 95 % bootstrap intervals, one result record.

Taught in 03_lightweight_cnns and 06_unet_segmentation; every table row of every notebook comes
from one of these two functions and lands in ``runs/<profile>/results/``.
"""
from __future__ import annotations

import numpy as np

from . import config, metrics, results

__all__ = ["evaluate_classification", "evaluate_segmentation", "CI_METRICS_CLASSIFICATION",
           "CI_METRICS_SEGMENTATION", "degenerate_predictions"]

CI_METRICS_CLASSIFICATION = ("AC", "AUC", "AP")
CI_METRICS_SEGMENTATION = ("AC", "DC", "JA", "SE", "SP")


_LIKELY_CAUSE = (
    "Likely cause: BatchNorm moving statistics that do not match the data after a short run "
    "(inference mode normalises with stale numbers). Fix: train.recalibrate_batchnorm(model, "
    "training_data), which every course training run does through train.PreciseBatchNorm; "
    "if it persists, the model has not learnt yet (more epochs, check labels and learning rate).")


def degenerate_predictions(task: str, predictions) -> str | None:
    """A warning text when predictions carry no information (one score for every image; every
    pixel background, or every pixel lesion, on every image), else None."""
    if task == "classification":
        scores = np.asarray(predictions, dtype=float)
        scores = scores[:, -1] if scores.ndim == 2 else scores.reshape(-1)
        if scores.size > 1 and float(np.ptp(scores)) < 1e-6:
            return (f"every image gets the same melanoma score ({scores[0]:.4f}): the ranking "
                    f"metrics (AUC, AP) mean nothing. {_LIKELY_CAUSE}")
        return None
    masks = [np.asarray(m, dtype=bool) for m in predictions]
    if masks and not any(m.any() for m in masks):
        return f"every pixel of every image is predicted background. {_LIKELY_CAUSE}"
    if masks and all(m.all() for m in masks):
        return f"every pixel of every image is predicted lesion. {_LIKELY_CAUSE}"
    return None


def _warn_if_degenerate(task: str, predictions, model: str) -> None:
    text = degenerate_predictions(task, predictions)
    if text:
        print(f"Warning ({model}): {text}")


def _report(task, scores, ci, *, notebook, model, profile, epochs, wall_seconds, record, extra,
            verbose):
    """Record one table row (course_lib.results) and print it in one line."""
    if record:
        results.record_result(notebook, task, model, scores, profile, epochs=epochs,
                              wall_seconds=wall_seconds, ci=ci, extra=extra)
    if verbose:
        print(f"{model:<24} {metrics.format_scores(scores, ci)}")


def evaluate_classification(y_true, y_score, *, notebook: str, model: str, profile,
                            epochs: int | None = None, wall_seconds: float | None = None,
                            n_boot: int = 1000, record: bool = True, extra: dict | None = None,
                            verbose: bool = True) -> dict:
    """Score melanoma probabilities (``(N,)``, ``(N, 1)`` or ``(N, 2)``) with bootstrap CIs and
    record them. Returns ``{"metrics": {...}, "ci": {metric: [low, high]}}``."""
    profile = config.as_profile(profile)
    _warn_if_degenerate("classification", y_score, model)
    scores = metrics.classification_scores(y_true, y_score)
    ci = {}
    for name in CI_METRICS_CLASSIFICATION:
        if np.isfinite(scores[name]):
            _, low, high = metrics.bootstrap_ci(name, y_true, y_score, n=n_boot, seed=profile.seed)
            ci[name] = [float(low), float(high)]
    _report("classification", scores, ci, notebook=notebook, model=model, profile=profile,
            epochs=epochs, wall_seconds=wall_seconds, record=record, extra=extra,
            verbose=verbose)
    return {"metrics": scores, "ci": ci}


def evaluate_segmentation(true_masks, prob_maps, *, notebook: str, model: str, profile,
                          threshold: float = 0.5, epochs: int | None = None,
                          wall_seconds: float | None = None, n_boot: int = 1000,
                          record: bool = True, extra: dict | None = None,
                          verbose: bool = True) -> dict:
    """Per-image ISIC segmentation metrics of probability maps thresholded at ``threshold``
    (> 0.5, the challenge rule), with bootstrap intervals over images, recorded as one result.
    ``true_masks``: 2-D masks (0/255, bool or 0/1). Returns ``{"metrics", "ci", "per_image"}``."""
    profile = config.as_profile(profile)
    predicted = [np.squeeze(np.asarray(p)) > threshold for p in prob_maps]
    truths = [np.squeeze(np.asarray(t)) for t in true_masks]
    _warn_if_degenerate("segmentation", predicted, model)
    scores = metrics.segmentation_scores(truths, predicted)
    per_image = metrics.segmentation_scores_per_image(truths, predicted)
    ci = {}
    for name in CI_METRICS_SEGMENTATION:
        _, low, high = metrics.bootstrap_mean_ci(per_image[name], n=n_boot, seed=profile.seed)
        ci[name] = [float(low), float(high)]
    _report("segmentation", scores, ci, notebook=notebook, model=model, profile=profile,
            epochs=epochs, wall_seconds=wall_seconds, record=record, extra=extra,
            verbose=verbose)
    return {"metrics": scores, "ci": ci, "per_image": per_image}
