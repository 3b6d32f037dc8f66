"""The row log-sum-exp and log-normalization: the one NumPy reference.

``logsumexp_rows(a)[i] = log(sum_k exp(a[i, k]))``, computed as
``m_i + log(sum_k exp(a[i, k] - m_i))`` with ``m_i`` the row's maximum, so
nothing overflows and the largest term is exactly ``exp(0) = 1``. A row whose
maximum is not finite is shifted by 0 instead, so that

* a row of all ``-inf`` (every component impossible) gives ``-inf`` and, in
  :func:`log_normalize`, zero responsibilities, without a warning;
* a row holding ``+inf`` gives ``+inf``; one holding NaN gives NaN.

Every other log-sum-exp in emkit is either this function or a compiled loop
inside a compiled kernel (:mod:`emkit.gaussian.kernels`,
:mod:`emkit.models.mixture.gaussian_missing_kernels`), and
``tests/test_numerics_agree.py`` holds those loops, and this reference against
:func:`scipy.special.logsumexp`, to agree. It is plain NumPy rather than the
SciPy function because that one's per-call overhead (input checks, weights,
complex support) dominated small fits.
"""

from __future__ import annotations

import numpy as np

__all__ = ["logsumexp_rows", "log_normalize"]


def _finite_max(a: np.ndarray, axis: int) -> np.ndarray:
    """Maximum of ``a`` along ``axis``, replaced by 0 where it is not finite."""
    top = a.max(axis=axis, initial=-np.inf)
    return np.where(np.isfinite(top), top, 0.0)


def logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``log(sum(exp(a), axis=1))`` of an (n, K) array, without overflow.

    Parameters
    ----------
    a : ndarray of shape (n, K)
        Log-values, e.g. the log joint ``log w_k + log p_k(x_i)`` of a mixture.

    Returns
    -------
    ndarray of shape (n,)
        In ``a``'s floating dtype. ``-inf`` for a row of all ``-inf`` (or with
        ``K = 0``), with no floating-point warning.
    """
    a = np.asarray(a)
    if a.shape[1] == 1:
        return a[:, 0].copy()
    top = _finite_max(a, 1)
    with np.errstate(under="ignore", over="ignore", divide="ignore"):
        return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def log_normalize(log_joint: np.ndarray, *, axis: int = 1,
                  out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The log-sum-exp over ``axis`` and the normalized ``exp(log_joint - lse)``.

    Parameters
    ----------
    log_joint : ndarray of shape (n, K)
        Log joint of each row and component (or, with ``axis=0``, of shape
        (K, n), component-major).
    axis : int, default 1
        The axis summed over (the components).
    out : ndarray of ``log_joint``'s shape, optional
        Where to write the responsibilities; may be ``log_joint`` itself, which
        then holds them on return (no temporary of ``log_joint``'s size is made).

    Returns
    -------
    lse : ndarray of shape (n,), float64
        ``log(sum(exp(log_joint), axis))``; ``-inf`` for a row of all ``-inf``.
    resp : ndarray of ``log_joint``'s shape and dtype
        ``exp(log_joint - lse)``, summing to one along ``axis`` (``out`` when
        given); a row of all ``-inf`` gets zeros. Rows holding ``+inf`` get NaN.
    """
    log_joint = np.asarray(log_joint)
    top = _finite_max(log_joint, axis)
    resp = np.subtract(log_joint, np.expand_dims(top, axis), out=out)
    with np.errstate(under="ignore", over="ignore"):
        np.exp(resp, out=resp)
    total = resp.sum(axis=axis)
    with np.errstate(divide="ignore"):
        lse = np.log(total, dtype=np.float64) + top
    with np.errstate(invalid="ignore"):
        resp /= np.expand_dims(np.where(total > 0, total, 1.0), axis)
    return lse, resp
