"""course_lib — the helper library of the DermaLite course: the notebooks carry the teaching,
this package the plumbing. Each module's docstring names the notebook that teaches it (viz and
paper serve them all); the ``course`` command lives beside it in ``course_tools``.
"""
from __future__ import annotations

import os

# Quiet TensorFlow's C++ logging before anything imports it (timestamps in cell outputs break
# nbval comparisons); set TF_CPP_MIN_LOG_LEVEL yourself to see it. oneDNN's INFO line ignores
# that level; its custom ops made no speed difference on the course's 2-core build machine.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"

#: Oldest versions the course is tested against. TensorFlow 2.16: first ``tf.keras`` = Keras 3;
#: Keras 3.10: the oldest that passes the tests (3.5–3.8 lack keras.layers.RandomErasing or log
#: multi-output losses differently; checked with TF 2.16.2).
MIN_TENSORFLOW = (2, 16)
MIN_KERAS = (3, 10)


def _parse(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


class EnvironmentProblem(RuntimeError):
    """The Python environment cannot run the course; the message says how to fix it."""


def require(min_tensorflow: tuple[int, int] = MIN_TENSORFLOW,
            min_keras: tuple[int, int] = MIN_KERAS, *, verbose: bool = True) -> dict:
    """Check TensorFlow and Keras before anything else runs. Taught in 00_setup_and_metrics. Returns
    the versions found; raises :class:`EnvironmentProblem`, with the fixing command, when either is
    missing or too old, or Keras 2 (``tf_keras``) is active."""
    fix = ('pip install -U "tensorflow>={0}.{1}" "keras>={2}.{3}"  '
           '(CPU-only machine: "tensorflow-cpu>={0}.{1}"; on Colab: Runtime > Restart after '
           'upgrading)').format(*min_tensorflow, *min_keras)
    if os.environ.get("TF_USE_LEGACY_KERAS", "").strip().lower() in {"1", "true", "yes"}:
        raise EnvironmentProblem(
            "TF_USE_LEGACY_KERAS is set, so TensorFlow would use Keras 2 (tf_keras). This course "
            "needs Keras 3: unset TF_USE_LEGACY_KERAS (os.environ.pop('TF_USE_LEGACY_KERAS')) "
            "and restart the kernel.")
    try:
        import tensorflow as tf
    except ImportError as err:
        raise EnvironmentProblem(
            f"TensorFlow is not installed ({err}). Install it with: {fix}. "
            "From a course checkout: pip install -e '.[cpu]' (or '.[gpu]').") from err
    try:
        import keras
    except ImportError as err:
        raise EnvironmentProblem(f"Keras is not installed ({err}). {fix}") from err
    tf_version, keras_version = tf.__version__, keras.__version__
    if _parse(tf_version) < tuple(min_tensorflow):
        raise EnvironmentProblem(f"TensorFlow {tf_version} is too old: the course needs "
                                 f">= {min_tensorflow[0]}.{min_tensorflow[1]} (Keras 3). {fix}")
    if _parse(keras_version)[:1] < (3,):
        raise EnvironmentProblem(f"Keras {keras_version} is Keras 2; the course needs Keras 3 "
                                 f"(>= {min_keras[0]}.{min_keras[1]}). {fix}")
    if _parse(keras_version) < tuple(min_keras):
        raise EnvironmentProblem(f"Keras {keras_version} is too old: the course needs "
                                 f">= {min_keras[0]}.{min_keras[1]}. {fix}")
    tf_keras_version = getattr(getattr(tf, "keras", None), "__version__", keras_version)
    if _parse(str(tf_keras_version))[:1] < (3,):
        raise EnvironmentProblem(f"tf.keras resolves to Keras {tf_keras_version} (Keras 2). "
                                 "Uninstall tf_keras or unset TF_USE_LEGACY_KERAS, then restart.")
    found = {"tensorflow": tf_version, "keras": keras_version, "backend": keras.backend.backend()}
    if found["backend"] != "tensorflow":
        raise EnvironmentProblem(f"Keras backend is {found['backend']!r}; the course uses the "
                                 "TensorFlow backend: set KERAS_BACKEND=tensorflow and restart.")
    if verbose:
        print(f"TensorFlow {tf_version}, Keras {keras_version} (backend {found['backend']}): OK")
    return found
