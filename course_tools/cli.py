"""The ``course`` command: run notebooks, generate exercise copies, download data, lint.

Taught in 00_setup_and_metrics. ``course --help`` lists the subcommands (run, exercises, download,
mirror, lint, info, report, bench, export, grade, bundle, site); ``cmd_<name>`` runs one and
``_add_<name>_parser`` declares its options. ``course run`` writes into
``runs/<profile>/notebooks/`` (seeds other than 0 into ``seed<N>/``) and
``runs/<profile>/run_log.json``. Every command takes ``--root DIR`` (before the subcommand) to use
another course checkout.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from course_lib import config

__all__ = ["main", "build_parser", "resolve_notebooks", "strip_run_metadata", "RunResult"]


class CommandError(Exception):
    """A problem the user can fix; printed without a traceback (exit status 2)."""


# --------------------------------------------------------------------------- helpers
def _root(args) -> Path:
    if getattr(args, "root", None):
        root = Path(args.root).expanduser().resolve()
        if not (root / "solutions").is_dir():
            raise CommandError(f"--root {root} is not a course checkout: it has no solutions/ "
                               "folder.")
        return root
    root = config.repo_root()
    if root is not None:
        return root
    cwd = Path.cwd()
    if (cwd / "solutions").is_dir() and (cwd / "pyproject.toml").exists():
        return cwd
    raise CommandError("This command needs a course checkout (the folder with pyproject.toml and "
                       "solutions/), but course_lib is installed outside one. Run it from the "
                       "checkout, or pass --root DIR.")


def _runs_base(root: Path) -> Path:
    env = os.environ.get("COURSE_RUNS_DIR")
    return Path(env).expanduser() if env else root / "runs"


def resolve_notebooks(root: Path, names: list[str], exercises: bool = False) -> list[Path]:
    """Notebook paths for ``course run``: all of ``solutions/`` (``notebooks/`` with
    ``exercises``) when ``names`` is empty; each name may be ``"00"``, ``"00_setup_and_metrics"``,
    ``"00_setup_and_metrics.ipynb"`` or a path."""
    folder = root / ("notebooks" if exercises else "solutions")
    available = sorted(folder.glob("*.ipynb"))
    if not names:
        if not available:
            raise CommandError(f"{folder} holds no notebooks"
                               + (" — generate them with `course exercises`." if exercises
                                  else "."))
        return available
    chosen: list[Path] = []
    for name in names:
        path = Path(name).expanduser()
        if name.endswith(".ipynb") and path.exists():
            chosen.append(path.resolve())
            continue
        stem = name[:-len(".ipynb")] if name.endswith(".ipynb") else name
        matches = [p for p in available if p.stem == stem]
        if not matches and stem.isdigit():
            matches = [p for p in available if p.stem.split("_", 1)[0] == stem.zfill(2)]
        if len(matches) != 1:
            known = ", ".join(p.stem for p in available) or "none"
            raise CommandError(f"No single notebook in {folder.name}/ matches {name!r} "
                               f"(found {len(matches)}). Available: {known}.")
        chosen.append(matches[0])
    return chosen


def strip_run_metadata(nb) -> None:
    """Remove papermill's (and nbclient's timing) metadata from a notebook and its cells, in
    place; outputs and execution counts stay. The kernelspec becomes the one JupyterLab
    writes (exercises.KERNELSPEC), so an untouched notebook does not open as modified."""
    from .exercises import KERNELSPEC
    nb.metadata.pop("papermill", None)
    if "kernelspec" in nb.metadata:
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.cells:
        for key in ("papermill", "execution", "ExecuteTime"):
            cell.metadata.pop(key, None)
        tags = cell.metadata.get("tags")
        if tags is not None:
            kept = [t for t in tags if t not in ("injected-parameters", "papermill-error-cell-tag")]
            if kept:
                cell.metadata["tags"] = kept
            else:
                cell.metadata.pop("tags")


@contextlib.contextmanager
def _environment(**values):
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class RunResult:
    """One notebook executed by ``course run``."""

    name: str
    output: Path
    seconds: float
    error: str | None = None
    seed: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _first_error_line(err: BaseException) -> str:
    ename = getattr(err, "ename", None) or type(err).__name__
    evalue = getattr(err, "evalue", None)
    if evalue is None:
        evalue = str(err)
    lines = [ln.strip() for ln in str(evalue).splitlines() if ln.strip()]
    return f"{ename}: {lines[0]}" if lines else ename


def execute_notebook(source: Path, output: Path, profile: str, root: Path,
                     timeout: float | None = None, seed: int | None = None,
                     overrides: str = "") -> RunResult:
    """Run one notebook with papermill (kernel python3, cwd = ``root``) with
    ``COURSE_PROFILE=profile`` (and ``COURSE_SEED=seed`` when ``seed`` is given) in the kernel's
    environment. No papermill parameters are injected: the notebook's ``parameters`` cell reads
    the environment."""
    import papermill
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    variables = {"COURSE_PROFILE": profile}
    if overrides:  # course run --set: the kernel's get_profile reads COURSE_SET
        variables["COURSE_SET"] = overrides
    if seed is not None:
        variables["COURSE_SEED"] = str(seed)
    with _environment(**variables):
        try:
            papermill.execute_notebook(
                str(source), str(output), kernel_name="python3", cwd=str(root),
                log_output=False, progress_bar=False, execution_timeout=timeout,
                # ipykernel >= 7 warns on every start that TCP is unencrypted (local only)
                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except Exception as err:  # noqa: BLE001 - reported in the table
            error = _first_error_line(err)
    return RunResult(source.stem, output, time.perf_counter() - start, error, seed)


def _print_table(results: list[RunResult]) -> None:
    several_seeds = len({r.seed for r in results}) > 1
    rows = [(f"{r.name} (seed {r.seed})" if several_seeds else r.name,
             "ok" if r.ok else f"FAILED: {r.error}", f"{r.seconds:.1f}") for r in results]
    rows.append(("total", "", f"{sum(r.seconds for r in results):.1f}"))
    name_width = max(len("notebook"), *(len(r[0]) for r in rows))
    status_width = min(max(len("status"), *(len(r[1]) for r in rows)), 100)
    print(f"{'notebook':<{name_width}}  {'status':<{status_width}}  {'seconds':>8}")
    for name, status, seconds in rows:
        if len(status) > status_width:
            status = status[: status_width - 1] + "…"
        print(f"{name:<{name_width}}  {status:<{status_width}}  {seconds:>8}")


def parse_seeds(text: str | None) -> list[int] | None:
    """``"0,1,2"`` -> ``[0, 1, 2]`` for ``course run --seeds``; None when not given."""
    if text is None:
        return None
    seeds = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise CommandError(f"--seeds takes non-negative integers separated by commas, such "
                               f"as 0,1,2; got {text!r}.")
        if int(part) not in seeds:
            seeds.append(int(part))
    if not seeds:
        raise CommandError("--seeds is empty; give at least one seed, such as --seeds 0,1,2.")
    return seeds


def run_log_path(runs_base: Path, profile: str, exercises: bool = False) -> Path:
    """``runs/<profile>/run_log.json`` (``run_log_exercises.json`` for exercise copies)."""
    return runs_base / profile / ("run_log_exercises.json" if exercises else "run_log.json")


def write_run_log(path: Path, profile: str, results: list[RunResult]) -> dict:
    """Merge ``results`` into the run log at ``path`` (one entry per notebook and seed; a
    notebook run again replaces its entry) and return the log. ``course bench --notebooks``
    and ``course report`` read it."""
    from course_lib.results import hardware_summary
    log = {"profile": profile, "notebooks": []}
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(old, dict) and isinstance(old.get("notebooks"), list):
                log["notebooks"] = [e for e in old["notebooks"] if isinstance(e, dict)]
        except (OSError, ValueError):
            pass  # a broken log is rewritten from this run
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    fresh = {(r.name, r.seed or 0) for r in results}  # no --seeds = the profile's seed, 0
    entries = [e for e in log["notebooks"] if (e.get("name"), e.get("seed") or 0) not in fresh]
    for result in results:
        entries.append({"name": result.name, "seed": result.seed,
                        "seconds": round(result.seconds, 2), "ok": result.ok,
                        "error": result.error, "output": str(result.output), "time": now})
    entries.sort(key=lambda e: (str(e.get("name")), e.get("seed") or 0))
    hardware = hardware_summary()
    if "GPU" not in hardware:  # TensorFlow is not imported here: ask the driver instead
        hardware += ", NVIDIA GPU visible" if config.has_gpu() else ", no NVIDIA GPU"
    log.update(notebooks=entries, updated=now, hardware=hardware,
               total_seconds=round(sum(float(e.get("seconds") or 0) for e in entries), 2))
    config.write_atomic(path, json.dumps(log, indent=2) + "\n")
    return log


# --------------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    if args.store and args.exercises:
        raise CommandError("--store writes outputs back into solutions/; exercise copies carry "
                           "no outputs, so --store cannot be combined with --exercises.")
    seeds = parse_seeds(getattr(args, "seeds", None))
    if args.store and seeds is not None and len(seeds) > 1:
        raise CommandError("--store writes one run back into solutions/; run it with a single "
                           "seed (or without --seeds).")
    try:
        overrides = config.parse_overrides(getattr(args, "set", None) or [])
        overrides = {**config.overrides_from_environment(), **overrides}
        profile = config.get_profile(args.profile, **overrides).name
    except ValueError as err:
        raise CommandError(str(err)) from None
    if args.store and overrides:
        raise CommandError("--store writes the outputs into solutions/, which are stored from "
                           "a profile as it is; run without --set (or COURSE_SET) to store.")
    overrides_text = ",".join(config.format_overrides(overrides).split(", ")) if overrides else ""
    if overrides:
        print(f"profile {profile} with overrides: {config.format_overrides(overrides)}")
    root = _root(args)
    notebooks = resolve_notebooks(root, args.notebooks, exercises=args.exercises)
    out_dir = _runs_base(root) / profile / ("exercises" if args.exercises else "notebooks")
    log_path = run_log_path(_runs_base(root), profile, args.exercises)
    results = []
    # Seeds outermost: a notebook that loads a model saved by an earlier one gets the same seed's.
    for seed in (seeds or [None]):
        seed_dir = out_dir if seed in (None, 0) else out_dir / f"seed{seed}"
        for source in notebooks:
            output = seed_dir / source.name
            label = "" if seed is None else f", seed {seed}"
            print(f"running {source.stem} (profile {profile}{label}) -> {output}", flush=True)
            result = execute_notebook(source, output, profile, root, args.timeout, seed=seed,
                                      overrides=overrides_text)
            results.append(result)
            write_run_log(log_path, profile, [result])
            if args.store and result.ok:
                _store(output, source)
                print(f"stored outputs in {source}", flush=True)
            elif args.store:
                print(f"not storing {source.name}: it failed (see {output})", flush=True)
    print()
    _print_table(results)
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"\n{len(failed)} notebook(s) failed; the executed copies with the error are in "
              f"{out_dir}")
        return 1
    return 0


def _store(executed: Path, destination: Path) -> None:
    from .exercises import read_notebook, render_notebook
    nb = read_notebook(executed)
    strip_run_metadata(nb)
    config.write_atomic(destination, render_notebook(nb))


def cmd_exercises(args) -> int:
    from .exercises import sync_exercises
    root = _root(args)
    report = sync_exercises(root, check=args.check)
    for error in report.errors:
        print(f"error: {error}")
    if args.check:
        for label in report.stale:
            print(f"stale:   {label} differs from its solution")
        for label in report.missing:
            print(f"missing: {label} (its solution exists)")
        for label in report.extra:
            print(f"extra:   {label} has no solution notebook")
        if report.in_sync:
            print(f"notebooks/ is in sync with solutions/ ({len(report.unchanged)} notebook(s)).")
            return 0
        if report.stale or report.missing or report.extra:
            print("Fix: run `course exercises` to regenerate notebooks/ from solutions/.")
        return 1
    for label in report.written:
        print(f"wrote   {label}")
    for label in report.removed:
        print(f"removed {label} (no solution notebook)")
    print(f"{len(report.written)} written, {len(report.unchanged)} unchanged, "
          f"{len(report.removed)} removed.")
    return 1 if report.errors else 0


def cmd_download(args) -> int:
    kwargs = {"part3": args.part3}
    if args.dest is not None:
        kwargs["dest"] = args.dest
    if args.base_url is not None:
        kwargs["base_url"] = args.base_url
    if getattr(args, "mirror", None):
        kwargs["mirror"] = args.mirror
    try:
        from course_lib.data.isic2016 import download_isic2016

        result = download_isic2016(**kwargs)
    except KeyboardInterrupt:
        print("course download: interrupted; run the same command again to resume.",
              file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - a friendly message instead of a traceback
        print(f"course download: {args.dataset} failed: {type(err).__name__}: {err}",
              file=sys.stderr)
        return 2
    if result is not None:
        print(f"ISIC 2016 is ready in {result}")
    return 0


def cmd_mirror(args) -> int:
    from course_lib.data.mirror import make_mirror
    for name in ("n_train", "n_test"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be a positive number of "
                               f"images, got {value}; leave it out to keep them all.")
    try:
        make_mirror(args.out, args.source, n_train=args.n_train, n_test=args.n_test,
                    seed=args.seed)
    except (FileNotFoundError, ValueError) as err:
        print(f"course mirror make: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_lint(args) -> int:
    from .notebook_lint import MIN_EXERCISES, lint_course
    root = _root(args)
    problems = lint_course(root, min_exercises=getattr(args, "min_exercises", None)
                           or MIN_EXERCISES)
    for problem in problems:
        print(problem)
    count = len(list((root / "solutions").glob("*.ipynb")))
    if problems:
        print(f"{len(problems)} problem(s) in {root / 'solutions'} and {root / 'notebooks'}.")
        return 1
    print(f"{count} solution notebook(s) and their exercise copies: OK.")
    return 0


def _version(*distributions: str) -> str:
    for name in distributions:
        try:
            return f"{importlib.metadata.version(name)} ({name})"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def cmd_info(args) -> int:
    import course_lib
    library = Path(course_lib.__file__).resolve().parent
    print(f"course_lib   {course_lib.__version__} ({library})")
    print(f"python       {platform.python_version()} ({sys.executable})")
    print(f"tensorflow   {_version('tensorflow', 'tensorflow-cpu', 'tensorflow-macos', 'tf-nightly')}")
    for name in ("keras", "numpy", "papermill", "nbval"):
        print(f"{name:<12} {_version(name)}")
    profile_name = config.default_profile_name()
    source = ("from COURSE_PROFILE" if os.environ.get("COURSE_PROFILE", "").strip()
              else "default: lab with a GPU, smoke without; set COURSE_PROFILE to change")
    print(f"profile      {profile_name} ({source})")
    try:
        print(f"             {config.get_profile(profile_name).describe()}")
    except ValueError as err:
        print(f"             {err}")
    try:
        root = _root(args)
    except CommandError:
        root = None
    print(f"repo root    {root if root else 'none (course_lib is installed outside a checkout)'}")
    print(f"data dir     {config.data_dir()}")
    print(f"runs dir     {_runs_base(root) if root else config.runs_dir()}")
    print(f"GPU          {'yes (NVIDIA driver visible)' if config.has_gpu() else 'no'}")
    return 0


def _runs_base_for(args) -> Path:
    """``runs/`` of the checkout (``--root``, ``$COURSE_RUNS_DIR``), or config.runs_dir() when
    course_lib is installed outside a checkout."""
    try:
        return _runs_base(_root(args))
    except CommandError:
        return config.runs_dir()


def _profile_name_from(args) -> str:
    try:
        return config.get_profile(args.profile).name
    except ValueError as err:
        raise CommandError(str(err)) from None


def cmd_report(args) -> int:
    from .report import write_report
    profile = _profile_name_from(args)
    markdown, figure = write_report(profile, _runs_base_for(args), figure=not args.no_figure)
    print(f"wrote {markdown}" + (f" and {figure}" if figure else ""))
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if line.startswith(("- Course models run", "- The paper's number")):
            print(line)
    if profile == "smoke":
        print("Smoke profile: the numbers in this report are NOT meaningful.")
    return 0


def cmd_bench(args) -> int:
    from . import bench
    profile = _profile_name_from(args)
    base = _runs_base_for(args)
    if args.notebooks:
        print(bench.format_notebook_times(bench.notebook_times(profile, base)))
        return 0
    if args.memory:
        print(f"Estimated training memory at {args.image_size} px (parameters + Adam + kept "
              "activations, +50 %; an estimate, not a measurement):")
        print(bench.memory_table(args.image_size, sorted({16, 32, args.batch_size})))
        return 0
    variants = "always" if args.cpu_variants else not args.no_variants
    try:
        result = bench.run_benchmark(args.image_size, args.batch_size, args.steps, args.model,
                                     rounds=args.rounds, variants=variants)
    except ValueError as err:
        raise CommandError(str(err)) from None
    print()
    print(bench.format_benchmark(result))
    path = bench.save_benchmark(result, base / profile / "bench.json")
    print(f"saved {path} (course report --profile {profile} shows it)")
    return 0


#: Names `course export --model` takes besides a saved model's name.
EXPORT_ALIASES = ("fusion", "unet-fusion", "best-unet")


def _best_unet(profile, base: Path) -> str:
    """The saved U-Net with the highest recorded test JA (06_unet_segmentation's records)."""
    from course_lib import results
    saved = {p.stem for p in (base / profile.name / "models").glob("unet-*.keras")}
    scored = [(record["metrics"]["JA"], record["model"])
              for record in results.load_results(profile, task="segmentation")
              if record.get("model") in saved and "JA" in (record.get("metrics") or {})]
    if not scored:
        raise CommandError(f"best-unet: no saved U-Net with a recorded JA in profile "
                           f"'{profile.name}' (saved: {', '.join(sorted(saved)) or 'none'}); run "
                           f"course run --profile {profile.name} 06 first.")
    ja, name = max(scored)
    print(f"best-unet: {name} (test JA {ja:.3f} recorded by 06_unet_segmentation)")
    return name


def _model_to_export(args, profile, base: Path):
    """(single-input Keras model, name, source) for `course export --model`: a saved model, a DC
    model through one head, the classification or segmentation fusion, or the best U-Net."""
    import keras

    from course_lib import fusion, models
    name = args.model
    if name == "best-unet":
        name = _best_unet(profile, base)
    if name in fusion.FUSIONS:
        try:
            members = [fusion.get_member(profile, member, train_if_missing=False)
                       for member in fusion.FUSIONS[name]]
        except FileNotFoundError as err:
            raise CommandError(f"{name}: {err}") from None
        weight = fusion.chosen_weight(profile, name)
        if weight is None:
            weight = 0.5
            print(f"{name}: no weight recorded by 07_fusion in profile '{profile.name}'; using "
                  "the paper's equal weights (0.5)")
        for member in members:
            print(f"  {member.note}")
        model = fusion.fused_model(*members, weight=weight, name=name.replace("-", "_"))
        source = f"w * {members[0].source} + (1 - w) * {members[1].source}, w = {weight:.2f}"
        print(f"{name}: exporting {source}")
        return model, name, source
    source = base / profile.name / "models" / f"{name}.keras"
    if not source.exists():
        saved = sorted(p.stem for p in (base / profile.name / "models").glob("*.keras"))
        raise CommandError(f"No saved model {source}. Saved models in this profile: "
                           f"{', '.join(saved) or 'none'}; or one of {', '.join(EXPORT_ALIASES)} "
                           f"(the training notebooks write them; run e.g. course run --profile "
                           f"{profile.name} 03).")
    model = keras.saving.load_model(source, compile=False)
    if len(model.inputs) > 1:
        names = {layer.name for layer in model.layers}
        if not {"cls1", "cls2", "backbone"} <= names:
            raise CommandError(f"{name} has {len(model.inputs)} inputs and is not a DC "
                               "model; TFLite export takes single-input models.")
        model = models.dc_classifier(model, head=args.head)
        print(f"{name} is a DC model: exporting its single-input classifier "
              f"(head {args.head}).")
    return model, name, str(source)


def cmd_export(args) -> int:
    import numpy as np

    from course_lib import data, export
    profile = config.get_profile(_profile_name_from(args))
    base = _runs_base_for(args)
    with _environment(COURSE_RUNS_DIR=str(base)):  # where fusion's members are looked up
        model, name, source = _model_to_export(args, profile, base)
    segmentation = len(model.outputs[0].shape) == 4
    size = int(model.inputs[0].shape[1])
    n = args.n_images
    train_images, _ = data.load_arrays(data.prepare_data(profile, "train"), size, masks=False)
    test_record = data.prepare_data(profile, "test")
    test_images, test_masks = data.load_arrays(test_record, size, masks=segmentation)
    representative = train_images[:n].astype(np.float32)
    test_images, test_labels = test_images[:n].astype(np.float32), test_record.labels[:n]
    test_masks = None if test_masks is None else test_masks[:n]
    out_dir = base / profile.name / "tflite"
    summary = {"model": name, "source": source, "profile": profile.name,
               "task": "segmentation" if segmentation else "classification",
               "image_size": size, "n_images": int(len(test_images)), "results": {}}
    first, second = ("JA", "DC") if segmentation else ("AUC", "AP")
    print(f"{'quantization':<13} {'size (MB)':>9} {'ms/image':>9} {'keras ms':>9} "
          f"{'max |diff|':>11} {'agree':>6} {first + ' change':>10} {second + ' change':>10}")
    for quantization in args.quantization or export.QUANTIZATIONS:
        path = export.export_tflite(model, out_dir / f"{name}-{quantization}.tflite",
                                    quantization, representative_images=representative)
        result = export.compare_with_keras(model, path, test_images,
                                           labels=None if segmentation else test_labels,
                                           masks=test_masks)
        result["path"] = str(path)
        summary["results"][quantization] = result
        change = result.get("score_change", {})
        print(f"{quantization:<13} {result['size_bytes'] / 1e6:9.3f} "
              f"{result['latency_ms_per_image']:9.2f} {result['keras_latency_ms_per_image']:9.2f} "
              f"{result['max_abs_diff']:11.2e} {result.get('agreement', float('nan')):6.3f} "
              f"{change.get(first, float('nan')):+10.4f} {change.get(second, float('nan')):+10.4f}")
    summary_path = out_dir / f"{name}.json"
    summary_path.write_text(json.dumps(summary, indent=2, default=float) + "\n",
                            encoding="utf-8")
    print(f"wrote {out_dir} (summary {summary_path.name}); interpreter: "
          f"{export.interpreter_name()}; CPU latency, one image per call, {len(test_images)} "
          f"test images of profile {profile.name}"
          + ("; agree = pixels on the same side of 0.5." if segmentation else
             "; agree = same predicted class."))
    return 0


def cmd_grade(args) -> int:
    from . import grade
    root = _root(args)
    limits = grade.Limits(cell_timeout=args.cell_timeout, timeout=args.timeout,
                          check_timeout=args.check_timeout, grace=args.grace,
                          memory_gb=args.memory_gb or None)

    def progress(nb) -> None:
        passed = sum(g.passed for g in nb.grades)
        print(f"graded {nb.submission.label}: {passed}/{len(nb.grades)} passed "
              f"({nb.seconds:g} s)" + (f" — {'; '.join(nb.notes)}" if nb.notes else ""),
              file=sys.stderr, flush=True)

    data_dir = Path(args.data_dir).expanduser() if args.data_dir else None
    try:
        graded = grade.grade_submissions(args.submissions, root=root, limits=limits,
                                         data_dir=data_dir, fast=args.fast, jobs=args.jobs,
                                         progress=progress)
    except grade.GradingIntegrityError as err:
        raise CommandError(str(err)) from err
    if args.format == "markdown":
        text = grade.render_markdown(graded)
        if args.out and args.out != "-":
            Path(args.out).write_text(text, encoding="utf-8")
            print(f"wrote {args.out}")
        else:
            print(text)
        return 0
    out = Path(args.out or "grades.csv")
    grade.write_csv(graded, out)
    summary = grade.write_summary_csv(graded, grade.summary_path(out))
    print(f"{'student':<24} {'passed':>6} {'total':>6}")
    for entry in grade.summarize(graded):
        print(f"{entry['student']:<24} {entry['passed']:>6} {entry['total']:>6}")
    print(f"wrote {out} (one row per notebook and exercise) and {summary}")
    return 0


def cmd_bundle(args) -> int:
    from . import bundle
    root = _root(args)
    try:
        path, names = bundle.make_bundle(root, args.out, check_sync=not args.no_sync_check)
    except bundle.BundleError as err:
        raise CommandError(str(err)) from err
    print(f"wrote {path}: {len(names)} files (exercise notebooks, course_lib, install files, "
          "README); no solutions")
    return 0


def cmd_site(args) -> int:
    from . import site
    root = _root(args)
    try:
        result = site.build_site(root, args.out, verbose=args.verbose)
    except site.SiteError as err:
        raise CommandError(str(err)) from err
    print(f"wrote {result.out}: home, {len(result.pages)} notebook pages, guides, offline "
          f"MathJax and search, in {result.seconds:.0f} s; serve it with "
          f"`python -m http.server -d {args.out}`")
    return 0


# --------------------------------------------------------------------------- parser
def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="execute notebooks with papermill into runs/<profile>/",
                         description="Execute notebooks in order with papermill (kernel python3, "
                                     "COURSE_PROFILE set for the kernel) and print a table.")
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                     help='"00", "00_setup_and_metrics" or a path (default: all)')
    run.add_argument("--profile", default=None,
                     help=f"{', '.join(config.PROFILES)} (default: {config.default_profile_name()})")
    run.add_argument("--exercises", action="store_true",
                     help="run the exercise copies in notebooks/ (into runs/<profile>/exercises/)")
    run.add_argument("--store", action="store_true",
                     help="write the executed outputs back into solutions/ (papermill metadata "
                          "stripped)")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                     help="override a profile field, e.g. --set image_size=128 --set epochs=3 "
                          "--set weights=none (repeatable; COURSE_SET='image_size=128,epochs=3' "
                          "does the same for Jupyter, papermill and nbval)")
    run.add_argument("--timeout", type=float, default=None, metavar="S",
                     help="seconds any one cell may run (default: no limit)")
    run.add_argument("--seeds", default=None, metavar="0,1,2",
                     help="run every notebook once per seed (COURSE_SEED); results are kept "
                          "per seed and the report shows their spread")
    run.set_defaults(func=cmd_run)


def _add_exercises_parser(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("exercises", help="generate notebooks/ from solutions/",
                        description="Write notebooks/ (exercise copies without solutions or "
                                    "outputs) from solutions/.")
    ex.add_argument("--check", action="store_true",
                    help="only compare; exit 1 if notebooks/ is stale, missing or has extras")
    ex.set_defaults(func=cmd_exercises)


def _add_download_parser(sub: argparse._SubParsersAction) -> None:
    dl = sub.add_parser("download", help="download a dataset (isic2016)",
                        description="Download ISIC 2016 into the data folder.")
    dl.add_argument("dataset", choices=["isic2016"])
    dl.add_argument("--part3", action="store_true",
                    help="fetch the Part 3 (classification) image archives instead of the "
                         "Part 1 images and masks")
    dl.add_argument("--dest", default=None, metavar="DIR",
                    help="target folder (default: chosen by course_lib.data.isic2016)")
    dl.add_argument("--base-url", default=None, metavar="URL",
                    help="another copy of the official files (checked against the official "
                         "counts)")
    dl.add_argument("--mirror", default=None, metavar="URL",
                    help="a classroom mirror built by `course mirror make` (checked against its "
                         "mirror.json); default $COURSE_ISIC2016_MIRROR")
    dl.set_defaults(func=cmd_download)


def _add_mirror_parser(sub: argparse._SubParsersAction) -> None:
    mirror = sub.add_parser("mirror", help="build a classroom mirror of ISIC 2016",
                            description="Build, from a local ISIC 2016 folder, archives with the "
                                        "official names and layout (all images or a stratified "
                                        "subset) plus mirror.json; serve the folder with any "
                                        "static web server, e.g. python -m http.server.")
    mirror_sub = mirror.add_subparsers(dest="action", metavar="ACTION", required=True)
    make = mirror_sub.add_parser("make", help="write the mirror into OUT")
    make.add_argument("out", metavar="OUT")
    make.add_argument("--source", default=None, metavar="DIR",
                      help="local ISIC 2016 folder (default: the data folder's isic2016/)")
    make.add_argument("--n-train", type=int, default=None, metavar="N",
                      help="training images to keep (stratified; default all 900)")
    make.add_argument("--n-test", type=int, default=None, metavar="M",
                      help="test images to keep (stratified; default all 379)")
    make.add_argument("--seed", type=int, default=0)
    make.set_defaults(func=cmd_mirror)


def _add_lint_parser(sub: argparse._SubParsersAction) -> None:
    lint = sub.add_parser("lint", help="check the structure of solutions/ and notebooks/")
    lint.add_argument("--min-exercises", type=int, default=None, metavar="N",
                      help="fewest exercises a notebook may have (default: 4, the course's rule)")
    lint.set_defaults(func=cmd_lint)


def _add_info_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("info", help="versions, profile, folders, GPU").set_defaults(func=cmd_info)


def _add_report_parser(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="write runs/<profile>/report.md: ours vs the paper",
                            description="Compare the recorded results of a profile with the "
                                        "paper's Tables III-XI in runs/<profile>/report.md "
                                        "(+ report.png).")
    report.add_argument("--profile", default=None,
                        help=f"{', '.join(config.PROFILES)} (default: "
                             f"{config.default_profile_name()})")
    report.add_argument("--no-figure", action="store_true", help="skip report.png")
    report.set_defaults(func=cmd_report)


def _add_bench_parser(sub: argparse._SubParsersAction) -> None:
    from .bench import MODELS
    bench = sub.add_parser("bench", help="training throughput: model only vs full pipeline",
                           description="Measure in one run the training throughput on synthetic "
                                       "tensors and through the full input pipeline, and their "
                                       "ratio (goal >= 0.9); saves runs/<profile>/bench.json.")
    bench.add_argument("--image-size", type=int, default=96, metavar="PX")
    bench.add_argument("--batch-size", type=int, default=16, metavar="N")
    bench.add_argument("--steps", type=int, default=5, metavar="N",
                       help="timed steps per measurement, after one warm-up step")
    bench.add_argument("--rounds", type=int, default=2, metavar="N",
                       help="alternate the two measurements this many times")
    bench.add_argument("--model", default="mobilenet", choices=MODELS)
    bench.add_argument("--profile", default=None,
                       help="where bench.json goes / whose run log --notebooks reads")
    bench.add_argument("--no-variants", action="store_true",
                       help="on a GPU, skip mixed precision / XLA / MirroredStrategy")
    bench.add_argument("--cpu-variants", action="store_true",
                       help="measure mixed precision / XLA / MirroredStrategy on a CPU too "
                            "(checks the GPU code path; the speed-ups are for GPUs)")
    bench.add_argument("--notebooks", action="store_true",
                       help="only print the per-notebook wall times of the latest `course run`")
    bench.add_argument("--memory", action="store_true",
                       help="only print estimated training memory per model (no training)")
    bench.set_defaults(func=cmd_bench)


def _add_export_parser(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser("export", help="convert a saved model to TFLite",
                         description="Convert runs/<profile>/models/<MODEL>.keras to TFLite "
                                     "(float32, float16, int8) and compare it with Keras on test "
                                     "images: size, CPU latency, output and metric change.")
    exp.add_argument("--profile", default=None)
    exp.add_argument("--model", required=True, metavar="NAME",
                     help="saved model name (e.g. mobilenet, dc-mobilenet, unet-mobilenet), "
                          "fusion (07's classification fusion as one model), unet-fusion, or "
                          "best-unet (the saved U-Net with the best recorded JA)")
    exp.add_argument("--quantization", action="append", default=None,
                     choices=["float32", "float16", "int8"],
                     help="repeat for several (default: all three)")
    exp.add_argument("--n-images", type=int, default=100, metavar="N",
                     help="representative (int8) and test images used (default 100)")
    exp.add_argument("--head", default="cls1", choices=["cls1", "cls2", "mean"],
                     help="DC models: the head the exported classifier uses")
    exp.set_defaults(func=cmd_export)


def _add_grade_parser(sub: argparse._SubParsersAction) -> None:
    gr = sub.add_parser("grade", help="grade students' notebooks with the checks",
                        description="Run each submitted notebook in a child process (smoke "
                                    "profile, time and memory limits, clean temporary folder) "
                                    "and grade every exercise by calling its registered check "
                                    "on the student's function. Submissions are untrusted code: "
                                    "run this in a container or a throw-away account "
                                    "(docs/TEACHING.md).")
    gr.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                    help="a notebook, a student's folder of notebooks, or a student's .zip")
    gr.add_argument("--out", default=None,
                    help="CSV (default grades.csv, plus grades_summary.csv beside it); with "
                         "--format markdown a .md file (default: print)")
    gr.add_argument("--format", choices=["csv", "markdown"], default="csv")
    gr.add_argument("--cell-timeout", type=float, default=120, metavar="S",
                    help="seconds per cell before it is interrupted (default 120)")
    gr.add_argument("--timeout", type=float, default=300, metavar="S",
                    help="seconds for all cells of one notebook; later cells are skipped "
                         "(default 300); the process is killed at S + --grace")
    gr.add_argument("--check-timeout", type=float, default=60, metavar="S",
                    help="seconds per check call (default 60)")
    gr.add_argument("--grace", type=float, default=120, metavar="S",
                    help="start-up and grading time on top of --timeout (default 120)")
    gr.add_argument("--memory-gb", type=float, default=6, metavar="GB",
                    help="address-space limit of each notebook's process (default 6; 0: none)")
    gr.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="students graded at the same time (default 1)")
    gr.add_argument("--fast", action="store_true",
                    help="skip cells that train a model (exercise cells always run)")
    gr.add_argument("--data-dir", default=None, metavar="DIR",
                    help="data folder shared by the runs (default: a fresh temporary one)")
    gr.set_defaults(func=cmd_grade)


def _add_bundle_parser(sub: argparse._SubParsersAction) -> None:
    bd = sub.add_parser("bundle", help="write the student hand-out zip (no solutions)",
                        description="Zip notebooks/ (answer cells and outputs stripped), "
                                    "course_lib/, course_tools/, pyproject.toml, environment.yml, "
                                    "data/README.md, LICENSE and a student README.")
    bd.add_argument("--out", default="dermalite-student.zip", metavar="ZIP")
    bd.add_argument("--no-sync-check", action="store_true",
                    help="bundle notebooks/ even when it is stale against solutions/")
    bd.set_defaults(func=cmd_bundle)


def _add_site_parser(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("site", help="build the course website into OUT (default site/)",
                        description="Render README and the solutions (stored outputs, never "
                                    "executed) with mkdocs-material + mkdocs-jupyter; MathJax "
                                    "and search work offline. Needs the 'site' extra.")
    st.add_argument("--out", default="site", metavar="OUT")
    st.add_argument("--verbose", action="store_true", help="show mkdocs' log")
    st.set_defaults(func=cmd_site)


def build_parser() -> argparse.ArgumentParser:
    """The ``course`` parser: global options, then one subparser per command
    (``_add_<command>_parser``), in the order ``course --help`` lists them."""
    parser = argparse.ArgumentParser(
        prog="course", description="DermaLite course tools: run notebooks, make exercise copies, "
                                   "download data, lint notebooks, report, benchmark, export.")
    parser.add_argument("--root", metavar="DIR",
                        help="course checkout to use (default: the one holding course_lib)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_parser in (_add_run_parser, _add_exercises_parser, _add_download_parser,
                       _add_mirror_parser, _add_lint_parser, _add_info_parser, _add_report_parser,
                       _add_bench_parser, _add_export_parser, _add_grade_parser,
                       _add_bundle_parser, _add_site_parser):
        add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (CommandError, FileNotFoundError) as err:
        print(f"course {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
