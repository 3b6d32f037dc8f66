"""Gaussian E-steps stay exact however far apart the components lie.

The fast mixture kernels expand each quadratic form about a centre; about the
mixture's mean that lost ~1e-16 s^2 at components s standard deviations apart
(4e-6 at 1e5, 6e-2 at 1e7). Here, at 1e3 ... 1e8 standard deviations, the
per-row log-densities, the statistics and log-likelihood of an E-step,
``GaussianMixture``'s responsibilities and scores and ``GaussianHMM``'s score and
posteriors are held to 1e-10 relative against a reference written here: each
component's density centred on its own mean, in extended precision
(``np.longdouble``), with its own Cholesky factorization and forward
substitution. The reference is checked against SciPy first.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

import emkit
from emkit.models.mixture.gaussian import GaussianMixtureModel

TYPES = ["full", "diag", "tied", "spherical"]
SEPARATIONS = [10.0**e for e in range(3, 9)]
#: (D, K): the compiled quadratic kernel, and (D > 8 K + 8) the NumPy whitening /
#: tied kernels.
SHAPES = [(3, 4), (26, 2)]
LD = np.longdouble


def _problem(separation: float, covariance_type: str, d: int = 3, k: int = 4, n: int = 600,
             seed: int = 0):
    """Two groups of components ``separation`` standard deviations apart; with
    K = 4 each group is two components overlapping each other (1-2 sd apart), so
    responsibilities within a group are neither 0 nor 1."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(d)
    direction /= np.linalg.norm(direction)
    far = (np.arange(k) >= k // 2) * separation
    means = far[:, None] * direction + rng.standard_normal((k, d))
    if covariance_type == "full":
        a = 0.3 * rng.standard_normal((k, d, d))
        cov = a @ a.transpose(0, 2, 1) + np.eye(d)
        full = cov
    elif covariance_type == "tied":
        a = 0.3 * rng.standard_normal((d, d))
        cov = a @ a.T + np.eye(d)
        full = np.broadcast_to(cov, (k, d, d))
    elif covariance_type == "diag":
        cov = rng.uniform(0.5, 2.0, (k, d))
        full = cov[:, :, None] * np.eye(d)
    else:
        cov = rng.uniform(0.5, 2.0, k)
        full = cov[:, None, None] * np.eye(d)
    labels = rng.integers(k, size=n)
    lower = np.linalg.cholesky(full)
    X = means[labels] + np.einsum("nij,nj->ni", lower[labels], rng.standard_normal((n, d)))
    weights = rng.dirichlet(np.full(k, 5.0))
    return X, {"weights": weights, "means": means, "covariances": cov}, np.asarray(full)


def _cholesky_ld(a: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor in extended precision."""
    d = len(a)
    a = a.astype(LD)
    low = np.zeros((d, d), dtype=LD)
    for j in range(d):
        low[j, j] = np.sqrt(a[j, j] - low[j, :j] @ low[j, :j])
        for i in range(j + 1, d):
            low[i, j] = (a[i, j] - low[i, :j] @ low[j, :j]) / low[j, j]
    return low


def _reference_log_density(X: np.ndarray, means: np.ndarray, full: np.ndarray) -> np.ndarray:
    """log N(x_i; mu_k, S_k), shape (N, K), each component centred on its own mean."""
    n, d = X.shape
    out = np.empty((n, len(means)), dtype=LD)
    log_2pi = np.log(LD(2) * LD(np.pi))
    for k in range(len(means)):
        low = _cholesky_ld(full[k])
        z = X.astype(LD) - means[k].astype(LD)
        y = np.empty_like(z)
        for i in range(d):  # forward substitution L y = z, all rows at once
            y[:, i] = (z[:, i] - y[:, :i] @ low[i, :i]) / low[i, i]
        out[:, k] = -0.5 * (d * log_2pi + (y * y).sum(axis=1)) - np.log(np.diag(low)).sum()
    return out


def _reference_mixture(X, params, full):
    """Weighted log-probabilities (N, K), row log-likelihoods (N,) and responsibilities."""
    log_prob = _reference_log_density(X, params["means"], full) + np.log(
        params["weights"].astype(LD))
    top = log_prob.max(axis=1, keepdims=True)
    row = np.log(np.exp(log_prob - top).sum(axis=1)) + top[:, 0]
    return log_prob, row, np.exp(log_prob - row[:, None])


def _assert_close(got, ref, rtol=1e-10):
    """Relative to each value, or to 1 where a log-density crosses 0."""
    got = np.asarray(got, dtype=float)
    ref = np.asarray(ref, dtype=float)
    err = np.abs(got - ref) / np.maximum(np.abs(ref), 1.0)
    assert err.max() <= rtol, f"largest relative error {err.max():.3g}"


@pytest.mark.parametrize("separation", [1e3, 1e8])
@pytest.mark.parametrize("covariance_type", TYPES)
def test_the_reference_agrees_with_scipy(separation, covariance_type):
    X, params, full = _problem(separation, covariance_type)
    ref = _reference_log_density(X, params["means"], full)
    scipy_values = np.column_stack([sps.multivariate_normal(m, c).logpdf(X)
                                    for m, c in zip(params["means"], full, strict=True)])
    _assert_close(ref, scipy_values, rtol=1e-13)


@pytest.mark.parametrize("separation", SEPARATIONS)
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize(("d", "k"), SHAPES)
def test_mixture_log_densities_are_exact_at_any_separation(separation, covariance_type, d, k):
    X, params, full = _problem(separation, covariance_type, d=d, k=k)
    ref, _, _ = _reference_mixture(X, params, full)
    got = GaussianMixtureModel(covariance_type).log_prob_rows(X, params)
    _assert_close(got, ref)
    streamed = np.empty_like(got)
    for start, block in GaussianMixtureModel(covariance_type).iter_weighted_log_prob(X, params):
        streamed[start:start + len(block)] = block
    _assert_close(streamed, ref)


@pytest.mark.parametrize("separation", SEPARATIONS)
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize(("d", "k"), SHAPES)
def test_e_step_loglik_and_statistics_are_exact(separation, covariance_type, d, k):
    X, params, full = _problem(separation, covariance_type, d=d, k=k)
    sample_weight = np.random.default_rng(5).uniform(0.5, 2.0, len(X))
    _, row, resp = _reference_mixture(X, params, full)
    r = resp * sample_weight.astype(LD)[:, None]
    stats, loglik = GaussianMixtureModel(covariance_type, chunk_size=100).e_step(
        (X, sample_weight), params)
    assert loglik == pytest.approx(float(row @ sample_weight.astype(LD)), rel=1e-10)
    n = r.sum(axis=0)
    _assert_close(stats["n"], n)
    _assert_close(stats["sum"], r.T @ X.astype(LD))
    for j in range(k):
        z = X.astype(LD) - params["means"][j].astype(LD)
        spread = float(n[j])  # unit-scale components: each moment is O(n_j)
        centred = r[:, j] @ z
        np.testing.assert_allclose(stats["centred_sum"][j], centred.astype(float),
                                   rtol=0, atol=1e-10 * spread)
        outer = (r[:, j, None] * z).T @ z
        if covariance_type in ("diag", "spherical"):
            outer = np.diag(outer)
        np.testing.assert_allclose(stats["centred_outer"][j], outer.astype(float),
                                   rtol=0, atol=1e-10 * spread)


@pytest.mark.parametrize("separation", SEPARATIONS)
@pytest.mark.parametrize("covariance_type", TYPES)
def test_float32_chunks_are_as_exact_as_float32_rows_allow(separation, covariance_type):
    X, params, full = _problem(separation, covariance_type)
    X32 = X.astype(np.float32)
    # the reference at the rows the model is given: their rounding is not the E-step's
    ref, row, _ = _reference_mixture(X32.astype(float), params, full)
    model = GaussianMixtureModel(covariance_type, dtype=np.float32)
    got = model.log_prob_rows(X32, params)
    assert got.dtype == np.float32
    _assert_close(got, ref, rtol=2e-6)
    _, loglik = model.e_step(X32, params)
    assert loglik == pytest.approx(float(row.sum()), rel=2e-6)


def _as_full(cov: np.ndarray, covariance_type: str, k: int, d: int) -> np.ndarray:
    if covariance_type == "full":
        return cov
    if covariance_type == "tied":
        return np.broadcast_to(cov, (k, d, d))
    if covariance_type == "diag":
        return cov[:, :, None] * np.eye(d)
    return cov[:, None, None] * np.eye(d)


def _reference_em(X, params, covariance_type, n_iter, reg_covar=1e-6):
    """``n_iter`` EM steps in extended precision, covariances about the new means
    (two passes), ``reg_covar`` on the diagonals and 10 eps on each count, as
    scikit-learn's M-step; the parameters are rounded to float64 after each step."""
    d = X.shape[1]
    k = len(params["means"])
    Xl = X.astype(LD)
    current = params
    for _ in range(n_iter):
        full = _as_full(np.asarray(current["covariances"], dtype=float), covariance_type, k, d)
        _, _, resp = _reference_mixture(X, current, full)
        nk = resp.sum(axis=0) + 10 * np.finfo(float).eps
        means = (resp.T @ Xl) / nk[:, None]
        scatter = np.stack([(resp[:, j, None] * (Xl - means[j])).T @ (Xl - means[j])
                            for j in range(k)])
        if covariance_type == "full":
            cov = scatter / nk[:, None, None] + reg_covar * np.eye(d)
        elif covariance_type == "tied":
            cov = scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
        elif covariance_type == "diag":
            cov = np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar
        else:
            cov = (np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar).mean(1)
        current = {"weights": (nk / nk.sum()).astype(float), "means": means.astype(float),
                   "covariances": np.asarray(cov, dtype=float)}
    return current


@pytest.mark.parametrize("separation", SEPARATIONS)
@pytest.mark.parametrize("covariance_type", TYPES)
def test_gaussian_mixture_fit_and_scores_are_exact(separation, covariance_type):
    X, params, _ = _problem(separation, covariance_type)
    k, d = params["means"].shape
    prec = {"full": np.linalg.inv, "tied": np.linalg.inv,
            "diag": np.reciprocal, "spherical": np.reciprocal}[covariance_type]
    gm = emkit.GaussianMixture(k, covariance_type=covariance_type,
                               weights_init=params["weights"], means_init=params["means"],
                               precisions_init=prec(params["covariances"]), max_iter=1, tol=0.0)
    with pytest.warns(emkit.ConvergenceWarning):
        gm.fit(X)
    # One step: from the second on, a mean 1e7 sd from the origin carries only
    # ~1e-9 sd of float64 resolution, so any two float64 implementations part by
    # ~1e-9 (the next E-step sees means one unit in the last place apart).
    ref = _reference_em(X, params, covariance_type, 1)
    _assert_close(gm.weights_, ref["weights"])
    _assert_close(gm.means_, ref["means"])
    # off-diagonal entries near 0: measured against the variances (about 1 here)
    np.testing.assert_allclose(gm.covariances_, ref["covariances"], rtol=1e-10, atol=1e-10)
    fitted = {"weights": gm.weights_, "means": gm.means_, "covariances": gm.covariances_}
    _, row, resp = _reference_mixture(X, fitted, _as_full(gm.covariances_, covariance_type,
                                                          k, d))
    _assert_close(gm.score_samples(X), row)
    assert gm.score(X) == pytest.approx(float(row.mean()), rel=1e-10)
    np.testing.assert_allclose(gm.predict_proba(X), resp.astype(float), rtol=1e-9,
                               atol=1e-12)


def _reference_forward_backward(log_frame, startprob, transmat):
    """Log-likelihood and state posteriors of one sequence, in extended precision."""
    log_a = np.log(transmat.astype(LD))
    t_len, k = log_frame.shape
    alpha = np.empty((t_len, k), dtype=LD)
    beta = np.zeros((t_len, k), dtype=LD)

    def lse(v, axis):
        top = v.max(axis=axis, keepdims=True)
        return (np.log(np.exp(v - top).sum(axis=axis, keepdims=True)) + top).squeeze(axis)

    alpha[0] = np.log(startprob.astype(LD)) + log_frame[0]
    for t in range(1, t_len):
        alpha[t] = lse(alpha[t - 1][:, None] + log_a, 0) + log_frame[t]
    for t in range(t_len - 2, -1, -1):
        beta[t] = lse(log_a + (log_frame[t + 1] + beta[t + 1])[None, :], 1)
    loglik = lse(alpha[-1], 0)
    return loglik, np.exp(alpha + beta - loglik)


@pytest.mark.parametrize("separation", SEPARATIONS)
@pytest.mark.parametrize("covariance_type", TYPES)
def test_gaussian_hmm_score_and_posteriors_are_exact(separation, covariance_type):
    X, params, full = _problem(separation, covariance_type, n=300)
    k = len(params["means"])
    rng = np.random.default_rng(2)
    transmat = rng.dirichlet(np.full(k, 2.0), size=k)
    startprob = rng.dirichlet(np.ones(k))
    hmm = emkit.GaussianHMM(k, covariance_type=covariance_type, init_params="")
    hmm.startprob_ = startprob
    hmm.transmat_ = transmat
    hmm.means_ = params["means"]
    hmm.covars_ = params["covariances"]
    log_frame = _reference_log_density(X, params["means"], full)
    loglik, posteriors = _reference_forward_backward(log_frame, startprob, transmat)
    assert hmm.score(X) == pytest.approx(float(loglik), rel=1e-10)
    np.testing.assert_allclose(hmm.predict_proba(X), posteriors.astype(float), rtol=1e-8,
                               atol=1e-12)
