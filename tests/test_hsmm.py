"""emkit's HSMM against brute-force enumeration, an HMM forward recursion and known durations.

The last segment is right-censored (probability P(duration >= observed length)),
the convention of :class:`emkit.estimators.hsmm.HSMM`; the enumeration below
writes it out independently.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

from emkit import persistence
from emkit.distributions import Gaussian
from emkit.estimators.hsmm import HSMM
from emkit.models.hmm.semi_markov_recursions import hsmm_forward_backward


def compositions(T):
    """Every way to cut T frames into consecutive segments (their lengths)."""
    for cuts in itertools.product([0, 1], repeat=T - 1):
        segs, start = [], 0
        for i, c in enumerate(cuts):
            if c:
                segs.append(i + 1 - start)
                start = i + 1
        segs.append(T - start)
        yield segs


def enumerate_segmentations(lf, sp, A, pmf):
    """(log-likelihood, best log-probability, best path, state posteriors) by brute force."""
    T, K = lf.shape
    surv = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    terms, best, best_path = [], -np.inf, None
    paths = []
    for segs in compositions(T):
        if max(segs) > pmf.shape[1]:
            continue
        for states in itertools.product(range(K), repeat=len(segs)):
            if any(a == b for a, b in itertools.pairwise(states)):
                continue
            p, t = sp[states[0]], 0
            lp = 0.0
            for n, (s, d) in enumerate(zip(states, segs, strict=True)):
                last = n == len(segs) - 1
                p *= surv[s, d - 1] if last else pmf[s, d - 1] * A[s, states[n + 1]]
                lp += lf[t:t + d, s].sum()
                t += d
            if p <= 0:
                continue
            lp += np.log(p)
            path = np.repeat(states, segs)
            terms.append(lp)
            paths.append(path)
            if lp > best:
                best, best_path = lp, path
    ll = logsumexp(terms)
    gamma = np.zeros((T, K))
    for lp, path in zip(terms, paths, strict=True):
        gamma[np.arange(T), path] += np.exp(lp - ll)
    return ll, best, best_path, gamma


def hand_model(K, dmax, rng, duration="nonparametric"):
    means = np.linspace(0.0, 1.5 * (K - 1), K)
    m = HSMM([Gaussian(mean=[mu], covariance=[[1.0]]) for mu in means], K,
             duration=duration, max_duration=dmax, init_params="", params="stde")
    m.startprob_ = rng.dirichlet(np.ones(K))
    A = np.zeros((K, K))
    for i in range(K):
        A[i, np.arange(K) != i] = rng.dirichlet(np.ones(K - 1))
    m.transmat_ = A
    m.duration_params_ = rng.dirichlet(np.ones(dmax), size=K)
    m.emissions_ = list(m.emission)
    m.n_features_in_ = 1
    m._set_state(m._get_state())  # fills durations_ and max_duration_
    return m, means


def frame_logs(X, means):
    return norm.logpdf(X, loc=np.asarray(means)[None, :], scale=1.0)


@pytest.mark.parametrize("K,T,dmax", [(2, 1, 3), (2, 5, 3), (2, 6, 6), (3, 4, 2), (3, 6, 4)])
def test_score_posteriors_and_viterbi_equal_enumeration(K, T, dmax):
    rng = np.random.default_rng(10 * K + T)
    m, means = hand_model(K, dmax, rng)
    X = rng.normal(size=(T, 1)) * 2.0
    ll, best, best_path, gamma = enumerate_segmentations(
        frame_logs(X, means), m.startprob_, m.transmat_, m.durations_)
    np.testing.assert_allclose(m.score(X), ll, rtol=0, atol=1e-10)
    score, post = m.score_samples(X)
    np.testing.assert_allclose(score, ll, rtol=0, atol=1e-10)
    np.testing.assert_allclose(post, gamma, rtol=0, atol=1e-10)
    logprob, path = m.decode(X)
    np.testing.assert_allclose(logprob, best, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(path, best_path)


def test_expected_counts_equal_enumeration():
    rng = np.random.default_rng(3)
    K, T, dmax = 3, 6, 4
    lf = rng.normal(size=(T, K)) * 2
    m, _ = hand_model(K, dmax, rng)
    sp, A, pmf = m.startprob_, m.transmat_, m.durations_
    surv = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    want = {"start": np.zeros(K), "trans": np.zeros((K, K)), "durations": np.zeros((K, dmax)),
            "censored": np.zeros((K, dmax))}
    items = []
    for segs in compositions(T):
        if max(segs) > dmax:
            continue
        for states in itertools.product(range(K), repeat=len(segs)):
            if any(a == b for a, b in itertools.pairwise(states)):
                continue
            p = sp[states[0]] * surv[states[-1], segs[-1] - 1]
            for n in range(len(segs) - 1):
                p *= pmf[states[n], segs[n] - 1] * A[states[n], states[n + 1]]
            e = sum(lf[t0:t0 + d, s].sum() for s, d, t0 in
                    zip(states, segs, np.cumsum([0, *segs[:-1]]), strict=True))
            items.append((p * np.exp(e), segs, states))
    total = sum(i[0] for i in items)
    for w, segs, states in items:
        w /= total
        want["start"][states[0]] += w
        for a, b in itertools.pairwise(states):
            want["trans"][a, b] += w
        for s, d in zip(states[:-1], segs[:-1], strict=True):
            want["durations"][s, d - 1] += w
        want["censored"][states[-1], segs[-1] - 1] += w
    out = hsmm_forward_backward(lf, np.array([0, T]), sp, A, np.log(pmf), np.array([2.0]))
    for key, value in want.items():
        np.testing.assert_allclose(out[key], 2.0 * value, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out["logliks"][0], np.log(total), rtol=0, atol=1e-10)


def test_geometric_durations_equal_the_hmm_with_self_transitions():
    rng = np.random.default_rng(4)
    K, T = 3, 40
    stay = np.array([0.7, 0.85, 0.5])
    m, means = hand_model(K, T, rng)
    d = np.arange(1, T + 1)
    table = (1 - stay)[:, None] * stay[:, None] ** (d - 1)
    # the geometric's tail P(d >= T) put on d = T (max_duration = T): a segment that long
    # is the whole sequence, censored, so every probability used is the geometric's own
    table[:, -1] = stay ** (T - 1)
    m.duration_params_ = table
    m._set_state(m._get_state())
    X = rng.normal(size=(T, 1)) * 2.0
    # the HMM: P(i -> i) = stay_i, P(i -> j) = (1 - stay_i) A_ij; forward in log space
    B = np.diag(stay) + (1 - stay)[:, None] * m.transmat_
    lf = frame_logs(X, means)
    alpha = np.log(m.startprob_) + lf[0]
    for t in range(1, T):
        alpha = logsumexp(alpha[:, None] + np.log(B), axis=0) + lf[t]
    np.testing.assert_allclose(m.score(X), logsumexp(alpha), rtol=0, atol=1e-10)


def simulate(seed=1, n=6000):
    truth, _ = hand_model(3, 60, np.random.default_rng(0), duration="poisson")
    truth.emissions_ = [Gaussian(mean=[mu], covariance=[[1.0]]) for mu in (0.0, 4.0, 8.0)]
    truth.duration_params_ = np.array([[4.0], [9.0], [19.0]])
    truth.transmat_ = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    truth._set_state(truth._get_state())
    return truth.sample(n, random_state=seed)


def fit_quietly(model, X, lengths=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, lengths)


def test_recovers_poisson_durations_and_likelihood_increases():
    X, _ = simulate()
    m = fit_quietly(HSMM(Gaussian(), 3, duration="poisson", max_duration=60, n_iter=40,
                         tol=0.0, random_state=0), X)
    order = np.argsort([float(e.mean[0]) for e in m.emissions_])
    rates = m.duration_params_[order, 0]
    # about 1,100 frames / 130 segments per state; the rate's standard error is below 0.5
    np.testing.assert_allclose(rates, [4.0, 9.0, 19.0], rtol=0.1)
    history = np.array(m.monitor_.history)
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))
    assert np.allclose(np.diag(m.transmat_), 0.0)
    np.testing.assert_allclose(m.durations_.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("duration", ["negative_binomial", "nonparametric"])
def test_other_families_increase_the_likelihood(duration):
    X, _ = simulate(n=1500)
    m = fit_quietly(HSMM(Gaussian(), 3, duration=duration, max_duration=40, n_iter=12,
                         tol=0.0, random_state=0), X, [700, 800])
    history = np.array(m.monitor_.history)
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))
    assert m.durations_.shape == (3, 40)
    np.testing.assert_allclose(m.score(X, [700, 800]), history[-1], rtol=1e-9)


def test_save_load_round_trip(tmp_path):
    X, _ = simulate(n=400)
    m = fit_quietly(HSMM(Gaussian(), 3, duration="negative_binomial", max_duration=30,
                         n_iter=3, random_state=0), X)
    path = tmp_path / "hsmm.emkit"
    m.save(path)
    back = persistence.load(path)
    np.testing.assert_array_equal(back.durations_, m.durations_)
    assert back.score(X) == m.score(X)
    np.testing.assert_array_equal(back.predict(X), m.predict(X))


def test_aic_bic_count_the_duration_parameters():
    X, _ = simulate(n=400)
    m = fit_quietly(HSMM(Gaussian(), 3, max_duration=30, n_iter=2, random_state=0), X)
    p = 2 + 3 * 1 + 3 + 3 * 2  # start, transitions (zero diagonal), rates, mean + variance
    np.testing.assert_allclose(m.aic(X), -2 * m.score(X) + 2 * p, rtol=1e-12)
    np.testing.assert_allclose(m.bic(X), -2 * m.score(X) + np.log(400) * p, rtol=1e-12)


def test_bad_input_raises_clear_errors():
    X = np.random.default_rng(0).normal(size=(20, 1))
    with pytest.raises(ValueError, match="max_duration"):
        HSMM(Gaussian(), 2, max_duration=0).fit(X)
    with pytest.raises(ValueError, match="duration must be one of"):
        HSMM(Gaussian(), 2, duration="weibull").fit(X)
    with pytest.raises(ValueError, match="lengths sum to"):
        HSMM(Gaussian(), 2).fit(X, [5, 5])
    m = HSMM(Gaussian(), 2, init_params="de")
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.array([[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="zero diagonal"):
        m.fit(X)


def test_missing_frames_are_marginalized_as_in_the_enumeration():
    rng = np.random.default_rng(5)
    m, means = hand_model(2, 4, rng)
    X = rng.normal(size=(6, 1))
    X[2] = np.nan
    lf = frame_logs(np.nan_to_num(X), means)
    lf[2] = 0.0  # a missing frame: density 1 under every state
    ll, _, best_path, _ = enumerate_segmentations(lf, m.startprob_, m.transmat_,
                                                  m.durations_)
    np.testing.assert_allclose(m.score(X), ll, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(m.predict(X), best_path)


def test_chunked_e_step_and_fit_equal_in_memory():
    import emkit
    from emkit.backends import ChunkedModel

    X, _ = simulate(n=900)
    lengths = np.array([200, 150, 300, 250])
    m = fit_quietly(HSMM(Gaussian(), 3, duration="negative_binomial", max_duration=30,
                         n_iter=2, random_state=0), X, lengths)
    data = m._sequences(X, lengths)
    init = m._current_params()
    model = m._model(X, init, total_rows=len(X))
    stats, loglik = model.e_step(data, init)
    c_stats, c_loglik = ChunkedModel(model, 320).e_step(data, init)
    for key in ("start", "trans", "durations", "anchor"):
        np.testing.assert_allclose(c_stats[key], stats[key], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c_loglik, loglik, rtol=1e-12)
    # a whole fit, with Poisson durations (the negative binomial's r drifts along a flat
    # ridge towards the Poisson limit, where rounding moves the optimizer's stopping point)
    m.set_params(duration="poisson")
    init["duration"] = np.full((3, 1), 5.0)
    model = m._model(X, init, total_rows=len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        whole = emkit.em(model, data, init, tol=0.0, max_iter=5)
        chunked = emkit.em(ChunkedModel(model, 320), data, init, tol=0.0, max_iter=5)
    np.testing.assert_allclose(chunked.params["duration"], whole.params["duration"],
                               rtol=1e-8)
    np.testing.assert_allclose(chunked.params["transmat"], whole.params["transmat"],
                               rtol=1e-8, atol=1e-12)
