"""HMM partial supervision: labels=, priors=, freeze= against a reference written here.

The reference is a log-space forward-backward with per-frame evidence (a known
state is evidence 1 there and 0 elsewhere; soft evidence multiplies the frame's
emission likelihood) and the Poisson HMM's M-step, including the constrained
M-step of rows with frozen entries: the frozen entries keep their values and the
free ones share the rest of the row in proportion to their expected counts.
"""

from __future__ import annotations

import itertools
import warnings

import dask.array as da
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import poisson

import emkit
from emkit import GaussianHMM, PoissonHMM
from emkit.backends import ChunkedModel

K = 3
LENGTHS = np.array([120, 80, 150])


def simulate(seed=0):
    rng = np.random.default_rng(seed)
    A = np.array([[0.85, 0.1, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    lam = np.array([1.0, 5.0, 12.0])
    z = []
    for n in LENGTHS:
        s = [rng.integers(K)]
        for _ in range(n - 1):
            s.append(rng.choice(K, p=A[s[-1]]))
        z.extend(s)
    z = np.array(z)
    return rng.poisson(lam[z])[:, None], z


def start_params():
    return {"startprob": np.array([0.5, 0.3, 0.2]),
            "transmat": np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]]),
            "lambdas": np.array([[2.0], [6.0], [9.0]])}


def reference_em(X, log_ev, params, n_steps, frozen=None):
    """Semi-supervised Baum-Welch for a Poisson HMM (independent of emkit's code)."""
    frozen = frozen or {}
    p = {k: np.array(v, float) for k, v in params.items()}
    offsets = np.concatenate([[0], np.cumsum(LENGTHS)])
    for _ in range(n_steps):
        log_b = poisson.logpmf(X[:, 0][:, None], p["lambdas"][:, 0][None, :]) + log_ev
        la, lA = np.log(p["startprob"]), np.log(p["transmat"])
        start, trans, gamma_all = np.zeros(K), np.zeros((K, K)), []
        for a, b in itertools.pairwise(offsets):
            lb = log_b[a:b]
            T = len(lb)
            alpha = np.empty((T, K))
            beta = np.zeros((T, K))
            alpha[0] = la + lb[0]
            for t in range(1, T):
                alpha[t] = logsumexp(alpha[t - 1][:, None] + lA, axis=0) + lb[t]
            for t in range(T - 2, -1, -1):
                beta[t] = logsumexp(lA + lb[t + 1] + beta[t + 1], axis=1)
            ll = logsumexp(alpha[-1])
            gamma = np.exp(alpha + beta - ll)
            for t in range(T - 1):
                trans += np.exp(alpha[t][:, None] + lA + lb[t + 1] + beta[t + 1] - ll)
            start += gamma[0]
            gamma_all.append(gamma)
        gamma = np.vstack(gamma_all)
        new = {"startprob": start / start.sum(),
               "transmat": trans / trans.sum(axis=1, keepdims=True),
               "lambdas": ((gamma.T @ X) / gamma.sum(axis=0)[:, None])}
        if "lambdas" in frozen:  # each rate entry is its own maximization
            new["lambdas"] = np.where(frozen["lambdas"], p["lambdas"], new["lambdas"])
        for key, counts in (("startprob", start[None, :]), ("transmat", trans)):
            if key not in frozen:
                continue
            mask = np.atleast_2d(frozen[key])
            old = np.atleast_2d(p[key])
            rows = np.atleast_2d(new[key]).copy()
            for i in np.flatnonzero(mask.any(axis=1)):
                free = ~mask[i]
                rows[i, mask[i]] = old[i, mask[i]]
                rows[i, free] = (1 - old[i, mask[i]].sum()) * counts[i, free] / counts[i,
                                                                                      free].sum()
            new[key] = rows[0] if key == "startprob" else rows
        p = new
    return p


def fit(X, n_iter, **kw):
    est = PoissonHMM(K, init_params="", params=kw.pop("params", "stl"), n_iter=n_iter,
                     tol=0.0, freeze=kw.pop("freeze", None))
    start = start_params()
    est.startprob_, est.transmat_, est.lambdas_ = (start["startprob"], start["transmat"],
                                                   start["lambdas"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return est.fit(X, LENGTHS, **kw)


def assert_params(est, ref, rtol=1e-8):
    np.testing.assert_allclose(est.startprob_, ref["startprob"], rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(est.transmat_, ref["transmat"], rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(est.lambdas_, ref["lambdas"], rtol=rtol)


@pytest.fixture(scope="module")
def data():
    X, z = simulate()
    rng = np.random.default_rng(1)
    labels = np.where(rng.random(len(z)) < 0.3, z, -1)
    priors = rng.uniform(0.2, 1.0, size=(len(z), K))
    return X, z, labels, priors


def evidence(labels, priors):
    out = np.zeros((len(labels), K)) if priors is None else np.log(priors)
    if labels is not None:
        known = labels >= 0
        keep = out[known, labels[known]]
        out[known] = -np.inf
        out[known, labels[known]] = keep
    return out


@pytest.mark.parametrize("case", ["labels", "priors", "both"])
def test_matches_the_semi_supervised_reference(data, case):
    X, _, labels, priors = data
    lab = labels if case in ("labels", "both") else None
    pri = priors if case in ("priors", "both") else None
    est = fit(X, 6, labels=lab, priors=pri)
    ref = reference_em(X, evidence(lab, pri), start_params(), 6)
    assert_params(est, ref)
    known = labels >= 0
    if lab is not None:  # known frames stay one-hot in the fitted posteriors' E-step
        params = est._current_params()
        model = est._model(X, params)
        from emkit.models.hmm.model import Sequences

        ev = evidence(lab, None)
        stats, _ = model.e_step(Sequences(X, LENGTHS, None, ev), params)
        assert stats["visits"].sum() == pytest.approx(len(X))
        assert np.all(np.isfinite(ev[known].max(axis=1)))


def test_labels_on_every_frame_give_the_supervised_mle_in_one_iteration(data):
    X, z, _, _ = data
    est = fit(X, 1, labels=z)
    offsets = np.concatenate([[0], np.cumsum(LENGTHS)])
    first = np.bincount(z[offsets[:-1]], minlength=K)
    counts = np.zeros((K, K))
    for a, b in itertools.pairwise(offsets):
        np.add.at(counts, (z[a:b - 1], z[a + 1:b]), 1.0)
    np.testing.assert_allclose(est.startprob_, first / first.sum(), rtol=1e-12)
    np.testing.assert_allclose(est.transmat_, counts / counts.sum(axis=1, keepdims=True),
                               rtol=1e-12)
    means = np.array([X[z == s, 0].mean() for s in range(K)])
    np.testing.assert_allclose(est.lambdas_[:, 0], means, rtol=1e-12)


def test_priors_of_ones_change_nothing(data):
    X, _, _, _ = data
    plain = fit(X, 5)
    ones = fit(X, 5, priors=np.ones((len(X), K)))
    assert_params(ones, {"startprob": plain.startprob_, "transmat": plain.transmat_,
                         "lambdas": plain.lambdas_}, rtol=1e-12)
    rng = np.random.default_rng(0)
    Xg = rng.normal(size=(350, 2))
    kw = {"n_iter": 4, "tol": 0.0, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        a = GaussianHMM(K, "diag", **kw).fit(Xg, LENGTHS)
        b = GaussianHMM(K, "diag", **kw).fit(Xg, LENGTHS, priors=np.ones((350, K)))
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-12)
    np.testing.assert_allclose(b.transmat_, a.transmat_, rtol=1e-12, atol=1e-15)


def test_frozen_transition_entries_get_the_constrained_m_step(data):
    X, _, labels, _ = data
    mask = np.zeros((K, K), bool)
    mask[0, 1] = mask[2, 2] = True
    smask = np.array([True, False, False])
    est = fit(X, 5, labels=labels, freeze={"transmat_": mask, "startprob_": smask})
    ref = reference_em(X, evidence(labels, None), start_params(), 5,
                       frozen={"transmat": mask, "startprob": smask})
    assert_params(est, ref)
    assert est.transmat_[0, 1] == start_params()["transmat"][0, 1]
    assert est.transmat_[2, 2] == start_params()["transmat"][2, 2]
    assert est.startprob_[0] == 0.5
    np.testing.assert_allclose(est.transmat_.sum(axis=1), 1.0, rtol=1e-12)


def test_frozen_rate_entries_match_the_reference_with_labels(data):
    X, _, labels, _ = data
    lmask = np.array([[False], [True], [False]])
    tmask = np.zeros((K, K), bool)
    tmask[2, 0] = True
    est = fit(X, 6, labels=labels, freeze={"lambdas_": lmask, "transmat_": tmask})
    ref = reference_em(X, evidence(labels, None), start_params(), 6,
                       frozen={"lambdas": lmask, "transmat": tmask})
    assert_params(est, ref)
    assert est.lambdas_[1, 0] == start_params()["lambdas"][1, 0]
    assert est.transmat_[2, 0] == start_params()["transmat"][2, 0]


def test_freezing_the_chain_returns_its_start_and_frozen_emissions_stay(data):
    X, _, _, _ = data
    est = fit(X, 4, freeze={"startprob_": True, "transmat_": True})
    np.testing.assert_array_equal(est.startprob_, start_params()["startprob"])
    np.testing.assert_array_equal(est.transmat_, start_params()["transmat"])
    assert not np.allclose(est.lambdas_, start_params()["lambdas"])
    est = fit(X, 4, freeze={"lambdas_": True})
    np.testing.assert_array_equal(est.lambdas_, start_params()["lambdas"])
    ref = reference_em(X, np.zeros((len(X), K)), start_params(), 4)
    assert not np.allclose(est.transmat_, ref["transmat"])  # the chain fits the fixed rates


def test_chunked_e_step_keeps_the_evidence_with_its_frames(data):
    X, _, labels, priors = data
    est = fit(X, 1)
    params = est._current_params()
    model = est._model(X, params)
    from emkit.models.hmm.model import Sequences

    seq = Sequences(X, LENGTHS, np.array([1.0, 2.0, 0.5]), evidence(labels, priors))
    stats, ll = model.e_step(seq, params)
    c_stats, c_ll = ChunkedModel(model, 150).e_step(seq, params)
    np.testing.assert_allclose(c_ll, ll, rtol=1e-12)
    for key in ("start", "trans", "visits"):
        np.testing.assert_allclose(c_stats[key], stats[key], rtol=1e-12, atol=1e-12)


def test_bad_supervision_is_named(data):
    X, z, labels, _ = data
    with pytest.raises(ValueError, match="labels must have shape"):
        fit(X, 1, labels=z[:-1])
    with pytest.raises(ValueError, match="labels must be -1"):
        fit(X, 1, labels=np.full(len(X), 3))
    with pytest.raises(ValueError, match="priors"):
        fit(X, 1, priors=np.ones((len(X), K + 1)))
    with pytest.raises(ValueError, match=r"freeze\['transmat_'\] must be True or a boolean "
                                         r"mask of shape \(3, 3\)"):
        fit(X, 1, freeze={"transmat_": np.ones((2, 3), bool)})
    with pytest.raises(ValueError, match=r"freeze\['lambdas_'\] must be True or a boolean "
                                         r"mask of shape \(3, 1\)"):
        fit(X, 1, freeze={"lambdas_": np.ones((2, 1), bool)})
    with pytest.raises(ValueError, match="unknown attribute 'means_'"):
        fit(X, 1, freeze={"means_": True})
    with pytest.raises(ValueError, match="nothing to fit"):
        fit(X, 1, freeze={"startprob_": True, "transmat_": True, "lambdas_": True})
    with pytest.raises(ValueError, match="nothing to fit"):  # one free entry per row
        fit(X, 1, params="t", freeze={"transmat_": ~np.eye(K, dtype=bool)})
    with pytest.raises(ValueError, match="labels must have shape"):
        fit(da.from_array(X, chunks=((200, 150), 1)), 1, labels=labels[1:])


@pytest.mark.parametrize("case", ["labels", "priors+weights"])
def test_dask_partitions_carry_their_frames_evidence(data, case):
    import dask

    X, _, labels, priors = data
    kw = ({"labels": labels} if case == "labels"
          else {"priors": priors, "sample_weight": np.array([1.0, 2.0, 0.5])})
    local = fit(X, 5, **kw)
    with dask.config.set(scheduler="synchronous"):
        remote = fit(da.from_array(X, chunks=((200, 150), 1)), 5, **kw)
    assert_params(remote, {"startprob": local.startprob_, "transmat": local.transmat_,
                           "lambdas": local.lambdas_}, rtol=1e-10)
    np.testing.assert_allclose(remote.monitor_.history, local.monitor_.history, rtol=1e-12)


def test_squarem_keeps_frozen_entries(data):
    X, _, labels, _ = data
    mask = np.zeros((K, K), bool)
    mask[1, 0] = True
    est = PoissonHMM(K, init_params="", n_iter=200, tol=1e-8, accelerate="squarem",
                     freeze={"transmat_": mask})
    start = start_params()
    est.startprob_, est.transmat_, est.lambdas_ = (start["startprob"], start["transmat"],
                                                   start["lambdas"])
    est.fit(X, LENGTHS, labels=labels)
    assert est.transmat_[1, 0] == start["transmat"][1, 0]
    plain = fit(X, 200, labels=labels, freeze={"transmat_": mask})
    np.testing.assert_allclose(est.transmat_, plain.transmat_, atol=1e-4)
    history = np.array(est.monitor_.history)
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))


def test_the_start_uses_the_labelled_frames(data):
    X, z, labels, _ = data
    # every frame labelled: the start's rates are the per-state means of the frames
    est = PoissonHMM(K, n_iter=0, random_state=0).fit(X, LENGTHS, labels=z)
    means = np.array([X[z == s, 0].mean() for s in range(K)])
    np.testing.assert_allclose(est.lambdas_[:, 0], means, rtol=1e-12)
    # 30 % labelled: the start's states are named as the labels, so the fit decodes them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        for seed in range(3):
            est = PoissonHMM(K, n_iter=30, random_state=seed).fit(X, LENGTHS, labels=labels)
            assert np.mean(est.predict(X, LENGTHS) == z) > 0.85
            np.testing.assert_array_equal(np.argsort(est.lambdas_[:, 0]), [0, 1, 2])


def test_frozen_gaussian_means_stay_and_the_covariances_fit_about_them():
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(m, 1.0, size=(50, 1)) for m in (0.0, 5.0) * 4])
    est = GaussianHMM(2, "diag", n_iter=0, random_state=0).fit(X)
    start_means = est.means_.copy()
    est.set_params(n_iter=1, init_params="", params="stmc", tol=0.0,
                   covars_prior=0.0, covars_weight=0.0, freeze={"means_": True})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        gamma = est.predict_proba(X)
        est.fit(X)
    np.testing.assert_array_equal(est.means_, start_means)
    # the covariance step about the frozen means (hmmlearn's rule with flat priors)
    expected = (gamma * (X - start_means[:, 0]) ** 2).sum(axis=0) / gamma.sum(axis=0)
    np.testing.assert_allclose(est.covars_[:, 0, 0], expected, rtol=1e-8)
