"""Plots the notebooks use, kept out of the lessons so the cells stay short.

Each function returns the matplotlib Figure (notebooks show it by ending the cell with it or
calling ``plt.show()``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["show_images", "show_mask_confusion", "plot_class_balance", "plot_history",
           "CLASS_NAMES"]

CLASS_NAMES = ("benign", "melanoma")


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int, ncols: int, size: float):
    plt = _plt()
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat


def show_images(images, masks=None, titles: Sequence[str] | None = None, ncols: int = 6,
                size: float = 2.0, contour_color: str = "lime"):
    """A grid of RGB images, with each mask drawn as a contour when given.

    Taught in 00_setup_and_metrics. ``images``: sequence of H×W×3 arrays (uint8 or float in
    [0, 255]); ``masks``: matching H×W arrays (any binary encoding) or None.
    """
    n = len(images)
    if n == 0:
        raise ValueError("show_images got no images; pass at least one H×W×3 array.")
    if masks is not None and len(masks) != n:
        raise ValueError(f"show_images got {n} images but {len(masks)} masks; pass one mask "
                         "per image or masks=None.")
    fig, axes = _grid(n, ncols, size)
    for i, ax in enumerate(axes):
        if i >= n:
            break
        image = np.asarray(images[i])
        ax.imshow(np.clip(image, 0, 255).astype("uint8") if image.dtype != np.uint8 else image)
        if masks is not None and masks[i] is not None:
            mask = np.squeeze(np.asarray(masks[i]))
            ax.contour(mask > (128 if mask.dtype == np.uint8 else 0.5), levels=[0.5],
                       colors=contour_color, linewidths=1.2)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def show_mask_confusion(true_mask, pred_mask, ax=None, title: str | None = None):
    """Colour every pixel by its confusion class: TP green, FP red, FN blue, TN light grey.

    Taught in 00_setup_and_metrics (why JA, DC, SE and SP differ).
    """
    plt = _plt()
    truth = np.asarray(true_mask).astype(bool)
    pred = np.asarray(pred_mask).astype(bool)
    if truth.shape != pred.shape:
        raise ValueError(f"masks differ in shape: truth {truth.shape}, prediction {pred.shape}")
    colours = np.full(truth.shape + (3,), 0.92)
    colours[truth & pred] = (0.20, 0.65, 0.25)
    colours[~truth & pred] = (0.85, 0.20, 0.20)
    colours[truth & ~pred] = (0.20, 0.35, 0.85)
    if ax is None:
        fig, ax = plt.subplots(figsize=(3, 3))
    else:
        fig = ax.figure
    ax.imshow(colours, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_class_balance(counts: dict[str, Sequence[int]], class_names=CLASS_NAMES):
    """Side-by-side bars of benign/melanoma counts, e.g. {"original": [727, 173], ...}.

    Taught in 01_data_and_augmentation.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.6 + 1.6 * len(counts), 3))
    width = 0.8 / len(class_names)
    positions = np.arange(len(counts))
    for k, name in enumerate(class_names):
        values = [list(v)[k] for v in counts.values()]
        bars = ax.bar(positions + k * width, values, width, label=name)
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(positions + width * (len(class_names) - 1) / 2, list(counts))
    ax.set_ylabel("images")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_history(history, metrics: Sequence[str] = ("loss",), title: str | None = None):
    """Training curves from a Keras History (or its ``.history`` dict): train and val_ lines."""
    plt = _plt()
    logs = getattr(history, "history", history)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 2.8), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        if metric not in logs:
            raise ValueError(f"metric {metric!r} not in the history; available: {sorted(logs)}")
        epochs = np.arange(1, len(logs[metric]) + 1)
        ax.plot(epochs, logs[metric], "o-", label="train")
        if f"val_{metric}" in logs:
            ax.plot(epochs, logs[f"val_{metric}"], "o--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend(frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
