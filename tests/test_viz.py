"""The course's drawings (course_lib.viz) draw what they say."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from course_lib import viz  # noqa: E402


def test_separable_convolution_figure_draws_every_channel_slice():
    # Top panel (a): input N slices + M filters of N slices + output M slices, 3 faces each.
    n_in, n_out = 4, 3
    fig = viz.plot_separable_convolution(n_in, n_out)
    top, bottom = fig.axes
    assert len(top.patches) == 3 * (n_in + n_out * n_in + n_out)
    # Bottom panel (b): input N, N depthwise filters, the N-channel middle, M pointwise filters
    # of N slices, output M.
    assert len(bottom.patches) == 3 * (n_in + n_in + n_in + n_out * n_in + n_out)
    assert "K²·N·M" in " ".join(t.get_text() for t in top.texts)
    assert "K²·N weights" in " ".join(t.get_text() for t in bottom.texts)
