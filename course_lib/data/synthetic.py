"""SynthDerm: a synthetic, offline stand-in for the ISIC 2016 dermoscopy data set.

Taught in 00_setup_and_metrics (how one image is built) and 01_data_and_augmentation (loading it
with the same code as ISIC 2016). :func:`render_lesion` draws one image from a random generator:

1. :func:`sample_abcd`: the ABCD attributes (Asymmetry, Border irregularity, Colours, Diameter).
   Melanomas *tend* to be asymmetric, irregular, many-coloured and large, but the two labels'
   distributions overlap, as in real clinics.
2. :func:`draw_skin`: a skin tone from light to darker, blotches and pores.
3. :func:`paint_lesion`: the lesion shape (the ground-truth mask) filled with pigment.
4. :func:`add_artefacts`: hair, bubbles, rulers, colour discs and the dark edge of the field of
   view, as likely for both labels (no shortcut); the mask is the lesion *before* artefacts.

:func:`make_synthderm` writes a data set in the official ISIC 2016 layout, so
:func:`load_synthderm` is simply the ISIC 2016 loader.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    "COLOUR_NAMES", "LESION_COLOURS", "MELANOMA_FRACTION", "ARTEFACT_PROBABILITIES",
    "GENERATOR_VERSION", "sample_abcd", "draw_skin", "paint_lesion", "add_artefacts",
    "render_lesion", "melanoma_count", "synthderm_labels", "synthderm_ids", "image_rng",
    "make_synthderm", "load_synthderm",
]

#: Bump when the drawing code changes: :func:`make_synthderm` then regenerates old folders.
GENERATOR_VERSION = 1

#: Melanoma share of each split in ISIC 2016: 173 of 900 training, 75 of 379 test images.
MELANOMA_FRACTION = {"train": (173, 900), "test": (75, 379)}

#: The six colours of the dermoscopic ABCD rule and roughly how each looks (RGB). Browns and
#: black are drawn as melanin density over the skin (see ``_MELANIN_LEVEL``); blue-grey, red and
#: white are painted on top with these colours.
LESION_COLOURS = {"light brown": (178, 118, 78), "dark brown": (104, 60, 40),
                  "black": (38, 28, 30), "blue-grey": (112, 118, 148), "red": (186, 78, 82),
                  "white": (222, 212, 214)}
COLOUR_NAMES = tuple(LESION_COLOURS)

# Folder and file names of the official ISIC 2016 release (as the challenge's archives extract).
_IMAGE_DIRS = {"train": "ISBI2016_ISIC_Part1_Training_Data",
               "test": "ISBI2016_ISIC_Part1_Test_Data"}
_MASK_DIRS = {"train": "ISBI2016_ISIC_Part1_Training_GroundTruth",
              "test": "ISBI2016_ISIC_Part1_Test_GroundTruth"}
_LABEL_CSVS = {"train": "ISBI2016_ISIC_Part3_Training_GroundTruth.csv",
               "test": "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"}
_SPLIT_CODES = {"train": 0, "test": 1}
_PARAMETERS_FILE = "synthderm.json"
#: Field of view of one image side in millimetres, used only to report diameters in mm.
_FIELD_OF_VIEW_MM = 12.0


# -- Step 1: the ABCD attributes ---------------------------------------------------------------
def sample_abcd(rng: np.random.Generator, label: int) -> dict:
    """Draw the ABCD attributes of one lesion; ``label`` is 1 for melanoma, 0 for benign.

    Taught in 00_setup_and_metrics. Returns a dict: ``label``, ``asymmetry`` and
    ``border_irregularity`` in [0, 1] (0 = symmetric / smooth oval, 1 = lopsided / jagged),
    ``colours`` (names from :data:`COLOUR_NAMES`, base colour first), ``diameter`` (fraction of
    the image side) and ``diameter_mm`` (the image spans 12 mm; the ABCD threshold is 6 mm).
    """
    if label not in (0, 1):
        raise ValueError(f"label must be 0 (benign) or 1 (melanoma), got {label!r}.")
    melanoma = label == 1
    # A and B: Beta distributions, benign mean 0.35, melanoma mean 0.48 -- wide overlap.
    asymmetry = rng.beta(2.9, 3.1) if melanoma else rng.beta(2.1, 3.9)
    border_irregularity = rng.beta(2.9, 3.1) if melanoma else rng.beta(2.1, 3.9)
    # C: how many colours, then which ones. Nevi are mostly one or two browns.
    if melanoma:
        n_colours = 1 + rng.choice(5, p=[0.07, 0.25, 0.36, 0.22, 0.10])
        base = "dark brown" if rng.random() < 0.6 else "light brown"
        extra_weights = {"light brown": 0.15, "dark brown": 0.15, "black": 0.28,
                         "blue-grey": 0.24, "white": 0.10, "red": 0.08}
    else:
        n_colours = 1 + rng.choice(4, p=[0.38, 0.40, 0.17, 0.05])
        base = "light brown" if rng.random() < 0.7 else "dark brown"
        extra_weights = {"light brown": 0.32, "dark brown": 0.32, "black": 0.10,
                         "blue-grey": 0.08, "white": 0.06, "red": 0.12}
    extra_weights.pop(base)
    names = list(extra_weights)
    weights = np.array([extra_weights[name] for name in names])
    extras = rng.choice(len(names), size=n_colours - 1, replace=False,
                        p=weights / weights.sum())
    colours = [base] + [names[index] for index in extras]
    # D: diameter as a fraction of the image side (log-normal, melanomas larger on average).
    mean = 0.56 if melanoma else 0.48
    diameter = float(np.clip(mean * math.exp(rng.normal(0.0, 0.25)), 0.15, 0.85))
    return {"label": int(label), "asymmetry": float(asymmetry),
            "border_irregularity": float(border_irregularity), "colours": colours,
            "diameter": diameter, "diameter_mm": round(diameter * _FIELD_OF_VIEW_MM, 1)}


# -- Small drawing helpers ---------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, image_size: int, cells: float) -> np.ndarray:
    """Smooth random field, about [0, 1]: ``cells`` x ``cells`` random values blown up bicubically
    (fewer cells, larger blobs) by two small matrix products, faster than resizing an image."""
    cells = max(2, int(cells))
    low = rng.random((cells + 2, cells + 2), dtype=np.float32)
    weights = _bicubic_matrix(image_size, cells)
    return weights @ low @ weights.T


@functools.lru_cache(maxsize=512)
def _bicubic_matrix(image_size: int, cells: int) -> np.ndarray:
    """(image_size, cells + 2) matrix of Catmull-Rom weights: row x interpolates pixel x from the
    4 nearest of cells + 2 samples (one spare sample on each side)."""
    position = 0.5 + (np.arange(image_size) + 0.5) * cells / image_size
    left = np.floor(position).astype(int)
    fraction = position - left
    weights = np.zeros((image_size, cells + 2))
    for tap in (-1, 0, 1, 2):
        distance = np.abs(fraction - tap)
        kernel = np.where(distance < 1, 1.5 * distance ** 3 - 2.5 * distance ** 2 + 1,
                          -0.5 * distance ** 3 + 2.5 * distance ** 2 - 4 * distance + 2)
        np.add.at(weights, (np.arange(image_size), np.clip(left + tap, 0, cells + 1)),
                  np.where(distance < 2, kernel, 0.0))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, a smooth S-curve in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _jitter(rng: np.random.Generator, rgb, amount: float) -> np.ndarray:
    """``rgb`` plus a little random variation (standard deviation ``amount``), float32."""
    return np.clip(np.asarray(rgb, np.float32) + rng.normal(0.0, amount, 3), 0, 255).astype(
        np.float32)


def _scale(size: int) -> float:
    """Pixel sizes below are given for 256 px images; this scales them to ``size``."""
    return size / 256.0


def _blend(image: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> None:
    """In place: ``image = image * (1 - alpha) + colour * alpha`` (alpha is H x W)."""
    image += alpha[..., None] * (colour - image)


# -- Step 2: skin ------------------------------------------------------------------------------
def draw_skin(rng: np.random.Generator, image_size: int) -> tuple[np.ndarray, float]:
    """Skin seen through a dermoscope: H x W x 3 float32 in [0, 255] and the tone in [0, 1]
    (0 fair, as most ISIC 2016 images; 1 darker). Taught in 00_setup_and_metrics."""
    size = image_size
    tone = float(rng.beta(1.3, 3.0))
    fair = np.array([234, 200, 190], np.float32) + rng.normal(0, 7, 3).astype(np.float32)
    dark = np.array([160, 112, 86], np.float32)
    base = fair + tone * (dark - fair)
    # Two grey-level maps: brightness (slow shading, fine texture, pores) and redness (blotches
    # of blood flow). Each is added to the skin colour with its own RGB direction.
    brightness = (_smooth_noise(rng, size, 3) - 0.5) * np.float32(rng.uniform(8, 20))
    brightness += (_smooth_noise(rng, size, max(4, size // 3)) - 0.5) * np.float32(
        rng.uniform(6, 14))
    pores = _smooth_noise(rng, size, max(4, size // 6)) > 0.93
    brightness -= pores * np.float32(14 * rng.uniform(0.3, 1.0))
    redness = (_smooth_noise(rng, size, rng.integers(2, 5)) - 0.5) * np.float32(
        rng.uniform(6, 22))
    skin = (base + brightness[..., None]
            + redness[..., None] * np.array([0.4, -1.0, -0.8], np.float32))
    return skin, tone


# -- Step 3: the lesion ------------------------------------------------------------------------
def _outline(rng: np.random.Generator, asymmetry: float, border_irregularity: float,
             n_angles: int = 720) -> np.ndarray:
    """Radius (relative to 1) of the outline for ``n_angles`` directions around the centre.
    Low harmonics (1-3 bumps) make it lopsided (asymmetric), high ones notched and jagged."""
    theta = np.linspace(0.0, 2.0 * np.pi, n_angles, endpoint=False)
    radius = np.ones(n_angles)
    # Asymmetry: a bulge on one side (k = 1 with a k = 2 partner makes an egg / kidney shape) and
    # a three-lobed part. Small amplitudes for all lesions, large ones only when asymmetric.
    for k, weight in ((1, 0.30), (2, 0.16), (3, 0.16)):
        amplitude = weight * (0.12 + asymmetry) * rng.uniform(0.5, 1.0)
        radius += amplitude * np.cos(k * theta - rng.uniform(0, 2 * np.pi))
    # Border irregularity: harmonics 4..24 with amplitudes falling like 1/k, plus pixel jitter.
    for k in range(4, 25):
        amplitude = 0.55 * border_irregularity ** 1.5 / k * rng.uniform(0.2, 1.0)
        radius += amplitude * np.cos(k * theta - rng.uniform(0, 2 * np.pi))
    jitter = rng.normal(0, 1, n_angles)
    jitter = np.convolve(np.concatenate([jitter[-2:], jitter, jitter[:2]]), np.ones(5) / 5,
                         mode="valid")
    radius += 0.05 * border_irregularity ** 2 * jitter
    return np.clip(radius, 0.25, None)


def _network(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, size: int,
             irregularity: float) -> np.ndarray:
    """Pigment network in [0, 1]: two families of wavy lines in the lesion's frame enclosing
    lighter "holes", like a naevus's honeycomb; coarser and more distorted when irregular."""
    meshes = min(rng.uniform(35.0, 55.0) * (1.0 - 0.3 * irregularity), size / 4.0)
    # Warp the grid with two scales of smooth noise so the holes differ in size and shape.
    wobble = np.float32(rng.uniform(0.7, 1.0) * (1.0 + 1.2 * irregularity))
    warp_cells = meshes / rng.uniform(2.5, 4.0)

    def warp() -> np.ndarray:
        return wobble * (_smooth_noise(rng, size, warp_cells) - 0.5
                         + 0.4 * _smooth_noise(rng, size, 2.5 * warp_cells))

    across = np.abs(np.sin(np.float32(np.pi) * (u * np.float32(meshes) + warp())))
    along = np.abs(np.sin(np.float32(np.pi) * (v * np.float32(meshes) + warp())))
    hole = np.sqrt(across * along)      # 1 in the middle of a hole, 0 on a line
    return _smoothstep(1.0 - hole / np.float32(rng.uniform(0.7, 1.0)))


def paint_lesion(rng: np.random.Generator, skin: np.ndarray, attributes: dict,
                 skin_tone: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Draw the lesion described by ``attributes`` onto ``skin``; returns (image, mask).

    Taught in 00_setup_and_metrics. ``image`` is float32 H x W x 3, ``mask`` the bool H x W
    ground-truth outline. Browns and black are melanin density (darkening the skin, blue most);
    blue-grey, red and white are painted on top. Colour patches sit off-centre in an asymmetric
    lesion.
    """
    size, colours = skin.shape[0], attributes["colours"]
    asymmetry, border = attributes["asymmetry"], attributes["border_irregularity"]
    # Where and how the lesion sits: centre near the middle, any rotation, slightly oval.
    centre = 0.5 + rng.normal(0.0, 0.045, 2)
    rotation = rng.uniform(0, np.pi)
    elongation = rng.uniform(1.0, 1.4)
    mean_radius = attributes["diameter"] / 2.0
    outline = _outline(rng, asymmetry, border)
    # Polar coordinates of every pixel around the centre, in the rotated, stretched frame.
    coordinates = (np.arange(size, dtype=np.float32) + 0.5) / size
    dx = coordinates[None, :] - np.float32(centre[0])
    dy = coordinates[:, None] - np.float32(centre[1])
    cos_r, sin_r = np.float32(math.cos(rotation)), np.float32(math.sin(rotation))
    u = (dx * cos_r + dy * sin_r) / np.float32(math.sqrt(elongation))
    v = (dy * cos_r - dx * sin_r) * np.float32(math.sqrt(elongation))
    rho = np.hypot(u, v)
    angle_index = ((np.arctan2(v, u) + np.pi) * (len(outline) / (2 * np.pi))).astype(np.int32)
    boundary = outline.astype(np.float32)[angle_index % len(outline)] * np.float32(mean_radius)
    depth = 1.0 - rho / boundary          # 1 at the centre, 0 on the outline, < 0 outside
    mask = depth > 0
    # Melanin density: the base colour's level, mottled, then one patch per extra colour.
    base_level = _MELANIN_LEVEL[colours[0]] * rng.uniform(0.85, 1.15)
    mottle = _smooth_noise(rng, size, max(4, size // 12)) - 0.5
    density = np.float32(base_level) * (1.0 + 0.5 * mottle)
    overlays = []
    for name in colours[1:]:
        region = _colour_region(rng, coordinates, centre, mean_radius, asymmetry, depth, mask,
                                central=name in ("white", "red", "blue-grey"))
        if name in _MELANIN_LEVEL:
            level = _MELANIN_LEVEL[name] * rng.uniform(0.85, 1.2)
            density += region * (np.float32(level) - density)
        else:
            overlays.append((name, region))
    if rng.random() < 0.8:
        network = _network(rng, u, v, size, border)
        density *= 1.0 + np.float32(rng.uniform(0.12, 0.4)) * (network - 0.4)
    if "black" in colours or rng.random() < 0.3:
        dots = _dots(rng, size, centre, mean_radius, asymmetry)
        density += dots * np.float32(2.2 if "black" in colours else 1.0)
    # Fade towards the outline: the rim is where the pigment thins out into the skin; a little
    # pigment is left on the outline itself, which is where an annotator would draw it.
    rim = rng.uniform(0.1, 0.4)
    profile = _smoothstep(0.3 + depth / np.float32(rim))
    density *= profile
    image = skin * _transmission(density)
    for name, region in overlays:
        # Cloudy, not flat: the patch's opacity varies with a fine random texture.
        cloud = 0.55 + 0.45 * _smooth_noise(rng, size, max(4, size // 10))
        strength = np.float32(rng.uniform(0.4, 0.7))
        colour = _jitter(rng, LESION_COLOURS[name], 8) * np.float32(1.0 - 0.15 * skin_tone)
        _blend(image, colour, region * profile * cloud * strength)
    return image, mask


#: Melanin density that makes each of the three melanin colours (0 = bare skin).
_MELANIN_LEVEL = {"light brown": 0.7, "dark brown": 1.45, "black": 2.8}
#: How strongly melanin absorbs red, green and blue light: blue most, so skin turns brown.
_MELANIN_ABSORPTION = np.array([0.6, 1.1, 1.6], np.float32)


def _transmission(density: np.ndarray) -> np.ndarray:
    """Fraction of each colour's light that passes ``density`` of melanin (H x W x 3): Beer-Lambert
    exp(-absorption * density), flattened for thick pigment so black stays dark grey-brown;
    looked up in :data:`_TRANSMISSION_TABLE` (one row per 1/128 of density), faster than exp."""
    index = np.clip(density * np.float32(_TABLE_STEPS), 0, len(_TRANSMISSION_TABLE) - 1)
    return _TRANSMISSION_TABLE[index.astype(np.int32)]


def _transmission_table(steps: int = 128, max_density: float = 6.0) -> np.ndarray:
    density = np.arange(int(steps * max_density) + 1, dtype=np.float64) / steps
    optical = density[:, None] * _MELANIN_ABSORPTION
    return np.exp(-optical / (1.0 + 0.25 * optical)).astype(np.float32)


_TABLE_STEPS = 128
_TRANSMISSION_TABLE = _transmission_table(_TABLE_STEPS)


def _colour_region(rng, coordinates, centre, mean_radius, asymmetry, depth, mask,
                   central=False) -> np.ndarray:
    """Soft patch (0..1) over 15-45 % of the lesion, off-centre when the lesion is asymmetric."""
    size = len(coordinates)
    direction = rng.uniform(0, 2 * np.pi)
    offset = asymmetry * rng.uniform(0.3, 0.8) * mean_radius
    cx = centre[0] + offset * math.cos(direction)
    cy = centre[1] + offset * math.sin(direction)
    bump = np.exp(-((coordinates[None, :] - np.float32(cx)) ** 2
                    + (coordinates[:, None] - np.float32(cy)) ** 2)
                  / np.float32(2 * (0.55 * mean_radius) ** 2))
    cells = 2.5 / max(mean_radius * 2, 0.1) * rng.uniform(1.0, 2.0)
    field = (_smooth_noise(rng, size, cells) + 0.35 * _smooth_noise(rng, size, 3 * cells)
             + 0.9 * bump)
    if central:
        field += 0.3 * depth       # veil, regression and redness sit in the middle
    if mask.any():
        coverage = rng.uniform(0.15, 0.45)
        threshold = np.quantile(field[mask][::5], 1.0 - coverage)
    else:
        threshold = 1.0
    return _smoothstep((field - np.float32(threshold)) / np.float32(rng.uniform(0.08, 0.25)))


def _dots(rng, size, centre, mean_radius, asymmetry) -> np.ndarray:
    """Dots and globules (0..1): round spots clustered off-centre when the lesion is asymmetric."""
    n_dots = int(rng.integers(6, 30))
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    direction = rng.uniform(0, 2 * np.pi)
    shift = asymmetry * 0.5 * mean_radius * np.array([math.cos(direction), math.sin(direction)])
    points = (centre + shift + rng.normal(0, 0.45 * mean_radius, (n_dots, 2))) * size
    radii = rng.uniform(0.004, 0.016, n_dots) * size + 0.4
    shades = rng.integers(120, 256, n_dots)
    for (x, y), radius, shade in zip(points, radii, shades):
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=int(shade))
    layer = layer.filter(ImageFilter.GaussianBlur(0.4 * _scale(size)))
    return np.asarray(layer, np.float32) * np.float32(1 / 255)


# -- Step 4: artefacts (same probabilities for both labels) ------------------------------------
#: How often each artefact appears; the same for benign and melanoma images.
ARTEFACT_PROBABILITIES = {"hair": 0.35, "bubbles": 0.2, "ruler": 0.12, "colour_disc": 0.05,
                          "vignette": 0.3}


def _add_hair(rng, image: np.ndarray) -> None:
    """Thin, dark, curved and slightly wavy strands."""
    size = image.shape[0]
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    t = np.linspace(0.0, 1.0, 40)[:, None]
    for _ in range(int(rng.integers(1, 16))):
        width = max(1, int(round(rng.uniform(0.7, 2.2) * _scale(size))))
        start = rng.uniform(-0.1, 1.1, 2)
        direction = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(0.2, 0.9)
        along = np.array([math.cos(direction), math.sin(direction)])
        across = np.array([-along[1], along[0]])
        # A bend (parabola) plus a small wave, both across the strand's direction.
        offset = (rng.normal(0, 0.25) * 4 * t * (1 - t)
                  + rng.uniform(0, 0.015) * np.sin(2 * np.pi * rng.uniform(2, 6) * t
                                                   + rng.uniform(0, 2 * np.pi)))
        curve = (start + length * t * along + length * offset * across) * size
        draw.line([tuple(point) for point in curve], fill=int(rng.integers(170, 256)),
                  width=width, joint="curve")
    alpha = np.asarray(layer.filter(ImageFilter.GaussianBlur(0.4 * _scale(size))), np.float32)
    hair_colour = _jitter(rng, (40, 30, 28), 8)
    _blend(image, hair_colour, alpha * np.float32(rng.uniform(0.75, 0.95) / 255))


def _add_bubbles(rng, image: np.ndarray) -> None:
    """Gel or air bubbles: a light ring, a faint light inside and a bright highlight."""
    size = image.shape[0]
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(1, 12))):
        x, y = rng.uniform(0, size, 2)
        radius = rng.uniform(0.008, 0.06) * size + 1
        ring_width = max(1, int(round(radius / 8)))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=35, outline=190,
                     width=ring_width)
        spot = radius * 0.25
        hx, hy = x - radius * 0.45, y - radius * 0.45
        draw.ellipse((hx - spot, hy - spot * 0.7, hx + spot, hy + spot * 0.7), fill=255)
    alpha = np.asarray(layer.filter(ImageFilter.GaussianBlur(0.5 * _scale(size))), np.float32)
    _blend(image, np.array([250, 250, 250], np.float32), alpha * np.float32(0.85 / 255))


def _add_ruler(rng, image: np.ndarray) -> None:
    """A millimetre scale along one edge: dark ticks, every fifth one longer."""
    size = image.shape[0]
    strip = max(4, int(rng.uniform(0.04, 0.08) * size))
    inset = int(rng.uniform(0.0, 0.05) * size)
    layer = Image.new("L", (size, size), 0)       # drawn for the bottom edge, then rotated
    draw = ImageDraw.Draw(layer)
    spacing = rng.uniform(0.02, 0.035) * size
    tick_width = max(1, int(round(_scale(size))))
    bottom = size - 1 - inset
    position, index = rng.uniform(0, spacing), 0
    while position < size:
        length = strip * (1.0 if index % 5 == 0 else 0.5)
        draw.line([(position, bottom), (position, bottom - length)], fill=255, width=tick_width)
        position += spacing
        index += 1
    draw.line([(0, bottom), (size, bottom)], fill=200, width=tick_width)
    alpha = np.rot90(np.asarray(layer, np.float32), int(rng.integers(0, 4)))
    _blend(image, np.array([35, 35, 40], np.float32), alpha * np.float32(0.8 / 255))


def _add_colour_disc(rng, image: np.ndarray) -> None:
    """A colour calibration disc cut off by a corner: coloured sectors with a dark rim."""
    size = image.shape[0]
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    radius = rng.uniform(0.12, 0.2) * size
    corner_x, corner_y = rng.choice([0, size], 2)
    x = corner_x + (radius * 0.3 if corner_x == 0 else -radius * 0.3)
    y = corner_y + (radius * 0.3 if corner_y == 0 else -radius * 0.3)
    box = (x - radius, y - radius, x + radius, y + radius)
    sectors = [(200, 200, 200), (90, 90, 90), (190, 60, 60), (70, 150, 80), (60, 80, 170),
               (220, 200, 80)]
    start = rng.uniform(0, 360)
    for number, colour in enumerate(sectors):
        draw.pieslice(box, start + 60 * number, start + 60 * (number + 1), fill=colour + (255,))
    draw.ellipse(box, outline=(20, 20, 20, 255), width=max(1, int(2 * _scale(size))))
    rgba = np.asarray(layer, np.float32)
    _blend(image, rgba[..., :3], rgba[..., 3] / 255)


def _add_vignette(rng, image: np.ndarray) -> None:
    """The dermoscope's round field of view: black outside a soft-edged circle."""
    size = image.shape[0]
    coordinates = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    centre = rng.normal(0, 0.03, 2)
    distance = np.hypot(coordinates[None, :] - np.float32(centre[0]),
                        coordinates[:, None] - np.float32(centre[1]))
    radius = np.float32(rng.uniform(0.45, 0.66))
    softness = np.float32(rng.uniform(0.01, 0.05))
    darkness = _smoothstep((distance - radius) / softness + 0.5)
    image *= (1.0 - np.float32(0.95) * darkness)[..., None]


def add_artefacts(rng: np.random.Generator, image: np.ndarray) -> list[str]:
    """Add hair, bubbles, a ruler, a colour disc and/or a vignette in place; returns their names.
    Taught in 00_setup_and_metrics. Each appears with its :data:`ARTEFACT_PROBABILITIES`."""
    size = image.shape[0]
    # Every image: a gentle darkening towards the corners.
    coordinates = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    radius2 = coordinates[None, :] ** 2 + coordinates[:, None] ** 2
    image *= (1.0 - np.float32(rng.uniform(0.0, 0.35)) * radius2)[..., None]
    drawn = []
    for name, draw_artefact in (("bubbles", _add_bubbles), ("hair", _add_hair),
                                ("ruler", _add_ruler), ("colour_disc", _add_colour_disc),
                                ("vignette", _add_vignette)):
        if rng.random() < ARTEFACT_PROBABILITIES[name]:
            draw_artefact(rng, image)
            drawn.append(name)
    return drawn


# -- One image ---------------------------------------------------------------------------------
def render_lesion(rng: np.random.Generator | int, label: int, image_size: int = 256,
                  artefacts: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """Draw one SynthDerm image: returns (image, mask, attributes).

    Taught in 00_setup_and_metrics. ``image`` is uint8 ``(S, S, 3)``, ``mask`` uint8 ``(S, S)``
    0 (skin) / 255 (lesion, before artefacts), ``attributes`` the :func:`sample_abcd` dict plus
    ``skin_tone`` and the ``artefacts`` drawn. ``rng``: a NumPy Generator or an integer seed
    (same seed, same image), e.g. ``render_lesion(0, label=1, image_size=128)``.
    """
    image_size = _check_image_size(image_size)
    rng = np.random.default_rng(rng)
    attributes = sample_abcd(rng, label)
    skin, tone = draw_skin(rng, image_size)
    image, mask = paint_lesion(rng, skin, attributes, skin_tone=tone)
    drawn = add_artefacts(rng, image) if artefacts else []
    attributes.update(skin_tone=round(tone, 3), artefacts=drawn)
    image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    return image, mask.astype(np.uint8) * 255, attributes


# -- Labels, ids and seeds of a whole split ----------------------------------------------------
def melanoma_count(n_images: int, split: str) -> int:
    """How many of ``n_images`` are melanomas: ISIC 2016's ratio, ``round(n * 173 / 900)`` for
    train and ``round(n * 75 / 379)`` for test (at least one melanoma from 5 images on)."""
    melanomas, total = MELANOMA_FRACTION[_check_split(split)]
    return round(n_images * melanomas / total)


def synthderm_labels(n_images: int, split: str) -> np.ndarray:
    """Labels of images 0..n_images-1 (1 = melanoma), melanomas spread evenly: image ``i`` is one
    when ``melanoma_count(i + 1) > melanoma_count(i)``, so every first-n slice has exactly
    :func:`melanoma_count` melanomas and a label never depends on the images after it."""
    counts = np.array([melanoma_count(n, split) for n in range(n_images + 1)])
    return np.diff(counts).astype(np.int64)


#: ISIC ids are shared by the two splits: in every block of ten ids, seven go to training
#: images and three to test images (ISIC 2016 has 900 / 379 images, about 7 : 3).
_ID_SLOTS = {"train": (0, 1, 2, 4, 5, 7, 8), "test": (3, 6, 9)}


def synthderm_ids(n_images: int, split: str) -> list[str]:
    """ISIC-style ids ``ISIC_%07d`` of images 0..n_images-1; train and test ids never collide."""
    slots = _ID_SLOTS[_check_split(split)]
    return ["ISIC_%07d" % (10 * (index // len(slots)) + slots[index % len(slots)])
            for index in range(n_images)]


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of one image, from (seed, split, index) only."""
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_CODES[split], index]))


# -- A whole data set on disk, in the ISIC 2016 layout -----------------------------------------
def _check_split(split: str) -> str:
    if split not in _SPLIT_CODES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    return split


def _check_int(name: str, value, minimum: int, what: str, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be {what}, got {value!r}; pass e.g. {name}={example}.")
    return int(value)


def _check_count(name: str, value) -> int:
    value = _check_int(name, value, 1, "a positive integer (number of images)", 100)
    if value > 1_000_000:
        raise ValueError(f"{name}={value} is more than SynthDerm's 1,000,000 images per split; "
                         "pass a smaller number.")
    return value


def _check_image_size(image_size) -> int:
    return _check_int("image_size", image_size, 16,
                      "an integer of at least 16 (pixels per side)", 256)


def _expected_files(root: Path, n_images: int, split: str) -> list[Path]:
    files = [root / _LABEL_CSVS[split]]
    for image_id in synthderm_ids(n_images, split):
        files.append(root / _IMAGE_DIRS[split] / f"{image_id}.jpg")
        files.append(root / _MASK_DIRS[split] / f"{image_id}_Segmentation.png")
    return files


def _is_complete(root: Path, parameters: dict) -> bool:
    try:
        stored = json.loads((root / _PARAMETERS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if stored != {**parameters, "complete": True}:
        return False
    return all(path.is_file() for split, count in (("train", parameters["n_train"]),
                                                   ("test", parameters["n_test"]))
               for path in _expected_files(root, count, split))


def _remove_old_synthderm(root: Path) -> None:
    """Delete the files an earlier SynthDerm generation wrote (and nothing else)."""
    for split in _SPLIT_CODES:
        for path in (root / _IMAGE_DIRS[split]).glob("ISIC_*.jpg"):
            path.unlink()
        for path in (root / _MASK_DIRS[split]).glob("ISIC_*_Segmentation.png"):
            path.unlink()
        (root / _LABEL_CSVS[split]).unlink(missing_ok=True)


_README = """SynthDerm -- a SYNTHETIC dermoscopy data set (not real patients, not for diagnosis)
================================================================================

Generated by course_lib.data.synthetic.make_synthderm (DermaLite course) with
seed={seed}, n_train={n_train}, n_test={n_test}, image_size={image_size}.

Every image is drawn by code. Labels (benign / malignant = melanoma) follow the ABCD rule with
overlap, at the ISIC 2016 ratio (173 of 900 training, 75 of 379 test images are melanomas).
Hair, bubbles, rulers, colour discs and dark vignettes appear independently of the label.

Folders and CSVs use exactly the official ISIC 2016 layout, so the ISIC 2016 loader reads them:
  ISBI2016_ISIC_Part1_Training_Data/ISIC_xxxxxxx.jpg
  ISBI2016_ISIC_Part1_Training_GroundTruth/ISIC_xxxxxxx_Segmentation.png   (lesion 255, skin 0)
  ISBI2016_ISIC_Part1_Test_Data/, ISBI2016_ISIC_Part1_Test_GroundTruth/
  ISBI2016_ISIC_Part3_Training_GroundTruth.csv   ISIC_xxxxxxx,benign|malignant  (no header, CRLF)
  ISBI2016_ISIC_Part3_Test_GroundTruth.csv       ISIC_xxxxxxx,0.0|1.0           (no header, CRLF)

Results on SynthDerm say that code runs, not how well a model detects skin cancer.
"""


def _write_split(root: Path, split: str, n_images: int, image_size: int, seed: int) -> None:
    image_dir, mask_dir = root / _IMAGE_DIRS[split], root / _MASK_DIRS[split]
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    ids = synthderm_ids(n_images, split)
    labels = synthderm_labels(n_images, split)
    for index, (image_id, label) in enumerate(zip(ids, labels)):
        image, mask, _ = render_lesion(image_rng(seed, split, index), int(label), image_size)
        Image.fromarray(image, mode="RGB").save(image_dir / f"{image_id}.jpg", format="JPEG",
                                                 quality=90)
        Image.fromarray(mask, mode="L").save(mask_dir / f"{image_id}_Segmentation.png",
                                              format="PNG")
    if split == "train":
        rows = [f"{image_id},{'malignant' if label else 'benign'}"
                for image_id, label in zip(ids, labels)]
    else:
        rows = [f"{image_id},{float(label):.1f}" for image_id, label in zip(ids, labels)]
    # Official format: no header, CRLF line ends, no line break after the last row.
    (root / _LABEL_CSVS[split]).write_bytes("\r\n".join(rows).encode("ascii"))


def make_synthderm(root, n_train: int, n_test: int, image_size: int = 256,
                   seed: int = 0) -> Path:
    """Write a SynthDerm data set to ``root`` in the official ISIC 2016 layout; returns ``root``.

    Taught in 00_setup_and_metrics and 01_data_and_augmentation. Byte-identical for the same
    arguments; image ``i`` depends only on (``seed``, split, ``i``). A complete data set with the
    same arguments (``synthderm.json``) is not rewritten; ISIC 2016 files without
    ``synthderm.json`` (perhaps the real data) raise ``FileExistsError`` and are never touched.
    """
    n_train = _check_count("n_train", n_train)
    n_test = _check_count("n_test", n_test)
    image_size = _check_image_size(image_size)
    seed = _check_int("seed", seed, 0, "a non-negative integer", 0)
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise ValueError(f"root {str(root)!r} is a file; pass a folder path for SynthDerm.")
    parameters = {"generator": "SynthDerm", "version": GENERATOR_VERSION, "seed": seed,
                  "n_train": n_train, "n_test": n_test, "image_size": image_size}
    if _is_complete(root, parameters):
        return root
    marker = root / _PARAMETERS_FILE
    if marker.exists():           # an older or interrupted SynthDerm: replace its files
        _remove_old_synthderm(root)
    elif any((root / name).exists() for name in [*_IMAGE_DIRS.values(), *_MASK_DIRS.values(),
                                                 *_LABEL_CSVS.values()]):
        raise FileExistsError(
            f"{root} already holds ISIC 2016 files that SynthDerm did not write (no "
            f"{_PARAMETERS_FILE}); pass an empty or new folder as root so they are not "
            "overwritten.")
    root.mkdir(parents=True, exist_ok=True)
    # The marker is written first (so an interrupted run is recognised as SynthDerm's own and
    # replaced next time) and marked complete last.
    marker.write_text(json.dumps({**parameters, "complete": False}, indent=2) + "\n",
                      encoding="utf-8")
    for split, count in (("train", n_train), ("test", n_test)):
        _write_split(root, split, count, image_size, seed)
    (root / "README.txt").write_text(_README.format(**parameters), encoding="utf-8")
    marker.write_text(json.dumps({**parameters, "complete": True}, indent=2) + "\n",
                      encoding="utf-8")
    return root


def load_synthderm(root, split: str):
    """Load a SynthDerm split with the ISIC 2016 loader (the layouts are identical): the
    :class:`DatasetRecord` of :func:`load_isic2016`. Taught in 01_data_and_augmentation."""
    from .isic2016 import load_isic2016

    return load_isic2016(root, split)
