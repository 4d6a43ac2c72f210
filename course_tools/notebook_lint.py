"""Structural lint of the course notebooks (run by ``course lint`` and tests/test_notebooks.py).

Taught in 00_setup_and_metrics (how the course notebooks are built). :func:`lint_notebook` returns
a list of problems (empty = OK). A solution notebook (``solutions/NN_topic.ipynb``) must have:

1. **Title cell** first: markdown with the notebook's only H1 (``# Title``) and the Colab badge
   to its OWN path (:func:`colab_badge`; ``course exercises`` points the copy's at ``notebooks/``).
2. **Overview**: a ``## Overview`` in the first three cells naming the learning objectives ("learn"
   or "objective"), the time needed (e.g. "30 min") and the paper section ("paper", "section").
3. **Parameters cell**: exactly one code cell tagged ``parameters`` reading ``COURSE_PROFILE``,
   before the first exercise.
4. **Stored-outputs note**: a code cell before the first exercise whose output contains
   :data:`STORED_OUTPUTS_PHRASE` (printed by ``course_lib.runtime.start_notebook``).
5. **Exercises**: at least :data:`MIN_EXERCISES` (``# Exercise N.M ★★ (20 min) — task`` with
   ``### BEGIN/END SOLUTION`` regions, see course_tools.exercises), unique ids numbered for this
   notebook, ★ warm-up / ★★ core / ★★★ stretch with minutes, a check registered in
   course_lib.checks and a later ``checks.run("N.M", function)`` cell for each. The function of
   every ★/★★ exercise is used again in a later non-check cell (usually ``checks.use``); a ★★★
   stretch exercise never is.
6. **Summary**: the last cell is a ``## Summary`` with a question (``?``); answer sketches tagged
   ``answers`` may follow it in solutions/.
7. **Stored outputs**: every non-empty code cell ran, none stores an error, cells marked
   ``# NBVAL_CHECK_OUTPUT`` store no stderr, and every check cell's output shows ✓ and no ✗.

An exercise copy (``notebooks/``) must have the title cell with its own badge and no outputs or
execution counts.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import nbformat

from . import exercises

__all__ = ["STORED_OUTPUTS_PHRASE", "CHECK_CALL", "CHECKED_FUNCTION", "USE_CALL", "MIN_EXERCISES",
           "colab_badge", "check_cell_ids", "lint_notebook", "lint_course"]

#: Printed by the setup cell; proves the stored outputs say where they came from.
STORED_OUTPUTS_PHRASE = "Outputs produced with profile"
#: A check cell: ``checks.run("0.1", jaccard)``.
CHECK_CALL = re.compile(r"""checks\.run\(\s*["'](\d{1,2}\.\d{1,2})["']""")
#: ``checks.run("4.2", assemble_dc_model)`` → ("4.2", "assemble_dc_model")
CHECKED_FUNCTION = re.compile(r"""checks\.run\(\s*["'](\d{1,2}\.\d{1,2})["']\s*,\s*([A-Za-z_]\w*)""")
USE_CALL = re.compile(r"""checks\.use\(\s*["'](\d{1,2}\.\d{1,2})["']""")
#: Fewest exercises a course notebook may have (the issue on exercises: four to six).
MIN_EXERCISES = 4
_COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^\s)\"'>\]]+")
_TIME = re.compile(r"\b\d+(?:\s*(?:-|–|to)\s*\d+)?\s*(?:min|mins|minutes|h|hr|hours?)\b",
                   re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")
#: ``problem(text, index=None)``: records one finding of :func:`lint_notebook`.
_Report = Callable[..., None]


def colab_badge(relative_path: str) -> str:
    """Markdown of the "Open in Colab" badge for ``relative_path`` (e.g.
    ``solutions/00_setup_and_metrics.ipynb``)."""
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({exercises.colab_url(relative_path)})")


def _markdown_lines(source: str) -> list[str]:
    """Markdown lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in source.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _h1_lines(source: str) -> list[str]:
    return [ln for ln in _markdown_lines(source) if re.match(r"^#\s+\S", ln)]


def _has_heading(source: str, text: str, level: int = 2) -> bool:
    pattern = re.compile(r"^" + "#" * level + r"\s+" + re.escape(text) + r"\b", re.IGNORECASE)
    return any(pattern.match(ln.strip()) for ln in _markdown_lines(source))


def _output_text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") in ("execute_result", "display_data"):
        return output.get("data", {}).get("text/plain", "")
    if output.get("output_type") == "error":
        return f"{output.get('ename', '')}: {output.get('evalue', '')}"
    return ""


def cell_output_text(cell) -> str:
    """All text a code cell stored (stdout/stderr streams, text/plain results, errors)."""
    return "".join(_output_text(output) for output in cell.get("outputs", []))


def check_cell_ids(cell) -> list[str]:
    """Exercise ids checked in a code cell (``checks.run("0.1", ...)``)."""
    return CHECK_CALL.findall(cell.source) if cell.cell_type == "code" else []


def _notebook_number(path: Path) -> int | None:
    match = re.match(r"^(\d+)_", path.name)
    return int(match.group(1)) if match else None


def _kind_of(path: Path) -> str:
    return "exercise" if path.parent.name == exercises.EXERCISES_DIR else "solution"


def _lint_downstream(cells, exercise_cells, check_indices: list[int], problem: _Report) -> None:
    """Rule 5: exercises without their difficulty mark, ★/★★ exercises whose function is never
    used after the check, and ★★★ exercises that are."""
    checked_name: dict[str, tuple[str, int]] = {}
    for index in check_indices:
        for exercise_id, name in CHECKED_FUNCTION.findall(cells[index].source):
            checked_name.setdefault(exercise_id, (name, index))
    for index, exercise_id in exercise_cells:
        difficulty = exercises.exercise_difficulty(cells[index].source)
        if difficulty is None:
            problem(f"Exercise {exercise_id} needs a difficulty mark and a time estimate in its "
                    f"header: '# Exercise {exercise_id} ★★ (20 min) — task' "
                    "(★ warm-up, ★★ core, ★★★ stretch)", index)
            continue
        stars = difficulty[0]
        used_by = [i for i, c in enumerate(cells) if c.cell_type == "code"
                   and exercise_id in USE_CALL.findall(c.source)]
        if stars == 3:
            if used_by:
                problem(f"Exercise {exercise_id} is a ★★★ stretch exercise: the notebook must "
                        "not need it downstream (no checks.use)", used_by[0])
            continue
        if exercise_id not in checked_name:
            continue  # reported above: needs a check cell
        name, check_index = checked_name[exercise_id]
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        if not any(c.cell_type == "code" and i > check_index and i not in check_indices
                   and pattern.search(c.source) for i, c in enumerate(cells)):
            problem(f"Exercise {exercise_id}: the notebook never uses the student's {name} "
                    f"after its check; go on with it through "
                    f"checks.use(\"{exercise_id}\", {name}, reference=...) in a later cell",
                    check_index)


def _relative_path(path: Path, root: str | Path | None) -> str:
    """The notebook's path relative to the course checkout ``root`` (default: the parent of its
    folder), as named in messages and in its Colab badge."""
    root = Path(root) if root is not None else path.resolve().parent.parent
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return f"{path.parent.name}/{path.name}"


def _reporter(problems: list[str], relative: str, cells) -> _Report:
    """``problem(text, index=None)``: append ``text`` to ``problems``, prefixed with the
    notebook's path and, given ``index``, the cell's label."""
    def problem(text: str, index: int | None = None) -> None:
        where = relative if index is None else f"{relative}, {exercises.cell_label(index, cells[index])}"
        problems.append(f"{where}: {text}")

    return problem


def _format_problems(nb, relative: str) -> list[str]:
    """Problems of the notebook file itself: invalid JSON schema, an nbformat without cell ids."""
    problems: list[str] = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as err:
        problems.append(f"{relative}: invalid notebook JSON ({str(err).splitlines()[0]})")
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        problems.append(f"{relative}: nbformat {nb.nbformat}.{nb.nbformat_minor} has no cell ids; "
                        "save it with Jupyter >= 4 (nbformat 4.5).")
    return problems


def _lint_title(cells, relative: str, problem: _Report) -> None:
    """Rule 1: the title cell (one H1, the Colab badge to the notebook's own path); no other H1."""
    first = cells[0]
    if first.cell_type != "markdown":
        problem("the first cell must be markdown holding the '# Title' and the Colab badge", 0)
    else:
        titles = _h1_lines(first.source)
        if len(titles) != 1:
            problem(f"the title cell must have exactly one H1 line ('# Title'), found "
                    f"{len(titles)}", 0)
        own_url = exercises.colab_url(relative)
        links = _COLAB_LINK.findall(first.source)
        if own_url not in links:
            problem(f"the title cell needs the Colab badge linking to its own path: "
                    f"{colab_badge(relative)}", 0)
        for link in links:
            if link != own_url:
                problem(f"the Colab link {link} points elsewhere; use {own_url}", 0)
    for index, cell in enumerate(cells[1:], start=1):
        if cell.cell_type == "markdown" and _h1_lines(cell.source):
            problem("only the title cell may have an H1 heading ('# ...'); use '##' here", index)


def _lint_exercise_copy(cells, problem: _Report) -> None:
    """An exercise copy stores no outputs and no execution counts."""
    for index, cell in enumerate(cells):
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            problem("exercise copies carry no outputs; regenerate with `course exercises`",
                    index)


def _lint_overview(cells, problem: _Report) -> None:
    """Rule 2: a '## Overview' in the first three cells naming the learning objectives, the
    time needed and the paper section."""
    overview = [i for i, c in enumerate(cells[:3])
                if c.cell_type == "markdown" and _has_heading(c.source, "Overview")]
    if not overview:
        problem("one of the first three cells must be markdown with a '## Overview' heading "
                "(learning objectives, time needed, paper section)")
        return
    text = cells[overview[0]].source
    if not re.search(r"learn|objective", text, re.IGNORECASE):
        problem("the Overview should list the learning objectives ('You will learn ...')",
                overview[0])
    if not _TIME.search(text):
        problem("the Overview should say how long the notebook takes (e.g. 'Time: 30 min')",
                overview[0])
    if not (re.search(r"paper", text, re.IGNORECASE)
            and re.search(r"section", text, re.IGNORECASE)):
        problem("the Overview should name the paper section it covers "
                "(e.g. 'Paper: Section III.B')", overview[0])


def _exercise_cells(cells, path: Path, relative: str, problems: list[str],
                    problem: _Report) -> list[tuple[int, str]]:
    """Rule 5, the exercise cells: ``(cell index, exercise id)`` of each, in order, after
    reporting malformed regions (the generator's own parser), headers, numbers and duplicates."""
    number = _notebook_number(path)
    exercise_cells: list[tuple[int, str]] = []
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        where = f"{relative}, {exercises.cell_label(index, cell)}"
        try:
            regions = exercises.find_regions(cell.source, where)
        except exercises.ExerciseError as err:
            problems.append(str(err))
            regions = []
        header = exercises.exercise_header(cell.source)
        if header is None:
            if regions:
                problem("has solution regions but no '# Exercise N.M — task' first line", index)
            continue
        exercise_id = header[0]
        if not regions:
            problem(f"Exercise {exercise_id} has no '{exercises.BEGIN_MARKER}' ... "
                    f"'{exercises.END_MARKER}' region inside a function body", index)
        if number is not None and int(exercise_id.split(".")[0]) != number:
            problem(f"Exercise {exercise_id} is numbered for another notebook; ids in this "
                    f"notebook start with '{number}.'", index)
        if exercise_id in {e for _, e in exercise_cells}:
            problem(f"Exercise {exercise_id} is defined twice", index)
        exercise_cells.append((index, exercise_id))
    return exercise_cells


def _lint_registered_checks(exercise_cells: list[tuple[int, str]], problem: _Report) -> None:
    """Rule 5: a check registered in course_lib.checks for every exercise id."""
    if not exercise_cells:
        return
    from course_lib import checks

    for index, exercise_id in exercise_cells:
        module_file = checks.module_name_for(exercise_id).replace(".", "/") + ".py"
        try:
            checks.get_exercise(exercise_id)
        except KeyError:
            problem(f"Exercise {exercise_id} has no check: register one in {module_file}",
                    index)
        except Exception as err:  # noqa: BLE001 - a broken check module
            problem(f"Exercise {exercise_id}: {module_file} fails to import "
                    f"({type(err).__name__}: {err})", index)


def _check_cells(cells, exercise_cells: list[tuple[int, str]], problem: _Report) -> list[int]:
    """Rule 5, the check cells: their indices, after reporting check cells that come before
    (or without) their exercise and exercises that have no check cell."""
    defined: set[str] = set()
    exercise_at = dict(exercise_cells)
    checked: set[str] = set()
    check_indices: list[int] = []
    for index, cell in enumerate(cells):
        if index in exercise_at:
            defined.add(exercise_at[index])
        ids = check_cell_ids(cell)
        if ids:
            check_indices.append(index)
        for exercise_id in ids:
            if exercise_id not in defined:
                problem(f"checks.run(\"{exercise_id}\", ...) comes before (or without) the "
                        f"'# Exercise {exercise_id}' cell", index)
            checked.add(exercise_id)
    for index, exercise_id in exercise_cells:
        if exercise_id not in checked:
            problem(f"Exercise {exercise_id} needs a check cell after it: "
                    f"checks.run(\"{exercise_id}\", <your function>)", index)
    return check_indices


def _lint_parameters(cells, first_exercise: int, problem: _Report) -> None:
    """Rule 3: exactly one code cell tagged ``parameters``, reading COURSE_PROFILE, before the
    first exercise."""
    parameters = [i for i, c in enumerate(cells)
                  if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(parameters) != 1:
        problem(f"needs exactly one code cell tagged 'parameters', found {len(parameters)}")
        return
    index = parameters[0]
    if "COURSE_PROFILE" not in cells[index].source:
        problem('the parameters cell must read the profile from the environment: '
                'PROFILE = os.environ.get("COURSE_PROFILE", default_profile_name())', index)
    if index > first_exercise:
        problem("the parameters cell must come before the first exercise", index)


def _lint_stored_outputs_note(cells, first_exercise: int, problem: _Report) -> None:
    """Rule 4: a code cell before the first exercise stores :data:`STORED_OUTPUTS_PHRASE`."""
    if not any(STORED_OUTPUTS_PHRASE in cell_output_text(c)
               for c in cells[:first_exercise] if c.cell_type == "code"):
        problem(f"no code cell before the first exercise stores a line with "
                f"'{STORED_OUTPUTS_PHRASE} ...' (course_lib.runtime.start_notebook prints it); "
                "refresh the stored outputs with `course run --store`")


def _lint_summary(cells, problem: _Report) -> None:
    """Rule 6: the last cell (before any answer sketches tagged ``answers``) is a '## Summary'
    with at least one question."""
    last = len(cells) - 1
    while last > 0 and exercises.ANSWERS_TAG in cells[last].get("metadata", {}).get("tags", []):
        last -= 1
    if cells[last].cell_type != "markdown" or not _has_heading(cells[last].source, "Summary"):
        problem("the last cell must be markdown with a '## Summary' heading", last)
    elif "?" not in cells[last].source:
        problem("the Summary should end with questions for the reader (none found)", last)


def _lint_stored_outputs(cells, check_indices: list[int], problem: _Report) -> None:
    """Rule 7: every code cell ran and stores no error (no stderr where marked
    ``# NBVAL_CHECK_OUTPUT``); every check cell's output shows ✓ and no ✗."""
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        if cell.source.strip() and cell.execution_count is None:
            problem("has not been run (no execution count); store the outputs of a full run "
                    "with `course run --store`", index)
        outputs = cell.get("outputs", [])
        if any(o.get("output_type") == "error" for o in outputs):
            problem("stores an error output; fix the cell and refresh with `course run --store`",
                    index)
        marked = any(line.strip().lstrip("#").strip() == "NBVAL_CHECK_OUTPUT"
                     for line in cell.source.splitlines() if line.strip().startswith("#"))
        if marked and any(o.get("output_type") == "stream" and o.get("name") == "stderr"
                          for o in outputs):
            problem("is marked # NBVAL_CHECK_OUTPUT but stores stderr output (nbval does not "
                    "capture it the same way); silence it or drop the marker", index)
    for index in check_indices:
        text = cell_output_text(cells[index])
        if "✓" not in text or "✗" in text:
            problem("the stored output of this check cell should show ✓ (and no ✗); run the "
                    "solution and store the outputs with `course run --store`", index)


def lint_notebook(path: str | Path, root: str | Path | None = None,
                  kind: str | None = None, min_exercises: int = MIN_EXERCISES) -> list[str]:
    """Problems found in one notebook (empty list: OK). ``kind`` is ``"solution"`` or
    ``"exercise"`` (default: ``exercise`` for files in a ``notebooks/`` folder); ``root`` is the
    course checkout naming the notebook's path in its Colab badge (default: its folder's parent).
    """
    path = Path(path)
    kind = kind or _kind_of(path)
    if kind not in ("solution", "exercise"):
        raise ValueError(f"kind must be 'solution' or 'exercise', not {kind!r}.")
    relative = _relative_path(path, root)
    try:
        nb = exercises.read_notebook(path)
    except Exception as err:  # noqa: BLE001 - any unreadable file is one problem
        return [f"{relative}: cannot be read as a notebook ({err})"]
    problems = _format_problems(nb, relative)
    cells = nb.cells
    if not cells:
        return problems + [f"{relative}: the notebook has no cells"]
    problem = _reporter(problems, relative, cells)

    _lint_title(cells, relative, problem)
    if kind == "exercise":
        _lint_exercise_copy(cells, problem)
        return problems
    _lint_overview(cells, problem)
    exercise_cells = _exercise_cells(cells, path, relative, problems, problem)
    if len(exercise_cells) < min_exercises:
        problem(f"needs at least {min_exercises} exercise cells, found {len(exercise_cells)}")
    _lint_registered_checks(exercise_cells, problem)
    check_indices = _check_cells(cells, exercise_cells, problem)
    _lint_downstream(cells, exercise_cells, check_indices, problem)
    first_exercise = exercise_cells[0][0] if exercise_cells else len(cells)
    _lint_parameters(cells, first_exercise, problem)
    _lint_stored_outputs_note(cells, first_exercise, problem)
    _lint_summary(cells, problem)
    _lint_stored_outputs(cells, check_indices, problem)
    return problems


def lint_course(root: str | Path, min_exercises: int = MIN_EXERCISES) -> list[str]:
    """Lint every ``solutions/*.ipynb`` and ``notebooks/*.ipynb`` of a course checkout."""
    root = Path(root)
    problems: list[str] = []
    for folder, kind in ((exercises.SOLUTIONS_DIR, "solution"),
                         (exercises.EXERCISES_DIR, "exercise")):
        for path in sorted((root / folder).glob("*.ipynb")):
            problems += lint_notebook(path, root=root, kind=kind, min_exercises=min_exercises)
    return problems
