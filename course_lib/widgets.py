"""Interactive explorers: :func:`augmentation_explorer` (01_data_and_augmentation) and
:func:`pair_explorer` (02_pair_sampling), each wired to a plain drawing function (testable without
a browser). On Colab, if no widgets appear, run ``from google.colab import output;
output.enable_custom_widget_manager()``. Boxes carry ``controls``, ``redraw()`` and ``state``.
"""
from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from . import augment
from .paper import MASK_THRESHOLD

__all__ = ["explorer_params", "draw_augmentation", "augmentation_explorer", "draw_pair_batch",
           "pair_explorer", "figure_png"]

#: Parameters each op takes in the explorer (the rotations and mirrors take none).
_EXPLORER_PARAMETERS = {"center_crop": ("crop_fraction",), "brightness": ("brightness_factor",),
                        "occlusion": ("occlusion_max_fraction", "fill")}


def explorer_params(op: str, *, crop_fraction: float = 0.8, brightness_factor: float = 1.3,
                    occlusion_max_fraction: float = 0.15, fill: str = "black") -> dict:
    """The keyword arguments :func:`course_lib.augment.apply` takes for ``op`` (``{}`` for ops
    without parameters), from the explorer's sliders. Taught in 01_data_and_augmentation."""
    augment._check_op(op)
    # Slider steps add float noise (1.55 arrives as 1.5500000000000003): round to their precision.
    if op == "center_crop":
        return {"fraction": round(float(crop_fraction), 4)}
    if op == "brightness":
        return {"factor": round(float(brightness_factor), 4)}
    if op == "occlusion":
        return {"max_fraction": round(float(occlusion_max_fraction), 4), "fill": fill}
    return {}


def _describe_params(params: dict) -> str:
    return ", ".join(f"{key}={value:.2f}" if isinstance(value, float) else f"{key}={value}"
                     for key, value in params.items())


def draw_augmentation(image: np.ndarray, mask: np.ndarray, op: str, seed: int = 0,
                      title: str | None = None, size: float = 2.4, **params):
    """Three panels: image and mask contour before and after ``op``, and the new mask alone.
    Taught in 01_data_and_augmentation. ``op``, ``params``: as in :func:`course_lib.augment.apply`;
    the augmented arrays are attached as ``figure.augmented = (image, mask)``."""
    import matplotlib.pyplot as plt
    new_image, new_mask = augment.apply(op, image, mask, rng=np.random.default_rng(seed), **params)
    mask_2d = np.squeeze(np.asarray(mask))
    new_mask_2d = np.squeeze(new_mask)
    changed = new_mask_2d.shape != mask_2d.shape or not np.array_equal(new_mask_2d, mask_2d)
    fig, axes = plt.subplots(1, 3, figsize=(3 * size, size + 0.5))
    label = op + (f"({_describe_params(params)})" if params else "")
    panels = [(image, mask_2d, "original"), (new_image, new_mask_2d, label)]
    for ax, (shown, contour, name) in zip(axes, panels):
        ax.imshow(shown)
        if contour.any():
            ax.contour(contour > MASK_THRESHOLD, levels=[0.5], colors="lime", linewidths=1.2)
        ax.set_title(name, fontsize=9)
    axes[2].imshow(new_mask_2d, cmap="gray", vmin=0, vmax=255)
    axes[2].set_title("mask after the op:\n" + ("moved with the image" if changed
                                                 else "unchanged"), fontsize=9)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.augmented = (new_image, new_mask)
    return fig


def figure_png(fig, dpi: int = 80) -> bytes:
    """PNG bytes of a matplotlib Figure, which is then closed (for an ``ipywidgets.Image``)."""
    import matplotlib.pyplot as plt
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def _check_arrays(images, masks, labels, ids):
    images = np.asarray(images)
    masks = np.asarray(masks)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(f"images must be a non-empty uint8 array (n, height, width, 3); got a "
                         f"{images.dtype} array of shape {images.shape}. Use "
                         "data.load_arrays(record, image_size).")
    if masks.shape[:3] != images.shape[:3] or masks.dtype != np.uint8:
        raise ValueError(f"masks must be a uint8 array (n, height, width) matching the images "
                         f"{images.shape[:3]}; got a {masks.dtype} array of shape {masks.shape}.")
    for what, values in (("label", labels), ("id", ids)):
        if values is not None and len(values) != len(images):
            raise ValueError(f"Give one {what} per image ({len(images)}), or {what}s=None; got "
                             f"{len(values)}.")
    return images, masks


def _image_option(index: int, labels, ids) -> tuple[str, int]:
    """The image menu entry ``(text, index)``: the index, then the id and class when known."""
    text = f"{index}"
    if ids is not None:
        text += f" · {ids[index]}"
    if labels is not None:
        text += f" · {augment.CLASS_NAMES.get(int(labels[index]), labels[index])}"
    return text, index


def _augmentation_controls(n_images: int, labels, ids, seed: int, ops: tuple) -> dict:
    """The widgets of :func:`augmentation_explorer` by name: image, op, seed and the ops'
    parameters."""
    import ipywidgets as ipw
    style = {"description_width": "150px"}  # the longest label, "occlusion max area", whole

    def shown(description: str) -> dict:  # one Layout per widget: hiding one must not hide all
        return {"description": description, "style": style, "layout": ipw.Layout(width="420px")}

    return {
        "image": ipw.Dropdown(options=[_image_option(i, labels, ids) for i in range(n_images)],
                              value=0, **shown("image")),
        "op": ipw.Dropdown(options=list(ops), value=ops[0], **shown("operation")),
        "seed": ipw.IntSlider(value=int(seed), min=0, max=99, **shown("seed (random ops)")),
        "crop_fraction": ipw.FloatSlider(value=0.8, min=0.4, max=1.0, step=0.05,
                                         **shown("crop fraction")),
        "brightness_factor": ipw.FloatSlider(value=1.3, min=0.3, max=1.8, step=0.05,
                                             **shown("brightness factor")),
        "occlusion_max_fraction": ipw.FloatSlider(value=0.15, min=0.02, max=0.5, step=0.01,
                                                  **shown("occlusion max area")),
        "fill": ipw.Dropdown(options=["black", "mean"], value="black", **shown("fill")),
    }


def augmentation_explorer(images, masks, labels=None, ids: Sequence[str] | None = None,
                          seed: int = 0, ops: Sequence[str] = augment.OPS):
    """An ipywidgets box to try every augmentation on any image (uint8 ``(n, H, W, 3)``) and its
    mask (uint8 ``(n, H, W)``, 0/255); ``labels`` and ``ids`` label the image menu. Taught in
    01_data_and_augmentation."""
    import ipywidgets as ipw
    images, masks = _check_arrays(images, masks, labels, ids)
    ops = augment._check_ops(ops)
    controls = _augmentation_controls(len(images), labels, ids, seed, ops)
    sliders = [name for names in _EXPLORER_PARAMETERS.values() for name in names]
    picture = ipw.Image(format="png")
    note = ipw.HTML()
    state: dict = {}

    def redraw(*_):
        op = controls["op"].value
        used = set(_EXPLORER_PARAMETERS.get(op, ()))
        if op == "occlusion":
            used.add("seed")
        for name in ("seed", *sliders):
            controls[name].layout.display = None if name in used else "none"
        params = explorer_params(op, **{name: controls[name].value for name in sliders})
        index = controls["image"].value
        fig = draw_augmentation(images[index], masks[index], op, seed=controls["seed"].value,
                                **params)
        state.update(index=index, op=op, params=params, seed=controls["seed"].value,
                     augmented=fig.augmented)
        picture.value = figure_png(fig)
        kind = "geometric: the mask moves with the image" if op in augment.GEOMETRIC_OPS \
            else "photometric: the mask stays as it is"
        note.value = f"<code>augment.apply({op!r}, image, mask, **{params})</code> — {kind}"

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    left = ipw.VBox([controls[name] for name in ("image", "op", "seed")])
    right = ipw.VBox([controls[name] for name in sliders])
    box = ipw.VBox([ipw.HBox([left, right]), note, picture])
    box.controls, box.redraw, box.state = controls, redraw, state
    return box


def draw_pair_batch(sequence, batch_index: int, max_pairs: int = 8, ncols: int = 4,
                    size: float = 1.4):
    """The first ``max_pairs`` pairs of batch ``batch_index`` of a
    :class:`course_lib.pairs.PairSequence` in its CURRENT epoch, titled with both classes and
    same/different; the batch's method in the heading. Taught in 02_pair_sampling."""
    from . import viz
    first, second = sequence.batch_indices(batch_index)
    first, second = first[:max_pairs], second[:max_pairs]
    names = augment.CLASS_NAMES
    label1, label2 = sequence.labels[first], sequence.labels[second]
    same = label1 == label2
    titles = [f"{names.get(int(a), a)} | {names.get(int(b), b)}: {'same' if s else 'different'}"
              for a, b, s in zip(label1, label2, same)]
    colours = ["tab:green" if s else "tab:red" for s in same]
    heading = (f"epoch {sequence.epoch}, batch {batch_index}: {sequence.methods[batch_index]}, "
               f"{int(same.sum())} of {len(same)} pairs same-class")
    return viz.show_pairs(sequence.images[first], sequence.images[second], titles, ncols=ncols,
                          size=size, title_colors=colours, title=heading)


def pair_explorer(images, labels, batch_size: int = 32, seed: int = 0,
                  ratio: tuple[int, int] = (1, 4), max_pairs: int = 8):
    """An ipywidgets box to step through the epochs and batches of pairs, on its own
    :class:`course_lib.pairs.PairSequence` (training is untouched). Taught in 02_pair_sampling."""
    import ipywidgets as ipw

    from . import pairs

    sequence = pairs.PairSequence(images, labels, batch_size=batch_size, seed=seed, ratio=ratio)
    style = {"description_width": "60px"}
    controls = {"epoch": ipw.IntSlider(value=0, min=0, max=49, description="epoch", style=style),
                "batch": ipw.IntSlider(value=0, min=0, max=len(sequence) - 1, description="batch",
                                       style=style)}
    picture = ipw.Image(format="png")
    state: dict = {}

    def redraw(*_):
        if sequence.epoch != controls["epoch"].value:
            sequence.set_epoch(controls["epoch"].value)
        batch = controls["batch"].value
        fig = draw_pair_batch(sequence, batch, max_pairs=max_pairs)
        first, second = sequence.batch_indices(batch)
        state.update(epoch=sequence.epoch, batch=batch, method=sequence.methods[batch],
                     first=first.copy(), second=second.copy())
        picture.value = figure_png(fig)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    box = ipw.VBox([ipw.HBox([controls["epoch"], controls["batch"]]), picture])
    box.controls, box.redraw, box.state = controls, redraw, state
    return box
