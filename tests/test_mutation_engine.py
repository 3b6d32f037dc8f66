"""The engine's contracts, each pinned where a mutation of the code would break it.

Written from the mutation-testing survivors (docs/mutation-testing.md): tree
flattening (dtypes, 0-d arrays, empty trees), ``best_of``'s ties and failures,
argument validation at its boundaries, the monotonicity guard's allowance, the
best point kept, the SQUAREM step length and extrapolation, and the reports.
References are closed forms or the documented rules, replayed here.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

import emkit
from emkit.engine import best_of, observe
from emkit.engine.run import MONOTONE_RTOL, Run
from emkit.engine.squarem import _step_length, _try_extrapolate
from emkit.engine.stats import tree_flatten, tree_max_abs_diff
from emkit.examples.textbook import GeneticLinkage, NormalMixture1D

LINKAGE_COUNTS = np.array([125.0, 18.0, 20.0, 34.0])
LINKAGE_MLE = 0.6268214980


# ------------------------------------------------------------------ trees
def test_flatten_gives_floats_and_keeps_zero_d_arrays_as_arrays():
    tree = {"count": 3, "zero_d": np.array(2.0), "ints": np.arange(3), "x": 1.5}
    vector, treedef = tree_flatten(tree)
    assert vector.dtype == np.float64
    np.testing.assert_array_equal(vector, [3.0, 2.0, 0.0, 1.0, 2.0, 1.5])  # leaf order
    assert treedef.scalar == tuple(not isinstance(tree[k], np.ndarray) for k in tree)
    back = treedef.unflatten(np.arange(6))  # an integer vector comes back as floats
    assert isinstance(back["count"], float) and isinstance(back["x"], float)
    assert isinstance(back["zero_d"], np.ndarray) and back["zero_d"].shape == ()
    assert back["ints"].dtype == np.float64 and back["zero_d"].dtype == np.float64
    empty, empty_def = tree_flatten({})
    assert empty.shape == (0,) and empty_def.size == 0 and empty_def.unflatten(empty) == {}
    with pytest.raises(ValueError, match="expected a vector of 6 values"):
        treedef.unflatten(np.zeros((6, 1)))


def test_max_abs_diff_of_empty_and_scalar_trees():
    assert tree_max_abs_diff({}, {}) == 0.0
    assert tree_max_abs_diff({"a": np.zeros(0)}, {"a": np.zeros(0)}) == 0.0
    assert tree_max_abs_diff((1.0, np.array([1.0, -4.0])), (0.5, np.array([1.0, 2.0]))) == 6.0


# ---------------------------------------------------------------- best_of
def test_best_of_keeps_the_earliest_of_equal_bests_and_reports_each_outcome():
    first = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-12)
    second = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-12)
    results = iter([first, second])
    best, outcomes = best_of([0, 1], lambda _: next(results))
    assert best is first and outcomes == [first, second]


def test_best_of_when_every_start_fails():
    def fail(i):
        raise (ValueError if i == 0 else ZeroDivisionError)(f"start {i} broke")

    with pytest.raises(ValueError, match=r"^start 0 broke$"):
        best_of([0], fail)  # one start: its own error, unchanged
    with pytest.raises(ValueError, match=r"^start 0 broke \(all 2 starts failed\)$") as e:
        best_of([0, 1], fail)
    assert str(e.value.__cause__) == "start 0 broke"
    with pytest.raises(ValueError, match=r"^start 1 broke \(all 1 starts failed\)$"):
        best_of([1], fail)  # one start whose error is not a ValueError
    good = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-10)
    best, outcomes = best_of([0, 2, 1], lambda i: good if i == 2 else fail(i))
    assert best is good and isinstance(outcomes[0], ValueError)
    assert isinstance(outcomes[2], ZeroDivisionError)
    with pytest.raises(KeyError):  # only numerical failures are skipped
        best_of([0], lambda i: {}["missing"])


# ------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs, message", [
    ({"tol": -1e-9}, "tol must be a non-negative number, got -1e-09"),
    ({"tol": "0"}, "tol must be"),
    ({"tol": math.nan}, "tol must be"),
    ({"param_tol": -1.0}, "param_tol must be None or a non-negative number, got -1.0"),
    ({"param_tol": "x"}, "param_tol must be"),
    ({"max_iter": 0}, "max_iter must be an integer >= 1, got 0"),
    ({"max_iter": True}, "max_iter must be"),
    ({"max_iter": 2.0}, "max_iter must be"),
    ({"accelerate": "anderson"}, "accelerate must be None or 'squarem', got 'anderson'"),
    ({"callback": 3}, "callback must be callable or None, got int"),
])
def test_bad_arguments_are_named(kwargs, message):
    import re

    with pytest.raises(ValueError, match="^" + re.escape(message)):
        emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, **kwargs)


def test_boundary_arguments_are_accepted():
    for kwargs in ({"tol": 0, "max_iter": 3}, {"tol": np.float32(1e-6)},
                   {"param_tol": 0.0, "max_iter": 2}, {"param_tol": np.int64(1)},
                   {"max_iter": np.int64(50)}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", emkit.ConvergenceWarning)
            result = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, **kwargs)
        assert 0.5 < result.params < 0.7


def test_bad_initial_parameters():
    with pytest.raises(ValueError, match="give a log-likelihood of -inf"):
        emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.0)

    class Raising(GeneticLinkage):
        def e_step(self, data, params):
            raise ZeroDivisionError("no")

    with pytest.raises(ValueError, match="the initial parameters are invalid for this model: "
                                         "no") as caught:
        emkit.em(Raising(), LINKAGE_COUNTS, 0.5)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


# ---------------------------------------------------------- run bookkeeping
class Scripted:
    """A model whose log-likelihood path is given: params are the step number."""

    def __init__(self, path, rtol=None, slack=None):
        self.path = path
        if rtol is not None:
            self.monotone_rtol = rtol
        if slack is not None:
            self.monotone_slack = lambda stats: slack

    def e_step(self, data, params):
        return params, self.path[int(params)]

    def m_step(self, stats):
        return stats + 1.0


def run_scripted(path, **kwargs):
    model = Scripted(path, **{k: kwargs.pop(k) for k in ("rtol", "slack") if k in kwargs})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return emkit.em(model, None, 0.0, tol=0, max_iter=len(path) - 1, **kwargs)


def test_monotonicity_guard_allows_exactly_rounding_plus_the_models_slack():
    big = -1e6
    drop = MONOTONE_RTOL * 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_scripted([big, big + 1.0, big + 1.0 - 0.9 * drop])  # within rounding
        run_scripted([-0.5, -0.5 - 0.9 * MONOTONE_RTOL])  # |loglik| < 1: absolute 1e-10
        run_scripted([big, big - 5.0], slack=5.0 + drop / 2)  # the model's allowance
        run_scripted([big, big - 0.5], rtol=1e-6)  # the model's own rtol
    for path, kw in (([big, big + 1.0, big + 1.0 - 2 * drop], {}),
                     ([-0.5, -0.5 - 2 * MONOTONE_RTOL], {}),
                     ([big, big - 5.0], {"slack": 4.9}), ([big, big - 2.0], {"rtol": 1e-6})):
        with pytest.warns(emkit.MonotonicityWarning, match=r"EM step \d+ lowered the "
                                                             "log-likelihood from"):
            run_scripted(path, **kw)


def test_the_best_point_is_kept_and_a_later_tie_within_rounding_replaces_it():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.MonotonicityWarning)
        result = run_scripted([-10.0, -5.0, -7.0, -6.0])
    assert result.params == 1.0 and result.loglik == -5.0
    assert list(result.logliks) == [-10.0, -5.0, -7.0, -6.0]
    # lower only by rounding: the later point is the result (tol=0 promises the last)
    tiny = 0.5 * MONOTONE_RTOL * 5.0
    result = run_scripted([-10.0, -5.0, -5.0 - tiny])
    assert result.params == 2.0 and result.loglik == -5.0 - tiny


def test_non_finite_log_likelihood_during_the_run_is_a_numerical_error():
    with pytest.raises(emkit.NumericalError, match="the log-likelihood became nan after 1 "
                                                   "iterations"):
        run_scripted([-3.0, -2.0, math.nan])
    with pytest.raises(emkit.NumericalError, match="became inf after 0 iterations"):
        run_scripted([-3.0, math.inf])


def test_convergence_needs_both_tolerances_and_reports_max_iter():
    model = Scripted([-10.0, -9.0, -8.998, -8.9979, -8.99789])
    result = emkit.em(model, None, 0.0, tol=1e-3, max_iter=4)
    assert result.converged and result.n_iter == 3 and result.stop_reason == "converged"
    # gain equal to tol is not below it
    exact = Scripted([-10.0, -9.0, -8.5, -8.25, -8.125])
    with pytest.warns(emkit.ConvergenceWarning, match=r"EM did not converge in 4 iterations "
                                                      r"\(last gain 0\.125, tol 0\.125\)"):
        result = emkit.em(exact, None, 0.0, tol=0.125, max_iter=4)
    assert not result.converged and result.stop_reason == "max_iter"
    # param_tol: every step changes the parameter by 1, so 1 is not below param_tol=1
    with pytest.warns(emkit.ConvergenceWarning):
        result = emkit.em(model, None, 0.0, tol=1e-3, param_tol=1.0, max_iter=4)
    assert not result.converged
    result = emkit.em(model, None, 0.0, tol=1e-3, param_tol=1.0 + 1e-12, max_iter=4)
    assert result.converged and result.n_iter == 3


def test_max_iter_one_and_the_callback_stop():
    with pytest.warns(emkit.ConvergenceWarning):
        result = emkit.em(Scripted([-3.0, -2.0, -1.0]), None, 0.0, tol=1e-9, max_iter=1)
    assert result.n_iter == 1 and result.n_estep == 2 and result.params == 1.0
    result = emkit.em(Scripted([-3.0, -2.0, -1.0, -0.5]), None, 0.0, tol=0, max_iter=3,
                      callback=lambda step: step.iteration < 2)
    assert result.stop_reason == "callback" and result.n_iter == 2 and not result.converged
    with pytest.warns(emkit.ConvergenceWarning):  # None is not False: it runs on
        result = emkit.em(Scripted([-3.0, -2.0, -1.0, -0.5]), None, 0.0, tol=0, max_iter=3,
                          callback=lambda step: None)
    assert result.n_iter == 3


def test_observers_see_the_start_and_every_step():
    seen = []
    with observe(seen.append):
        result = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-13)
    start = seen[0]
    assert (start.iteration, start.n_estep, start.seconds, start.params) == (0, 1, 0.0, 0.5)
    assert math.isnan(start.gain) and math.isnan(start.param_change)
    assert start.loglik == GeneticLinkage().loglik(LINKAGE_COUNTS, 0.5)
    assert [s.iteration for s in seen[1:]] == list(range(1, result.n_iter + 1))
    assert [s.n_estep for s in seen[1:]] == list(range(2, result.n_iter + 2))
    assert result.params == pytest.approx(LINKAGE_MLE, abs=1e-8)


def test_interrupt_keeps_the_best_point_and_an_interrupt_before_any_raises():
    def stop_at_3(step):
        if step.iteration == 3:
            raise KeyboardInterrupt

    with observe(stop_at_3):
        result = emkit.em(Scripted([-9.0, -8.0, -7.0, -6.0, -5.0]), None, 0.0, tol=0,
                          max_iter=4)
    assert result.stop_reason == "interrupted" and not result.converged
    assert result.params == 3.0

    class InterruptFirst(Scripted):
        def e_step(self, data, params):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        emkit.em(InterruptFirst([0.0]), None, 0.0)


# ------------------------------------------------------------------ SQUAREM
def test_step_length_is_the_clipped_ratio_of_norms():
    x0, x1 = np.zeros(2), np.array([3.0, 4.0])  # r = (3, 4), |r| = 5
    x2 = 2 * x1 + np.array([0.0, 2.0])  # v = x2 - 2 x1 + x0 = (0, 2): ratio 2.5
    assert _step_length(x0, x1, x2, 10.0) == 2.5
    assert _step_length(x0, x1, x2, 2.0) == 2.0
    assert _step_length(x0, x1, 2 * x1 + np.array([0.0, 20.0]), 10.0) == 1.0  # ratio 1/4
    assert _step_length(x0, x1, 2 * x1, 10.0) == 1.0  # v = 0
    assert _step_length(x0, np.array([np.inf, 0]), np.zeros(2), 10.0) == 1.0
    assert _step_length(x0, x1, np.array([np.nan, 0]), 10.0) == 1.0


class Counting(NormalMixture1D):
    def __init__(self, feasible=True, fail=None):
        self.feasible, self.fail, self.seen = feasible, fail, []

    def is_feasible(self, params):
        self.seen.append(params)
        return self.feasible

    def e_step(self, x, params):
        if self.fail is not None and params is not None and len(self.seen):
            raise self.fail
        return super().e_step(x, params)


def test_extrapolation_is_the_s3_point_and_is_refused_when_infeasible_or_failing():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, 300), rng.normal(1.5, 1, 300)]
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-1.0, 2.0]),
            "variances": np.array([1.0, 1.0])}
    theta0, tdef = tree_flatten(init)
    x1 = theta0 + 0.1
    x2 = theta0 + np.r_[0.15, 0.15, 0.15, 0.15, 0.2, 0.2]
    model = Counting()
    run = Run(model, x, 0.0, None, None)
    got = _try_extrapolate(run, init, tdef, 3.0, theta0, x1, x2)
    r, v = x1 - theta0, x2 - 2 * x1 + theta0
    want = tdef.unflatten(theta0 + 6.0 * r + 9.0 * v)
    for key in want:
        np.testing.assert_allclose(model.seen[0][key], want[key], rtol=1e-14)
    np.testing.assert_allclose(got[1], NormalMixture1D().e_step(x, want)[1], rtol=1e-14)
    assert _try_extrapolate(Run(Counting(feasible=False), x, 0.0, None, None), init, tdef,
                            3.0, theta0, x1, x2) is None
    for error in (ValueError("v"), ZeroDivisionError("z"), np.linalg.LinAlgError("l")):
        assert _try_extrapolate(Run(Counting(fail=error), x, 0.0, None, None), init, tdef,
                                3.0, theta0, x1, x2) is None
    # a non-finite log-likelihood there is refused too, without a numpy warning
    far = theta0 + np.r_[0, 0, 0, 0, -1e3, -1e3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _try_extrapolate(Run(NormalMixture1D(), x, 0.0, None, None), init, tdef, 1.0,
                                theta0, far, 2 * far - theta0) is None


def test_squarem_reaches_plain_ems_optimum_with_fewer_e_steps_and_reports_steps():
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(0, 1, 400), rng.normal(1.0, 1, 400)]
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-0.5, 1.5]),
            "variances": np.array([1.0, 1.0])}
    plain = emkit.em(NormalMixture1D(), x, init, tol=1e-9, max_iter=20_000)
    fast = emkit.em(NormalMixture1D(), x, init, tol=1e-9, max_iter=20_000, accelerate="squarem")
    assert fast.converged and fast.loglik >= plain.loglik - 1e-6
    assert fast.n_estep < plain.n_estep / 5
    steps = fast.steps
    assert [s.iteration for s in steps] == list(range(1, len(steps) + 1))
    assert steps[-1].n_estep == fast.n_estep == len(fast.logliks)
    assert all(b.loglik >= a.loglik - 1e-9 for a, b in itertools.pairwise(steps))
    path = [init] + [s.params for s in steps]
    for before, step in zip(path, steps, strict=False):
        assert step.param_change == pytest.approx(tree_max_abs_diff(step.params, before),
                                                  rel=1e-12)
    assert steps[0].gain == pytest.approx(steps[0].loglik - fast.logliks[0], rel=1e-12)
    # a cycle that jumps makes three E-steps (theta1, the extrapolated point, its
    # stabilizing step), four or five when the first jump is below the start (its
    # stabilizing step, then the shorter jump and its stabilizing step); one that falls
    # back makes two (theta1, theta2) plus those of the jumps it tried; the converging
    # one stops after theta1
    counts = np.diff([1] + [s.n_estep for s in steps])
    jumped = np.array([s.accelerated for s in steps[:-1]])
    assert set(counts[:-1][jumped]) <= {3, 4, 5} and set(counts[:-1][~jumped]) <= {2, 3, 4, 5}
    assert counts[-1] == 1 and 3 in set(counts[:-1][jumped])
    assert any(s.accelerated for s in steps)


# ------------------------------------------------------- messages and defaults
def test_full_messages():
    with pytest.raises(emkit.NumericalError, match=r"^the log-likelihood became nan after 1 "
                       r"iterations; the model's parameters left its domain \(check the "
                       r"data's scale, or add regularization\)$"):
        run_scripted([-3.0, -2.0, math.nan])
    with pytest.raises(ValueError, match=r"^the initial parameters give a log-likelihood of "
                                         r"-inf; choose initial parameters inside the "
                                         r"model's domain$"):
        emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.0)
    for accelerate in (None, "squarem"):
        with warnings.catch_warnings(record=True) as every:
            warnings.simplefilter("always")
            emkit.em(Scripted([-9.0, -8.0, -9.0, -10.0, -11.0, -12.0, -13.0, -14.0]), None,
                     0.0, tol=0, max_iter=2 if accelerate else 5, accelerate=accelerate)
        caught = [w for w in every if w.category is emkit.MonotonicityWarning]
        message = str(caught[0].message)
        # the plain loop's iteration 2; SQUAREM's cycle 1 (its second plain step)
        number = 1 if accelerate else 2
        assert message == (f"EM step {number} lowered the log-likelihood from -8.0 to -9.0; "
                           "exact EM never does, so the model's E-step or M-step is "
                           "inconsistent"), message
    with pytest.warns(emkit.ConvergenceWarning) as caught:
        emkit.em(Scripted([-9.0, -8.0, -7.5]), None, 0.0, tol=1e-3, max_iter=2)
    assert str(caught[0].message) == ("EM did not converge in 2 iterations (last gain 0.5, tol "
                                      "0.001); raise max_iter, loosen tol or try "
                                      "accelerate='squarem'")


def test_default_tolerance_and_iteration_limit():
    # gains 1, 1/2, 1/4, ...: the first below 1e-8 is 2^-27, at iteration 28
    path = [-10.0 + 2.0 - 2.0 ** (1 - i) for i in range(40)]
    result = emkit.em(Scripted(path), None, 0.0)
    assert result.converged and result.n_iter == 28
    forever = Scripted([float(i) for i in range(1200)])
    with pytest.warns(emkit.ConvergenceWarning, match="in 1000 iterations"):
        result = emkit.em(forever, None, 0.0)
    assert result.n_iter == 1000 and result.params == 1000.0


def test_result_stats_are_those_of_the_returned_parameters():
    for accelerate in (None, "squarem"):
        result = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-12,
                          accelerate=accelerate)
        want, loglik = GeneticLinkage().e_step(LINKAGE_COUNTS, result.params)
        for key in want:
            np.testing.assert_allclose(result.stats[key], want[key], rtol=1e-12)
        assert result.loglik == pytest.approx(loglik, rel=1e-14)
        assert result.logliks.dtype == np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        warnings.simplefilter("ignore", emkit.MonotonicityWarning)
        one = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=0, max_iter=1)
        start = emkit.em(Scripted([-1.0, -2.0]), None, 0.0, tol=0, max_iter=1)
    want = GeneticLinkage().e_step(LINKAGE_COUNTS, one.params)[0]
    for key in want:
        np.testing.assert_allclose(one.stats[key], want[key], rtol=1e-12)
    assert start.params == 0.0 and start.stats == 0.0  # the start stays the best


def test_the_slack_is_computed_from_the_statistics_of_the_step():
    seen = []

    def slack(stats):
        seen.append(stats)
        return 5.0 if stats == 0.0 else 0.0

    model = Scripted([-1e6, -1e6 - 4.0, -1e6 - 4.5])
    model.monotone_slack = slack
    with warnings.catch_warnings(record=True) as every:
        warnings.simplefilter("always")
        emkit.em(model, None, 0.0, tol=0, max_iter=2)
    drops = [str(w.message) for w in every if w.category is emkit.MonotonicityWarning]
    assert len(drops) == 1 and drops[0].startswith("EM step 2 ")  # only the second
    assert seen == [0.0, 1.0]


def test_squarem_converging_step_and_its_record():
    seen = []
    with observe(seen.append):
        result = emkit.em(Scripted([-5.0, -5.0 + 1e-12]), None, 0.0, tol=1e-9,
                          accelerate="squarem")
    assert result.converged and result.stop_reason == "converged"
    step = result.steps[0]
    assert (step.iteration, step.n_estep, step.params) == (1, 2, 1.0)
    assert step.gain == pytest.approx(1e-12, rel=1e-3) and step.param_change == 1.0
    assert 0.0 <= step.seconds < 60.0
    assert [s.iteration for s in seen] == [0, 1]


class Quadratic:
    """E-step at ``x`` gives ``-|x|^2``; the M-step is the linear map ``A x``.

    EM's path is ``A^t x0``: SQUAREM's extrapolation is exact on such a map, so its
    points are known in closed form.
    """

    def __init__(self, a=0.9):
        self.A = np.diag([a, 0.5])

    def e_step(self, data, params):
        x = np.asarray(params, float)
        return x, -float(x @ x)

    def m_step(self, stats):
        return self.A @ stats


def test_squarem_jumps_along_the_s3_step_and_accepts_a_tie_with_the_start():
    result = emkit.em(Quadratic(), None, np.array([1.0, 0.0]), tol=1e-14, max_iter=200,
                      accelerate="squarem")
    assert any(s.accelerated for s in result.steps)
    # first cycle: a = 1 (step_max starts at 1), so no jump: it ends at theta2 = A^2 x0
    first = result.steps[0]
    assert not first.accelerated and first.n_estep == 3
    np.testing.assert_allclose(first.params, [0.9**2, 0.0], rtol=1e-14)
    # second cycle: step_max 4; r = (A - I) A^2 x0, v = (A - I)^2 A^2 x0, a = |r|/|v| = 10,
    # clipped to 4: theta' = x0 + 8 r + 16 v, then one plain step; E-steps at theta1,
    # theta' and the stabilized point (theta2 is an M-step only)
    x0 = np.array([0.9**2, 0.0])
    r, v = (0.9 - 1) * x0, (0.9 - 1) ** 2 * x0
    second = result.steps[1]
    assert second.accelerated
    np.testing.assert_allclose(second.params, 0.9 * (x0 + 8 * r + 16 * v), rtol=1e-12)
    assert second.n_estep - first.n_estep == 3

    class Flat(Quadratic):  # every point ties with the start
        def e_step(self, data, params):
            return np.asarray(params, float), -1.0

    with pytest.warns(emkit.ConvergenceWarning):
        flat = emkit.em(Flat(), None, np.array([1.0, 0.0]), tol=0, max_iter=2,
                        accelerate="squarem")
    assert [s.accelerated for s in flat.steps] == [False, True]
    np.testing.assert_allclose(flat.steps[1].params, 0.9 * (x0 + 8 * r + 16 * v), rtol=1e-12)


def test_stepwise_fit_interrupted_before_and_after_its_first_update():
    x = np.random.default_rng(0).normal(size=1000)
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-1.0, 1.0]),
            "variances": np.array([1.0, 1.0])}
    from emkit.engine.online import StepwiseEM

    online = StepwiseEM(NormalMixture1D(), init).partial_fit(x[:100])

    def batches():
        yield x[100:200]
        raise KeyboardInterrupt

    online.fit(batches())
    assert online.stop_reason == "interrupted" and online.n_batches == 2

    def interrupt_at_once():
        raise KeyboardInterrupt
        yield  # pragma: no cover

    with pytest.raises(KeyboardInterrupt):
        online.fit(interrupt_at_once())  # no update of this pass completed
    assert online.n_batches == 2


def test_more_boundaries_of_the_bookkeeping():
    # integer leaves flatten to a float vector
    vector, _ = tree_flatten({"a": np.arange(3), "b": 4})
    assert vector.dtype == np.float64
    # below |loglik| = 1 the rounding allowance is absolute (1e-10), not relative
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.MonotonicityWarning)
        result = run_scripted([-10.0, -0.5, -0.5 - 1.5e-10])
    assert result.params == 1.0
    # no starts at all: a ValueError, not a StopIteration
    with pytest.raises(ValueError, match=r"all 0 starts failed"):
        best_of([], lambda init: None)
    # the wall time of each step is a duration, not a time stamp
    for accelerate in (None, "squarem"):
        x = np.random.default_rng(3).normal(size=200) + np.repeat([-1.0, 1.0], 100)
        result = emkit.em(NormalMixture1D(), x,
                          {"weights": np.array([0.5, 0.5]), "means": np.array([-0.5, 0.5]),
                           "variances": np.array([1.0, 1.0])}, tol=1e-6,
                          accelerate=accelerate)
        assert all(0.0 <= s.seconds < 600.0 for s in result.steps)


def test_squarem_stops_for_the_callback_and_at_max_iter_unconverged():
    rng = np.random.default_rng(2)
    x = np.r_[rng.normal(0, 1, 200), rng.normal(1.0, 1, 200)]
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-0.5, 1.5]),
            "variances": np.array([1.0, 1.0])}
    stopped = emkit.em(NormalMixture1D(), x, init, tol=0, max_iter=50, accelerate="squarem",
                       callback=lambda step: step.iteration < 2)
    assert not stopped.converged and stopped.stop_reason == "callback" and stopped.n_iter == 2
    with pytest.warns(emkit.ConvergenceWarning):
        capped = emkit.em(NormalMixture1D(), x, init, tol=0, max_iter=3, accelerate="squarem")
    assert not capped.converged and capped.stop_reason == "max_iter" and capped.n_iter == 3


def test_numpy_warnings_at_the_extrapolated_point_do_not_escape():
    class Overflowing(Quadratic):
        def e_step(self, data, params):
            x = np.asarray(params, float)
            return x, -float(np.exp(800.0 * np.abs(x).max()))  # overflows far from 0

    model = Overflowing()
    theta0, tdef = tree_flatten(np.array([1.0, 0.0]))
    run = Run(model, None, 0.0, None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _try_extrapolate(run, None, tdef, 4.0, theta0, 0.5 * theta0, 2 * theta0) is None
