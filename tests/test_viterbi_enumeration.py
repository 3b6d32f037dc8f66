"""HMM decoding, scoring and sampling against an enumeration of every state path.

A 3-state Gaussian HMM on sequences of 6 rows has 3^6 = 729 state paths: the joint
log-probability of each is written out here from the parameters (scipy's normal
density), so the Viterbi path is the argmax, the log-likelihood the log-sum-exp and
the posteriors the normalized sums over paths, with no recursion in the reference.
Sampling is checked against the parameters within 5 standard errors.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as ss
from scipy.special import logsumexp

import emkit

K, T = 3, 6
STARTPROB = np.array([0.5, 0.3, 0.2])
TRANSMAT = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.25, 0.25, 0.5]])
MEANS = np.array([[0.0], [1.2], [2.5]])
VARS = np.array([0.8, 0.5, 1.1])


def model():
    hmm = emkit.GaussianHMM(K, covariance_type="spherical", init_params="")
    hmm.startprob_, hmm.transmat_ = STARTPROB, TRANSMAT
    hmm.means_, hmm.covars_ = MEANS, VARS
    return hmm


def path_log_probs(x):
    """{path: log p(path, x)} over all K^len(x) paths of one sequence."""
    emission = ss.norm(MEANS[:, 0], np.sqrt(VARS)).logpdf(x[:, None])  # (T, K)
    out = {}
    for path in itertools.product(range(K), repeat=len(x)):
        lp = np.log(STARTPROB[path[0]]) + emission[0, path[0]]
        for t in range(1, len(x)):
            lp += np.log(TRANSMAT[path[t - 1], path[t]]) + emission[t, path[t]]
        out[path] = lp
    return out


def sequences(seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(1.0, 1.5, size=T), rng.normal(1.0, 1.5, size=T - 2)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_is_the_most_probable_of_all_paths(seed):
    seqs = sequences(seed)
    X, lengths = np.concatenate(seqs)[:, None], [len(s) for s in seqs]
    logprob, path = model().decode(X, lengths, algorithm="viterbi")
    best_paths, best_total = [], 0.0
    for s in seqs:
        table = path_log_probs(s)
        best = max(table, key=table.get)
        best_paths.extend(best)
        best_total += table[best]
    np.testing.assert_array_equal(path, best_paths)
    assert logprob == pytest.approx(best_total, rel=1e-12)
    np.testing.assert_array_equal(model().predict(X, lengths), best_paths)


@pytest.mark.parametrize("seed", [0, 3])
def test_score_and_posteriors_are_sums_over_all_paths(seed):
    seqs = sequences(seed)
    X, lengths = np.concatenate(seqs)[:, None], [len(s) for s in seqs]
    total, posteriors = 0.0, []
    for s in seqs:
        table = path_log_probs(s)
        paths = np.array(list(table))
        lp = np.array(list(table.values()))
        norm = logsumexp(lp)
        total += norm
        weight = np.exp(lp - norm)
        posteriors.append(np.stack([[weight[paths[:, t] == k].sum() for k in range(K)]
                                    for t in range(len(s))]))
    hmm = model()
    assert hmm.score(X, lengths) == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(hmm.predict_proba(X, lengths), np.concatenate(posteriors),
                               rtol=1e-10, atol=1e-14)
    _, path = hmm.decode(X, lengths, algorithm="map")
    np.testing.assert_array_equal(path, np.concatenate(posteriors).argmax(axis=1))


def test_sampled_states_and_emissions_follow_the_parameters():
    n = 40_000
    X, states = model().sample(n, random_state=0)
    # the first state of one long chain, then its transitions: each row of the
    # transition counts is multinomial given the visits
    pairs = np.zeros((K, K))
    np.add.at(pairs, (states[:-1], states[1:]), 1.0)
    visits = pairs.sum(axis=1)
    se = np.sqrt(TRANSMAT * (1 - TRANSMAT) / visits[:, None])
    assert np.all(np.abs(pairs / visits[:, None] - TRANSMAT) < 5 * se)
    # the emissions given the state: mean and variance within 5 standard errors
    for k in range(K):
        x = X[states == k, 0]
        assert abs(x.mean() - MEANS[k, 0]) < 5 * np.sqrt(VARS[k] / len(x))
        assert abs(x.var(ddof=1) - VARS[k]) < 5 * VARS[k] * np.sqrt(2 / (len(x) - 1))
    # the chain's long-run state frequencies: the stationary distribution
    values, vectors = np.linalg.eig(TRANSMAT.T)
    stationary = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    stationary /= stationary.sum()
    np.testing.assert_allclose(np.bincount(states, minlength=K) / n, stationary, atol=0.02)
