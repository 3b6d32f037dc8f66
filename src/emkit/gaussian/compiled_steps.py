"""A Gaussian mixture's whole E-step, and its M-step, each in one compiled call (numba).

For small data the arithmetic of an EM iteration is a few microseconds; what
cost the time was the ~25 NumPy calls around it (measured at 1,000 x 2, K = 3:
factoring the components ~30 us, the statistics ~13 us, the M-step ~13 us, the
BLAS thread limit ~20 us, against ~18 us for the pass over the rows).
:func:`e_step_one_call` does the work of
:func:`emkit.gaussian.prepared.prepare_gaussians` (one centring group),
:func:`emkit.gaussian.kernels.quadratic_pass` and
:meth:`emkit.gaussian.blocked.StatsAccumulator.result` in one call, in the same
order of operations; :func:`m_step_one_call` is
:func:`emkit.gaussian.m_step.gaussian_mixture_m_step` for full, diag and
spherical covariances, the same elementwise arithmetic (results equal bit for
bit).

The E-step covers what the compiled pass covers with one centring group:
``full`` by quadratic features, ``diag`` and ``spherical``. Where the
parameters need more (several centring groups, a covariance that is not
positive definite, a weight that is not positive, means that are not finite)
it returns ``None`` and the caller takes the general path, which splits the
groups or raises the error that names the problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit

from .cholesky_kernels import _factor
from .kernels import BLOCK_ROWS, DIAGONAL, FULL, _pass_by_blocks
from .reference import LOG_2PI

__all__ = ["e_step_one_call", "m_step_one_call", "collapse_check", "ONE_CALL_TYPES"]

#: Covariance types :func:`m_step_one_call` and :func:`e_step_one_call` take.
ONE_CALL_TYPES = ("full", "diag", "spherical")

#: Status codes of the compiled E-step (anything but OK: take the general path).
_OK, _BAD_WEIGHTS, _BAD_MEANS, _NOT_PD, _GROUPS = 0, 1, 2, 3, 4


@njit(nogil=True, cache=True)
def _centre(weights, means):
    """``weights @ means / weights.sum()``; -1 status when a weight is not positive."""
    k, d = means.shape
    total = 0.0
    for c in range(k):
        if not weights[c] > 0.0:
            return np.empty(0), _BAD_WEIGHTS
        total += weights[c]
    centre = np.zeros(d)
    for j in range(d):
        s = 0.0
        for c in range(k):
            s += weights[c] * means[c, j]
        centre[j] = s / total
        if not math.isfinite(centre[j]):
            return centre, _BAD_MEANS
    return centre, _OK


@njit(nogil=True, cache=True)
def _full_coef(weights, means, cov, limit, centre, coef):
    """Coefficients of the quadratic features (see ``prepared._quadratic_coefficients``)
    of full covariances about one centre; a status (not positive definite, or the
    components need several centring groups)."""
    k, d = means.shape
    lower = np.empty_like(cov)
    upper = np.empty_like(cov)
    if _factor(cov, lower, upper) >= 0:
        return _NOT_PD
    prec = np.empty((d, d))
    shifted = np.empty(d)
    p_d = np.empty(d)
    pairs = d * (d + 1) // 2
    for c in range(k):
        log_det = 0.0
        for j in range(d):
            log_det += math.log(upper[c, j, j])
        log_const = log_det - 0.5 * d * LOG_2PI + math.log(weights[c])
        for i in range(d):
            for j in range(d):
                s = 0.0
                for m in range(d):
                    s += upper[c, i, m] * upper[c, j, m]
                prec[i, j] = s
        size = 0.0
        for i in range(d):
            shifted[i] = means[c, i] - centre[i]
        for i in range(d):
            row = 0.0
            for j in range(d):
                row += abs(prec[i, j]) * abs(shifted[j])
            size += abs(shifted[i]) * row
        if not size <= limit:
            return _GROUPS
        pos = 0
        for i in range(d):
            for j in range(i, d):
                coef[c, pos] = -0.5 * (prec[i, j] * (1.0 if i == j else 2.0))
                pos += 1
        const = 0.0
        for i in range(d):
            s = 0.0
            for j in range(d):
                s += prec[i, j] * shifted[j]
            p_d[i] = s
            coef[c, pairs + i] = -0.5 * (-2.0 * s)
            const += shifted[i] * s
        coef[c, pairs + d] = -0.5 * (const - 2.0 * log_const)
    return _OK


@njit(nogil=True, cache=True)
def _diag_coef(weights, means, var, spherical, limit, centre, coef):
    """:func:`_full_coef` for diagonal variances (K, D) (spherical: equal columns)."""
    k, d = means.shape
    for c in range(k):
        for j in range(d):
            if not (var[c, j] > 0.0 and math.isfinite(var[c, j])):
                return _NOT_PD
    for c in range(k):
        log_det = 0.0
        if spherical:
            log_det = d * math.log(1.0 / math.sqrt(var[c, 0]))
        else:
            for j in range(d):
                log_det += math.log(1.0 / math.sqrt(var[c, j]))
        log_const = log_det - 0.5 * d * LOG_2PI + math.log(weights[c])
        size = 0.0
        const = 0.0
        for j in range(d):
            u = 1.0 / math.sqrt(var[c, j])
            p = u**2
            s = means[c, j] - centre[j]
            size += p * (abs(s) * abs(s))
            coef[c, j] = -0.5 * p
            coef[c, d + j] = -0.5 * (-2.0 * p * s)
            const += p * (s * s)
        if not size <= limit:
            return _GROUPS
        coef[c, 2 * d] = -0.5 * (const - 2.0 * log_const)
    return _OK


@njit(nogil=True, cache=True)
def _result(moments, means, centre, full, n, total, centred, outer):
    """``StatsAccumulator.result`` of one group's moments (K, F), into the outputs
    (``outer`` (K, D, D) full, (K, D, 1) diagonal)."""
    k, d = means.shape
    pairs = d * (d + 1) // 2 if full else d
    for c in range(k):
        cnt = moments[c, moments.shape[1] - 1]
        n[c] = cnt
        for i in range(d):
            s_i = means[c, i] - centre[i]
            rx_i = moments[c, pairs + i]
            total[c, i] = rx_i + cnt * centre[i]
            centred[c, i] = rx_i - cnt * s_i
            if not full:  # (K, D, 1): the diagonal
                outer[c, i, 0] = moments[c, i] - 2.0 * s_i * rx_i + cnt * s_i**2
    if not full:
        return
    second = np.empty((d, d))
    for c in range(k):
        pos = 0
        for i in range(d):
            for j in range(i, d):
                second[i, j] = moments[c, pos]
                second[j, i] = moments[c, pos]
                pos += 1
        cnt = n[c]
        for i in range(d):
            s_i = means[c, i] - centre[i]
            for j in range(d):
                s_j = means[c, j] - centre[j]
                cross_ij = s_i * moments[c, pairs + j]
                cross_ji = s_j * moments[c, pairs + i]
                outer[c, i, j] = second[i, j] - cross_ij - cross_ji + cnt * s_i * s_j
        for i in range(d):
            for j in range(i + 1, d):
                sym = 0.5 * (outer[c, i, j] + outer[c, j, i])
                outer[c, i, j] = sym
                outer[c, j, i] = sym
        for i in range(d):
            outer[c, i, i] = 0.5 * (outer[c, i, i] + outer[c, i, i])


@njit(nogil=True, cache=True)
def _prepare(X, weights, means, cov, kind, limit):
    """(status, centre, coefficients in ``X.dtype``) of one centring group."""
    k, d = means.shape
    centre, status = _centre(weights, means)
    full = kind == 0
    n_feat = d * (d + 1) // 2 + d + 1 if full else 2 * d + 1
    coef64 = np.empty((k, n_feat))
    if status != _OK:
        return status, centre, coef64.astype(X.dtype)
    if full:
        status = _full_coef(weights, means, cov, limit, centre, coef64)
    else:
        status = _diag_coef(weights, means, cov[:, :, 0], kind == 2, limit, centre, coef64)
    return status, centre, coef64.astype(X.dtype)


@njit(nogil=True, cache=True)
def _rows_pass(X, row_weights, centre, coef, full, block, moments):
    """The compiled pass over rows ``X`` (one group) into ``moments``; the log-likelihood.

    ``block`` (:data:`~emkit.gaussian.kernels.BLOCK_ROWS`) comes as an argument: as
    a compile-time constant (a global read here) the pass ran ~25 % slower."""
    k = coef.shape[0]
    return _pass_by_blocks(X, row_weights, centre.reshape((1, centre.shape[0])), np.arange(k),
                           np.array([0, k]), coef, FULL if full else DIAGONAL, block, moments)


@njit(nogil=True, cache=True)
def _e_step(X, row_weights, weights, means, cov, kind, limit, block, n, total, centred,
            outer):
    """The whole E-step; returns (status, log-likelihood)."""
    status, centre, coef = _prepare(X, weights, means, cov, kind, limit)
    if status != _OK:
        return status, 0.0
    moments = np.zeros(coef.shape)
    loglik = _rows_pass(X, row_weights, centre, coef, kind == 0, block, moments)
    _result(moments, means, centre, kind == 0, n, total, centred, outer)
    return _OK, loglik


_KINDS = {"full": 0, "diag": 1, "spherical": 2}


def e_step_one_call(X: np.ndarray, sample_weight: np.ndarray | None, params: dict,
                    covariance_type: str, limit: float,
                    parts: list[tuple[int, int]] | None = None,
                    run_parts: Callable[[Callable, list], list] | None = None
                    ) -> tuple[dict, float] | None:
    """Statistics and log-likelihood of ``X`` at ``params``, or None (general path).

    Parameters
    ----------
    X : ndarray of shape (N, D)
        C-contiguous float64 or float32 rows.
    sample_weight : ndarray of shape (N,) or None
    params : dict
        ``weights`` (K,), ``means`` (K, D), ``covariances`` ((K, D, D) full, (K, D)
        diag, (K,) spherical), float64.
    covariance_type : {"full", "diag", "spherical"}
        ``full`` only where it uses quadratic features
        (:func:`~emkit.gaussian.prepared.quadratic_full`).
    limit : float
        The centring limit (:data:`~emkit.gaussian.prepared.CENTRING_LIMIT`).
    parts : list of (start, stop) or None
        Row ranges whose passes ``run_parts(fn, parts)`` runs (on threads: the
        compiled pass releases the GIL); their moments are summed. None: one pass.
    run_parts : callable or None

    Returns
    -------
    (stats, loglik) or None
        The statistics of :mod:`emkit.models.mixture.gaussian` and
        ``sum_i w_i log p(x_i)``; None where the general path must run (several
        centring groups, a covariance not positive definite, a weight not
        positive, means not finite).
    """
    weights = np.asarray(params["weights"], dtype=np.float64)
    means = np.ascontiguousarray(params["means"], dtype=np.float64)
    cov = np.asarray(params["covariances"], dtype=np.float64)
    kind = _KINDS[covariance_type]
    k, d = means.shape
    if kind == 0:
        cov = np.ascontiguousarray(cov)
        outer = np.empty((k, d, d))
    else:
        cov = np.ascontiguousarray(
            (cov[:, None] if kind == 2 else cov)[:, :, None] * np.ones((1, d, 1)))
        outer = np.empty((k, d, 1))
    n, total, centred = np.empty(k), np.empty((k, d)), np.empty((k, d))
    w = np.empty(0) if sample_weight is None else np.ascontiguousarray(sample_weight,
                                                                       dtype=np.float64)
    if parts is None or run_parts is None or len(parts) <= 1:
        status, loglik = _e_step(X, w, weights, means, cov, kind, float(limit), BLOCK_ROWS,
                                 n, total, centred, outer)
        if status != _OK:
            return None
    else:
        status, centre, coef = _prepare(X, weights, means, cov, kind, float(limit))
        if status != _OK:
            return None

        def one(bounds: tuple[int, int]) -> tuple[np.ndarray, float]:
            start, stop = bounds
            moments = np.zeros(coef.shape)
            part_ll = _rows_pass(X[start:stop], w[start:stop] if len(w) else w, centre, coef,
                                 kind == 0, BLOCK_ROWS, moments)
            return moments, float(part_ll)

        done = run_parts(one, parts)
        moments = done[0][0]
        for more, _ in done[1:]:
            moments += more
        loglik = sum(part_ll for _, part_ll in done)
        _result(moments, means, centre, kind == 0, n, total, centred, outer)
    if kind != 0:
        outer = outer[:, :, 0]
    return {"n": n, "sum": total, "centred_sum": centred, "centred_outer": outer}, loglik


@njit(nogil=True, cache=True, error_model="numpy")
def _m_step(n0, sums, centred, outer, kind, reg_covar, count_eps, weights, means, cov):
    k, d = sums.shape
    n = n0 + count_eps
    total = 0.0
    for c in range(k):
        total += n[c]
    for c in range(k):
        weights[c] = n[c] / total
        for i in range(d):
            means[c, i] = sums[c, i] / n[c]
    if kind == 0:
        for c in range(k):
            for i in range(d):
                shift_i = centred[c, i] / n[c]
                for j in range(d):
                    shift_j = centred[c, j] / n[c]
                    cov[c, i, j] = outer[c, i, j] / n[c] - shift_i * shift_j
                cov[c, i, i] += reg_covar
        return
    for c in range(k):
        mean_var = 0.0
        for i in range(d):
            shift = centred[c, i] / n[c]
            value = outer[c, i, 0] / n[c] - shift**2 + reg_covar
            cov[c, i, 0] = value
            mean_var += value
        if kind == 2:
            cov[c, 0, 0] = mean_var / d


def m_step_one_call(stats: dict, covariance_type: str, reg_covar: float,
                    count_eps: float) -> dict:
    """:func:`emkit.gaussian.m_step.gaussian_mixture_m_step` for full, diag or
    spherical covariances in one compiled call (same arithmetic, same results).

    Parameters
    ----------
    stats : dict
        ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D), ``centred_outer``
        ((K, D, D) full, (K, D) diag and spherical), float64.
    covariance_type : {"full", "diag", "spherical"}
    reg_covar : float
    count_eps : float
        Added to every count (scikit-learn's 10 machine epsilons).

    Returns
    -------
    dict
        ``weights`` (K,), ``means`` (K, D), ``covariances`` ((K, D, D), (K, D) or (K,)).
    """
    kind = _KINDS[covariance_type]
    sums = np.ascontiguousarray(stats["sum"], dtype=np.float64)
    k, d = sums.shape
    outer = np.ascontiguousarray(stats["centred_outer"], dtype=np.float64)
    if kind != 0:
        outer = outer.reshape(k, d, 1)
    cov = np.empty((k, d, d) if kind == 0 else (k, d, 1))
    weights, means = np.empty(k), np.empty((k, d))
    _m_step(np.ascontiguousarray(stats["n"], dtype=np.float64), sums,
            np.ascontiguousarray(stats["centred_sum"], dtype=np.float64), outer, kind,
            float(reg_covar), float(count_eps), weights, means, cov)
    if kind == 1:
        cov = cov[:, :, 0]
    elif kind == 2:
        cov = cov[:, 0, 0].copy()
    return {"weights": weights, "means": means, "covariances": cov}


@njit(nogil=True, cache=True)
def _collapse(cov, means, eps, resolution, tied, diagonal):
    """(code, component, smallest pivot): code 0 fine, 1 not finite, 2 not positive
    definite (or a variance not positive), 3 a pivot below the rounding of its mean."""
    k = cov.shape[0]
    d = cov.shape[1]
    for c in range(k):
        for i in range(cov.shape[1]):
            for j in range(cov.shape[2]):
                if not math.isfinite(cov[c, i, j]):
                    return 1, 0, 0.0
    smallest = np.empty(k)
    if diagonal:
        for c in range(k):
            low = cov[c, 0, 0]
            for i in range(1, d):
                low = min(low, cov[c, i, 0])
            if not low > 0.0:
                return 2, c, low
            smallest[c] = low
    else:
        lower = np.empty_like(cov)
        upper = np.empty_like(cov)
        if _factor(cov, lower, upper) >= 0:
            return 2, 0, 0.0
        for c in range(k):
            low = lower[c, 0, 0] ** 2
            for i in range(1, d):
                low = min(low, lower[c, i, i] ** 2)
            smallest[c] = low
    top_all = 0.0
    for c in range(means.shape[0]):
        for j in range(means.shape[1]):
            top_all = max(top_all, abs(means[c, j]))
    for c in range(k):
        if tied:
            scale = top_all
        else:
            scale = 0.0
            for j in range(means.shape[1]):
                scale = max(scale, abs(means[c, j]))
        floor = (resolution * eps * scale) ** 2
        if smallest[c] <= floor:
            return 3, c, smallest[c]
    return 0, 0, 0.0


def collapse_check(covariances: np.ndarray, means: np.ndarray, covariance_type: str,
                   eps: float, resolution: float) -> tuple[int, int, float]:
    """Whether a covariance is not finite, singular, or below the rounding of its mean.

    Parameters
    ----------
    covariances : ndarray
        In the layout of ``covariance_type``, float64.
    means : ndarray of shape (K, D)
    covariance_type : {"full", "tied", "diag", "spherical"}
    eps : float
        Machine epsilon of the E-step's precision.
    resolution : float
        A pivot (a variance) at or below ``(resolution * eps * max |mean|)**2`` is
        lost in rounding (over all means for tied, the component's otherwise).

    Returns
    -------
    code : int
        0 fine; 1 a covariance is not finite; 2 not positive definite (a variance
        not positive); 3 a pivot below the rounding of its mean.
    component : int
        The component (0 for tied) for codes 2 (diag, spherical) and 3.
    smallest : float
        Its smallest pivot (variance), for codes 2 and 3.
    """
    cov = np.asarray(covariances, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    if covariance_type == "tied":
        cov = cov[None]
    elif covariance_type == "spherical":
        cov = cov[:, None, None]
    elif covariance_type == "diag":
        cov = cov[:, :, None]
    code, comp, value = _collapse(np.ascontiguousarray(cov), means, float(eps),
                                  float(resolution), covariance_type == "tied",
                                  covariance_type in ("diag", "spherical"))
    return int(code), int(comp), float(value)
