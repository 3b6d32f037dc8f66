"""InputDrivenHMM: an HMM whose transitions are a multinomial logit of covariates.

References written here: a log-space forward recursion with a transition matrix
per step, brute-force enumeration of every state path, the softmax of
DESIGN.md, and emkit.HMM (the plain HMM) at zero slopes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp, softmax
from scipy.stats import norm

import emkit
from emkit.estimators.hmm_input_driven import InputDrivenHMM

MEANS = (-1.0, 1.5, 4.0)


def gaussians(k: int) -> list:
    return [emkit.distributions.Gaussian(mean=[MEANS[s]], covariance=[[1.0 + 0.5 * s]])
            for s in range(k)]


def log_emission(X: np.ndarray, k: int) -> np.ndarray:
    return np.column_stack([norm.logpdf(X[:, 0], MEANS[s], np.sqrt(1.0 + 0.5 * s))
                            for s in range(k)])


def softmax_transmat(coef: np.ndarray, U: np.ndarray) -> np.ndarray:
    """DESIGN.md: P[t, i, j] = softmax_j(coef[i, j, 0] + coef[i, j, 1:] @ U[t])."""
    logits = coef[None, :, :, 0] + np.einsum("ijq,tq->tij", coef[:, :, 1:], U)
    return softmax(logits, axis=2)


def set_by_hand(k: int, q: int, seed: int) -> InputDrivenHMM:
    rng = np.random.default_rng(seed)
    hmm = InputDrivenHMM(gaussians(k), k, init_params="")
    coef = rng.normal(size=(k, k, q + 1))
    coef[np.arange(k), np.arange(k)] = 0.0
    hmm.transition_coef_ = coef
    hmm.startprob_ = rng.dirichlet(np.ones(k))
    return hmm


def forward_reference(log_b, log_pi, log_P, offsets) -> float:
    total = 0.0
    for a, b in itertools.pairwise(offsets):
        alpha = log_pi + log_b[a]
        for t in range(a + 1, b):
            alpha = logsumexp(alpha[:, None] + log_P[t], axis=0) + log_b[t]
        total += logsumexp(alpha)
    return float(total)


def paths(log_b, log_pi, log_P):
    """Every path's joint log-probability (one sequence)."""
    n, k = log_b.shape
    for z in itertools.product(range(k), repeat=n):
        lp = log_pi[z[0]] + log_b[0, z[0]]
        for t in range(1, n):
            lp += log_P[t, z[t - 1], z[t]] + log_b[t, z[t]]
        yield np.array(z), lp


@pytest.mark.parametrize(("k", "q", "n"), [(2, 1, 7), (3, 2, 6), (3, 1, 5)])
def test_score_equals_forward_reference_and_brute_force(k, q, n):
    rng = np.random.default_rng(10 * k + q)
    hmm = set_by_hand(k, q, seed=k + q)
    X = rng.normal(1.0, 2.0, size=(n, 1))
    U = rng.normal(size=(n, q))
    log_b = log_emission(X, k)
    log_P = np.log(softmax_transmat(hmm.transition_coef_, U))
    log_pi = np.log(hmm.startprob_)
    ref = forward_reference(log_b, log_pi, log_P, [0, n])
    enum = [(z, lp) for z, lp in paths(log_b, log_pi, log_P)]
    brute = logsumexp([lp for _, lp in enum])
    assert hmm.score(X, covariates=U) == pytest.approx(ref, rel=1e-10, abs=1e-10)
    assert hmm.score(X, covariates=U) == pytest.approx(brute, rel=1e-10, abs=1e-10)
    # posteriors from the enumeration
    weights = np.exp(np.array([lp for _, lp in enum]) - brute)
    post = np.zeros((n, k))
    for (z, _), w in zip(enum, weights, strict=True):
        post[np.arange(n), z] += w
    np.testing.assert_allclose(hmm.predict_proba(X, covariates=U), post, rtol=0, atol=1e-10)
    # Viterbi: the best enumerated path and its log-probability
    best = max(enum, key=lambda e: e[1])
    logprob, states = hmm.decode(X, covariates=U)
    np.testing.assert_array_equal(states, best[0])
    assert logprob == pytest.approx(best[1], rel=1e-10, abs=1e-10)
    np.testing.assert_array_equal(hmm.predict(X, covariates=U), best[0])


def test_several_sequences_and_score_samples():
    rng = np.random.default_rng(3)
    hmm = set_by_hand(3, 2, seed=4)
    lengths = [5, 1, 9]
    X = rng.normal(1.0, 2.0, size=(15, 1))
    U = rng.normal(size=(15, 2))
    log_P = np.log(softmax_transmat(hmm.transition_coef_, U))
    ref = forward_reference(log_emission(X, 3), np.log(hmm.startprob_), log_P,
                            np.cumsum([0, *lengths]))
    logprob, post = hmm.score_samples(X, lengths, covariates=U)
    assert logprob == pytest.approx(ref, rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_zero_slopes_equal_the_plain_hmm():
    rng = np.random.default_rng(5)
    k = 3
    hmm = set_by_hand(k, 2, seed=6)
    hmm.transition_coef_[:, :, 1:] = 0.0
    transmat = softmax(hmm.transition_coef_[:, :, 0], axis=1)
    plain = emkit.HMM(gaussians(k), k, init_params="")
    plain.startprob_ = hmm.startprob_
    plain.transmat_ = transmat
    X = rng.normal(1.0, 2.0, size=(200, 1))
    U = rng.normal(size=(200, 2))
    lengths = [120, 80]
    assert hmm.score(X, lengths, covariates=U) == pytest.approx(
        plain.score(X, lengths), rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(hmm.predict_proba(X, lengths, covariates=U),
                               plain.predict_proba(X, lengths), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(hmm.predict(X, lengths, covariates=U),
                                  plain.predict(X, lengths))


def test_predict_transmat_is_the_softmax():
    hmm = set_by_hand(3, 2, seed=7)
    hmm.transition_coef_[1, 1] = [0.3, -0.2, 0.1]  # any coefficients set: softmax over all j
    U = np.random.default_rng(8).normal(size=(40, 2))
    P = hmm.predict_transmat(U)
    assert P.shape == (40, 3, 3)
    np.testing.assert_allclose(P.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(P, softmax_transmat(hmm.transition_coef_, U),
                               rtol=1e-12, atol=0)
    pi = hmm.stationary_distribution(U[:5])
    np.testing.assert_allclose(np.einsum("ti,tij->tj", pi, P[:5]), pi, rtol=0, atol=1e-12)


def simulate(coef, means, T, seed):
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(T, coef.shape[2] - 1))
    P = softmax_transmat(coef, U)
    z = np.zeros(T, dtype=int)
    draws = rng.random(T)
    for t in range(1, T):
        z[t] = int(np.searchsorted(np.cumsum(P[t, z[t - 1]]), draws[t]))
    X = rng.normal(np.asarray(means)[z], 1.0)[:, None]
    return X, U, z


@pytest.fixture(scope="module")
def recovered():
    coef = np.zeros((2, 2, 2))
    coef[0, 1] = [-2.0, 1.5]
    coef[1, 0] = [-1.5, -1.0]
    X, U, _ = simulate(coef, [0.0, 3.0], 20_000, seed=0)
    hmm = InputDrivenHMM(emkit.distributions.Gaussian(), 2, n_iter=200, tol=1e-6,
                         random_state=0).fit(X, covariates=U)
    return hmm, coef, X, U


def test_recovers_known_coefficients(recovered):
    hmm, coef, _, _ = recovered
    order = np.argsort([e.mean[0] for e in hmm.emissions_])
    fitted = hmm.transition_coef_[np.ix_(order, order)]
    np.testing.assert_array_equal(fitted[[0, 1], [0, 1]], 0.0)
    # standard errors at T = 20,000 are about 0.05 (intercepts) and 0.06 (slopes);
    # 0.25 is four of them
    np.testing.assert_allclose(fitted, coef, rtol=0, atol=0.25)
    assert hmm.converged_
    assert hmm.startprob_.shape == (2,)


def test_log_likelihood_never_falls(recovered):
    hmm, _, X, U = recovered
    history = np.array(hmm.monitor_.history)
    assert len(history) > 3
    assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))
    assert hmm.lower_bound_ == pytest.approx(hmm.score(X, covariates=U), rel=1e-9)


@pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")  # tol=0: n steps
@pytest.mark.parametrize("k", [2, 3])
def test_monotone_from_random_starts(k):
    coef = np.zeros((k, k, 3))
    rng = np.random.default_rng(k)
    coef[:] = rng.normal(scale=1.5, size=coef.shape)
    coef[np.arange(k), np.arange(k)] = 0.0
    X, U, _ = simulate(coef, MEANS[:k], 600, seed=k)
    for seed in range(3):
        hmm = InputDrivenHMM(emkit.distributions.Gaussian(), k, n_iter=25, tol=0,
                             random_state=seed).fit(X, [300, 300], covariates=U)
        history = np.array(hmm.monitor_.history)
        assert np.all(np.diff(history) >= -1e-8 * np.abs(history[1:]))


@pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")  # tol=0: n steps
def test_fit_without_covariates_is_the_plain_hmm_update():
    coef = np.zeros((2, 2, 1))
    coef[0, 1, 0], coef[1, 0, 0] = -1.0, -2.0
    X, _, _ = simulate(coef, [0.0, 3.0], 400, seed=2)
    hmm = InputDrivenHMM(gaussians(2), 2, n_iter=1, tol=0, init_params="")
    hmm.startprob_ = np.array([0.5, 0.5])
    hmm.transition_coef_ = coef
    hmm.fit(X)
    plain = emkit.HMM(gaussians(2), 2, n_iter=1, tol=0, init_params="")
    plain.startprob_ = np.array([0.5, 0.5])
    plain.transmat_ = softmax(coef[:, :, 0], axis=1)
    plain.fit(X)
    np.testing.assert_allclose(hmm.predict_transmat(np.zeros((1, 0)))[0], plain.transmat_,
                               rtol=1e-10, atol=0)
    np.testing.assert_allclose(hmm.startprob_, plain.startprob_, rtol=1e-10, atol=0)


def test_sample_follows_the_covariates():
    hmm = set_by_hand(2, 1, seed=9)
    hmm.transition_coef_ = np.zeros((2, 2, 2))
    hmm.transition_coef_[0, 1] = [0.0, 8.0]
    hmm.transition_coef_[1, 0] = [0.0, -8.0]
    U = np.repeat([[-1.0], [1.0]], 200, axis=0)
    X, states = hmm.sample(covariates=U, random_state=0)
    assert X.shape == (400, 1)
    assert states[5:200].mean() < 0.05 and states[205:].mean() > 0.95
    with pytest.raises(ValueError, match="covariates is required"):
        hmm.sample(10)


def test_save_load_round_trip(recovered, tmp_path):
    hmm, _, X, U = recovered
    path = hmm.save(tmp_path / "idhmm.emkit")
    back = emkit.load(path)
    assert isinstance(back, InputDrivenHMM)
    np.testing.assert_array_equal(back.transition_coef_, hmm.transition_coef_)
    np.testing.assert_array_equal(back.startprob_, hmm.startprob_)
    assert back.score(X[:500], covariates=U[:500]) == hmm.score(X[:500], covariates=U[:500])
    np.testing.assert_array_equal(back.predict(X[:500], covariates=U[:500]),
                                  hmm.predict(X[:500], covariates=U[:500]))


def test_bad_covariates():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 1))
    U = rng.normal(size=(50, 1))
    est = InputDrivenHMM(emkit.distributions.Gaussian(), 2, n_iter=0)
    with pytest.raises(ValueError, match="covariates has 49 rows but X has 50"):
        est.fit(X, covariates=U[:49])
    bad = U.copy()
    bad[7, 0] = np.nan
    with pytest.raises(ValueError, match=r"covariates must be finite: entry \(7, 0\)"):
        est.fit(X, covariates=bad)
    with pytest.raises(ValueError, match="constant"):
        est.fit(X, covariates=np.ones((50, 1)))
    est.fit(X, covariates=U)
    with pytest.raises(ValueError, match="covariates is required"):
        est.score(X)
    with pytest.raises(ValueError, match="covariates has 2 columns"):
        est.predict(X, covariates=np.ones((50, 2)))
    with pytest.raises(ValueError, match="covariates has 10 rows but X has 50"):
        est.predict_proba(X, covariates=U[:10])
    with pytest.raises(ValueError, match="covariates must be finite"):
        est.predict_transmat(bad)
