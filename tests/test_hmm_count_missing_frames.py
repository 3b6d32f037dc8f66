"""Count-family HMMs with wholly missing frames, against a forward recursion written here.

A frame with nothing observed has probability 1 under every state (it contributes
only its transition); the Poisson and Multinomial emissions take a compiled path
for such blocks, checked here against scipy's log-masses and a plain log-space
forward-backward.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import logsumexp

import emkit
from emkit.distributions import Multinomial, Poisson

START = np.array([0.6, 0.4])
TRANS = np.array([[0.85, 0.15], [0.25, 0.75]])
LENGTHS = [7, 9]


def _forward_backward(log_b, lengths):
    """Log-likelihood and state posteriors of each sequence, summed / stacked."""
    total, posts, lo = 0.0, [], 0
    log_a = np.log(TRANS)
    for n in lengths:
        b = log_b[lo:lo + n]
        alpha = np.empty_like(b)
        beta = np.zeros_like(b)
        alpha[0] = np.log(START) + b[0]
        for t in range(1, n):
            alpha[t] = logsumexp(alpha[t - 1][:, None] + log_a, axis=0) + b[t]
        for t in range(n - 2, -1, -1):
            beta[t] = logsumexp(log_a + (b[t + 1] + beta[t + 1])[None, :], axis=1)
        ll = logsumexp(alpha[-1])
        total += ll
        posts.append(np.exp(alpha + beta - ll))
        lo += n
    return total, np.vstack(posts)


def _with_holes(X):
    X = X.astype(float)
    X[[0, 3, 4, 12]] = np.nan  # a sequence's first frame, a gap of two, one more
    return X


def test_poisson_hmm_missing_frames():
    rates = np.array([[2.0, 7.0], [9.0, 1.5]])
    X = _with_holes(np.random.default_rng(1).poisson(4.0, size=(16, 2)))
    model = emkit.HMM([Poisson(rate=r) for r in rates], 2, init_params="")
    model.startprob_, model.transmat_ = START, TRANS
    log_b = np.zeros((16, 2))
    seen = ~np.isnan(X).any(axis=1)
    for k in range(2):
        log_b[seen, k] = sps.poisson.logpmf(X[seen], rates[k]).sum(axis=1)
    ll, post = _forward_backward(log_b, LENGTHS)
    assert model.score(X, LENGTHS) == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(model.predict_proba(X, LENGTHS), post, rtol=1e-9, atol=1e-12)


def test_multinomial_hmm_missing_frames():
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    X = _with_holes(np.random.default_rng(2).multinomial(5, [0.3, 0.3, 0.4], size=16))
    model = emkit.HMM([Multinomial(probs=p) for p in probs], 2, init_params="")
    model.startprob_, model.transmat_ = START, TRANS
    log_b = np.zeros((16, 2))
    seen = ~np.isnan(X).any(axis=1)
    for k in range(2):
        log_b[seen, k] = sps.multinomial.logpmf(X[seen], 5, probs[k])
    ll, post = _forward_backward(log_b, LENGTHS)
    assert model.score(X, LENGTHS) == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(model.predict_proba(X, LENGTHS), post, rtol=1e-9, atol=1e-12)


def test_a_partly_observed_count_frame_is_refused():
    X = np.random.default_rng(3).poisson(4.0, size=(10, 2)).astype(float)
    X[2, 0] = np.nan
    with pytest.raises(ValueError, match="Independent"):
        emkit.HMM(Poisson(), 2, random_state=0).fit(X)
