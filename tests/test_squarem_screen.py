"""SQUAREM's monotone screen: the backtracked cycle and the rounding tie.

The models are linear EM maps on a line, ``x -> 0.9 x``: from ``x0`` plain EM goes
to ``0.9**t x0`` and the S3 point of step length ``a`` is ``(1 - 0.1 a)**2 x0``
exactly, so every point of a run is known in closed form. The log-likelihood is
a step function of ``x`` chosen to make the long jump fail or tie.
"""

from __future__ import annotations

import numpy as np
import pytest

import emkit


class Line:
    """M-step ``0.9 x``; log-likelihood ``high`` at ``x >= 0.4``, ``low`` below."""

    def __init__(self, high: float, low: float):
        self.high, self.low = high, low

    def e_step(self, data, params):
        x = np.asarray(params, float)
        return x, self.high if x[0] >= 0.4 else self.low

    def m_step(self, stats):
        return 0.9 * stats


def run_two_cycles(model):
    with pytest.warns(emkit.ConvergenceWarning):
        return emkit.em(model, None, np.array([1.0]), tol=0, max_iter=2,
                        accelerate="squarem")


def test_a_backtracked_cycle_ends_at_the_shorter_point_for_one_more_e_step():
    # cycle 1 is plain (step_max starts at 1): 1 -> 0.81. Cycle 2 from x0 = 0.81:
    # a = ||r|| / ||v|| = 10, clipped to step_max = 4: theta' = 0.36 x0 = 0.2916 and
    # F(theta') = 0.26244 are both in the low region, so a / 2 = 2 is tried:
    # 0.64 x0 = 0.5184, in the high region; the cycle ends there (not at 0.9 * 0.5184)
    result = run_two_cycles(Line(high=-1.0, low=-10.0))
    first, second = result.steps
    assert not first.accelerated and first.n_estep == 3
    np.testing.assert_allclose(first.params, [0.81], rtol=1e-15)
    assert second.accelerated
    np.testing.assert_allclose(second.params, [0.64 * 0.81], rtol=1e-14)
    assert second.loglik == -1.0
    # E-steps at theta1, theta', F(theta') and the shorter point
    assert second.n_estep - first.n_estep == 4


@pytest.mark.parametrize(("drop", "ends_at"), [
    (1e-11, 0.9 * 0.36 * 0.81),  # 1e-14 relative: a rounding tie, theta' is kept
    (1e-8, 0.64 * 0.81),  # 1e-11 relative: a loss (though inside MONOTONE_RTOL)
])
def test_a_point_below_the_start_only_by_rounding_ties_with_it(drop, ends_at):
    result = run_two_cycles(Line(high=-1000.0, low=-1000.0 - drop))
    np.testing.assert_allclose(result.steps[1].params, [ends_at], rtol=1e-14)
    assert result.steps[1].accelerated
