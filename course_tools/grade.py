"""``course grade``: grade students' exercise notebooks by calling the registered checks.

Taught to teachers in docs/TEACHING.md. Each submitted notebook runs in a fresh child process
(:mod:`course_tools.grade_runner`: smoke profile, clean temporary folder, time and memory limits);
the child then imports ``course_lib.checks`` again from disk and calls every exercise's check on
the student's own function, so faked printed output or edited check cells change nothing. The
exercises come from the matching SOLUTION notebook (by the file name's ``NN``, else the title).
**Submissions are untrusted code**: the limits stop accidents and the usual cheats, not an
attacker; grade in a container or a throw-away account.

Statuses: ``passed``, ``failed``, ``not_implemented`` (the body still raises
``NotImplementedError``), ``error``, ``missing`` (no such function after the notebook ran),
``timeout``, ``unknown`` (no check registered under the id), ``unmatched`` (the file matches no
solution notebook).
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .exercises import exercise_header
from .notebook_lint import CHECKED_FUNCTION

__all__ = ["STATUSES", "Limits", "Submission", "NotebookGrade", "Grade", "solution_exercises",
           "notebook_title", "match_solution", "collect_submissions", "grade_notebook",
           "grade_submissions", "summarize", "write_csv", "write_summary_csv", "render_markdown",
           "summary_path", "GradingIntegrityError", "library_fingerprint", "training_cells",
           "TRAINING_CALL"]

STATUSES = ("passed", "failed", "not_implemented", "error", "missing", "timeout", "unknown",
            "unmatched")
CSV_FIELDS = ("student", "file", "notebook", "exercise", "status", "message")
SUMMARY_FIELDS = ("student", "passed", "total", "percent", "notebooks", "notes")
_NN = re.compile(r"(?<!\d)(\d{2})(?:[_ .-]|$)")
#: Environment variables passed on to the child (everything else, tokens included, is dropped).
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")


@dataclass(frozen=True)
class Limits:
    """Limits of one notebook's child process (seconds, GiB)."""

    cell_timeout: float = 120.0    # one cell; the cell is interrupted, the next one runs
    timeout: float = 300.0         # all cells of one notebook; later cells are skipped
    check_timeout: float = 60.0    # one check call
    grace: float = 120.0           # start-up + grading; the child is killed at timeout + grace
    memory_gb: float | None = 6.0  # address space (RLIMIT_AS); None: no limit
    file_gb: float = 2.0           # largest file the child may write (RLIMIT_FSIZE)


@dataclass(frozen=True)
class Submission:
    """One notebook to grade and the student it belongs to."""

    student: str
    path: Path
    label: str   # how the file is named in the output (relative to the submission)


@dataclass(frozen=True)
class Grade:
    """One row of grades.csv."""

    student: str
    file: str
    notebook: str
    exercise: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class NotebookGrade:
    """The grades of one submitted notebook, with what happened to its cells."""

    submission: Submission
    solution: Path | None
    grades: list[Grade] = field(default_factory=list)
    cells: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    output_tail: str = ""


# --------------------------------------------------------------------------- solutions
def _read(path: Path) -> nbformat.NotebookNode:
    with open(path, encoding="utf-8") as handle:
        return nbformat.read(handle, as_version=4)


def solution_exercises(solution: str | Path) -> list[dict]:
    """``[{"id": "0.1", "function": "jaccard"}, ...]``: the exercise header cells of a solution
    notebook, in order, each with the function name its check cell passes (``None`` when the
    notebook has no ``checks.run("N.M", name)`` for it)."""
    nb = _read(Path(solution))
    ids: list[str] = []
    names: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        header = exercise_header(cell.source)
        if header and header[0] not in ids:
            ids.append(header[0])
        for exercise_id, name in CHECKED_FUNCTION.findall(cell.source):
            names.setdefault(exercise_id, name)
    return [{"id": i, "function": names.get(i)} for i in ids]


def notebook_title(nb) -> str:
    """The text of the first ``# `` heading of the first markdown cell ('' if none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            return ""
    return ""


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def match_solution(path: str | Path, solutions: list[Path]) -> Path | None:
    """The solution notebook a submitted file corresponds to: the solution whose name the file
    name contains, else the one with the file name's ``NN`` number, else the one with the same
    title; ``None`` when nothing matches."""
    name = Path(path).name.lower()
    for solution in solutions:
        if solution.stem.lower() in name:
            return solution
    match = _NN.search(name)
    if match:
        found = [s for s in solutions if s.stem[:2] == match.group(1)]
        if len(found) == 1:
            return found[0]
    try:
        title = _normal(notebook_title(_read(Path(path))))
    except Exception:  # noqa: BLE001 - not a notebook: reported as unmatched
        return None
    if title:
        for solution in solutions:
            try:
                if _normal(notebook_title(_read(solution))) == title:
                    return solution
            except Exception:  # noqa: BLE001
                continue
    return None


# --------------------------------------------------------------------------- submissions
def _safe_extract(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            target = (dest / member.filename).resolve()
            if not str(target).startswith(str(dest.resolve()) + os.sep) or member.is_dir():
                continue
            if not member.filename.endswith(".ipynb") or member.file_size > 50 * 2**20:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def collect_submissions(paths: list[str | Path], workdir: Path | None = None) -> list[Submission]:
    """Turn the command line into notebooks to grade. A folder is one student (its name; every
    ``*.ipynb`` inside, recursively); a ``.zip`` is one student (the archive's name; its notebooks
    are extracted into ``workdir``); a lone ``.ipynb`` belongs to its parent folder's student."""
    found: list[Submission] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            student = path.resolve().name
            for nb in sorted(path.rglob("*.ipynb")):
                if ".ipynb_checkpoints" in nb.parts:
                    continue
                label = f"{student}/{nb.relative_to(path).as_posix()}"
                found.append(Submission(student, nb, label))
        elif path.suffix == ".zip" and path.is_file():
            if workdir is None:
                workdir = Path(tempfile.mkdtemp(prefix="course-grade-zip-"))
            dest = workdir / f"zip{len(found)}_{path.stem}"
            dest.mkdir(parents=True, exist_ok=True)
            _safe_extract(path, dest)
            for nb in sorted(dest.rglob("*.ipynb")):
                if ".ipynb_checkpoints" in nb.parts or "__MACOSX" in nb.parts:
                    continue
                found.append(Submission(path.stem, nb,
                                        f"{path.name}:{nb.relative_to(dest).as_posix()}"))
        elif path.is_file():
            parent = path.resolve().parent.name
            student = parent or path.stem
            label = f"{parent}/{path.name}" if parent else path.name
            found.append(Submission(student, path, label))
        else:
            raise FileNotFoundError(f"{raw}: no such notebook, folder or .zip")
    return found


# --------------------------------------------------------------------------- one notebook
def _rlimits(limits: Limits) -> dict:
    """The resource limits the child sets on itself before running any submitted code."""
    out = {"RLIMIT_CORE": 0, "RLIMIT_FSIZE": int(limits.file_gb * 2**30)}
    if limits.memory_gb:
        out["RLIMIT_AS"] = int(limits.memory_gb * 2**30)
    return out


def _child_env(tmp: Path, data_dir: Path | None, root: Path, shared: Path,
               runs_dir: Path | None = None) -> dict:
    env = {key: os.environ[key] for key in _KEPT_ENV if key in os.environ}
    env.update({"HOME": str(tmp / "home"), "TMPDIR": str(tmp / "tmp"), "COURSE_PROFILE": "smoke",
                "COURSE_RUNS_DIR": str(runs_dir if runs_dir is not None else tmp / "runs"),
                "COURSE_DATA_DIR": str(data_dir if data_dir is not None else tmp / "data"),
                "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(shared / "matplotlib"),
                "PYTHONPATH": str(root), "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    for folder in ("home", "tmp", "runs", "work"):
        (tmp / folder).mkdir(parents=True, exist_ok=True)
    return env


def _drain(stream, tail: deque) -> None:
    for chunk in iter(lambda: stream.read(4096), b""):
        tail.append(chunk)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        with contextlib.suppress(OSError):
            proc.kill()


class GradingIntegrityError(RuntimeError):
    """A submission changed the course's own files while it ran; grading stops."""


def library_fingerprint(root: Path, solution: Path | None = None) -> dict[str, str]:
    """sha256 of the files that decide a notebook's grades: ``checks/__init__.py``, the grader,
    and ``checks/nbNN.py`` plus the solution for ``solution`` (without it: every check module and
    solution notebook). Compared before and after each run to notice a submission that rewrote
    them."""
    import hashlib
    root = Path(root)
    paths = [root / "course_lib" / "checks" / "__init__.py",
             root / "course_tools" / "grade_runner.py"]
    if solution is not None:
        paths += [root / "course_lib" / "checks" / f"nb{Path(solution).name[:2]}.py",
                  root / "solutions" / Path(solution).name]
    else:
        paths += sorted((root / "course_lib" / "checks").glob("nb*.py"))
        paths += sorted((root / "solutions").glob("*.ipynb"))
    out = {}
    for path in paths:
        key = path.relative_to(root).as_posix()
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return out


#: Calls that train a model: ``.fit(``, ``train_*(`` (recipes, a notebook's own),
#: ``fusion.get_member(`` (trains missing members).
TRAINING_CALL = re.compile(r"\.fit\(|\btrain_\w*\(|\bget_member\(")


def training_cells(nb) -> list[int]:
    """Indices of code cells that train a model (:data:`TRAINING_CALL`), skipped by
    ``course grade --fast``; exercise and check cells never are."""
    skip = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and TRAINING_CALL.search(cell.source) \
                and exercise_header(cell.source) is None and "checks.run(" not in cell.source:
            skip.append(index)
    return skip


def _write_spec(nb, tmp: Path, exercises: list[dict], limits: Limits, fast: bool) -> Path:
    """Write the notebook to ``tmp/work`` and the child's instructions to ``tmp/spec.json``;
    return the spec's path."""
    nb_path = tmp / "work" / "submission.ipynb"
    nbformat.write(nb, str(nb_path))
    skip = training_cells(nb) if fast else []
    code_index = {i for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    spec = {"notebook": str(nb_path), "result": str(tmp / "result.json"),
            "exercises": exercises, "cell_timeout": limits.cell_timeout,
            "check_timeout": limits.check_timeout, "budget": limits.timeout,
            "skip_cells": [i for i in skip if i in code_index],
            "rlimits": _rlimits(limits), "progress": str(tmp / "progress")}
    spec_path = tmp / "spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    return spec_path


def _run_child(spec_path: Path, tmp: Path, env: dict, limits: Limits,
               python: str | None) -> tuple[subprocess.Popen, bool, float, deque]:
    """Run :mod:`course_tools.grade_runner` on ``spec_path`` for at most ``timeout + grace``, then
    kill its process group. ``(process, killed, seconds, tail of the output in chunks)``."""
    began = time.monotonic()
    proc = subprocess.Popen([python or sys.executable, "-m", "course_tools.grade_runner",
                             str(spec_path)], cwd=tmp / "work", env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    tail: deque = deque(maxlen=64)  # the last 256 KB of output
    reader = threading.Thread(target=_drain, args=(proc.stdout, tail), daemon=True)
    reader.start()
    killed = False
    try:
        proc.wait(timeout=limits.timeout + limits.grace)
    except subprocess.TimeoutExpired:
        killed = True
    _kill_group(proc)  # whatever it started in the background goes too
    proc.wait()
    reader.join(timeout=5)
    return proc, killed, round(time.monotonic() - began, 1), tail


def _check_integrity(submission: Submission, root: Path, solution: Path, before: dict,
                     baseline: dict | None) -> None:
    """Raise :class:`GradingIntegrityError` when the files that decide the notebook's grades
    no longer match ``baseline`` (default: ``before``, their state before the run)."""
    after = library_fingerprint(root, solution)
    reference = {key: (baseline or before).get(key, before[key]) for key in before}
    if after != reference:
        changed = sorted(k for k in after if reference.get(k) != after[k])
        raise GradingIntegrityError(
            f"{submission.label} changed the course's own files while it ran ("
            + ", ".join(changed[:5]) + "). Grading stopped: restore them (git checkout) and "
            "grade in a container or throw-away account with the course read-only "
            "(docs/TEACHING.md).")


def _read_report(result_file: Path) -> dict | None:
    """The child's result.json; ``None`` when it wrote none or it is not JSON."""
    if not result_file.exists():
        return None
    try:
        return json.loads(result_file.read_text(encoding="utf-8"))
    except ValueError:
        return None


def _not_graded_reason(report: dict | None, killed: bool, returncode: int | None,
                       limits: Limits, progress: Path, output_tail: str) -> str:
    """Why no grades came back: the time limit (and the cell it stopped in), the child's own
    failure, its exit code or signal, or likely memory."""
    if killed:
        why = (f"the notebook did not finish within {limits.timeout + limits.grace:.0f} s "
               "and was stopped")
        try:
            why += f" in cell {int(progress.read_text()) + 1}"
        except (OSError, ValueError):
            pass
        why += "; not graded"
    else:
        how = (f"signal {-returncode}" if returncode is not None and returncode < 0
               else f"exit code {returncode}")
        why = f"the notebook's process ended ({how}) before grading"
        if report and report.get("failure"):
            why = f"grading failed: {report['failure']}"
        elif limits.memory_gb and ("MemoryError" in output_tail
                                   or "bad_alloc" in output_tail):
            why += f" — it probably ran out of memory (limit {limits.memory_gb:g} GiB)"
    return why


def _record_report(result: NotebookGrade, report: dict, exercises: list[dict], limits: Limits,
                   row: Callable[[str, str, str], Grade]) -> None:
    """Fill ``result`` from the child's report: a grade per exercise (``error`` if none came
    back), the cells, and notes on failed or skipped cells."""
    by_id = {g["id"]: g for g in report["grades"]}
    for exercise in exercises:
        grade = by_id.get(exercise["id"], {"status": "error",
                                           "message": "no grade came back"})
        result.grades.append(row(exercise["id"], grade["status"], grade["message"]))
    result.cells = report.get("cells", [])
    result.notes.extend(_cell_notes(result.cells))
    skipped = [c for c in result.cells if c["status"] == "skipped"
               and "time limit" in c.get("error", "")]
    if skipped:
        result.notes.append(f"time limit of {limits.timeout:.0f} s reached: "
                            f"{len(skipped)} cells not run")


def grade_notebook(submission: Submission, solution: Path | None, *, root: Path,
                   limits: Limits = Limits(), data_dir: Path | None = None, fast: bool = False,
                   shared: Path | None = None, runs_dir: Path | None = None,
                   baseline: dict | None = None, python: str | None = None) -> NotebookGrade:
    """Run one submitted notebook in a child process and grade its exercises.

    ``runs_dir``: the notebook's ``COURSE_RUNS_DIR`` (one student's notebooks share one, so 07
    finds the models 03–06 saved). ``baseline``: :func:`library_fingerprint` at the start of the
    session, which the graded files must still match after the run (default: their state before
    it); :class:`GradingIntegrityError` otherwise."""
    result = NotebookGrade(submission, solution)
    notebook = solution.stem if solution is not None else ""

    def row(exercise_id: str, status: str, message: str) -> Grade:
        return Grade(submission.student, submission.label, notebook, exercise_id, status, message)

    if solution is None:
        result.grades.append(row("", "unmatched", "This file matches no notebook of the course "
                                 "(name it like NN_topic.ipynb, e.g. 00_setup_and_metrics.ipynb)."))
        return result
    exercises = solution_exercises(solution)
    try:
        nb = _read(submission.path)
    except Exception as err:  # noqa: BLE001 - not JSON, not a notebook
        message = f"The file is not a readable notebook ({type(err).__name__}); not graded."
        result.grades = [row(e["id"], "error", message) for e in exercises]
        result.notes.append(message)
        return result
    own_shared = shared is None
    shared = Path(tempfile.mkdtemp(prefix="course-grade-shared-")) if own_shared else shared
    tmp = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        env = _child_env(tmp, data_dir, root, shared, runs_dir)
        spec_path = _write_spec(nb, tmp, exercises, limits, fast)
        before = library_fingerprint(root, solution)
        proc, killed, seconds, tail = _run_child(spec_path, tmp, env, limits, python)
        result.seconds = seconds
        _check_integrity(submission, root, solution, before, baseline)
        result.output_tail = b"".join(tail).decode("utf-8", "replace")[-20000:]
        report = _read_report(tmp / "result.json")
        if report is None or (not report.get("grades") and exercises):
            why = _not_graded_reason(report, killed, proc.returncode, limits, tmp / "progress",
                                     result.output_tail)
            status = "timeout" if killed else "error"
            result.grades = [row(e["id"], status, f"Exercise {e['id']}: not graded: {why}.")
                             for e in exercises]
            result.notes.append(why)
            return result
        _record_report(result, report, exercises, limits, row)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if own_shared:
            shutil.rmtree(shared, ignore_errors=True)


def _cell_notes(cells: list[dict], shown_errors: int = 3) -> list[str]:
    """Notes on every cell that timed out or had a syntax error and on the first
    ``shown_errors`` cells that raised (later ones are mostly NameErrors that follow)."""
    notes, errors = [], 0
    labels = {"timeout": "timed out", "error": "raised", "syntax_error": "has a syntax error"}
    for cell in cells:
        if cell["status"] not in labels:
            continue
        if cell["status"] == "error":
            errors += 1
            if errors > shown_errors:
                continue
        detail = cell.get("error", "")
        notes.append(f"cell {cell['cell'] + 1} {labels[cell['status']]}"
                     + (f" ({detail})" if detail else ""))
    if errors > shown_errors:
        notes.append(f"{errors - shown_errors} more cells raised")
    return notes


def grade_submissions(paths: list[str | Path], *, root: Path, limits: Limits = Limits(),
                      data_dir: Path | None = None, fast: bool = False, jobs: int = 1,
                      progress=None) -> list[NotebookGrade]:
    """Grade every notebook of every submission, ``jobs`` students at a time (each student's in
    course order, sharing a runs folder); the result is in command-line order."""
    from concurrent.futures import ThreadPoolExecutor
    solutions = sorted((Path(root) / "solutions").glob("*.ipynb"))
    if not solutions:
        raise FileNotFoundError(f"{root}/solutions holds no notebooks to grade against.")
    shared = Path(tempfile.mkdtemp(prefix="course-grade-shared-"))
    try:
        if data_dir is None:
            data_dir = shared / "data"  # one SynthDerm cache for this grading session
        data_dir.mkdir(parents=True, exist_ok=True)
        baseline = library_fingerprint(Path(root))
        submissions = collect_submissions(paths, workdir=shared / "zips")
        by_student: dict[str, list[tuple[Submission, Path | None]]] = {}
        for submission in submissions:
            solution = match_solution(submission.path, solutions)
            by_student.setdefault(submission.student, []).append((submission, solution))

        def student(number: int, items: list) -> list[NotebookGrade]:
            # the student's notebooks in course order, sharing one runs/ folder
            runs = shared / "runs" / str(number)
            runs.mkdir(parents=True, exist_ok=True)
            items = sorted(items, key=lambda item: (item[1] is None,
                                                    item[1].name if item[1] else "",
                                                    item[0].label))
            out = []
            for submission, solution in items:
                graded = grade_notebook(submission, solution, root=Path(root), limits=limits,
                                        data_dir=data_dir, fast=fast, shared=shared,
                                        runs_dir=runs, baseline=baseline)
                if progress is not None:
                    progress(graded)
                out.append(graded)
            return out

        with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
            done = list(pool.map(student, range(len(by_student)), by_student.values()))
        order = {id(s): i for i, s in enumerate(submissions)}
        return sorted((g for group in done for g in group),
                      key=lambda g: order[id(g.submission)])
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# --------------------------------------------------------------------------- output
def summarize(graded: list[NotebookGrade]) -> list[dict]:
    """One dict per student: passed, total, percent, notebooks (NN numbers) and notes."""
    students: dict[str, dict] = {}
    for nb in graded:
        entry = students.setdefault(nb.submission.student, {
            "student": nb.submission.student, "passed": 0, "total": 0, "notebooks": [],
            "notes": []})
        counted = [g for g in nb.grades if g.status != "unmatched"]
        entry["passed"] += sum(g.passed for g in counted)
        entry["total"] += len(counted)
        if nb.solution is not None:
            entry["notebooks"].append(nb.solution.stem[:2])
        entry["notes"].extend(f"{nb.submission.label}: {note}" for note in nb.notes)
        if nb.solution is None:
            entry["notes"].append(f"{nb.submission.label}: matches no notebook")
    out = []
    for entry in students.values():
        repeated = sorted({nn for nn in entry["notebooks"] if entry["notebooks"].count(nn) > 1})
        for nn in repeated:
            entry["notes"].append(f"notebook {nn} handed in {entry['notebooks'].count(nn)} "
                                  "times: every copy is counted")
        total = entry["total"]
        entry["percent"] = round(100 * entry["passed"] / total, 1) if total else 0.0
        entry["notebooks"] = " ".join(sorted(entry["notebooks"]))
        entry["notes"] = "; ".join(entry["notes"])
        out.append(entry)
    return sorted(out, key=lambda e: e["student"])


def write_csv(graded: list[NotebookGrade], path: str | Path) -> Path:
    """grades.csv: one row per submitted notebook and exercise (CSV_FIELDS)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for nb in graded:
            for g in nb.grades:
                writer.writerow([g.student, g.file, g.notebook, g.exercise, g.status, g.message])
    return path


def summary_path(path: str | Path) -> Path:
    """``grades.csv`` → ``grades_summary.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_summary{path.suffix or '.csv'}")


def write_summary_csv(graded: list[NotebookGrade], path: str | Path) -> Path:
    """The per-student summary (SUMMARY_FIELDS)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for entry in summarize(graded):
            writer.writerow({key: entry[key] for key in SUMMARY_FIELDS})
    return path


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(graded: list[NotebookGrade]) -> str:
    """A report for a human: the summary per student, then every notebook's grades."""
    marks = {"passed": "✓"}
    out = io.StringIO()
    out.write("# Grades\n\n| student | passed | total | % | notebooks |\n"
              "|---|---:|---:|---:|---|\n")
    for entry in summarize(graded):
        out.write(f"| {_cell(entry['student'])} | {entry['passed']} | {entry['total']} | "
                  f"{entry['percent']:g} | {entry['notebooks']} |\n")
    for nb in graded:
        passed = sum(g.passed for g in nb.grades)
        out.write(f"\n## {_cell(nb.submission.label)}\n\n")
        out.write(f"student {_cell(nb.submission.student)} · notebook "
                  f"{nb.solution.stem if nb.solution else '(unmatched)'} · {passed}/"
                  f"{len(nb.grades)} passed · {nb.seconds:g} s\n\n")
        if nb.notes:
            out.write("".join(f"- {_cell(note)}\n" for note in nb.notes) + "\n")
        out.write("| exercise | status | message |\n|---|---|---|\n")
        for g in nb.grades:
            out.write(f"| {g.exercise} | {marks.get(g.status, '✗')} {g.status} | "
                      f"{_cell(g.message)} |\n")
    return out.getvalue()
