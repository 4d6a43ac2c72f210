"""The child process of ``course grade``: run ONE submitted notebook, then grade its functions.

Started by :mod:`course_tools.grade` as ``python -m course_tools.grade_runner SPEC_JSON`` in a
fresh temporary folder; the notebook's code runs with this process's rights (docs/TEACHING.md). It
(1) snapshots the course library's attributes and function code, (2) runs the code cells one by
one in ONE IPython shell, recording errors, interrupting a cell after ``cell_timeout`` s
(``SIGALRM``) and skipping the rest once the ``budget`` is spent, (3) undoes any patching of the
library, imports ``course_lib.checks`` again from disk and calls each exercise's check on the
function the SOLUTION's check cell names (printed output is never read), (4) writes the grades
and a cell log to ``result`` (JSON).

The spec (JSON) holds ``notebook``, ``result``, ``exercises`` (``[{"id", "function"}]``),
``cell_timeout``, ``check_timeout``, ``budget`` (seconds for all cells), ``skip_cells`` (code
cells not to run, e.g. training cells with ``--fast``), ``rlimits`` (``{"RLIMIT_AS": bytes, ...}``,
set first) and optionally ``progress``, a file holding the index of the running cell.
"""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import signal
import sys
import time
import traceback
import types

__all__ = ["CellTimeout", "main"]

# Bound once, when this module loads and before any submitted code runs: a notebook that
# patches importlib, signal or time afterwards does not reach the grader through these names.
_import_module = importlib.import_module
_invalidate_caches = importlib.invalidate_caches
_set_handler = signal.signal
_setitimer = signal.setitimer
_ITIMER_REAL = signal.ITIMER_REAL
_SIGALRM = signal.SIGALRM
_monotonic = time.monotonic


class CellTimeout(BaseException):
    """Raised by the alarm when a cell (or a check) runs past its time limit. A BaseException,
    so ``except Exception`` in the student's code does not swallow it."""


def _on_alarm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise CellTimeout()


def _arm(seconds: float) -> None:
    _set_handler(_SIGALRM, _on_alarm)
    # After the first alarm, repeat every second: a loop that swallows one CellTimeout gets more.
    _setitimer(_ITIMER_REAL, max(float(seconds), 0.01), 1.0)


def _disarm() -> None:
    _setitimer(_ITIMER_REAL, 0)


# --------------------------------------------------------------------------- library snapshot
def _import_library() -> list[types.ModuleType]:
    """Import every module of course_lib (except the checks) so that their
    genuine attributes can be remembered before any submitted code runs."""
    import course_lib
    modules = [course_lib]
    for info in pkgutil.walk_packages(course_lib.__path__, "course_lib."):
        name = info.name
        if name.startswith("course_lib.checks"):
            continue
        try:
            modules.append(importlib.import_module(name))
        except Exception:  # noqa: BLE001 - an optional dependency is missing: nothing to guard
            pass
    return modules


def _snapshot(modules):
    saved = []
    for module in modules:
        attributes = dict(vars(module))
        code = {}
        for value in attributes.values():
            if isinstance(value, types.FunctionType):
                code[value] = (value.__code__, value.__defaults__, value.__kwdefaults__)
            elif isinstance(value, type) and value.__module__ == module.__name__:
                for member in vars(value).values():
                    member = getattr(member, "__func__", member)
                    if isinstance(member, types.FunctionType):
                        code[member] = (member.__code__, member.__defaults__,
                                        member.__kwdefaults__)
        saved.append((module, attributes, code))
    return saved


def _restore(saved, modules_dict) -> int:
    """Put back patched attributes and function code; returns how many were changed."""
    changed = 0
    for module, attributes, code in saved:
        modules_dict[module.__name__] = module
        current = vars(module)
        for key, value in attributes.items():
            if key not in current or current[key] is not value:
                setattr(module, key, value)
                changed += 1
        for function, (code_object, defaults, kwdefaults) in code.items():
            if function.__code__ is not code_object:
                function.__code__ = code_object
                changed += 1
            if function.__defaults__ is not defaults:
                function.__defaults__ = defaults
            if function.__kwdefaults__ is not kwdefaults:
                function.__kwdefaults__ = kwdefaults
    return changed


# --------------------------------------------------------------------------- cells
def _short_error(error: BaseException) -> str:
    if isinstance(error, CellTimeout):
        return "timed out"
    text = " ".join(str(error).split())
    name = type(error).__name__
    return f"{name}: {text[:200]}" if text else name


def _run_cells(shell, cells, skip, cell_timeout, budget, log, progress=None):
    start = _monotonic()
    for index, source in cells:
        entry = {"cell": index, "status": "ok", "seconds": 0.0, "error": ""}
        log.append(entry)
        remaining = budget - (_monotonic() - start)
        if index in skip:
            entry.update(status="skipped", error="skipped (--fast: trains a model)")
            continue
        if remaining <= 0:
            entry.update(status="skipped", error="not run: the notebook's time limit was reached")
            continue
        limit = min(cell_timeout, remaining)
        if progress:  # so that the parent can say where a notebook it had to kill was
            try:
                with open(progress, "w", encoding="utf-8") as handle:
                    handle.write(str(index))
            except OSError:
                pass
        began = _monotonic()
        error = None
        try:
            _arm(limit)
            try:
                result = shell.run_cell(source, store_history=False, silent=False)
            finally:
                _disarm()
            error = result.error_before_exec or result.error_in_exec
        except CellTimeout as err:  # fired outside the cell's own code
            error = err
        except BaseException as err:  # noqa: BLE001 - nothing a cell does stops the grader
            error = err
        finally:
            _disarm()
        entry["seconds"] = round(_monotonic() - began, 2)
        if error is not None:
            if isinstance(error, CellTimeout):
                entry.update(status="timeout", error=f"interrupted after {limit:.0f} s")
            else:
                status = "syntax_error" if isinstance(error, SyntaxError) else "error"
                entry.update(status=status, error=_short_error(error))
        sys.stdout.flush()


# --------------------------------------------------------------------------- grading
def _fresh_checks():
    """course_lib.checks and its nbNN modules, imported again from the files on disk."""
    for name in [n for n in sys.modules if n == "course_lib.checks"
                 or n.startswith("course_lib.checks.")]:
        del sys.modules[name]
    _invalidate_caches()
    return _import_module("course_lib.checks")


def _grade(namespace, exercises, check_timeout):
    checks = _fresh_checks()
    grades = []
    for exercise in exercises:
        exercise_id, name = exercise["id"], exercise.get("function")
        if not name:
            grades.append({"id": exercise_id, "status": "error",
                           "message": f"Exercise {exercise_id}: the solution notebook has no "
                                      "check cell naming its function; ask the course's "
                                      "maintainers."})
            continue
        fn = namespace.get(name)
        if fn is None or not callable(fn):
            what = "is not defined" if fn is None else "is not a function"
            grades.append({"id": exercise_id, "status": "missing",
                           "message": f"Exercise {exercise_id}: {name} {what} after running the "
                                      "notebook (its cell was deleted, renamed or failed)."})
            continue
        try:
            _arm(check_timeout)
            try:
                result = checks._evaluate(exercise_id, fn)
            finally:
                _disarm()
            grades.append({"id": exercise_id, "status": result.status,
                           "message": result.message})
        except CellTimeout:
            grades.append({"id": exercise_id, "status": "timeout",
                           "message": f"Exercise {exercise_id}: the check of {name}() did not "
                                      f"finish within {check_timeout:.0f} s."})
        except BaseException as err:  # noqa: BLE001
            grades.append({"id": exercise_id, "status": "error",
                           "message": f"Exercise {exercise_id}: grading {name}() failed "
                                      f"({_short_error(err)})."})
    return grades


def _set_limits(rlimits: dict) -> None:
    """Apply ``{"RLIMIT_AS": bytes, ...}`` to this process (POSIX; ignored elsewhere)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    for name, value in rlimits.items():
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(int(value), hard)
            resource.setrlimit(which, (int(value), int(value)))
        except (ValueError, OSError):
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    _set_limits(spec.get("rlimits", {}))
    # Everything the grader needs is bound here, before any submitted code runs.
    result_path = spec["result"]
    write_json = json.dumps
    open_file = open
    modules_dict = sys.modules
    os.environ.setdefault("MPLBACKEND", "Agg")

    started = _monotonic()
    saved = _snapshot(_import_library())
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell
    with open_file(spec["notebook"], encoding="utf-8") as handle:
        nb = nbformat.read(handle, as_version=4)
    cells = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    shell = InteractiveShell.instance(colors="NoColor")
    shell.user_ns["__name__"] = "__main__"
    log: list[dict] = []
    budget = float(spec.get("budget", 300))  # for the cells, counted from the first one
    _run_cells(shell, cells, set(spec.get("skip_cells", [])), float(spec.get("cell_timeout", 60)),
               budget, log, spec.get("progress"))
    ran_for = _monotonic() - started
    patched = _restore(saved, modules_dict)
    try:
        grades = _grade(dict(shell.user_ns), spec["exercises"],
                        float(spec.get("check_timeout", 60)))
        failure = ""
    except BaseException as err:  # noqa: BLE001 - e.g. the checks themselves do not import
        grades = []
        failure = "".join(traceback.format_exception_only(type(err), err)).strip()
    report = {"grades": grades, "cells": log, "seconds": round(ran_for, 2),
              "restored_library_attributes": patched, "failure": failure}
    with open_file(result_path, "w", encoding="utf-8") as handle:
        handle.write(write_json(report, ensure_ascii=False))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter shutdown (TensorFlow's can hang or crash at exit)


if __name__ == "__main__":
    sys.exit(main())
