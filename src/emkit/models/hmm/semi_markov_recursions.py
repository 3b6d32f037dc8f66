"""Compiled recursions of the explicit-duration hidden semi-Markov model (numba).

Sequences are stored back to back as in :mod:`emkit.models.hmm.recursions`.
Durations are ``d = 1 .. D``; ``log_pmf[j, d - 1] = log P(d | j)`` and
``log_surv[j, d - 1] = log P(duration >= d | j)``. The first segment starts at
the first frame; the last segment is **right-censored**: it lasts at least to
the last frame (its probability is the survival ``P(duration >= observed)``),
the likelihood of the process observed up to the end of the sequence.

Forward (scaled): ``q[j, u]`` holds ``P(segment j started at u and still runs
at t | x_<t)`` for the ``D`` latest starts ``u``, updated by the continuation
ratio ``S(d) / S(d - 1)`` and the scaled emission of each frame; every entry is
a probability, so nothing overflows. ``c_t = P(x_t | x_<t) / exp(m_t)`` and the
log-likelihood is ``sum_t (log c_t + m_t)``. Backward: in log space, over the
segments that start at each frame; each segment's posterior is added to the
duration counts as it is made, and the state posteriors are the running sum of
segment starts minus segment ends. Time O(T K D), memory O(T K) plus O(K D).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...numerics import parallel

__all__ = ["hsmm_forward_backward", "hsmm_loglik", "hsmm_viterbi"]


@njit(cache=True)
def _forward_one(log_frame, start, stop, startprob, transmat, cont, hazard, astar, aend,
                 logf, q, bs, fprev):  # pragma: no cover - compiled
    """Scaled forward pass; fills ``astar`` (start probabilities given the past),
    ``aend`` (end probabilities given the past and the frame) and ``logf``
    (``log b - log C``); returns the log-likelihood."""
    k, dmax = cont.shape
    loglik = 0.0
    for j in range(k):
        astar[start, j] = startprob[j]
        fprev[j] = 0.0
    for t in range(start, stop):
        r = t - start
        slot = r % dmax
        m = -np.inf
        for j in range(k):
            q[j, slot] = astar[t, j]
            if log_frame[t, j] > m:
                m = log_frame[t, j]
        if not m > -np.inf:
            return -np.inf
        nd = min(dmax, r + 1)
        c = 0.0
        for j in range(k):
            bs[j] = np.exp(log_frame[t, j] - m)
            fj = fprev[j]
            occ = q[j, slot]
            end = occ * hazard[j, 0]
            s = slot
            for d in range(2, nd + 1):
                s -= 1
                if s < 0:
                    s = dmax - 1
                v = q[j, s] * (cont[j, d - 1] * fj)
                q[j, s] = v
                occ += v
                end += v * hazard[j, d - 1]
            aend[t, j] = end
            c += occ * bs[j]
        if not c > 0.0:
            return -np.inf
        logc = np.log(c)
        loglik += logc + m
        for j in range(k):
            fprev[j] = bs[j] / c
            aend[t, j] *= fprev[j]
            logf[t, j] = log_frame[t, j] - m - logc
        if t + 1 < stop:
            for j in range(k):
                acc = 0.0
                for i in range(k):
                    acc += aend[t, i] * transmat[i, j]
                astar[t + 1, j] = acc
    return loglik


@njit(cache=True)
def _backward_one(start, stop, transmat, log_pmf, log_surv, weight, astar, aend, logf,
                  logbend, gamma, terms, nxt, tmp, st, tr, dur, cens):  # pragma: no cover
    """Log-space backward pass and the posterior statistics of one sequence."""
    k, dmax = log_pmf.shape
    for u in range(stop - 1, start - 1, -1):
        if u <= stop - 2:
            mx = -np.inf
            for j in range(k):
                if nxt[j] > mx:
                    mx = nxt[j]
            for j in range(k):
                tmp[j] = np.exp(nxt[j] - mx) if mx > -np.inf else 0.0
            for i in range(k):
                acc = 0.0
                for j in range(k):
                    acc += transmat[i, j] * tmp[j]
                logbend[u, i] = np.log(acc) + mx if acc > 0.0 else -np.inf
                if aend[u, i] > 0.0 and acc > 0.0:
                    z = np.exp(np.log(aend[u, i]) + mx) * weight
                    for j in range(k):
                        tr[i, j] += z * transmat[i, j] * tmp[j]
                    aend[u, i] = np.exp(np.log(aend[u, i]) + logbend[u, i])
                else:
                    aend[u, i] = 0.0
        else:
            for i in range(k):
                logbend[u, i] = -np.inf
                aend[u, i] = 0.0
        length = stop - u
        nd = min(dmax, length - 1)
        for j in range(k):
            acc = 0.0
            mx = -np.inf
            for d in range(1, nd + 1):
                acc += logf[u + d - 1, j]
                v = log_pmf[j, d - 1] + acc + logbend[u + d - 1, j]
                terms[d - 1] = v
                if v > mx:
                    mx = v
            ncens = nd
            if length <= dmax:
                acc += logf[stop - 1, j]
                v = log_surv[j, length - 1] + acc
                terms[length - 1] = v
                ncens = length
                if v > mx:
                    mx = v
            if not mx > -np.inf:
                nxt[j] = -np.inf
                gamma[u, j] = 0.0
                continue
            total = 0.0
            for d in range(ncens):
                terms[d] = np.exp(terms[d] - mx)
                total += terms[d]
            nxt[j] = np.log(total) + mx
            a = astar[u, j]
            if a > 0.0:
                z = np.exp(np.log(a) + mx) * weight
                for d in range(nd):
                    dur[j, d] += terms[d] * z
                if length <= dmax:
                    cens[j, length - 1] += terms[length - 1] * z
                gamma[u, j] = total * z
            else:
                gamma[u, j] = 0.0
    for j in range(k):
        st[j] += gamma[start, j]
    # occupancy: segment starts so far minus segment ends before t
    for j in range(k):
        run = 0.0
        for t in range(start, stop):
            run += gamma[t, j]
            ended = aend[t, j] * weight
            gamma[t, j] = run if run > 0.0 else 0.0
            run -= ended


@njit(cache=True)
def _fb_seq(log_frame, start, stop, startprob, transmat, log_pmf, log_surv, cont, hazard,
            weight, astar, aend, logf, logbend, gamma, q, bs, fprev, terms, nxt, tmp, st, tr,
            dur, cens):  # pragma: no cover - compiled
    ll = _forward_one(log_frame, start, stop, startprob, transmat, cont, hazard, astar,
                      aend, logf, q, bs, fprev)
    if not ll > -np.inf:
        for t in range(start, stop):
            for j in range(log_pmf.shape[0]):
                gamma[t, j] = 0.0
        return ll
    _backward_one(start, stop, transmat, log_pmf, log_surv, weight, astar, aend, logf,
                  logbend, gamma, terms, nxt, tmp, st, tr, dur, cens)
    return ll


@njit(cache=True, parallel=True)
def _fb_groups(log_frame, offsets, startprob, transmat, log_pmf, log_surv, cont, hazard,
               weights, groups, astar, aend, logf, logbend, gamma, logliks, st, tr, dur,
               cens):  # pragma: no cover - compiled
    n_seq = offsets.shape[0] - 1
    k, dmax = log_pmf.shape
    for g in prange(groups):
        q = np.zeros((k, dmax))
        bs = np.empty(k)
        fprev = np.empty(k)
        terms = np.empty(dmax)
        nxt = np.empty(k)
        tmp = np.empty(k)
        for s in range((n_seq * g) // groups, (n_seq * (g + 1)) // groups):
            logliks[s] = _fb_seq(log_frame, offsets[s], offsets[s + 1], startprob, transmat,
                                 log_pmf, log_surv, cont, hazard, weights[s], astar, aend,
                                 logf, logbend, gamma, q, bs, fprev, terms, nxt, tmp, st[g],
                                 tr[g], dur[g], cens[g])


@njit(cache=True, parallel=True)
def _loglik_groups(log_frame, offsets, startprob, transmat, cont, hazard, groups, astar,
                   aend, logf, logliks):  # pragma: no cover - compiled
    n_seq = offsets.shape[0] - 1
    k, dmax = cont.shape
    for g in prange(groups):
        q = np.zeros((k, dmax))
        bs = np.empty(k)
        fprev = np.empty(k)
        for s in range((n_seq * g) // groups, (n_seq * (g + 1)) // groups):
            logliks[s] = _forward_one(log_frame, offsets[s], offsets[s + 1], startprob,
                                      transmat, cont, hazard, astar, aend, logf, q, bs, fprev)


def duration_kernel_tables(log_pmf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log_surv``, continuation ratios ``S(d)/S(d-1)`` and hazards ``p(d)/S(d)``.

    Parameters
    ----------
    log_pmf : ndarray of shape (n_components, max_duration)

    Returns
    -------
    log_surv, cont, hazard : ndarrays of shape (n_components, max_duration)
    """
    log_surv = np.logaddexp.accumulate(log_pmf[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        hazard = np.where(np.isfinite(log_surv), np.exp(log_pmf - log_surv), 0.0)
        cont = np.ones_like(log_pmf)
        cont[:, 1:] = np.where(np.isfinite(log_surv[:, 1:]),
                               np.exp(log_surv[:, 1:] - log_surv[:, :-1]), 0.0)
    return log_surv, np.ascontiguousarray(cont), np.ascontiguousarray(hazard)


def _groups(offsets: np.ndarray, n: int) -> int:
    return parallel.n_groups(len(offsets) - 1, n)


def hsmm_forward_backward(log_frame: np.ndarray, offsets: np.ndarray, startprob: np.ndarray,
                          transmat: np.ndarray, log_pmf: np.ndarray,
                          weights: np.ndarray | None = None) -> dict:
    """Forward-backward over segments for sequences stored back to back.

    Parameters
    ----------
    log_frame : ndarray of shape (n_samples, n_components)
        Log emission density of each frame under each state (0 for an all-NaN frame).
    offsets : ndarray of shape (n_sequences + 1,), int64
    startprob : ndarray of shape (n_components,)
    transmat : ndarray of shape (n_components, n_components), zero diagonal
    log_pmf : ndarray of shape (n_components, max_duration)
        Log duration probabilities, d = 1 .. max_duration.
    weights : ndarray of shape (n_sequences,), optional
        Sequence weights multiplying every statistic (not the log-likelihoods).

    Returns
    -------
    dict with ``logliks`` (n_sequences,), ``gamma`` (n_samples, n_components) state
    posteriors, ``start`` (n_components,), ``trans`` (n_components, n_components)
    expected transitions, ``durations`` (n_components, max_duration) expected
    counts of complete segments and ``censored`` (n_components, max_duration)
    expected counts of right-censored last segments by observed length.
    """
    log_frame = np.ascontiguousarray(log_frame, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    log_pmf = np.ascontiguousarray(log_pmf, dtype=np.float64)
    n, k = log_frame.shape
    dmax = log_pmf.shape[1]
    log_surv, cont, hazard = duration_kernel_tables(log_pmf)
    n_seq = len(offsets) - 1
    weights = np.ones(n_seq) if weights is None else np.ascontiguousarray(weights, float)
    groups = _groups(offsets, n)
    astar, aend, logf, logbend, gamma = (np.empty((n, k)) for _ in range(5))
    logliks = np.empty(n_seq)
    st = np.zeros((groups, k))
    tr = np.zeros((groups, k, k))
    dur = np.zeros((groups, k, dmax))
    cens = np.zeros((groups, k, dmax))
    _fb_groups(log_frame, offsets, np.ascontiguousarray(startprob, float),
               np.ascontiguousarray(transmat, float), log_pmf, log_surv, cont, hazard,
               weights, groups, astar, aend, logf, logbend, gamma, logliks, st, tr, dur, cens)
    return {"logliks": logliks, "gamma": gamma, "start": st.sum(axis=0),
            "trans": tr.sum(axis=0), "durations": dur.sum(axis=0),
            "censored": cens.sum(axis=0)}


def hsmm_loglik(log_frame: np.ndarray, offsets: np.ndarray, startprob: np.ndarray,
                transmat: np.ndarray, log_pmf: np.ndarray) -> np.ndarray:
    """Log-likelihood of each sequence by the forward pass only, shape (n_sequences,)."""
    log_frame = np.ascontiguousarray(log_frame, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    _, cont, hazard = duration_kernel_tables(np.asarray(log_pmf, dtype=np.float64))
    n, k = log_frame.shape
    logliks = np.empty(len(offsets) - 1)
    _loglik_groups(log_frame, offsets, np.ascontiguousarray(startprob, float),
                   np.ascontiguousarray(transmat, float), cont, hazard,
                   _groups(offsets, n), np.empty((n, k)), np.empty((n, k)),
                   np.empty((n, k)), logliks)
    return logliks


@njit(cache=True)
def _viterbi_one(lf, start, stop, log_start, log_trans, log_pmf, log_surv, dstar, dend,
                 bestd, from_i, states):  # pragma: no cover - compiled
    k, dmax = log_pmf.shape
    for t in range(start, stop):
        r = t - start
        for j in range(k):
            if t == start:
                dstar[t, j] = log_start[j]
                from_i[t, j] = -1
            else:
                best = -np.inf
                arg = 0
                for i in range(k):
                    v = dend[t - 1, i] + log_trans[i, j]
                    if v > best:
                        best = v
                        arg = i
                dstar[t, j] = best
                from_i[t, j] = arg
        for j in range(k):
            acc = 0.0
            best = -np.inf
            arg = 1
            for d in range(1, min(dmax, r + 1) + 1):
                acc += lf[t - d + 1, j]
                v = dstar[t - d + 1, j] + log_pmf[j, d - 1] + acc
                if v > best:
                    best = v
                    arg = d
            dend[t, j] = best
            bestd[t, j] = arg
    best = -np.inf
    state = 0
    length = 1
    for j in range(k):
        acc = 0.0
        for d in range(1, min(dmax, stop - start) + 1):
            acc += lf[stop - d, j]
            v = dstar[stop - d, j] + log_surv[j, d - 1] + acc
            if v > best:
                best = v
                state = j
                length = d
    if not best > -np.inf:
        for t in range(start, stop):
            states[t] = 0
        return best
    u = stop - length
    for t in range(u, stop):
        states[t] = state
    while u > start:
        prev = from_i[u, state]
        e = u - 1
        d = bestd[e, prev]
        for t in range(e - d + 1, e + 1):
            states[t] = prev
        state = prev
        u = e - d + 1
    return best


@njit(cache=True, parallel=True)
def _viterbi_groups(lf, offsets, log_start, log_trans, log_pmf, log_surv, groups, dstar, dend,
                    bestd, from_i, states, logprobs):  # pragma: no cover - compiled
    n_seq = offsets.shape[0] - 1
    for g in prange(groups):
        for s in range((n_seq * g) // groups, (n_seq * (g + 1)) // groups):
            logprobs[s] = _viterbi_one(lf, offsets[s], offsets[s + 1], log_start, log_trans,
                                       log_pmf, log_surv, dstar, dend, bestd, from_i, states)


def hsmm_viterbi(log_frame: np.ndarray, offsets: np.ndarray, startprob: np.ndarray,
                 transmat: np.ndarray, log_pmf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segmental Viterbi: the most likely segmentation of each sequence.

    Same arguments as :func:`hsmm_forward_backward`.

    Returns
    -------
    logprobs : ndarray of shape (n_sequences,)
        Log-probability of each best segmentation jointly with the data.
    states : ndarray of shape (n_samples,), int64
    """
    lf = np.ascontiguousarray(log_frame, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    log_pmf = np.ascontiguousarray(log_pmf, dtype=np.float64)
    log_surv, _, _ = duration_kernel_tables(log_pmf)
    n, k = lf.shape
    with np.errstate(divide="ignore"):
        log_start = np.log(np.asarray(startprob, dtype=float))
        log_trans = np.ascontiguousarray(np.log(np.asarray(transmat, dtype=float)))
    states = np.zeros(n, dtype=np.int64)
    logprobs = np.empty(len(offsets) - 1)
    _viterbi_groups(lf, offsets, log_start, log_trans, log_pmf,
                    np.ascontiguousarray(log_surv), _groups(offsets, n), np.empty((n, k)),
                    np.empty((n, k)), np.empty((n, k), dtype=np.int64),
                    np.empty((n, k), dtype=np.int64), states, logprobs)
    return logprobs, states
