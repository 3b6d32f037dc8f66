"""emkit.GaussianMixture with missing values (NaN), against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import emkit
from emkit import GaussianMixture

TYPES = ["full", "tied", "diag", "spherical"]


def data_with_nan(n: int = 240, frac: float = 0.2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.vstack([
        rng.multivariate_normal([0, 0, 0], [[1, 0.5, 0.2], [0.5, 1, 0.3], [0.2, 0.3, 1]], n // 2),
        rng.multivariate_normal([3, 2, -1], [[0.5, 0.1, 0], [0.1, 0.8, 0.2], [0, 0.2, 0.6]],
                                n - n // 2),
    ])
    mask = rng.random(X.shape) < frac
    mask[mask.all(axis=1), 0] = False  # every row keeps one observed value
    X[mask] = np.nan
    return X


def full_covariances(gm: GaussianMixture) -> np.ndarray:
    k, d = gm.means_.shape
    cov = np.asarray(gm.covariances_, dtype=float)
    if gm.covariance_type == "full":
        return cov
    if gm.covariance_type == "tied":
        return np.repeat(cov[None], k, axis=0)
    if gm.covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(d) * c for c in cov])


def direct_log_prob(gm: GaussianMixture, X: np.ndarray) -> np.ndarray:
    """log w_k + log N(x_o; mu_o, S_oo), row by row with scipy."""
    covs = full_covariances(gm)
    out = np.empty((len(X), gm.n_components))
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        for k in range(gm.n_components):
            out[i, k] = np.log(gm.weights_[k]) + multivariate_normal(
                gm.means_[k][o], covs[k][np.ix_(o, o)]).logpdf(x[o])
    return out


@pytest.mark.parametrize("covariance_type", TYPES)
def test_scores_marginalize_missing_coordinates(covariance_type):
    X = data_with_nan()
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    ref = direct_log_prob(gm, X)
    np.testing.assert_allclose(gm.score_samples(X), logsumexp(ref, axis=1), rtol=1e-10)
    np.testing.assert_allclose(gm.predict_proba(X), np.exp(ref - logsumexp(ref, axis=1)[:, None]),
                               rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(gm.predict(X), ref.argmax(axis=1))
    # the fit's lower bound is the observed-data marginal log-likelihood per row
    assert gm.lower_bound_ == pytest.approx(gm.score(X), rel=1e-10)


def reference_em_step(X, weights, means, covs):
    """One EM step for a full-covariance mixture with missing values, row by row
    (Ghahramani & Jordan 1994): E[x_m | x_o], E[x x^T | x_o] per component."""
    n, d = X.shape
    k = len(weights)
    resp = np.empty((n, k))
    cond_x = np.empty((n, k, d))
    cond_xx = np.empty((n, k, d, d))
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        m = ~o
        for j in range(k):
            s = covs[j]
            resp[i, j] = np.log(weights[j]) + multivariate_normal(
                means[j][o], s[np.ix_(o, o)]).logpdf(x[o])
            reg = np.linalg.solve(s[np.ix_(o, o)], s[np.ix_(o, m)])
            xhat = x.copy()
            xhat[m] = means[j][m] + (x[o] - means[j][o]) @ reg
            c = np.zeros((d, d))
            c[np.ix_(m, m)] = s[np.ix_(m, m)] - s[np.ix_(m, o)] @ reg
            cond_x[i, j] = xhat
            cond_xx[i, j] = np.outer(xhat, xhat) + c
        resp[i] = np.exp(resp[i] - logsumexp(resp[i]))
    nk = resp.sum(axis=0)
    new_means = np.einsum("ik,ikd->kd", resp, cond_x) / nk[:, None]
    second = np.einsum("ik,ikde->kde", resp, cond_xx) / nk[:, None, None]
    new_covs = second - np.einsum("kd,ke->kde", new_means, new_means)
    return nk / n, new_means, new_covs


def test_one_em_step_matches_direct_reference():
    X = data_with_nan(n=120, frac=0.3, seed=1)
    weights = np.array([0.4, 0.6])
    means = np.array([[0.0, 0.5, 0.0], [2.5, 2.0, -1.0]])
    covs = np.stack([np.eye(3), np.eye(3) * 0.7 + 0.1])
    with pytest.warns(emkit.ConvergenceWarning):
        gm = GaussianMixture(2, weights_init=weights, means_init=means,
                             precisions_init=np.linalg.inv(covs), max_iter=1, tol=0,
                             reg_covar=0.0).fit(X)
    w_ref, m_ref, c_ref = reference_em_step(X, weights, means, covs)
    np.testing.assert_allclose(gm.weights_, w_ref, rtol=1e-10)
    np.testing.assert_allclose(gm.means_, m_ref, rtol=1e-10)
    np.testing.assert_allclose(gm.covariances_, c_ref, rtol=1e-9, atol=1e-12)


def test_no_nan_keeps_the_complete_data_path():
    X = data_with_nan(frac=0.0)
    a = GaussianMixture(2, random_state=0).fit(X)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan  # one missing entry changes little
    b = GaussianMixture(2, random_state=0).fit(X_nan)
    np.testing.assert_allclose(np.sort(a.means_, axis=0), np.sort(b.means_, axis=0), atol=0.05)


def test_integer_weights_equal_repeated_rows_with_nan():
    X = data_with_nan(n=90, seed=2)
    w = np.random.default_rng(3).integers(0, 3, len(X))
    start = dict(weights_init=[0.5, 0.5], means_init=[[0, 0, 0], [3, 2, -1]],
                 precisions_init=np.stack([np.eye(3)] * 2), tol=1e-10, max_iter=300)
    a = GaussianMixture(2, **start).fit(X, sample_weight=w)
    b = GaussianMixture(2, **start).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-7)


def test_squarem_with_nan_reaches_the_same_fit():
    X = data_with_nan(seed=4)
    kwargs = dict(n_components=2, random_state=0, tol=1e-8, max_iter=2000)
    plain = GaussianMixture(**kwargs).fit(X)
    fast = GaussianMixture(accelerate="squarem", **kwargs).fit(X)
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, abs=1e-5)


def test_nan_fit_honours_chunk_size_and_dtype(monkeypatch):
    # The docstring's chunk_size and dtype hold with NaN too: blocks of at most
    # chunk_size rows, log-densities in float32, for the rows with NaN (pattern
    # blocks) and for the complete rows alike.
    from emkit.models.mixture import gaussian_missing
    from emkit.models.mixture.gaussian import GaussianMixtureModel

    X = data_with_nan(n=1200, frac=0.0, seed=9)
    X[::3, 1] = np.nan  # one frequent pattern (400 rows), above RARE_PATTERN_ROWS
    blocks, complete = [], []
    density = gaussian_missing.log_gaussian_density

    def spy_density(values, means, prec_chol, covariance_type):
        blocks.append((len(values), values.dtype, means.dtype, prec_chol.dtype))
        return density(values, means, prec_chol, covariance_type)

    e_step = GaussianMixtureModel.e_step

    def spy_e_step(self, data, params):
        complete.append((self.chunk_size, self.dtype))
        return e_step(self, data, params)

    monkeypatch.setattr(gaussian_missing, "log_gaussian_density", spy_density)
    monkeypatch.setattr(GaussianMixtureModel, "e_step", spy_e_step)
    gm = GaussianMixture(2, chunk_size=16, dtype="float32", random_state=0, tol=1e-2).fit(X)
    assert blocks and complete
    assert max(n for n, *_ in blocks) <= 16
    assert all(dt == np.float32 for _, *dts in blocks for dt in dts)
    assert set(complete) == {(16, np.dtype(np.float32))}
    assert gm.means_.dtype == np.float32
    # float32 arithmetic changes the answer only at float32 accuracy
    ref = GaussianMixture(2, random_state=0, tol=1e-2).fit(X)
    np.testing.assert_allclose(gm.means_, ref.means_, atol=1e-4)
