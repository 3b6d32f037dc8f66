"""emkit.RegressionMixture at scale: chunked and Dask fits equal the in-memory fit,
EM's monotone increase (generalized EM) and SQUAREM."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import expit, gammaln

import emkit
from emkit.models.regression.design import Design
from emkit.models.regression.model import RegressionMixtureEM

RNG = np.random.default_rng(21)
N = 600
X = np.column_stack([RNG.uniform(0.0, 10.0, N), RNG.normal(size=N)])
Z = RNG.normal(size=(N, 1))
SEG = RNG.random(N) < expit(0.5 * Z[:, 0])
W = RNG.uniform(0.2, 2.0, N)


def _response(family: str) -> np.ndarray:
    if family == "gaussian":
        return np.where(SEG, 1.0 + 2.0 * X[:, 0], 8.0 - 0.5 * X[:, 0]) + RNG.normal(0, 1, N)
    if family == "poisson":
        return RNG.poisson(np.exp(np.where(SEG, 0.2 + 0.2 * X[:, 0], 2.0 - 0.1 * X[:, 0])))
    m = RNG.integers(1, 5, N)
    s = RNG.binomial(m, expit(np.where(SEG, -2.0 + 0.5 * X[:, 0], 1.5 - 0.3 * X[:, 0])))
    return np.column_stack([s, m - s])


Y = {family: _response(family) for family in ("gaussian", "poisson", "binomial")}
CASES = [("gaussian", False, False), ("poisson", True, False), ("binomial", False, True),
         ("gaussian", True, True), ("poisson", False, True), ("binomial", True, False)]


def _fit(family, concomitant, weighted, *, X_=X, y=None, Z_=Z, w=W, **kw):
    y = Y[family] if y is None else y
    model = emkit.RegressionMixture(2, family=family, random_state=1, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return model.fit(X_, y, concomitant=Z_ if concomitant else None,
                         sample_weight=w if weighted else None)


def _fitted(model) -> dict:
    names = ("coef_", "intercept_", "scale_", "weights_", "concomitant_coef_", "lower_bound_")
    return {k: np.asarray(getattr(model, k)) for k in names if hasattr(model, k)}


def _assert_same_fit(a, b, rtol=1e-8):
    fa, fb = _fitted(a), _fitted(b)
    assert fa.keys() == fb.keys()
    for key in fa:
        np.testing.assert_allclose(fa[key], fb[key], rtol=rtol, atol=rtol, err_msg=key)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize(("family", "concomitant", "weighted"), CASES)
def test_chunked_fit_equals_in_memory(family, concomitant, weighted):
    whole = _fit(family, concomitant, weighted, tol=0.0, max_iter=25)
    chunked = _fit(family, concomitant, weighted, tol=0.0, max_iter=25, chunk_size=97)
    _assert_same_fit(chunked, whole)


@pytest.mark.parametrize(("family", "concomitant", "weighted"), CASES[:3])
def test_dask_fit_equals_in_memory(family, concomitant, weighted):
    da = pytest.importorskip("dask.array")
    whole = _fit(family, concomitant, weighted, tol=0.0, max_iter=15)
    lazy = _fit(family, concomitant, weighted, tol=0.0, max_iter=15,
                X_=da.from_array(X, chunks=(150, 2)), y=da.from_array(Y[family], chunks=170),
                Z_=Z, w=da.from_array(W, chunks=200))  # y and w rechunked to X's rows
    _assert_same_fit(lazy, whole)


def test_dask_input_is_checked_like_numpy_input():
    da = pytest.importorskip("dask.array")
    bad = Y["poisson"].astype(float)
    bad[7] = -1.0
    with pytest.raises(ValueError, match="non-negative counts"):
        emkit.RegressionMixture(2, family="poisson").fit(da.from_array(X, chunks=100),
                                                        da.from_array(bad, chunks=100))
    with pytest.raises(ValueError, match="y has 599 rows but X has 600"):
        emkit.RegressionMixture(2).fit(da.from_array(X, chunks=100),
                                       da.from_array(Y["gaussian"][:-1], chunks=100))


# ------------------------------------------------------------ monotone increase
@pytest.mark.parametrize(("family", "concomitant", "weighted"), CASES)
def test_log_likelihood_never_decreases(family, concomitant, weighted):
    # filterwarnings = error: a MonotonicityWarning from the engine fails the test too
    model = _fit(family, concomitant, weighted, tol=0.0, max_iter=60, init_params="kmeans")
    bounds = model.lower_bounds_
    assert bounds.size == 60
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    assert bounds[-1] > bounds[0]


def test_the_step_halving_is_what_keeps_a_newton_step_from_lowering_the_likelihood():
    # one Poisson component started far from the counts: the full Newton step
    # overshoots (its Q falls), the safeguarded M-step rises
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, 400)[:, None]
    y = rng.poisson(np.exp(3.0 + 2.0 * x[:, 0])).astype(float)
    model = RegressionMixtureEM("poisson", 1, Design.identity(1))
    start = {"coef": np.zeros((1, 2)), "weights": np.array([1.0])}
    stats, _ = model.e_step((x, y), start)

    def loglik(coef):  # K = 1: the log-likelihood is Q up to a constant
        eta = coef[0] + coef[1] * x[:, 0]
        return float(np.sum(y * eta - np.exp(eta) - gammaln(y + 1.0)))

    newton = np.linalg.solve(stats["hess"][0], stats["grad"][0])
    assert loglik(newton) < loglik(start["coef"][0])
    stepped = model.m_step(stats)["coef"][0]
    assert loglik(stepped) > loglik(start["coef"][0])
    # and a fit from there climbs all the way to the maximum
    result = emkit.em(model, (x, y), start, tol=1e-10, max_iter=200)
    np.testing.assert_allclose(result.params["coef"][0], [3.0, 2.0], atol=0.1)
    assert np.all(np.diff(result.logliks) >= 0.0)


# ---------------------------------------------------------------------- SQUAREM
@pytest.mark.parametrize(("family", "concomitant", "weighted"), CASES[:4])
def test_squarem_reaches_the_same_maximum_in_fewer_iterations(family, concomitant, weighted):
    # SQUAREM is valid here: every plain step from any point (extrapolated ones
    # included) raises Q, and infeasible points (a negative scale or weight) are refused
    plain = _fit(family, concomitant, weighted, tol=1e-12, max_iter=3000)
    fast = _fit(family, concomitant, weighted, tol=1e-12, max_iter=3000, accelerate="squarem")
    assert plain.converged_ and fast.converged_
    assert fast.n_iter_ < plain.n_iter_
    assert fast.lower_bound_ >= plain.lower_bound_ - 1e-9
    # plain EM stops on a flat ridge (gain below tol) a little short of the maximum
    for key in ("coef_", "intercept_", "weights_"):
        np.testing.assert_allclose(getattr(fast, key), getattr(plain, key), atol=1e-4)


def _q_function(family, x, y, z, resp, params):
    """EM's Q at ``params`` for fixed responsibilities, straight from the rows."""
    A = np.column_stack([np.ones(len(x)), x])
    eta = A @ params["coef"].T
    if family == "poisson":
        logf = y[:, None] * eta - np.exp(eta) - gammaln(y + 1.0)[:, None]
    else:
        logf = y[:, [0]] * eta - y[:, [1]] * np.logaddexp(0.0, eta)
    a = np.column_stack([np.ones(len(z)), z]) @ params["mixing"].T
    log_pi = a - np.logaddexp.reduce(a, axis=1)[:, None]
    return float(np.sum(resp * (logf + log_pi)))


@pytest.mark.parametrize("family", ["poisson", "binomial"])
@pytest.mark.parametrize("seed", range(8))
def test_every_m_step_raises_q_from_far_starts(family, seed):
    # generalized EM: for the responsibilities of the E-step, the M-step's
    # parameters have a higher Q than the parameters the E-step was taken at,
    # from starts far from the data (where a plain Newton step overshoots)
    rng = np.random.default_rng(seed)
    n = 300
    x = rng.uniform(-2.0, 2.0, (n, 2))
    z = rng.normal(size=(n, 1))
    eta = 1.0 + x @ [1.5, -1.0]
    y = (rng.poisson(np.exp(eta)).astype(float) if family == "poisson"
         else np.column_stack([rng.binomial(6, expit(eta)), np.full(n, 6.0)]))
    # the columns within [-1, 1], as the fitted models' scaled designs hold them: the
    # gain bound of the Newton steps assumes it
    x, z = x / 2.0, z / np.abs(z).max()
    model = RegressionMixtureEM(family, 3, Design.identity(2), concomitant=Design.identity(1))
    params = {"coef": rng.normal(0.0, 3.0, (3, 3)),
              "mixing": np.vstack([np.zeros(2), rng.normal(0.0, 3.0, (2, 2))])}
    for _ in range(5):
        stats, _ = model.e_step((x, y, z), params)
        joint = model.log_joint((x, y, z), params)
        resp = np.exp(joint - np.logaddexp.reduce(joint, axis=1)[:, None])
        new = model.m_step(stats)
        assert _q_function(family, x, y, z, resp, new) >= _q_function(family, x, y, z, resp,
                                                                       params)
        params = new
