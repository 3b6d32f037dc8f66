"""The E-step of a regression mixture in one compiled pass over the rows (numba).

For every row ``i`` the pass scales the covariates on the fly
(``x~_i = [1, (x_i - centre) / half_range]``, :mod:`~emkit.numerics.design_scaling`;
the design is never materialized), forms the K linear predictors
``eta_ik = x~_i' beta_k``, the family's log-densities plus ``log pi_ik``, the row's
log-likelihood (log-sum-exp) and responsibilities ``r_ik`` (times the row weight
``w_i``), and adds the row to the additive statistics of
:class:`~emkit.models.regression.model.RegressionMixtureEM`:

* ``n_k = sum_i r_ik``, ``grad_k = sum_i r_ik u_ik x~_i``,
  ``hess_k = sum_i r_ik v_ik x~_i x~_i'`` (upper triangle, mirrored at the end),
  with ``u``, ``v`` the score and curvature of :mod:`~.families`;
* Gaussian: ``rss_k = sum_i r_ik (y_i - eta_ik)^2``; binomial:
  ``bohning_k = sum_i r_ik m_i x~_i x~_i' / 4``.

The same arithmetic as the NumPy reference in :mod:`~.families` and
``emkit.numerics.logsumexp.log_normalize`` (``tests/test_regression_kernel.py``
holds the kernel to it), without the (n, K) temporaries and the re-scaled design
that the reference makes at every E-step. Sums over the rows of a chunk, so the
statistics stay additive over chunks and Dask partitions.

A row whose log joint is not finite for any component (all ``-inf``, or NaN)
gets zero responsibilities and adds nothing; it is counted in ``n_bad`` and the
caller reports a log-likelihood of ``-inf``, as the reference does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["FAMILY_CODES", "regression_e_step"]

#: The families' codes inside the kernel.
FAMILY_CODES = {"gaussian": 0, "poisson": 1, "binomial": 2}

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


#: Rows added to the accumulators together (fewer loads and stores of them).
_GROUP = 4


@njit(cache=True, nogil=True, fastmath={"contract"})
def _flush(xb, ub, cb, bb, grad, hess, bohning, family):  # pragma: no cover - compiled
    """Add a group of ``_GROUP`` rows (zero weights pad a short one) to the sums."""
    k, p1 = grad.shape
    for c in range(k):
        u0, u1, u2, u3 = ub[0, c], ub[1, c], ub[2, c], ub[3, c]
        for j in range(p1):
            grad[c, j] += (u0 * xb[0, j] + u1 * xb[1, j]) + (u2 * xb[2, j] + u3 * xb[3, j])
        c0, c1, c2, c3 = cb[0, c], cb[1, c], cb[2, c], cb[3, c]
        for a in range(p1):
            a0, a1, a2, a3 = c0 * xb[0, a], c1 * xb[1, a], c2 * xb[2, a], c3 * xb[3, a]
            for b in range(a, p1):
                hess[c, a, b] += (a0 * xb[0, b] + a1 * xb[1, b]) \
                    + (a2 * xb[2, b] + a3 * xb[3, b])
        if family == 2:
            c0, c1, c2, c3 = bb[0, c], bb[1, c], bb[2, c], bb[3, c]
            for a in range(p1):
                a0, a1, a2, a3 = c0 * xb[0, a], c1 * xb[1, a], c2 * xb[2, a], c3 * xb[3, a]
                for b in range(a, p1):
                    bohning[c, a, b] += (a0 * xb[0, b] + a1 * xb[1, b]) \
                        + (a2 * xb[2, b] + a3 * xb[3, b])


@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass(X, centre, half, y, family, coef, scale, log_pi, w, keep_resp):  # pragma: no cover
    n, p = X.shape
    k = coef.shape[0]
    p1 = p + 1
    varying_pi = log_pi.shape[0] > 1
    weighted = w.shape[0] > 0
    resp = np.zeros((n if keep_resp else 0, k))
    nk = np.zeros(k)
    grad = np.zeros((k, p1))
    hess = np.zeros((k, p1, p1))
    rss = np.zeros(k)
    bohning = np.zeros((k, p1, p1) if family == 2 else (0, p1, p1))
    # the current group: scaled rows, r u, r v and (binomial) r m / 4 per component
    xb = np.zeros((_GROUP, p1))
    ub = np.zeros((_GROUP, k))
    cb = np.zeros((_GROUP, k))
    bb = np.zeros((_GROUP, k))
    eta = np.empty(k)
    logf = np.empty(k)
    u = np.empty(k)
    v = np.empty(k)
    r = np.empty(k)
    log_scale = np.empty(k)
    inv_scale = np.empty(k)
    if family == 0:
        for c in range(k):
            log_scale[c] = math.log(scale[c])
            inv_scale[c] = 1.0 / scale[c]
    inv_half = 1.0 / half
    total = 0.0
    carry = 0.0
    n_bad = 0
    g = 0
    for i in range(n):
        x = xb[g]
        x[0] = 1.0
        for j in range(p):
            x[j + 1] = (X[i, j] - centre[j]) * inv_half[j]
        for c in range(k):
            s = 0.0
            for j in range(p1):
                s += x[j] * coef[c, j]
            eta[c] = s
        row_pi = i if varying_pi else 0
        # log-densities without the parameter-free term, added to the total below
        if family == 0:
            yi = y[i, 0]
            const = -_HALF_LOG_2PI
            for c in range(k):
                res = yi - eta[c]
                z = res * inv_scale[c]
                logf[c] = -log_scale[c] - 0.5 * z * z + log_pi[row_pi, c]
                u[c] = res
                v[c] = 1.0
        elif family == 1:
            yi = y[i, 0]
            const = -math.lgamma(yi + 1.0)
            for c in range(k):
                mu = math.exp(eta[c])
                logf[c] = yi * eta[c] - mu + log_pi[row_pi, c]
                u[c] = yi - mu
                v[c] = mu
        else:
            si, mi = y[i, 0], y[i, 1]
            const = math.lgamma(mi + 1.0) - math.lgamma(si + 1.0) - math.lgamma(mi - si + 1.0)
            for c in range(k):
                e = eta[c]
                softplus = max(e, 0.0) + math.log1p(math.exp(-abs(e)))
                logf[c] = si * e - mi * softplus + log_pi[row_pi, c]
                if e >= 0.0:
                    prob = 1.0 / (1.0 + math.exp(-e))
                else:
                    t = math.exp(e)
                    prob = t / (1.0 + t)
                u[c] = si - mi * prob
                v[c] = mi * prob * (1.0 - prob)
        top = -np.inf
        for c in range(k):
            if logf[c] > top:
                top = logf[c]
        acc = 0.0
        if math.isfinite(top):
            for c in range(k):
                r[c] = math.exp(logf[c] - top)
                acc += r[c]
        ll = top + math.log(acc) if acc > 0.0 else -np.inf
        if not math.isfinite(ll):
            n_bad += 1
            continue
        wi = w[i] if weighted else 1.0
        # compensated (Neumaier) sum: the total is exact to about one rounding, so
        # EM's last steps, where it changes by a few units in the last place, do
        # not show a spurious fall
        term = wi * (ll + const)
        t = total + term
        if abs(total) >= abs(term):
            carry += (total - t) + term
        else:
            carry += (term - t) + total
        total = t
        for c in range(k):
            rc = r[c] / acc
            if keep_resp:
                resp[i, c] = rc
            rc *= wi
            nk[c] += rc
            ub[g, c] = rc * u[c]
            cb[g, c] = rc * v[c]
            if family == 0:
                rss[c] += rc * u[c] * u[c]
            elif family == 2:
                bb[g, c] = 0.25 * rc * y[i, 1]
        g += 1
        if g == _GROUP:
            _flush(xb, ub, cb, bb, grad, hess, bohning, family)
            g = 0
    if g:
        for q in range(g, _GROUP):  # pad: zero rows add exact zeros
            xb[q, :] = 0.0
            ub[q, :] = 0.0
            cb[q, :] = 0.0
            bb[q, :] = 0.0
        _flush(xb, ub, cb, bb, grad, hess, bohning, family)
    for c in range(k):
        for a in range(p1):
            for b in range(a + 1, p1):
                hess[c, b, a] = hess[c, a, b]
                if family == 2:
                    bohning[c, b, a] = bohning[c, a, b]
    return total + carry, n_bad, resp, nk, grad, hess, rss, bohning


def regression_e_step(X: np.ndarray, centre: np.ndarray, half_range: np.ndarray,
                      y: np.ndarray, family: str, coef: np.ndarray,
                      scale: np.ndarray | None, log_pi: np.ndarray,
                      w: np.ndarray | None = None, *, keep_resp: bool = False
                      ) -> tuple[float, int, np.ndarray, dict[str, np.ndarray]]:
    """Log-likelihood, responsibilities and the additive statistics of one chunk.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Covariates in their own units.
    centre, half_range : ndarray of shape (p,)
        Their scaling (:class:`~emkit.numerics.design_scaling.Design`).
    y : ndarray of shape (n,) or, binomial, (n, 2)
        Responses; binomial ones as (successes, trials).
    family : {"gaussian", "poisson", "binomial"}
    coef : ndarray of shape (K, p + 1)
        Coefficients on the scaled design.
    scale : ndarray of shape (K,) or None
        Gaussian standard deviations (ignored by the other families).
    log_pi : ndarray of shape (K,) or (n, K)
        Log mixing weights, the same for every row or one row each.
    w : ndarray of shape (n,), optional
        Row weights (they multiply the responsibilities in the statistics and
        each row's log-likelihood in the total).
    keep_resp : bool, default False
        Return the responsibilities (not times ``w``); otherwise an empty (0, K) array.

    Returns
    -------
    loglik : float
        ``sum_i w_i log p(y_i)`` over the rows whose log-likelihood is finite.
    n_bad : int
        Rows whose log-likelihood is not finite (zero responsibilities).
    resp : ndarray of shape (n, K) or (0, K)
    stats : dict
        ``n`` (K,), ``grad`` (K, p + 1), ``hess`` (K, p + 1, p + 1), and ``rss`` (K,)
        for the Gaussian, ``bohning`` (K, p + 1, p + 1) for the binomial.
    """
    code = FAMILY_CODES[family]
    X = np.ascontiguousarray(X, dtype=np.float64)
    y2 = np.ascontiguousarray(np.asarray(y, dtype=np.float64).reshape(X.shape[0],
                                                                       2 if code == 2 else 1))
    k = coef.shape[0]
    lp = np.ascontiguousarray(np.asarray(log_pi, dtype=np.float64).reshape(-1, k))
    sc = np.ones(k) if scale is None else np.ascontiguousarray(scale, dtype=np.float64)
    ww = np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64)
    total, n_bad, resp, nk, grad, hess, rss, bohning = _pass(
        X, np.ascontiguousarray(centre, dtype=np.float64).reshape(-1),
        np.ascontiguousarray(half_range, dtype=np.float64).reshape(-1), y2, code,
        np.ascontiguousarray(coef, dtype=np.float64), sc, lp, ww, keep_resp)
    stats = {"n": nk, "grad": grad, "hess": hess}
    if code == 0:
        stats["rss"] = rss
    if code == 2:
        stats["bohning"] = bohning
    return float(total), int(n_bad), resp, stats
