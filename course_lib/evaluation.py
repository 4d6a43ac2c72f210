"""Final numbers: ISIC metrics on the test split, 95 % bootstrap intervals, one result record.

Taught in 03_lightweight_cnns (classification) and 06_unet_segmentation (segmentation); every
notebook that reports a table row calls one of these two functions, so all rows are computed the
same way and land in ``runs/<profile>/results/`` for the reproduction report.
"""
from __future__ import annotations

import numpy as np

from . import config, metrics, results

__all__ = ["evaluate_classification", "evaluate_segmentation", "CI_METRICS_CLASSIFICATION",
           "CI_METRICS_SEGMENTATION"]

CI_METRICS_CLASSIFICATION = ("AC", "AUC", "AP")
CI_METRICS_SEGMENTATION = ("AC", "DC", "JA", "SE", "SP")


def _profile(profile):
    return profile if isinstance(profile, config.Profile) else config.get_profile(profile)


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
    """Score melanoma probabilities with the challenge metrics (+ bootstrap CIs) and record them.

    Returns ``{"metrics": {...}, "ci": {metric: [low, high]}}``. ``y_score`` may be (N,), (N,1)
    or an (N,2) softmax.
    """
    profile = _profile(profile)
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

    ``true_masks``: sequence of 2-D masks (0/255 uint8, bool or 0/1 float) at whatever resolution
    the table uses; ``prob_maps``: matching probability maps (H,W) or (H,W,1) in [0, 1].
    Returns ``{"metrics", "ci", "per_image"}``.
    """
    profile = _profile(profile)
    predicted = [np.squeeze(np.asarray(p)) > threshold for p in prob_maps]
    truths = [np.squeeze(np.asarray(t)) for t in true_masks]
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
