"""The paper's reported numbers, transcribed once (Wei, Ding & Hu, IEEE Access 2020).

Notebooks print these beside the course's own results, clearly labelled "paper"; the
reproduction report reads them from here. Keys are the course's model names where the course
trains that model. All classification numbers are on the ISIC 2016 test set (379 images).
Model sizes in Table VIII are the paper's file sizes (MB, weights-only HDF5).
"""
from __future__ import annotations

__all__ = ["TABLES", "table", "compare", "CITATION", "LEARNING_RATE", "LR_FACTOR", "LR_PATIENCE",
           "EPOCHS", "BATCH_SIZE", "EXPAND_CLASSIFICATION", "EXPAND_SEGMENTATION", "FOCAL_ALPHA",
           "FOCAL_GAMMA", "SEGMENTATION_FOCAL_ALPHA", "SEGMENTATION_FOCAL_GAMMA", "DC_LOSS_WEIGHTS",
           "MASK_THRESHOLD"]

# ------------------------------------------------------------------ the protocol, named once
# Every constant of the paper's protocol lives here; the library imports it from here.
LEARNING_RATE = 1e-4      # Adam, both tasks (III.B.4, III.C.3)
LR_FACTOR = 0.5           # "the learning rate decays to 1/2 ...
LR_PATIENCE = 3           # ... in three consecutive iterations" without improvement
EPOCHS = 50               # both tasks
BATCH_SIZE = 32
EXPAND_CLASSIFICATION = 4430  # 900 training images expanded offline (III.B.1) ...
EXPAND_SEGMENTATION = 6900    # ... and for segmentation (III.C.1)
FOCAL_ALPHA = 0.25        # Eq. 3-4, the classification heads: weight of melanoma
FOCAL_GAMMA = 0.75
SEGMENTATION_FOCAL_ALPHA = 0.75  # Table X (the paper's theta): weight of lesion pixels
SEGMENTATION_FOCAL_GAMMA = 1.25
DC_LOSS_WEIGHTS = {"cls1": 1.0, "cls2": 1.0, "same": 0.5}  # Eq. 5: A = B = 1, C = 0.5
MASK_THRESHOLD = 128      # ISIC 2016's rule: a 0/255 mask pixel is lesion when > 128

CITATION = ("L. Wei, K. Ding and H. Hu, \"Automatic Skin Cancer Detection in Dermoscopy Images "
            "Based on Ensemble Lightweight Deep Learning Network\", IEEE Access, 2020.")


def _table(title: str, task: str, rows: dict) -> dict:
    """One transcribed table: ``{"title", "task", "rows"}``."""
    return {"title": title, "task": task, "rows": rows}


TABLES: dict[str, dict] = {
    "III": _table("Lightweight CNN selection (classification)", "classification", {
        "squeezenet": {"AC": 0.789, "AUC": 0.757, "AP": 0.494, "params": 1_237_498},
        "shufflenet": {"AC": 0.760, "AUC": 0.717, "AP": 0.436, "params": 3_616_946},
        "resnet18": {"AC": 0.831, "AUC": 0.802, "AP": 0.596, "params": 11_187_915},
        "mobilenet": {"AC": 0.829, "AUC": 0.830, "AP": 0.645, "params": 3_230_914},
        "densenet121": {"AC": 0.837, "AUC": 0.800, "AP": 0.636, "params": 7_039_554},
    }),
    "IV": _table("With and without augmentation (classification)", "classification", {
        "mobilenet-noaug": {"AC": 0.836, "AUC": 0.819, "AP": 0.618},
        "mobilenet": {"AC": 0.829, "AUC": 0.830, "AP": 0.645},
        "densenet121-noaug": {"AC": 0.836, "AUC": 0.806, "AP": 0.610},
        "densenet121": {"AC": 0.837, "AUC": 0.800, "AP": 0.636},
    }),
    "V": _table("With and without the discriminant network", "classification", {
        "mobilenet": {"AC": 0.829, "AP": 0.645, "AUC": 0.830, "params": 3_230_914},
        "densenet121": {"AC": 0.837, "AP": 0.636, "AUC": 0.800, "params": 7_039_554},
        "dc-mobilenet": {"AC": 0.865, "AP": 0.665, "AUC": 0.832, "params": 3_736_902},
        "dc-densenet121": {"AC": 0.855, "AP": 0.700, "AUC": 0.845, "params": 7_483_782},
    }),
    "VI": _table("Focal loss vs cross-entropy (DC models)", "classification", {
        "dc-mobilenet-focal": {"AC": 0.850, "AP": 0.633, "AUC": 0.838},
        "dc-densenet121-focal": {"AC": 0.854, "AP": 0.639, "AUC": 0.803},
        "dc-mobilenet": {"AC": 0.865, "AP": 0.665, "AUC": 0.832},
        "dc-densenet121": {"AC": 0.855, "AP": 0.700, "AUC": 0.845},
    }),
    "VII": _table("Comparison with other methods (classification)", "classification", {
        "BL-CNN [31]": {"AC": 0.850, "AP": 0.625},
        "CUMED [34]": {"AC": 0.855, "AP": 0.637, "AUC": 0.804},
        "M-CNN [36]": {"AC": 0.852, "AUC": 0.810},
        "DCNN-FV [37]": {"AC": 0.868, "AP": 0.685, "AUC": 0.852},
        "MC-CNN [38]": {"AC": 0.863, "AP": 0.681, "AUC": 0.822},
        "M-CNN-FV [39]": {"AC": 0.868, "AP": 0.687, "AUC": 0.858},
        "dc-mobilenet": {"AC": 0.865, "AP": 0.665, "AUC": 0.832},
        "dc-densenet121": {"AC": 0.855, "AP": 0.700, "AUC": 0.845},
        "fusion": {"AC": 0.876, "AP": 0.724, "AUC": 0.854},
    }),
    "VIII": _table("Encoders under the U-Net architecture (segmentation)", "segmentation", {
        "unet-plain": {"AC": 0.951, "DC": 0.910, "JA": 0.845, "SE": 0.935, "SP": 0.960, "size_mb": 120},
        "unet-resnext50": {"AC": 0.961, "DC": 0.922, "JA": 0.864, "SE": 0.935, "SP": 0.972, "size_mb": 125},
        "unet-vgg16": {"AC": 0.955, "DC": 0.909, "JA": 0.843, "SE": 0.927, "SP": 0.968, "size_mb": 73},
        "unet-densenet121": {"AC": 0.958, "DC": 0.918, "JA": 0.859, "SE": 0.935, "SP": 0.971, "size_mb": 48},
        "unet-mobilenet": {"AC": 0.960, "DC": 0.919, "JA": 0.859, "SE": 0.932, "SP": 0.972, "size_mb": 32},
        "unet-fusion": {"AC": 0.962, "DC": 0.923, "JA": 0.867, "SE": 0.934, "SP": 0.974, "size_mb": 80},
    }),
    "IX": _table("With and without augmentation (segmentation)", "segmentation", {
        "unet-mobilenet-noaug": {"AC": 0.956, "DC": 0.917, "JA": 0.847, "SE": 0.930, "SP": 0.968},
        "unet-mobilenet": {"AC": 0.960, "DC": 0.919, "JA": 0.859, "SE": 0.932, "SP": 0.972},
        "unet-densenet121-noaug": {"AC": 0.955, "DC": 0.917, "JA": 0.848, "SE": 0.920, "SP": 0.970},
        "unet-densenet121": {"AC": 0.958, "DC": 0.918, "JA": 0.859, "SE": 0.935, "SP": 0.971},
    }),
    "X": _table("Segmentation loss: focal vs BCE + Dice", "segmentation", {
        "unet-mobilenet-focal": {"AC": 0.959, "DC": 0.917, "JA": 0.848, "SE": 0.937, "SP": 0.969},
        "unet-densenet121-focal": {"AC": 0.957, "DC": 0.914, "JA": 0.843, "SE": 0.939, "SP": 0.964},
        "unet-mobilenet": {"AC": 0.960, "DC": 0.919, "JA": 0.859, "SE": 0.932, "SP": 0.972},
        "unet-densenet121": {"AC": 0.958, "DC": 0.918, "JA": 0.859, "SE": 0.935, "SP": 0.971},
    }),
    "XI": _table("Comparison with other methods (segmentation)", "segmentation", {
        "JD-FCN [20]": {"AC": 0.955, "DC": 0.912, "JA": 0.847, "SE": 0.918, "SP": 0.966},
        "MS-FCN [21]": {"AC": 0.951, "DC": 0.902, "JA": 0.834, "SE": 0.918, "SP": 0.952},
        "EXB [35]": {"AC": 0.953, "DC": 0.910, "JA": 0.843, "SE": 0.910, "SP": 0.965},
        "MFCN-PI [40]": {"AC": 0.955, "DC": 0.912, "JA": 0.845, "SE": 0.922, "SP": 0.955},
        "GL-FCN [41]": {"AC": 0.953, "DC": 0.907, "JA": 0.841, "SE": 0.938, "SP": 0.952},
        "MS-UNet [43]": {"AC": 0.959, "DC": 0.915, "JA": 0.853, "SE": 0.927, "SP": 0.964},
        "HR-CNN [44]": {"AC": 0.938, "DC": 0.918, "JA": 0.858, "SE": 0.870, "SP": 0.964},
        "TD-CNN [45]": {"AC": 0.961, "DC": 0.921, "JA": 0.852, "SE": 0.974, "SP": 0.949},
        "unet-densenet121": {"AC": 0.958, "DC": 0.918, "JA": 0.859, "SE": 0.935, "SP": 0.971},
        "unet-mobilenet": {"AC": 0.960, "DC": 0.919, "JA": 0.859, "SE": 0.932, "SP": 0.972},
        "unet-fusion": {"AC": 0.962, "DC": 0.923, "JA": 0.867, "SE": 0.934, "SP": 0.974},
    }),
}


def table(number: str) -> dict:
    """The paper's Table ``number`` (Roman numeral, e.g. "V"): {"title", "task", "rows"}."""
    key = number.upper().removeprefix("TABLE").strip()
    if key not in TABLES:
        raise ValueError(f"The course transcribes Tables {', '.join(TABLES)}; got {number!r}.")
    return TABLES[key]


def _cell(ours, paper_row, key: str, spec: str, with_paper: bool) -> str:
    """One "ours / paper" cell ("ours" alone where the paper has no such column)."""
    metrics = (ours or {}).get("metrics", ours) or {}
    value, interval = metrics.get(key), ((ours or {}).get("ci") or {}).get(key)
    text = "–" if value is None or value != value else spec.format(value)  # None or NaN: "–"
    if interval and text != "–":
        text += f" [{interval[0]:.2f}, {interval[1]:.2f}]"
    if not with_paper:
        return text
    theirs = None if paper_row is None else paper_row.get(key)
    return f"{text} / " + ("–" if theirs is None else spec.format(theirs))


def compare(rows, columns, *, title: str | None = None, note: str | None = None,
            markdown: bool = False) -> str:
    """Our numbers beside the paper's, one row per model, each cell "ours / paper".
    The one table helper of the course (notebooks 03-07, the reproduction report). ``rows``:
    ``(label, ours, paper_row)`` triples, or 4-tuples ending with a remark. ``ours``: a dict, an
    evaluation result ``{"metrics": ..., "ci": ...}`` (cells show the 95 % interval) or None.
    ``columns``: keys, or ``{key: format}`` (default ``"{:.3f}"``); a column that no paper row
    has shows ours alone. ``markdown``: a Markdown table instead of aligned text."""
    specs = dict(columns) if isinstance(columns, dict) else dict.fromkeys(columns, "{:.3f}")
    if not specs:
        raise ValueError("columns is empty: name the columns, e.g. ('AC', 'AP', 'AUC').")
    rows = [(label, ours, paper_row, *(remark or [""])) for label, ours, paper_row, *remark in rows]
    with_paper = {key: any(key in (row[2] or {}) for row in rows) for key in specs}
    table = [(label, [_cell(ours, paper_row, key, spec, with_paper[key])
                      for key, spec in specs.items()], remark)
             for label, ours, paper_row, remark in rows]
    if markdown:
        ci = " [95 % CI]" if any(ours and "ci" in ours for _, ours, _, _ in rows) else ""
        lines = ["| Method | " + " | ".join(f"{key} (ours{ci}" + (" / paper)" if with_paper[key]
                                                                   else ")") for key in specs)
                 + " |", "|---" * (len(specs) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(cells) + (f" ({remark})" if remark else "") + " |"
                  for label, cells, remark in table]
    else:
        width = max(len(label) for label, _, _ in table) + 2
        sizes = [max(len(key), *(len(cells[i]) for _, cells, _ in table)) + 3
                 for i, key in enumerate(specs)]
        lines = [" " * width + "".join(f"{key:>{n}}" for key, n in zip(specs, sizes))]
        lines += [f"{label:<{width}}" + "".join(f"{c:>{n}}" for c, n in zip(cells, sizes))
                  + (f"  [{remark}]" if remark else "") for label, cells, remark in table]
    return "\n".join(([title, ""] if title and markdown else [title] if title else []) + lines
                     + (["", note] if note else []))
