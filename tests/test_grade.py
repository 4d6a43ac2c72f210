"""course grade: submissions are graded by calling the registered checks on the student's own
functions, whatever the notebook prints or does to the checks.

One real grading run (notebook 00, one child process, @slow) carries every adversarial cell at
once; the rest are quick tests of the pieces.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest

from course_lib import checks
from course_tools import cli, exercises, grade
from course_tools.notebook_lint import CHECKED_FUNCTION

ROOT = Path(__file__).resolve().parent.parent
SOLUTION_00 = ROOT / "solutions" / "00_setup_and_metrics.ipynb"


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return nbformat.read(handle, as_version=4)


def _exercise_cells(nb):
    """{exercise id: index of its header cell}"""
    out = {}
    for index, cell in enumerate(nb.cells):
        header = exercises.exercise_header(cell.source) if cell.cell_type == "code" else None
        if header:
            out[header[0]] = index
    return out


# --------------------------------------------------------------------------- quick tests
@pytest.mark.parametrize("solution", sorted((ROOT / "solutions").glob("*.ipynb")),
                         ids=lambda p: p.stem[:2])
def test_solution_exercises_follow_the_headers_and_check_cells(solution):
    nb = _read(solution)
    listed = grade.solution_exercises(solution)
    ids = [e["id"] for e in listed]
    assert ids == list(_exercise_cells(nb))
    checked = {i: n for c in nb.cells if c.cell_type == "code"
               for i, n in CHECKED_FUNCTION.findall(c.source)}
    for exercise in listed:
        assert exercise["function"] == checked.get(exercise["id"])
        # every exercise of a solution notebook has a registered check
        assert exercise["id"] in checks.registered_ids(int(solution.stem[:2]))


def test_match_solution_by_number_name_and_title(tmp_path):
    solutions = sorted((ROOT / "solutions").glob("*.ipynb"))
    by_nn = {s.stem[:2]: s for s in solutions}
    assert grade.match_solution("alice/00_setup_and_metrics (1).ipynb", solutions) == by_nn["00"]
    assert grade.match_solution("03_my_work.ipynb", solutions) == by_nn["03"]
    assert grade.match_solution("bob-07.ipynb", solutions) == by_nn["07"]
    renamed = tmp_path / "homework.ipynb"
    renamed.write_text(SOLUTION_00.read_text(encoding="utf-8"), encoding="utf-8")
    assert grade.match_solution(renamed, solutions) == by_nn["00"]
    other = tmp_path / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Notes")]),
                   str(other))
    assert grade.match_solution(other, solutions) is None


def test_collect_submissions_folders_zips_and_files(tmp_path):
    import zipfile

    (tmp_path / "alice").mkdir()
    for name in ("00_a.ipynb", "01_b.ipynb"):
        (tmp_path / "alice" / name).write_text("{}", encoding="utf-8")
    (tmp_path / "alice" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "alice" / ".ipynb_checkpoints" / "00_a-checkpoint.ipynb").write_text("{}")
    with zipfile.ZipFile(tmp_path / "bob.zip", "w") as zf:
        zf.writestr("work/00_a.ipynb", "{}")
        zf.writestr("../evil.ipynb", "{}")  # path traversal: skipped
        zf.writestr("notes.txt", "x")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "02_c.ipynb").write_text("{}", encoding="utf-8")
    found = grade.collect_submissions([tmp_path / "alice", tmp_path / "bob.zip",
                                       tmp_path / "carol" / "02_c.ipynb"],
                                      workdir=tmp_path / "x")
    assert [(s.student, s.label) for s in found] == [
        ("alice", "alice/00_a.ipynb"), ("alice", "alice/01_b.ipynb"),
        ("bob", "bob.zip:work/00_a.ipynb"), ("carol", "carol/02_c.ipynb")]
    assert not (tmp_path / "evil.ipynb").exists()
    with pytest.raises(FileNotFoundError):
        grade.collect_submissions([tmp_path / "nope.ipynb"])


def test_training_cells_never_include_exercises():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("history = model.fit(x, y)"),
        nbformat.v4.new_code_cell("# Exercise 3.1 — x\ndef f(m):\n    return m.fit(1)"),
        nbformat.v4.new_markdown_cell("model.fit("),
        nbformat.v4.new_code_cell("print(1)"),
        nbformat.v4.new_code_cell("model, h, s = recipes.train_unet(encoder, splits, profile)"),
        nbformat.v4.new_code_cell('member = fusion.get_member(profile, "mobilenet")'),
        nbformat.v4.new_code_cell('train_densenet = (profile.name != "smoke")'),
        nbformat.v4.new_code_cell('checks.run("3.1", f)\nm.fit(1)')])
    assert grade.training_cells(nb) == [0, 4, 5]


def test_cell_notes_list_timeouts_and_the_first_errors():
    cells = [{"cell": 3, "status": "timeout", "error": "interrupted after 9 s"},
             {"cell": 4, "status": "syntax_error", "error": "SyntaxError: x"},
             {"cell": 5, "status": "ok", "error": ""}]
    cells += [{"cell": 6 + i, "status": "error", "error": f"NameError: {i}"} for i in range(5)]
    assert grade._cell_notes(cells) == [
        "cell 4 timed out (interrupted after 9 s)", "cell 5 has a syntax error (SyntaxError: x)",
        "cell 7 raised (NameError: 0)", "cell 8 raised (NameError: 1)",
        "cell 9 raised (NameError: 2)", "2 more cells raised"]


def _fake_graded(tmp_path):
    sub_a = grade.Submission("alice", tmp_path / "00.ipynb", "alice/00_setup.ipynb")
    sub_b = grade.Submission("bob", tmp_path / "x.ipynb", "bob/x.ipynb")
    nb_a = grade.NotebookGrade(sub_a, SOLUTION_00, seconds=12.0,
                               notes=["cell 5 timed out (interrupted after 3 s)"])
    nb_a.grades = [grade.Grade("alice", "alice/00_setup.ipynb", SOLUTION_00.stem, "0.1", "passed",
                               "Exercise 0.1 (per-image Jaccard): passed — ok."),
                   grade.Grade("alice", "alice/00_setup.ipynb", SOLUTION_00.stem, "0.2", "failed",
                               "Exercise 0.2: returned 1, expected 2 | a pipe")]
    nb_b = grade.NotebookGrade(sub_b, None)
    nb_b.grades = [grade.Grade("bob", "bob/x.ipynb", "", "", "unmatched", "no match")]
    return [nb_a, nb_b]


def test_csv_summary_and_markdown(tmp_path):
    graded = _fake_graded(tmp_path)
    out = grade.write_csv(graded, tmp_path / "grades.csv")
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert [(r["student"], r["exercise"], r["status"]) for r in rows] == [
        ("alice", "0.1", "passed"), ("alice", "0.2", "failed"), ("bob", "", "unmatched")]
    assert rows[0]["file"] == "alice/00_setup.ipynb"
    assert rows[0]["notebook"] == "00_setup_and_metrics"
    summary = grade.write_summary_csv(graded, grade.summary_path(out))
    assert summary.name == "grades_summary.csv"
    rows = list(csv.DictReader(open(summary, encoding="utf-8")))
    assert [(r["student"], r["passed"], r["total"], r["percent"], r["notebooks"]) for r in rows] \
        == [("alice", "1", "2", "50.0", "00"), ("bob", "0", "0", "0.0", "")]
    assert "timed out" in rows[0]["notes"] and "matches no notebook" in rows[1]["notes"]
    twice = grade.summarize(graded + graded[:1])[0]
    assert twice["total"] == 4 and twice["notebooks"] == "00 00"
    assert "notebook 00 handed in 2 times" in twice["notes"]
    text = grade.render_markdown(graded)
    assert "| alice | 1 | 2 | 50 | 00 |" in text
    assert "| 0.1 | ✓ passed |" in text and "| 0.2 | ✗ failed |" in text
    assert "a pipe" in text and "\\| a pipe" in text  # pipes escaped inside table cells
    assert "- cell 5 timed out" in text


def test_cli_grade_writes_csv_and_markdown(tmp_path, monkeypatch, capsys):
    graded = _fake_graded(tmp_path)
    seen = {}

    def fake(paths, **kwargs):
        seen.update(kwargs, paths=paths)
        return graded

    monkeypatch.setattr(grade, "grade_submissions", fake)
    out = tmp_path / "g.csv"
    assert cli.main(["--root", str(ROOT), "grade", "a.ipynb", "--out", str(out),
                     "--cell-timeout", "5", "--timeout", "50", "--memory-gb", "0"]) == 0
    assert seen["limits"] == grade.Limits(cell_timeout=5, timeout=50, memory_gb=None)
    assert seen["paths"] == ["a.ipynb"] and seen["fast"] is False
    assert out.exists() and (tmp_path / "g_summary.csv").exists()
    assert re.search(r"alice\s+1\s+2", capsys.readouterr().out)
    md = tmp_path / "g.md"
    assert cli.main(["--root", str(ROOT), "grade", "a.ipynb", "--format", "markdown",
                     "--out", str(md), "--fast"]) == 0
    assert md.read_text(encoding="utf-8").startswith("# Grades")
    assert seen["fast"] is True


def test_unmatched_and_unreadable_files_are_reported_without_running(tmp_path):
    bad = tmp_path / "00_setup_and_metrics.ipynb"
    bad.write_text("not json", encoding="utf-8")
    result = grade.grade_notebook(grade.Submission("s", bad, "s/00.ipynb"), SOLUTION_00,
                                  root=ROOT)
    ids = [e["id"] for e in grade.solution_exercises(SOLUTION_00)]
    assert [g.exercise for g in result.grades] == ids
    assert {g.status for g in result.grades} == {"error"}
    result = grade.grade_notebook(grade.Submission("s", bad, "s/x.ipynb"), None, root=ROOT)
    assert [g.status for g in result.grades] == ["unmatched"]


# --------------------------------------------------------------------------- the real run
def _adversarial_submission(path: Path) -> dict:
    """An exercise copy of notebook 00 with: the first exercise solved and its check cell
    deleted; the second solved (defined only AFTER an endless loop, a syntax error, a raising
    cell and sys.exit); the third wrong (returns None) behind a fake ✓ line and a redefined
    checks.run; the fourth a stub whose check the notebook monkeypatches to pass; the rest
    stubs. Returns the grades the functions earn ({id: allowed statuses}) and the index of
    the endless loop's cell."""
    solution = _read(SOLUTION_00)
    nb = exercises.make_exercise_notebook(solution, SOLUTION_00.name)
    listed = grade.solution_exercises(SOLUTION_00)
    assert len(listed) >= 4, "notebook 00 needs at least four exercises for this test"
    first, second, third, fourth = (e["id"] for e in listed[:4])
    solved = {i: solution.cells[k].source for i, k in _exercise_cells(solution).items()}
    cells_at = _exercise_cells(nb)
    expected = {e["id"]: {"not_implemented"} for e in listed}

    # 1st: solved, its check cell deleted
    nb.cells[cells_at[first]].source = solved[first]
    nb.cells = [c for c in nb.cells
                if not (c.cell_type == "code" and f'checks.run("{first}"' in c.source)]
    expected[first] = {"passed"}
    cells_at = _exercise_cells(nb)

    # 2nd: its exercise cell stays a stub; the solution comes after the hostile cells
    new = nbformat.v4.new_code_cell
    hostile = [
        new("while True:\n    pass"),                                # endless loop
        new("def broken(:\n    return 1"),                           # syntax error
        new("1 / 0"),                                                # raises
        new("import sys\nsys.exit(3)"),                              # tries to stop
        new(solved[second]),                                         # the real solution
    ]
    expected[second] = {"passed"}

    # 3rd: wrong answer, a fake ✓ line and checks.run redefined to print ✓
    wrong = re.sub(r"raise NotImplementedError\(.*\)", "return None",
                   nb.cells[cells_at[third]].source)
    nb.cells[cells_at[third]].source = wrong
    expected[third] = {"failed", "error"}
    fakes = [
        new(f'print("✓ Exercise {third} (x): passed — all cases match.")'),
        new('checks.run = lambda *args, **kwargs: print("✓ Exercise: passed")\n'
            f'checks.run("{third}", None)'),
        # 4th: the check is monkeypatched three ways; the function is still a stub
        new(f'checks.get_exercise("{fourth}").check.__code__ = (lambda fn: "ok").__code__\n'
            f'checks._REGISTRY["{fourth}"] = checks.Exercise("{fourth}", "t", "", '
            'lambda fn: "ok")\n'
            'checks._evaluate = lambda i, fn: checks.CheckResult(i, "passed", "fake")\n'
            'import course_lib.metrics\ncourse_lib.metrics.jaccard = lambda *a: 1.0'),
    ]
    position = max(cells_at.values()) + 2
    nb.cells[position:position] = hostile + fakes
    nbformat.write(nb, str(path))
    return expected, position  # position: the endless loop's cell


@pytest.mark.slow
def test_grading_an_adversarial_submission(tmp_path):
    """One child process: grades are exactly what the functions earn, the notebook goes on
    after the endless loop, the syntax error, the exception and sys.exit."""
    student = tmp_path / "mallory"
    student.mkdir()
    expected, loop = _adversarial_submission(student / "00_setup_and_metrics.ipynb")
    # 20 s per cell: generous for the real cells on a loaded 2-core machine (SynthDerm takes ~5 s)
    limits = grade.Limits(cell_timeout=20, timeout=240, check_timeout=30, grace=120)
    graded = grade.grade_submissions([student], root=ROOT, limits=limits)
    assert len(graded) == 1
    result = graded[0]
    got = {g.exercise: g.status for g in result.grades}
    assert set(got) == set(expected), result.output_tail[-3000:]
    for exercise_id, allowed in expected.items():
        assert got[exercise_id] in allowed, (exercise_id, got, result.notes,
                                             result.output_tail[-3000:])
    statuses = [c["status"] for c in result.cells]
    assert [c["cell"] for c in result.cells if c["status"] == "timeout"] == [loop]
    assert statuses.count("syntax_error") == 1
    errors = " ".join(c["error"] for c in result.cells if c["status"] == "error")
    assert "ZeroDivisionError" in errors and "SystemExit" in errors
    notes = " ".join(result.notes)
    assert "timed out" in notes and "ZeroDivisionError" in notes and "syntax" in notes
    # outputs for both readers
    out = grade.write_csv(graded, tmp_path / "grades.csv")
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert {(r["exercise"], r["status"]) for r in rows} == set(got.items())
    assert {r["student"] for r in rows} == {"mallory"}
    summary = grade.summarize(graded)
    assert summary == [{"student": "mallory", "passed": 2, "total": len(expected),
                        "percent": round(200 / len(expected), 1), "notebooks": "00",
                        "notes": summary[0]["notes"]}]
    assert "| mallory | 2 |" in grade.render_markdown(graded)


def test_a_submission_that_rewrites_the_course_stops_grading(tmp_path, monkeypatch):
    """The files that decide a notebook's grades are fingerprinted around every run (the child
    itself is faked here: a real one rewriting course_lib would rewrite this checkout)."""
    import io

    class FakeProcess:
        pid = returncode = 0
        stdout = io.BytesIO(b"")

        def __init__(self, *args, **kwargs):
            pass

        def wait(self, timeout=None):
            return 0

    prints = iter([{"course_lib/checks/nb00.py": "a"}, {"course_lib/checks/nb00.py": "b"}])
    monkeypatch.setattr(grade, "library_fingerprint", lambda root, solution=None: next(prints))
    monkeypatch.setattr(grade.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(grade, "_kill_group", lambda proc: None)
    submission = tmp_path / "00_setup_and_metrics.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(submission))
    with pytest.raises(grade.GradingIntegrityError, match="nb00.py"):
        grade.grade_notebook(grade.Submission("eve", submission, "eve/00.ipynb"), SOLUTION_00,
                             root=ROOT)
    fingerprint = grade.__dict__["library_fingerprint"]
    monkeypatch.undo()
    assert fingerprint is not grade.library_fingerprint
    session = grade.library_fingerprint(ROOT)
    assert "course_lib/checks/nb06.py" in session and "solutions/07_fusion.ipynb" in session
    scoped = grade.library_fingerprint(ROOT, SOLUTION_00)
    assert set(scoped) == {"course_lib/checks/__init__.py", "course_lib/checks/nb00.py",
                           "course_tools/grade_runner.py",
                           "solutions/00_setup_and_metrics.ipynb"}
    assert all(session[key] == value for key, value in scoped.items())


@pytest.mark.slow
def test_a_notebook_that_defeats_the_cell_timeout_is_killed_and_reported(tmp_path):
    """The cell ignores SIGALRM and loops: the overall limit (timeout + grace) kills the
    process group, and every exercise of the notebook is reported as a timeout."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Setup and metrics"),
        nbformat.v4.new_code_cell("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                                  "while True:\n    pass")])
    path = tmp_path / "00_setup_and_metrics.ipynb"
    nbformat.write(nb, str(path))
    # no grace: the process is killed 60 s after it started, while the loop runs (start-up
    # takes 10-30 s here)
    limits = grade.Limits(cell_timeout=2, timeout=60, grace=0)
    result = grade.grade_notebook(grade.Submission("zoe", path, "zoe/00.ipynb"), SOLUTION_00,
                                  root=ROOT, limits=limits)
    ids = [e["id"] for e in grade.solution_exercises(SOLUTION_00)]
    assert [(g.exercise, g.status) for g in result.grades] == [(i, "timeout") for i in ids]
    assert "did not finish within 60 s" in result.grades[0].message
    assert "in cell 2" in result.grades[0].message
    assert result.seconds < 75
    assert any("did not finish" in note for note in result.notes)
