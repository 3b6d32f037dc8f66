"""Boolean masks on HMM emission attributes in ``freeze=``: GaussianHMM ``means_`` and
``covars_``, PoissonHMM ``lambdas_``, CategoricalHMM/MultinomialHMM ``emissionprob_``,
GMMHMM ``weights_``/``means_``/``covars_``, HMM and HSMM ``emissions_`` (whole states).

One M-step from a known start is compared with a constrained M-step written here
from the start's state posteriors: free Poisson rates and diagonal-covariance
means are posterior-weighted averages; free probabilities share the mass the
frozen ones leave in proportion to their expected counts; with a full covariance
the free mean entries are the Gaussian conditional given the frozen ones
(through an explicit inverse here), and with a tied covariance the means and the
pooled covariance come from coordinate ascent written here; free diagonal and
spherical covariance entries are the scatter about the constrained means. GMMHMM
is checked against hmmlearn's own step (the unconstrained weights, means and
covariances) with the constraints applied here; HMM's frozen states against the
constrained Baum-Welch of tests/test_hmm_supervision.py, HSMM's against the
posteriors of tests/test_hsmm.py's enumeration of all segmentations.
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


# ---- GaussianHMM covars_ masks ---------------------------------------------------------

COV_MASKS = {
    "diag": np.array([[False, True, False], [True, False, False]]),
    "spherical": np.array([True, False]),
    "full": np.stack([np.ones((3, 3), bool), np.zeros((3, 3), bool)]),
}


@pytest.mark.parametrize("kind", ["diag", "spherical", "full"])
def test_gaussian_covariance_mask_is_the_constrained_m_step(kind):
    X = _gaussian_data()
    start = _quiet(emkit.GaussianHMM(K, kind, n_iter=0, random_state=1), X)
    gamma = start.predict_proba(X)
    cmask = COV_MASKS[kind]
    est = _quiet(_gaussian(kind, start, n_iter=1,
                           freeze={"means_": MEAN_MASK, "covars_": cmask}), X)
    fixed, fixed_cov = start.means_, start._covars_
    _, xbar = _weighted(gamma, X)
    if kind == "full":  # state 0's covariance frozen: the conditional under it
        means = fixed.copy()
        s0 = _scatter(gamma, X, xbar)
        for k in range(K):
            cov = fixed_cov[k] if k == 0 else s0[k]
            f, o = ~MEAN_MASK[k], MEAN_MASK[k]
            means[k, f] = xbar[k, f] - cov[np.ix_(f, o)] @ np.linalg.inv(
                cov[np.ix_(o, o)]) @ (xbar[k, o] - fixed[k, o])
        scatter = _scatter(gamma, X, means)
        expected = np.stack([fixed_cov[0], scatter[1]])
    else:
        means = np.where(MEAN_MASK, fixed, xbar)
        scatter = _scatter(gamma, X, means)
        free = (np.stack([np.diag(s) for s in scatter]) if kind == "diag"
                else np.array([np.trace(s) / 3 for s in scatter]))
        expected = np.where(cmask, fixed_cov, free)
    np.testing.assert_allclose(est.means_, means, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(est._covars_, expected, rtol=1e-8, atol=1e-10)
    assert np.all(est._covars_[cmask] == fixed_cov[cmask])  # bit for bit
    assert np.all(est.means_[MEAN_MASK] == fixed[MEAN_MASK])


def test_a_tied_covariance_mask_of_all_true_is_the_frozen_covariance():
    X = _gaussian_data()
    start = _quiet(emkit.GaussianHMM(K, "tied", n_iter=0, random_state=1), X)
    masked = _quiet(_gaussian("tied", start, n_iter=3, freeze={
        "means_": MEAN_MASK, "covars_": np.ones((3, 3), bool)}), X)
    letters = _quiet(_gaussian("tied", start, n_iter=3, params="stm",
                               freeze={"means_": MEAN_MASK}), X)
    np.testing.assert_array_equal(masked.means_, letters.means_)
    np.testing.assert_array_equal(masked._covars_, start._covars_)


def test_partial_covariance_matrices_and_wrong_shapes_are_refused():
    X = _gaussian_data()
    part = np.zeros((K, 3, 3), bool)
    part[1, 0, 1] = True
    with pytest.raises(ValueError, match=r"freeze\['covars_'\]: a 'full' covariance matrix "
                                         r"of one state freezes whole.*\(1,\)"):
        _quiet(emkit.GaussianHMM(K, "full", n_iter=1, freeze={"covars_": part}), X)
    tied = np.zeros((3, 3), bool)
    tied[0, 0] = True
    with pytest.raises(ValueError, match=r"a 'tied' covariance is one matrix shared"):
        _quiet(emkit.GaussianHMM(K, "tied", n_iter=1, freeze={"covars_": tied}), X)
    with pytest.raises(ValueError, match=r"freeze\['covars_'\] must be True or a boolean "
                                         r"mask of shape \(2,\)"):
        _quiet(emkit.GaussianHMM(K, "spherical", n_iter=1,
                                 freeze={"covars_": np.ones((K, 3), bool)}), X)
    with pytest.raises(ValueError, match="nothing to fit"):
        _quiet(emkit.GaussianHMM(K, "diag", n_iter=1, params="mc", freeze={
            "means_": np.ones((K, 3), bool), "covars_": np.ones((K, 3), bool)}), X)


# ---- GMMHMM weights_, means_, covars_ masks: hmmlearn's update, constrained -------------

def _gmm_pair(kind, X, freeze, n_mix=3):
    """hmmlearn's GMMHMM and emkit's, both one step from the same start."""
    from hmmlearn import hmm as hl

    start = _quiet(emkit.GMMHMM(K, n_mix, covariance_type=kind, n_iter=0, random_state=0),
                   X)
    peer = hl.GMMHMM(K, n_mix, covariance_type=kind, n_iter=1, tol=-np.inf, init_params="")
    ours = emkit.GMMHMM(K, n_mix, covariance_type=kind, n_iter=1, tol=0.0, init_params="",
                        freeze=freeze)
    for m in (peer, ours):
        m.startprob_, m.transmat_ = start.startprob_, start.transmat_
        m.weights_, m.means_ = start.weights_.copy(), start.means_.copy()
        m.covars_ = start.covars_.copy()
    peer.fit(X)
    return start, peer, _quiet(ours, X)


@pytest.mark.parametrize("kind", ["diag", "spherical", "full", "tied"])
def test_gmm_masks_are_hmmlearns_update_constrained(kind):
    X = _gaussian_data()
    wmask = np.array([[True, False, False], [False, False, False]])
    mmask = np.zeros((K, 3, 3), bool)
    mmask[0, 0, 0] = mmask[1, 2] = True
    mmask[1, 1, 1:] = True
    cmask = {"diag": np.zeros((K, 3, 3), bool), "spherical": np.zeros((K, 3), bool),
             "full": np.zeros((K, 3, 3, 3), bool), "tied": np.zeros((K, 3, 3), bool)}[kind]
    if kind == "diag":
        cmask[0, 0, 1] = cmask[1, 1, 0] = True
    elif kind == "spherical":
        cmask[0, 1] = True
    elif kind == "full":
        cmask[1, 1] = True
    else:
        cmask[1] = True
    start, peer, ours = _gmm_pair(kind, X, {"weights_": wmask, "means_": mmask,
                                            "covars_": cmask})
    # the unconstrained quantities are hmmlearn's (the covariance does not depend on the
    # new means with means_weight = 0); the constraints are applied here
    w0, m0, c0 = start.weights_, start.means_, start.covars_
    weights = peer.weights_.copy()
    for k in range(K):
        f = ~wmask[k]
        if wmask[k].any():
            weights[k, ~f] = w0[k, ~f]
            weights[k, f] = (1 - w0[k, ~f].sum()) * peer.weights_[k, f] / peer.weights_[k,
                                                                                      f].sum()
    covars = np.where(cmask, c0, peer.covars_)
    means = np.where(mmask, m0, peer.means_)
    if kind in ("full", "tied"):
        for k in range(K):
            for j in range(3):
                o = mmask[k, j]
                if o.any() and not o.all():
                    s = covars[k] if kind == "tied" else covars[k, j]
                    f = ~o
                    means[k, j, f] = peer.means_[k, j, f] - s[np.ix_(f, o)] @ np.linalg.inv(
                        s[np.ix_(o, o)]) @ (peer.means_[k, j, o] - m0[k, j, o])
    np.testing.assert_allclose(ours.weights_, weights, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours.means_, means, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.covars_, covars, rtol=1e-8, atol=1e-10)
    for got, given, mask in ((ours.weights_, w0, wmask), (ours.means_, m0, mmask),
                             (ours.covars_, c0, cmask)):
        assert np.all(got[mask] == given[mask])  # bit for bit
    np.testing.assert_allclose(ours.weights_.sum(axis=1), 1.0, rtol=1e-12)


def test_gmm_masks_refuse_partial_matrices_and_wrong_shapes():
    X = _gaussian_data()
    part = np.zeros((K, 3, 3, 3), bool)
    part[0, 1, 0, 0] = True
    with pytest.raises(ValueError, match=r"freeze\['covars_'\]: a 'full' covariance matrix "
                                         r"of one state's component freezes whole"):
        _quiet(emkit.GMMHMM(K, 3, covariance_type="full", n_iter=1,
                            freeze={"covars_": part}), X)
    with pytest.raises(ValueError, match=r"freeze\['weights_'\] must be True or a boolean "
                                         r"mask of shape \(2, 3\)"):
        _quiet(emkit.GMMHMM(K, 3, n_iter=1, freeze={"weights_": np.ones((K, 2), bool)}), X)
    one_free = np.array([[True, True, False], [False, True, True]])
    with pytest.raises(ValueError, match="nothing to fit"):
        _quiet(emkit.GMMHMM(K, 3, n_iter=1, params="w", freeze={"weights_": one_free}), X)


# ---- HMM / HSMM emissions_: whole states ------------------------------------------------

def test_hmm_state_mask_is_the_constrained_baum_welch():
    from emkit.distributions import Poisson
    from test_hmm_supervision import LENGTHS, evidence, reference_em, simulate, start_params

    X, _ = simulate()
    p = start_params()
    est = emkit.HMM([Poisson(rate=r) for r in p["lambdas"]], 3, init_params="", n_iter=6,
                    tol=0.0, freeze={"emissions_": np.array([False, True, False])})
    est.startprob_, est.transmat_ = p["startprob"], p["transmat"]
    _quiet(est, X, LENGTHS)
    ref = reference_em(X, evidence(np.full(len(X), -1), None), p, 6,
                       frozen={"lambdas": np.array([[False], [True], [False]])})
    rates = np.stack([e.rate for e in est.emissions_])
    np.testing.assert_allclose(rates, ref["lambdas"], rtol=1e-8)
    np.testing.assert_allclose(est.transmat_, ref["transmat"], rtol=1e-8, atol=1e-12)
    assert rates[1, 0] == p["lambdas"][1, 0]


def test_hmm_state_masks_refuse_pooled_states_and_wrong_shapes():
    from emkit.distributions import Gaussian

    X = _gaussian_data()
    with pytest.raises(ValueError, match=r"freeze\['emissions_'\]: states \[0, 1\] share "
                                         "parameters"):
        _quiet(emkit.HMM(Gaussian(covariance_type="tied"), K, n_iter=1,
                         freeze={"emissions_": np.array([True, False])}), X)
    with pytest.raises(ValueError, match=r"freeze\['emissions_'\] must be True or a boolean "
                                         r"mask of shape \(2,\)"):
        _quiet(emkit.HMM(Gaussian(), K, n_iter=1,
                         freeze={"emissions_": np.array([True, False, True])}), X)
    with pytest.raises(ValueError, match="nothing to fit"):
        _quiet(emkit.HMM(Gaussian(), K, n_iter=1, params="e",
                         freeze={"emissions_": [True, True]}), X)


def test_hsmm_state_mask_is_the_constrained_m_step():
    from test_hsmm import enumerate_segmentations, frame_logs, hand_model

    rng = np.random.default_rng(5)
    m, means = hand_model(3, 4, rng)
    X = rng.normal(size=(6, 1)) * 2.0
    _, _, _, gamma = enumerate_segmentations(frame_logs(X, means), m.startprob_,
                                             m.transmat_, m.durations_)
    m.set_params(n_iter=1, tol=0.0, params="e",
                 freeze={"emissions_": np.array([False, True, False])})
    start = [e.parameters() for e in m.emissions_]
    _quiet(m, X)
    reg = m.emission[0].reg_covar
    for k in (0, 2):
        g = gamma[:, k]
        mu = g @ X[:, 0] / g.sum()
        np.testing.assert_allclose(m.emissions_[k].mean, [mu], rtol=1e-8)
        np.testing.assert_allclose(m.emissions_[k].covariance,
                                   [[g @ (X[:, 0] - mu) ** 2 / g.sum() + reg]], rtol=1e-8)
    assert np.all(m.emissions_[1].mean == start[1]["mean"])
    assert np.all(m.emissions_[1].covariance == start[1]["covariance"])


# ---- every new mask: many iterations, SQUAREM, save/load, Dask ---------------------------

def _poisson_states():
    from emkit.distributions import Poisson

    return Poisson()


FULL_GMM_COV = np.zeros((K, 2, 3, 3), bool)
FULL_GMM_COV[1, 0] = True
MORE_CASES = {
    "GaussianHMM-covars": (
        lambda **kw: emkit.GaussianHMM(K, "diag", **kw), ("means_", "_covars_"),
        {"covars_": COV_MASKS["diag"], "means_": MEAN_MASK}, _gaussian_data),
    "GMMHMM": (
        lambda **kw: emkit.GMMHMM(K, 2, covariance_type="full", **kw),
        ("weights_", "means_", "covars_"),
        {"weights_": np.array([[True, False], [False, False]]),
         "means_": np.array([[[True, False, False], [False] * 3], [[False] * 3, [True] * 3]]),
         "covars_": FULL_GMM_COV}, _gaussian_data),
    "HMM": (
        lambda **kw: emkit.HMM(_poisson_states(), K, **kw), ("emissions_",),
        {"emissions_": np.array([True, False])}, lambda: _counts_data("PoissonHMM")),
    "HSMM": (
        lambda **kw: emkit.HSMM(_poisson_states(), K, max_duration=40, **kw),
        ("emissions_", "duration_params_"),
        {"emissions_": np.array([False, True])}, lambda: _counts_data("PoissonHMM")),
}


def _values(est, attr):
    if attr == "emissions_":
        return np.stack([np.asarray(e.rate) for e in est.emissions_])
    return np.asarray(getattr(est, attr))


def _masked(est, attr, mask):
    return _values(est, attr)[mask]


def _more_fit(kind, X, lengths=None, **kw):
    make, attrs, freeze, _ = MORE_CASES[kind]
    start = _quiet(make(n_iter=0, random_state=0), np.asarray(X))
    est = make(n_iter=kw.pop("n_iter", 25), tol=kw.pop("tol", 0.0), init_params="",
               random_state=0, freeze=freeze, **kw)
    est.startprob_, est.transmat_ = start.startprob_, start.transmat_
    for attr in attrs:
        value = getattr(start, attr)
        setattr(est, attr, list(value) if attr == "emissions_" else value.copy())
    return start, _quiet(est, X, lengths)


@pytest.mark.parametrize("kind", MORE_CASES)
def test_new_masks_keep_their_entries_through_squarem_save_and_dask(kind, tmp_path):
    import dask.array as da

    _, _, freeze, data = MORE_CASES[kind]
    X = data()
    start, est = _more_fit(kind, X)
    for key, mask in freeze.items():
        attr = "_covars_" if kind == "GaussianHMM-covars" and key == "covars_" else key
        assert np.all(_masked(est, attr, mask) == _masked(start, attr, mask)), key
        assert not np.allclose(_values(est, attr)[~mask], _values(start, attr)[~mask]), key
    history = np.array(est.monitor_.history)
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))
    _, fast = _more_fit(kind, X, accelerate="squarem", n_iter=150, tol=1e-9)
    for key, mask in freeze.items():
        attr = "_covars_" if kind == "GaussianHMM-covars" and key == "covars_" else key
        assert np.all(_masked(fast, attr, mask) == _masked(start, attr, mask)), key
    est.save(tmp_path / "m.emkit")
    loaded = emkit.load(tmp_path / "m.emkit")
    for key, mask in freeze.items():
        np.testing.assert_array_equal(loaded.freeze[key], mask)
        assert np.asarray(loaded.freeze[key]).dtype == np.bool_
    lengths = [len(X) // 2, len(X) - len(X) // 2]
    plain = _more_fit(kind, X, lengths, n_iter=8)[1]
    chunked = _more_fit(kind, da.from_array(X, chunks=(lengths[0], X.shape[1])), lengths,
                        n_iter=8)[1]
    for key in freeze:
        attr = "_covars_" if kind == "GaussianHMM-covars" and key == "covars_" else key
        np.testing.assert_allclose(_values(chunked, attr), _values(plain, attr), rtol=1e-10,
                                   atol=1e-12)


# ---- with priors the free means and covariances are alternated to their fixed point -----

def _conditional(m, fixed, mask, s):
    out = np.where(mask, fixed, m)
    f, o = ~mask, mask
    if o.any() and f.any():
        out[f] = m[f] - s[np.ix_(f, o)] @ np.linalg.inv(s[np.ix_(o, o)]) @ (m[o] - fixed[o])
    return out


@pytest.mark.parametrize("kind", ["full", "tied"])
def test_gaussian_mean_mask_with_priors_is_the_joint_map_fixed_point(kind):
    X = _gaussian_data()
    start = _quiet(emkit.GaussianHMM(K, kind, n_iter=0, random_state=1), X)
    gamma = start.predict_proba(X)
    prior = {"means_prior": np.array([[0.5, 0.5, 0.5], [1.0, -1.0, 1.0]]),
             "means_weight": np.array([2.0, 3.0]), "covars_prior": 0.05, "covars_weight": 4.0}
    est = emkit.GaussianHMM(K, kind, n_iter=1, tol=0.0, init_params="",
                            freeze={"means_": MEAN_MASK}, **prior)
    est.startprob_, est.transmat_ = start.startprob_, start.transmat_
    est.means_, est.covars_ = start.means_.copy(), start._covars_.copy()
    _quiet(est, X)
    # hmmlearn's MAP formulas, written here: the mean given the covariance is the
    # conditional of the MAP mean; the covariance given the means hmmlearn's update
    w, mu0, psi, nu = (prior["means_weight"], prior["means_prior"], prior["covars_prior"],
                       prior["covars_weight"])
    n = gamma.sum(axis=0)
    m_map = (w[:, None] * mu0 + gamma.T @ X) / (w + n)[:, None]
    means = est.means_
    c_n = [w[k] * np.outer(means[k] - mu0[k], means[k] - mu0[k])
           + ((gamma[:, k, None] * (X - means[k])).T @ (X - means[k])) for k in range(K)]
    cvw = max(nu - 3, 0)
    # (hmmlearn adds a scalar covars_prior to every entry of the matrix)
    cov = (np.stack([(psi + c) / (cvw + n[k]) for k, c in enumerate(c_n)])
           if kind == "full" else (psi + sum(c_n)) / (cvw + n.sum()))
    np.testing.assert_allclose(est._covars_, cov, rtol=1e-8, atol=1e-10)
    for k in range(K):
        s = cov[k] if kind == "full" else cov
        np.testing.assert_allclose(means[k], _conditional(m_map[k], start.means_[k],
                                                          MEAN_MASK[k], s),
                                   rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind", ["full", "tied"])
def test_gmm_mean_mask_with_means_weight_is_hmmlearns_fixed_point(kind):
    from hmmlearn import hmm as hl

    X = _gaussian_data()
    mmask = np.zeros((K, 3, 3), bool)
    mmask[0, 0, 0] = mmask[1, 2] = True
    mmask[1, 1, 1:] = True
    prior = {"means_weight": np.array([[2.0, 1.0, 0.5], [1.5, 3.0, 1.0]]),
             "means_prior": np.full((K, 3, 3), 0.5)}
    start = _quiet(emkit.GMMHMM(K, 3, covariance_type=kind, n_iter=0, random_state=0), X)
    ours = emkit.GMMHMM(K, 3, covariance_type=kind, n_iter=1, tol=0.0, init_params="",
                        params="mc", freeze={"means_": mmask}, **prior)
    peer = hl.GMMHMM(K, 3, covariance_type=kind, n_iter=1, tol=-np.inf, init_params="",
                     params="mc", **prior)
    for m in (peer, ours):
        m.startprob_, m.transmat_ = start.startprob_, start.transmat_
        m.weights_, m.means_ = start.weights_.copy(), start.means_.copy()
        m.covars_ = start.covars_.copy()
    _quiet(ours, X)
    peer._check()
    stats, _ = peer._do_estep(X, None)  # hmmlearn's statistics at the start
    peer._do_mstep(stats)
    free_means = peer.means_.copy()  # hmmlearn's (unconstrained) MAP means
    peer.means_, peer.params = ours.means_.copy(), "c"
    peer._do_mstep(stats)  # hmmlearn's covariance about our means
    np.testing.assert_allclose(ours.covars_, peer.covars_, rtol=1e-8, atol=1e-10)
    for k in range(K):
        for j in range(3):
            s = ours.covars_[k] if kind == "tied" else ours.covars_[k, j]
            np.testing.assert_allclose(
                ours.means_[k, j], _conditional(free_means[k, j], start.means_[k, j],
                                                mmask[k, j], s), rtol=1e-8, atol=1e-10)
    assert np.all(ours.means_[mmask] == start.means_[mmask])


def test_missing_values_keep_the_frozen_covariance_and_gmm_entries():
    X = _gaussian_data()
    X[::6, 2] = np.nan
    kinds = {"GaussianHMM-covars": ("covars_", "_covars_"), "GMMHMM": ("covars_", "covars_")}
    for kind, (key, attr) in kinds.items():
        start, est = _more_fit(kind, X, n_iter=10)
        for name, mask in MORE_CASES[kind][2].items():
            got = _values(est, attr if name == key else name)
            given = _values(start, attr if name == key else name)
            assert np.all(got[mask] == given[mask]), (kind, name)
            assert np.all(np.isfinite(got)), (kind, name)


@pytest.mark.parametrize("kind", ["GaussianHMM-covars", "GMMHMM", "HMM"])
def test_a_chunked_e_step_gives_the_same_masked_m_step(kind):
    from emkit.backends import ChunkedModel
    from emkit.estimators._hmm_supervision import apply_freeze, hmm_supervision
    from emkit.models.hmm.model import Sequences

    X = MORE_CASES[kind][3]()
    _, est = _more_fit(kind, X, n_iter=2)
    params = est._current_params()
    model = apply_freeze(est._model(X, params), hmm_supervision(est, len(X), None, None,
                                                                  est.freeze), est)
    from emkit.models.hmm.masked_emission import MaskedEmission

    assert isinstance(model.emission, MaskedEmission) or model.emission.masks
    data = Sequences(X, np.array([60, 90, 50]), None, None)
    whole = model.m_step(model.e_step(data, params)[0])
    chunked = model.m_step(ChunkedModel(model, 70).e_step(data, params)[0])
    for a, b in zip(_leaves(whole), _leaves(chunked), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def _leaves(tree):
    if isinstance(tree, dict):
        return [x for key in sorted(tree) for x in _leaves(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [x for v in tree for x in _leaves(v)]
    return [np.asarray(tree, dtype=float)]
