"""The E-step of multinomial-logit mixing weights in one compiled pass over the rows.

For a mixture whose weights are ``pi_ik = softmax_k(z~_i' gamma_k)`` (see
:mod:`emkit.numerics.multinomial_logit`, the NumPy reference), an E-step needs,
from the components' log-densities ``log f_ik``: each row's log-likelihood
``logsumexp_k(log pi_ik + log f_ik)``, the responsibilities, and the logit's
additive statistics (gradient, Hessian, Gram matrix). The NumPy reference makes
a dozen passes and (n, K) temporaries for that; this kernel scales each row of
``Z`` on the fly and makes one pass, so the mixing part of the E-step costs less
than the components' densities. ``tests/test_mixture_concomitant.py`` holds it
to the reference (:func:`~emkit.numerics.multinomial_logit.log_mixing`,
:func:`~emkit.numerics.multinomial_logit.mixing_stats`,
:func:`~emkit.numerics.logsumexp.log_normalize`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .fast_exp import exp_nonpositive

__all__ = ["logit_mixture_e_step"]


#: Rows per block: their exponentials are taken together, in one loop that vectorizes.
_BLOCK = 128


@njit(cache=True, nogil=True, fastmath={"contract"})
def _exp_block(buf, size):  # pragma: no cover - compiled
    """``buf[:size] = exp(buf[:size])`` for arguments ``<= 0`` (vectorized)."""
    for t in range(size):
        buf[t] = exp_nonpositive(buf[t])


@njit(cache=True, nogil=True, fastmath={"contract"})
def _e_step(logf, Z, centre, half, gamma):  # pragma: no cover - compiled
    n, k = logf.shape
    q = Z.shape[1]
    q1 = q + 1
    m = k - 1
    n_prod = q1 * (q1 + 1) // 2  # z_u z_v for u <= v
    n_pair = m * (m + 1) // 2  # components c <= d (of 1 .. K-1)
    resp = np.empty((n, k))
    ll = np.empty(n)
    nk = np.zeros(k)
    grad = np.zeros((m, q1))
    # the logit's Hessian and the Gram matrix by their distinct entries only:
    # hsum[pair(c, d), prod(u, v)] = sum_i h_icd z_iu z_iv, gsum[prod(u, v)] = sum_i w_i z_iu z_iv
    hsum = np.zeros((n_pair, n_prod))
    gsum = np.zeros(n_prod)
    zb = np.empty((_BLOCK, q1))
    # per block row: a_c - max a (the logits), then b_c - max b (b = a + log f)
    buf = np.empty(2 * _BLOCK * k)
    shift = np.empty(_BLOCK)
    bad = np.empty(_BLOCK, dtype=np.bool_)
    zz = np.empty(n_prod)
    pi = np.empty(k)
    h = np.empty(n_pair)
    inv_half = 1.0 / half
    for start in range(0, n, _BLOCK):
        size = min(_BLOCK, n - start)
        for r in range(size):
            i = start + r
            z = zb[r]
            z[0] = 1.0
            for j in range(q):
                z[j + 1] = (Z[i, j] - centre[j]) * inv_half[j]
            top = -np.inf
            base = 2 * k * r
            for c in range(k):
                s = 0.0
                for j in range(q1):
                    s += z[j] * gamma[c, j]
                buf[base + c] = s
                if s > top:
                    top = s
            btop = -np.inf
            nan = False
            for c in range(k):
                bc = logf[i, c] + buf[base + c]
                buf[base + k + c] = bc
                nan |= bc != bc
                if bc > btop:
                    btop = bc
            bad[r] = nan or not math.isfinite(btop)
            if bad[r]:
                # every component impossible (or NaN): no responsibility, no weight
                ll[i] = np.nan if nan else btop
                btop = 0.0
                for c in range(k):
                    buf[base + k + c] = -np.inf
            for c in range(k):
                buf[base + c] -= top
                buf[base + k + c] -= btop
            # log pi_c + log f_c = b_c - top - log S: the row's log-likelihood is
            # max b - top + log(T / S), S and T the sums of the exponentials
            shift[r] = btop - top
        _exp_block(buf, 2 * k * size)
        for r in range(size):
            i = start + r
            if bad[r]:
                for c in range(k):
                    resp[i, c] = 0.0
                continue
            base = 2 * k * r
            total = 0.0
            acc = 0.0
            for c in range(k):
                total += buf[base + c]
                acc += buf[base + k + c]
            inv_total = 1.0 / total
            ll[i] = shift[r] + math.log(acc * inv_total)
            inv_acc = 1.0 / acc
            ww = 0.0
            for c in range(k):
                pi[c] = buf[base + c] * inv_total
                rc = buf[base + k + c] * inv_acc
                resp[i, c] = rc
                nk[c] += rc
                ww += rc
            z = zb[r]
            t = 0
            for u in range(q1):
                for v in range(u, q1):
                    zz[t] = z[u] * z[v]
                    t += 1
            for t in range(n_prod):
                gsum[t] += ww * zz[t]
            t = 0
            for c in range(1, k):
                g = ww * resp[i, c] - ww * pi[c]
                for u in range(q1):
                    grad[c - 1, u] += g * z[u]
                wp = ww * pi[c]
                for d in range(c, k):
                    h[t] = wp * ((1.0 if c == d else 0.0) - pi[d])
                    t += 1
            for p in range(n_pair):
                hp = h[p]
                for t in range(n_prod):
                    hsum[p, t] += hp * zz[t]
    # unpack the distinct entries into the full symmetric matrices
    prod = np.empty((q1, q1), dtype=np.int64)
    t = 0
    for u in range(q1):
        for v in range(u, q1):
            prod[u, v] = t
            prod[v, u] = t
            t += 1
    pair = np.empty((m, m), dtype=np.int64)
    t = 0
    for c in range(m):
        for d in range(c, m):
            pair[c, d] = t
            pair[d, c] = t
            t += 1
    hess = np.empty((m * q1, m * q1))
    for c in range(m):
        for d in range(m):
            for u in range(q1):
                for v in range(q1):
                    hess[c * q1 + u, d * q1 + v] = hsum[pair[c, d], prod[u, v]]
    gram = np.empty((q1, q1))
    for u in range(q1):
        for v in range(q1):
            gram[u, v] = gsum[prod[u, v]]
    return ll, resp, nk, grad, hess, gram


def logit_mixture_e_step(logf: np.ndarray, Z: np.ndarray, centre: np.ndarray,
                         half_range: np.ndarray, gamma: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Row log-likelihoods, responsibilities and the logit's statistics in one pass.

    Parameters
    ----------
    logf : ndarray of shape (n, K)
        The components' log-densities of each row.
    Z : ndarray of shape (n, q)
        Concomitant variables in their own units.
    centre, half_range : ndarray of shape (q,)
        Their scaling, ``z~ = [1, (z - centre) / half_range]``
        (:class:`~emkit.numerics.design_scaling.Design`).
    gamma : ndarray of shape (K, q + 1)
        Logit coefficients on the scaled design (row 0 the reference).

    Returns
    -------
    ll : ndarray of shape (n,)
        ``logsumexp_k(log pi_ik + log f_ik)``; ``-inf`` (NaN) for a row whose
        log joint is ``-inf`` (NaN) everywhere.
    resp : ndarray of shape (n, K)
        Responsibilities (a zero row where ``ll`` is not finite).
    stats : dict
        ``grad`` (K - 1, q + 1), ``hess`` ((K - 1)(q + 1), (K - 1)(q + 1)),
        ``gram`` (q + 1, q + 1): as
        :func:`~emkit.numerics.multinomial_logit.mixing_stats`; and ``n`` (K,), the
        column sums of ``resp``.
    """
    ll, resp, nk, grad, hess, gram = _e_step(
        np.ascontiguousarray(logf, dtype=np.float64), np.ascontiguousarray(Z, dtype=np.float64),
        np.ascontiguousarray(centre, dtype=np.float64).reshape(-1),
        np.ascontiguousarray(half_range, dtype=np.float64).reshape(-1),
        np.ascontiguousarray(gamma, dtype=np.float64))
    return ll, resp, {"grad": grad, "hess": hess, "gram": gram, "n": nk}
