"""Plain NumPy references of the compiled HMM recursions (log space, one sequence at a
time): :func:`emkit.models.hmm.recursions.forward_backward` and ``viterbi`` must match
them (tests/test_hmm_kernels.py). Same signatures as the kernels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward_backward_reference", "viterbi_reference"]


def _safe_log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


def forward_backward_reference(log_frame: np.ndarray, offsets: np.ndarray,
                               startprob: np.ndarray, transmat: np.ndarray,
                               weights: np.ndarray | None = None
                               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-space forward-backward in NumPy; the reference :func:`forward_backward` must match
    (``weights``: each sequence's posteriors and transition counts multiplied by it after
    they are computed)."""
    from scipy.special import logsumexp

    log_frame = np.asarray(log_frame, dtype=float)
    n, k = log_frame.shape
    log_a = _safe_log(transmat)
    log_pi = _safe_log(startprob)
    gamma = np.zeros((n, k))
    xi = np.zeros((k, k))
    logliks = []
    w = np.ones(len(offsets) - 1) if weights is None else np.asarray(weights, dtype=float)
    for s in range(len(offsets) - 1):
        lf = log_frame[offsets[s]:offsets[s + 1]]
        t_len = len(lf)
        fwd = np.empty((t_len, k))
        bwd = np.zeros((t_len, k))
        fwd[0] = log_pi + lf[0]
        for t in range(1, t_len):
            fwd[t] = logsumexp(fwd[t - 1][:, None] + log_a, axis=0) + lf[t]
        for t in range(t_len - 2, -1, -1):
            bwd[t] = logsumexp(log_a + lf[t + 1] + bwd[t + 1], axis=1)
        ll = logsumexp(fwd[-1])
        logliks.append(ll)
        if not np.isfinite(ll):
            continue
        gamma[offsets[s]:offsets[s + 1]] = w[s] * np.exp(fwd + bwd - ll)
        for t in range(t_len - 1):
            xi += w[s] * np.exp(fwd[t][:, None] + log_a + lf[t + 1] + bwd[t + 1] - ll)
    return np.asarray(logliks), gamma, xi


def viterbi_reference(log_frame: np.ndarray, offsets: np.ndarray, startprob: np.ndarray,
                      transmat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy Viterbi; the reference :func:`viterbi` must match."""
    log_frame = np.asarray(log_frame, dtype=float)
    log_a = _safe_log(transmat)
    states = np.empty(len(log_frame), dtype=np.int64)
    logprobs = []
    for s in range(len(offsets) - 1):
        lf = log_frame[offsets[s]:offsets[s + 1]]
        delta = _safe_log(startprob) + lf[0]
        back = np.zeros(lf.shape, dtype=np.int64)
        for t in range(1, len(lf)):
            scores = delta[:, None] + log_a
            back[t] = np.argmax(scores, axis=0)
            delta = scores[back[t], np.arange(lf.shape[1])] + lf[t]
        path = np.empty(len(lf), dtype=np.int64)
        path[-1] = int(np.argmax(delta))
        for t in range(len(lf) - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        states[offsets[s]:offsets[s + 1]] = path
        logprobs.append(float(delta.max()))
    return np.asarray(logprobs), states
