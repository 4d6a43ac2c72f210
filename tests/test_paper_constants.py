"""Each constant of the paper's protocol is written once, in course_lib.paper (issue 15)."""
from __future__ import annotations

import inspect
import io
import tokenize
from pathlib import Path

import numpy as np
import pytest

from course_lib import config, losses, metrics, paper, train

LIBRARY = Path(paper.__file__).parent


def test_the_protocol_constants_are_the_papers():
    assert (paper.LEARNING_RATE, paper.LR_FACTOR, paper.LR_PATIENCE) == (1e-4, 0.5, 3)
    assert (paper.EPOCHS, paper.BATCH_SIZE) == (50, 32)
    assert (paper.EXPAND_CLASSIFICATION, paper.EXPAND_SEGMENTATION) == (4430, 6900)
    assert (paper.FOCAL_ALPHA, paper.FOCAL_GAMMA) == (0.25, 0.75)
    assert (paper.SEGMENTATION_FOCAL_ALPHA, paper.SEGMENTATION_FOCAL_GAMMA) == (0.75, 1.25)
    assert paper.DC_LOSS_WEIGHTS == {"cls1": 1.0, "cls2": 1.0, "same": 0.5}
    assert paper.MASK_THRESHOLD == 128


def test_the_library_reads_them_from_paper():
    from course_lib.models import discriminant

    for function in (losses.focal_loss, losses.categorical_focal_loss, losses.focal_loss_numpy,
                     losses.paper_eq4_focal_loss, losses.CategoricalFocalLoss.__init__):
        parameters = inspect.signature(function).parameters
        assert parameters["alpha"].default == paper.FOCAL_ALPHA, function
        assert parameters["gamma"].default == paper.FOCAL_GAMMA, function
    assert train.PAPER_LEARNING_RATE is paper.LEARNING_RATE
    assert discriminant.DC_LOSS_WEIGHTS is paper.DC_LOSS_WEIGHTS
    assert config.get_profile("paper").expand_segmentation == paper.EXPAND_SEGMENTATION
    assert config.get_profile("lab").learning_rate == paper.LEARNING_RATE


@pytest.mark.parametrize("value, lesion", [(128, False), (129, True)])
def test_one_mask_rule_at_the_boundary(value, lesion):
    from course_lib.data.pipeline import segmentation_dataset
    from course_lib.explain import inside_fraction

    mask = np.full((4, 4), value, np.uint8)
    mask[0, 0] = 0
    assert metrics.binarize(mask)[1, 1] == lesion
    _, target = next(iter(segmentation_dataset(np.zeros((1, 4, 4, 3), np.uint8), mask[None],
                                               batch_size=1)))
    assert bool(target.numpy()[0, 1, 1, 0]) == lesion
    heat = np.zeros((4, 4)); heat[1, 1] = 1.0
    assert inside_fraction(heat, mask) == (1.0 if lesion else 0.0)


def _numbers_after_comparisons(source: str):
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for before, token in zip(tokens, tokens[1:]):
        if before.type == tokenize.OP and before.string in (">", ">=") \
                and token.type == tokenize.NUMBER:
            yield token.string, token.start[0]


def test_no_module_writes_its_own_mask_threshold_or_focal_defaults():
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        if path.name == "paper.py" or "checks" in path.parts:
            continue
        source = path.read_text(encoding="utf-8")
        found += [f"{path.name}:{line} > {number}"
                  for number, line in _numbers_after_comparisons(source)
                  if number in ("127", "128")]
        code = "".join(token.string for token in tokenize.generate_tokens(
            io.StringIO(source).readline) if token.type in (tokenize.NAME, tokenize.OP,
                                                            tokenize.NUMBER))
        for literal in ("alpha=0.25", "gamma=0.75", "alpha:float=0.25", "learning_rate=1e-4"):
            if literal in code:
                found.append(f"{path.name}: {literal}")
    assert not found, f"use course_lib.paper's constants instead: {found}"



# --------------------------------------------------------------------------- paper.compare

def test_compare_markdown_shows_intervals_and_missing_values():
    ours = {"metrics": {"AC": 0.8, "AP": float("nan")}, "ci": {"AC": [0.7, 0.9]}}
    table = paper.compare([("Fusion", ours, {"AC": 0.876, "AP": 0.724}),
                           ("CUMED [34]", None, {"AC": 0.855})], ("AC", "AP"),
                          note="smoke", markdown=True)
    lines = table.splitlines()
    assert lines[0] == "| Method | AC (ours [95 % CI] / paper) | AP (ours [95 % CI] / paper) |"
    assert lines[2] == "| Fusion | 0.800 [0.70, 0.90] / 0.876 | – / 0.724 |"
    assert lines[3] == "| CUMED [34] | – / 0.855 | – / – |"
    assert lines[-1] == "smoke"


def test_compare_text_aligns_formats_and_remarks():
    rows = [("MobileNetV1", {"AC": 0.8061, "params": 3230914}, paper.table("III")["rows"]["mobilenet"]),
            ("SqueezeNet", {"params": 1237498}, paper.table("III")["rows"]["squeezenet"],
             "not trained")]
    lines = paper.compare(rows, {"AC": "{:.3f}", "params": "{:,}"}, title="T").splitlines()
    assert lines[0] == "T"
    assert lines[1].split() == ["AC", "params"]
    assert lines[2].split() == ["MobileNetV1", "0.806", "/", "0.829", "3,230,914", "/", "3,230,914"]
    assert lines[3].endswith("1,237,498 / 1,237,498  [not trained]")
    assert "– / 0.789" in lines[3]
    assert len({len(line) for line in lines[1:3]}) == 1  # columns aligned


def test_compare_needs_columns():
    with pytest.raises(ValueError, match="columns is empty"):
        paper.compare([("x", None, None)], ())


def test_compare_column_the_paper_lacks_shows_ours_alone():
    rows = [("U-VGG16", {"MB": 72.66, "decoder": 4314897}, {"MB": 73})]
    lines = paper.compare(rows, {"MB": "{:.1f}", "decoder": "{:,}"}).splitlines()
    assert lines[1].split() == ["U-VGG16", "72.7", "/", "73.0", "4,314,897"]
    markdown = paper.compare(rows, {"MB": "{:.1f}", "decoder": "{:,}"}, markdown=True)
    assert markdown.splitlines()[0] == "| Method | MB (ours / paper) | decoder (ours) |"
