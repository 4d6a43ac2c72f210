"""The reproduction report: every table of the paper the course reproduces, beside our numbers.

Not taught in a notebook: ``course report --profile P`` runs it after the notebooks (README,
"Reproduction report"). From the result records (``runs/<profile>/results/*.json``, see
:mod:`course_lib.results`) it writes ``runs/<profile>/report.md`` (Tables III-XI of Wei, Ding &
Hu (2020): per model and metric the paper's number, ours with its 95 % bootstrap interval, the
difference, whether the paper lies inside our interval, the spread over seeds, and the run's
setup) and ``report.png`` (one panel per table on its headline metric: AP for classification,
JA for segmentation). Rows no notebook recorded say "not run" — the report never invents a
number; other authors' methods (names with a reference such as ``[31]``) are quoted.
"""
from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from course_lib import config, paper, results

__all__ = ["TABLE_ORDER", "HEADLINE_METRIC", "load_records", "match_rows", "build_report",
           "write_report", "plot_report"]

#: The paper's tables the course reproduces, in the paper's order.
TABLE_ORDER = ("III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI")
#: The metric each table's figure panel shows.
HEADLINE_METRIC = {"classification": "AP", "segmentation": "JA"}
#: Paper columns that are not test-set metrics (no interval): parameter count, file size in MB.
INFO_COLUMNS = ("params", "size_mb")
#: Notebook (number prefix) whose record a table prefers when several notebooks recorded the
#: same model; when the preferred one has none, the earliest notebook that recorded the model
#: (the one that trained it) is used.
PREFERRED_NOTEBOOK = {"III": "03", "IV": "03", "V": "04", "VI": "05", "VII": "07",
                      "VIII": "06", "IX": "06", "X": "06", "XI": "07"}

_PROFILE_NOTES = {
    "smoke": ("**Smoke profile: these numbers are NOT meaningful.** SynthDerm (synthetic images), "
              "tiny images, one short epoch and random initial weights: this report only shows "
              "that every notebook runs end to end and records its results. Do not compare them "
              "with the paper; run the `lab` or `paper` profile on a GPU for that."),
    "lab": ("**Lab profile:** ISIC 2016 at 224 px with ImageNet weights, but fewer epochs than "
            "the paper (50) and no offline expansion (900 -> 4430 / 6900): differences from the "
            "paper are expected and do not by themselves mean a failed reproduction."),
    "paper": ("**Paper profile:** the paper's protocol (50 epochs, batch 32, offline expansion "
              "900 -> 4430 / 6900, ImageNet weights). Differences beyond the intervals are worth "
              "a closer look."),
}


# --- Reading ---
_profile_name = results._profile_name  # one rule for profile names


def load_records(results_dir: Path) -> list[dict]:
    """Every result record in ``results_dir`` (``runs/<profile>/results``); files that are not
    valid records are skipped with a warning. An absent folder gives an empty list."""
    records = []
    for path, record in results.read_record_files(results_dir):
        record.setdefault("_file", path.name)
        records.append(record)
    return records


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# --- Matching records to the paper's rows ---
def _is_other_method(row_name: str) -> bool:
    """Rows such as "BL-CNN [31]" are other authors' methods, quoted by the paper."""
    return "[" in row_name


def _seed(record: Mapping) -> int:
    seed = record.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


def match_rows(table_number: str, records: Sequence[Mapping]) -> dict[str, list[dict]]:
    """For each row of the paper's table: the records (one per seed, lowest seed first) of the
    same task and model, from one notebook (the table's preferred notebook when it recorded the
    model, else the earliest notebook that did). Rows without a record map to an empty list."""
    spec = paper.table(table_number)
    preferred = PREFERRED_NOTEBOOK.get(table_number.upper(), "")
    matched: dict[str, list[dict]] = {}
    for row_name in spec["rows"]:
        by_notebook: dict[str, list[dict]] = {}
        for record in records:
            if record.get("task") == spec["task"] and record.get("model") == row_name:
                by_notebook.setdefault(str(record.get("notebook", "")), []).append(record)
        chosen = [name for name in by_notebook if name.split("_", 1)[0] == preferred]
        notebook = chosen[0] if chosen else min(by_notebook, default=None)
        matched[row_name] = sorted(by_notebook.get(notebook, []), key=_seed)
    return matched


# --- Formatting ---
def _finite(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _formatted(value, form: str) -> str:
    return format(float(value), form) if _finite(value) is not None else "–"


def _cell_format(metric: str) -> str:
    """Format spec of a metric's cells: parameter count, size in MB, or a test metric."""
    return {"params": ",.0f", "size_mb": "g"}.get(metric, ".3f")


def _ours(record: Mapping, metric: str):
    """(value, interval) of ``metric`` in a record; info columns may live in ``extra``."""
    value = _finite((record.get("metrics") or {}).get(metric))
    if value is None and metric in INFO_COLUMNS:
        value = _finite((record.get("extra") or {}).get(metric))
    interval = (record.get("ci") or {}).get(metric)
    valid = (isinstance(interval, (list, tuple)) and len(interval) == 2
             and all(_finite(v) is not None for v in interval))
    return value, ((float(interval[0]), float(interval[1])) if valid else None)


def _verdict(paper_value: float, interval) -> str:
    if interval is None:
        return "no interval recorded"
    low, high = interval
    if low <= paper_value <= high:
        return "yes"
    return "no (paper above)" if paper_value > high else "no (paper below)"


def _seed_spread(records: Sequence[Mapping], metric: str) -> str:
    if len(records) < 2:
        return ""
    values = [v for v in (_ours(r, metric)[0] for r in records) if v is not None]
    if len(values) < 2:
        return f"{len(values)} of {len(records)} seeds"
    digits = 0 if metric == "params" else 3
    return (f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f} "
            f"[{min(values):.{digits}f}, {max(values):.{digits}f}] (n={len(values)})")


def _metric_names(rows: Mapping[str, Mapping]) -> list[str]:
    names = list(dict.fromkeys(name for values in rows.values() for name in values))
    metrics_first = [n for n in names if n not in INFO_COLUMNS]
    return metrics_first + [n for n in names if n in INFO_COLUMNS]


def _at_a_glance(spec: Mapping, matched: Mapping) -> list[str]:
    """The table laid out as the paper prints it, one row per model, each cell
    "ours [95 % CI] / paper" (:func:`course_lib.paper.compare`); the details follow it."""
    names = _metric_names(spec["rows"])
    rows = []
    for row_name, paper_values in spec["rows"].items():
        found, ours = matched[row_name], None
        if found:
            pairs = {metric: _ours(found[0], metric) for metric in names}
            ours = {"metrics": {metric: value for metric, (value, _) in pairs.items()},
                    "ci": {metric: ci for metric, (_, ci) in pairs.items() if ci}}
        remark = ("other authors' method" if _is_other_method(row_name)
                  else "" if found else "no record")
        rows.append((row_name, ours, paper_values, remark))
    formats = {metric: "{:" + _cell_format(metric) + "}" for metric in names}
    return [paper.compare(rows, formats, markdown=True), "", "Per metric:", ""]


def _table_lines(table_number: str, records: Sequence[Mapping], stats: dict) -> list[str]:
    spec = paper.table(table_number)
    matched = match_rows(table_number, records)
    several_seeds = any(len(found) > 1 for found in matched.values())
    seeds_column = ["Over seeds: mean ± sd [min, max]"] if several_seeds else []
    header = ["Model", "Metric", "Paper", "Ours", "95 % CI", "Ours − paper",
              "Paper inside our CI?", *seeds_column, "Source"]
    lines = [f"## Table {table_number} — {spec['title']}", "", *_at_a_glance(spec, matched),
             "| " + " | ".join(header) + " |",
             "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---"]
                            + ["---:"] * len(seeds_column) + ["---"]) + "|"]
    for row_name, paper_values in spec["rows"].items():
        found = matched[row_name]
        other = _is_other_method(row_name)
        for metric in _metric_names({row_name: paper_values}):
            paper_value = paper_values[metric]
            info, form = metric in INFO_COLUMNS, _cell_format(metric)
            paper_text = _formatted(paper_value, form)
            if other:
                cells = [paper_text, "other authors' method, quoted", "–", "–", "–"]
                source = "paper"
            elif not found:
                cells = [paper_text, "not run", "–", "–", "–"]
                source = "–"
                if not info:
                    stats["metrics_not_run"] += 1
            else:
                first = found[0]
                value, interval = _ours(first, metric)
                if value is None:
                    cells = [paper_text, "not recorded", "–", "–", "–"]
                elif info:
                    cells = [paper_text, _formatted(value, form), "–",
                             _formatted(value - paper_value, form), "n/a (not a test metric)"]
                else:
                    verdict = _verdict(paper_value, interval)
                    stats["metrics_run"] += 1
                    if interval is not None:
                        stats["with_interval"] += 1
                        stats["inside"] += verdict == "yes"
                    ci_text = ("–" if interval is None
                               else f"[{interval[0]:.3f}, {interval[1]:.3f}]")
                    cells = [paper_text, _formatted(value, ".3f"), ci_text,
                             f"{value - paper_value:+.3f}", verdict]
                epochs = first.get("epochs")
                source = (f"{first.get('notebook', '?')}, seed {_seed(first)}"
                          + (f", {epochs} epoch(s)" if epochs is not None else ""))
            row = [row_name, metric, *cells]
            if several_seeds:
                row.append(_seed_spread(found, metric) if found and not other else "")
            row.append(source)
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
        if not other:
            stats["rows_total"] += 1
            stats["rows_run"] += bool(found)
    lines.append("")
    return lines


def _distinct(records: Sequence[Mapping], key: str) -> list:
    values = []
    for record in records:
        value = record.get(key)
        if value is not None and value not in values:
            values.append(value)
    return values


def _run_lines(profile_name: str, records: Sequence[Mapping], run_log: dict | None,
               bench: dict | None, results_dir: Path) -> list[str]:
    lines = ["## The run", ""]
    try:
        description = config.get_profile(profile_name).describe()
    except ValueError:
        description = f"profile '{profile_name}' (not one of {', '.join(config.PROFILES)})"
    hardware = _distinct(records, "hardware")
    versions = []
    for record in records:
        v = record.get("versions") or {}
        text = ", ".join(f"{k} {v[k]}" for k in ("tensorflow", "keras", "course_lib") if k in v)
        if text and text not in versions:
            versions.append(text)
    epochs = sorted({int(e) for e in _distinct(records, "epochs") if isinstance(e, (int, float))})
    sizes = sorted({int(e) for e in _distinct(records, "image_size")
                    if isinstance(e, (int, float))})
    seeds = sorted({_seed(r) for r in records})
    recorded = [float(s) for s in (r.get("wall_seconds") for r in records)
                if _finite(s) is not None]
    lines += [f"- **Profile:** {description}",
              f"- **Result records:** {len(records)} in `{results_dir}`",
              f"- **Hardware (result records):** "
              f"{'; '.join(hardware) if hardware else 'not recorded'}",
              f"- **Versions:** {'; '.join(versions) if versions else 'not recorded'}",
              f"- **Epochs (per record):** "
              f"{', '.join(map(str, epochs)) if epochs else 'not recorded'}",
              f"- **Image size:** "
              f"{', '.join(f'{s} px' for s in sizes) if sizes else 'not recorded'}",
              f"- **Seeds:** {', '.join(map(str, seeds)) if records else 'none'}",
              "- **Training/evaluation time recorded by the notebooks:** "
              + (f"{sum(recorded):.0f} s over {len(recorded)} record(s)" if recorded
                 else "not recorded")]
    if run_log and run_log.get("notebooks"):
        entries = run_log["notebooks"]
        total = sum(float(e.get("seconds") or 0) for e in entries)
        where = f" on {run_log['hardware']}" if run_log.get("hardware") else ""
        lines += [f"- **Notebook wall time (`course run`, run_log.json):** {total:.0f} s in "
                  f"total{where}", "", "| Notebook | Seed | Status | Seconds | When |",
                  "|---|---:|---|---:|---|"]
        for entry in entries:
            status = "ok" if entry.get("ok") else f"FAILED: {entry.get('error')}"
            seed = entry.get("seed")
            lines.append(f"| {entry.get('name')} | {'–' if seed is None else seed} | "
                         f"{status} | {float(entry.get('seconds') or 0):.1f} | "
                         f"{entry.get('time', '–')} |")
    else:
        lines.append("- **Notebook wall time:** no run_log.json (written by `course run`)")
    lines.append("")
    memory = [m for m in (_read_json(path) for path in
                          sorted((results_dir.parent / "models").glob("*/memory.json"))) if m]
    if memory:
        lines += ["### Peak GPU memory (measured by `train.fit`)", "",
                  "| Model | Batch | Image | Precision | Peak GiB |", "|---|---:|---:|---|---:|"]
        lines += [f"| {m.get('model', '?')} | {m.get('batch_size', '?')} | "
                  f"{m.get('image_size', '?')} px | {m.get('policy', '?')} | "
                  f"{_formatted((m.get('peak_bytes') or float('nan')) / 2**30, '.2f')} |"
                  for m in memory]
        lines.append("")
    if bench:
        lines += ["### Throughput (`course bench`)", ""] + _bench_lines(bench) + [""]
    return lines


def _bench_lines(bench: Mapping) -> list[str]:
    setup = (f"model {bench.get('model')}, {bench.get('image_size')} px, batch "
             f"{bench.get('batch_size')}, {bench.get('steps')} timed step(s), on "
             f"{bench.get('device', '?')}")
    lines = [f"- Setup: {setup} ({bench.get('time', '?')})"]
    for key, label in (("model_only_images_per_s", "Model only (synthetic tensors)"),
                       ("pipeline_images_per_s", "Full input pipeline"),
                       ("input_only_images_per_s", "Input pipeline alone (no model)")):
        if _finite(bench.get(key)) is not None:
            lines.append(f"- {label}: {bench[key]:.1f} images/s")
    if _finite(bench.get("ratio")) is not None:
        lines.append(f"- Ratio pipeline / model only: {bench['ratio']:.2f} (goal ≥ 0.9)")
    variants = bench.get("variants")
    if isinstance(variants, Mapping):
        base = _finite(bench.get("model_only_images_per_s"))
        for name, value in variants.items():
            text = f"{value:.1f} images/s" if _finite(value) is not None else str(value)
            if _finite(value) is not None and base:
                text += f" (×{value / base:.2f} vs model only)"
            lines.append(f"- {name}: {text}")
    elif variants:
        lines.append(f"- Mixed precision / XLA: {variants}")
    return lines


def _deployment_lines(exports: Sequence[Mapping] | None) -> list[str]:
    """The TFLite summaries `course export` wrote (runs/<profile>/tflite/<model>.json)."""
    lines = ["## Deployment: TFLite (`course export`)", ""]
    if not exports:
        return lines + ["Not run: `course export --model fusion` (the classification fusion as "
                        "one model) and `course export --model best-unet` write it.", ""]
    for summary in exports:
        results = summary.get("results") or {}
        segmentation = summary.get("task") == "segmentation"
        first, second = ("JA", "DC") if segmentation else ("AUC", "AP")
        agreement = "pixels on the same side of 0.5" if segmentation else "same predicted class"
        lines += [f"**{summary.get('model', '?')}** ({summary.get('image_size', '?')} px, "
                  f"{summary.get('n_images', '?')} test images; agreement = {agreement}; "
                  "CPU latency, one image per call)", "",
                  "| format | size (MB) | TFLite ms/image | Keras ms/image | max abs diff | "
                  f"agreement | {first} change | {second} change |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for quantization, result in results.items():
            change = result.get("score_change") or {}
            cells = [_formatted(result.get("size_bytes", float("nan")) / 1e6, ".2f"),
                     _formatted(result.get("latency_ms_per_image"), ".2f"),
                     _formatted(result.get("keras_latency_ms_per_image"), ".2f"),
                     _formatted(result.get("max_abs_diff"), ".1e"),
                     _formatted(result.get("agreement"), ".3f"),
                     _formatted(change.get(first), "+.4f"), _formatted(change.get(second), "+.4f")]
            lines.append(f"| {quantization} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def build_report(profile, records: Sequence[Mapping], *, run_log: dict | None = None,
                 bench: dict | None = None, results_dir: Path | str = "results",
                 figure_name: str | None = None,
                 exports: Sequence[Mapping] | None = None) -> str:
    """The Markdown text of the report (see the module docstring). Pure: reads no files."""
    profile_name = _profile_name(profile)
    records = list(records)
    stats = dict(rows_total=0, rows_run=0, metrics_run=0, metrics_not_run=0, with_interval=0,
                 inside=0)
    table_lines: list[str] = []
    for number in TABLE_ORDER:
        table_lines += _table_lines(number, records, stats)
    used = {id(r) for number in TABLE_ORDER for found in match_rows(number, records).values()
            for r in found}
    others = [r for r in records if id(r) not in used]

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    note = _PROFILE_NOTES.get(profile_name, f"Profile `{profile_name}`.")
    lines = [f"# Reproduction report — profile `{profile_name}`", "",
             f"> {note}", "",
             f"Paper: {paper.CITATION}", "",
             f"Generated {now} by `course report --profile {profile_name}` from the result "
             f"records in `{results_dir}`.", "",
             "How to read it: **Ours** is our test-set number (lowest seed when several ran) and "
             "**95 % CI** its percentile-bootstrap interval over test images, as recorded by the "
             "notebook. **Paper inside our CI?** says whether the paper's number lies within "
             "that interval (\"no interval recorded\" when the notebook stored none). Rows no "
             "notebook recorded say **not run**; nothing here is filled in by hand.", "",
             "## Summary", "",
             f"- Course models run: {stats['rows_run']} of {stats['rows_total']} table rows "
             f"({stats['metrics_not_run']} metric values not run).",
             f"- The paper's number lies inside our 95 % interval for {stats['inside']} of "
             f"{stats['with_interval']} metric values that have an interval "
             f"({stats['metrics_run']} metric values run)."]
    if figure_name:
        lines += ["", f"![Ours vs the paper]({figure_name})"]
    lines.append("")
    lines += _run_lines(profile_name, records, run_log, bench, Path(results_dir))
    lines += table_lines
    lines += _deployment_lines(exports)
    lines += ["## Other recorded results", ""]
    if others:
        from course_lib.results import to_markdown

        lines += ["Records that are not a row of the paper's tables (baselines, variants):", "",
                  to_markdown(others, metrics=None)]
    else:
        lines += ["None.", ""]
    return "\n".join(lines).rstrip() + "\n"


# --- Figure ---
def plot_report(records: Sequence[Mapping], path: Path | str, title: str = "") -> Path:
    """One panel per table: the paper (black x) and ours (blue dot, 95 % CI error bar; grey
    dots: other seeds) on the table's :data:`HEADLINE_METRIC`. Rows not run are labelled so.
    Uses the Agg canvas directly, so it never changes the notebook's matplotlib backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    path = Path(path)
    columns = 3
    rows = math.ceil(len(TABLE_ORDER) / columns)
    figure = Figure(figsize=(5.2 * columns, 3.9 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    for index, number in enumerate(TABLE_ORDER):
        spec = paper.table(number)
        metric = HEADLINE_METRIC[spec["task"]]
        axes = figure.add_subplot(rows, columns, index + 1)
        matched = match_rows(number, records)
        labels = []
        for x, (row_name, paper_values) in enumerate(spec["rows"].items()):
            found = matched[row_name]
            label = row_name
            if metric in paper_values:
                axes.plot(x, paper_values[metric], marker="x", color="black", linestyle="none",
                          markersize=8, label="paper" if x == 0 else None)
            if _is_other_method(row_name):
                label += "\n(quoted)"
            elif not found:
                label += "\n(not run)"
            else:
                value, interval = _ours(found[0], metric)
                if value is not None:
                    error = (None if interval is None else
                             [[max(0.0, value - interval[0])], [max(0.0, interval[1] - value)]])
                    axes.errorbar(x, value, yerr=error, fmt="o", color="tab:blue", capsize=3)
                for other in found[1:]:
                    extra_value = _ours(other, metric)[0]
                    if extra_value is not None:
                        axes.plot(x + 0.15, extra_value, marker=".", color="grey",
                                  linestyle="none")
            labels.append(label)
        axes.set_xticks(range(len(labels)))
        axes.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
        axes.set_ylabel(metric)
        axes.set_title(f"Table {number}: {spec['title']}", fontsize=9)
        axes.grid(axis="y", alpha=0.3)
    handles = [Line2D([], [], marker="x", color="black", linestyle="none"),
               Line2D([], [], marker="o", color="tab:blue", linestyle="-"),
               Line2D([], [], marker=".", color="grey", linestyle="none")]
    figure.legend(handles, ["paper", "ours (95 % CI)", "ours, other seeds"],
                  loc="outside upper right")
    if title:
        figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    return path


# --- The command ---
def write_report(profile, runs_base: Path | str | None = None, *, figure: bool = True
                 ) -> tuple[Path, Path | None]:
    """Write ``runs/<profile>/report.md`` (and ``report.png`` when ``figure``) from the records in
    ``runs/<profile>/results/``; returns both paths (None for no figure). ``runs_base``
    replaces the ``runs/`` folder (default :func:`config.runs_dir`, which honours
    ``$COURSE_RUNS_DIR``). Works with whatever subset of notebooks has run, including none."""
    profile_name = _profile_name(profile)
    folder = (config.runs_dir(profile_name) if runs_base is None
              else Path(runs_base).expanduser() / profile_name)
    results_dir = folder / "results"
    records = load_records(results_dir)
    exports = [summary for summary in (_read_json(path) for path in
                                       sorted((folder / "tflite").glob("*.json"))) if summary]
    png = None
    if figure:
        png = plot_report(records, folder / "report.png",
                          title=f"Wei, Ding & Hu (2020) vs the course — profile {profile_name}"
                                + (" (smoke: NOT meaningful)" if profile_name == "smoke" else ""))
    text = build_report(profile_name, records, run_log=_read_json(folder / "run_log.json"),
                        bench=_read_json(folder / "bench.json"), results_dir=results_dir,
                        figure_name=png.name if png else None, exports=exports)
    folder.mkdir(parents=True, exist_ok=True)
    markdown = folder / "report.md"
    config.write_atomic(markdown, text)
    return markdown, png
