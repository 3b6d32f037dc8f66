"""Per-E-step factors of K Gaussians, and the points their quadratic forms are centred on.

One job: turn a mixture's weights, means and covariances into the factors and
coefficients the blocked and compiled E-step kernels
(:mod:`emkit.gaussian.blocked`, :mod:`emkit.gaussian.kernels`) use for every
chunk of rows, once per E-step.

Centring groups
---------------
The kernels write each log-density as a quadratic form expanded about a point
``c``: with ``d = mu - c`` and the precision ``P``,
``-1/2 (x - mu)^T P (x - mu) = -1/2 [(x-c)^T P (x-c) - 2 d^T P (x-c) + d^T P d]``.
Near ``mu`` the three terms are each about ``m = |d|^T |P| |d|`` (absolute values
entry by entry) while their sum is O(1), so rounding costs about ``m`` units of
the working precision: 4e-6 at components 1e5 standard deviations apart when
``c`` is the mixture's mean, 6e-2 at 1e7. The second moments cancel in the same
way. So the components are shared out between *centring groups*: every
component's ``m`` about its group's centre is at most :data:`CENTRING_LIMIT`.
Ordinary mixtures are one group centred on the mixture's mean (the test costs
one (K, D, D) product per E-step); components far apart in units of their own
spread get centres of their own, and the kernels build one set of features per
group. The per-row work grows with the number of groups only in building those
features; the matrix products keep their total size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .reference import COVARIANCE_TYPES, LOG_2PI

__all__ = ["PreparedGaussians", "prepare_gaussians", "quadratic_full", "centring_groups",
           "upper_pairs", "CENTRING_LIMIT"]

#: Largest ``m = |mu_k - c|^T |P_k| |mu_k - c|`` (see the module notes) at which
#: component k's quadratic form may be expanded about a centre ``c``: the
#: expansion then loses about ``4 m`` units in the last place, ~5e-13 in float64
#: (offsets up to 32 standard deviations share one centre), far below any
#: tolerance an E-step is used with. float32 chunks lose up to ~2e-4 there, as
#: they did before groups existed; a tighter float32 limit split ordinary
#: mixtures (8 clusters 6 sd apart in 8 dimensions) into 7 groups and made the
#: E-step 3 times slower.
CENTRING_LIMIT = {np.dtype(np.float64): 2.0**10, np.dtype(np.float32): 2.0**10}

_SINGULAR = (
    "the covariance of component {k} is singular or not positive definite (a "
    "component collapsed onto too few points); increase reg_covar, reduce "
    "n_components or rescale the data"
)


@dataclass(frozen=True)
class PreparedGaussians:
    """Per-E-step factors of K Gaussians, computed once and reused for every chunk.

    Attributes
    ----------
    covariance_type : str
    means : ndarray of shape (K, D), float64
    centres : ndarray of shape (G, D), float64
        The centre of each centring group (see the module notes); ``G = 1`` (the
        mixture's mean) unless components lie far apart in units of their spread.
    members : ndarray of shape (K,), int64
        The components group by group: group g is ``members[bounds[g]:bounds[g+1]]``.
    bounds : ndarray of shape (G + 1,), int64
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
        all ``U_k`` side by side over the row ``-(mu_k - c_k) U_k``. In ``dtype``.
    coef : ndarray or None
        (K, F) coefficients turning a chunk's features (centred on each
        component's group centre) into log weighted densities with one matrix
        product per group. In ``dtype``. None for ``full`` by whitening.
    method : {"quadratic", "whiten"} or None
        How ``full`` is computed (see :func:`quadratic_full`).
    parts : tuple of (ndarray, PreparedGaussians)
        With several groups, each group's component indices and its factors as a
        one-group ``PreparedGaussians`` (for the NumPy chunk kernels); empty
        with one group.
    """

    covariance_type: str
    means: np.ndarray
    centres: np.ndarray
    members: np.ndarray
    bounds: np.ndarray
    chol: np.ndarray
    prec_chol: np.ndarray
    log_const: np.ndarray
    dtype: np.dtype
    whiten: np.ndarray = field(repr=False)
    coef: np.ndarray | None = field(default=None, repr=False)
    method: str | None = None
    parts: tuple = field(default=(), repr=False)

    @property
    def component_centres(self) -> np.ndarray:
        """Each component's group centre, shape (K, D), float64."""
        return _spread(self.centres, self.members, self.bounds, self.means.shape)

    @property
    def shifted_means(self) -> np.ndarray:
        """``means - component_centres``, shape (K, D), float64."""
        return self.means - self.component_centres


def _spread(centres: np.ndarray, members: np.ndarray, bounds: np.ndarray,
            shape: tuple[int, ...]) -> np.ndarray:
    """Each component's group centre, shape (K, D)."""
    out = np.empty(shape)
    if len(centres) == 1:  # filled, not np.broadcast_to: ~1 us instead of ~5 us
        out[...] = centres[0]
        return out
    for g in range(len(centres)):
        out[members[bounds[g]:bounds[g + 1]]] = centres[g]
    return out


def _cholesky_full(covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``L`` and ``U = L^-T`` of each (K, D, D) covariance (compiled:
    :func:`~emkit.gaussian.cholesky_kernels.cholesky_factors`, imported on first use
    so that importing this module does not load numba)."""
    from .cholesky_kernels import cholesky_factors

    lower, upper, failed = cholesky_factors(covariances)
    if failed >= 0:
        raise ValueError(_SINGULAR.format(k=failed))
    return lower, upper


def _expansion_size(abs_prec: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``|d_k|^T |P_k| |d_k|`` for offsets (K, D) and ``|P|`` (K, D, D) or (K, D)."""
    a = np.abs(offsets)
    if abs_prec.ndim == 3:
        return np.einsum("kd,kde,ke->k", a, abs_prec, a)
    return np.einsum("kd,kd->k", abs_prec, a * a)


def centring_groups(means: np.ndarray, abs_prec: np.ndarray, centre: np.ndarray,
                    limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres, members and bounds of the centring groups (see the module notes).

    Parameters
    ----------
    means : ndarray of shape (K, D)
    abs_prec : ndarray of shape (K, D, D) or (K, D)
        Entry-wise absolute precisions (their diagonals for diag-like types).
    centre : ndarray of shape (D,)
        The one centre to use when every component is within ``limit`` of it.
    limit : float
        Largest ``|mu_k - c|^T |P_k| |mu_k - c|`` allowed about a group's centre.

    Returns
    -------
    centres : ndarray of shape (G, D)
    members : ndarray of shape (K,)
    bounds : ndarray of shape (G + 1,)
        Group g is ``members[bounds[g]:bounds[g+1]]``. The first component not yet
        placed leads the next group, centred on its own mean, and takes every
        unplaced component within ``limit`` of that mean.
    """
    k = len(means)
    if np.all(_expansion_size(abs_prec, means - centre) <= limit):
        return centre[None], np.arange(k), np.array([0, k])
    free = np.ones(k, dtype=bool)
    centres, members, bounds = [], [], [0]
    for lead in range(k):
        if not free[lead]:
            continue
        near = free & (_expansion_size(abs_prec, means - means[lead]) <= limit)
        near[lead] = True
        group = np.flatnonzero(near)
        free[group] = False
        centres.append(means[lead])
        members.append(group)
        bounds.append(bounds[-1] + len(group))
    return np.stack(centres), np.concatenate(members), np.array(bounds)


def _abs_precisions(covariance_type: str, prec_chol: np.ndarray, k: int,
                    d: int) -> np.ndarray:
    if covariance_type == "full":
        return np.abs(np.matmul(prec_chol, prec_chol.transpose(0, 2, 1)))
    if covariance_type == "tied":
        return np.broadcast_to(np.abs(prec_chol @ prec_chol.T), (k, d, d))
    if covariance_type == "diag":
        return prec_chol**2
    return np.repeat((prec_chol**2)[:, None], d, axis=1)


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
    method = None
    if covariance_type == "full":
        chol, prec_chol = _cholesky_full(cov)
        log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
        method = "quadratic" if quadratic_full(n_comp, d) else "whiten"
    elif covariance_type == "tied":
        chol, prec_chol = _cholesky_full(cov[None])
        chol, prec_chol = chol[0], prec_chol[0]
        log_det = np.full(n_comp, np.log(np.diag(prec_chol)).sum())
    else:
        if not (np.all(cov > 0.0) and np.all(np.isfinite(cov))):
            raise ValueError(
                "variances must be positive and finite (a component collapsed onto a "
                "single value); increase reg_covar or reduce n_components"
            )
        chol = np.sqrt(cov)
        prec_chol = 1.0 / chol
        log_det = np.log(prec_chol).sum(axis=1) if covariance_type == "diag" \
            else d * np.log(prec_chol)
    log_const = log_det - 0.5 * d * LOG_2PI
    if weights is not None:
        with np.errstate(divide="ignore"):
            log_const = log_const + np.log(weights)
    centres, members, bounds = centring_groups(
        means, _abs_precisions(covariance_type, prec_chol, n_comp, d), centre,
        CENTRING_LIMIT[dtype])
    shifted = means - _spread(centres, members, bounds, means.shape)
    if method == "whiten":
        whiten = np.empty((d + 1, n_comp * d))
        whiten[:d] = prec_chol.transpose(1, 0, 2).reshape(d, n_comp * d)
        whiten[d] = -np.einsum("kd,kde->ke", shifted, prec_chol).reshape(-1)
    elif covariance_type == "full":
        whiten = np.matmul(prec_chol, prec_chol.transpose(0, 2, 1))  # precisions
    elif covariance_type == "tied":
        whiten = prec_chol
    else:
        whiten = prec_chol**2  # precisions
    coef = None
    if method != "whiten":
        coef = np.ascontiguousarray(
            _quadratic_coefficients(covariance_type, whiten, shifted, log_const), dtype=dtype)
    prep = PreparedGaussians(covariance_type, means, centres, members, bounds, chol,
                             prec_chol, log_const, dtype,
                             np.ascontiguousarray(whiten, dtype=dtype), coef, method)
    if len(centres) == 1:
        return prep
    parts = tuple((members[bounds[g]:bounds[g + 1]], _one_group(prep, g))
                  for g in range(len(centres)))
    return PreparedGaussians(covariance_type, means, centres, members, bounds, chol,
                             prec_chol, log_const, dtype, prep.whiten, coef, method, parts)


def _one_group(prep: PreparedGaussians, g: int) -> PreparedGaussians:
    """The components of group ``g`` as a one-group :class:`PreparedGaussians`."""
    idx = prep.members[prep.bounds[g]:prep.bounds[g + 1]]
    d = prep.means.shape[1]
    kind = prep.covariance_type
    shared = kind == "tied"
    if prep.method == "whiten":
        cols = (idx[:, None] * d + np.arange(d)).reshape(-1)
        whiten = np.ascontiguousarray(prep.whiten[:, cols])
    else:
        whiten = prep.whiten if shared else prep.whiten[idx]
    return PreparedGaussians(
        kind, prep.means[idx], prep.centres[g:g + 1], np.arange(len(idx)),
        np.array([0, len(idx)]), prep.chol if shared else prep.chol[idx],
        prep.prec_chol if shared else prep.prec_chol[idx], prep.log_const[idx], prep.dtype,
        whiten, None if prep.coef is None else np.ascontiguousarray(prep.coef[idx]),
        prep.method)


def quadratic_full(n_components: int, n_features: int) -> bool:
    """Whether ``full`` uses quadratic features (else whitening), see
    :mod:`emkit.gaussian.blocked`.

    Quadratic features need half the flops of whitening, and the E-step over
    them is one compiled pass (:mod:`emkit.gaussian.kernels`); but their
    count grows as D^2 / 2 while only K rows share them, so with many features
    and few components whitening wins. Measured E-step seconds on 2 cores,
    quadratic vs whitening, at (N, D, K): (200k, 40, 4) 0.10 vs 0.17;
    (1M, 50, 8) 1.06 vs 1.58; (200k, 16, 1) 0.017 vs 0.019; (200k, 48, 4)
    0.22 vs 0.18; (100k, 96, 8) 0.88 vs 0.46. Hence ``D <= 8 K + 8``.
    """
    return n_features <= 8 * n_components + 8


@lru_cache(maxsize=64)
def upper_pairs(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.triu_indices(d)`` and each pair's multiplicity (1 on the diagonal, else
    2: ``x_i x_j`` and ``x_j x_i`` share a feature), read-only and cached per ``d``
    (building them took ~10 microseconds of every small E-step)."""
    rows, cols = np.triu_indices(d)
    twice = np.where(rows == cols, 1.0, 2.0)
    for arr in (rows, cols, twice):
        arr.flags.writeable = False
    return rows, cols, twice


def _quadratic_coefficients(covariance_type: str, whiten: np.ndarray, shifted: np.ndarray,
                            log_const: np.ndarray) -> np.ndarray:
    """Coefficients ``B`` with ``log w_k + log N = B @ [f(x), 1]`` for one GEMM per chunk.

    full: features ``[(x-c)_i (x-c)_j for i <= j, x-c, 1]``; diag/spherical:
    ``[(x-c)^2, x-c, 1]``; tied: ``[|y|^2, y, 1]`` with ``y = (x-c) U``; ``c``
    is each component's group centre and ``shifted`` (K, D) holds ``mu_k - c``.
    Expanding ``-1/2 (x - d)^T P (x - d) + const`` gives the rows
    ``-1/2 [P_ij (2 off the diagonal), -2 P d, d^T P d - 2 const]``.
    """
    n_comp, d = shifted.shape
    if covariance_type == "full":
        rows, cols, twice = upper_pairs(d)
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
