"""The generic EM engine on textbook problems with known answers."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import optimize
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import emkit
from emkit.engine import best_of
from emkit.examples.textbook import (
    LINKAGE_COUNTS,
    CensoredExponential,
    GeneticLinkage,
    NormalMixture1D,
    TwoCoins,
)
from emkit.examples.textbook import CensoredLifetimes as Lifetimes

# Dempster, Laird & Rubin (1977): the MLE solves 197 t^2 - 15 t - 68 = 0.
LINKAGE_MLE = (15 + math.sqrt(15**2 + 4 * 197 * 68)) / (2 * 197)
COIN_DATA = np.array([[5, 10], [9, 10], [8, 10], [4, 10], [7, 10]], dtype=float)


def slow_mixture_data(n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(0.0, 1.0, n), rng.normal(1.0, 1.0, n)]


SLOW_INIT = {
    "weights": np.array([0.5, 0.5]),
    "means": np.array([-0.5, 1.5]),
    "variances": np.array([1.0, 1.0]),
}


# --------------------------------------------------------------- closed forms


def test_linkage_closed_form_is_the_published_value():
    # DLR print 0.6268214980; the root is 0.62682149787..., within their last digit.
    assert LINKAGE_MLE == pytest.approx(0.6268214980, abs=2e-10)


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_genetic_linkage_reaches_the_mle(accelerate):
    result = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-13, param_tol=1e-12,
                      accelerate=accelerate)
    assert result.converged
    assert result.params == pytest.approx(LINKAGE_MLE, abs=1e-9)
    assert isinstance(result.params, float)
    assert result.loglik == pytest.approx(GeneticLinkage().loglik(LINKAGE_COUNTS, LINKAGE_MLE),
                                          abs=1e-12)


def test_linkage_first_iterations_match_dempster_laird_rubin_table():
    # DLR (1977) Table 1 starts at 0.5 and lists 0.6082, 0.6243, 0.6265, 0.6268.
    with pytest.warns(emkit.ConvergenceWarning):
        result = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=0, max_iter=4)
    path = [s.params for s in result.steps]
    np.testing.assert_allclose(path, [0.6082, 0.6243, 0.6265, 0.6268], atol=5e-5)


def test_censored_exponential_reaches_failures_over_total_time():
    rng = np.random.default_rng(1)
    life = rng.exponential(2.0, size=200)
    cut = rng.uniform(0.5, 4.0, size=200)
    data = Lifetimes(failures=life[life <= cut], censored=cut[life > cut])
    mle = data.failures.size / (data.failures.sum() + data.censored.sum())
    result = emkit.em(CensoredExponential(), data, 1.0, tol=1e-12, param_tol=1e-12)
    assert result.params == pytest.approx(mle, rel=1e-9)


def test_two_coins_matches_direct_maximization():
    model = TwoCoins()

    def negloglik(p):
        return -emkit.em(model, COIN_DATA, tuple(p), max_iter=1, tol=0).logliks[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        direct = optimize.minimize(negloglik, x0=[0.6, 0.5], method="Nelder-Mead",
                                   options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    result = emkit.em(model, COIN_DATA, (0.6, 0.5), tol=1e-13, param_tol=1e-10)
    assert result.converged
    np.testing.assert_allclose(result.params, direct.x, atol=1e-5)
    # Do & Batzoglou (2008), Figure 1: about 0.80 and 0.52 after 10 iterations.
    with pytest.warns(emkit.ConvergenceWarning):
        ten = emkit.em(model, COIN_DATA, (0.6, 0.5), tol=0, max_iter=10)
    np.testing.assert_allclose(ten.params, (0.80, 0.52), atol=0.005)


def test_normal_mixture_follows_scikit_learn_trajectory():
    x = slow_mixture_data(500)
    sk = SkGaussianMixture(
        2, covariance_type="spherical", reg_covar=0.0, tol=0, max_iter=20,
        weights_init=SLOW_INIT["weights"], means_init=SLOW_INIT["means"][:, None],
        precisions_init=1 / SLOW_INIT["variances"],
    )
    with pytest.warns(Warning):  # scikit-learn's own non-convergence warning
        sk.fit(x[:, None])
    with pytest.warns(emkit.ConvergenceWarning):
        ours = emkit.em(NormalMixture1D(), x, SLOW_INIT, tol=0, max_iter=20)
    np.testing.assert_allclose(ours.params["means"], sk.means_.ravel(), rtol=1e-10)
    np.testing.assert_allclose(ours.params["variances"], sk.covariances_, rtol=1e-10)
    np.testing.assert_allclose(ours.params["weights"], sk.weights_, rtol=1e-10)


# ------------------------------------------------------------ loop semantics


def test_tol_zero_runs_exactly_max_iter_and_warns():
    with pytest.warns(emkit.ConvergenceWarning, match="max_iter"):
        result = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=0, max_iter=37)
    assert result.n_iter == 37
    assert result.n_estep == 38
    assert not result.converged
    assert result.stop_reason == "max_iter"


def test_max_iter_one_is_one_e_step_and_one_m_step():
    model = GeneticLinkage()
    stats, _ = model.e_step(LINKAGE_COUNTS, 0.5)
    expected = model.m_step(stats)
    with pytest.warns(emkit.ConvergenceWarning):
        result = emkit.em(model, LINKAGE_COUNTS, 0.5, tol=0, max_iter=1)
    assert result.params == expected
    assert result.n_iter == 1
    assert result.loglik == pytest.approx(model.loglik(LINKAGE_COUNTS, expected), abs=1e-14)


def separated_mixture_data(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(-2.0, 1.0, n), rng.normal(3.0, 0.5, n)]


def test_logliks_and_steps_tell_the_same_story():
    result = emkit.em(NormalMixture1D(), separated_mixture_data(), SLOW_INIT, tol=1e-6)
    assert result.logliks.shape == (result.n_estep,)
    assert np.all(np.diff(result.logliks) >= -1e-9)
    assert [s.iteration for s in result.steps] == list(range(1, result.n_iter + 1))
    np.testing.assert_allclose([s.loglik for s in result.steps], result.logliks[1:])
    np.testing.assert_allclose([s.gain for s in result.steps], np.diff(result.logliks))
    assert result.loglik == result.logliks[-1]
    assert all(s.seconds >= 0 for s in result.steps)  # wall time: only its sign is known
    # param_change is the largest absolute change of any parameter over the step
    params = [SLOW_INIT] + [s.params for s in result.steps]
    np.testing.assert_allclose(
        [s.param_change for s in result.steps],
        [max(np.max(np.abs(np.asarray(b[k]) - np.asarray(a[k]))) for k in a)
         for a, b in itertools.pairwise(params)], rtol=1e-12)
    assert abs(result.steps[-1].gain) < 1e-6


def test_param_tol_requires_small_parameter_change_too():
    loose = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-2)
    strict = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-2, param_tol=1e-10)
    assert strict.converged and strict.n_iter > loose.n_iter
    assert strict.steps[-1].param_change < 1e-10


def test_callback_returning_false_stops_cleanly():
    seen = []

    def stop_at_three(step):
        seen.append(step.iteration)
        return step.iteration < 3

    result = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=0, max_iter=50,
                      callback=stop_at_three)
    assert seen == [1, 2, 3]
    assert result.n_iter == 3 and not result.converged
    assert result.stop_reason == "callback"
    assert result.params == result.steps[-1].params


def test_keyboard_interrupt_returns_best_so_far():
    def interrupt(step):
        if step.iteration == 2:
            raise KeyboardInterrupt

    result = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=0, max_iter=50,
                      callback=interrupt)
    assert result.stop_reason == "interrupted" and not result.converged
    assert result.params == result.steps[1].params


# ------------------------------------------------------------ param structures


class StructuredLinkage:
    """The linkage model with its parameter packed into an arbitrary structure."""

    def __init__(self, pack, unpack):
        self.pack, self.unpack, self.inner = pack, unpack, GeneticLinkage()

    def e_step(self, data, params):
        return self.inner.e_step(data, self.unpack(params))

    def m_step(self, stats):
        return self.pack(self.inner.m_step(stats))


STRUCTURES = {
    "dict": (lambda t: {"theta": np.array([t]), "fixed": 1.0}, lambda p: float(p["theta"][0])),
    "tuple": (lambda t: (t, np.array([[t]])), lambda p: p[0]),
    "list": (lambda t: [np.array(t), {"inner": (t,)}], lambda p: float(p[0])),
    "array": (lambda t: np.array([t, 1 - t]), lambda p: float(p[0])),
}


@pytest.mark.parametrize("accelerate", [None, "squarem"])
@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_params_keep_the_structure_of_init(name, accelerate):
    pack, unpack = STRUCTURES[name]
    model = StructuredLinkage(pack, unpack)
    init = pack(0.5)
    result = emkit.em(model, LINKAGE_COUNTS, init, tol=1e-12, accelerate=accelerate)
    assert type(result.params) is type(init)
    if isinstance(init, dict):
        assert set(result.params) == set(init)
        assert result.params["theta"].shape == (1,)
    assert unpack(result.params) == pytest.approx(LINKAGE_MLE, abs=1e-8)


# --------------------------------------------------------------------- SQUAREM


def test_squarem_agrees_with_plain_em_and_needs_far_fewer_e_steps():
    x = slow_mixture_data(300)
    plain = emkit.em(NormalMixture1D(), x, SLOW_INIT, tol=1e-8, max_iter=100_000)
    fast = emkit.em(NormalMixture1D(), x, SLOW_INIT, tol=1e-8, max_iter=100_000,
                    accelerate="squarem")
    assert plain.converged and fast.converged
    assert fast.loglik >= plain.loglik - 1e-6
    np.testing.assert_allclose(np.sort(fast.params["means"]), np.sort(plain.params["means"]),
                               atol=5e-3)
    assert fast.n_estep * 5 < plain.n_estep
    assert any(step.accelerated for step in fast.steps)


def test_squarem_path_never_decreases():
    result = emkit.em(NormalMixture1D(), slow_mixture_data(500), SLOW_INIT, tol=1e-8,
                      accelerate="squarem")
    path = [result.logliks[0]] + [s.loglik for s in result.steps]
    assert np.all(np.diff(path) >= -1e-9)


class NoExtrapolation(NormalMixture1D):
    """Declares every point off the plain EM path infeasible."""

    def __init__(self):
        self.calls = 0

    def is_feasible(self, params):
        self.calls += 1
        return False


def test_squarem_falls_back_to_plain_steps_when_extrapolation_is_infeasible():
    x = slow_mixture_data(300)
    model = NoExtrapolation()
    with pytest.warns(emkit.ConvergenceWarning):
        squarem = emkit.em(model, x, SLOW_INIT, tol=0, max_iter=10, accelerate="squarem")
    with pytest.warns(emkit.ConvergenceWarning):
        plain = emkit.em(NormalMixture1D(), x, SLOW_INIT, tol=0, max_iter=20)
    # the documented rule, replayed on the plain EM path: a rejected cycle ends at
    # theta2, so cycle c starts at plain iterate 2c; its step length
    # a = clip(||r|| / ||v||, 1, step_max) is tried (one is_feasible call) only when
    # a > 1, and then a / 2 when that is still above 1 (a second call); a rejected a
    # that was the clip divides step_max by 4 (not below 1), and a cycle that falls
    # back counts as a = 1, which grows step_max fourfold when step_max is 1
    path, p = [SLOW_INIT], SLOW_INIT
    for _ in range(20):
        p = NormalMixture1D().m_step(NormalMixture1D().e_step(x, p)[0])
        path.append(p)
    flat = [np.concatenate([np.ravel(q[k]) for k in sorted(q)]) for q in path]
    step_max, tried, calls = 1.0, 0, 0
    for c in range(10):
        r = flat[2 * c + 1] - flat[2 * c]
        v = flat[2 * c + 2] - 2 * flat[2 * c + 1] + flat[2 * c]
        a = min(max(np.linalg.norm(r) / np.linalg.norm(v), 1.0), step_max)
        if a > 1.0:
            tried += 1
            calls += 1 + (a / 2 > 1.0)
            if a == step_max:
                step_max = max(1.0, step_max / 4.0)
        if step_max == 1.0:
            step_max *= 4.0
    assert tried >= 3 and model.calls == calls
    assert not any(s.accelerated for s in squarem.steps)
    # each rejected cycle is two plain EM steps
    np.testing.assert_allclose(squarem.params["means"], plain.params["means"], rtol=1e-12)


# -------------------------------------------------------------- broken models


class Backwards(GeneticLinkage):
    """An M-step that moves away from the maximum: EM's guarantee is violated."""

    def m_step(self, stats):
        return 0.5 * super().m_step(stats)


def test_monotonicity_warning_fires_on_a_broken_m_step():
    with pytest.warns(emkit.MonotonicityWarning, match="lowered the log-likelihood"), \
            pytest.warns(emkit.ConvergenceWarning):
        emkit.em(Backwards(), LINKAGE_COUNTS, 0.62, tol=1e-12, max_iter=5)


def test_best_parameters_are_returned_when_a_step_lowers_the_likelihood():
    with pytest.warns(emkit.MonotonicityWarning), pytest.warns(emkit.ConvergenceWarning):
        result = emkit.em(Backwards(), LINKAGE_COUNTS, 0.62, tol=1e-12, max_iter=3)
    assert result.loglik == max(result.logliks)
    assert result.params == 0.62


class GoesNaN(GeneticLinkage):
    def m_step(self, stats):
        return float("nan")


def test_non_finite_likelihood_mid_run_is_a_numerical_error():
    with pytest.raises(emkit.NumericalError, match=r"became nan"):
        emkit.em(GoesNaN(), LINKAGE_COUNTS, 0.5)


def test_initial_params_outside_the_domain_are_refused():
    with pytest.raises(ValueError, match="initial parameters"):
        emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 1.5)


# ------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tol": -1.0}, "tol"),
        ({"tol": float("nan")}, "tol"),
        ({"tol": "small"}, "tol"),
        ({"param_tol": -1e-3}, "param_tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"max_iter": True}, "max_iter"),
        ({"accelerate": "aitken"}, "accelerate"),
        ({"callback": 3}, "callback"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, **kwargs)


def test_model_protocol_is_runtime_checkable():
    assert isinstance(GeneticLinkage(), emkit.EMModel)
    assert not isinstance(object(), emkit.EMModel)


# -------------------------------------------------------------------- restarts


def test_best_of_keeps_the_highest_likelihood_and_reports_failures():
    x = slow_mixture_data(300)
    starts = [
        {"weights": np.array([0.5, 0.5]), "means": np.array([0.0, 0.0]),
         "variances": np.array([1.0, 1.0])},  # a saddle: stays symmetric
        SLOW_INIT,
        {"weights": np.array([0.5, 0.5]), "means": np.array([0.0, 1.0]),
         "variances": np.array([-1.0, 1.0])},  # invalid
    ]
    x = separated_mixture_data()
    best, outcomes = best_of(starts, lambda init: emkit.em(NormalMixture1D(), x, init, tol=1e-6))
    assert isinstance(outcomes[2], ValueError)
    assert best is outcomes[1]
    assert best.loglik > outcomes[0].loglik


def test_best_of_raises_when_every_start_fails():
    with pytest.raises(ValueError, match="all 2 starts failed"):
        best_of([1.5, -1.0], lambda init: emkit.em(GeneticLinkage(), LINKAGE_COUNTS, init))
