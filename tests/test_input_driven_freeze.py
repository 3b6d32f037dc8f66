"""InputDrivenHMM ``freeze=`` masks on ``transition_coef_``, ``start_coef_`` and ``startprob_``.

The free coefficients after M-steps are checked against the constrained maximizer
of EM's ``Q`` for the transitions, found by ``scipy.optimize.minimize`` with the
frozen coordinates fixed, given pair posteriors computed here by enumerating
every state path of short sequences (not by the model's forward-backward).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax
from scipy.stats import poisson

import emkit
from emkit.estimators._hmm_covariates import covariate_design
from emkit.estimators.hmm_input_driven import InputDrivenHMM
from emkit.models.hmm.emission import DistributionEmission
from emkit.models.hmm.input_driven import CovariateSequences, InputDrivenHMMModel

RATES = np.array([1.0, 5.0, 12.0])


def short_sequences(seed: int, n_seq: int = 12, T: int = 5, q: int = 1):
    rng = np.random.default_rng(seed)
    z = rng.integers(3, size=n_seq * T)
    X = rng.poisson(RATES[z])[:, None].astype(float)
    U = rng.normal(2.0, 1.5, size=(n_seq * T, q))
    return X, U, np.full(n_seq, T)


def log_trans(coef: np.ndarray, U: np.ndarray) -> np.ndarray:
    """log P_t(i, j) (T, K, K) from original-unit coefficients (K, K, q + 1)."""
    logits = coef[None, :, :, 0] + np.einsum("ijq,tq->tij", coef[:, :, 1:], U)
    return logits - logsumexp(logits, axis=2, keepdims=True)


def brute_pair_posteriors(X, U, lengths, startprob, coef, start_coef=None):
    """xi[t, i, j] = P(z_{t-1} = i, z_t = j | x) and the first frames' posteriors
    (n_sequences, K), by enumerating every path; with ``start_coef`` the start is
    softmax(start_coef @ [1, u_first])."""
    k = len(startprob)
    log_e = poisson.logpmf(X[:, 0][:, None], RATES[None, :])
    log_a = log_trans(coef, U)
    xi = np.zeros((len(X), k, k))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    firsts = np.zeros((len(lengths), k))
    for s, (a, b) in enumerate(itertools.pairwise(offsets)):
        log_start = np.log(startprob)
        if start_coef is not None:
            logits = start_coef @ np.concatenate([[1.0], U[a]])
            log_start = logits - logsumexp(logits)
        paths = np.array(list(itertools.product(range(k), repeat=b - a)))
        logp = log_start[paths[:, 0]] + log_e[a + np.arange(b - a), paths].sum(axis=1)
        for t in range(1, b - a):
            logp += log_a[a + t, paths[:, t - 1], paths[:, t]]
        w = np.exp(logp - logsumexp(logp))
        np.add.at(firsts[s], paths[:, 0], w)
        for t in range(1, b - a):
            np.add.at(xi[a + t], (paths[:, t - 1], paths[:, t]), w)
    return xi, firsts


def constrained_argmax(xi, U, start_coef, mask):
    """argmax over the free original-unit coefficients of sum_t sum_ij xi log P_t(i, j),
    each row's reference (staying) at 0 and the frozen entries at ``start_coef``."""
    k = start_coef.shape[0]
    Z = np.column_stack([np.ones(len(U)), U])
    out = start_coef.copy()
    for i in range(k):
        free = ~mask[i].copy()
        free[i] = False
        if not free.any():
            continue
        n = xi[:, i, :]
        w = n.sum(axis=1)

        def negq(theta, i=i, free=free, n=n, w=w):
            c = start_coef[i].copy()
            c[free] = theta
            logits = Z @ c.T
            logp = logits - logsumexp(logits, axis=1, keepdims=True)
            grad = ((n - w[:, None] * np.exp(logp)).T @ Z)[free]
            return -float((n * logp).sum()), -grad

        res = minimize(negq, start_coef[i][free], jac=True, method="BFGS",
                       options={"gtol": 1e-11, "maxiter": 2000})
        out[i][free] = res.x
    return out


def test_one_m_step_without_covariates_is_the_constrained_maximizer():
    X, _, lengths = short_sequences(1)
    startprob = np.array([0.5, 0.3, 0.2])
    coef = np.array([[0.0, -1.0, -2.0], [-0.5, 0.0, -1.5], [-1.0, -0.3, 0.0]])[:, :, None]
    mask = np.zeros((3, 3, 1), bool)
    mask[0, 1] = mask[2, 0] = True
    est = InputDrivenHMM(emkit.distributions.Poisson(), 3, params="t", init_params="",
                         n_iter=1, tol=0.0, freeze={"transition_coef_": mask})
    est.startprob_, est.transition_coef_ = startprob, coef.copy()
    est.emissions_ = [emkit.distributions.Poisson(r) for r in RATES]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        est.fit(X, lengths)
    xi, _ = brute_pair_posteriors(X, np.zeros((len(X), 0)), lengths, startprob, coef)
    ref = constrained_argmax(xi, np.zeros((len(X), 0)), coef, mask)
    np.testing.assert_allclose(est.transition_coef_, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(est.transition_coef_[mask], coef[mask])
    assert not np.allclose(est.transition_coef_[~mask], coef[~mask])


def _hand_logit_stats(xi, Zs, beta_scaled):
    """Gradient, minus Hessian and Gram of Q per origin row on the scaled design,
    categories ordered with the reference first (written here, not the model's)."""
    k, _, q1 = beta_scaled.shape
    logits = np.einsum("tq,ijq->tij", Zs, beta_scaled)
    P = softmax(logits, axis=2)
    grad = np.zeros((k, k - 1, q1))
    hess = np.zeros((k, (k - 1) * q1, (k - 1) * q1))
    gram = np.zeros((k, q1, q1))
    for i in range(k):
        order = [i] + [j for j in range(k) if j != i]
        n, p = xi[:, i, order], P[:, i, order]
        w = n.sum(axis=1)
        grad[i] = ((n - w[:, None] * p)[:, 1:]).T @ Zs
        gram[i] = (Zs * w[:, None]).T @ Zs
        for a in range(1, k):
            for b in range(1, k):
                c = w * ((a == b) * p[:, a] - p[:, a] * p[:, b])
                hess[i, (a - 1) * q1:a * q1, (b - 1) * q1:b * q1] = (Zs * c[:, None]).T @ Zs
    return {"grad": grad, "hess": hess, "gram": gram}


def test_m_steps_with_covariates_reach_the_constrained_maximizer():
    X, U, lengths = short_sequences(2)
    startprob = np.array([0.4, 0.35, 0.25])
    coef = np.array([[[0.0, 0.0], [-1.0, 0.3], [-2.0, 0.1]],
                     [[-0.5, -0.2], [0.0, 0.0], [-1.5, 0.4]],
                     [[-1.0, 0.2], [-0.3, -0.1], [0.0, 0.0]]])
    mask = np.zeros((3, 3, 2), bool)
    mask[0, 1, 0] = True          # an intercept (its slope free)
    mask[1, 2, 1] = True          # a slope (its intercept free)
    mask[2, 0] = True             # a whole entry
    design = covariate_design(U)
    Zs = design.rows(U)
    flat = coef.reshape(9, 2)
    scaled = design.to_scaled(flat[:, 0], flat[:, 1:]).reshape(3, 3, 2)
    emissions = [emkit.distributions.Poisson(r) for r in RATES]
    params = {"startprob": startprob, "trans": scaled,
              "emissions": [e.parameters() for e in emissions]}
    model = InputDrivenHMMModel(DistributionEmission(emissions), 3, design, "t", params)
    model.frozen = {"trans": mask}
    data = CovariateSequences.from_arrays(X, U, lengths)
    stats0, _ = model.e_step(data, params)
    xi, _ = brute_pair_posteriors(X, U, lengths, startprob, coef)
    np.testing.assert_allclose(stats0["counts"], xi.sum(axis=0), rtol=1e-10)
    hand = _hand_logit_stats(xi, Zs, scaled)
    for key in ("grad", "hess", "gram"):
        np.testing.assert_allclose(stats0["logit"][key], hand[key], rtol=1e-9, atol=1e-10)
    beta = model.m_step(stats0)["trans"]  # the M-step from the model's own E-step
    for _ in range(60):  # further M-steps, given the same (enumerated) posteriors
        stats = {**stats0, "anchor_trans": float(stats0["rows"]) * beta,
                 "logit": _hand_logit_stats(xi, Zs, beta)}
        beta = model.m_step(stats)["trans"]
    intercept, slopes = design.to_original(beta.reshape(9, 2))
    fitted = np.column_stack([intercept, slopes]).reshape(3, 3, 2)
    ref = constrained_argmax(xi, U, coef, mask)
    np.testing.assert_allclose(fitted, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fitted[mask], coef[mask], rtol=1e-12, atol=1e-13)
    assert np.abs(fitted - coef)[~mask].max() > 1e-2


def test_start_coefficient_m_steps_reach_the_constrained_maximizer():
    X, U, lengths = short_sequences(3, n_seq=60, T=3)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    coef = np.zeros((3, 3, 2))
    coef[:, :, 0] = np.log(np.full((3, 3), 0.2) + 0.4 * np.eye(3))
    coef -= coef[np.arange(3), np.arange(3)][:, None, :]
    alpha = np.array([[0.0, 0.0], [0.4, -0.6], [-0.8, 0.5]])
    mask = np.array([[False, False], [False, True], [True, False]])
    design = covariate_design(U)
    Zs = design.rows(U)[first]
    emissions = [emkit.distributions.Poisson(r) for r in RATES]
    flat = coef.reshape(9, 2)  # no slopes: the same on the scaled design
    params = {"start_coef": design.to_scaled(alpha[:, 0], alpha[:, 1:]),
              "trans": design.to_scaled(flat[:, 0], flat[:, 1:]).reshape(3, 3, 2),
              "emissions": [e.parameters() for e in emissions]}
    model = InputDrivenHMMModel(DistributionEmission(emissions), 3, design, "s", params,
                                start_covariates=True)
    model.frozen = {"start_coef": mask}
    stats0, _ = model.e_step(CovariateSequences.from_arrays(X, U, lengths), params)
    g = brute_pair_posteriors(X, U, lengths, np.ones(3), coef, alpha)[1]
    np.testing.assert_allclose(stats0["start"], g.sum(axis=0), rtol=1e-10)

    def hand_stats(a_scaled):
        p = softmax(Zs @ a_scaled.T, axis=1)
        hess = np.zeros((4, 4))
        for r in (1, 2):
            for c in (1, 2):
                w = (r == c) * p[:, r] - p[:, r] * p[:, c]
                hess[2 * r - 2:2 * r, 2 * c - 2:2 * c] = (Zs * w[:, None]).T @ Zs
        return {"grad": ((g - p)[:, 1:]).T @ Zs, "hess": hess, "gram": Zs.T @ Zs}

    for key, value in hand_stats(params["start_coef"]).items():
        np.testing.assert_allclose(stats0["start_logit"][key], value, rtol=1e-9, atol=1e-10)
    a = model.m_step(stats0)["start_coef"]
    for _ in range(60):
        a = model.m_step({**stats0, "anchor_start": float(stats0["rows"]) * a,
                          "start_logit": hand_stats(a)})["start_coef"]
    intercept, slopes = design.to_original(a)
    fitted = np.column_stack([intercept, slopes])
    Z = np.column_stack([np.ones(len(first)), U[first]])

    def negq(theta):
        c = alpha.copy()
        c[1:][~mask[1:]] = theta
        logp = Z @ c.T - logsumexp(Z @ c.T, axis=1, keepdims=True)
        grad = ((g - np.exp(logp)).T @ Z)[1:][~mask[1:]]
        return -float((g * logp).sum()), -grad

    res = minimize(negq, alpha[1:][~mask[1:]], jac=True, method="BFGS",
                   options={"gtol": 1e-11, "maxiter": 2000})
    ref = alpha.copy()
    ref[1:][~mask[1:]] = res.x
    np.testing.assert_allclose(fitted, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fitted[mask], alpha[mask], rtol=1e-12, atol=1e-13)
    assert np.abs(fitted - alpha)[~mask].max() > 1e-2


# -- the estimator ---------------------------------------------------------------------
def simulate(seed: int = 0, n_seq: int = 6, T: int = 150):
    rng = np.random.default_rng(seed)
    coef = np.array([[[0.0, 0.0], [-2.5, 0.8]], [[-2.0, -0.6], [0.0, 0.0]]])
    U = rng.normal(1.0, 2.0, size=(n_seq * T, 1))
    P = softmax(log_trans(coef, U), axis=2)
    z = np.zeros(n_seq * T, dtype=int)
    for t in range(n_seq * T):
        z[t] = rng.integers(2) if t % T == 0 else int(rng.random() > P[t, z[t - 1], 0])
    X = rng.normal(np.array([-1.5, 1.5])[z], 1.0)[:, None]
    return X, U, np.full(n_seq, T)


@pytest.fixture(scope="module")
def data():
    return simulate()


def warm(coef=None, **kw):
    kw = {"n_iter": 40, "tol": 1e-8, "random_state": 0, "init_params": "se", **kw}
    est = InputDrivenHMM(emkit.distributions.Gaussian(), 2, **kw)
    est.transition_coef_ = (np.array([[[0.0, 0.0], [-2.0, 0.5]], [[-1.5, -0.3], [0.0, 0.0]]])
                            if coef is None else coef)
    return est


def run(est, X, U, lengths, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return est.fit(X, lengths, covariates=U, **kw)


MASK = np.array([[[False, False], [False, True]], [[True, False], [False, False]]])


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_frozen_entries_kept_bit_for_bit_and_loglik_never_falls(data, accelerate):
    X, U, lengths = data
    est = warm(freeze={"transition_coef_": MASK}, accelerate=accelerate)
    start = est.transition_coef_.copy()
    run(est, X, U, lengths)
    np.testing.assert_array_equal(est.transition_coef_[MASK], start[MASK])
    assert np.all(est.transition_coef_[[0, 1], [0, 1]] == 0.0)
    assert np.abs(est.transition_coef_ - start)[~MASK].max() > 1e-3
    history = np.asarray(est.monitor_.history)
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))
    assert est.lower_bound_ == pytest.approx(est.score(X, lengths, covariates=U), rel=1e-10)


def test_squarem_reaches_the_plain_constrained_fit(data):
    X, U, lengths = data
    kw = {"freeze": {"transition_coef_": MASK}, "n_iter": 500, "tol": 1e-10}
    plain = run(warm(**kw), X, U, lengths)
    fast = run(warm(accelerate="squarem", **kw), X, U, lengths)
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-9)
    np.testing.assert_allclose(fast.transition_coef_, plain.transition_coef_, atol=1e-4)
    assert fast.n_iter_ < plain.n_iter_


def test_drawn_start_frozen_entries_are_the_drawn_values(data):
    X, U, lengths = data
    start = run(InputDrivenHMM(emkit.distributions.Gaussian(), 2, n_iter=0, random_state=3),
                X, U, lengths)
    est = run(InputDrivenHMM(emkit.distributions.Gaussian(), 2, n_iter=20, random_state=3,
                             freeze={"transition_coef_": MASK}), X, U, lengths)
    np.testing.assert_array_equal(est.transition_coef_[MASK], start.transition_coef_[MASK])


@pytest.mark.parametrize("whole", [True, "mask"])
def test_freezing_every_coefficient_returns_the_start(data, whole):
    X, U, lengths = data
    coef = np.array([[[0.2, -0.1], [-2.0, 0.5]], [[-1.5, -0.3], [0.7, 0.1]]])  # references not 0
    value = True if whole is True else np.ones((2, 2, 2), bool)
    est = run(warm(coef.copy(), freeze={"transition_coef_": value}), X, U, lengths)
    np.testing.assert_array_equal(est.transition_coef_, coef)
    assert est.n_iter_ > 1
    est = run(warm(coef.copy(), freeze={"transition_coef_": value, "startprob_": True}),
              X, U, lengths)
    np.testing.assert_array_equal(est.transition_coef_, coef)


def test_start_coefficients_and_start_probabilities_take_masks(data):
    X, U, lengths = data
    lengths = np.full(30, 30)
    mask = np.array([[False, False], [False, True]])
    est = warm(start_covariates=True, init_params="e", freeze={"start_coef_": mask})
    est.start_coef_ = np.array([[0.0, 0.0], [0.3, -0.4]])
    run(est, X, U, lengths)
    assert est.start_coef_[1, 1] == -0.4 and est.start_coef_[1, 0] != 0.3
    np.testing.assert_array_equal(est.start_coef_[0], [0.0, 0.0])
    history = np.asarray(est.monitor_.history)
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))
    est = warm(init_params="e", freeze={"startprob_": np.array([True, False])})
    est.startprob_ = np.array([0.25, 0.75])
    run(est, X, U, lengths)
    assert est.startprob_[0] == 0.25
    assert est.startprob_.sum() == pytest.approx(1.0, abs=1e-15)
    three = np.array([True, False, False])  # two free start probabilities share 1 - 0.2
    hmm = InputDrivenHMM(emkit.distributions.Gaussian(), 3, n_iter=1, tol=0.0,
                         params="s", init_params="", freeze={"startprob_": three})
    hmm.startprob_, hmm.transition_coef_ = np.array([0.2, 0.4, 0.4]), np.zeros((3, 3, 2))
    hmm.emissions_ = [emkit.distributions.Gaussian([m], np.eye(1)) for m in (-1.5, 0.0, 1.5)]
    first = hmm.predict_proba(X, lengths, covariates=U)[np.arange(30) * 30].sum(axis=0)
    run(hmm, X, U, lengths)
    assert hmm.startprob_[0] == 0.2  # one M-step: the free pair shares 0.8 by the posteriors
    np.testing.assert_allclose(hmm.startprob_[1:], 0.8 * first[1:] / first[1:].sum(),
                               rtol=1e-10)


def test_dask_fit_with_a_mask_equals_in_memory(data):
    da = pytest.importorskip("dask.array")
    import dask

    X, U, lengths = data
    mem = run(warm(freeze={"transition_coef_": MASK}, tol=0.0, n_iter=10), X, U, lengths)
    chunks = (tuple(int(n) for n in lengths.reshape(3, 2).sum(axis=1)), 1)
    with dask.config.set(scheduler="synchronous"):
        dsk = run(warm(freeze={"transition_coef_": MASK}, tol=0.0, n_iter=10),
                  da.from_array(X, chunks=chunks), da.from_array(U, chunks=chunks), lengths)
    np.testing.assert_allclose(dsk.transition_coef_, mem.transition_coef_, rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_array_equal(dsk.transition_coef_[MASK], mem.transition_coef_[MASK])
    np.testing.assert_allclose(dsk.monitor_.history, mem.monitor_.history, rtol=1e-10)


def test_save_and_load_keep_the_masks(data, tmp_path):
    X, U, lengths = data
    est = run(warm(freeze={"transition_coef_": MASK}), X, U, lengths)
    est.save(tmp_path / "m.npz")
    back = emkit.load(tmp_path / "m.npz")
    got = back.freeze["transition_coef_"]
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, MASK)
    np.testing.assert_array_equal(back.transition_coef_, est.transition_coef_)
    refit = run(back, X, U, lengths)  # a warm start from the loaded fit keeps its frozen values
    np.testing.assert_array_equal(refit.transition_coef_[MASK], est.transition_coef_[MASK])


def test_bad_masks_are_named(data):
    X, U, lengths = data

    def fit(freeze, **kw):
        return run(warm(freeze=freeze, n_iter=1, **kw), X, U, lengths)

    with pytest.raises(ValueError, match=r"freeze\['transition_coef_'\].*shape \(2, 2, 2\)"):
        fit({"transition_coef_": np.ones((2, 2), bool)})
    with pytest.raises(ValueError, match="dtype"):
        fit({"transition_coef_": np.ones((2, 2, 2))})
    with pytest.raises(ValueError, match="nothing to fit"):
        fit({"transition_coef_": np.ones((2, 2, 2), bool), "emissions_": True,
             "startprob_": np.array([True, False])})
    off_diagonal = np.repeat(~np.eye(2, dtype=bool)[:, :, None], 2, axis=2)
    with pytest.raises(ValueError, match="nothing to fit"):
        fit({"transition_coef_": off_diagonal}, params="t")
    with pytest.raises(ValueError, match=r"transition_coef_\[1, 1\].*not 0"):
        fit({"transition_coef_": MASK},
            coef=np.array([[[0.0, 0.0], [-2.0, 0.5]], [[-1.5, -0.3], [0.5, 0.0]]]))
    with pytest.raises(ValueError, match="emissions are frozen whole"):
        fit({"emissions_": np.ones(2, bool)})
    with pytest.raises(ValueError, match="unknown attribute 'start_coef_'"):
        fit({"start_coef_": True})
