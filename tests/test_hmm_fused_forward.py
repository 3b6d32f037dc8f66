"""The scaled forward pass's log-likelihood when the scale factors are very small or large.

The compiled forward-backward takes the logarithm of running products of the
per-row scale factors (not one per row); rows whose factors are tiny, huge or
in between must give the log-space reference's log-likelihood, posteriors and
transition counts (:func:`emkit.models.hmm.recursions_reference.forward_backward_reference`,
which works on log-probabilities and never forms a product). Multiplying a row's
emission probabilities by ``s`` adds ``log s`` to the log-likelihood and leaves the
posteriors and counts as they are, so the reference runs on the unscaled rows
(where its own log-space sums keep full precision) and the expected values follow
from it in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

from emkit.models.hmm.recursions import forward_backward, forward_loglik
from emkit.models.hmm.recursions_reference import forward_backward_reference
from emkit.numerics import parallel

LENGTHS = (1, 2, 300, 57, 1000)


@pytest.fixture(params=["serial", "parallel"])
def mode(request, monkeypatch):
    if request.param == "parallel":
        monkeypatch.setattr(parallel, "PARALLEL_MIN_ROWS", 0)
    return request.param


def _chain(k: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k), size=k)


@pytest.mark.parametrize("row_scale", [1.0, 1e-30, 1e-139, 1e-141, 1e-250, 1e120, 1e145])
def test_loglik_and_posteriors_for_any_scale(row_scale, mode):
    """Frames given directly (``shift = 0``) with every row times ``row_scale``, so each
    scale factor is about ``row_scale``: products under 1e-140, factors that skip the
    product, and factors above one."""
    k = 6
    rng = np.random.default_rng(1)
    n = sum(LENGTHS)
    offsets = np.concatenate([[0], np.cumsum(LENGTHS)]).astype(np.int64)
    frame = rng.uniform(0.05, 1.0, size=(n, k)) * row_scale
    frame[::7, 2] = 0.0  # some impossible states on some rows
    startprob, transmat = _chain(k, 2)
    weights = np.linspace(0.5, 2.0, len(LENGTHS))
    with np.errstate(divide="ignore"):
        log_frame = np.log(frame / row_scale)
    ref_ll, ref_gamma, ref_xi = forward_backward_reference(log_frame, offsets, startprob,
                                                           transmat, weights)
    ref_ll = ref_ll + np.asarray(LENGTHS) * np.log(row_scale)
    logliks, gamma, xi = forward_backward(None, offsets, startprob, transmat, frame=frame,
                                          shift=np.zeros(n), weights=weights)
    np.testing.assert_allclose(logliks, ref_ll, rtol=1e-12)
    np.testing.assert_allclose(gamma, ref_gamma, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(xi, ref_xi, rtol=1e-10, atol=1e-12)
    only = forward_loglik(None, offsets, startprob, transmat, frame=frame, shift=np.zeros(n))
    np.testing.assert_allclose(only, ref_ll, rtol=1e-12)


def test_mixed_scales_within_one_sequence(mode):
    """Factors from 1e-300 to 1 in one long sequence: the running product is cut
    before it can underflow, whatever the order."""
    k = 4
    rng = np.random.default_rng(3)
    n = 2000
    offsets = np.array([0, n], dtype=np.int64)
    scales = 10.0 ** rng.uniform(-300, 0, size=n)
    frame = rng.uniform(0.1, 1.0, size=(n, k)) * scales[:, None]
    startprob, transmat = _chain(k, 4)
    ref_ll, ref_gamma, _ = forward_backward_reference(np.log(frame / scales[:, None]), offsets,
                                                      startprob, transmat, np.ones(1))
    ref_ll = ref_ll + np.log(scales).sum()
    logliks, gamma, _ = forward_backward(None, offsets, startprob, transmat, frame=frame,
                                         shift=np.zeros(n))
    assert np.isfinite(logliks[0])
    np.testing.assert_allclose(logliks, ref_ll, rtol=1e-12)
    np.testing.assert_allclose(gamma, ref_gamma, rtol=1e-10, atol=1e-13)


def test_impossible_sequence_is_minus_inf_with_zero_posteriors(mode):
    """A row where every state is impossible: -inf, zero posteriors and counts, and the
    other sequences unaffected."""
    k = 3
    rng = np.random.default_rng(5)
    offsets = np.array([0, 50, 120], dtype=np.int64)
    frame = rng.uniform(0.1, 1.0, size=(120, k))
    frame[80] = 0.0
    startprob, transmat = _chain(k, 6)
    logliks, gamma, xi = forward_backward(None, offsets, startprob, transmat, frame=frame,
                                          shift=np.zeros(120))
    ref_ll, ref_gamma, ref_xi = forward_backward_reference(np.log(frame[:50]), offsets[:2],
                                                           startprob, transmat, np.ones(1))
    assert logliks[1] == -np.inf
    np.testing.assert_allclose(logliks[0], ref_ll[0], rtol=1e-12)
    assert not gamma[50:].any()
    np.testing.assert_allclose(gamma[:50], ref_gamma, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(xi, ref_xi, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 8, 16, 17, 24, 32, 40])
def test_every_state_count_matches_reference(k, mode):
    """The vector-matrix products generated for K = 8, 16, 24, 32
    (:mod:`emkit.models.hmm.vec_mat`) and the loop for other K give the reference's
    log-likelihoods, posteriors and counts."""
    rng = np.random.default_rng(k)
    lengths = (1, 5, 400)
    n = sum(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    log_frame = rng.normal(scale=4.0, size=(n, k))
    startprob, transmat = _chain(k, k + 1)
    ref_ll, ref_gamma, ref_xi = forward_backward_reference(log_frame, offsets, startprob,
                                                           transmat, np.ones(len(lengths)))
    logliks, gamma, xi = forward_backward(log_frame, offsets, startprob, transmat)
    np.testing.assert_allclose(logliks, ref_ll, rtol=1e-12)
    np.testing.assert_allclose(gamma, ref_gamma, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(xi, ref_xi, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("k", [8, 16, 24, 32, 5])
def test_vec_mat_is_the_matrix_product(k):
    from numba import njit

    from emkit.models.hmm.vec_mat import vec_mat

    @njit
    def product(v, m):
        out = np.full(v.shape[0] + 2, -7.0)  # entries past K must stay untouched
        vec_mat(v, m, out)
        return out

    rng = np.random.default_rng(k)
    v, m = rng.random(k), rng.random((k, k))
    out = product(v, m)
    np.testing.assert_allclose(out[:k], v @ m, rtol=1e-14)
    assert (out[k:] == -7.0).all()
