"""Compiled HMM recursions: scaled forward-backward and Viterbi (numba).

Every kernel works on many sequences stored back to back: row ``t`` of the
frame arrays belongs to sequence ``s`` when ``offsets[s] <= t < offsets[s + 1]``.
Sequences are independent, so the kernels run them in parallel (``prange``
over groups of sequences, each group with its own transition-count buffer that
is summed at the end, so no two threads write the same memory). Inputs under
:data:`emkit.numerics.parallel.PARALLEL_MIN_ROWS` rows run on the calling thread instead.

Each kernel has a plain-NumPy reference (``*_reference``, in
:mod:`emkit.models.hmm.recursions_reference`, importable from here too) with the
same signature; the tests check that they agree.

Numerics
--------
Forward-backward is the *scaled* recursion (Rabiner 1989, section V.A): each
frame's emission probabilities are taken relative to the row maximum,
``b_t(j) = exp(log_frame[t, j] - m_t)``, and the forward vector is renormalized
to sum to one at every step with factor ``c_t``. The log-likelihood is
``sum_t (log c_t + m_t)``: a sum of per-step terms, so a 1,000,000-step
sequence is as safe as a short one (nothing is multiplied across time).

States that are impossible (``startprob = 0``, a zero column of ``transmat``,
or a zero emission probability) simply carry exact zeros through the
recursion: they get posterior 0 and contribute 0 to every count, never NaN.
Only when *every* state is impossible at some step (the data cannot have come
from the model, ``c_t = 0``) is the sequence's log-likelihood ``-inf``; its
posteriors and counts are then set to zero instead of 0/0.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...numerics import parallel
from ...numerics.parallel import FASTMATH as _FAST
from .recursions_reference import forward_backward_reference, viterbi_reference
from .vec_mat import vec_mat

__all__ = [
    "forward_backward",
    "forward_backward_reference",
    "forward_loglik",
    "viterbi",
    "viterbi_reference",
    "frame_probabilities",
]


def frame_probabilities(log_frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``exp(log_frame - m)`` with ``m`` the row maximum, and ``m`` (0 where a row is all -inf).

    Returns frame of shape (n_samples, n_components) and shift of shape (n_samples,).
    """
    shift = log_frame.max(axis=1)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    with np.errstate(under="ignore"):
        frame = np.exp(log_frame - shift[:, None])
    return frame, shift


@njit(cache=True, fastmath=_FAST, inline="always")
def _first_forward(frame, t, startprob, new):  # pragma: no cover - compiled
    """``new = startprob * frame[t]`` (a sequence's first row); returns its sum ``c_t``."""
    c = 0.0
    for j in range(startprob.shape[0]):
        new[j] = startprob[j] * frame[t, j]
        c += new[j]
    return c


@njit(cache=True, fastmath=_FAST, inline="always")
def _next_forward(frame, t, transmat, prev, new):  # pragma: no cover - compiled
    """``new = (prev @ transmat) * frame[t]``, ``prev`` the normalized vector of row
    t - 1; returns its sum ``c_t``.

    The first row has its own function and is taken out of the loops over rows: a
    branch between the two inside the loop made the forward pass 1.7x slower.
    """
    vec_mat(prev, transmat, new)
    c = 0.0
    for j in range(transmat.shape[0]):
        new[j] *= frame[t, j]
        c += new[j]
    return c


#: Bounds of the scale factors multiplied into one running product before a log.
_TINY = 1e-140
_HUGE = 1e140


@njit(cache=True, fastmath=_FAST, inline="always")
def _forward_rows(frame, start, stop, transmat, cur, new, c, alpha, scale
                  ):  # pragma: no cover - compiled
    """The scaled forward pass over rows start..stop-1, ``cur`` holding the first
    row's unnormalized vector and ``c`` its sum; fills ``alpha`` and ``scale`` and
    returns ``sum_t log c_t`` (-inf as soon as some ``c_t`` is not positive).

    Each step is ``new = (cur @ transmat) * (b_t / c_{t-1})`` on the previous
    row's *unnormalized* vector ``cur`` (the product is linear, so this is
    ``alpha_{t-1} @ transmat * b_t``): the sum and the division that normalize
    row t - 1 then run beside the vector-matrix product of row t instead of
    before it, and ``alpha_{t-1} = cur / c_{t-1}`` is stored off that chain.
    The logarithms are taken of running products of the ``c_t`` (each in
    (0, 1] when ``transmat``'s rows sum to one), one ``log`` call per factor
    1e-140 of product instead of one per row (a call inside the loop spills the
    loop's vector registers); a ``c_t`` outside (1e-140, 1e140) gets its own. Measured
    forward pass at 100,000 frames, K = 16, one thread: about 0.9x the time of
    normalizing first, with one ``log`` per row.
    """
    k = cur.shape[0]
    loglik = 0.0
    prod = 1.0
    for t in range(start + 1, stop):
        if not c > 0.0:
            return -np.inf
        inv = 1.0 / c
        vec_mat(cur, transmat, new)
        c_next = 0.0
        for j in range(k):
            alpha[t - 1, j] = cur[j] * inv
            v = new[j] * (frame[t, j] * inv)
            cur[j] = v
            c_next += v
        scale[t - 1] = c
        if _TINY < c < _HUGE:  # prod stays within (1e-280, 1e280): no under/overflow
            prod *= c
            if not _TINY < prod < _HUGE:
                loglik += np.log(prod)
                prod = 1.0
        else:
            loglik += np.log(c)
        c = c_next
    if not c > 0.0:
        return -np.inf
    inv = 1.0 / c
    for j in range(k):
        alpha[stop - 1, j] = cur[j] * inv
    scale[stop - 1] = c
    return loglik + (np.log(prod) + np.log(c))


@njit(cache=True, fastmath=_FAST)
def _fb_one(frame, shift, start, stop, startprob, transmat, transmat_t, alpha, gamma,
            scale, weight):  # pragma: no cover - compiled
    """Forward-backward on rows start..stop-1 of one sequence of weight ``weight``.

    Fills ``alpha`` (normalized forward vectors), ``scale`` (c_t) and ``gamma``
    (posteriors times ``weight``), and overwrites ``frame[t]`` by
    ``weight b_t beta_t / c_t`` (0 on the sequence's first row), so that the
    weighted transition counts are ``transmat * (alpha[:-1].T @ frame[1:])``, one
    matrix product for all sequences whatever their weights. ``transmat_t`` is
    ``transmat.T``, contiguous: the backward step
    ``beta_t = transmat @ (b beta / c)_{t+1}`` is then a vector-matrix product like
    the forward one (on the unweighted vector). Returns the log-likelihood (not
    weighted).
    """
    k = startprob.shape[0]
    # local buffers: writing alpha[t] while reading alpha[t - 1] of the same array
    # would keep the compiler from vectorizing (it cannot rule out aliasing)
    cur = np.empty(k)
    new = np.empty(k)
    c = _first_forward(frame, start, startprob, cur)
    loglik = _forward_rows(frame, start, stop, transmat, cur, new, c, alpha, scale)
    if loglik == -np.inf:
        for u in range(start, stop):
            for j in range(k):
                gamma[u, j] = 0.0
                alpha[u, j] = 0.0
                frame[u, j] = 0.0
        return -np.inf
    for t in range(start, stop):
        loglik += shift[t]
    beta = np.ones(k)
    for j in range(k):
        gamma[stop - 1, j] = alpha[stop - 1, j] * weight
    for t in range(stop - 2, start - 1, -1):
        inv = 1.0 / scale[t + 1]
        for j in range(k):
            new[j] = frame[t + 1, j] * beta[j] * inv
            frame[t + 1, j] = new[j] * weight
        vec_mat(new, transmat_t, beta)
        s = 0.0
        for j in range(k):
            new[j] = alpha[t, j] * beta[j]
            s += new[j]
        inv = weight / s if s > 0.0 else weight
        for j in range(k):
            gamma[t, j] = new[j] * inv
    for j in range(k):
        frame[start, j] = 0.0
    return loglik


@njit(cache=True, parallel=True)
def _fb_parallel(frame, shift, offsets, startprob, transmat, transmat_t, groups, alpha, gamma,
                 scale, weights, logliks, outer):  # pragma: no cover - compiled
    """Groups of sequences in parallel; group ``g`` also adds up its rows' part of the
    transition counts, ``alpha[lo:hi-1].T @ frame[lo+1:hi]``, into ``outer[g]`` (a
    pair of rows across two sequences adds 0: ``frame`` is 0 on a first row)."""
    n_seq = offsets.shape[0] - 1
    for g in prange(groups):
        first = (n_seq * g) // groups
        last = (n_seq * (g + 1)) // groups
        for s in range(first, last):
            logliks[s] = _fb_one(frame, shift, offsets[s], offsets[s + 1], startprob,
                                 transmat, transmat_t, alpha, gamma, scale, weights[s])
        lo = offsets[first]
        hi = offsets[last]
        if hi - lo > 1:
            outer[g] = np.dot(alpha[lo:hi - 1].T, frame[lo + 1:hi])


@njit(cache=True)
def _fb_serial(frame, shift, offsets, startprob, transmat, transmat_t, alpha, gamma, scale,
               weights, logliks):  # pragma: no cover - compiled
    for s in range(offsets.shape[0] - 1):
        logliks[s] = _fb_one(frame, shift, offsets[s], offsets[s + 1], startprob, transmat,
                             transmat_t, alpha, gamma, scale, weights[s])


def _buffer(workspace: dict | None, name: str, shape: tuple) -> np.ndarray:
    """A scratch array of ``shape``: from ``workspace`` when it holds one big enough."""
    if workspace is None:
        return np.empty(shape)
    held = workspace.get(name)
    if held is None or held.shape[0] < shape[0] or held.shape[1:] != shape[1:]:
        held = workspace[name] = np.empty(shape)
    return held[:shape[0]]


def _forward_backward(frame, shift, offsets, startprob, transmat, weights, workspace=None):
    """Runs on ``frame`` in place (see :func:`_fb_one`); ``weights`` (n_sequences,)."""
    n, k = frame.shape
    n_seq = len(offsets) - 1
    gamma = _buffer(workspace, "gamma", (n, k))
    alpha = _buffer(workspace, "alpha", (n, k))
    scale = _buffer(workspace, "scale", (n,))
    logliks = np.empty(n_seq)
    groups = parallel.n_groups(n_seq, n)
    transmat_t = np.ascontiguousarray(transmat.T)
    if groups == 1:
        _fb_serial(frame, shift, offsets, startprob, transmat, transmat_t, alpha, gamma, scale,
                   weights, logliks)
        outer = alpha[:-1].T @ frame[1:]  # sum over t of alpha_t (b beta / c)_{t+1}^T
    else:
        parts = np.zeros((groups, k, k))
        _fb_parallel(frame, shift, offsets, startprob, transmat, transmat_t, groups, alpha,
                     gamma, scale, weights, logliks, parts)
        outer = parts.sum(axis=0)
    return logliks, gamma, outer * transmat


def forward_backward(log_frame: np.ndarray | None, offsets: np.ndarray, startprob: np.ndarray,
                     transmat: np.ndarray, frame: np.ndarray | None = None,
                     shift: np.ndarray | None = None, overwrite_frame: bool = False,
                     workspace: dict | None = None, weights: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled forward-backward over sequences stored back to back.

    Parameters
    ----------
    log_frame : ndarray of shape (n_samples, n_components) or None
        Log emission probability of each row under each state.
    offsets : ndarray of shape (n_sequences + 1,), int64
        Row where each sequence starts, then ``n_samples``.
    startprob : ndarray of shape (n_components,)
    transmat : ndarray of shape (n_components, n_components)
    frame, shift : ndarrays of shapes (n_samples, n_components) and (n_samples,), optional
        Emission probabilities given directly as ``exp(log_frame - shift)``
        (e.g. a categorical model's probabilities with ``shift = 0``), in
        place of ``log_frame``.
    overwrite_frame : bool
        Let the kernel use ``frame`` as scratch space (saves a copy).
    workspace : dict, optional
        Scratch arrays kept between calls (e.g. the blocks of one E-step), so
        large buffers are not allocated and first touched again each time. The
        returned ``gamma`` then lives in it: use it before the next call.
    weights : ndarray of shape (n_sequences,), optional
        Weight of each sequence (``None``: all 1). The kernel multiplies each
        sequence's posteriors and its part of the transition counts by it as it
        writes them (no pass of its own), so sequences of any weights share one
        call.

    Returns
    -------
    logliks : ndarray of shape (n_sequences,)
        Log-likelihood of each sequence (``-inf`` for an impossible one), not
        weighted.
    gamma : ndarray of shape (n_samples, n_components)
        Posterior state probabilities of each row, times its sequence's weight.
    xi : ndarray of shape (n_components, n_components)
        Expected transition counts, each sequence's times its weight, summed.
    """
    if frame is None:
        frame, shift = frame_probabilities(np.asarray(log_frame, dtype=np.float64))
    else:
        # the kernel reuses the frame array as scratch: never the caller's own
        frame = np.array(frame, dtype=np.float64, order="C",
                         copy=not overwrite_frame or None)
        if shift is None:
            shift = np.zeros(len(frame))
    n_seq = len(offsets) - 1
    weights = (np.ones(n_seq) if weights is None
               else np.ascontiguousarray(weights, dtype=np.float64))
    if weights.shape != (n_seq,):
        raise ValueError(f"weights must have one entry per sequence ({n_seq}), "
                         f"got shape {weights.shape}")
    return _forward_backward(frame, np.ascontiguousarray(shift, dtype=np.float64),
                             np.ascontiguousarray(offsets, dtype=np.int64),
                             np.ascontiguousarray(startprob, dtype=float),
                             np.ascontiguousarray(transmat, dtype=float), weights, workspace)


@njit(cache=True, fastmath=_FAST)
def _fl_one(frame, shift, start, stop, startprob, transmat, alpha, new):  # pragma: no cover
    k = startprob.shape[0]
    ll = 0.0
    c = _first_forward(frame, start, startprob, new)
    for t in range(start, stop):
        if t > start:
            c = _next_forward(frame, t, transmat, alpha, new)
        if not c > 0.0:
            return -np.inf
        inv = 1.0 / c
        for j in range(k):
            alpha[j] = new[j] * inv
        ll += np.log(c) + shift[t]
    return ll


@njit(cache=True, parallel=True)
def _fl_parallel(frame, shift, offsets, startprob, transmat, groups, logliks):  # pragma: no cover
    n_seq = offsets.shape[0] - 1
    k = startprob.shape[0]
    for g in prange(groups):
        alpha = np.empty(k)
        new = np.empty(k)
        for s in range((n_seq * g) // groups, (n_seq * (g + 1)) // groups):
            logliks[s] = _fl_one(frame, shift, offsets[s], offsets[s + 1], startprob, transmat,
                                 alpha, new)


@njit(cache=True)
def _fl_serial(frame, shift, offsets, startprob, transmat, logliks):  # pragma: no cover
    k = startprob.shape[0]
    alpha = np.empty(k)
    new = np.empty(k)
    for s in range(offsets.shape[0] - 1):
        logliks[s] = _fl_one(frame, shift, offsets[s], offsets[s + 1], startprob, transmat,
                             alpha, new)


def _forward_loglik(frame, shift, offsets, startprob, transmat):
    logliks = np.empty(len(offsets) - 1)
    groups = parallel.n_groups(len(offsets) - 1, len(frame))
    if groups == 1:
        _fl_serial(frame, shift, offsets, startprob, transmat, logliks)
    else:
        _fl_parallel(frame, shift, offsets, startprob, transmat, groups, logliks)
    return logliks


def forward_loglik(log_frame: np.ndarray | None, offsets: np.ndarray, startprob: np.ndarray,
                   transmat: np.ndarray, frame: np.ndarray | None = None,
                   shift: np.ndarray | None = None) -> np.ndarray:
    """Per-sequence log-likelihood by the scaled forward pass only (no posteriors).

    Same arguments as :func:`forward_backward`; returns shape (n_sequences,).
    """
    if frame is None:
        frame, shift = frame_probabilities(np.asarray(log_frame, dtype=np.float64))
    elif shift is None:
        shift = np.zeros(len(frame))
    return _forward_loglik(np.ascontiguousarray(frame, dtype=np.float64),
                           np.ascontiguousarray(shift, dtype=np.float64),
                           np.ascontiguousarray(offsets, dtype=np.int64),
                           np.ascontiguousarray(startprob, dtype=float),
                           np.ascontiguousarray(transmat, dtype=float))


@njit(cache=True)
def _viterbi_one(log_frame, start, stop, log_start, log_trans_t, delta, states
                 ):  # pragma: no cover - compiled
    k = log_start.shape[0]
    for j in range(k):
        delta[start, j] = log_start[j] + log_frame[start, j]
    for t in range(start + 1, stop):
        for j in range(k):
            row = log_trans_t[j]
            best = -np.inf
            for i in range(k):
                v = delta[t - 1, i] + row[i]
                if v > best:
                    best = v
            delta[t, j] = best + log_frame[t, j]
    best = -np.inf
    arg = 0
    for j in range(k):
        if delta[stop - 1, j] > best:
            best = delta[stop - 1, j]
            arg = j
    states[stop - 1] = arg
    # backtrack: recompute the argmax only along the path (ties: lowest state)
    for t in range(stop - 1, start, -1):
        row = log_trans_t[arg]
        top = -np.inf
        prev = 0
        for i in range(k):
            v = delta[t - 1, i] + row[i]
            if v > top:
                top = v
                prev = i
        arg = prev
        states[t - 1] = arg
    return best


@njit(cache=True, parallel=True)
def _viterbi_parallel(log_frame, offsets, log_start, log_trans_t, groups, delta, states,
                      logprobs):  # pragma: no cover - compiled
    n_seq = offsets.shape[0] - 1
    for g in prange(groups):
        for s in range((n_seq * g) // groups, (n_seq * (g + 1)) // groups):
            logprobs[s] = _viterbi_one(log_frame, offsets[s], offsets[s + 1], log_start,
                                       log_trans_t, delta, states)


@njit(cache=True)
def _viterbi_serial(log_frame, offsets, log_start, log_trans_t, delta, states,
                    logprobs):  # pragma: no cover - compiled
    for s in range(offsets.shape[0] - 1):
        logprobs[s] = _viterbi_one(log_frame, offsets[s], offsets[s + 1], log_start,
                                   log_trans_t, delta, states)


def _viterbi(log_frame, offsets, log_start, log_trans_t):
    n, k = log_frame.shape
    n_seq = len(offsets) - 1
    delta = np.empty((n, k))
    states = np.empty(n, dtype=np.int64)
    logprobs = np.empty(n_seq)
    groups = parallel.n_groups(n_seq, n)
    if groups == 1:
        _viterbi_serial(log_frame, offsets, log_start, log_trans_t, delta, states, logprobs)
    else:
        _viterbi_parallel(log_frame, offsets, log_start, log_trans_t, groups, delta, states,
                          logprobs)
    return logprobs, states


def _safe_log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


def viterbi(log_frame: np.ndarray, offsets: np.ndarray, startprob: np.ndarray,
            transmat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Most likely state path of each sequence (Viterbi, in log space).

    Same arguments as :func:`forward_backward`.

    Returns
    -------
    logprobs : ndarray of shape (n_sequences,)
        Log-probability of each sequence's best path jointly with the data.
    states : ndarray of shape (n_samples,), int64
        The best path, sequences back to back. Ties go to the lowest state.
    """
    return _viterbi(np.ascontiguousarray(log_frame, dtype=np.float64),
                    np.ascontiguousarray(offsets, dtype=np.int64),
                    _safe_log(np.asarray(startprob, dtype=float)),
                    np.ascontiguousarray(_safe_log(np.asarray(transmat, dtype=float)).T))
