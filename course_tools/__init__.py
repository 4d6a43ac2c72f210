"""course_tools — the ``course`` command: what teachers and maintainers run around the notebooks.

``course run`` (papermill), ``exercises`` (exercise copies from solutions/), ``lint``, ``grade``,
``bundle``, ``site``, ``report``, ``bench``, ``download``/``mirror`` and ``export``; see
``course --help``. The notebooks never import this package: the library they build on is
``course_lib``, which never imports ``course_tools`` (tests/test_library_shape.py).
"""
