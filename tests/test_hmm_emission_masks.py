"""Boolean masks on HMM emission attributes in ``freeze=`` (GaussianHMM ``means_``,
PoissonHMM ``lambdas_``, CategoricalHMM/MultinomialHMM ``emissionprob_``).

One M-step from a known start is compared with a constrained M-step written here
from the start's state posteriors: free Poisson rates and diagonal-covariance
means are posterior-weighted averages; free probabilities share the mass the
frozen ones leave in proportion to their expected counts; with a full covariance
the free mean entries are the Gaussian conditional given the frozen ones
(through an explicit inverse here), and with a tied covariance the means and the
pooled covariance come from coordinate ascent written here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone

import emkit

K = 2


def _quiet(est, X, lengths=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, lengths)


def _gaussian_data(d=3, seed=0):
    rng = np.random.default_rng(seed)
    z = np.repeat([0, 1, 0, 1, 0], 40)
    cov = np.array([[1.0, 0.6, 0.2], [0.6, 1.5, -0.4], [0.2, -0.4, 0.8]])[:d, :d]
    means = np.array([[0.0, 1.0, -1.0], [3.0, -2.0, 2.0]])[:, :d]
    return means[z] + rng.multivariate_normal(np.zeros(d), cov, size=len(z))


def _gaussian(kind, start, **kw):
    est = emkit.GaussianHMM(K, kind, init_params="", tol=0.0, covars_prior=0.0,
                            covars_weight=0.0, min_covar=1e-12, **kw)
    est.startprob_, est.transmat_ = start.startprob_, start.transmat_
    est.means_, est.covars_ = start.means_.copy(), start._covars_.copy()
    return est


MEAN_MASK = np.array([[True, False, False], [False, True, True]])


def _weighted(gamma, X):
    n = gamma.sum(axis=0)
    return n, (gamma.T @ X) / n[:, None]


def _scatter(gamma, X, means):
    return [((gamma[:, k, None] * (X - means[k])).T @ (X - means[k])) / gamma[:, k].sum()
            for k in range(K)]


@pytest.mark.parametrize("kind", ["diag", "spherical", "full", "tied"])
def test_gaussian_mean_mask_is_the_constrained_m_step(kind):
    X = _gaussian_data()
    start = _quiet(emkit.GaussianHMM(K, kind, n_iter=0, random_state=1), X)
    gamma = start.predict_proba(X)
    est = _quiet(_gaussian(kind, start, n_iter=1, freeze={"means_": MEAN_MASK}), X)
    fixed = start.means_
    n, xbar = _weighted(gamma, X)
    if kind in ("diag", "spherical"):
        means = np.where(MEAN_MASK, fixed, xbar)
    elif kind == "full":
        means = fixed.copy()
        for k in range(K):
            s0 = _scatter(gamma, X, xbar)[k]
            f, o = ~MEAN_MASK[k], MEAN_MASK[k]
            means[k, f] = xbar[k, f] - s0[np.ix_(f, o)] @ np.linalg.inv(
                s0[np.ix_(o, o)]) @ (xbar[k, o] - fixed[k, o])
    else:  # tied: coordinate ascent on the means and the pooled covariance
        means = np.where(MEAN_MASK, fixed, xbar)
        for _ in range(2000):
            pooled = sum(n[k] * s for k, s in enumerate(_scatter(gamma, X, means))) / n.sum()
            for k in range(K):
                f, o = ~MEAN_MASK[k], MEAN_MASK[k]
                means[k, f] = xbar[k, f] - pooled[np.ix_(f, o)] @ np.linalg.solve(
                    pooled[np.ix_(o, o)], xbar[k, o] - fixed[k, o])
    np.testing.assert_allclose(est.means_, means, rtol=1e-8, atol=1e-10)
    assert np.all(est.means_[MEAN_MASK] == fixed[MEAN_MASK])  # bit for bit
    scatter = _scatter(gamma, X, means)
    expected = {"diag": np.stack([np.diag(s) for s in scatter]),
                "spherical": np.stack([np.full(3, np.trace(s) / 3) for s in scatter]),
                "full": np.stack(scatter),
                "tied": sum(n[k] * s for k, s in enumerate(scatter)) / n.sum()}[kind]
    got = est._covars_ if kind != "spherical" else np.repeat(est._covars_[:, None], 3, axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind", ["diag", "full", "tied"])
def test_gaussian_mean_mask_with_frozen_covariance_is_the_conditional(kind):
    X = _gaussian_data()
    start = _quiet(emkit.GaussianHMM(K, kind, n_iter=0, random_state=1), X)
    gamma = start.predict_proba(X)
    est = _quiet(_gaussian(kind, start, n_iter=1, params="stm",
                           freeze={"means_": MEAN_MASK}), X)
    _, xbar = _weighted(gamma, X)
    means = start.means_.copy()
    for k in range(K):
        s = start.covars_[k]
        f, o = ~MEAN_MASK[k], MEAN_MASK[k]
        means[k, f] = xbar[k, f] - s[np.ix_(f, o)] @ np.linalg.inv(
            s[np.ix_(o, o)]) @ (xbar[k, o] - start.means_[k, o])
    np.testing.assert_allclose(est.means_, means, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(est._covars_, start._covars_)


def _counts_data(kind):
    rng = np.random.default_rng(3)
    z = np.repeat([0, 1, 0, 1], 50)
    if kind == "CategoricalHMM":
        return np.where(rng.random(len(z)) < 0.7, z * 2, rng.integers(0, 4, len(z)))[:, None]
    if kind == "MultinomialHMM":
        p = np.array([[0.6, 0.2, 0.1, 0.1], [0.1, 0.1, 0.3, 0.5]])
        return np.stack([rng.multinomial(5, p[s]) for s in z])
    return rng.poisson(np.array([[1.0, 4.0, 2.0], [6.0, 1.0, 9.0]])[z])


PROB_MASK = np.array([[False, True, False, False], [True, False, True, False]])
RATE_MASK = np.array([[True, False, False], [False, False, True]])


@pytest.mark.parametrize("kind", ["CategoricalHMM", "MultinomialHMM", "PoissonHMM"])
def test_count_emission_masks_are_the_constrained_m_step(kind):
    X = _counts_data(kind)
    cls = getattr(emkit, kind)
    start = _quiet(cls(K, n_iter=0, random_state=2), X)
    gamma = start.predict_proba(X)
    attr, mask = (("lambdas_", RATE_MASK) if kind == "PoissonHMM"
                  else ("emissionprob_", PROB_MASK))
    letters = "l" if kind == "PoissonHMM" else "e"
    est = cls(K, n_iter=1, tol=0.0, init_params="", params="st" + letters,
              freeze={attr: mask})
    est.startprob_, est.transmat_ = start.startprob_, start.transmat_
    setattr(est, attr, getattr(start, attr).copy())
    _quiet(est, X)
    fixed = getattr(start, attr)
    if kind == "PoissonHMM":
        expected = np.where(mask, fixed, (gamma.T @ X) / gamma.sum(axis=0)[:, None])
    else:
        onehot = np.eye(4)[X[:, 0]] if kind == "CategoricalHMM" else X
        counts = gamma.T @ onehot
        expected = fixed.copy()
        for k in range(K):
            f = ~mask[k]
            expected[k, f] = (1 - fixed[k, mask[k]].sum()) * counts[k, f] / counts[k, f].sum()
        np.testing.assert_allclose(getattr(est, attr).sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(getattr(est, attr), expected, rtol=1e-8, atol=1e-12)
    assert np.all(getattr(est, attr)[mask] == fixed[mask])


CASES = {
    "GaussianHMM": ("means_", MEAN_MASK, lambda: _gaussian_data()),
    "PoissonHMM": ("lambdas_", RATE_MASK, lambda: _counts_data("PoissonHMM")),
    "CategoricalHMM": ("emissionprob_", PROB_MASK, lambda: _counts_data("CategoricalHMM")),
    "MultinomialHMM": ("emissionprob_", PROB_MASK, lambda: _counts_data("MultinomialHMM")),
}


def _frozen_fit(kind, **kw):
    attr, mask, data = CASES[kind]
    X = data()
    cls = getattr(emkit, kind)
    start = _quiet(cls(K, n_iter=0, random_state=0), X)
    letters = {"GaussianHMM": "mc", "PoissonHMM": "l"}.get(kind, "e")
    est = cls(K, n_iter=kw.pop("n_iter", 30), tol=kw.pop("tol", 0.0),
              init_params="st" + letters.replace(letters[0], ""),
              freeze={attr: mask}, random_state=0, **kw)
    setattr(est, attr, getattr(start, attr).copy())
    return X, start, _quiet(est, X), attr, mask


@pytest.mark.parametrize("kind", CASES)
def test_frozen_entries_stay_through_many_iterations_squarem_and_save(kind, tmp_path):
    X, start, est, attr, mask = _frozen_fit(kind)
    fixed = getattr(start, attr)
    assert np.all(getattr(est, attr)[mask] == fixed[mask])
    assert not np.allclose(getattr(est, attr)[~mask], fixed[~mask])
    history = np.array(est.monitor_.history)
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))
    _, _, fast, _, _ = _frozen_fit(kind, accelerate="squarem", n_iter=200, tol=1e-9)
    assert np.all(getattr(fast, attr)[mask] == fixed[mask])
    est.save(tmp_path / "m.emkit")
    loaded = emkit.load(tmp_path / "m.emkit")
    np.testing.assert_array_equal(loaded.freeze[attr], mask)
    assert np.asarray(loaded.freeze[attr]).dtype == np.bool_
    again = clone(loaded)
    setattr(again, attr, fixed.copy())
    _quiet(again, X)
    np.testing.assert_array_equal(getattr(again, attr), getattr(est, attr))


@pytest.mark.parametrize("kind", CASES)
def test_a_mask_of_the_wrong_shape_or_dtype_is_named(kind):
    attr, mask, data = CASES[kind]
    X = data()
    cls = getattr(emkit, kind)
    with pytest.raises(ValueError, match=rf"freeze\['{attr}'\] must be True or a boolean "
                                         rf"mask of shape \(2, {mask.shape[1]}\)"):
        _quiet(cls(K, n_iter=1, freeze={attr: mask[:, :-1]}), X)
    with pytest.raises(ValueError, match=rf"freeze\['{attr}'\] must be True or a boolean"):
        _quiet(cls(K, n_iter=1, freeze={attr: mask.astype(int)}), X)


def test_other_emission_attributes_still_freeze_whole_only():
    X = _gaussian_data()
    with pytest.raises(ValueError, match="emission attributes are frozen whole"):
        _quiet(emkit.GaussianHMM(K, "diag", n_iter=1,
                                 freeze={"covars_": np.ones((K, 3), bool)}), X)
    with pytest.raises(ValueError, match="emission attributes are frozen whole"):
        _quiet(emkit.GMMHMM(K, n_mix=1, n_iter=1, freeze={"means_": np.ones((K, 1, 3), bool)}), X)


def test_dask_partitions_and_missing_values_keep_the_masked_entries():
    import dask.array as da

    X = _gaussian_data()

    def fit(data, lengths):
        est = emkit.GaussianHMM(K, "full", n_iter=15, random_state=0, init_params="stc",
                                freeze={"means_": MEAN_MASK})
        est.means_ = np.array([[0.3, 1.3, -0.7], [3.3, -1.7, 2.3]])
        return _quiet(est, data, lengths)

    plain = fit(X, [100, 100])
    chunked = fit(da.from_array(X, chunks=(100, 3)), [100, 100])
    np.testing.assert_allclose(chunked.means_, plain.means_, rtol=1e-10, atol=1e-12)
    assert np.all(chunked.means_[MEAN_MASK] == plain.means_[MEAN_MASK])
    holes = X.copy()
    holes[::7, 1] = np.nan
    missing = fit(holes, [100, 100])
    np.testing.assert_array_equal(missing.means_[MEAN_MASK], [0.3, -1.7, 2.3])
    assert np.all(np.isfinite(missing.means_))
