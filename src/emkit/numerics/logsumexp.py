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


def _finite_max(a: np.ndarray, axis: int) -> tuple[np.ndarray, bool]:
    """Maximum of ``a`` along ``axis``, 0 where it is not finite; and whether any was not.

    The replacement is made only when needed, so the common case (every maximum
    finite) costs one ``isfinite`` pass over the (n,) maxima and no copy.
    """
    if a.shape[axis] == 0:
        shape = a.shape[:axis] + a.shape[axis + 1:]
        return np.zeros(shape, dtype=np.result_type(a, np.float64)), True
    top = a.max(axis=axis)
    bad = ~np.isfinite(top)
    if not bad.any():
        return top, False
    return np.where(bad, 0.0, top), True


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
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    if a.shape[1] == 1:
        return a[:, 0].copy()
    top, _ = _finite_max(a, 1)
    with np.errstate(all="ignore"):  # underflow, and log(0) of an all -inf row
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
        given); a row of all ``-inf`` gets zeros; a row holding ``+inf`` or
        NaN has no normalization and gets NaN entries.
    """
    log_joint = np.asarray(log_joint)
    if not np.issubdtype(log_joint.dtype, np.floating):
        log_joint = log_joint.astype(np.float64)
    top, some_bad = _finite_max(log_joint, axis)
    # one errstate for all: the shift makes the largest term exp(0) = 1, so only an
    # underflow, log(0) of an all -inf row, or inf / inf of a row with +inf can warn
    with np.errstate(all="ignore"):
        resp = np.subtract(log_joint, np.expand_dims(top, axis), out=out)
        np.exp(resp, out=resp)
        total = resp.sum(axis=axis)
        lse = np.log(total, dtype=np.float64) + top
        if some_bad:  # only a row without a finite maximum can sum to 0
            total = np.where(total == 0, 1.0, total)
        resp /= np.expand_dims(total, axis)
    return lse, resp
