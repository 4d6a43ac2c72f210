"""``course bundle``: the zip a teacher hands out to students — exercises, no solutions.

Taught to teachers in docs/TEACHING.md. The zip (top folder ``dermalite-student/``) holds the
exercise notebooks (answer cells, outputs and run metadata removed), ``course_lib/`` (so the
checks run offline) and ``course_tools/`` (the ``course`` command; :data:`PACKAGES`), the install
files (:data:`FILES`) and a student README (:func:`student_readme`). :func:`make_bundle` refuses
a notebook that still holds a ``### BEGIN SOLUTION`` region, and by default a stale
``notebooks/`` (run ``course exercises``).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import nbformat

from . import exercises

__all__ = ["ANSWER_TAGS", "TOP", "FILES", "BundleError", "student_notebook", "student_readme",
           "bundle_members", "make_bundle"]

#: Cells with one of these tags never reach students.
ANSWER_TAGS = (exercises.REMOVE_TAG, "answers")
#: The folder every member of the zip sits in.
TOP = "dermalite-student"
#: The packages copied whole: the library the notebooks import and the ``course`` command.
PACKAGES = ("course_lib", "course_tools")
#: Files copied as they are (those that exist).
FILES = ("pyproject.toml", "environment.yml", "LICENSE", "data/README.md")
_FIXED_DATE = (2020, 1, 1, 0, 0, 0)  # same bytes for the same inputs


class BundleError(ValueError):
    """The hand-out would be wrong (a solution left in, stale exercise copies)."""


def student_notebook(nb: nbformat.NotebookNode, label: str = "notebook") -> str:
    """The text of an exercise notebook as students get it (answer cells, outputs, execution
    counts and run metadata removed); :class:`BundleError` when a solution region is left."""
    copy = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells = []
    for index, cell in enumerate(copy.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if any(tag in ANSWER_TAGS for tag in tags):
            continue
        if exercises.BEGIN_MARKER in cell.source or exercises.END_MARKER in cell.source:
            raise BundleError(f"{label}, {exercises.cell_label(index, cell)} still holds a "
                              "solution region; regenerate the copies with `course exercises`.")
        for key in ("execution", "papermill", "ExecuteTime", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    copy.cells = cells
    for key in ("papermill", "widgets", "execution"):
        copy.metadata.pop(key, None)
    return exercises.render_notebook(copy)


def student_readme(notebooks: list[str]) -> str:
    """The README.md of the student bundle (``notebooks``: the file names in notebooks/)."""
    listing = "\n".join(f"- `notebooks/{name}`" for name in notebooks)
    return f"""# DermaLite — student edition

A hands-on course in deep learning for medical imaging: over nine Jupyter notebooks you rebuild,
in Python with TensorFlow / Keras 3, the skin-cancer detection system of L. Wei, K. Ding and
H. Hu, "Automatic Skin Cancer Detection in Dermoscopy Images Based on Ensemble Lightweight Deep
Learning Network", *IEEE Access* 8, 2020.

> **Not a diagnostic tool.** This course is for learning. Nothing in it — code, models,
> numbers — is fit for diagnosing anyone.

## Install (once)

With Python 3.11 or 3.12 on Linux or macOS (on Windows use `.venv\\Scripts\\activate`), inside this
folder:

```bash
python3 -m venv .venv
. .venv/bin/activate
pip install -e ".[cpu]"        # CPU TensorFlow; ".[gpu]" on a CUDA machine
```

With conda instead: `conda env create -f environment.yml && conda activate dermalite`.
On Colab, upload a notebook: its setup cell installs the course library for you.

## Open the notebooks

```bash
. .venv/bin/activate
COURSE_PROFILE=smoke jupyter lab notebooks/
```

`smoke` runs every notebook on the built-in synthetic data (SynthDerm) in a minute or two on a
laptop; its numbers only show that the code runs. `lab` uses the real ISIC 2016 data on a GPU —
see `data/README.md` for how to get it. Set `COURSE_DATA_DIR` to choose where data and caches
go (default `~/course_data` outside a course checkout).

The notebooks, in order:

{listing}

## Work through the exercises

- Run the cells from the top. An exercise is a code cell that starts with
  `# Exercise N.M ★★ (20 min) — task`: it defines a function whose body is
  `raise NotImplementedError(...)`. Replace that line with your code. ★ is a warm-up, ★★ the
  core, ★★★ a stretch; the minutes are an estimate.
- Run the check cell under it, `checks.run("N.M", your_function)`. It prints
  `✓ Exercise N.M ...: passed` or `✗ ...` with what went wrong and a hint. It never stops the
  notebook: later cells go on with your function when it passes and with the course's own
  implementation otherwise, so you always reach the end.
- Keep the function names, and keep each function's inputs and outputs as described: that is
  what is graded. Helper functions of your own are welcome.
- Stuck? Re-read the text above the exercise, print intermediate values, and try the
  function on a tiny example you can work out by hand.

## Hand in

Save your notebooks (File → Save) and hand in the files from `notebooks/` under their
original names (`00_setup_and_metrics.ipynb`, ...), the way your teacher asks. Your teacher
grades them by running your functions against the same checks you see — so "✓" in your
notebook means the exercise passes. Printed output is not what is graded; your functions are.

## Licence

Course code under the MIT licence, text under CC BY 4.0 (see `LICENSE`). ISIC 2016 data: see
`data/README.md` for its licence and citation.
"""


def _stale(root: Path) -> list[str]:
    report = exercises.sync_exercises(root, check=True)
    return report.stale + report.missing + report.extra + report.errors


def bundle_members(root: str | Path, *, check_sync: bool = True) -> dict[str, bytes]:
    """``{path inside the zip: bytes}`` of the student bundle of course checkout ``root``."""
    root = Path(root)
    if check_sync:
        problems = _stale(root)
        if problems:
            raise BundleError("notebooks/ is not in sync with solutions/ ("
                              + "; ".join(problems[:5]) + "); run `course exercises` first.")
    members: dict[str, bytes] = {}
    names = []
    for path in sorted((root / exercises.EXERCISES_DIR).glob("*.ipynb")):
        nb = exercises.read_notebook(path)
        text = student_notebook(nb, f"{exercises.EXERCISES_DIR}/{path.name}")
        members[f"notebooks/{path.name}"] = text.encode("utf-8")
        names.append(path.name)
    if not names:
        raise BundleError(f"{root / exercises.EXERCISES_DIR} holds no notebooks; run "
                          "`course exercises` first.")
    for path in sorted(p for package in PACKAGES for p in (root / package).rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        members[path.relative_to(root).as_posix()] = path.read_bytes()
    for name in FILES:
        if (root / name).is_file():
            members[name] = (root / name).read_bytes()
    members["README.md"] = student_readme(names).encode("utf-8")
    return members


def make_bundle(root: str | Path, out: str | Path = "dermalite-student.zip", *,
                check_sync: bool = True) -> tuple[Path, list[str]]:
    """Write the student zip; returns its path and the member names."""
    members = bundle_members(root, check_sync=check_sync)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(f"{TOP}/{name}", date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name])
    return out, [f"{TOP}/{name}" for name in sorted(members)]
