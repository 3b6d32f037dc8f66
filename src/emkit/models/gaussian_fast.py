"""Fast Gaussian-mixture kernels: log-densities and statistics of one row chunk.

The reference for every formula here is
:func:`emkit.models.gaussian_math.log_gaussian_density` (one whitening product per
component); these kernels batch the same arithmetic into a few large BLAS calls
per chunk of rows and must agree with it (see the tests).

How each covariance type is laid out
------------------------------------
Every chunk ``X`` of shape (C, D) is first centred on its own column means ``c``
(``Xs = X - c``, one cheap pass) and the component means become ``d_k = mu_k - c``.
Nothing changes mathematically, but the quadratic forms and second moments no
longer cancel catastrophically when the data sit far from the origin.

``full``
    All K precision Cholesky factors ``U_k`` (D, D) are laid side by side in one
    (D, K*D) matrix ``W``, so whitening every row under every component is *one*
    matrix product ``Y = Xs @ W - [d_1 U_1, ..., d_K U_K]`` of shape (C, K*D);
    the Mahalanobis distances are the squared norms of its K blocks. The second
    moments are accumulated in the whitened coordinates of each component
    (``G_k = sum r y_k y_k^T``, already centred on ``mu_k``) and mapped back once
    per E-step with the covariance Cholesky factor ``L_k`` (``x - mu = y L^T``).
``tied``
    One whitening ``Xs @ U`` serves every component; distances are
    ``|y|^2 - 2 y b_k + |b_k|^2`` (one (C, D) x (D, K) product).
``diag`` / ``spherical``
    Distances are two (C, D) x (D, K) products; the diagonal second moments are
    ``r^T Xs^2`` corrected for ``d_k``.

Memory: the largest temporary is (C, K*D) for ``full`` (C = ``chunk_size``),
never N x K x D.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import linalg

from .gaussian_math import COVARIANCE_TYPES, LOG_2PI

__all__ = [
    "PreparedGaussians",
    "prepare_gaussians",
    "chunk_weighted_log_prob",
    "StatsAccumulator",
    "ChunkWork",
    "log_resp_inplace",
    "log_gaussian_density_fast",
]

_SINGULAR = (
    "the covariance of component {k} is singular or not positive definite (a "
    "component collapsed onto too few points); increase reg_covar, reduce "
    "n_components or rescale the data"
)


class ChunkWork(NamedTuple):
    """Intermediate arrays of one chunk, shared by the density and the statistics.

    Attributes
    ----------
    Xs : ndarray of shape (C, D)
        The rows centred on the chunk's column means.
    centre : ndarray of shape (D,)
        Those column means (float64).
    work : ndarray
        The whitened rows (C, K*D) for ``full``, (C, D) for ``tied``; ``Xs**2``
        for ``diag`` and ``spherical``.
    """

    Xs: np.ndarray
    centre: np.ndarray
    work: np.ndarray


@dataclass(frozen=True)
class PreparedGaussians:
    """Per-E-step factors of K Gaussians, computed once and reused for every chunk.

    Attributes
    ----------
    covariance_type : str
    means : ndarray of shape (K, D), float64
    chol : ndarray
        Covariance Cholesky factors ``L`` (lower; (K, D, D) full, (D, D) tied) or
        standard deviations ((K, D) diag, (K,) spherical), float64.
    prec_chol : ndarray
        Precision Cholesky factors ``U = L^-T`` in the layout of
        :mod:`emkit.models.gaussian_math`, float64.
    log_const : ndarray of shape (K,)
        ``log w_k + log det U_k - D/2 log(2 pi)``, float64 (``log w_k`` is 0 when
        the densities are asked for without weights).
    dtype : numpy.dtype
        Precision of the chunk arithmetic (float64 or float32).
    """

    covariance_type: str
    means: np.ndarray
    chol: np.ndarray
    prec_chol: np.ndarray
    log_const: np.ndarray
    dtype: np.dtype
    whiten: np.ndarray = field(repr=False)  # (D, K*D) full, (D, D) tied, (K, D) / (K,) precisions


def _cholesky_full(covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k, d, _ = covariances.shape
    lower = np.empty_like(covariances)
    upper = np.empty_like(covariances)
    eye = np.eye(d)
    for j in range(k):
        try:
            lower[j] = linalg.cholesky(covariances[j], lower=True, check_finite=True)
        except (linalg.LinAlgError, ValueError):
            raise ValueError(_SINGULAR.format(k=j)) from None
        upper[j] = linalg.solve_triangular(lower[j], eye, lower=True).T
    return lower, upper


def prepare_gaussians(weights: np.ndarray | None, means: np.ndarray, covariances: np.ndarray,
                      covariance_type: str, dtype: np.dtype | type = np.float64
                      ) -> PreparedGaussians:
    """Factor K Gaussians once for an E-step.

    Parameters
    ----------
    weights : ndarray of shape (K,) or None
        Mixture weights folded into ``log_const``; None leaves them out.
    means : ndarray of shape (K, D)
    covariances : ndarray
        In the layout of ``covariance_type`` (see :mod:`emkit.models.gaussian_math`).
    covariance_type : {"full", "tied", "diag", "spherical"}
    dtype : float64 or float32
        Precision of the per-chunk arithmetic.

    Raises
    ------
    ValueError
        When a covariance is not positive definite or a weight is not positive.
    """
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}"
        )
    dtype = np.dtype(dtype)
    means = np.asarray(means, dtype=np.float64)
    cov = np.asarray(covariances, dtype=np.float64)
    n_comp, d = means.shape
    if covariance_type == "full":
        chol, prec_chol = _cholesky_full(cov)
        log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
        whiten = np.ascontiguousarray(prec_chol.transpose(1, 0, 2).reshape(d, n_comp * d))
    elif covariance_type == "tied":
        chol, prec_chol = _cholesky_full(cov[None])
        chol, prec_chol = chol[0], prec_chol[0]
        log_det = np.full(n_comp, np.log(np.diag(prec_chol)).sum())
        whiten = prec_chol
    else:
        if not (np.all(cov > 0.0) and np.all(np.isfinite(cov))):
            raise ValueError(
                "variances must be positive and finite (a component collapsed onto a "
                "single value); increase reg_covar or reduce n_components"
            )
        chol = np.sqrt(cov)
        prec_chol = 1.0 / chol
        if covariance_type == "diag":
            log_det = np.log(prec_chol).sum(axis=1)
        else:
            log_det = d * np.log(prec_chol)
        whiten = prec_chol**2  # precisions
    log_const = log_det - 0.5 * d * LOG_2PI
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if not np.all(weights > 0.0):
            raise ValueError("mixture weights must be positive")
        log_const = log_const + np.log(weights)
    return PreparedGaussians(covariance_type, means, chol, prec_chol, log_const, dtype,
                             np.asarray(whiten, dtype=dtype))


def chunk_weighted_log_prob(X: np.ndarray, prep: PreparedGaussians
                            ) -> tuple[np.ndarray, ChunkWork]:
    """``log w_k + log N(x; mu_k, S_k)`` for one chunk of rows.

    Parameters
    ----------
    X : ndarray of shape (C, D)
        Rows in ``prep.dtype``.
    prep : PreparedGaussians

    Returns
    -------
    log_prob : ndarray of shape (C, K)
        In ``prep.dtype``.
    chunk : ChunkWork
        The intermediate arrays :meth:`StatsAccumulator.add` reuses.
    """
    dt = prep.dtype
    centre = X.mean(axis=0)
    Xs = X - centre
    d_means = (prep.means - centre).astype(dt)  # (K, D)
    n_comp, d = d_means.shape
    kind = prep.covariance_type
    if kind == "full":
        offsets = np.einsum("kd,kde->ke", prep.means - centre, prep.prec_chol)
        offsets = offsets.reshape(-1).astype(dt)
        work = Xs @ prep.whiten
        work -= offsets
        y3 = work.reshape(len(X), n_comp, d)
        maha = np.einsum("ckd,ckd->ck", y3, y3)
    elif kind == "tied":
        work = Xs @ prep.whiten
        b = d_means @ prep.whiten  # (K, D)
        maha = work @ (-2.0 * b.T)
        maha += np.einsum("cd,cd->c", work, work)[:, None]
        maha += np.einsum("kd,kd->k", b, b)
    elif kind == "diag":
        work = Xs * Xs
        p = prep.whiten  # (K, D) precisions
        maha = work @ p.T
        maha -= Xs @ (2.0 * d_means * p).T
        maha += np.einsum("kd,kd->k", d_means * d_means, p)
    else:
        work = Xs * Xs
        p = prep.whiten  # (K,) precisions
        maha = Xs @ (-2.0 * d_means.T)
        maha += work.sum(axis=1)[:, None]
        maha += np.einsum("kd,kd->k", d_means, d_means)
        maha *= p
    maha *= -0.5
    maha += prep.log_const.astype(dt)
    return maha, ChunkWork(Xs, np.asarray(centre, dtype=np.float64), work)


def log_resp_inplace(log_prob: np.ndarray) -> np.ndarray:
    """Turn weighted log-probabilities into responsibilities, in place.

    Returns the per-row log-likelihood ``logsumexp(log_prob, axis=1)`` (float64);
    ``log_prob`` then holds the responsibilities (rows sum to one).
    """
    top = log_prob.max(axis=1, keepdims=True)
    if not np.all(np.isfinite(top)):
        top = np.where(np.isfinite(top), top, 0.0)
    log_prob -= top
    with np.errstate(under="ignore"):
        np.exp(log_prob, out=log_prob)
    total = log_prob.sum(axis=1, keepdims=True)
    log_prob /= total
    return (np.log(total[:, 0], dtype=np.float64) + top[:, 0]).astype(np.float64)


class StatsAccumulator:
    """Running sums of the Gaussian-mixture statistics over row chunks.

    The statistics follow the contract of :mod:`emkit.models.gaussian_mixture`:
    ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D) and ``centred_outer``
    ((K, D, D) for full and tied, (K, D) for diag and spherical), centred on
    ``prep.means``. Sums are kept in float64 whatever the chunk precision.
    """

    def __init__(self, prep: PreparedGaussians):
        self.prep = prep
        n_comp, d = prep.means.shape
        self.n = np.zeros(n_comp)
        self.sum = np.zeros((n_comp, d))
        self.csum = np.zeros((n_comp, d))  # full: in whitened coordinates
        full_like = prep.covariance_type in ("full", "tied")
        self.outer = np.zeros((n_comp, d, d) if full_like else (n_comp, d))

    def add(self, chunk: ChunkWork, resp: np.ndarray) -> None:
        """Add one chunk, given the :class:`ChunkWork` of :func:`chunk_weighted_log_prob`
        and the rows' weighted responsibilities ``resp`` (C, K)."""
        prep = self.prep
        n_comp, d = prep.means.shape
        Xs, centre, work = chunk
        n_rows = len(Xs)
        d_means = prep.means - centre
        nk = resp.sum(axis=0, dtype=np.float64)
        rx = (resp.T @ Xs).astype(np.float64)  # sum r (x - c), (K, D)
        self.n += nk
        self.sum += rx + nk[:, None] * centre
        kind = prep.covariance_type
        if kind == "full":
            y3 = work.reshape(n_rows, n_comp, d)
            z = y3 * resp[:, :, None]
            self.csum += z.sum(axis=0, dtype=np.float64)
            self.outer += np.matmul(y3.transpose(1, 2, 0), z.transpose(1, 0, 2))
        elif kind == "tied":
            rxx = (Xs.T @ (resp[:, :, None] * Xs[:, None, :]).reshape(n_rows, -1))
            rxx = rxx.reshape(d, n_comp, d).transpose(1, 0, 2).astype(np.float64)
            cross = d_means[:, :, None] * rx[:, None, :]
            self.outer += (rxx - cross - cross.transpose(0, 2, 1)
                           + nk[:, None, None] * d_means[:, :, None] * d_means[:, None, :])
            self.csum += rx - nk[:, None] * d_means
        else:
            rxx = (resp.T @ work).astype(np.float64)  # sum r (x - c)^2
            self.outer += rxx - 2.0 * d_means * rx + nk[:, None] * d_means**2
            self.csum += rx - nk[:, None] * d_means

    def result(self) -> dict:
        """The statistics dict of the contract."""
        prep = self.prep
        outer, csum = self.outer, self.csum
        if prep.covariance_type == "full":
            lower = prep.chol
            # x - mu = y L^T, so sum r (x-mu)(x-mu)^T = L G L^T
            outer = np.matmul(np.matmul(lower, outer), lower.transpose(0, 2, 1))
            outer = 0.5 * (outer + outer.transpose(0, 2, 1))
            csum = np.einsum("ke,kde->kd", csum, lower)
        return {"n": self.n.copy(), "sum": self.sum.copy(), "centred_sum": csum.copy(),
                "centred_outer": outer.copy()}


def log_gaussian_density_fast(X: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                              covariance_type: str, chunk_size: int = 1024) -> np.ndarray:
    """Log-density of each row under each Gaussian, shape (N, K), by the chunked kernels.

    Same values as :func:`emkit.models.gaussian_math.log_gaussian_density` (which
    takes precision Cholesky factors instead of covariances).
    """
    X = np.asarray(X)
    prep = prepare_gaussians(None, means, covariances, covariance_type,
                             X.dtype if X.dtype == np.float32 else np.float64)
    out = np.empty((len(X), len(prep.means)), dtype=prep.dtype)
    for start in range(0, len(X), chunk_size):
        block = np.asarray(X[start:start + chunk_size], dtype=prep.dtype)
        out[start:start + len(block)] = chunk_weighted_log_prob(block, prep)[0]
    return out
