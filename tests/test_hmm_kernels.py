"""Compiled HMM kernels against their NumPy references; long and degenerate sequences.

The first run of this file compiles the kernels (tens of seconds); numba's
cache makes later runs load them in about a second.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from emkit.gaussian import component_kernels as gk
from emkit.gaussian.reference import log_gaussian_density, precision_cholesky
from emkit.models.hmm import recursions as hk
from emkit.numerics import parallel
from emkit.numerics.counts import weighted_code_counts


def _problem(seed: int, k: int = 4, lengths=(5, 1, 30, 12, 2)):
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    log_frame = rng.normal(scale=3.0, size=(offsets[-1], k))
    startprob = rng.dirichlet(np.ones(k))
    transmat = rng.dirichlet(np.ones(k), size=k)
    return log_frame, offsets, startprob, transmat


@pytest.fixture(params=["serial", "parallel"])
def mode(request, monkeypatch):
    """Run a test with the serial kernels and again with the parallel ones."""
    if request.param == "parallel":
        monkeypatch.setattr(parallel, "PARALLEL_MIN_ROWS", 0)
    return request.param


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forward_backward_matches_reference(seed, mode):
    args = _problem(seed)
    logliks, gamma, xi = hk.forward_backward(*args)
    ref_ll, ref_gamma, ref_xi = hk.forward_backward_reference(*args)
    np.testing.assert_allclose(logliks, ref_ll, rtol=1e-12)
    np.testing.assert_allclose(gamma, ref_gamma, atol=1e-12)
    np.testing.assert_allclose(xi, ref_xi, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gamma.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(hk.forward_loglik(*args), ref_ll, rtol=1e-12)


def test_weighted_forward_backward_counts_each_sequence_its_weight(mode):
    """Per-sequence weights inside the kernel: the unweighted posteriors and counts times
    each sequence's weight, and an integer weight the same as the sequence repeated."""
    log_frame, offsets, startprob, transmat = _problem(7)
    weights = np.array([2.0, 0.0, 0.37, 3.0, 1.0])
    logliks, gamma, xi = hk.forward_backward(log_frame, offsets, startprob, transmat,
                                             weights=weights)
    ref_ll, ref_gamma, _ = hk.forward_backward_reference(log_frame, offsets, startprob,
                                                              transmat)
    rows = np.repeat(weights, np.diff(offsets))
    np.testing.assert_allclose(logliks, ref_ll, rtol=1e-12)  # not weighted
    np.testing.assert_allclose(gamma, rows[:, None] * ref_gamma, atol=1e-12)
    per_sequence = [hk.forward_backward_reference(log_frame[a:b], np.array([0, b - a]),
                                                  startprob, transmat)[2]
                    for a, b in itertools.pairwise(offsets)]
    np.testing.assert_allclose(xi, sum(w * x for w, x in zip(weights, per_sequence,
                                                              strict=True)),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xi, hk.forward_backward_reference(
        log_frame, offsets, startprob, transmat, weights)[2], rtol=1e-10, atol=1e-12)
    # weight 3 on sequence 3 equals three copies of it
    a, b = offsets[3], offsets[4]
    copies = np.concatenate([log_frame[a:b]] * 3)
    _, _, xi3 = hk.forward_backward(copies, np.arange(4) * (b - a), startprob, transmat)
    _, _, xi1 = hk.forward_backward(log_frame[a:b], np.array([0, b - a]), startprob, transmat,
                                    weights=np.array([3.0]))
    np.testing.assert_allclose(xi1, xi3, rtol=1e-12)
    with pytest.raises(ValueError, match="weights"):
        hk.forward_backward(log_frame, offsets, startprob, transmat, weights=np.ones(3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_matches_reference(seed, mode):
    args = _problem(seed, k=5)
    logprobs, states = hk.viterbi(*args)
    ref_lp, ref_states = hk.viterbi_reference(*args)
    np.testing.assert_allclose(logprobs, ref_lp, rtol=1e-12)
    np.testing.assert_array_equal(states, ref_states)


def test_viterbi_ties_go_to_the_lowest_state():
    log_frame = np.zeros((4, 3))
    offsets = np.array([0, 4])
    _, states = hk.viterbi(log_frame, offsets, np.full(3, 1 / 3), np.full((3, 3), 1 / 3))
    np.testing.assert_array_equal(states, [0, 0, 0, 0])


def test_structural_zeros_give_exact_zeros_not_nan():
    log_frame, offsets, startprob, transmat = _problem(3)
    startprob[2] = 0.0
    startprob /= startprob.sum()
    transmat[:, 2] = 0.0
    transmat /= transmat.sum(axis=1, keepdims=True)
    logliks, gamma, xi = hk.forward_backward(log_frame, offsets, startprob, transmat)
    assert np.all(np.isfinite(logliks))
    assert np.all(gamma[:, 2] == 0.0) and np.all(xi[:, 2] == 0.0) and np.all(xi[2] == 0.0)
    ref = hk.forward_backward_reference(log_frame, offsets, startprob, transmat)
    np.testing.assert_allclose(logliks, ref[0], rtol=1e-12)
    np.testing.assert_allclose(gamma, ref[1], atol=1e-12)


def test_impossible_sequence_gives_minus_inf_and_zero_counts(mode):
    log_frame, offsets, startprob, transmat = _problem(4)
    log_frame[offsets[2] + 3] = -np.inf  # every state impossible at one step of sequence 2
    logliks, gamma, xi = hk.forward_backward(log_frame, offsets, startprob, transmat)
    assert logliks[2] == -np.inf
    assert np.all(np.isfinite(np.delete(logliks, 2)))
    assert np.all(gamma[offsets[2]:offsets[3]] == 0.0)
    assert np.all(np.isfinite(gamma)) and np.all(np.isfinite(xi))
    assert hk.forward_loglik(log_frame, offsets, startprob, transmat)[2] == -np.inf


def test_million_step_sequence():
    """Scaling keeps a 1,000,000-step sequence finite; the log-likelihood is additive."""
    rng = np.random.default_rng(5)
    n = 1_000_000
    log_frame = rng.normal(size=(n, 2)) - 5.0  # per-step likelihoods far below 1
    offsets = np.array([0, n])
    startprob = np.array([0.6, 0.4])
    transmat = np.array([[0.9, 0.1], [0.2, 0.8]])
    logliks, gamma, xi = hk.forward_backward(log_frame, offsets, startprob, transmat)
    assert np.isfinite(logliks[0])
    assert logliks[0] <= log_frame.max(axis=1).sum()  # no path beats the best state each step
    assert hk.forward_loglik(log_frame, offsets, startprob, transmat)[0] == pytest.approx(
        logliks[0], rel=1e-12)
    assert np.all(np.isfinite(gamma))
    assert xi.sum() == pytest.approx(n - 1, rel=1e-9)
    # the same data cut in two independent halves: forward pass only on the pieces
    half = np.array([0, n // 2, n])
    split = hk.forward_loglik(log_frame, half, startprob, transmat)
    assert np.all(np.isfinite(split))
    _, path = hk.viterbi(log_frame, offsets, startprob, transmat)
    assert path.shape == (n,)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_diag_gaussian_fast_path_matches_gaussian_math(covariance_type, mode):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(500, 3)) * 4 + 100.0
    means = rng.normal(size=(4, 3)) + 100.0
    cov = rng.uniform(0.5, 2.0, size=(4, 3) if covariance_type == "diag" else 4)
    chol = precision_cholesky(cov, covariance_type)
    ref = log_gaussian_density(X, means, chol, covariance_type)
    per_feature = chol if covariance_type == "diag" else np.repeat(chol[:, None], 3, axis=1)
    values, shift = gk.diag_gaussian(X, means, per_feature)
    np.testing.assert_allclose(values, ref, rtol=1e-10)  # the reference expands squares
    assert np.all(shift == 0.0)
    frame, shift = gk.diag_gaussian(X, means, per_feature, as_frame=True)
    np.testing.assert_allclose(np.log(frame) + shift[:, None], ref, rtol=1e-10)
    np.testing.assert_allclose(frame.max(axis=1), 1.0)


def test_categorical_counts_and_frame_probabilities():
    rng = np.random.default_rng(7)
    symbols = rng.integers(0, 6, size=300).astype(np.int64)
    gamma = rng.dirichlet(np.ones(3), size=300)
    expected = np.zeros((3, 6))
    np.add.at(expected.T, symbols, gamma)
    np.testing.assert_allclose(weighted_code_counts(symbols, gamma, 6), expected, rtol=1e-12)
    log_frame = np.array([[0.0, -1.0], [-np.inf, -np.inf], [-800.0, -801.0]])
    frame, shift = hk.frame_probabilities(log_frame)
    np.testing.assert_allclose(frame, [[1.0, np.exp(-1.0)], [0.0, 0.0], [1.0, np.exp(-1.0)]])
    np.testing.assert_allclose(shift, [0.0, 0.0, -800.0])


def test_centred_diag_moments_match_reference(mode):
    from emkit.gaussian.component_kernels import (
        centred_diag_moments,
        centred_diag_moments_reference,
    )

    rng = np.random.default_rng(4)
    X = rng.normal(size=(5003, 3)) * 1e-3 + 1e8  # far from the origin: per-state centring
    gamma = rng.dirichlet(np.ones(4), size=len(X))
    gamma[:, 2] = 0.0  # a state nobody visits
    means = X[:4] + rng.normal(size=(4, 3)) * 1e-3
    got = centred_diag_moments(X, gamma, means)
    ref = centred_diag_moments_reference(X, gamma, means)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12 * np.abs(b).max())
    assert np.all(got[1][2] == 0.0) and np.all(got[0][2] == 0.0)


def test_centred_full_moments_and_full_density_match_references(mode):
    from emkit.gaussian.component_kernels import (
        centred_full_moments,
        centred_full_moments_reference,
        full_gaussian,
    )

    rng = np.random.default_rng(5)
    X = rng.normal(size=(4001, 3)) + 1e6  # far from the origin
    gamma = rng.dirichlet(np.ones(4), size=len(X))
    gamma[:, 1] = 0.0
    means = X[:4] + rng.normal(size=(4, 3))
    got = centred_full_moments(X, gamma, means)
    ref = centred_full_moments_reference(X, gamma, means)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12 * np.abs(b).max())
    np.testing.assert_array_equal(got[1], got[1].transpose(0, 2, 1))
    a = rng.normal(size=(4, 3, 3)) * 0.5
    cov = a @ a.transpose(0, 2, 1) + np.eye(3)
    prec = precision_cholesky(cov, "full")
    np.testing.assert_allclose(full_gaussian(X, means, prec),
                               log_gaussian_density(X, means, prec, "full"), rtol=1e-12)


def test_full_gaussian_frame_matches_reference(mode):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(3001, 4)) * 3 + 1e4  # far from the origin
    means = X[:5] + rng.normal(size=(5, 4))
    a = rng.normal(size=(5, 4, 4)) * 0.5
    prec = precision_cholesky(a @ a.transpose(0, 2, 1) + np.eye(4), "full")
    ref = log_gaussian_density(X, means, prec, "full")
    frame, shift = gk.full_gaussian_frame(X, means, prec)
    np.testing.assert_allclose(shift, ref.max(axis=1), rtol=1e-12)
    np.testing.assert_allclose(frame, np.exp(ref - ref.max(axis=1, keepdims=True)),
                               rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(gk.full_gaussian(X, means, prec), ref, rtol=1e-12)


def test_count_kernels_match_scipy(mode):
    from scipy import stats

    from emkit.distributions import count_kernels as ck

    rng = np.random.default_rng(9)
    X = rng.poisson(4.0, size=(2500, 3)).astype(float)
    X[:5, 0] = [0, 1023, 1024, 5000, 12]  # both sides of the log-factorial table
    rates = rng.gamma(2.0, 2.0, size=(4, 3))
    rates[1, 2] = 0.0  # a zero rate counts as the smallest positive float
    expected = np.column_stack([
        stats.poisson.logpmf(X, np.maximum(r, np.finfo(float).tiny)).sum(axis=1)
        for r in rates])
    values, shift = ck.poisson_log_prob(X, rates)
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    assert np.all(shift == 0.0)
    np.testing.assert_allclose(values, ck.poisson_log_prob_reference(X, rates), rtol=1e-12)
    frame, shift = ck.poisson_log_prob(X, rates, as_frame=True)
    top = expected.max(axis=1)
    np.testing.assert_allclose(shift, top, rtol=1e-12)
    np.testing.assert_allclose(frame, np.exp(expected - top[:, None]), rtol=1e-10, atol=1e-300)

    probs = rng.dirichlet(np.ones(3), size=4)
    probs[2] = [0.5, 0.5, 0.0]  # outcome 2 impossible in state 2
    expected = np.column_stack([stats.multinomial.logpmf(X, X.sum(axis=1), p) for p in probs])
    values, _ = ck.multinomial_log_prob(X, probs)
    np.testing.assert_array_equal(np.isneginf(values), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(values[finite], expected[finite], rtol=1e-11)
    ref = ck.multinomial_log_prob_reference(X, probs)
    np.testing.assert_allclose(values[finite], ref[finite], rtol=1e-12)
    frame, shift = ck.multinomial_log_prob(X, probs, as_frame=True)
    top = expected.max(axis=1)
    np.testing.assert_allclose(shift, top, rtol=1e-11)
    np.testing.assert_allclose(frame, np.exp(expected - top[:, None]), rtol=1e-9, atol=1e-300)
    assert np.all(frame[~finite] == 0.0)


def test_diag_gaussian_odd_rows_match_reference(mode):
    """Frames go through the density kernels in pairs: an odd count takes the tail path."""
    rng = np.random.default_rng(10)
    X = rng.normal(size=(2001, 5)) * 2 + 50.0
    means = X[:7] + rng.normal(size=(7, 5))
    cov = rng.uniform(0.5, 2.0, size=(7, 5))
    chol = precision_cholesky(cov, "diag")
    ref = log_gaussian_density(X, means, chol, "diag")
    values, _ = gk.diag_gaussian(X, means, chol)
    np.testing.assert_allclose(values, ref, rtol=1e-10)
    frame, shift = gk.diag_gaussian(X, means, chol, as_frame=True)
    np.testing.assert_allclose(shift, ref.max(axis=1), rtol=1e-12)
    np.testing.assert_allclose(frame, np.exp(ref - ref.max(axis=1, keepdims=True)),
                               rtol=1e-10, atol=1e-300)
