"""InputDrivenHMM chunked, on Dask and with SQUAREM, against the in-memory fit.

Each piece holds whole sequences with their covariate rows and their weights; the
statistics of the pieces add up to the whole data's, so a fit on pieces must follow
the in-memory fit step for step (up to the order of floating-point additions).
"""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from scipy.special import softmax

import emkit
from emkit.backends import ChunkedModel
from emkit.estimators.hmm_input_driven import InputDrivenHMM
from emkit.models.hmm.input_driven import CovariateSequences

LENGTHS = np.array([300, 250, 400, 350, 200])


def simulate(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three states, two covariates, Gaussian emissions (an independent sampler)."""
    rng = np.random.default_rng(seed)
    k, q = 3, 2
    coef = rng.normal(scale=1.0, size=(k, k, q + 1))
    coef[:, :, 0] -= 2.0
    coef[np.arange(k), np.arange(k)] = 0.0
    T = int(LENGTHS.sum())
    U = rng.normal(size=(T, q))
    logits = coef[None, :, :, 0] + np.einsum("ijq,tq->tij", coef[:, :, 1:], U)
    P = softmax(logits, axis=2)
    z = np.zeros(T, dtype=int)
    starts = set(np.concatenate([[0], np.cumsum(LENGTHS)[:-1]]).tolist())
    for t in range(T):
        if t in starts:
            z[t] = rng.integers(k)
        else:
            z[t] = int(np.searchsorted(np.cumsum(P[t, z[t - 1]]), rng.random()))
    X = rng.normal(np.array([-2.0, 1.0, 4.0])[z], 1.0)[:, None]
    return X, U


@pytest.fixture(scope="module")
def data():
    return simulate()


def fit(X, U, lengths=LENGTHS, sw=None, **kw):
    kw = {"n_iter": 8, "tol": 0.0, "random_state": 0, **kw}
    est = InputDrivenHMM(emkit.distributions.Gaussian(), 3, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return est.fit(X, lengths, covariates=U, sample_weight=sw)


def assert_same_fit(a, b, rtol=1e-8):
    np.testing.assert_allclose(a.transition_coef_, b.transition_coef_, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(a.startprob_, b.startprob_, rtol=rtol, atol=1e-12)
    for ea, eb in zip(a.emissions_, b.emissions_, strict=True):
        np.testing.assert_allclose(ea.mean, eb.mean, rtol=rtol)
        np.testing.assert_allclose(ea.covariance, eb.covariance, rtol=rtol)
    np.testing.assert_allclose(a.monitor_.history, b.monitor_.history, rtol=1e-10)


def test_split_keeps_covariates_and_weights_with_their_sequences(data):
    X, U = data
    w = np.array([1.0, 2.0, 0.5, 3.0, 1.0])
    whole = CovariateSequences.from_arrays(X, U, LENGTHS, w)
    pieces = whole.split(3)
    assert len(pieces) == 3
    np.testing.assert_array_equal(np.concatenate([p.lengths for p in pieces]), LENGTHS)
    np.testing.assert_array_equal(np.concatenate([p.weights for p in pieces]), w)
    np.testing.assert_array_equal(np.vstack([p.U for p in pieces]), U)
    np.testing.assert_array_equal(np.vstack([p.X for p in pieces]), X)
    for p in pieces:
        assert len(p.X) == len(p.U) == int(p.lengths.sum())


@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_e_step_and_fit_equal_in_memory(data, weighted):
    X, U = data
    w = np.array([1.0, 2.0, 0.5, 3.0, 1.0]) if weighted else None
    est = fit(X, U, n_iter=2)
    # the model the estimator builds, on its own scaled design
    from emkit.estimators._hmm_input_driven_data import fit_data

    prepared = fit_data(est, X, LENGTHS, U, w, est._templates())
    from emkit.models.hmm.emission import DistributionEmission
    from emkit.models.hmm.input_driven import InputDrivenHMMModel

    init = est._initial_params(prepared.X, prepared.templates, prepared.design,
                               np.random.RandomState(0), prepared.start_weights)
    model = InputDrivenHMMModel(DistributionEmission(prepared.templates), 3, prepared.design,
                                "ste", init, total_rows=len(X))
    stats, loglik = model.e_step(prepared.data, init)
    c_stats, c_loglik = ChunkedModel(model, 500).e_step(prepared.data, init)
    np.testing.assert_allclose(c_loglik, loglik, rtol=1e-12)
    for key in ("counts", "visits", "start", "anchor_trans"):
        np.testing.assert_allclose(c_stats[key], stats[key], rtol=1e-12, atol=1e-12)
    for key in ("grad", "hess", "gram"):
        np.testing.assert_allclose(c_stats["logit"][key], stats["logit"][key], rtol=1e-10,
                                   atol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        whole = emkit.em(model, prepared.data, init, tol=0.0, max_iter=8)
        chunked = emkit.em(ChunkedModel(model, 500), prepared.data, init, tol=0.0, max_iter=8)
    np.testing.assert_allclose(chunked.params["trans"], whole.params["trans"], rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(chunked.logliks, whole.logliks, rtol=1e-10)
    if weighted:  # integer weights in chunks equal the repeated sequences in one piece
        w_int = np.array([1, 2, 1, 3, 1])
        weighted_data = CovariateSequences.from_arrays(X, U, LENGTHS, w_int.astype(float))
        rows = np.split(np.arange(len(X)), np.cumsum(LENGTHS)[:-1])
        rep = np.concatenate([r for r, n in zip(rows, w_int, strict=True) for _ in range(n)])
        repeated = CovariateSequences.from_arrays(X[rep], U[rep], np.repeat(LENGTHS, w_int))
        s_w, ll_w = ChunkedModel(model, 500).e_step(weighted_data, init)
        s_r, ll_r = model.e_step(repeated, init)
        np.testing.assert_allclose(ll_w, ll_r, rtol=1e-12)
        for key in ("counts", "visits", "start"):
            np.testing.assert_allclose(s_w[key], s_r[key], rtol=1e-10)


@pytest.mark.parametrize("case", ["numpy-covariates", "dask-covariates", "weights"])
def test_dask_fit_equals_in_memory(data, case):
    X, U = data
    chunks = (550, 750, 200)  # whole sequences per partition
    w = np.array([1.0, 2.0, 0.5, 3.0, 1.0]) if case == "weights" else None
    local = fit(X, U, sw=w)
    Ud = da.from_array(U, chunks=(400, 2)) if case == "dask-covariates" else U
    with dask.config.set(scheduler="synchronous"):
        remote = fit(da.from_array(X, chunks=(chunks, 1)), Ud, sw=w)
    assert_same_fit(remote, local)
    assert remote.n_covariates_in_ == 2


def test_dask_without_covariates_equals_in_memory(data):
    X, _ = data
    local = fit(X, None, n_iter=5)
    with dask.config.set(scheduler="synchronous"):
        remote = fit(da.from_array(X, chunks=((550, 750, 200), 1)), None, n_iter=5)
    assert_same_fit(remote, local)


def test_dask_bad_input(data):
    X, U = data
    Xd = da.from_array(X, chunks=((550, 750, 200), 1))
    est = InputDrivenHMM(emkit.distributions.Gaussian(), 3, n_iter=1)
    with pytest.raises(ValueError, match="whole sequences"):
        est.fit(da.from_array(X, chunks=(500, 1)), LENGTHS, covariates=U)
    with pytest.raises(ValueError, match="covariates has 1499 rows but X has 1500"):
        est.fit(Xd, LENGTHS, covariates=U[1:])
    bad = U.copy()
    bad[900, 1] = np.nan
    with pytest.raises(ValueError, match="covariates must be finite: 1 non-finite"):
        est.fit(Xd, LENGTHS, covariates=da.from_array(bad, chunks=(1000, 2)))
    with pytest.raises(ValueError, match="constant"):
        est.fit(Xd, LENGTHS, covariates=np.ones((len(X), 1)))


def test_squarem_reaches_the_em_fixed_point_monotonically(data):
    X, U = data
    plain = fit(X, U, n_iter=2000, tol=1e-9)
    fast = fit(X, U, n_iter=2000, tol=1e-9, accelerate="squarem")
    assert fast.converged_ and plain.converged_
    history = np.array(fast.monitor_.history)
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, abs=1e-4)
    np.testing.assert_allclose(fast.transition_coef_, plain.transition_coef_, atol=1e-3)
    assert fast.n_iter_ < plain.n_iter_


def test_accelerate_is_checked():
    with pytest.raises(ValueError, match="accelerate must be None or 'squarem'"):
        InputDrivenHMM(emkit.distributions.Gaussian(), 2, accelerate="fast").fit(
            np.zeros((10, 1)))
