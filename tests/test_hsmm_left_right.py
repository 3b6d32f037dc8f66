"""Left-right HSMMs: a terminal state (an all-zero row of ``transmat_``).

A terminal state has nowhere to go, so its segment can only be the last one, which
is right-censored as every last segment is (probability ``P(duration >= observed)``).
The enumeration below writes that rule out on its own (it never multiplies by the
zero row), over the segmentations of a left-right chain: states in chain order.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

import emkit
from emkit import persistence
from emkit.distributions import Gaussian
from emkit.estimators.hsmm import HSMM
from emkit.models.hmm.semi_markov_recursions import hsmm_forward_backward

LEFT_RIGHT = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
MEANS = (0.0, 4.0, 8.0)


def chain_segmentations(T, K):
    """Every (states, lengths) of a left-right chain 0 -> 1 -> ... over T frames."""
    for n_seg in range(1, min(K, T) + 1):
        for cuts in itertools.combinations(range(1, T), n_seg - 1):
            bounds = (0, *cuts, T)
            yield tuple(range(n_seg)), [b - a for a, b in itertools.pairwise(bounds)]


def enumerate_left_right(lf, pmf, terminal):
    """(log-likelihood, best log-probability, best path, posteriors, counts) by brute force.

    ``terminal[j]``: state j ends the chain; its segment must be the sequence's last.
    """
    T, K = lf.shape
    dmax = pmf.shape[1]
    surv = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    items = []
    for states, segs in chain_segmentations(T, K):
        if max(segs) > dmax or any(terminal[s] for s in states[:-1]):
            continue
        p = surv[states[-1], segs[-1] - 1]
        for s, d in zip(states[:-1], segs[:-1], strict=True):
            p *= pmf[s, d - 1]  # the chain's transition probabilities are all 1
        if p <= 0:
            continue
        path = np.repeat(states, segs)
        items.append((np.log(p) + lf[np.arange(T), path].sum(), path, states, segs))
    if not items:
        return -np.inf, -np.inf, None, None, None
    ll = logsumexp([i[0] for i in items])
    best = max(items, key=lambda i: i[0])
    gamma = np.zeros((T, K))
    counts = {"start": np.zeros(K), "trans": np.zeros((K, K)),
              "durations": np.zeros((K, dmax)), "censored": np.zeros((K, dmax))}
    for lp, path, states, segs in items:
        w = np.exp(lp - ll)
        gamma[np.arange(T), path] += w
        counts["start"][states[0]] += w
        for a, b in itertools.pairwise(states):
            counts["trans"][a, b] += w
        for s, d in zip(states[:-1], segs[:-1], strict=True):
            counts["durations"][s, d - 1] += w
        counts["censored"][states[-1], segs[-1] - 1] += w
    return ll, best[0], best[1], gamma, counts


def left_right_model(dmax, table=None, rates=(3.0, 6.0, 10.0)):
    duration = "poisson" if table is None else "nonparametric"
    m = HSMM([Gaussian(mean=[mu], covariance=[[1.0]]) for mu in MEANS], 3,
             duration=duration, max_duration=dmax, init_params="")
    m.startprob_ = np.array([1.0, 0.0, 0.0])
    m.transmat_ = LEFT_RIGHT.copy()
    m.duration_params_ = (np.array(rates)[:, None] if table is None else table)
    m.emissions_ = list(m.emission)
    m.n_features_in_ = 1
    m._set_state(m._get_state())  # fills durations_ and max_duration_
    return m


@pytest.mark.parametrize("T,dmax", [(1, 3), (2, 2), (4, 3), (5, 2), (6, 2), (6, 7), (7, 3),
                                    (7, 4)])
def test_score_posteriors_viterbi_and_counts_equal_enumeration(T, dmax):
    rng = np.random.default_rng(100 * T + dmax)
    m = left_right_model(dmax, table=rng.dirichlet(np.ones(dmax), size=3))
    X = rng.normal(size=(T, 1)) * 3.0 + np.linspace(0, 8, T)[:, None]
    lf = norm.logpdf(X, loc=np.asarray(MEANS)[None, :], scale=1.0)
    ll, best, best_path, gamma, counts = enumerate_left_right(
        lf, m.durations_, [False, False, True])
    np.testing.assert_allclose(m.score(X), ll, rtol=0, atol=1e-10)
    score, post = m.score_samples(X)
    np.testing.assert_allclose(score, ll, rtol=0, atol=1e-10)
    np.testing.assert_allclose(post, gamma, rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.predict_proba(X), gamma, rtol=0, atol=1e-10)
    logprob, path = m.decode(X)
    np.testing.assert_allclose(logprob, best, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(path, best_path)
    np.testing.assert_array_equal(m.predict(X), best_path)
    out = hsmm_forward_backward(lf, np.array([0, T]), m.startprob_, m.transmat_,
                                np.log(m.durations_))
    for key, value in counts.items():
        np.testing.assert_allclose(out[key], value, rtol=0, atol=1e-10)


def test_poisson_left_right_equals_enumeration_on_two_sequences():
    m = left_right_model(5)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(12, 1)) + np.r_[np.linspace(0, 8, 7), np.linspace(0, 8, 5)][:, None]
    lf = norm.logpdf(X, loc=np.asarray(MEANS)[None, :], scale=1.0)
    want = [enumerate_left_right(lf[a:b], m.durations_, [False, False, True])
            for a, b in ((0, 7), (7, 12))]
    np.testing.assert_allclose(m.score(X, [7, 5]), want[0][0] + want[1][0], rtol=0,
                               atol=1e-10)
    np.testing.assert_allclose(m.predict_proba(X, [7, 5]),
                               np.vstack([want[0][3], want[1][3]]), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(m.predict(X, [7, 5]), np.r_[want[0][2], want[1][2]])


def test_a_sequence_the_chain_cannot_cover_is_a_clear_error():
    m = left_right_model(2, table=np.full((3, 2), 0.5))
    X = np.zeros((7, 1))  # three states of at most 2 frames: at most 6 frames
    assert enumerate_left_right(np.zeros((7, 3)), m.durations_, [False, False, True])[0] \
        == -np.inf
    assert m.score(X) == -np.inf
    for method in (m.predict, m.predict_proba, m.decode, m.score_samples):
        with pytest.raises(ValueError, match="7 rows from row 0 has probability zero"):
            method(X)
    with pytest.raises(ValueError, match="7 rows from row 6 has probability zero"):
        m.predict(np.zeros((13, 1)), [6, 7])
    fit = HSMM(Gaussian(), 3, duration="nonparametric", max_duration=2, init_params="e")
    fit.startprob_, fit.transmat_ = m.startprob_, m.transmat_
    fit.duration_params_ = m.duration_params_
    with pytest.raises(ValueError, match="probability zero"):
        fit.fit(np.random.default_rng(0).normal(size=(13, 1)), [6, 7])


def test_sample_runs_a_terminal_state_to_the_end():
    m = left_right_model(4, rates=(1.0, 1.0, 1.0))
    for seed in range(20):
        _, states = m.sample(25, random_state=seed)
        assert states[0] == 0
        assert np.all(np.diff(states) >= 0) and np.all(np.diff(states) <= 1)
        assert states[-1] == 2  # at most 4 + 4 frames in states 0 and 1
        assert np.sum(states < 2) <= 8
    one = HSMM(Gaussian(mean=[0.0], covariance=[[1.0]]), 1, max_duration=3, init_params="")
    one.startprob_, one.transmat_ = np.ones(1), np.zeros((1, 1))
    one.duration_params_, one.emissions_, one.n_features_in_ = np.ones((1, 1)), [one.emission], 1
    assert one.sample(10, random_state=0)[0].shape == (10, 1)


def simulate_left_right(n_seq=200, seed=0):
    truth = left_right_model(60, rates=(3.0, 6.0, 30.0))
    rng = np.random.default_rng(seed)
    lengths = rng.integers(30, 46, size=n_seq)
    parts = [truth.sample(int(n), random_state=int(s))
             for n, s in zip(lengths, rng.integers(0, 2**31, size=n_seq), strict=True)]
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), lengths


def fit_left_right(X, lengths, **kwargs):
    m = HSMM([Gaussian(mean=[mu], covariance=[[2.0]]) for mu in (1.0, 3.0, 7.0)], 3,
             duration="poisson", max_duration=60, init_params="", n_iter=60, tol=1e-6,
             random_state=0, **kwargs)
    m.startprob_ = np.array([1.0, 0.0, 0.0])
    m.transmat_ = LEFT_RIGHT.copy()
    m.duration_params_ = np.full((3, 1), 8.0)
    m.emissions_ = list(m.emission)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.fit(X, lengths)


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_recovers_poisson_durations_and_keeps_the_left_right_structure(accelerate):
    X, states, lengths = simulate_left_right()
    m = fit_left_right(X, lengths, accelerate=accelerate)
    # 200 complete segments per non-terminal state: the rate's standard error is
    # sqrt(rate / 200) (0.12 and 0.17); allow four of them
    rates = m.duration_params_[:2, 0]
    tolerance = 4 * np.sqrt(np.array([3.0, 6.0]) / 200)
    assert np.all(np.abs(rates - [3.0, 6.0]) <= tolerance), rates
    # the terminal state is only ever seen censored: its rate grows towards the bound,
    # finite, with the mass of its durations at the longest ones
    assert np.isfinite(m.duration_params_[2, 0]) and m.duration_params_[2, 0] > 30.0
    np.testing.assert_array_equal(m.startprob_, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(m.transmat_, LEFT_RIGHT)
    assert not np.any(np.isnan(m.predict_proba(X, lengths)))
    assert np.mean(m.predict(X, lengths) == states) > 0.99
    history = np.array(m.monitor_.history)
    assert np.all(np.isfinite(history))
    if accelerate is None:
        assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))


def test_m_step_keeps_a_terminal_row_all_zero_without_nan():
    X, _, lengths = simulate_left_right(n_seq=10)
    m = fit_left_right(X, lengths)
    model = m._model(X, m._current_params())
    stats, _ = model.e_step(m._sequences(X, lengths), m._current_params())
    assert np.all(stats["trans"][2] == 0)
    out = model.m_step(stats)
    np.testing.assert_array_equal(out["transmat"], LEFT_RIGHT)
    assert model.is_feasible(out)
    bad = dict(out, transmat=np.array([[0, 1.0, 0], [0, 0, 1.0], [0.5, 0.5, 0]]))
    assert not model.is_feasible(bad)


def test_save_load_round_trip(tmp_path):
    X, _, lengths = simulate_left_right(n_seq=10)
    m = fit_left_right(X, lengths)
    path = tmp_path / "left_right.emkit"
    m.save(path)
    back = persistence.load(path)
    np.testing.assert_array_equal(back.transmat_, LEFT_RIGHT)
    np.testing.assert_array_equal(back.startprob_, m.startprob_)
    assert back.score(X, lengths) == m.score(X, lengths)
    np.testing.assert_array_equal(back.predict(X, lengths), m.predict(X, lengths))


def test_transmat_rows_must_sum_to_one_or_be_all_zero():
    X = np.random.default_rng(0).normal(size=(20, 1))
    # a fixed start: some k-means starts put one state on the outlier row alone (variance
    # 1e-6), and then no left-right segmentation of these 20 rows has any probability,
    # which fit reports as such (2 of 60 seeds)
    m = HSMM(Gaussian(), 3, max_duration=10, init_params="de", random_state=0)
    m.startprob_ = np.array([1.0, 0.0, 0.0])
    m.transmat_ = np.array([[0, 1.0, 0], [0, 0, 0.5], [0, 0, 0]])
    with pytest.raises(ValueError, match="or all zero for a terminal state"):
        m.fit(X)
    m.transmat_ = np.array([[0, 1.0, 0], [0, 0, 1.0], [0, -0.0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X)  # accepted: a terminal last state
    np.testing.assert_array_equal(m.transmat_[2], 0.0)
    m.startprob_ = np.zeros(3)
    with pytest.raises(ValueError, match="startprob_ must be non-negative"):
        m.fit(X)


def test_aic_bic_count_no_free_transitions_in_a_chain():
    X, _, lengths = simulate_left_right(n_seq=10)
    m = fit_left_right(X, lengths)
    p = 0 + 0 + 3 + 3 * 2  # start and transitions fixed by the zeros, rates, mean + variance
    score = m.score(X, lengths)
    np.testing.assert_allclose(m.bic(X, lengths), -2 * score + np.log(len(X)) * p, rtol=1e-12)
    np.testing.assert_allclose(m.aic(X, lengths), -2 * score + 2 * p, rtol=1e-12)


LEFT_RIGHT_FILLED = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def test_zeros_reached_by_em_are_still_counted_as_free(tmp_path):
    """Only the start's zeros are structure: a full chain keeps hmmlearn's K - 1 and
    K (K - 2) even where the fitted probabilities came out zero, and a save/load keeps
    the count."""
    X, _, lengths = simulate_left_right(n_seq=10)
    m = HSMM(Gaussian(), 3, duration="poisson", max_duration=60, random_state=0, n_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X, lengths)
    full = m._n_fit_scalars_per_param(1)
    assert (full["s"], full["t"]) == (2, 3)
    m.startprob_ = np.array([1.0, 0.0, 0.0])  # as if EM had driven them to zero
    m.transmat_ = LEFT_RIGHT_FILLED.copy()
    assert m._n_fit_scalars_per_param(1) == full
    chain = fit_left_right(X, lengths)
    counts = chain._n_fit_scalars_per_param(1)
    assert (counts["s"], counts["t"]) == (0, 0)
    chain.save(tmp_path / "chain.emkit")
    back = emkit.load(tmp_path / "chain.emkit")
    assert back._n_fit_scalars_per_param(1) == counts
    np.testing.assert_allclose(back.bic(X, lengths), chain.bic(X, lengths), rtol=1e-12)


def test_labels_against_the_chain_order_are_a_clear_error():
    X, _, lengths = simulate_left_right(n_seq=3)
    labels = np.full(len(X), -1)
    labels[0] = 2  # a chain starts in state 0
    m = HSMM([Gaussian(mean=[mu], covariance=[[2.0]]) for mu in MEANS], 3,
             duration="poisson", max_duration=60, init_params="", n_iter=2)
    m.startprob_, m.transmat_ = np.array([1.0, 0.0, 0.0]), LEFT_RIGHT.copy()
    m.duration_params_, m.emissions_ = np.full((3, 1), 8.0), list(m.emission)
    with pytest.raises(ValueError, match=r"probability zero.*labels or priors"):
        m.fit(X, lengths, labels=labels)
