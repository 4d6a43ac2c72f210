"""The diagnosis demo of 08_visualisation_and_demo: one image in, every model's answer out.

Plain functions, testable without a browser (:func:`read_image`, :func:`diagnose`,
:func:`format_diagnosis`, :func:`render`); :func:`build_demo` wires them to ipywidgets.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["DISCLAIMER", "UnreadableImageError", "Diagnosis", "read_image", "read_upload",
           "diagnose", "format_diagnosis", "render", "DemoApp", "build_demo"]

#: Shown above every output of the demo (and in the widget, in a red box).
DISCLAIMER = ("Teaching model — NOT a diagnostic tool. These networks were trained for a course, "
              "on a small dataset, and were never validated clinically; their answers can be "
              "confidently wrong. Never use them to decide anything about a real skin lesion: "
              "see a dermatologist.")

#: Smallest image side the demo accepts (smaller files are almost certainly not dermoscopy).
MIN_SIDE = 16


class UnreadableImageError(ValueError):
    """The file or upload is not an image the demo can use; the message says why and what to do."""


def _to_rgb_array(picture) -> np.ndarray:
    """A PIL image in any mode -> uint8 RGB array (transparency composited on white)."""
    from PIL import Image
    if picture.mode in ("RGBA", "LA") or (picture.mode == "P" and "transparency" in picture.info):
        picture = picture.convert("RGBA")
        background = Image.new("RGBA", picture.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(background, picture)
    return np.asarray(picture.convert("RGB"), dtype=np.uint8)


def _resize(array: np.ndarray, image_size: int) -> np.ndarray:
    from PIL import Image
    if array.shape[:2] == (image_size, image_size):
        return array
    picture = Image.fromarray(array).resize((image_size, image_size), Image.BILINEAR)
    return np.asarray(picture, dtype=np.uint8)


def read_image(source, image_size: int, name: str | None = None) -> np.ndarray:
    """The models' input: uint8 RGB ``(image_size, image_size, 3)``, resized bilinearly (not
    cropped). Taught in 08_visualisation_and_demo. ``source``: file bytes, a path, or an array
    ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` (uint8, or float in [0, 1] or [0, 255]). Raises
    :class:`UnreadableImageError` for what is no usable image (the message says why)."""
    from PIL import Image, UnidentifiedImageError
    if not isinstance(image_size, (int, np.integer)) or image_size < MIN_SIDE:
        raise ValueError(f"image_size must be an integer >= {MIN_SIDE} (the models' input side, "
                         f"e.g. profile.image_size); got {image_size!r}.")
    image_size = int(image_size)
    label = f"'{name}'" if name else "the file"
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise UnreadableImageError(f"No image file at {str(path)!r}; check the path.")
        label = f"'{name or path.name}'"
        source = path.read_bytes()
    if isinstance(source, (bytes, bytearray, memoryview)):
        content = bytes(source)
        if not content:
            raise UnreadableImageError(f"{label} is empty (0 bytes); upload the image again.")
        try:
            with Image.open(io.BytesIO(content)) as picture:
                picture.load()
                array = _to_rgb_array(picture)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
            raise UnreadableImageError(
                f"Could not read {label} as an image ({type(error).__name__}): upload a "
                "dermoscopy photograph as JPEG or PNG.") from None
    else:
        array = np.asarray(source)
        if array.dtype == object or array.ndim not in (2, 3) or (
                array.ndim == 3 and array.shape[-1] not in (3, 4)):
            raise UnreadableImageError(
                f"An image array must be (height, width), (height, width, 3) or (height, width, "
                f"4); got shape {array.shape}.")
        if array.dtype != np.uint8:
            array = np.asarray(array, dtype=np.float64)
            if not np.isfinite(array).all():
                raise UnreadableImageError("The image array contains NaN or infinite values.")
            scale = 255.0 if array.max(initial=0.0) <= 1.0 else 1.0
            array = np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=-1)
        array = array[..., :3]
    if min(array.shape[:2]) < MIN_SIDE:
        raise UnreadableImageError(
            f"{label.capitalize() if label == 'the file' else label} is only "
            f"{array.shape[1]}x{array.shape[0]} pixels; a dermoscopy image needs at least "
            f"{MIN_SIDE}x{MIN_SIDE}.")
    return _resize(np.ascontiguousarray(array), image_size)


def read_upload(value, image_size: int) -> tuple[str, np.ndarray]:
    """``(file name, image)`` of the last file in an ``ipywidgets.FileUpload`` ``value`` (the
    ipywidgets 8 tuple of dicts or the ipywidgets 7 dict). Taught in 08_visualisation_and_demo.
    :class:`UnreadableImageError` when nothing was uploaded or the file cannot be read."""
    files = []
    if isinstance(value, Mapping):
        files = [{"name": name, **(info if isinstance(info, Mapping) else {})}
                 for name, info in value.items()]
    elif isinstance(value, (tuple, list)):
        files = [item for item in value if isinstance(item, Mapping)]
    if not files:
        raise UnreadableImageError("No file was uploaded yet: click 'Upload' and choose a JPEG "
                                   "or PNG dermoscopy image.")
    last = files[-1]
    name = str(last.get("name") or "upload")
    if "content" not in last:
        raise UnreadableImageError(f"The upload of '{name}' holds no content; upload it again.")
    return name, read_image(last["content"], image_size, name=name)


def _input_size(model) -> int:
    return int(model.inputs[0].shape[1])


def _melanoma_probability(model, batch: np.ndarray) -> float:
    from .models.discriminant import dc_classifier
    if len(model.inputs) == 2:  # a bare DC model: cls1 (fusion members bring their chosen head)
        model = dc_classifier(model, "cls1")
    output = np.asarray(model(batch, training=False))
    return float(output[0, 1] if output.shape[-1] == 2 else output.reshape(-1)[0])


@dataclass
class Diagnosis:
    """What :func:`diagnose` found for one image: melanoma probability per classifier and
    fused, the fused lesion map and its ``> 0.5`` mask, the melanoma CAM of ``cam_model``."""

    probabilities: dict
    fused_probability: float
    class_weights: dict
    threshold: float
    prob_map: np.ndarray | None = None
    mask: np.ndarray | None = None
    segmenters: tuple = ()
    cam: np.ndarray | None = None
    cam_model: str | None = None
    notes: list = field(default_factory=list)

    @property
    def label(self) -> str:
        """"melanoma-like" above the threshold, else "benign-like" (not a diagnosis)."""
        return "melanoma-like" if self.fused_probability > self.threshold else "benign-like"

    @property
    def lesion_fraction(self) -> float | None:
        """Share of the image inside the fused lesion mask (None without U-Nets)."""
        return None if self.mask is None else float(np.mean(self.mask))


def _weights_for(names, weights, what: str) -> dict:
    if weights is None:
        return {name: 1.0 / len(names) for name in names}
    weights = dict(weights)
    if set(weights) != set(names):
        raise ValueError(f"{what} must give one weight per model {sorted(names)}; got "
                         f"{sorted(weights)}.")
    return weights


def diagnose(image, classifiers: Mapping, segmenters: Mapping | None = None, *,
             class_weights: Mapping | None = None, seg_weights: Mapping | None = None,
             threshold: float = 0.5, cam_model: str | None = None, heatmap=None) -> Diagnosis:
    """Every model's answer for one image. Taught in 08_visualisation_and_demo. ``classifiers``,
    ``segmenters``: ``{name: model}`` (DC models use cls1 unless they bring a head); weights default
    to equal (the paper's); ``cam_model``: whose CAM to show (default the first; Grad-CAM where CAM
    is undefined); ``heatmap(model, image) -> (H, W)`` replaces :func:`course_lib.explain.cam`."""
    from . import explain, fusion
    if not classifiers:
        raise ValueError("classifiers is empty: pass {name: model} with at least one classifier.")
    segmenters = dict(segmenters or {})
    size = _input_size(next(iter(classifiers.values())))
    picture = read_image(image, size)
    batch = picture[None].astype(np.float32)
    probabilities = {name: _melanoma_probability(model, batch)
                     for name, model in classifiers.items()}
    class_weights = _weights_for(list(classifiers), class_weights, "class_weights")
    fused = float(fusion.weighted_average([np.array(probabilities[n]) for n in classifiers],
                                          [class_weights[n] for n in classifiers]))
    diagnosis = Diagnosis(probabilities=probabilities, fused_probability=fused,
                          class_weights=class_weights, threshold=float(threshold))
    if segmenters:
        seg_weights = _weights_for(list(segmenters), seg_weights, "seg_weights")
        maps = []
        for name, model in segmenters.items():
            model_input = picture if _input_size(model) == size else read_image(
                picture, _input_size(model))
            prob_map = np.squeeze(np.asarray(model(model_input[None].astype(np.float32),
                                                   training=False)))
            if prob_map.shape != (size, size):
                prob_map = read_image(prob_map, size).mean(axis=-1) / 255.0
            maps.append(prob_map)
        diagnosis.prob_map = fusion.weighted_average(maps, [seg_weights[n] for n in segmenters])
        diagnosis.mask = diagnosis.prob_map > 0.5
        diagnosis.segmenters = tuple(segmenters)
    cam_model = cam_model or next(iter(classifiers))
    if cam_model not in classifiers:
        raise ValueError(f"cam_model {cam_model!r} is not one of {list(classifiers)}.")
    try:
        diagnosis.cam = (explain.cam if heatmap is None else heatmap)(classifiers[cam_model],
                                                                      picture)
    except ValueError:
        diagnosis.cam = explain.grad_cam(classifiers[cam_model], picture)
        diagnosis.notes.append(f"{cam_model}: Grad-CAM (its head does not allow a classic CAM)")
    diagnosis.cam_model = cam_model
    return diagnosis


def format_diagnosis(diagnosis: Diagnosis, name: str | None = None) -> str:
    """The diagnosis as plain text, disclaimer first. Taught in 08_visualisation_and_demo."""
    lines = [f"⚠ {DISCLAIMER}", ""]
    if name:
        lines.append(f"image: {name}")
    for model, probability in diagnosis.probabilities.items():
        weight = diagnosis.class_weights[model]
        lines.append(f"  {model:<22} melanoma probability {probability:.3f}  (weight {weight:.2f})")
    lines.append(f"  {'fused':<22} melanoma probability {diagnosis.fused_probability:.3f}  -> "
                 f"{diagnosis.label} at threshold {diagnosis.threshold:.2f}")
    if diagnosis.mask is not None:
        lines.append(f"  fused lesion mask ({' + '.join(diagnosis.segmenters)}): "
                     f"{diagnosis.lesion_fraction:.0%} of the image")
    lines.extend(f"  note: {note}" for note in diagnosis.notes)
    return "\n".join(lines)


def render(image, diagnosis: Diagnosis, title: str | None = None):
    """Figure: the image with the fused mask's outline, the CAM overlay, and the probabilities
    as bars with the threshold; the disclaimer on top. Taught in 08_visualisation_and_demo."""
    import matplotlib.pyplot as plt

    from .explain import overlay

    size = diagnosis.cam.shape[0] if diagnosis.cam is not None else None
    picture = read_image(image, size or np.asarray(image).shape[0])
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.6), gridspec_kw={"width_ratios": [1, 1, 1.25]})
    axes[0].imshow(picture)
    if diagnosis.mask is not None and diagnosis.mask.any():
        axes[0].contour(diagnosis.mask, levels=[0.5], colors="lime", linewidths=1.5)
    axes[0].set_title("image + fused lesion mask" if diagnosis.mask is not None else "image",
                      fontsize=9)
    if diagnosis.cam is not None:
        axes[1].imshow(overlay(picture, diagnosis.cam))
        axes[1].set_title(f"CAM (melanoma) of {diagnosis.cam_model}", fontsize=9)
    for ax in axes[:2]:
        ax.axis("off")
    names = list(diagnosis.probabilities) + ["fused"]
    values = list(diagnosis.probabilities.values()) + [diagnosis.fused_probability]
    colours = ["#8c9fb5"] * (len(names) - 1) + ["#c0392b" if diagnosis.fused_probability >
                                                 diagnosis.threshold else "#2e86c1"]
    bars = axes[2].barh(names[::-1], values[::-1], color=colours[::-1])
    axes[2].bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    axes[2].axvline(diagnosis.threshold, color="k", ls="--", lw=1)
    axes[2].set(xlim=(0, 1.12), xlabel="melanoma probability")
    axes[2].set_title(f"fused: {diagnosis.label}", fontsize=9)
    fig.suptitle("TEACHING MODEL — NOT A DIAGNOSTIC TOOL" + (f"\n{title}" if title else ""),
                 fontsize=10, color="#b03a2e", fontweight="bold")
    fig.tight_layout()
    return fig


class DemoApp:
    """The demo's state and callbacks, testable without widgets (08_visualisation_and_demo): the
    ``analyse_*`` methods return ``(text, figure)``; a bad upload gives ``(its error, None)``."""

    def __init__(self, classifiers: Mapping, segmenters: Mapping | None = None,
                 examples: Mapping | None = None, **diagnose_options):
        if not classifiers:
            raise ValueError("DemoApp needs at least one classifier {name: model}.")
        self.classifiers = dict(classifiers)
        self.segmenters = dict(segmenters or {})
        self.examples = dict(examples or {})
        self.options = diagnose_options
        self.image_size = _input_size(next(iter(self.classifiers.values())))

    def analyse(self, image, name: str):
        diagnosis = diagnose(image, self.classifiers, self.segmenters, **self.options)
        return format_diagnosis(diagnosis, name), render(image, diagnosis, title=name)

    def analyse_example(self, label: str):
        if label not in self.examples:
            raise ValueError(f"No example {label!r}; choose one of {list(self.examples)}.")
        return self.analyse(self.examples[label], label)

    def analyse_upload(self, value):
        try:
            name, image = read_upload(value, self.image_size)
        except UnreadableImageError as error:
            return f"⚠ {error}", None
        return self.analyse(image, name)


def build_demo(classifiers: Mapping, segmenters: Mapping | None = None,
               examples: Mapping | None = None, **diagnose_options):
    """The ipywidgets demo under the :data:`DISCLAIMER` (08_visualisation_and_demo). Returns the
    box; ``box.app`` is the :class:`DemoApp`, ``box.controls`` the widgets by name."""
    import html

    import ipywidgets as widgets

    from .widgets import figure_png

    app = DemoApp(classifiers, segmenters, examples, **diagnose_options)
    note = widgets.HTML(
        f"<div style='border:2px solid #b03a2e;padding:6px;color:#b03a2e'><b>⚠ {DISCLAIMER}</b>"
        "</div>")
    chooser = widgets.Dropdown(options=list(app.examples), description="example",
                               layout=widgets.Layout(width="50%"))
    upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload")
    text = widgets.HTML()
    figure = widgets.Image(format="png", layout=widgets.Layout(display="none"))

    def show(message, fig):
        text.value = f"<pre style='line-height:1.3'>{html.escape(message)}</pre>"
        if fig is None:
            figure.layout.display = "none"
        else:
            figure.value = figure_png(fig)
            figure.layout.display = None

    def on_example(change):
        if change["new"] is not None:
            show(*app.analyse_example(change["new"]))

    def on_upload(change):
        show(*app.analyse_upload(change["new"]))

    chooser.observe(on_example, names="value")
    upload.observe(on_upload, names="value")
    box = widgets.VBox([note, widgets.HBox([chooser, upload]), text, figure])
    box.app = app
    box.controls = {"example": chooser, "upload": upload, "text": text, "figure": figure}
    if app.examples:
        on_example({"new": chooser.value})
    return box
