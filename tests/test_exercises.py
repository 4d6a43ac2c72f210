"""The exercise generator (course_tools.exercises) and the notebook lint (course_tools.notebook_lint),
on throw-away notebooks built in tmp_path."""
from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_tools import exercises, notebook_lint
from course_tools.exercises import (ExerciseError, colab_url, exercise_header, find_regions,
                                  make_exercise_notebook, strip_solutions, sync_exercises)

NAME = "00_toy.ipynb"

JACCARD_CELL = '''# Exercise 0.1 ★★★ (10 min) — write the body of jaccard()
import numpy as np


def jaccard(true_mask, pred_mask):
    """Per-image Jaccard index."""
    ### BEGIN SOLUTION
    true_mask = np.asarray(true_mask, dtype=bool)
    pred_mask = np.asarray(pred_mask, dtype=bool)
    union = np.logical_or(true_mask, pred_mask).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(true_mask, pred_mask).sum() / union)
    ### END SOLUTION
'''

JACCARD_EXERCISE = '''# Exercise 0.1 ★★★ (10 min) — write the body of jaccard()
import numpy as np


def jaccard(true_mask, pred_mask):
    """Per-image Jaccard index."""
    raise NotImplementedError("Exercise 0.1: write the body of jaccard()")
'''

SESP_CELL = '''# Exercise 0.2 ★★★ (5 min)
import numpy as np


def sensitivity_specificity(y_true, y_score, threshold=0.5):
    y_true = np.asarray(y_true).astype(bool)
    ### BEGIN SOLUTION
    predicted = np.asarray(y_score) > threshold
    ### END SOLUTION
    se = np.sum(predicted & y_true) / np.sum(y_true)
    sp = np.sum(~predicted & ~y_true) / np.sum(~y_true)
    return float(se), float(sp)
'''


def title_cell(folder="solutions", name=NAME):
    return new_markdown_cell(
        f"# A toy notebook\n\n{notebook_lint.colab_badge(f'{folder}/{name}')}\n")


def solution_notebook(name=NAME):
    """A solution notebook that passes the lint, with stored outputs as after a real run."""
    overview = ("## Overview\n\nYou will learn to compute the challenge metrics.\n\n"
                "- Time: 20 min\n- Paper: Section IV (evaluation metrics)\n")
    parameters = new_code_cell(
        'import os\nfrom course_lib.config import default_profile_name\n\n'
        'PROFILE = os.environ.get("COURSE_PROFILE", default_profile_name())',
        metadata={"tags": ["parameters"]}, execution_count=1)
    setup = new_code_cell("from course_lib import checks\n"
                          "print(f\"Outputs produced with profile '{PROFILE}' on local CPU.\")",
                          execution_count=2,
                          outputs=[new_output("stream", name="stdout",
                                              text="Outputs produced with profile 'smoke' on local "
                                                   "CPU, no GPU.\n")])
    jaccard = new_code_cell(JACCARD_CELL, execution_count=3)
    check1 = new_code_cell('checks.run("0.1", jaccard)', execution_count=4, outputs=[new_output(
        "stream", name="stdout", text="✓ Exercise 0.1 (per-image Jaccard): passed — ok.\n")])
    sesp = new_code_cell(SESP_CELL, execution_count=5,
                         metadata={"papermill": {"duration": 0.1},
                                   "execution": {"iopub.status.busy": "2024"},
                                   "tags": ["keep-me"], "scrolled": True})
    check2 = new_code_cell('checks.run("0.2", sensitivity_specificity)', execution_count=6,
                           outputs=[new_output("stream", name="stdout",
                                               text="✓ Exercise 0.2 (x): passed — ok.\n")])
    extra = new_code_cell("print('only in the solution')", execution_count=7,
                          metadata={"tags": [exercises.REMOVE_TAG]},
                          outputs=[new_output("stream", name="stdout",
                                              text="only in the solution\n")])
    summary = new_markdown_cell("## Summary\n\n- Jaccard vs Dice.\n\n**Questions.** Why is "
                                "specificity high when benign images dominate?")
    nb = new_notebook(cells=[title_cell(name=name), new_markdown_cell(overview), parameters, setup,
                             jaccard, check1, sesp, check2, extra, summary])
    nb.metadata.update({
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python", "version": "3.11.7"},
        "papermill": {"duration": 3.2, "parameters": {}},
        "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}},
    })
    return nb


def make_repo(tmp_path, notebooks=None):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'toy'\n")
    for name, nb in (notebooks or {NAME: solution_notebook()}).items():
        nbformat.write(nb, tmp_path / "solutions" / name)
    return tmp_path


# --------------------------------------------------------------------------- headers & regions
def test_exercise_header_forms():
    assert exercise_header("# Exercise 0.1 — write the body of jaccard()\ndef f(): pass") == (
        "0.1", "write the body of jaccard()")
    assert exercise_header("\n# Exercise 3.12: count the parameters") == (
        "3.12", "count the parameters")
    assert exercise_header("# Exercise 0.2") == ("0.2", exercises.DEFAULT_TASK)
    assert exercise_header("#Exercise 1.1 - x") == ("1.1", "x")
    assert exercise_header("# Exercises for later") is None
    assert exercise_header("x = 1\n# Exercise 1.1") is None  # must be the first line
    assert exercise_header("# Exercise 0.123 x") is None


def test_strip_solutions_replaces_the_region_exactly():
    assert strip_solutions(JACCARD_CELL) == JACCARD_EXERCISE


def test_region_followed_by_code_and_default_message():
    out = strip_solutions(SESP_CELL)
    assert '    raise NotImplementedError("Exercise 0.2: write the body of this function")\n' in out
    assert "> threshold" not in out
    assert "    se = np.sum(predicted & y_true)" in out  # code after END stays
    assert exercises.BEGIN_MARKER not in out and exercises.END_MARKER not in out


def test_several_regions_nested_functions_and_methods():
    source = '''# Exercise 4.1 — "quote" and \\ backslash
class Model:
    def call(self, x):
        def helper(y):
            ### BEGIN SOLUTION
            return y * 2
            ### END SOLUTION
        ### BEGIN SOLUTION
        return helper(x) + 1
        ### END SOLUTION


async def later():
    ### BEGIN SOLUTION
    return 3
    ### END SOLUTION'''
    regions = find_regions(source)
    assert [(r.begin, r.end, len(r.indent)) for r in regions] == [(4, 6, 12), (7, 9, 8),
                                                                  (13, 15, 4)]
    out = strip_solutions(source)
    message = 'NotImplementedError("Exercise 4.1: \\"quote\\" and \\\\ backslash")'
    assert out.count(message) == 3
    assert out.endswith(f"    raise {message}")  # no newline added at the end of the cell
    namespace = {}
    exec(compile(out, "cell", "exec"), namespace)  # defining the functions never fails
    with pytest.raises(NotImplementedError, match=r'Exercise 4.1: "quote" and \\ backslash'):
        namespace["Model"]().call(1)


def test_generated_function_raises_the_exercise_message():
    namespace = {}
    exec(strip_solutions(JACCARD_CELL), namespace)
    with pytest.raises(NotImplementedError, match=r"^Exercise 0.1: write the body of jaccard\(\)$"):
        namespace["jaccard"](None, None)


def test_cells_with_ipython_magics_use_the_indentation_fallback():
    source = "# Exercise 1.1\n%%time\ndef f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    assert "raise NotImplementedError" in strip_solutions(source)
    bad = "# Exercise 1.1\n%%time\nx = 1\n    ### BEGIN SOLUTION\n    y = 2\n    ### END SOLUTION\n"
    with pytest.raises(ExerciseError, match="not inside a function body"):
        strip_solutions(bad)


@pytest.mark.parametrize("source, message", [
    ("# Exercise 1.1\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n",
     "never closed"),
    ("# Exercise 1.1\ndef f():\n    return 1\n    ### END SOLUTION\n",
     "without a '### BEGIN SOLUTION' above it"),
    ("# Exercise 1.1\ndef f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n"
     "    ### END SOLUTION\n", "regions cannot nest"),
    ("# Exercise 1.1\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n  ### END SOLUTION\n",
     "indented differently"),
    ("# Exercise 1.1\ndef f():\n    ### BEGIN SOLUTION\n\n    ### END SOLUTION\n    return 1\n",
     "is empty"),
    ("# Exercise 1.1\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n",
     "is not inside a function body"),
    ("# Exercise 1.1\ndef f():\n    return 1\n\n\nx = 2\n    ### BEGIN SOLUTION\n", "never closed"),
    ("# Exercise 1.1\nfor i in range(3):\n    ### BEGIN SOLUTION\n    x = i\n    ### END SOLUTION\n",
     "is not inside a function body"),
    ("# Exercise 1.1\ndef f():\n    ### BEGIN SOLUTION\n    y = 1\nx = 2\n    ### END SOLUTION\n",
     "indented less than its markers"),
    ("# Exercise 1.1\ndef f():\n    ## BEGIN SOLUTION\n    return 1\n", "looks like a solution marker"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
     "first line is not an exercise header"),
])
def test_malformed_markers_give_clear_errors(source, message):
    with pytest.raises(ExerciseError, match=message):
        strip_solutions(source, where="solutions/00_toy.ipynb, cell 5")


def test_errors_name_the_notebook_and_cell():
    nb = solution_notebook()
    nb.cells[4].source = JACCARD_CELL.replace("# Exercise 0.1 ★★★ (10 min) — write the body of jaccard()\n", "")
    with pytest.raises(ExerciseError) as info:
        make_exercise_notebook(nb, NAME)
    text = str(info.value)
    assert text.startswith(f"solutions/{NAME}, cell 5 (id '{nb.cells[4].id}'): ")
    assert "# Exercise 0.1" in text


# --------------------------------------------------------------------------- whole notebooks
def test_exercise_copy_is_clean():
    nb = solution_notebook()
    copy = make_exercise_notebook(nb, NAME)
    assert [c.id for c in copy.cells] == [c.id for c in nb.cells if c.id != nb.cells[8].id]
    assert all(c.outputs == [] and c.execution_count is None
               for c in copy.cells if c.cell_type == "code")
    assert "only in the solution" not in json.dumps(copy)
    assert copy.cells[4].source == JACCARD_EXERCISE
    assert copy.cells[6].metadata == {"tags": ["keep-me"]}  # papermill/timing/UI state gone
    assert copy.cells[2].metadata == {"tags": ["parameters"]}
    assert set(copy.metadata) == {"kernelspec", "language_info"}
    assert "version" not in copy.metadata.language_info
    assert colab_url(f"notebooks/{NAME}") in copy.cells[0].source
    assert colab_url(f"solutions/{NAME}") not in copy.cells[0].source
    nbformat.validate(copy)
    # the solution itself is untouched
    assert nb.cells[4].source == JACCARD_CELL and nb.cells[3].outputs


def test_colab_url_uses_repository_and_branch():
    from course_lib import config

    assert colab_url("solutions/00_x.ipynb") == (
        f"https://colab.research.google.com/github/{config.REPOSITORY}/blob/{config.BRANCH}/"
        "solutions/00_x.ipynb")


def test_sync_writes_identical_bytes_and_check_detects_drift(tmp_path):
    root = make_repo(tmp_path)
    report = sync_exercises(root, check=True)
    assert report.missing == [f"notebooks/{NAME}"] and not report.in_sync
    assert not (root / "notebooks").exists()  # check mode writes nothing

    report = sync_exercises(root)
    assert report.written == [f"notebooks/{NAME}"]
    first = (root / "notebooks" / NAME).read_bytes()
    assert first == exercises.render_exercise_notebook(root / "solutions" / NAME).encode()
    report = sync_exercises(root)
    assert report.written == [] and report.unchanged == [f"notebooks/{NAME}"]
    assert (root / "notebooks" / NAME).read_bytes() == first
    assert sync_exercises(root, check=True).in_sync

    # outputs-only changes in the solution (a new run) leave the copy in sync
    nb = nbformat.read(root / "solutions" / NAME, as_version=4)
    nb.cells[3].outputs[0].text = "Outputs produced with profile 'lab' on Colab.\n"
    nb.metadata.language_info["version"] = "3.12.1"
    nbformat.write(nb, root / "solutions" / NAME)
    assert sync_exercises(root, check=True).in_sync

    # a source change makes it stale; an orphan copy is extra
    nb.cells[1].source += "\nMore text."
    nbformat.write(nb, root / "solutions" / NAME)
    (root / "notebooks" / "99_orphan.ipynb").write_text(nbformat.writes(new_notebook()))
    report = sync_exercises(root, check=True)
    assert report.stale == [f"notebooks/{NAME}"] and report.extra == ["notebooks/99_orphan.ipynb"]
    report = sync_exercises(root)
    assert report.removed == ["notebooks/99_orphan.ipynb"]
    assert not (root / "notebooks" / "99_orphan.ipynb").exists()
    assert sync_exercises(root, check=True).in_sync


def test_sync_reports_errors_without_writing(tmp_path):
    nb = solution_notebook()
    nb.cells[4].source = nb.cells[4].source.replace("    ### END SOLUTION\n", "")
    root = make_repo(tmp_path, {NAME: nb})
    report = sync_exercises(root)
    assert len(report.errors) == 1 and "never closed" in report.errors[0]
    assert NAME in report.errors[0] and "cell 5" in report.errors[0]
    assert not (root / "notebooks" / NAME).exists()


def test_sync_needs_a_solutions_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="solutions"):
        sync_exercises(tmp_path)


# --------------------------------------------------------------------------- lint
def lint(tmp_path, nb, name=NAME, kind="solution"):
    folder = "solutions" if kind == "solution" else "notebooks"
    (tmp_path / folder).mkdir(exist_ok=True)
    path = tmp_path / folder / name
    nbformat.write(nb, path)
    return notebook_lint.lint_notebook(path, root=tmp_path, min_exercises=2)  # a toy: two


def test_lint_accepts_a_complete_notebook(tmp_path):
    assert lint(tmp_path, solution_notebook()) == []


def test_lint_accepts_the_generated_copy(tmp_path):
    copy = make_exercise_notebook(solution_notebook(), NAME)
    assert lint(tmp_path, copy, kind="exercise") == []
    copy.cells[2].outputs = [new_output("stream", name="stdout", text="x\n")]
    assert any("carry no outputs" in p for p in lint(tmp_path, copy, kind="exercise"))


def _mutate(nb, change):
    change(nb)
    return nb


@pytest.mark.parametrize("change, expected", [
    (lambda nb: nb.cells.insert(0, new_code_cell("x = 1", execution_count=1)),
     "first cell must be markdown"),
    (lambda nb: [nb.cells.insert(1, new_markdown_cell(text)) for text in ("Intro", "More")],
     "one of the first three cells"),
    (lambda nb: setattr(nb.cells[0], "source", "# Title\n# Another\n" + nb.cells[0].source),
     "exactly one H1"),
    (lambda nb: setattr(nb.cells[0], "source", "# Title only"), "Colab badge"),
    (lambda nb: setattr(nb.cells[0], "source", nb.cells[0].source.replace("solutions/", "notebooks/")),
     "Colab badge"),
    (lambda nb: setattr(nb.cells[1], "source", "# Overview\n"), "only the title cell may have an H1"),
    (lambda nb: setattr(nb.cells[1], "source", "## Overview\nYou will learn. Paper: Section I."),
     "how long"),
    (lambda nb: setattr(nb.cells[1], "source", "## Overview\nYou will learn. Time: 5 min."),
     "paper section"),
    (lambda nb: setattr(nb.cells[1], "source", "## Overview\nTime: 5 min. Paper section I."),
     "learning objectives"),
    (lambda nb: nb.cells[2].metadata.pop("tags"), "exactly one code cell tagged 'parameters'"),
    (lambda nb: setattr(nb.cells[2], "source", "PROFILE = 'smoke'"), "COURSE_PROFILE"),
    (lambda nb: setattr(nb.cells[3], "outputs", []), "Outputs produced with profile"),
    (lambda nb: nb.cells.pop(5), "Exercise 0.1 needs a check cell"),
    (lambda nb: nb.cells.insert(4, nb.cells.pop(5)), "comes before (or without)"),
    (lambda nb: nb.cells.__delitem__(slice(6, 8)), "at least 2 exercise cells"),
    (lambda nb: setattr(nb.cells[6], "source", SESP_CELL.replace("0.2", "0.1")), "defined twice"),
    (lambda nb: setattr(nb.cells[6], "source", SESP_CELL.replace("0.2", "1.2")),
     "numbered for another notebook"),
    (lambda nb: setattr(nb.cells[6], "source", SESP_CELL.replace("0.2", "0.97")),
     "has no check: register one in course_lib/checks/nb00.py"),
    (lambda nb: setattr(nb.cells[6], "source", "# Exercise 0.2\ndef f():\n    return 1\n"),
     "has no '### BEGIN SOLUTION'"),
    (lambda nb: setattr(nb.cells[6], "source", SESP_CELL.replace("    ### END SOLUTION\n", "")),
     "never closed"),
    (lambda nb: setattr(nb.cells[6], "source", SESP_CELL.replace("# Exercise 0.2 ★★★ (5 min)\n", "")),
     "no '# Exercise N.M — task' first line"),
    (lambda nb: nb.cells.pop(), "'## Summary' heading"),
    (lambda nb: setattr(nb.cells[-1], "source", "## Summary\nNo questions."), "questions"),
    (lambda nb: setattr(nb.cells[6], "execution_count", None), "has not been run"),
    (lambda nb: nb.cells[6].outputs.append(new_output("error", ename="ValueError", evalue="x",
                                                      traceback=[])), "stores an error output"),
    (lambda nb: (setattr(nb.cells[6], "source", "# NBVAL_CHECK_OUTPUT\n" + nb.cells[6].source),
                 nb.cells[6].outputs.append(new_output("stream", name="stderr", text="W\n"))),
     "stores stderr"),
    (lambda nb: setattr(nb.cells[5].outputs[0], "text", "✗ Exercise 0.1: not implemented\n"),
     "should show ✓"),
])
def test_lint_finds_each_problem(tmp_path, change, expected):
    problems = lint(tmp_path, _mutate(solution_notebook(), change))
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(f"solutions/{NAME}") for p in problems)


def test_lint_course_covers_both_folders(tmp_path):
    root = make_repo(tmp_path)
    sync_exercises(root)
    assert notebook_lint.lint_course(root, min_exercises=2) == []
    nb = nbformat.read(root / "notebooks" / NAME, as_version=4)
    nb.cells[0].source = "# T"
    nbformat.write(nb, root / "notebooks" / NAME)
    problems = notebook_lint.lint_course(root, min_exercises=2)
    assert problems and problems[0].startswith(f"notebooks/{NAME}, cell 1")


# --------------------------------------------------------------------------- difficulty and use
def test_exercise_header_reads_difficulty_and_minutes():
    from course_tools.exercises import exercise_difficulty
    header = "# Exercise 4.2 ★★ (25 min) — write the body of assemble_dc_model()"
    assert exercise_header(header) == ("4.2", "write the body of assemble_dc_model()")
    assert exercise_difficulty(header) == (2, 25)
    assert exercise_difficulty("# Exercise 4.3 ★★★ (~40 min): stretch") == (3, 40)
    assert exercise_difficulty("# Exercise 4.2 — no mark") is None
    assert exercise_difficulty("# Exercise 4.2 ★★ — no minutes") is None
    assert exercise_difficulty("x = 1") is None


def test_lint_wants_four_exercises_by_default(tmp_path):
    (tmp_path / "solutions").mkdir()
    path = tmp_path / "solutions" / NAME
    nbformat.write(solution_notebook(), path)
    problems = notebook_lint.lint_notebook(path, root=tmp_path)
    assert any("needs at least 4 exercise cells, found 2" in p for p in problems), problems


def _core(nb, used: bool):
    """Make exercise 0.1 a ★★ core exercise; optionally use it after its check."""
    nb.cells[4].source = nb.cells[4].source.replace("★★★ (10 min)", "★★ (10 min)")
    if used:
        nb.cells.insert(6, new_code_cell(
            'ja = checks.use("0.1", jaccard, reference=len)\nprint(ja([1], [1]))',
            execution_count=4))
    return nb


def test_lint_wants_core_exercises_used_downstream(tmp_path):
    problems = lint(tmp_path, _core(solution_notebook(), used=False))
    assert any("Exercise 0.1: the notebook never uses the student's jaccard after its check"
               in p for p in problems), problems
    assert lint(tmp_path, _core(solution_notebook(), used=True)) == []


def test_lint_wants_marks_and_no_stretch_downstream(tmp_path):
    nb = solution_notebook()
    nb.cells[4].source = nb.cells[4].source.replace(" ★★★ (10 min)", "")
    assert any("needs a difficulty mark and a time estimate" in p for p in lint(tmp_path, nb))
    nb = solution_notebook()
    nb.cells.insert(6, new_code_cell('f = checks.use("0.1", jaccard, reference=len)',
                                     execution_count=4))
    assert any("★★★ stretch exercise: the notebook must not need it" in p
               for p in lint(tmp_path, nb))


def test_notebooks_store_the_kernelspec_jupyterlab_writes(repo_root):
    """JupyterLab rewrites "Python 3" as ipykernel's "Python 3 (ipykernel)" and then asks to
    save an untouched notebook; the course stores what JupyterLab writes."""
    from ipykernel.kernelspec import get_kernel_dict

    spec = get_kernel_dict()
    assert exercises.KERNELSPEC["display_name"] == spec["display_name"]
    assert exercises.KERNELSPEC["language"] == spec["language"]
    copy = make_exercise_notebook(solution_notebook(), NAME)
    assert copy.metadata["kernelspec"] == exercises.KERNELSPEC
    for folder in ("solutions", "notebooks"):
        for path in sorted((repo_root / folder).glob("*.ipynb")):
            stored = json.loads(path.read_text())["metadata"]["kernelspec"]
            assert stored == exercises.KERNELSPEC, f"{folder}/{path.name}: {stored}"


def test_answer_sketches_follow_the_summary_and_never_reach_students(tmp_path):
    nb = solution_notebook()
    nb.cells.append(new_markdown_cell("## Answers (instructors)\n\n1. Because ...",
                                      metadata={"tags": [exercises.ANSWERS_TAG]}))
    assert lint(tmp_path, nb) == []
    copy = make_exercise_notebook(nb, NAME)
    assert "Answers (instructors)" not in json.dumps(copy)
    assert copy.cells[-1].source.startswith("## Summary")
    nb.cells[-1].metadata = {}  # untagged: then it is just a last cell that is not the Summary
    assert any("'## Summary' heading" in p for p in lint(tmp_path, nb))
