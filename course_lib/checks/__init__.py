"""Graded check cells for the exercises. Taught in 00_setup_and_metrics.

A notebook checks an exercise with one line after the exercise cell::

    from course_lib import checks
    checks.run("0.1", jaccard)

:func:`run` calls the check registered under ``"0.1"`` with the student's function and prints
ONE line; it never raises, so a notebook always runs to the end:

- ``✓ Exercise 0.1 (per-image Jaccard): passed — <short confirmation>``
- ``✗ Exercise 0.1 (per-image Jaccard): not implemented yet — write the body of jaccard() and
  run this cell again.`` (the function still raises the ``NotImplementedError`` of the
  exercise copy)
- ``✗ Exercise 0.1 (per-image Jaccard): <what went wrong>. Hint: <hint>`` (a wrong answer)
- ``✗ Exercise 0.1 (per-image Jaccard): your function raised ValueError: <message>. Hint: <hint>``

The printed text is deterministic (no addresses, no timings), so nbval can compare it.
``run`` returns ``None`` (the cell shows only the printed line); the outcome stays available
as :data:`last_result`.

The student's code is then the code the notebook uses. A later cell asks for it with
:func:`use`, which returns the student's function when its check passed and the course's
reference otherwise, saying which in one line::

    assemble = checks.use("4.3", assemble_dc_model, reference=discriminant.assemble_dc_model)
    model = assemble(backbone, input_shape)      # the student's model, or the reference

Writing checks for a notebook
-----------------------------
The checks of notebook ``NN`` live in ``course_lib/checks/nbNN.py`` and are imported lazily the
first time an id with prefix ``N`` is run (``"3.2"`` → ``course_lib.checks.nb03``), so each
notebook's checks can be written without touching this file. Keep the module's top-level
imports light (NumPy at most); import Keras/TensorFlow inside the check functions. A check is a
function that receives the student's function, raises :class:`CheckFailed` (through
:func:`expect_close`, :func:`expect_equal`, :func:`expect_shape`, :func:`expect_true`) when an
answer is wrong, and returns a short confirmation string::

    from course_lib.checks import register, expect_close

    @register("0.1", title="per-image Jaccard", hint="JA = TP / (TP + FP + FN)")
    def check_jaccard(jaccard):
        expect_close(jaccard(a, b), 0.25, "jaccard(a, b) with a = ..., b = ...")
        return "4 hand-computed cases match"
"""
from __future__ import annotations

import importlib
import math
import pkgutil
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = [
    "CheckFailed", "CheckResult", "Exercise", "register", "run", "last_result",
    "registered_ids", "get_exercise", "expect_close", "expect_equal", "expect_shape",
    "expect_true", "describe", "module_name_for", "use",
]

#: Exercise ids look like "0.1", "3.12": notebook number, dot, exercise number.
EXERCISE_ID = re.compile(r"^(\d{1,2})\.(\d{1,2})$")

#: The outcome of the most recent :func:`run` (``None`` before the first one).
last_result: "CheckResult | None" = None

_REGISTRY: dict[str, "Exercise"] = {}

#: The last outcome per exercise id, with the function it was for: ``{id: (fn, CheckResult)}``.
#: :func:`use` reads it so that a check that just ran is not run again.
_OUTCOMES: dict[str, tuple[Callable, "CheckResult"]] = {}


class CheckFailed(AssertionError):
    """An answer is wrong. The message says what was returned and what was expected."""


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: its id, a short title, a hint shown on failure, and the check."""

    exercise_id: str
    title: str
    hint: str
    check: Callable[[Callable], Any]


@dataclass(frozen=True)
class CheckResult:
    """What :func:`run` found. ``status`` is one of ``passed``, ``failed``,
    ``not_implemented``, ``error`` or ``unknown`` (no such exercise id)."""

    exercise_id: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def register(exercise_id: str, *, title: str, hint: str = "") -> Callable:
    """Decorator: register ``check(fn)`` as the check of exercise ``exercise_id``.

    Registering the same id again from the same module replaces the check (so reloading a
    module works); registering it from a different module raises ``ValueError``.
    """
    if not isinstance(exercise_id, str) or not EXERCISE_ID.match(exercise_id):
        raise ValueError(f"Exercise id {exercise_id!r} is not of the form 'N.M' (e.g. '0.1'); "
                         "use the notebook number, a dot and the exercise number.")
    if not title:
        raise ValueError(f"Exercise {exercise_id}: give a short title, e.g. "
                         "register('0.1', title='per-image Jaccard').")

    def decorator(check: Callable) -> Callable:
        old = _REGISTRY.get(exercise_id)
        if old is not None and getattr(old.check, "__module__", None) != check.__module__:
            raise ValueError(f"Exercise {exercise_id} is already registered by "
                             f"{old.check.__module__}; pick another id.")
        _REGISTRY[exercise_id] = Exercise(exercise_id, title, hint, check)
        return check

    return decorator


def module_name_for(exercise_id: str) -> str:
    """``"3.2"`` → ``"course_lib.checks.nb03"``: where the checks of that notebook live."""
    match = EXERCISE_ID.match(exercise_id)
    if not match:
        raise ValueError(f"Exercise id {exercise_id!r} is not of the form 'N.M' (e.g. '0.1').")
    return f"{__name__}.nb{int(match.group(1)):02d}"


def _load_module_for(exercise_id: str) -> None:
    """Import the notebook's check module if it exists (ModuleNotFoundError for it is fine)."""
    name = module_name_for(exercise_id)
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:  # the module exists but one of ITS imports is missing
            raise


def _load_all_modules() -> None:
    for info in pkgutil.iter_modules(__path__):
        if re.fullmatch(r"nb\d\d", info.name):
            try:
                importlib.import_module(f"{__name__}.{info.name}")
            except Exception:  # noqa: BLE001 - only used to list ids in a message
                pass


def _id_key(exercise_id: str) -> tuple[int, int]:
    major, minor = exercise_id.split(".")
    return int(major), int(minor)


def registered_ids(notebook: int | None = None) -> list[str]:
    """All exercise ids with a check (importing every ``nbNN`` module), sorted numerically;
    only those of notebook ``notebook`` when given."""
    _load_all_modules()
    ids = sorted(_REGISTRY, key=_id_key)
    if notebook is not None:
        ids = [i for i in ids if _id_key(i)[0] == int(notebook)]
    return ids


def get_exercise(exercise_id: str) -> Exercise:
    """The registered :class:`Exercise` (loading its module); ``KeyError`` when there is none."""
    if exercise_id not in _REGISTRY:
        _load_module_for(exercise_id)
    return _REGISTRY[exercise_id]


# --------------------------------------------------------------------------- formatting
def describe(value: Any) -> str:
    """Short, deterministic text for a value in a failure message (no addresses)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return describe(value.item())
        if value.size <= 12:
            return (np.array2string(value, precision=4, separator=", ")
                    + f" (array, shape {value.shape})")
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, tuple):
        inner = ", ".join(describe(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        if len(value) <= 12:
            return "[" + ", ".join(describe(v) for v in value) + "]"
        return f"a list of {len(value)} items"
    if isinstance(value, str):
        return repr(value)
    if callable(value):
        return f"the function {getattr(value, '__name__', type(value).__name__)}"
    return f"a {type(value).__name__}"


def _as_number(value: Any) -> float | None:
    """A real number from a Python/NumPy scalar or a one-element array, else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, np.ndarray):
        if value.size != 1 or not np.issubdtype(value.dtype, np.number):
            return None
        value = value.reshape(()).item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


# --------------------------------------------------------------------------- expectations
def expect_true(condition: Any, message: str) -> None:
    """Raise :class:`CheckFailed` with ``message`` unless ``condition`` is true."""
    if not condition:
        raise CheckFailed(message)


def expect_close(actual: Any, expected: float, what: str, *, rtol: float = 1e-6,
                 atol: float = 1e-9) -> None:
    """``actual`` must be a number within ``atol + rtol * |expected|`` of ``expected``.

    ``what`` is the call that produced it, e.g. ``"jaccard(a, b) with both masks empty"``;
    the message reads ``"jaccard(a, b) with both masks empty returned nan, expected 1"``.
    """
    number = _as_number(actual)
    if number is None:
        raise CheckFailed(f"{what} returned {describe(actual)}, expected a single number "
                          f"({describe(float(expected))})")
    if math.isnan(number) or abs(number - expected) > atol + rtol * abs(expected):
        raise CheckFailed(f"{what} returned {describe(number)}, expected "
                          f"{describe(float(expected))}")


def expect_equal(actual: Any, expected: Any, what: str) -> None:
    """``actual == expected`` (arrays: same shape and values)."""
    if isinstance(actual, np.ndarray) or isinstance(expected, np.ndarray):
        same = (np.shape(actual) == np.shape(expected)
                and bool(np.all(np.asarray(actual) == np.asarray(expected))))
    else:
        try:
            same = bool(actual == expected)
        except Exception:  # noqa: BLE001 - e.g. ambiguous truth value
            same = False
    if not same:
        raise CheckFailed(f"{what} returned {describe(actual)}, expected {describe(expected)}")


def expect_shape(array: Any, shape: tuple, what: str) -> None:
    """``array.shape == shape`` (d2l's check_shape): "x's shape (2, 3) != expected (3, 2)"."""
    actual = getattr(array, "shape", None)
    if actual is None:
        raise CheckFailed(f"{what} is {describe(array)}, expected an array of shape "
                          f"{tuple(shape)}")
    if tuple(actual) != tuple(shape):
        raise CheckFailed(f"{what}'s shape {tuple(actual)} != expected {tuple(shape)}")


# --------------------------------------------------------------------------- running
def _raised_inside(err: BaseException, fn: Callable) -> bool:
    """True when the traceback passes through ``fn`` (the student's code raised, not the
    check). Callables without ``__code__`` are given the benefit of the doubt."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return True
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is code:
            return True
        tb = tb.tb_next
    return False


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text.rstrip(".") if text else text


def _with_hint(message: str, hint: str) -> str:
    message = _sentence(message)
    hint = _sentence(hint)
    return f"{message}. Hint: {hint}." if hint else f"{message}."


def run(exercise_id: str, fn: Any) -> None:
    """Check the student's ``fn`` for exercise ``exercise_id``; print one ✓/✗ line.

    Never raises (except KeyboardInterrupt): a wrong answer, a missing body
    (``NotImplementedError``), any error in the student's code and an unknown id are all
    reported as text. The outcome is stored in :data:`last_result`.
    """
    global last_result
    result = _evaluate(exercise_id, fn)
    last_result = result
    if callable(fn):
        _OUTCOMES[str(exercise_id)] = (fn, result)
    print(("✓ " if result.passed else "✗ ") + result.message)
    return None


def _qualified_name(fn: Callable) -> str:
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", type(fn).__name__)
    return f"{module}.{name}" if module.startswith("course_lib") else name


def use(exercise_id: str, fn: Any, reference: Callable) -> Callable:
    """The function the notebook goes on with: the student's ``fn`` when its check passes,
    otherwise ``reference`` (the course's implementation in course_lib). Prints ONE line::

        → Exercise 4.3 solved: the notebook goes on with your assemble_dc_model().
        → Exercise 4.3 not solved yet: the notebook goes on with the course's reference,
          course_lib.models.discriminant.assemble_dc_model().

    The check is not run again when :func:`run` has just checked this very function; otherwise
    it runs silently (a student who edits the exercise cell and skips its check cell still gets
    a checked function). Never raises for a wrong or missing answer, so an exercise copy runs
    top to bottom with nothing solved.
    """
    if not callable(reference):
        raise TypeError(f"checks.use({exercise_id!r}, ...): reference must be the course's "
                        f"function, got {describe(reference)}.")
    cached = _OUTCOMES.get(str(exercise_id))
    if cached is not None and cached[0] is fn:
        result = cached[1]
    else:
        result = _evaluate(exercise_id, fn)
        if callable(fn):
            _OUTCOMES[str(exercise_id)] = (fn, result)
    if result.passed:
        name = getattr(fn, "__name__", "your function")
        print(f"→ Exercise {exercise_id} solved: the notebook goes on with your {name}().")
        return fn
    print(f"→ Exercise {exercise_id} not solved yet: the notebook goes on with the course's "
          f"reference, {_qualified_name(reference)}().")
    return reference


def _evaluate(exercise_id: Any, fn: Any) -> CheckResult:
    if not isinstance(exercise_id, str) or not EXERCISE_ID.match(exercise_id):
        return CheckResult(str(exercise_id), "unknown",
                           f"Exercise {exercise_id!r}: not an exercise id; ids look like '0.1'.")
    try:
        exercise = get_exercise(exercise_id)
    except KeyError:
        known = ", ".join(registered_ids()) or "none"
        return CheckResult(exercise_id, "unknown",
                           f"Exercise {exercise_id}: no check is registered under this id. "
                           f"Exercises with checks: {known}.")
    except Exception as err:  # noqa: BLE001 - the check module failed to import
        return CheckResult(exercise_id, "error",
                           f"Exercise {exercise_id}: the checks could not be loaded "
                           f"({type(err).__name__}: {_sentence(err)}). Update course_lib "
                           "(pip install -U ...) or restart the kernel.")
    label = f"Exercise {exercise_id} ({exercise.title})"
    if not callable(fn):
        return CheckResult(exercise_id, "error",
                           f"{label}: expected your function, got {describe(fn)}. Pass the "
                           f"function itself, without calling it: checks.run(\"{exercise_id}\", "
                           "my_function).")
    name = getattr(fn, "__name__", "your function")
    try:
        confirmation = exercise.check(fn)
    except NotImplementedError:
        return CheckResult(exercise_id, "not_implemented",
                           f"{label}: not implemented yet — write the body of {name}() and run "
                           "this cell again.")
    except CheckFailed as err:
        return CheckResult(exercise_id, "failed", f"{label}: {_with_hint(str(err), exercise.hint)}")
    except Exception as err:  # noqa: BLE001 - the whole point: never raise
        detail = f"{type(err).__name__}: {_sentence(err)}" if str(err) else type(err).__name__
        if _raised_inside(err, fn):
            return CheckResult(exercise_id, "error",
                               f"{label}: your function raised {_with_hint(detail, exercise.hint)}")
        return CheckResult(exercise_id, "error",
                           f"{label}: the check itself failed ({detail}); your function may "
                           "return something unexpected — look at what it returns.")
    confirmation = _sentence(confirmation) if confirmation else "all cases match"
    return CheckResult(exercise_id, "passed", f"{label}: passed — {confirmation}.")

