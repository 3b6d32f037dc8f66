"""``MclustMixture.fit(X, sample_weight=...)``: weights equal repeated rows, zeros equal
dropped rows, and bad weights are refused by name.

The references are fits of the same estimator to the rows repeated (or dropped)
by hand, started from the same partition, so the two runs take the same EM
path; the weighted run goes through the weighted E-step statistics and the
unweighted one through the compiled E-step.
"""

from __future__ import annotations

import numpy as np
import pytest

from emkit.estimators.mclust_mixture import MclustMixture

MODELS = ("EII", "VVV", "EEE", "VEV")
# tol=0 runs a fixed number of iterations, so that both fits take the same steps
pytestmark = pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])
    scales = [np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[0.4, -0.1], [-0.1, 1.2]]),
              np.array([[0.8, 0.0], [0.0, 0.8]])]
    X = np.vstack([rng.multivariate_normal(c, s, size=25)
                   for c, s in zip(centres, scales, strict=True)])
    labels = np.repeat(np.arange(3), 25)
    return X, labels


def _close(a: MclustMixture, b: MclustMixture) -> None:
    np.testing.assert_allclose(a.loglik_, b.loglik_, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(a.means_, b.means_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=0, atol=1e-8)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("tol", [0.0, 1e-10])
def test_integer_weights_equal_repeated_rows(model: str, tol: float) -> None:
    X, labels = _data()
    w = np.random.default_rng(1).integers(1, 4, size=X.shape[0])
    est = MclustMixture(model, 3, tol=tol, max_iter=40)
    weighted = est.fit(X, sample_weight=w, init=labels)
    ref = MclustMixture(model, 3, tol=tol, max_iter=40).fit(
        np.repeat(X, w, axis=0), init=np.repeat(labels, w))
    assert weighted.n_iter_ == ref.n_iter_
    _close(weighted, ref)
    np.testing.assert_allclose(weighted.lower_bound_, ref.lower_bound_, rtol=1e-10)
    # criteria with the same weights: n = sum of the weights
    np.testing.assert_allclose(weighted.bic(X, sample_weight=w),
                               ref.bic(np.repeat(X, w, axis=0)), rtol=1e-10)
    np.testing.assert_allclose(weighted.icl(X, sample_weight=w),
                               ref.icl(np.repeat(X, w, axis=0)), rtol=1e-10)
    np.testing.assert_allclose(weighted.score(X, sample_weight=w),
                               ref.score(np.repeat(X, w, axis=0)), rtol=1e-10)


@pytest.mark.parametrize("model", MODELS)
def test_weights_with_responsibility_start_and_labels(model: str) -> None:
    X, labels = _data(2)
    w = np.random.default_rng(3).integers(1, 3, size=X.shape[0])
    resp = np.full((X.shape[0], 3), 0.1)
    resp[np.arange(X.shape[0]), labels] = 0.8
    known = np.full(X.shape[0], -1)
    known[::10] = labels[::10]
    a = MclustMixture(model, 3, tol=0.0, max_iter=25).fit(
        X, sample_weight=w, init=resp, labels=known)
    b = MclustMixture(model, 3, tol=0.0, max_iter=25).fit(
        np.repeat(X, w, axis=0), init=np.repeat(resp, w, axis=0),
        labels=np.repeat(known, w))
    _close(a, b)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("init_params", ["hc", "kmeans"])
def test_zero_weights_equal_dropped_rows(model: str, init_params: str) -> None:
    X, labels = _data(4)
    rng = np.random.default_rng(5)
    w = rng.uniform(0.5, 2.0, size=X.shape[0])
    w[rng.choice(X.shape[0], 12, replace=False)] = 0.0
    keep = w > 0
    # a dropped row may be anywhere, even far from every component
    X[np.flatnonzero(~keep)[0]] = [1e3, -1e3]
    a = MclustMixture(model, 3, init_params=init_params, random_state=0).fit(
        X, sample_weight=w)
    b = MclustMixture(model, 3, init_params=init_params, random_state=0).fit(
        X[keep], sample_weight=w[keep])
    assert a.n_iter_ == b.n_iter_
    _close(a, b)
    np.testing.assert_allclose(a.bic(X, sample_weight=w), b.bic(X[keep], sample_weight=w[keep]),
                               rtol=1e-12)
    c = MclustMixture(model, 3, tol=0.0, max_iter=20).fit(X, sample_weight=w, init=labels)
    d = MclustMixture(model, 3, tol=0.0, max_iter=20).fit(
        X[keep], sample_weight=w[keep], init=labels[keep])
    _close(c, d)


def test_unit_weights_change_nothing() -> None:
    X, labels = _data(6)
    a = MclustMixture("VVV", 3).fit(X, sample_weight=np.ones(X.shape[0]), init=labels)
    b = MclustMixture("VVV", 3).fit(X, init=labels)
    _close(a, b)
    assert a.bic(X, sample_weight=np.ones(X.shape[0])) == pytest.approx(b.bic(X), rel=1e-12)


@pytest.mark.parametrize("bad", [
    -np.ones(75), np.r_[np.nan, np.ones(74)], np.r_[np.inf, np.ones(74)], np.ones(74),
    np.ones((75, 1)), np.zeros(75)])
def test_bad_weights_are_refused_by_name(bad: np.ndarray) -> None:
    X, _ = _data()
    with pytest.raises(ValueError, match="sample_weight"):
        MclustMixture("VVV", 3).fit(X, sample_weight=bad)


def test_bad_criteria_weights_are_refused_by_name() -> None:
    X, labels = _data()
    est = MclustMixture("EII", 3).fit(X, init=labels)
    with pytest.raises(ValueError, match="sample_weight"):
        est.bic(X, sample_weight=np.ones(3))


def test_weights_with_prior_are_refused() -> None:
    X, _ = _data()
    with pytest.raises(ValueError, match="sample_weight"):
        MclustMixture("VVV", 3, prior="default").fit(X, sample_weight=np.ones(75))


def test_too_few_weighted_rows_for_the_components() -> None:
    X, _ = _data()
    w = np.zeros(75)
    w[:2] = 1.0
    with pytest.raises(ValueError, match="n_components"):
        MclustMixture("EII", 3).fit(X, sample_weight=w)


def test_weighted_em_step_matches_a_reference_step() -> None:
    """One VVV step from given parameters against the weighted EM step written here."""
    from scipy.stats import multivariate_normal

    X, _ = _data(7)
    w = np.random.default_rng(8).uniform(0.2, 3.0, size=X.shape[0])
    start = {"weights": np.array([0.3, 0.3, 0.4]),
             "means": np.array([[0.5, 0.0], [3.5, 1.5], [1.0, 4.0]]),
             "covariances": np.stack([np.eye(2)] * 3)}
    dens = np.column_stack([start["weights"][j] * multivariate_normal(
        start["means"][j], start["covariances"][j]).pdf(X) for j in range(3)])
    r = dens / dens.sum(axis=1, keepdims=True) * w[:, None]
    nk = r.sum(axis=0)
    means = (r.T @ X) / nk[:, None]
    cov = np.stack([((X - means[j]) * r[:, j : j + 1]).T @ (X - means[j]) / nk[j]
                    for j in range(3)])
    est = MclustMixture("VVV", 3, tol=0.0, max_iter=1).fit(X, sample_weight=w, init=start)
    np.testing.assert_allclose(est.weights_, nk / w.sum(), atol=1e-12)
    np.testing.assert_allclose(est.means_, means, atol=1e-10)
    np.testing.assert_allclose(est.covariances_, cov, atol=1e-10)


@pytest.mark.parametrize("model", MODELS)
def test_compiled_weighted_e_step_matches_numpy(model: str) -> None:
    from emkit.models.mixture.mclust import MclustModel, partition_stats

    X, labels = _data(9)
    w = np.random.default_rng(10).uniform(0.0, 2.0, size=X.shape[0])
    w[::7] = 0.0
    em_model = MclustModel(model)
    params = em_model.m_step(partition_stats(X, labels, 3))
    evidence = np.zeros((X.shape[0], 3))
    evidence[::5] = np.log(np.array([0.7, 0.2, 0.1]))
    for data in ((X, None, w), (X, evidence, w)):
        stats, ll = em_model.e_step(data, params)
        ref_stats, ref_ll = em_model.e_step_reference(data, params)
        assert ll == pytest.approx(ref_ll, rel=1e-12)
        for key in ("n", "sum", "centred_sum", "centred_outer"):
            np.testing.assert_allclose(stats[key], ref_stats[key], rtol=1e-12, atol=1e-10)
