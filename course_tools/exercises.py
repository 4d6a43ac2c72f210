"""Generate the exercise copies in ``notebooks/`` from the notebooks in ``solutions/``.

Taught in 00_setup_and_metrics (how the course's notebooks are organised). Only
``solutions/NN_topic.ipynb`` is edited by hand; inside a function body the solution sits between
two marker lines at the same indentation, in a cell whose first non-blank line is the header
``# Exercise X.Y — <task>`` (separator ``—``, ``–``, ``-``, ``:`` or ``.``; task optional)::

    # Exercise 0.1 — write the body of jaccard()
    def jaccard(true_mask, pred_mask):
        \"\"\"Per-image Jaccard index of two binary masks.\"\"\"
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

:func:`make_exercise_notebook` replaces each region with ``raise NotImplementedError("Exercise
X.Y: <task>")``, drops cells tagged ``remove-from-exercise``, clears outputs, execution counts and
run metadata (keeping cell ids) and points the title's Colab badge at ``notebooks/``; nbformat
writes it, so regenerating gives identical bytes. ``course exercises`` (:func:`sync_exercises`)
rewrites ``notebooks/``; ``course exercises --check`` reports stale, missing or extra copies.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib import config

__all__ = ["BEGIN_MARKER", "END_MARKER", "REMOVE_TAG", "ANSWERS_TAG", "DEFAULT_TASK",
           "SOLUTIONS_DIR", "EXERCISES_DIR", "ExerciseError", "Region", "exercise_header",
           "find_regions", "strip_solutions", "colab_url", "cell_label", "make_exercise_notebook",
           "render_exercise_notebook", "read_notebook", "render_notebook", "SyncReport",
           "sync_exercises", "DIFFICULTY", "exercise_difficulty", "KERNELSPEC"]

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
#: The kernelspec JupyterLab writes for the default kernel (ipykernel's own spec). Notebooks are
#: stored with it, so opening an untouched notebook does not mark it modified.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
#: Cells with this tag appear in solutions/ only.
REMOVE_TAG = "remove-from-exercise"
#: Instructors' answer sketches to the Summary's questions: after the Summary in solutions/,
#: dropped from the exercise copies and the student bundle (they also carry REMOVE_TAG).
ANSWERS_TAG = "answers"
DEFAULT_TASK = "write the body of this function"
SOLUTIONS_DIR = "solutions"
EXERCISES_DIR = "notebooks"

#: ``# Exercise 0.1 — write the body of jaccard()`` → ("0.1", "write the body of jaccard()")
HEADER = re.compile(r"^#\s*Exercise\s+(\d{1,2}\.\d{1,2})(?!\d|\.\d)\s*"
                    r"(★{1,3})?\s*(?:\(\s*~?\s*(\d+)\s*min\s*\))?\s*"
                    r"(?:[—–:.-]+\s*)?(.*?)\s*$")
#: Difficulty marks: ★ warm-up, ★★ core, ★★★ stretch (never needed downstream).
DIFFICULTY = {1: "warm-up", 2: "core", 3: "stretch"}
_MARKER_LIKE = re.compile(r"#+\s*(BEGIN|END)\s+SOLUTION", re.IGNORECASE)
_DEF_LINE = re.compile(r"^\s*(async\s+)?def\s+\w+")
#: Notebook-level metadata kept in exercise copies (papermill, widget state and timings go).
_KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info", "colab", "accelerator")
#: Cell metadata kept in exercise copies (everything else is run or editor state).
_KEPT_CELL_METADATA = ("tags", "jupyter", "editable", "deletable", "slideshow", "name")


class ExerciseError(ValueError):
    """A solution notebook's markers or headers are malformed; the message names the notebook,
    the cell and what to change."""


@dataclass(frozen=True)
class Region:
    """One ``### BEGIN/END SOLUTION`` pair: 0-based line numbers of the markers in the cell."""

    begin: int
    end: int
    indent: str


def cell_label(index: int, cell) -> str:
    """``cell 4 (id 'ab12')`` — 1-based position as Jupyter shows it, plus the cell id."""
    cell_id = cell.get("id")
    return f"cell {index + 1}" + (f" (id {cell_id!r})" if cell_id else "")


def _header_match(source: str) -> re.Match | None:
    """:data:`HEADER` matched against the cell's first non-blank line."""
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return HEADER.match(first) if first else None


def exercise_header(source: str) -> tuple[str, str] | None:
    """``(exercise_id, task)`` from a cell whose first non-blank line is
    ``# Exercise X.Y — task``; ``None`` for any other cell."""
    match = _header_match(source)
    return (match.group(1), match.group(4) or DEFAULT_TASK) if match else None


def exercise_difficulty(source: str) -> tuple[int, int] | None:
    """``(stars, minutes)`` from an exercise header ``# Exercise 4.2 ★★ (25 min) — task``;
    ``None`` when the cell is not an exercise or its header carries no mark and estimate."""
    match = _header_match(source)
    if not match or not match.group(2) or not match.group(3):
        return None
    return len(match.group(2)), int(match.group(3))


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _parse_tree(lines: list[str]) -> ast.Module | None:
    """Parse a code cell, turning IPython ``%magic`` / ``!shell`` lines into ``pass``."""
    if lines and lines[0].lstrip().startswith("%%"):
        return None
    cleaned = []
    for line in lines:
        if line.lstrip().startswith(("%", "!")):
            cleaned.append(_indent_of(line) + "pass\n")
        else:
            cleaned.append(line if line.endswith("\n") else line + "\n")
    try:
        return ast.parse("".join(cleaned))
    except SyntaxError:
        return None


def _inside_function_ast(tree: ast.Module, region: Region, lines: list[str]) -> str | None:
    """None when the region lies in a function body; otherwise what is wrong."""
    begin_line = region.begin + 1  # ast counts from 1
    end_line = region.end + 1
    width = len(region.indent.expandtabs())
    functions = [node for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and node.lineno < begin_line <= node.end_lineno and node.col_offset < width]
    if not functions:
        return "is not inside a function body"
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and begin_line < node.lineno < end_line:
            if node.col_offset < width:
                return (f"contains line {node.lineno} ({lines[node.lineno - 1].strip()!r}) "
                        "indented less than its markers")
    return None


def _inside_function_indent(lines: list[str], region: Region) -> str | None:
    """Fallback when the cell does not parse: a ``def`` at lower indentation must enclose it."""
    threshold = len(region.indent.expandtabs())
    for line in reversed(lines[: region.begin]):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        width = len(_indent_of(line).expandtabs())
        if width < threshold:
            if _DEF_LINE.match(line):
                return None
            threshold = width
            if width == 0:
                break
    return "is not inside a function body"


def find_regions(source: str, where: str = "cell") -> list[Region]:
    """The solution regions of one code cell, validated. Raises :class:`ExerciseError`
    (prefixed with ``where``) for unpaired, nested, unequally indented, empty or misspelled
    markers, or a region that is not inside a function body."""
    lines = source.splitlines(keepends=True)
    regions: list[Region] = []
    open_at: int | None = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped == BEGIN_MARKER:
            if open_at is not None:
                raise ExerciseError(f"{where}: line {number + 1} opens a second '{BEGIN_MARKER}' "
                                    f"before line {open_at + 1}'s region was closed; add "
                                    f"'{END_MARKER}' first (regions cannot nest).")
            open_at = number
        elif stripped == END_MARKER:
            if open_at is None:
                raise ExerciseError(f"{where}: line {number + 1} has '{END_MARKER}' without a "
                                    f"'{BEGIN_MARKER}' above it.")
            indent = _indent_of(lines[open_at])
            if _indent_of(line) != indent:
                raise ExerciseError(f"{where}: the markers on lines {open_at + 1} and "
                                    f"{number + 1} are indented differently; put '{BEGIN_MARKER}' "
                                    f"and '{END_MARKER}' at the same indentation.")
            body = [ln for ln in lines[open_at + 1: number] if ln.strip()]
            if not body:
                raise ExerciseError(f"{where}: the solution region on lines {open_at + 1}-"
                                    f"{number + 1} is empty; put the solution code between the "
                                    "markers.")
            regions.append(Region(open_at, number, indent))
            open_at = None
        elif _MARKER_LIKE.search(stripped) and stripped.startswith("#"):
            raise ExerciseError(f"{where}: line {number + 1} ({stripped!r}) looks like a solution "
                                f"marker but is not exactly '{BEGIN_MARKER}' or '{END_MARKER}'.")
    if open_at is not None:
        raise ExerciseError(f"{where}: '{BEGIN_MARKER}' on line {open_at + 1} is never closed; "
                            f"add '{END_MARKER}' at the same indentation after the solution.")
    if regions:
        tree = _parse_tree(lines)
        for region in regions:
            problem = (_inside_function_ast(tree, region, lines) if tree is not None
                       else _inside_function_indent(lines, region))
            if problem:
                raise ExerciseError(f"{where}: the solution region on lines {region.begin + 1}-"
                                    f"{region.end + 1} {problem}; exercises ask for the body of "
                                    "a function, so put the markers inside a 'def' and indent "
                                    "them like its body.")
    return regions


def strip_solutions(source: str, where: str = "cell") -> str:
    """Replace every solution region of a code cell by ``raise NotImplementedError(...)``;
    a cell with regions must start with an exercise header (ExerciseError otherwise)."""
    regions = find_regions(source, where)
    if not regions:
        return source
    header = exercise_header(source)
    if header is None:
        raise ExerciseError(f"{where}: has '{BEGIN_MARKER}' regions but its first line is not an "
                            "exercise header; start the cell with a comment like "
                            "'# Exercise 0.1 — write the body of jaccard()'.")
    exercise_id, task = header
    message = json.dumps(f"Exercise {exercise_id}: {task}", ensure_ascii=False)
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    position = 0
    for region in regions:
        out.extend(lines[position: region.begin])
        newline = "\n" if region.end + 1 < len(lines) or lines[region.end].endswith("\n") else ""
        out.append(f"{region.indent}raise NotImplementedError({message}){newline}")
        position = region.end + 1
    out.extend(lines[position:])
    result = "".join(out)
    if _parse_tree(lines) is not None and _parse_tree(result.splitlines(keepends=True)) is None:
        raise ExerciseError(f"{where}: replacing the solution regions leaves invalid Python; "
                            "make each region hold complete statements of the function body.")
    return result


def colab_url(relative_path: str | Path) -> str:
    """The "Open in Colab" link of a notebook, e.g. ``colab_url("solutions/00_x.ipynb")``."""
    return (f"https://colab.research.google.com/github/{config.REPOSITORY}/blob/"
            f"{config.BRANCH}/{Path(relative_path).as_posix()}")


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read a notebook as nbformat v4 (no conversion of minor versions)."""
    with open(path, encoding="utf-8") as handle:
        return nbformat.read(handle, as_version=4)


def render_notebook(nb: nbformat.NotebookNode) -> str:
    """The exact text nbformat.write produces (sorted keys, one-space indent, final newline)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def _clean_cell_metadata(cell) -> None:
    cell["metadata"] = nbformat.from_dict(
        {key: value for key, value in cell.get("metadata", {}).items()
         if key in _KEPT_CELL_METADATA})


def make_exercise_notebook(nb: nbformat.NotebookNode, name: str,
                           source_label: str | None = None) -> nbformat.NotebookNode:
    """Return the exercise copy of solution notebook ``nb`` (file name ``name``). Raises
    :class:`ExerciseError` naming ``source_label`` (default ``solutions/<name>``) and the cell."""
    source_label = source_label or f"{SOLUTIONS_DIR}/{name}"
    copy = nbformat.from_dict(json.loads(json.dumps(nb)))  # deep copy
    cells = []
    for index, cell in enumerate(copy.cells):
        where = f"{source_label}, {cell_label(index, cell)}"
        if nb.nbformat_minor >= 5 and not cell.get("id"):
            raise ExerciseError(f"{where} has no cell id; open and save the notebook with "
                                "Jupyter >= 4 (nbformat 4.5) so every cell gets one.")
        tags = cell.get("metadata", {}).get("tags", [])
        if REMOVE_TAG in tags or ANSWERS_TAG in tags:
            continue
        _clean_cell_metadata(cell)
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, where)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown" and not cells:
            cell.source = cell.source.replace(colab_url(f"{SOLUTIONS_DIR}/{name}"),
                                              colab_url(f"{EXERCISES_DIR}/{name}"))
        cells.append(cell)
    copy.cells = cells
    metadata = {key: value for key, value in copy.metadata.items()
                if key in _KEPT_NOTEBOOK_METADATA}
    if "language_info" in metadata:
        # The Python version of whoever stored the outputs last is not part of the source.
        metadata["language_info"] = {key: value for key, value in metadata["language_info"].items()
                                     if key != "version"}
    if "kernelspec" in metadata:
        metadata["kernelspec"] = dict(KERNELSPEC)
    copy.metadata = nbformat.from_dict(metadata)
    return copy


def render_exercise_notebook(solution_path: str | Path, source_label: str | None = None) -> str:
    """The text ``notebooks/<name>`` should contain for ``solution_path``."""
    solution_path = Path(solution_path)
    nb = read_notebook(solution_path)
    label = source_label or f"{SOLUTIONS_DIR}/{solution_path.name}"
    exercise = make_exercise_notebook(nb, solution_path.name, label)
    try:
        nbformat.validate(exercise)
    except nbformat.ValidationError as err:
        raise ExerciseError(f"{label}: the exercise copy is not a valid notebook "
                            f"({str(err).splitlines()[0]}).") from err
    return render_notebook(exercise)


@dataclass
class SyncReport:
    """What :func:`sync_exercises` did (or, with ``check=True``, would do)."""

    written: list[str] = field(default_factory=list)    # (re)written copies
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)      # copy differs from the solution
    missing: list[str] = field(default_factory=list)    # no copy yet
    extra: list[str] = field(default_factory=list)      # copy without a solution
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not (self.stale or self.missing or self.extra or self.errors)


def solution_notebooks(root: str | Path) -> list[Path]:
    """``solutions/*.ipynb`` of a course checkout, sorted by name."""
    return sorted((Path(root) / SOLUTIONS_DIR).glob("*.ipynb"))


def sync_exercises(root: str | Path, check: bool = False) -> SyncReport:
    """Regenerate ``<root>/notebooks/`` from ``<root>/solutions/`` (``check=True``: only
    compare). Copies without a solution are removed (reported as ``extra`` when checking)."""
    root = Path(root)
    solutions_dir = root / SOLUTIONS_DIR
    if not solutions_dir.is_dir():
        raise FileNotFoundError(f"{solutions_dir} does not exist; run this from a course checkout "
                                "(the folder with pyproject.toml, solutions/ and notebooks/).")
    exercises_dir = root / EXERCISES_DIR
    report = SyncReport()
    names = set()
    for solution in solution_notebooks(root):
        names.add(solution.name)
        target = exercises_dir / solution.name
        label = f"{EXERCISES_DIR}/{solution.name}"
        try:
            text = render_exercise_notebook(solution)
        except (ExerciseError, nbformat.reader.NotJSONError, ValueError) as err:
            report.errors.append(str(err) if isinstance(err, ExerciseError)
                                 else f"{SOLUTIONS_DIR}/{solution.name}: cannot be read ({err})")
            continue
        current = target.read_bytes() if target.exists() else None
        if current == text.encode("utf-8"):
            report.unchanged.append(label)
            continue
        (report.missing if current is None else report.stale).append(label)
        if not check:
            exercises_dir.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
            report.written.append(label)
    if exercises_dir.is_dir():
        for copy in sorted(exercises_dir.glob("*.ipynb")):
            if copy.name not in names:
                label = f"{EXERCISES_DIR}/{copy.name}"
                report.extra.append(label)
                if not check:
                    copy.unlink()
                    report.removed.append(label)
    return report
