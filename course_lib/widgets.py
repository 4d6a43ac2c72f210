"""Interactive explorers (ipywidgets) for the notebooks.

Taught in 01_data_and_augmentation (:func:`augmentation_explorer`: pick an image, an operation
and its parameters; see the image and its mask after the operation) and 02_pair_sampling
(:func:`pair_explorer`: step through the batches of pairs an epoch is made of).

Each explorer is split in two so that it can be tested without a browser:

- a plain DRAWING function (:func:`draw_augmentation`, :func:`draw_pair_batch`) that returns a
  matplotlib Figure -- call it directly in a notebook or a test;
- a function that wires widgets to it and returns the widget box. The picture is shown in an
  ``ipywidgets.Image`` (PNG bytes), which works in Jupyter, JupyterLab, VS Code and Colab
  (Colab: run ``from google.colab import output; output.enable_custom_widget_manager()``
  first if the widgets do not appear). In stored notebook outputs a widget appears only as
  text; run the cell to use it.

The box returned by an explorer also carries ``box.controls`` (a dict of its widgets),
``box.redraw()`` and ``box.state`` (what is drawn now), handy for scripting and tests.
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
_EXPLORER_PARAMETERS = {
    "center_crop": ("crop_fraction",),
    "brightness": ("brightness_factor",),
    "occlusion": ("occlusion_max_fraction", "fill"),
}


def explorer_params(op: str, *, crop_fraction: float = 0.8, brightness_factor: float = 1.3,
                    occlusion_max_fraction: float = 0.15, fill: str = "black") -> dict:
    """The keyword arguments :func:`course_lib.augment.apply` takes for ``op``, picked from the
    explorer's sliders: ``center_crop`` -> ``{"fraction": ...}``, ``brightness`` ->
    ``{"factor": ...}``, ``occlusion`` -> ``{"max_fraction": ..., "fill": ...}``, anything else
    ``{}``. Taught in 01_data_and_augmentation."""
    augment._check_op(op)
    # Slider steps add float noise (1.55 arrives as 1.5500000000000003): round what is shown
    # and applied to the slider's precision.
    if op == "center_crop":
        return {"fraction": round(float(crop_fraction), 4)}
    if op == "brightness":
        return {"factor": round(float(brightness_factor), 4)}
    if op == "occlusion":
        return {"max_fraction": round(float(occlusion_max_fraction), 4), "fill": fill}
    return {}


def _describe_params(params: dict) -> str:
    parts = [f"{key}={value:.2f}" if isinstance(value, float) else f"{key}={value}"
             for key, value in params.items()]
    return ", ".join(parts)


def draw_augmentation(image: np.ndarray, mask: np.ndarray, op: str, seed: int = 0,
                      title: str | None = None, size: float = 2.4, **params):
    """Three panels: the image with its mask contour, the image after ``op`` with the mask after
    ``op``, and that mask on its own. Taught in 01_data_and_augmentation.

    ``op`` and ``params`` are those of :func:`course_lib.augment.apply`; ``seed`` seeds the
    random ops (brightness without a factor, occlusion). The panel title says whether the mask
    moved (geometric op) or stayed as it was (photometric op). Returns the Figure; the
    augmented arrays are also attached as ``figure.augmented = (image, mask)``.
    """
    import matplotlib.pyplot as plt

    new_image, new_mask = augment.apply(op, image, mask, rng=np.random.default_rng(seed),
                                        **params)
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
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"Give one label per image ({len(images)}), or labels=None; got "
                         f"{len(labels)}.")
    if ids is not None and len(ids) != len(images):
        raise ValueError(f"Give one id per image ({len(images)}), or ids=None; got {len(ids)}.")
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

    def wide():  # one Layout per widget: hiding one must not hide the others
        return ipw.Layout(width="420px")

    return {
        "image": ipw.Dropdown(options=[_image_option(i, labels, ids) for i in range(n_images)],
                              value=0, description="image", style=style, layout=wide()),
        "op": ipw.Dropdown(options=list(ops), value=ops[0], description="operation",
                           style=style, layout=wide()),
        "seed": ipw.IntSlider(value=int(seed), min=0, max=99, description="seed (random ops)",
                              style=style, layout=wide()),
        "crop_fraction": ipw.FloatSlider(value=0.8, min=0.4, max=1.0, step=0.05,
                                         description="crop fraction", style=style,
                                         layout=wide()),
        "brightness_factor": ipw.FloatSlider(value=1.3, min=0.3, max=1.8, step=0.05,
                                             description="brightness factor", style=style,
                                             layout=wide()),
        "occlusion_max_fraction": ipw.FloatSlider(value=0.15, min=0.02, max=0.5, step=0.01,
                                                  description="occlusion max area",
                                                  style=style, layout=wide()),
        "fill": ipw.Dropdown(options=["black", "mean"], value="black", description="fill",
                             style=style, layout=wide()),
    }


def augmentation_explorer(images, masks, labels=None, ids: Sequence[str] | None = None,
                          seed: int = 0, ops: Sequence[str] = augment.OPS):
    """An ipywidgets box to try every augmentation on any image and its mask.

    Taught in 01_data_and_augmentation. Controls: the image (by index, with its id and class),
    the op (``augment.OPS``), the random seed, and the op's parameters -- crop fraction,
    brightness factor, occlusion size and fill -- of which only those the op uses are shown.
    Every change redraws :func:`draw_augmentation`.

    Args:
        images: uint8 array (n, height, width, 3); masks: uint8 (n, height, width), 0/255.
        labels: optional 1-D int array (1 = melanoma), shown in the image menu.
        ids: optional image ids (e.g. ``record.ids``), shown in the image menu.
        seed: initial seed of the random ops.
        ops: the ops offered (default all of :data:`course_lib.augment.OPS`).

    Returns:
        ``ipywidgets.VBox``; display it by making it the last expression of a cell.
    """
    import ipywidgets as ipw

    images, masks = _check_arrays(images, masks, labels, ids)
    ops = augment._check_ops(ops)
    controls = _augmentation_controls(len(images), labels, ids, seed, ops)
    picture = ipw.Image(format="png")
    note = ipw.HTML()
    state: dict = {}

    def redraw(*_):
        op = controls["op"].value
        used = set(_EXPLORER_PARAMETERS.get(op, ()))
        if op == "occlusion":
            used.add("seed")
        for name in ("seed", *(n for names in _EXPLORER_PARAMETERS.values() for n in names)):
            controls[name].layout.display = None if name in used else "none"
        params = explorer_params(op, **{name: controls[name].value for name in
                                        ("crop_fraction", "brightness_factor",
                                         "occlusion_max_fraction", "fill")})
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
    box = ipw.VBox([ipw.HBox([ipw.VBox([controls["image"], controls["op"], controls["seed"]]),
                              ipw.VBox([controls["crop_fraction"], controls["brightness_factor"],
                                        controls["occlusion_max_fraction"],
                                        controls["fill"]])]),
                    note, picture])
    box.controls, box.redraw, box.state = controls, redraw, state
    return box


def draw_pair_batch(sequence, batch_index: int, max_pairs: int = 8, ncols: int = 4,
                    size: float = 1.4):
    """The pairs of one batch of a :class:`course_lib.pairs.PairSequence`, labelled with both
    classes and same/different, and the batch's method in the figure title.

    Taught in 02_pair_sampling. Draws the first ``max_pairs`` pairs of batch ``batch_index`` in
    the sequence's CURRENT epoch. Returns the Figure.
    """
    from . import viz

    first, second = sequence.batch_indices(batch_index)
    first, second = first[:max_pairs], second[:max_pairs]
    names = augment.CLASS_NAMES
    label1, label2 = sequence.labels[first], sequence.labels[second]
    same = label1 == label2
    titles = [f"{names.get(int(a), a)} | {names.get(int(b), b)}: {'same' if s else 'different'}"
              for a, b, s in zip(label1, label2, same)]
    colours = ["tab:green" if s else "tab:red" for s in same]
    method = sequence.methods[batch_index]
    heading = (f"epoch {sequence.epoch}, batch {batch_index}: {method}, "
               f"{int(same.sum())} of {len(same)} pairs same-class")
    return viz.show_pairs(sequence.images[first], sequence.images[second], titles, ncols=ncols,
                          size=size, title_colors=colours, title=heading)


def pair_explorer(images, labels, batch_size: int = 32, seed: int = 0,
                  ratio: tuple[int, int] = (1, 4), max_pairs: int = 8):
    """An ipywidgets box to step through the epochs and batches of pairs.

    Taught in 02_pair_sampling. Builds its own :class:`course_lib.pairs.PairSequence` from
    ``images`` and ``labels`` (so exploring never changes a sequence used for training);
    sliders pick the epoch and the batch, and :func:`draw_pair_batch` shows its pairs.
    """
    import ipywidgets as ipw

    from . import pairs

    sequence = pairs.PairSequence(images, labels, batch_size=batch_size, seed=seed, ratio=ratio)
    style = {"description_width": "60px"}
    controls = {
        "epoch": ipw.IntSlider(value=0, min=0, max=49, description="epoch", style=style),
        "batch": ipw.IntSlider(value=0, min=0, max=len(sequence) - 1, description="batch",
                               style=style),
    }
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
