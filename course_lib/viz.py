"""Plots the notebooks use, kept out of the lessons so the cells stay short; each returns the
matplotlib Figure (a cell shows it by ending with it)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["show_images", "show_mask_confusion", "plot_class_balance", "plot_history",
           "CLASS_NAMES", "plot_image_sizes", "show_pairs", "plot_overlap", "plot_same_fraction",
           "plot_variance_reduction", "plot_weight_search", "plot_threshold_tradeoff",
           "plot_cams", "plot_embeddings", "plot_probability_maps", "plot_contours",
           "plot_separable_convolution", "plot_unet_skips"]

CLASS_NAMES = ("benign", "melanoma")


def _plt():
    import matplotlib.pyplot as plt
    return plt


def _tight(fig):
    fig.tight_layout()
    return fig


def _uint8(image) -> np.ndarray:
    image = np.asarray(image)
    return image if image.dtype == np.uint8 else np.clip(image, 0, 255).astype("uint8")


def _grid(n: int, ncols: int, size: float):
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = _plt().subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat


def show_images(images, masks=None, titles: Sequence[str] | None = None, ncols: int = 6,
                size: float = 2.0, contour_color: str = "lime"):
    """A grid of H×W×3 images (uint8, or float in [0, 255]), with each mask (any binary encoding,
    or None) drawn as a contour. Taught in 00_setup_and_metrics."""
    n = len(images)
    if n == 0:
        raise ValueError("show_images got no images; pass at least one H×W×3 array.")
    if masks is not None and len(masks) != n:
        raise ValueError(f"show_images got {n} images but {len(masks)} masks; pass one mask "
                         "per image or masks=None.")
    fig, axes = _grid(n, ncols, size)
    for i, ax in zip(range(n), axes):
        ax.imshow(_uint8(images[i]))
        if masks is not None and masks[i] is not None:
            mask = np.squeeze(np.asarray(masks[i]))
            ax.contour(mask > (128 if mask.dtype == np.uint8 else 0.5), levels=[0.5],
                       colors=contour_color, linewidths=1.2)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    return _tight(fig)


def show_mask_confusion(true_mask, pred_mask, ax=None, title: str | None = None):
    """Colour every pixel by its confusion class: TP green, FP red, FN blue, TN light grey. Taught
    in 00_setup_and_metrics (why JA, DC, SE and SP differ)."""
    truth = np.asarray(true_mask).astype(bool)
    pred = np.asarray(pred_mask).astype(bool)
    if truth.shape != pred.shape:
        raise ValueError(f"masks differ in shape: truth {truth.shape}, prediction {pred.shape}")
    colours = np.full(truth.shape + (3,), 0.92)
    colours[truth & pred] = (0.20, 0.65, 0.25)
    colours[~truth & pred] = (0.85, 0.20, 0.20)
    colours[truth & ~pred] = (0.20, 0.35, 0.85)
    fig, ax = _plt().subplots(figsize=(3, 3)) if ax is None else (ax.figure, ax)
    ax.imshow(colours, interpolation="nearest")
    ax.set(xticks=[], yticks=[])
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_class_balance(counts: dict[str, Sequence[int]], class_names=CLASS_NAMES):
    """Side-by-side bars of benign/melanoma counts, e.g. {"original": [727, 173], ...}. Taught in
    01_data_and_augmentation."""
    fig, ax = _plt().subplots(figsize=(1.6 + 1.6 * len(counts), 3))
    width = 0.8 / len(class_names)
    positions = np.arange(len(counts))
    for k, name in enumerate(class_names):
        bars = ax.bar(positions + k * width, [list(v)[k] for v in counts.values()], width,
                      label=name)
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(positions + width * (len(class_names) - 1) / 2, list(counts))
    ax.set_ylabel("images")
    ax.legend(frameon=False)
    return _tight(fig)


def plot_history(history, metrics: Sequence[str] = ("loss",), title: str | None = None):
    """Training curves from a Keras History (or its ``.history`` dict): train and val_ lines."""
    logs = getattr(history, "history", history)
    fig, axes = _plt().subplots(1, len(metrics), figsize=(3.6 * len(metrics), 2.8), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        if metric not in logs:
            raise ValueError(f"metric {metric!r} not in the history; available: {sorted(logs)}")
        epochs = np.arange(1, len(logs[metric]) + 1)
        if metric == "loss" and logs.get("batch_loss"):  # train.fit logs every batch too
            ax.plot(logs["batch_epoch"], logs["batch_loss"], "-", lw=1, alpha=0.6,
                    label="train, per batch (running mean)")
        ax.plot(epochs, logs[metric], "o-", label="train (end of epoch)")
        if f"val_{metric}" in logs:
            ax.plot(epochs, logs[f"val_{metric}"], "o--", label="validation")
        ax.set(xlabel="epoch", title=metric)
        ax.legend(frameon=False)
    if title:
        fig.suptitle(title)
    return _tight(fig)


# --- notebooks 01/02 ---
def plot_image_sizes(sizes, title: str | None = None):
    """Scatter of image widths against heights, one dot per image (ISIC 2016 varies a lot). Taught
    in 01_data_and_augmentation. ``sizes``: (n, 2) of (width, height) pixels, e.g.
    ``[PIL.Image.open(path).size for path in record.image_paths]``."""
    sizes = np.asarray(sizes, dtype=float).reshape(-1, 2)
    if len(sizes) == 0:
        raise ValueError("plot_image_sizes got no sizes; pass one (width, height) per image.")
    fig, ax = _plt().subplots(figsize=(4.2, 3.2))
    ax.scatter(sizes[:, 0], sizes[:, 1], s=10, alpha=0.5)
    ax.set(xlabel="width (pixels)", ylabel="height (pixels)")
    if title:
        ax.set_title(title, fontsize=10)
    return _tight(fig)


def show_pairs(first_images, second_images, titles: Sequence[str] | None = None,
               ncols: int = 3, size: float = 1.6, title_colors: Sequence[str] | None = None,
               title: str | None = None):
    """A grid of image PAIRS (x1 | x2 side by side; uint8 or float in [0, 255]), one title (and
    colour) per pair, ``title`` above them all. Taught in 02_pair_sampling."""
    n = len(first_images)
    if n == 0 or len(second_images) != n:
        raise ValueError(f"show_pairs needs as many second images as first images (at least "
                         f"one); got {n} and {len(second_images)}.")
    for name, values in (("titles", titles), ("title_colors", title_colors)):
        if values is not None and len(values) != n:
            raise ValueError(f"show_pairs got {n} pairs but {len(values)} {name}; give one per "
                             "pair or None.")
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    grid_height = (size + 0.35) * nrows
    heading = 0.35 if title else 0.0
    fig = _plt().figure(figsize=(2 * size * ncols + 0.2 * ncols, grid_height + heading))
    grid = fig
    if title:  # a strip on top for the heading, so it never overlaps the pair titles
        top, grid = fig.subfigures(2, 1, height_ratios=[heading, grid_height])
        top.suptitle(title, fontsize=10, y=0.5, va="center")
    subfigures = np.asarray(grid.subfigures(nrows, ncols, squeeze=False)).reshape(-1)
    for k, subfigure in enumerate(subfigures[:n]):
        for ax, image in zip(subfigure.subplots(1, 2), (first_images[k], second_images[k])):
            ax.imshow(_uint8(image))
            ax.axis("off")
        if titles is not None:
            colour = "black" if title_colors is None else title_colors[k]
            subfigure.suptitle(titles[k], fontsize=9, color=colour)
    return fig


def plot_overlap(groups: dict, xlabel: str, bins: int = 30, title: str | None = None):
    """Overlaid, normalised histograms of several groups of values, e.g. distances between
    same-class and different-class pairs. Taught in 02_pair_sampling."""
    if not groups:
        raise ValueError("plot_overlap got no groups; pass {'name': values, ...}.")
    fig, ax = _plt().subplots(figsize=(4.6, 2.8))
    values = [np.asarray(v, dtype=float).ravel() for v in groups.values()]
    edges = np.histogram_bin_edges(np.concatenate(values), bins=bins)
    for name, group in zip(groups, values):
        ax.hist(group, bins=edges, density=True, alpha=0.5, label=f"{name} (n={group.size})")
    ax.set(xlabel=xlabel, ylabel="density")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return _tight(fig)


def plot_same_fraction(p_grid, expected, measured_p=None, measured=None):
    """The expected share of same-class pairs under Method2, p² + (1 − p)², against the
    melanoma share p, with measured points. Taught in 02_pair_sampling."""
    fig, ax = _plt().subplots(figsize=(4.2, 3.0))
    ax.plot(p_grid, expected, label="expected p² + (1 − p)²")
    if measured_p is not None and measured is not None:
        ax.plot(measured_p, measured, "o", label="measured (Method2)")
    ax.set(xlabel="melanoma share p", ylabel="same-class pairs", ylim=(0, 1.02))
    ax.legend(frameon=False, fontsize=8)
    return _tight(fig)


# --- fusion & visualisation (07/08) ---
def plot_variance_reduction(correlations, simulated, theory):
    """Variance of the average of two equally noisy models against the correlation of their
    errors: simulation dots on the theory curve (1 + rho) / 2. Taught in 07_fusion."""
    fig, ax = _plt().subplots(figsize=(4.4, 3.0))
    ax.plot(correlations, theory, "-", label="theory (1 + ρ) / 2")
    ax.plot(correlations, simulated, "o", label="simulated")
    ax.axhline(1.0, color="0.5", ls=":", lw=1, label="one model")
    ax.set(xlabel="correlation ρ of the two models' errors",
           ylabel="variance of the average\n(relative to one model)", ylim=(0, 1.1))
    ax.legend(frameon=False, fontsize=8)
    return _tight(fig)


def plot_weight_search(curves: dict, chosen: dict | None = None):
    """One panel per fusion ``{title: (grid, scores)}``: validation metric against the weight w
    of the first model; ``chosen`` (``{title: w}``) dashed. Taught in 07_fusion."""
    if not curves:
        raise ValueError("plot_weight_search got no curves; pass {title: (grid, scores)}.")
    fig, axes = _plt().subplots(1, len(curves), figsize=(4.0 * len(curves), 2.9), squeeze=False)
    for ax, (title, (grid, scores)) in zip(axes.flat, curves.items()):
        ax.plot(grid, scores, "o-", ms=3)
        if chosen and title in chosen:
            ax.axvline(chosen[title], color="C3", ls="--", lw=1,
                       label=f"chosen w = {chosen[title]:.2f}")
            ax.legend(frameon=False, fontsize=8)
        ax.axvline(0.5, color="0.6", ls=":", lw=1)
        ax.set_xlabel("weight w of the first model")
        ax.set_title(title, fontsize=9)
    return _tight(fig)


def plot_threshold_tradeoff(curve: dict, marks: dict | None = None, title: str | None = None):
    """Sensitivity and specificity against the decision threshold, with vertical marks. Taught in
    07_fusion. ``curve``: ``{"threshold", "SE", "SP"}`` from
    ``fusion.sensitivity_specificity_curve``; ``marks``: ``{label: threshold}``."""
    fig, ax = _plt().subplots(figsize=(4.8, 3.0))
    ax.plot(curve["threshold"], curve["SE"], label="sensitivity (melanoma found)")
    ax.plot(curve["threshold"], curve["SP"], label="specificity (benign cleared)")
    for k, (label, threshold) in enumerate((marks or {}).items()):
        ax.axvline(threshold, color=f"C{k + 2}", ls="--", lw=1, label=f"{label}: {threshold:.2f}")
    ax.set(xlabel="threshold (melanoma when score > threshold)", ylim=(-0.02, 1.02))
    ax.legend(frameon=False, fontsize=7, loc="lower left")
    if title:
        ax.set_title(title, fontsize=9)
    return _tight(fig)


def plot_cams(images, heatmaps: dict, titles: Sequence[str] | None = None, size: float = 1.9):
    """Fig. 9: a row of images, then one row of heatmap overlays per model. Taught in
    08_visualisation_and_demo. ``heatmaps``: ``{model name: (N, H, W) in [0, 1]}``."""
    from .explain import overlay
    n = len(images)
    rows = 1 + len(heatmaps)
    fig, axes = _plt().subplots(rows, n, figsize=(size * n, size * rows + 0.3), squeeze=False)
    for j in range(n):
        image = np.clip(np.asarray(images[j]), 0, 255).astype(np.uint8)
        axes[0, j].imshow(image)
        if titles is not None:
            axes[0, j].set_title(titles[j], fontsize=8)
        for i, (name, maps) in enumerate(heatmaps.items(), start=1):
            axes[i, j].imshow(overlay(image, maps[j]))
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    axes[0, 0].set_ylabel("image", fontsize=9)
    for i, name in enumerate(heatmaps, start=1):
        axes[i, 0].set_ylabel(name, fontsize=9)
    return _tight(fig)


def plot_embeddings(embeddings: dict, labels, scores: dict | None = None,
                    class_names=CLASS_NAMES):
    """Fig. 10: one 2-D embedding ``{title: (N, 2)}`` per panel, points coloured by class,
    ``scores`` (``{title: silhouette}``) in the title. Taught in 08_visualisation_and_demo."""
    labels = np.asarray(labels).reshape(-1)
    fig, axes = _plt().subplots(1, len(embeddings), figsize=(3.4 * len(embeddings), 3.3),
                                squeeze=False)
    for ax, (title, points) in zip(axes.flat, embeddings.items()):
        points = np.asarray(points)
        for k, name in enumerate(class_names):
            chosen = labels == k
            ax.scatter(points[chosen, 0], points[chosen, 1], s=14, alpha=0.75,
                       marker="o" if k == 0 else "^", color="C0" if k == 0 else "C3",
                       label=f"{name} ({int(chosen.sum())})")
        if scores and title in scores:
            title = f"{title}\nsilhouette {scores[title]:+.2f}"
        ax.set_title(title, fontsize=9)
        ax.set(xticks=[], yticks=[])
    axes.flat[0].legend(frameon=False, fontsize=8)
    return _tight(fig)


def plot_probability_maps(images, prob_maps: dict, titles: Sequence[str] | None = None,
                          size: float = 1.9, cmap: str = "jet"):
    """Fig. 12: images (rows), each model's probability map ``{name: (N, H, W)}`` (columns) with
    its 0.5 contour, and a shared colour bar. Taught in 08_visualisation_and_demo."""
    n = len(images)
    cols = 1 + len(prob_maps)
    fig, axes = _plt().subplots(n, cols, figsize=(size * cols + 0.8, size * n), squeeze=False)
    shown = None
    for i in range(n):
        axes[i, 0].imshow(np.clip(np.asarray(images[i]), 0, 255).astype(np.uint8))
        if titles is not None:
            axes[i, 0].set_ylabel(titles[i], fontsize=8)
        for j, (name, maps) in enumerate(prob_maps.items(), start=1):
            prob = np.squeeze(np.asarray(maps[i]))
            shown = axes[i, j].imshow(prob, cmap=cmap, vmin=0, vmax=1)
            if prob.min() < 0.5 < prob.max():
                axes[i, j].contour(prob, levels=[0.5], colors="white", linewidths=1)
            if i == 0:
                axes[i, j].set_title(name, fontsize=9)
    if n:
        axes[0, 0].set_title("image", fontsize=9)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    fig.tight_layout()
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02)
        bar.set_label("lesion probability (white line: 0.5)", fontsize=8)
    return fig


def plot_contours(images, true_masks, pred_masks, titles: Sequence[str] | None = None,
                  ncols: int = 5, size: float = 2.0):
    """Fig. 13 / 14(a): prediction (blue) and ground truth (red) outlines; masks binary (0/255,
    bool, 0/1) or probability maps (outlined at 0.5). Taught in 08_visualisation_and_demo."""
    n = len(images)
    if len(true_masks) != n or len(pred_masks) != n:
        raise ValueError(f"plot_contours needs one true and one predicted mask per image; got "
                         f"{n} images, {len(true_masks)} true and {len(pred_masks)} predicted.")
    fig, axes = _grid(n, ncols, size)
    for i, ax in zip(range(n), axes):
        ax.imshow(np.clip(np.asarray(images[i]), 0, 255).astype(np.uint8))
        for mask, colour in ((true_masks[i], "red"), (pred_masks[i], "blue")):
            mask = np.squeeze(np.asarray(mask)).astype(np.float32)
            level = 127.5 if mask.max() > 1 else 0.5
            if mask.min() < level < mask.max():
                ax.contour(mask, levels=[level], colors=colour, linewidths=1.4)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.suptitle("red: ground truth   blue: prediction", fontsize=9)
    return _tight(fig)


# --- lightweight CNNs (03) ---
def _draw_box(ax, x, y, size, depth, color):
    """A cuboid with a size x size front face at (x, y); depth goes up and to the right."""
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Polygon
    dx, dy = 0.5 * depth, 0.35 * depth
    faces = [[(x, y), (x + size, y), (x + size, y + size), (x, y + size)],
             [(x, y + size), (x + size, y + size), (x + size + dx, y + size + dy),
              (x + dx, y + size + dy)],
             [(x + size, y), (x + size + dx, y + dy), (x + size + dx, y + size + dy),
              (x + size, y + size)]]
    for face, shade in zip(faces, (1.0, 0.85, 0.7)):
        ax.add_patch(Polygon(face, facecolor=np.array(to_rgb(color)) * shade, edgecolor="0.3",
                             linewidth=0.6))


def _draw_tensor(ax, x, y, size, colors, label="", slice_depth=0.5):
    """One slice per channel, drawn back to front, with a label below."""
    for i, color in reversed(list(enumerate(colors))):
        _draw_box(ax, x + 0.5 * slice_depth * i, y + 0.35 * slice_depth * i, size, slice_depth,
                  color)
    ax.text(x + size / 2 + 0.25 * slice_depth * len(colors), y - 0.35, label, ha="center", va="top")


def _draw_arrow(ax, x0, x1, y, text, x_text):
    ax.annotate("", (x1, y), (x0, y), arrowprops=dict(arrowstyle="->", lw=1.2))
    ax.text(x_text, y - 0.35, text, ha="center", va="top")


def plot_separable_convolution(n_in: int = 4, n_out: int = 3):
    """The paper's Fig. 7: (a) a standard convolution against (b) a depthwise separable one;
    colours are channels. Taught in 03_lightweight_cnns."""
    plt = _plt()
    c_in, c_out = plt.cm.Set2(np.arange(n_in)), plt.cm.Pastel1(np.arange(n_out))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.8))
    for ax in (top, bottom):
        ax.set(xlim=(0, 21), ylim=(-1.4, 4.6), aspect="equal")
        ax.axis("off")
    top.set_title("(a) standard convolution: each of the M filters sees all N input channels",
                  loc="left")
    _draw_tensor(top, 0.3, 0.5, 2.6, c_in, "input H×W×N")
    for j in range(n_out):
        _draw_tensor(top, 6.2 + 2.3 * j, 2.1, 0.9, c_in, slice_depth=0.35)
    _draw_arrow(top, 4.6, 14.6, 1.8, "M filters of K×K×N\n→ K²·N·M weights", 9.6)
    _draw_tensor(top, 15.2, 0.5, 2.6, c_out, "output H×W×M")
    bottom.set_title("(b) depthwise separable: filter each channel alone (depthwise), "
                     "then mix the channels (1×1 pointwise)", loc="left")
    _draw_tensor(bottom, 0.3, 0.5, 2.6, c_in, "input H×W×N")
    for i in range(n_in):
        _draw_box(bottom, 4.8 + 0.8 * i, 2.1, 0.6, 0.2, c_in[i])
    _draw_arrow(bottom, 4.6, 8.0, 1.8, "N filters of K×K×1\n→ K²·N weights", 6.3)
    _draw_tensor(bottom, 8.3, 0.5, 2.6, c_in, "H×W×N")
    for j in range(n_out):
        _draw_tensor(bottom, 12.9 + 1.0 * j, 2.1, 0.35, c_in, slice_depth=0.25)
    _draw_arrow(bottom, 12.6, 16.0, 1.8, "M filters of 1×1×N\n→ N·M weights", 14.3)
    _draw_tensor(bottom, 16.4, 0.5, 2.6, c_out, "output H×W×M")
    return _tight(fig)


# --- segmentation (06) ---
def _style_unet_axes(ax, xlim: tuple[float, float], max_depth: float, input_y: float,
                     title: str | None) -> None:
    """Limits, resolution axis (full, 1/2, ... downwards), spines, title of plot_unet_skips."""
    ax.set(xlim=xlim, ylim=(-max_depth - 0.6, 0.6 - input_y))
    depths = range(int(max_depth) + 1)
    ax.set_yticks([-d for d in depths], [f"1/{2 ** d}" if d else "full" for d in depths],
                  fontsize=8)
    ax.set_ylabel("resolution", fontsize=8)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or "encoder (left), decoder (right; each block upsamples ×2), skip "
                 "connections (blue)", fontsize=9)


def plot_unet_skips(levels, input_shape, title: str | None = None):
    """The U of a U-Net from its layer shapes: encoder down the left, decoder up the right, each
    skip connection an arrow across at its resolution. Taught in 06_unet_segmentation. ``levels``:
    :func:`course_lib.models.unet.skip_connections` (deepest first); ``input_shape``:
    ``(height, width, 3)``. A box's width grows with its channel count."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    if not levels:
        raise ValueError("plot_unet_skips got no levels; pass unet.skip_connections(model).")
    height = int(input_shape[0])

    def depth(shape):  # 0 at full size, 1 at half size, ...
        return float(np.log2(height / shape[0]))

    def text(shape):
        return "×".join(str(int(v)) for v in shape)

    bottom = levels[0]["input_shape"]
    max_depth = depth(bottom)
    fig, ax = _plt().subplots(figsize=(8.6, 1.0 + 0.85 * (max_depth + 1)))
    max_channels = max([bottom[2]] + [lv["skip_shape"][2] for lv in levels if lv["skip_shape"]]
                       + [lv["output_shape"][2] for lv in levels])

    def box(x, y, shape, label, colour):
        width = 1.25 + 0.6 * np.sqrt(shape[2] / max_channels)
        ax.add_patch(FancyBboxPatch((x - width / 2, -y - 0.3), width, 0.6,
                                    boxstyle="round,pad=0.02", fc=colour, ec="0.3", lw=0.8))
        ax.text(x, -y, label, ha="center", va="center", fontsize=7.5)

    def arrow(start, end, colour="0.35", style="-|>", rad=0.0):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=9, color=colour,
                                     lw=1.0, connectionstyle=f"arc3,rad={rad}"))

    left, right = 0.0, 4.6
    full_size_skip = any(lv["skip_shape"] is not None and depth(lv["skip_shape"]) == 0
                         for lv in levels)
    input_y = -0.9 if full_size_skip else 0.0  # the plain U-Net has a full-size skip
    encoder_points = [(input_y, tuple(input_shape), f"input\n{text(input_shape)}")]
    for level in reversed(levels):
        if level["skip_shape"] is not None:
            encoder_points.append((depth(level["skip_shape"]), level["skip_shape"],
                                   f"{text(level['skip_shape'])}\n{level['skip_layer']}"))
    encoder_points.append((max_depth, bottom, f"encoder output\n{text(bottom)}"))
    for k, (y, shape, label) in enumerate(encoder_points):
        box(left, y, shape, label, "#dbe9f6")
        if k:
            arrow((left, -encoder_points[k - 1][0] - 0.32), (left, -y + 0.32))
    previous = (left, max_depth)
    for level in levels:
        y = depth(level["output_shape"])
        box(right, y, level["output_shape"],
            f"decoder_stage{level['stage']}\n{text(level['output_shape'])}", "#fde3c8")
        start = (previous[0] + (0.9 if previous[0] == left else 0.0), -previous[1])
        arrow(start if previous[0] == left else (right, -previous[1] + 0.32),
              (right - 0.85, -y) if previous[0] == left else (right, -y - 0.32))
        if level["skip_shape"] is not None:
            arrow((left + 0.95, -y), (right - 0.95, -y), colour="#2b7bba")
            ax.text((left + right) / 2, -y + 0.1, f"skip: concat {level['skip_shape'][2]} ch",
                    ha="center", va="bottom", fontsize=7, color="#2b7bba")
        previous = (right, y)
    out_shape = tuple(levels[-1]["output_shape"][:2]) + (1,)
    head_x = right + 2.2
    box(head_x, previous[1], [0, 0, 1], f"sigmoid mask\n{text(out_shape)}", "#d9f0d3")
    arrow((right + 0.95, -previous[1]), (head_x - 0.7, -previous[1]))
    _style_unet_axes(ax, (left - 1.1, head_x + 1.0), max_depth, input_y, title)
    return _tight(fig)
