"""Fast Gaussian-mixture kernels: log-densities and statistics of one row chunk.

The reference for every formula here is
:func:`emkit.gaussian.reference.log_gaussian_density` (one whitening product per
component); these kernels batch the same arithmetic into a few large BLAS calls
per chunk of rows and must agree with it (see the tests).

How each covariance type is laid out
------------------------------------
Every chunk ``X`` of shape (C, D) is first centred on the mixture's mean ``c``
(``Xs = X - c``, one cheap pass) and the component means become ``d_k = mu_k - c``.
Nothing changes mathematically, but the quadratic forms and second moments no
longer cancel catastrophically when the data sit far from the origin.

``full``
    Quadratic-form log-densities: each row becomes the features
    ``[Xs_i Xs_j for i <= j, Xs, 1]`` (D(D+1)/2 + D + 1 columns), and the log
    weighted densities of all K components are *one* product of those features
    with (K, F) coefficients built from the precisions ``P_k``:
    ``-1/2 (x - d)^T P (x - d) + const`` expanded. The statistics are one more
    product, ``resp @ features``, giving the counts, the sums and the second
    moments of every component at once; they are centred on ``mu_k`` once per
    E-step. Both products cost ``2 C K D(D+1)/2`` flops, the least any method
    can (a triangular whitening plus a symmetric Gram), and no (C, K, D) array
    is formed. Used when ``D <= 8K + 8`` (:func:`quadratic_full`).

    Otherwise (few components, many features) all ``U_k`` are laid side by side
    in one (D+1, K*D) matrix, so whitening every row under every component is
    one product ``[Xs, 1] @ W`` (the offsets ``-d_k U_k`` ride as the last row);
    distances are the squared norms of its K blocks. The second moments are one
    more product, ``[Xs, 1]^T (r * Y)`` of shape (D+1, K*D): block k holds
    ``sum r (x - c) y_k^T`` and ``sum r y_k``; since ``y_k = (x - mu_k) U_k``
    the centred moment is ``(sum r (x - c) y_k^T - d_k sum r y_k^T) L_k^T``.
``tied``
    One whitening ``Xs @ U`` serves every component; log-probabilities are one
    product of (K, D+2) coefficients with the features ``[|y|^2, y, 1]``.
``diag`` / ``spherical``
    Log-probabilities are one product of (K, 2D+1) coefficients with the
    features ``[Xs^2, Xs, 1]``, and the statistics one product of the
    responsibilities with the same features (counts, sums and squares at once).

Log-probabilities and responsibilities are laid out component-major, (K, C), so
the log-sum-exp over components reduces along contiguous rows.

Memory: the largest temporary is (C, D(D+1)/2) or (C, K*D) for ``full``,
(C, K, D) for ``tied`` (C = ``chunk_size``); never N x K x D.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import linalg

from ..numerics.logsumexp import log_normalize
from .reference import COVARIANCE_TYPES, LOG_2PI

__all__ = [
    "PreparedGaussians",
    "prepare_gaussians",
    "chunk_weighted_log_prob",
    "StatsAccumulator",
    "ChunkWork",
    "log_resp_inplace",
    "quadratic_full",
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
    features : ndarray of shape (C, F)
        ``full``: ``[(x-c)_i (x-c)_j for i <= j, x - c, 1]``;
        ``diag``/``spherical``: ``[(x - c)^2, x - c, 1]``;
        ``tied``: ``[|y|^2, y, 1]`` with ``y = (x - c) U``. ``c`` is
        ``PreparedGaussians.centre``; the last column is always ones, so
        ``resp @ features`` yields the weighted sums and the counts at once.
    whitened : ndarray or None
        ``tied``: the whitened rows (C, D) ``(x - c) U``; ``full`` by whitening:
        (C, K*D), block k being ``(x - mu_k) U_k``; None otherwise.
    """

    features: np.ndarray
    whitened: np.ndarray | None


@dataclass(frozen=True)
class PreparedGaussians:
    """Per-E-step factors of K Gaussians, computed once and reused for every chunk.

    Attributes
    ----------
    covariance_type : str
    means : ndarray of shape (K, D), float64
    centre : ndarray of shape (D,), float64
        The point every chunk is centred on (the mixture's mean), so that
        quadratic forms do not cancel when the data sit far from the origin.
    chol : ndarray
        Covariance Cholesky factors ``L`` (lower; (K, D, D) full, (D, D) tied) or
        standard deviations ((K, D) diag, (K,) spherical), float64.
    prec_chol : ndarray
        Precision Cholesky factors ``U = L^-T`` in the layout of
        :mod:`emkit.gaussian.reference`, float64.
    log_const : ndarray of shape (K,)
        ``log w_k + log det U_k - D/2 log(2 pi)``, float64 (``log w_k`` is 0 when
        the densities are asked for without weights).
    dtype : numpy.dtype
        Precision of the chunk arithmetic (float64 or float32).
    whiten : ndarray
        Precisions: ``full`` (K, D, D), ``diag`` (K, D), ``spherical`` (K,); for
        ``tied`` the factor ``U`` (D, D); for ``full`` by whitening (D+1, K*D),
        all ``U_k`` side by side over the row ``-(mu_k - c) U_k``. In ``dtype``.
    coef : ndarray or None
        (K, F) coefficients turning a chunk's features (see :class:`ChunkWork`)
        into log weighted densities with one matrix product. In ``dtype``.
        None for ``full`` by whitening.
    method : {"quadratic", "whiten"} or None
        How ``full`` is computed (see :func:`quadratic_full`).
    """

    covariance_type: str
    means: np.ndarray
    centre: np.ndarray
    chol: np.ndarray
    prec_chol: np.ndarray
    log_const: np.ndarray
    dtype: np.dtype
    whiten: np.ndarray = field(repr=False)
    coef: np.ndarray | None = field(default=None, repr=False)
    method: str | None = None

    @property
    def shifted_means(self) -> np.ndarray:
        """``means - centre``, shape (K, D), float64."""
        return self.means - self.centre


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
        In the layout of ``covariance_type`` (see :mod:`emkit.gaussian.reference`).
    covariance_type : {"full", "tied", "diag", "spherical"}
    dtype : float64 or float32
        Precision of the per-chunk arithmetic.

    Raises
    ------
    ValueError
        When a covariance is not positive definite or a weight is negative or NaN.
    """
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}"
        )
    dtype = np.dtype(dtype)
    means = np.asarray(means, dtype=np.float64)
    cov = np.asarray(covariances, dtype=np.float64)
    n_comp, d = means.shape
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if not np.all(weights >= 0.0):
            raise ValueError("mixture weights must be non-negative numbers")
        centre = weights @ means / weights.sum()
    else:
        centre = means.mean(axis=0)
    if not np.all(np.isfinite(centre)):
        raise ValueError("the means must be finite")
    shifted = means - centre
    method = None
    if covariance_type == "full":
        chol, prec_chol = _cholesky_full(cov)
        log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
        method = "quadratic" if quadratic_full(n_comp, d) else "whiten"
        if method == "quadratic":
            whiten = np.matmul(prec_chol, prec_chol.transpose(0, 2, 1))  # precisions
        else:
            whiten = np.empty((d + 1, n_comp * d))
            whiten[:d] = prec_chol.transpose(1, 0, 2).reshape(d, n_comp * d)
            whiten[d] = -np.einsum("kd,kde->ke", shifted, prec_chol).reshape(-1)
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
        with np.errstate(divide="ignore"):
            log_const = log_const + np.log(weights)
    coef = None
    if method != "whiten":
        coef = np.ascontiguousarray(
            _quadratic_coefficients(covariance_type, whiten, shifted, log_const), dtype=dtype)
    return PreparedGaussians(covariance_type, means, centre, chol, prec_chol, log_const,
                             dtype, np.ascontiguousarray(whiten, dtype=dtype), coef, method)


def quadratic_full(n_components: int, n_features: int) -> bool:
    """Whether ``full`` uses quadratic features (else whitening), see the module notes.

    Quadratic features need half the flops of whitening, and the E-step over
    them is one compiled pass (:mod:`emkit.gaussian.kernels`); but their
    count grows as D^2 / 2 while only K rows share them, so with many features
    and few components whitening wins. Measured E-step seconds on 2 cores,
    quadratic vs whitening, at (N, D, K): (200k, 40, 4) 0.10 vs 0.17;
    (1M, 50, 8) 1.06 vs 1.58; (200k, 16, 1) 0.017 vs 0.019; (200k, 48, 4)
    0.22 vs 0.18; (100k, 96, 8) 0.88 vs 0.46. Hence ``D <= 8 K + 8``.
    """
    return n_features <= 8 * n_components + 8


def _quadratic_coefficients(covariance_type: str, whiten: np.ndarray, shifted: np.ndarray,
                            log_const: np.ndarray) -> np.ndarray | None:
    """Coefficients ``B`` with ``log w_k + log N = B @ [f(x), 1]`` for one GEMM per chunk.

    full: features ``[(x-c)_i (x-c)_j for i <= j, x-c, 1]``; diag/spherical:
    ``[(x-c)^2, x-c, 1]``; tied: ``[|y|^2, y, 1]`` with ``y = (x-c) U``.
    Expanding ``-1/2 (x - d)^T P (x - d) + const`` gives the rows
    ``-1/2 [P_ij (2 off the diagonal), -2 P d, d^T P d - 2 const]``.
    """
    n_comp, d = shifted.shape
    if covariance_type == "full":
        rows, cols = np.triu_indices(d)
        twice = np.where(rows == cols, 1.0, 2.0)  # x_i x_j and x_j x_i share a feature
        quad = whiten[:, rows, cols] * twice
        p_d = np.einsum("kij,kj->ki", whiten, shifted)
        lin = -2.0 * p_d
        const = np.einsum("ki,ki->k", shifted, p_d)
    elif covariance_type == "tied":
        b = shifted @ whiten  # (K, D) whitened offsets
        quad = np.ones((n_comp, 1))
        lin = -2.0 * b
        const = np.einsum("kd,kd->k", b, b)
    else:
        p = whiten if covariance_type == "diag" else np.repeat(whiten[:, None], d, axis=1)
        quad = p
        lin = -2.0 * p * shifted
        const = np.einsum("kd,kd->k", p, shifted * shifted)
    return -0.5 * np.hstack([quad, lin, (const - 2.0 * log_const)[:, None]])


def chunk_weighted_log_prob(X: np.ndarray, prep: PreparedGaussians
                            ) -> tuple[np.ndarray, ChunkWork]:
    """``log w_k + log N(x; mu_k, S_k)`` for one chunk of rows, component-major.

    Parameters
    ----------
    X : ndarray of shape (C, D)
        Rows in ``prep.dtype``.
    prep : PreparedGaussians

    Returns
    -------
    log_prob : ndarray of shape (K, C)
        In ``prep.dtype``. Component-major, so that reductions over components
        (max, sum) run along contiguous rows.
    chunk : ChunkWork
        The intermediate arrays :meth:`StatsAccumulator.add` reuses.
    """
    dt = prep.dtype
    n_rows, d = X.shape
    kind = prep.covariance_type
    centre = prep.centre.astype(dt)
    if prep.method == "whiten":
        # [X - c, 1] @ [[U_1 .. U_K], [-(mu_k - c) U_k]]: whitening and offsets in one GEMM
        features = np.empty((n_rows, d + 1), dtype=dt)
        np.subtract(X, centre, out=features[:, :d])
        features[:, d] = 1.0
        whitened = features @ prep.whiten
        y3 = whitened.reshape(n_rows, len(prep.means), d)
        log_prob = np.einsum("ckd,ckd->kc", y3, y3)
        log_prob *= -0.5
        log_prob += prep.log_const.astype(dt)[:, None]
        return log_prob, ChunkWork(features, whitened)
    if kind == "full":
        n_pairs = d * (d + 1) // 2
        features = np.empty((n_rows, n_pairs + d + 1), dtype=dt)
        xs = np.subtract(X, centre, out=features[:, n_pairs:n_pairs + d])
        start = 0
        for i in range(d):  # row-major upper triangle, as np.triu_indices
            np.multiply(xs[:, i:i + 1], xs[:, i:], out=features[:, start:start + d - i])
            start += d - i
        whitened = None
    elif kind == "tied":
        whitened = (X - centre) @ prep.whiten
        features = np.empty((n_rows, d + 2), dtype=dt)
        np.einsum("cd,cd->c", whitened, whitened, out=features[:, 0])
        features[:, 1:d + 1] = whitened
    elif kind in ("diag", "spherical"):
        whitened = None
        features = np.empty((n_rows, 2 * d + 1), dtype=dt)
        xs = np.subtract(X, centre, out=features[:, d:2 * d])
        np.multiply(xs, xs, out=features[:, :d])
    features[:, -1] = 1.0
    return prep.coef @ features.T, ChunkWork(features, whitened)


def log_resp_inplace(log_prob: np.ndarray) -> np.ndarray:
    """Turn component-major log-probabilities (K, C) into responsibilities, in place.

    Returns the per-row log-likelihood ``logsumexp(log_prob, axis=0)`` (float64,
    shape (C,)); ``log_prob`` then holds the responsibilities (columns sum to one).
    This is :func:`emkit.numerics.logsumexp.log_normalize` over axis 0 into
    ``log_prob`` itself.
    """
    return log_normalize(log_prob, axis=0, out=log_prob)[0]


class StatsAccumulator:
    """Running sums of the Gaussian-mixture statistics over row chunks.

    The statistics follow the contract of :mod:`emkit.models.mixture.gaussian`:
    ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D) and ``centred_outer``
    ((K, D, D) for full and tied, (K, D) for diag and spherical), centred on
    ``prep.means``. Sums are kept in float64 whatever the chunk precision.
    """

    def __init__(self, prep: PreparedGaussians):
        self.prep = prep
        n_comp, d = prep.means.shape
        width = {"full": d * (d + 1) // 2 + d + 1,
                 "tied": d + 2}.get(prep.covariance_type, 2 * d + 1)
        if prep.method == "whiten":
            width = d + 1
            # [x - c, 1]^T (r_k y_k) for every k side by side: (D+1, K*D)
            self.cross = np.zeros((d + 1, n_comp * d))
        self.moments = np.zeros((n_comp, width))  # resp @ features, summed
        if prep.covariance_type == "tied":
            self.gram = np.zeros((n_comp, d, d))  # sum r y y^T, y = (x - c) U

    def add(self, chunk: ChunkWork, resp: np.ndarray) -> None:
        """Add one chunk, given the :class:`ChunkWork` of :func:`chunk_weighted_log_prob`
        and the rows' weighted responsibilities ``resp`` (K, C), which this may
        overwrite; so may it the chunk's ``whitened`` array."""
        features, whitened = chunk
        self.moments += resp @ features
        if whitened is None:
            return
        if self.prep.method == "whiten":
            # sum_i r_ik [x_i - c, 1] y_ik^T for all k in one product (y scaled in place)
            n_comp, d = self.prep.means.shape
            scaled = whitened.reshape(len(features), n_comp, d)
            scaled *= resp.T[:, :, None]
            self.cross += features.T @ whitened
            return
        scaled = np.sqrt(resp, out=resp).T[:, :, None] * whitened[:, None, :]
        self.gram += np.matmul(scaled.transpose(1, 2, 0), scaled.transpose(1, 0, 2))

    def result(self) -> dict:
        """The statistics dict of the contract."""
        prep = self.prep
        kind = prep.covariance_type
        d = prep.means.shape[1]
        shifted = prep.shifted_means
        n = self.moments[:, -1].copy()
        if prep.method == "whiten":
            rx = self.moments[:, :d]
            blocks = self.cross.reshape(d + 1, -1, d).transpose(1, 0, 2)  # (K, D+1, D)
            # sum r (x - mu) y^T = sum r (x - c) y^T - d_k sum r y^T, and y = (x - mu) U,
            # so sum r (x - mu)(x - mu)^T = (that) U^-1 = (that) L^T
            centred = blocks[:, :d] - shifted[:, :, None] * blocks[:, d][:, None, :]
            outer = np.matmul(centred, prep.chol.transpose(0, 2, 1))
        elif kind == "full":
            rows, cols = np.triu_indices(d)
            n_pairs = len(rows)
            rx = self.moments[:, n_pairs:n_pairs + d]
            second = np.empty((len(n), d, d))  # sum r (x - c)(x - c)^T
            second[:, rows, cols] = self.moments[:, :n_pairs]
            second[:, cols, rows] = self.moments[:, :n_pairs]
            cross = shifted[:, :, None] * rx[:, None, :]
            outer = (second - cross - cross.transpose(0, 2, 1)
                     + n[:, None, None] * shifted[:, :, None] * shifted[:, None, :])
        elif kind == "tied":
            ry = self.moments[:, 1:d + 1]  # sum r y, y = (x - c) U
            b = shifted @ prep.prec_chol
            cross = b[:, :, None] * ry[:, None, :]
            centred = (self.gram - cross - cross.transpose(0, 2, 1)
                       + n[:, None, None] * b[:, :, None] * b[:, None, :])
            lower = prep.chol
            outer = np.matmul(np.matmul(lower, centred), lower.T)
            rx = ry @ lower.T
        else:
            rxx, rx = self.moments[:, :d], self.moments[:, d:2 * d]
            outer = rxx - 2.0 * shifted * rx + n[:, None] * shifted**2
        if outer.ndim == 3:
            outer = 0.5 * (outer + outer.transpose(0, 2, 1))
        return {
            "n": n,
            "sum": rx + n[:, None] * prep.centre,
            "centred_sum": rx - n[:, None] * shifted,
            "centred_outer": outer,
        }


def log_gaussian_density_fast(X: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                              covariance_type: str, chunk_size: int = 1024) -> np.ndarray:
    """Log-density of each row under each Gaussian, shape (N, K), by the chunked kernels.

    Same values as :func:`emkit.gaussian.reference.log_gaussian_density` (which
    takes precision Cholesky factors instead of covariances).
    """
    X = np.asarray(X)
    prep = prepare_gaussians(None, means, covariances, covariance_type,
                             X.dtype if X.dtype == np.float32 else np.float64)
    out = np.empty((len(X), len(prep.means)), dtype=prep.dtype)
    for start in range(0, len(X), chunk_size):
        block = np.asarray(X[start:start + chunk_size], dtype=prep.dtype)
        out[start:start + len(block)] = chunk_weighted_log_prob(block, prep)[0].T
    return out
