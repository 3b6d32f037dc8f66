"""Compiled recursions of an HMM whose transition matrix changes at every step (numba).

Row ``t`` of the arrays belongs to sequence ``s`` when
``offsets[s] <= t < offsets[s + 1]``; ``trans[t]`` (K, K) is the transition matrix
*into* row ``t``, ``P(z_t = j | z_{t-1} = i) = trans[t, i, j]`` (unused on a
sequence's first row, which draws from ``start[s]``, its sequence's start
probabilities). Sequences are independent, so large inputs run them in parallel
(each writes only its own rows).

Forward-backward is the scaled recursion (Rabiner 1989, section V.A) with the
step's own matrix: emission probabilities relative to each row's maximum
(``frame = exp(log_frame - shift)``), the forward vector renormalized at every
step by ``c_t``, the log-likelihood ``sum_t (log c_t + shift_t)``: a sum of
per-step terms, safe for sequences of any length. Impossible states carry exact
zeros; a sequence the model cannot produce (every ``c_t`` path zero) gets
log-likelihood ``-inf`` and zero posteriors and counts.

Viterbi runs in log space on ``log(trans)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...numerics import parallel

__all__ = ["forward_backward_tv", "viterbi_tv"]


@njit(cache=True)
def _fb_one(frame, shift, start, stop, startprob, trans, alpha, scale, gamma, xi,
            weight):  # pragma: no cover - compiled
    """One sequence (rows start..stop-1). Writes ``alpha`` (normalized forward vectors),
    ``scale``, ``gamma`` and ``xi`` (both times ``weight``); returns the log-likelihood."""
    k = frame.shape[1]
    new = np.empty(k)
    loglik = 0.0
    for t in range(start, stop):
        c = 0.0
        if t == start:
            for j in range(k):
                new[j] = startprob[j] * frame[t, j]
                c += new[j]
        else:
            for j in range(k):
                new[j] = 0.0
            for i in range(k):
                a = alpha[t - 1, i]
                if a != 0.0:
                    for j in range(k):
                        new[j] += a * trans[t, i, j]
            for j in range(k):
                new[j] *= frame[t, j]
                c += new[j]
        if not c > 0.0:
            for u in range(start, stop):
                for j in range(k):
                    gamma[u, j] = 0.0
                    alpha[u, j] = 0.0
                    for i in range(k):
                        xi[u, i, j] = 0.0
            return -np.inf
        for j in range(k):
            alpha[t, j] = new[j] / c
        scale[t] = c
        loglik += np.log(c) + shift[t]
    beta = np.ones(k)
    b = np.empty(k)
    for j in range(k):
        gamma[stop - 1, j] = alpha[stop - 1, j] * weight
    for t in range(stop - 1, start, -1):
        inv = 1.0 / scale[t]
        for j in range(k):
            b[j] = frame[t, j] * beta[j] * inv
        s = 0.0
        for i in range(k):
            acc = 0.0
            a = alpha[t - 1, i] * weight
            for j in range(k):
                v = trans[t, i, j] * b[j]
                xi[t, i, j] = a * v
                acc += v
            new[i] = acc
            s += alpha[t - 1, i] * acc
        norm = weight / s if s > 0.0 else weight
        for i in range(k):
            beta[i] = new[i]
            gamma[t - 1, i] = alpha[t - 1, i] * new[i] * norm
    for i in range(k):
        for j in range(k):
            xi[start, i, j] = 0.0
    return loglik


@njit(cache=True)
def _fb_serial(frame, shift, offsets, start, trans, weights, alpha, scale, gamma, xi,
               logliks):  # pragma: no cover - compiled
    for s in range(offsets.shape[0] - 1):
        logliks[s] = _fb_one(frame, shift, offsets[s], offsets[s + 1], start[s], trans,
                             alpha, scale, gamma, xi, weights[s])


@njit(cache=True, parallel=True)
def _fb_parallel(frame, shift, offsets, start, trans, weights, alpha, scale, gamma, xi,
                 logliks):  # pragma: no cover - compiled
    for s in prange(offsets.shape[0] - 1):
        logliks[s] = _fb_one(frame, shift, offsets[s], offsets[s + 1], start[s], trans,
                             alpha, scale, gamma, xi, weights[s])


def forward_backward_tv(frame: np.ndarray, shift: np.ndarray, offsets: np.ndarray,
                        start: np.ndarray, trans: np.ndarray,
                        weights: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled forward-backward with a transition matrix per row.

    Parameters
    ----------
    frame : ndarray of shape (n_samples, n_components)
        Emission probabilities up to a per-row factor, ``exp(log_frame - shift)``.
    shift : ndarray of shape (n_samples,)
    offsets : ndarray of shape (n_sequences + 1,), int
        Row where each sequence starts, then ``n_samples``.
    start : ndarray of shape (n_sequences, n_components)
        Start probabilities of each sequence.
    trans : ndarray of shape (n_samples, n_components, n_components)
        ``trans[t]``: the transition matrix into row ``t`` (rows sum to 1).
    weights : ndarray of shape (n_sequences,), optional
        Each sequence's posteriors and counts are multiplied by it (``None``: 1).

    Returns
    -------
    logliks : ndarray of shape (n_sequences,)
        Log-likelihood of each sequence, not weighted.
    gamma : ndarray of shape (n_samples, n_components)
        Posterior state probabilities times the sequence's weight.
    xi : ndarray of shape (n_samples, n_components, n_components)
        ``xi[t, i, j] = P(z_{t-1} = i, z_t = j | X)`` times the weight; 0 on first rows.
    """
    frame = np.ascontiguousarray(frame, dtype=np.float64)
    n, k = frame.shape
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n_seq = len(offsets) - 1
    w = (np.ones(n_seq) if weights is None
         else np.ascontiguousarray(weights, dtype=np.float64))
    alpha = np.empty((n, k))
    scale = np.empty(n)
    gamma = np.empty((n, k))
    xi = np.empty((n, k, k))
    logliks = np.empty(n_seq)
    args = (frame, np.ascontiguousarray(shift, dtype=np.float64), offsets,
            np.ascontiguousarray(start, dtype=np.float64),
            np.ascontiguousarray(trans, dtype=np.float64), w, alpha, scale, gamma, xi, logliks)
    if parallel.n_groups(n_seq, n) == 1:
        _fb_serial(*args)
    else:
        _fb_parallel(*args)
    return logliks, gamma, xi


@njit(cache=True)
def _viterbi_one(log_frame, start, stop, log_start, log_trans, delta, back,
                 states):  # pragma: no cover - compiled
    k = log_frame.shape[1]
    for j in range(k):
        delta[start, j] = log_start[j] + log_frame[start, j]
    for t in range(start + 1, stop):
        for j in range(k):
            best = -np.inf
            arg = 0
            for i in range(k):
                v = delta[t - 1, i] + log_trans[t, i, j]
                if v > best:
                    best = v
                    arg = i
            delta[t, j] = best + log_frame[t, j]
            back[t, j] = arg
    best = -np.inf
    arg = 0
    for j in range(k):
        if delta[stop - 1, j] > best:
            best = delta[stop - 1, j]
            arg = j
    states[stop - 1] = arg
    for t in range(stop - 1, start, -1):
        arg = back[t, arg]
        states[t - 1] = arg
    return best


@njit(cache=True)
def _viterbi_all(log_frame, offsets, log_start, log_trans, delta, back, states,
                 logprobs):  # pragma: no cover - compiled
    for s in range(offsets.shape[0] - 1):
        logprobs[s] = _viterbi_one(log_frame, offsets[s], offsets[s + 1], log_start[s],
                                   log_trans, delta, back, states)


def viterbi_tv(log_frame: np.ndarray, offsets: np.ndarray, log_start: np.ndarray,
               log_trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Most likely state path of each sequence with a transition matrix per row.

    Parameters
    ----------
    log_frame : ndarray of shape (n_samples, n_components)
    offsets : ndarray of shape (n_sequences + 1,), int
    log_start : ndarray of shape (n_sequences, n_components)
    log_trans : ndarray of shape (n_samples, n_components, n_components)

    Returns
    -------
    logprobs : ndarray of shape (n_sequences,)
        Log-probability of each best path jointly with the data.
    states : ndarray of shape (n_samples,), int64
        The paths, back to back (ties: the lowest state).
    """
    log_frame = np.ascontiguousarray(log_frame, dtype=np.float64)
    n, k = log_frame.shape
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    delta = np.empty((n, k))
    back = np.zeros((n, k), dtype=np.int64)
    states = np.empty(n, dtype=np.int64)
    logprobs = np.empty(len(offsets) - 1)
    _viterbi_all(log_frame, offsets, np.ascontiguousarray(log_start, dtype=np.float64),
                 np.ascontiguousarray(log_trans, dtype=np.float64), delta, back, states,
                 logprobs)
    return logprobs, states
