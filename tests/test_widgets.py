"""Tests of course_lib.widgets (the explorers of notebooks 01 and 02) and the plot helpers those
notebooks added to course_lib.viz. No browser: the drawing functions return Figures, and the
explorers are driven by setting their widgets' values."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib import augment, viz, widgets  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def toy_data(n=4, size=24, seed=0):
    """Images whose lesion (mask) is a bright, off-centre rectangle, so every rotation and mirror
    moves it somewhere else."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 100, (n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    masks[:, 2:9, 3:15] = 255
    images[masks > 0] = 230
    labels = np.arange(n) % 2
    return images, masks, labels


# --------------------------------------------------------------------------------------------
# explorer_params
# --------------------------------------------------------------------------------------------

def test_explorer_params_per_op():
    assert widgets.explorer_params("rot90") == {}
    assert widgets.explorer_params("flip_v", crop_fraction=0.5) == {}
    assert widgets.explorer_params("center_crop", crop_fraction=0.6) == {"fraction": 0.6}
    assert widgets.explorer_params("brightness", brightness_factor=0.7) == {"factor": 0.7}
    assert widgets.explorer_params("occlusion", occlusion_max_fraction=0.3, fill="mean") == {
        "max_fraction": 0.3, "fill": "mean"}
    with pytest.raises(ValueError, match="Valid ops"):
        widgets.explorer_params("rotate")


# --------------------------------------------------------------------------------------------
# draw_augmentation
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", augment.OPS)
def test_draw_augmentation_draws_what_apply_returns(op):
    images, masks, _ = toy_data()
    params = widgets.explorer_params(op, brightness_factor=1.5)
    fig = widgets.draw_augmentation(images[1], masks[1], op, seed=3, **params)
    expected_image, expected_mask = augment.apply(op, images[1], masks[1],
                                                  rng=np.random.default_rng(3), **params)
    axes = fig.axes
    assert len(axes) == 3
    np.testing.assert_array_equal(np.asarray(axes[0].images[0].get_array()), images[1])
    np.testing.assert_array_equal(np.asarray(axes[1].images[0].get_array()), expected_image)
    np.testing.assert_array_equal(np.asarray(axes[2].images[0].get_array()), expected_mask)
    np.testing.assert_array_equal(fig.augmented[0], expected_image)
    # The mask panel says whether the mask moved: geometric ops move this off-centre lesion.
    moved = op in augment.GEOMETRIC_OPS
    assert ("moved with the image" if moved else "unchanged") in axes[2].get_title()
    assert axes[1].get_title().startswith(op)
    # Both image panels carry a mask contour.
    assert len(axes[0].collections) >= 1 and len(axes[1].collections) >= 1


def test_draw_augmentation_title_lists_parameters_and_rejects_bad_ones():
    images, masks, _ = toy_data()
    fig = widgets.draw_augmentation(images[0], masks[0], "center_crop", fraction=0.5,
                                    title="crop")
    assert fig.axes[1].get_title() == "center_crop(fraction=0.50)"
    assert fig._suptitle.get_text() == "crop"
    with pytest.raises(ValueError, match="Unknown parameter"):
        widgets.draw_augmentation(images[0], masks[0], "rot90", fraction=0.5)


def test_figure_png_closes_the_figure():
    fig = viz.plot_same_fraction([0, 1], [1, 1])
    number = fig.number
    data = widgets.figure_png(fig)
    assert data.startswith(PNG_MAGIC)
    assert number not in plt.get_fignums()


# --------------------------------------------------------------------------------------------
# augmentation_explorer
# --------------------------------------------------------------------------------------------

def test_augmentation_explorer_redraws_on_every_control():
    import ipywidgets

    images, masks, labels = toy_data()
    box = widgets.augmentation_explorer(images, masks, labels=labels,
                                        ids=["a", "b", "c", "d"])
    assert isinstance(box, ipywidgets.VBox)
    picture = box.children[-1]
    assert isinstance(picture, ipywidgets.Image) and bytes(picture.value).startswith(PNG_MAGIC)
    assert box.state["op"] == augment.OPS[0] and box.state["index"] == 0
    labels_shown = [text for text, _ in box.controls["image"].options]
    assert labels_shown[1] == "1 · b · melanoma" and labels_shown[2] == "2 · c · benign"

    before = bytes(picture.value)
    box.controls["image"].value = 2
    assert box.state["index"] == 2 and bytes(picture.value) != before
    expected = augment.apply(augment.OPS[0], images[2], masks[2])
    np.testing.assert_array_equal(box.state["augmented"][0], expected[0])

    box.controls["op"].value = "center_crop"
    box.controls["crop_fraction"].value = 0.5
    assert box.state["params"] == {"fraction": 0.5}
    expected = augment.apply("center_crop", images[2], masks[2], fraction=0.5)
    np.testing.assert_array_equal(box.state["augmented"][1], expected[1])

    box.controls["op"].value = "occlusion"
    box.controls["seed"].value = 7
    expected = augment.apply("occlusion", images[2], masks[2], rng=np.random.default_rng(7),
                             max_fraction=0.15, fill="black")
    np.testing.assert_array_equal(box.state["augmented"][0], expected[0])
    np.testing.assert_array_equal(box.state["augmented"][1], masks[2])


def test_augmentation_explorer_shows_only_the_parameters_of_the_op():
    images, masks, _ = toy_data()
    box = widgets.augmentation_explorer(images, masks)
    controls = box.controls

    def shown():
        return {name for name in ("seed", "crop_fraction", "brightness_factor",
                                  "occlusion_max_fraction", "fill")
                if controls[name].layout.display != "none"}

    controls["op"].value = "rot180"
    assert shown() == set()
    controls["op"].value = "brightness"
    assert shown() == {"brightness_factor"}
    controls["op"].value = "occlusion"
    assert shown() == {"seed", "occlusion_max_fraction", "fill"}
    controls["op"].value = "center_crop"
    assert shown() == {"crop_fraction"}


def test_augmentation_explorer_validates_its_inputs():
    images, masks, labels = toy_data()
    with pytest.raises(ValueError, match="uint8"):
        widgets.augmentation_explorer(images.astype(np.float32), masks)
    with pytest.raises(ValueError, match="matching the images"):
        widgets.augmentation_explorer(images, masks[:, :10])
    with pytest.raises(ValueError, match="one label per image"):
        widgets.augmentation_explorer(images, masks, labels=labels[:2])


# --------------------------------------------------------------------------------------------
# Pair explorer
# --------------------------------------------------------------------------------------------

def pair_panels(fig):
    """The per-pair subfigures of a show_pairs figure (inside the grid below a heading)."""
    if len(fig.subfigs) == 2 and fig.subfigs[1].subfigs:
        return fig.subfigs[1].subfigs
    return fig.subfigs


def test_draw_pair_batch_labels_every_pair():
    from course_lib import pairs

    images, _, _ = toy_data(n=12)
    labels = np.array([0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0])
    sequence = pairs.PairSequence(images, labels, batch_size=6, seed=1)
    fig = widgets.draw_pair_batch(sequence, 1, max_pairs=4)
    first, second = sequence.batch_indices(1)
    titles = [subfigure._suptitle.get_text() for subfigure in pair_panels(fig)
              if subfigure._suptitle is not None]
    assert len(titles) == 4
    for title, a, b in zip(titles, labels[first], labels[second]):
        assert title.endswith("same" if a == b else "different")
        assert title.startswith(augment.CLASS_NAMES[int(a)])
    heading = fig.subfigs[0]._suptitle.get_text()
    assert heading.startswith(f"epoch 0, batch 1: {sequence.methods[1]}")
    n_same = int(np.sum(labels[first][:4] == labels[second][:4]))
    assert heading.endswith(f"{n_same} of 4 pairs same-class")


def test_pair_explorer_follows_epoch_and_batch():
    import ipywidgets

    from course_lib import pairs

    images, _, _ = toy_data(n=12)
    labels = np.array([0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0])
    box = widgets.pair_explorer(images, labels, batch_size=4, seed=2)
    assert isinstance(box, ipywidgets.VBox)
    assert box.controls["batch"].max == 2  # 12 pairs in batches of 4
    reference = pairs.PairSequence(images, labels, batch_size=4, seed=2)
    box.controls["epoch"].value = 3
    box.controls["batch"].value = 1
    reference.set_epoch(3)
    first, second = reference.batch_indices(1)
    assert box.state["epoch"] == 3 and box.state["batch"] == 1
    np.testing.assert_array_equal(box.state["first"], first)
    np.testing.assert_array_equal(box.state["second"], second)
    assert box.state["method"] == reference.methods[1]


# --------------------------------------------------------------------------------------------
# viz helpers of notebooks 01/02
# --------------------------------------------------------------------------------------------

def test_show_pairs_layout_and_validation():
    images, _, _ = toy_data(n=5)
    fig = viz.show_pairs(images, images[::-1], titles=list("abcde"), ncols=2,
                         title_colors=["red"] * 5)
    assert len(fig.subfigs) == 6            # 3 rows x 2 columns, the last one empty
    assert sum(len(sub.axes) for sub in fig.subfigs) == 10
    assert fig.subfigs[0]._suptitle.get_text() == "a"
    fig = viz.show_pairs(images, images, titles=list("abcde"), ncols=2, title="heading")
    assert fig.subfigs[0]._suptitle.get_text() == "heading"
    assert [sub._suptitle.get_text() for sub in pair_panels(fig)[:5]] == list("abcde")
    with pytest.raises(ValueError, match="as many second images"):
        viz.show_pairs(images, images[:3])
    with pytest.raises(ValueError, match="titles"):
        viz.show_pairs(images, images, titles=["x"])


def test_plot_image_sizes_and_overlap():
    fig = viz.plot_image_sizes([(767, 576), (1024, 768), (6688, 4439)], title="sizes")
    offsets = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_array_equal(np.asarray(offsets)[2], [6688, 4439])
    with pytest.raises(ValueError, match="no sizes"):
        viz.plot_image_sizes([])
    fig = viz.plot_overlap({"same": [0.1, 0.2, 0.3], "different": [0.5, 0.6]}, "distance")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "same (n=3)", "different (n=2)"]
    with pytest.raises(ValueError, match="no groups"):
        viz.plot_overlap({}, "x")


def test_plot_same_fraction_draws_the_curve_and_points():
    p = np.linspace(0, 1, 11)
    fig = viz.plot_same_fraction(p, p ** 2 + (1 - p) ** 2, [0.2], [0.68])
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_ydata()[2], 0.68)
    np.testing.assert_allclose(lines[1].get_xydata(), [[0.2, 0.68]])


def test_explorer_shows_slider_values_without_float_noise():
    noisy = 1.5500000000000003   # what JupyterLab's slider handed over (seen in a real browser)
    assert widgets.explorer_params("brightness", brightness_factor=noisy) == {"factor": 1.55}


def test_explorer_labels_fit():
    """The longest label must fit its description width (about 7 px per character)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    masks = np.zeros((2, 16, 16), np.uint8)
    box = widgets.augmentation_explorer(images, masks)
    for control in box.controls.values():
        width = int(control.style.description_width.rstrip("px"))
        assert 7 * len(control.description) <= width, control.description
