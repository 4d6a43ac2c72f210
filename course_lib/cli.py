"""The ``course`` command: run notebooks, generate exercise copies, download data, lint.

Taught in 00_setup_and_metrics. ``course --help`` lists the subcommands:

- ``course run [--profile P] [NOTEBOOK ...] [--exercises] [--store] [--timeout S]`` executes
  ``solutions/*.ipynb`` (or the ``notebooks/`` copies) with papermill into
  ``runs/<profile>/notebooks/`` (``runs/<profile>/exercises/``) and prints a table;
  ``--store`` writes the executed outputs back into ``solutions/``.
- ``course exercises [--check]`` regenerates ``notebooks/`` from ``solutions/``.
- ``course download isic2016 [--part3] [--dest DIR] [--base-url URL]`` fetches ISIC 2016.
- ``course lint`` checks the notebooks' structure (course_lib.notebook_lint).
- ``course info`` prints versions, profile, folders and whether a GPU is visible.

Every command takes ``--root DIR`` (before the subcommand) to use another course checkout.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import config

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
    place; outputs and execution counts stay."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
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
                     timeout: float | None = None) -> RunResult:
    """Run one notebook with papermill (kernel python3, cwd = ``root``) with
    ``COURSE_PROFILE=profile`` in the kernel's environment. No papermill parameters are
    injected: the notebook's ``parameters`` cell reads the environment."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    with _environment(COURSE_PROFILE=profile):
        try:
            papermill.execute_notebook(
                str(source), str(output), kernel_name="python3", cwd=str(root),
                log_output=False, progress_bar=False, execution_timeout=timeout,
                # ipykernel >= 7 warns on every start that TCP is unencrypted (local only)
                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except Exception as err:  # noqa: BLE001 - reported in the table
            error = _first_error_line(err)
    return RunResult(source.stem, output, time.perf_counter() - start, error)


def _print_table(results: list[RunResult]) -> None:
    rows = [(r.name, "ok" if r.ok else f"FAILED: {r.error}", f"{r.seconds:.1f}") for r in results]
    rows.append(("total", "", f"{sum(r.seconds for r in results):.1f}"))
    name_width = max(len("notebook"), *(len(r[0]) for r in rows))
    status_width = min(max(len("status"), *(len(r[1]) for r in rows)), 100)
    print(f"{'notebook':<{name_width}}  {'status':<{status_width}}  {'seconds':>8}")
    for name, status, seconds in rows:
        if len(status) > status_width:
            status = status[: status_width - 1] + "…"
        print(f"{name:<{name_width}}  {status:<{status_width}}  {seconds:>8}")


# --------------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    if args.store and args.exercises:
        raise CommandError("--store writes outputs back into solutions/; exercise copies carry "
                           "no outputs, so --store cannot be combined with --exercises.")
    try:
        profile = config.get_profile(args.profile).name
    except ValueError as err:
        raise CommandError(str(err)) from None
    root = _root(args)
    notebooks = resolve_notebooks(root, args.notebooks, exercises=args.exercises)
    out_dir = _runs_base(root) / profile / ("exercises" if args.exercises else "notebooks")
    results = []
    for source in notebooks:
        output = out_dir / source.name
        print(f"running {source.stem} (profile {profile}) -> {output}", flush=True)
        result = execute_notebook(source, output, profile, root, args.timeout)
        results.append(result)
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
    destination.write_bytes(render_notebook(nb).encode("utf-8"))


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
    try:
        from .data.isic2016 import download_isic2016

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


def cmd_lint(args) -> int:
    from .notebook_lint import lint_course

    root = _root(args)
    problems = lint_course(root)
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
    from . import __version__

    print(f"course_lib   {__version__} ({Path(__file__).resolve().parent})")
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


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course", description="DermaLite course tools: run notebooks, make exercise copies, "
                                   "download data, lint notebooks.")
    parser.add_argument("--root", metavar="DIR",
                        help="course checkout to use (default: the one holding course_lib)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    run.add_argument("--timeout", type=float, default=None, metavar="S",
                     help="seconds any one cell may run (default: no limit)")
    run.set_defaults(func=cmd_run)

    ex = sub.add_parser("exercises", help="generate notebooks/ from solutions/",
                        description="Write notebooks/ (exercise copies without solutions or "
                                    "outputs) from solutions/.")
    ex.add_argument("--check", action="store_true",
                    help="only compare; exit 1 if notebooks/ is stale, missing or has extras")
    ex.set_defaults(func=cmd_exercises)

    dl = sub.add_parser("download", help="download a dataset (isic2016)",
                        description="Download ISIC 2016 into the data folder.")
    dl.add_argument("dataset", choices=["isic2016"])
    dl.add_argument("--part3", action="store_true",
                    help="fetch the Part 3 (classification) image archives instead of the "
                         "Part 1 images and masks")
    dl.add_argument("--dest", default=None, metavar="DIR",
                    help="target folder (default: chosen by course_lib.data.isic2016)")
    dl.add_argument("--base-url", default=None, metavar="URL", help="mirror to download from")
    dl.set_defaults(func=cmd_download)

    lint = sub.add_parser("lint", help="check the structure of solutions/ and notebooks/")
    lint.set_defaults(func=cmd_lint)

    info = sub.add_parser("info", help="versions, profile, folders, GPU")
    info.set_defaults(func=cmd_info)
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
