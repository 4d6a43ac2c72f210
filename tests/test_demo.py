"""course_lib.demo: reading images and uploads, diagnose(), the text, the figure and the widget."""
from __future__ import annotations

import io

import numpy as np
import pytest

import course_lib  # noqa: F401 - sets the TensorFlow log level before keras is imported
import keras
from keras import layers
from PIL import Image

from course_lib import demo, explain

SIZE = 16


def _encode(array, fmt="PNG", mode=None) -> bytes:
    picture = Image.fromarray(array) if mode is None else Image.fromarray(array, mode=mode)
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt)
    return buffer.getvalue()


def _photo(height=24, width=32) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def classifier(seed=0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="last")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(x))


def unet_like(seed=0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    return keras.Model(inputs, layers.Conv2D(1, 1, activation="sigmoid")(x))


# --------------------------------------------------------------------------- reading
def test_read_image_from_png_jpeg_path_and_arrays(tmp_path):
    photo = _photo()
    from_png = demo.read_image(_encode(photo), SIZE)
    assert from_png.shape == (SIZE, SIZE, 3) and from_png.dtype == np.uint8
    expected = np.asarray(Image.fromarray(photo).resize((SIZE, SIZE), Image.BILINEAR))
    np.testing.assert_array_equal(from_png, expected)
    assert demo.read_image(_encode(photo, "JPEG"), SIZE).shape == (SIZE, SIZE, 3)
    path = tmp_path / "lesion.png"
    path.write_bytes(_encode(photo))
    np.testing.assert_array_equal(demo.read_image(path, SIZE), from_png)
    np.testing.assert_array_equal(demo.read_image(photo, SIZE), from_png)
    # floats in [0, 1] are scaled; an image of the right size is returned unchanged
    same = photo[:SIZE, :SIZE]
    np.testing.assert_array_equal(demo.read_image(same / 255.0, SIZE), same)


def test_read_image_converts_grey_and_transparent_images():
    grey = np.full((20, 20), 90, dtype=np.uint8)
    assert (demo.read_image(_encode(grey), SIZE) == 90).all()
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:10, :, 3] = 255      # top half opaque red, bottom half transparent -> white
    result = demo.read_image(_encode(rgba), 20)
    np.testing.assert_array_equal(result[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(result[-1, 0], [255, 255, 255])


@pytest.mark.parametrize("source, message", [
    (b"", "empty"),
    (b"this is not an image at all", "Could not read"),
    (_encode(_photo())[:40], "Could not read"),          # a truncated PNG
    (np.zeros((8, 8, 3), dtype=np.uint8), "at least 16x16"),
    (np.zeros((20, 20, 2), dtype=np.uint8), "shape"),
    ("/no/such/file.jpg", "No image file"),
])
def test_unreadable_images_get_a_clear_message(source, message):
    with pytest.raises(demo.UnreadableImageError, match=message):
        demo.read_image(source, SIZE)


def test_read_upload_for_both_ipywidgets_versions():
    content = _encode(_photo())
    version8 = ({"name": "mole.png", "type": "image/png", "size": len(content),
                 "content": memoryview(content), "last_modified": 0},)
    name, image = demo.read_upload(version8, SIZE)
    assert name == "mole.png" and image.shape == (SIZE, SIZE, 3)
    version7 = {"old.png": {"metadata": {}, "content": content}}
    assert demo.read_upload(version7, SIZE)[0] == "old.png"
    with pytest.raises(demo.UnreadableImageError, match="No file was uploaded"):
        demo.read_upload((), SIZE)
    with pytest.raises(demo.UnreadableImageError, match="'notes.txt'"):
        demo.read_upload(({"name": "notes.txt", "content": memoryview(b"hello")},), SIZE)


# --------------------------------------------------------------------------- diagnose
def test_diagnose_runs_fuses_and_explains():
    classifiers = {"a": classifier(0), "b": classifier(1)}
    segmenters = {"u1": unet_like(0), "u2": unet_like(1)}
    photo = _photo()
    diagnosis = demo.diagnose(_encode(photo), classifiers, segmenters,
                              class_weights={"a": 3, "b": 1})
    image = demo.read_image(_encode(photo), SIZE)[None].astype("float32")
    p_a = float(np.asarray(classifiers["a"](image))[0, 1])
    p_b = float(np.asarray(classifiers["b"](image))[0, 1])
    assert diagnosis.probabilities["a"] == pytest.approx(p_a, abs=1e-6)
    assert diagnosis.fused_probability == pytest.approx(0.75 * p_a + 0.25 * p_b, abs=1e-6)
    assert diagnosis.label == ("melanoma-like" if diagnosis.fused_probability > 0.5
                               else "benign-like")
    maps = [np.squeeze(np.asarray(segmenters[n](image))) for n in ("u1", "u2")]
    np.testing.assert_allclose(diagnosis.prob_map, (maps[0] + maps[1]) / 2, atol=1e-6)
    np.testing.assert_array_equal(diagnosis.mask, diagnosis.prob_map > 0.5)
    np.testing.assert_allclose(diagnosis.cam, explain.cam(classifiers["a"], image[0]), atol=1e-6)
    assert diagnosis.cam_model == "a"
    assert diagnosis.lesion_fraction == pytest.approx(diagnosis.mask.mean())

    text = demo.format_diagnosis(diagnosis, "mole.png")
    assert text.startswith("⚠ " + demo.DISCLAIMER)
    assert f"{diagnosis.fused_probability:.3f}" in text and "mole.png" in text


def test_diagnose_threshold_and_errors():
    classifiers = {"a": classifier(0)}
    photo = _photo()
    low = demo.diagnose(photo, classifiers, threshold=0.0)
    assert low.label == "melanoma-like" and low.mask is None
    assert demo.diagnose(photo, classifiers, threshold=1.0).label == "benign-like"
    with pytest.raises(ValueError, match="classifiers"):
        demo.diagnose(photo, {})
    with pytest.raises(ValueError, match="one weight per model"):
        demo.diagnose(photo, classifiers, class_weights={"z": 1})
    with pytest.raises(demo.UnreadableImageError):
        demo.diagnose(b"garbage", classifiers)


def test_render_shows_the_disclaimer():
    import matplotlib

    matplotlib.use("Agg")
    diagnosis = demo.diagnose(_photo(), {"a": classifier(0)}, {"u": unet_like(0)})
    fig = demo.render(_photo(), diagnosis, title="example")
    assert "NOT A DIAGNOSTIC TOOL" in fig._suptitle.get_text()
    assert len(fig.axes) == 3


# --------------------------------------------------------------------------- app and widget
def test_app_reports_an_unreadable_upload_without_raising():
    app = demo.DemoApp({"a": classifier(0)}, {"u": unet_like(0)},
                       examples={"first": _photo()})
    text, figure = app.analyse_upload(({"name": "broken.jpg", "content": memoryview(b"\xff\xd8")},))
    assert figure is None
    assert text.startswith("⚠ Could not read 'broken.jpg' as an image")
    text, figure = app.analyse_example("first")
    assert figure is not None and "fused" in text
    with pytest.raises(ValueError, match="No example"):
        app.analyse_example("second")


def test_widget_shows_the_note_and_handles_uploads():
    import matplotlib

    matplotlib.use("Agg")
    box = demo.build_demo({"a": classifier(0)}, {"u": unet_like(0)},
                          examples={"first": _photo(), "second": _photo(30, 30)})
    assert "NOT a diagnostic tool" in box.children[0].value
    controls = box.controls
    assert "fused" in controls["text"].value            # the first example is shown at once
    assert controls["figure"].value[:4] == b"\x89PNG"
    from datetime import datetime, timezone

    controls["upload"].value = ({"name": "bad.png", "type": "image/png", "size": 3,
                                 "content": memoryview(b"bad"),
                                 "last_modified": datetime.now(timezone.utc)},)
    assert "Could not read" in controls["text"].value and "bad.png" in controls["text"].value
    assert controls["figure"].layout.display == "none"
    controls["example"].value = "second"
    assert "second" in controls["text"].value and controls["figure"].layout.display is None


def test_diagnose_shows_an_injected_heatmap():
    """08_visualisation_and_demo passes the student's CAM; the default stays explain.cam."""
    classifiers = {"a": classifier(0), "b": classifier(1)}
    photo = _photo()
    seen = []

    def flat(model, image):
        seen.append((model, np.shape(image)))
        return np.full(np.shape(image)[:2], 0.25, dtype=np.float32)

    diagnosis = demo.diagnose(photo, classifiers, heatmap=flat, cam_model="b")
    assert seen == [(classifiers["b"], (SIZE, SIZE, 3))]
    np.testing.assert_array_equal(diagnosis.cam, np.full((SIZE, SIZE), 0.25, np.float32))
    app = demo.DemoApp(classifiers, heatmap=flat)
    text, figure = app.analyse(photo, "photo")
    assert len(seen) == 2 and "photo" in text
