"""The fourteen constrained covariance M-steps of mclust (Celeux & Govaert 1995).

Each component covariance is written through its eigen-decomposition

.. math::

    \\Sigma_k = \\lambda_k D_k A_k D_k^\\top,

with volume :math:`\\lambda_k > 0`, orientation :math:`D_k` (orthogonal) and shape
:math:`A_k` (diagonal, :math:`\\det A_k = 1`). A three-letter name says which of
volume, shape and orientation are Equal across components, Variable, or the
Identity: ``EII`` (spherical, one volume) ... ``VVV`` (unconstrained).

Every function here takes the weighted scatter matrices of the components,

.. math::

    W_k = \\sum_i r_{ik} (x_i - \\bar x_k)(x_i - \\bar x_k)^\\top, \\qquad
    n_k = \\sum_i r_{ik},

and returns the covariances maximizing the expected complete-data
log-likelihood, whose covariance part is

.. math::

    -\\tfrac12 \\sum_k \\left[n_k \\log\\det\\Sigma_k
      + \\operatorname{tr}(W_k \\Sigma_k^{-1})\\right].

Closed forms exist for ten models. Four need an inner iteration, alternating
closed-form updates of some factors with the others held fixed, so that each
pass raises the objective (a conditional maximization, as in mclust's Fortran):

* ``VEI``, ``VEE``, ``VEV``: alternate the volumes :math:`\\lambda_k` and the
  common shape (and, for ``VEE``, orientation);
* ``EVE``, ``VVE``: alternate volumes and shapes with the common orientation
  :math:`D`, which minimizes :math:`\\sum_k \\operatorname{tr}(D^\\top W_k D M_k)`
  with :math:`M_k = (\\lambda_k A_k)^{-1}`. mclust updates :math:`D` by the
  majorization step of Browne & McNicholas (2014); here one sweep of exact
  plane (Jacobi) rotations does it, each rotation optimal given the rest, which
  converges in far fewer passes (see :func:`_common_orientation`).

References
----------
G. Celeux and G. Govaert (1995). Gaussian parsimonious clustering models.
*Pattern Recognition* 28(5), 781-793.
R. P. Browne and P. D. McNicholas (2014). Estimating common principal components
in high dimensions. *Advances in Data Analysis and Classification* 8, 217-226.
L. Scrucca, M. Fop, T. B. Murphy and A. E. Raftery (2016). mclust 5. *The R
Journal* 8(1), 289-317 (Table 3: the models and their parameter counts).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .constrained_kernels import (
    CLOSED_FORM_CODES,
    closed_form_covariances,
    common_orientation_loop,
    vee_loop,
    volume_shape_loop,
)

__all__ = [
    "MCLUST_MODELS",
    "MODEL_DESCRIPTIONS",
    "check_model_name",
    "n_covariance_parameters",
    "constrained_covariances",
    "common_orientation_covariances",
    "covariance_objective",
]

MCLUST_MODELS: tuple[str, ...] = (
    "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
)

MODEL_DESCRIPTIONS: dict[str, str] = {
    "EII": "spherical, equal volume",
    "VII": "spherical, unequal volume",
    "EEI": "diagonal, equal volume and shape",
    "VEI": "diagonal, varying volume, equal shape",
    "EVI": "diagonal, equal volume, varying shape",
    "VVI": "diagonal, varying volume and shape",
    "EEE": "ellipsoidal, equal volume, shape and orientation",
    "VEE": "ellipsoidal, equal shape and orientation",
    "EVE": "ellipsoidal, equal volume and orientation",
    "VVE": "ellipsoidal, equal orientation",
    "EEV": "ellipsoidal, equal volume and shape",
    "VEV": "ellipsoidal, equal shape",
    "EVV": "ellipsoidal, equal volume",
    "VVV": "ellipsoidal, varying volume, shape and orientation",
}

#: Inner-iteration defaults (relative change of the objective, most passes).
INNER_TOL = 1e-12
INNER_MAX_ITER = 500

def check_model_name(name: str) -> str:
    """Return ``name`` upper-cased if it is one of :data:`MCLUST_MODELS`.

    Raises
    ------
    ValueError
        For any other name.
    """
    if not isinstance(name, str) or name.upper() not in MCLUST_MODELS:
        raise ValueError(
            f"unknown covariance model {name!r}; choose from {', '.join(MCLUST_MODELS)}"
        )
    return name.upper()


def n_covariance_parameters(model: str, n_components: int, n_features: int) -> int:
    """Free covariance parameters of ``model`` (mclust's ``nVarParams``).

    Parameters
    ----------
    model : str
        An mclust model name.
    n_components, n_features : int
        ``G`` and ``d``.

    Returns
    -------
    int
    """
    g, d = int(n_components), int(n_features)
    rot = d * (d - 1) // 2  # free parameters of one orientation matrix
    counts = {
        "EII": 1,
        "VII": g,
        "EEI": d,
        "VEI": g + (d - 1),
        "EVI": 1 + g * (d - 1),
        "VVI": g * d,
        "EEE": d * (d + 1) // 2,
        "VEE": g + (d - 1) + rot,
        "EVE": 1 + g * (d - 1) + rot,
        "VVE": g + g * (d - 1) + rot,
        "EEV": 1 + (d - 1) + g * rot,
        "VEV": g + (d - 1) + g * rot,
        "EVV": 1 + g * (d - 1) + g * rot,
        "VVV": g * d * (d + 1) // 2,
    }
    return counts[check_model_name(model)]


def covariance_objective(covariances: np.ndarray, n: np.ndarray, scatter: np.ndarray) -> float:
    """The covariance part of the expected complete log-likelihood (to maximize).

    ``-1/2 * sum_k [n_k log det Sigma_k + tr(W_k Sigma_k^{-1})]`` for covariances of
    shape (K, D, D), weights ``n`` (K,) and scatter matrices ``scatter`` (K, D, D).

    Raises
    ------
    numpy.linalg.LinAlgError
        When a covariance is not positive definite.
    """
    # Sigma_k = L L^T: log det from the factor's diagonal, and
    # tr(W_k Sigma_k^{-1}) = tr(Sigma_k^{-1} W_k) from one solve
    chol = np.linalg.cholesky(covariances)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    trace = np.trace(np.linalg.solve(covariances, scatter), axis1=1, axis2=2)
    return float(-0.5 * np.sum(n * logdet + trace))


# --------------------------------------------------------------------------- helpers


def _geo_mean(values: np.ndarray) -> np.ndarray:
    """Geometric mean over the last axis (``det(diag)^(1/d)``), in log space."""
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(values), axis=-1))


def _diag_matrices(diagonals: np.ndarray) -> np.ndarray:
    k, d = diagonals.shape
    out = np.zeros((k, d, d))
    out[:, np.arange(d), np.arange(d)] = diagonals
    return out


def _eig_desc(scatter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns) of each scatter matrix.

    Equal eigenvalues keep LAPACK's order, so a zero scatter (a component of one
    point) gets the identity's columns in order, as mclust's SVD gives them; the
    orientation is then arbitrary for the M-step but not for the next E-step.
    """
    values, vectors = np.linalg.eigh(scatter)
    order = np.argsort(-values, axis=-1, kind="stable")
    return (np.take_along_axis(values, order, axis=-1),
            np.take_along_axis(vectors, order[:, None, :], axis=-1))


# --------------------------------------------------------------------------- closed forms


def _eii(n, w, d, **_):
    lam = np.trace(w.sum(axis=0)) / (n.sum() * d)
    return np.broadcast_to(lam * np.eye(d), w.shape).copy()


def _vii(n, w, d, **_):
    lam = np.trace(w, axis1=1, axis2=2) / (n * d)
    return lam[:, None, None] * np.eye(d)


def _eei(n, w, d, **_):
    diag = np.diagonal(w.sum(axis=0)) / n.sum()
    return np.broadcast_to(np.diag(diag), w.shape).copy()


def _evi(n, w, d, **_):
    diag = np.diagonal(w, axis1=1, axis2=2)
    g = _geo_mean(diag)
    lam = g.sum() / n.sum()
    return lam * _diag_matrices(diag / g[:, None])


def _vvi(n, w, d, **_):
    return _diag_matrices(np.diagonal(w, axis1=1, axis2=2) / n[:, None])


def _eee(n, w, d, **_):
    return np.broadcast_to(w.sum(axis=0) / n.sum(), w.shape).copy()


def _eev(n, w, d, **_):
    omega, vectors = _eig_desc(w)
    total = omega.sum(axis=0)
    g = _geo_mean(total)
    lam = g / n.sum()
    shape = total / g
    return lam * np.einsum("kij,j,klj->kil", vectors, shape, vectors)


def _evv(n, w, d, **_):
    sign, logdet = np.linalg.slogdet(w)
    g = np.where(sign > 0, np.exp(logdet / d), 0.0)
    lam = g.sum() / n.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return lam * w / g[:, None, None]


def _vvv(n, w, d, **_):
    return w / n[:, None, None]


# --------------------------------------------------------------------------- iterative


def _vei(n, w, d, tol, max_iter):
    diag = np.ascontiguousarray(np.diagonal(w, axis1=1, axis2=2))  # (K, d)
    lam, shape = volume_shape_loop(diag, n, tol, max_iter)
    return lam[:, None, None] * np.diag(shape)


def _vee(n, w, d, tol, max_iter):
    lam, shape = vee_loop(np.ascontiguousarray(w), n, tol, max_iter)
    return lam[:, None, None] * shape


def _vev(n, w, d, tol, max_iter):
    omega, vectors = _eig_desc(w)
    lam, shape = volume_shape_loop(np.ascontiguousarray(omega), n, tol, max_iter)
    return lam[:, None, None] * np.einsum("kij,j,klj->kil", vectors, shape, vectors)


def _common_orientation(n, w, d, tol, max_iter, equal_volume: bool, orient=None):
    """EVE (``equal_volume``) and VVE: covariances and the common orientation D.

    The rotations start from ``orient`` (default: the pooled scatter's
    eigenvectors, largest first). Each pass is one sweep of exact plane
    rotations lowering ``sum_k tr(D^T W_k D M_k)`` with ``M_k = (lambda_k
    A_k)^{-1}``: rotating columns ``i`` and ``j`` of ``D`` by ``t`` changes it
    by ``alpha cos 2t + beta sin 2t`` (plus a constant), with ``alpha = sum_k
    (m_ki - m_kj)(p_k - q_k) / 2`` and ``beta = sum_k (m_ki - m_kj) r_k``, where
    ``p, q, r`` are ``d_i' W_k d_i``, ``d_j' W_k d_j`` and ``d_i' W_k d_j``; the
    best angle is ``2t = atan2(-beta, -alpha)``. Each rotation is optimal given
    the others, so the objective never rises (Flury & Gautschi's pairwise idea
    for common principal components); then the volumes and shapes are updated
    in closed form (:mod:`emkit.gaussian.constrained_kernels`).
    """
    if orient is None:
        _, vectors = np.linalg.eigh(w.sum(axis=0))
        orient = vectors[:, ::-1]
    lam, shape, orient = common_orientation_loop(
        np.ascontiguousarray(w), np.ascontiguousarray(n, dtype=float),
        np.ascontiguousarray(orient, dtype=float), equal_volume, tol, max_iter)
    return lam[:, None, None] * np.einsum("ij,kj,lj->kil", orient, shape, orient), orient


def _eve(n, w, d, tol, max_iter):
    return _common_orientation(n, w, d, tol, max_iter, equal_volume=True)[0]


def _vve(n, w, d, tol, max_iter):
    return _common_orientation(n, w, d, tol, max_iter, equal_volume=False)[0]


def common_orientation_covariances(
    model: str,
    n: np.ndarray,
    scatter: np.ndarray,
    orientation: np.ndarray,
    *,
    tol: float = INNER_TOL,
    max_iter: int = INNER_MAX_ITER,
) -> tuple[np.ndarray, np.ndarray]:
    """``EVE`` or ``VVE`` covariances by rotations that start from ``orientation``.

    Started from the orientation of the current parameters, the conditional
    maximization never ends below the expected log-likelihood of those
    parameters, so EM with this M-step is monotone; mclust's Fortran
    (``meeve``, ``mevve``) likewise carries its orientation from one M-step to
    the next, starting from the identity.

    Parameters
    ----------
    model : {"EVE", "VVE"}
    n : ndarray of shape (n_components,)
    scatter : ndarray of shape (n_components, n_features, n_features)
    orientation : ndarray of shape (n_features, n_features)
        Orthogonal start ``D`` (its columns are the axes).
    tol, max_iter
        As in :func:`constrained_covariances`.

    Returns
    -------
    covariances : ndarray of shape (n_components, n_features, n_features)
        NaN where the data cannot determine them.
    orientation : ndarray of shape (n_features, n_features)
        The common orientation reached.
    """
    model = check_model_name(model)
    if model not in ("EVE", "VVE"):
        raise ValueError(f"{model} has no common orientation with varying shapes")
    n = np.asarray(n, dtype=float)
    scatter = np.asarray(scatter, dtype=float)
    start = np.asarray(orientation, dtype=float)
    if not np.all(n > 0) or not np.all(np.isfinite(scatter)):
        return np.full_like(scatter, np.nan), start
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cov, orient = _common_orientation(n, scatter, scatter.shape[-1], tol, max_iter,
                                          model == "EVE", start.copy())
    return 0.5 * (cov + np.swapaxes(cov, 1, 2)), orient


_ESTIMATORS: dict[str, Callable[..., np.ndarray]] = {
    "EII": _eii, "VII": _vii, "EEI": _eei, "VEI": _vei, "EVI": _evi, "VVI": _vvi,
    "EEE": _eee, "VEE": _vee, "EVE": _eve, "VVE": _vve, "EEV": _eev, "VEV": _vev,
    "EVV": _evv, "VVV": _vvv,
}


def constrained_covariances(
    model: str,
    n: np.ndarray,
    scatter: np.ndarray,
    *,
    tol: float = INNER_TOL,
    max_iter: int = INNER_MAX_ITER,
) -> np.ndarray:
    """Covariances of ``model`` maximizing the expected complete log-likelihood.

    Parameters
    ----------
    model : str
        An mclust model name (see :data:`MCLUST_MODELS`).
    n : ndarray of shape (n_components,)
        Weighted counts :math:`n_k` (positive).
    scatter : ndarray of shape (n_components, n_features, n_features)
        Weighted scatter matrices :math:`W_k` about the new means.
    tol : float
        Relative tolerance of the inner iteration (``VEI``, ``VEE``, ``EVE``,
        ``VVE``, ``VEV``).
    max_iter : int
        Most inner passes.

    Returns
    -------
    ndarray of shape (n_components, n_features, n_features)
        Symmetric covariance matrices satisfying the model's constraint; NaN
        where the data cannot determine them (a zero volume, an empty component).
    """
    model = check_model_name(model)
    n = np.asarray(n, dtype=float)
    scatter = np.asarray(scatter, dtype=float)
    code = CLOSED_FORM_CODES.get(model)
    if code is not None:  # one compiled call, the formulas of _eii ... _evi
        return closed_form_covariances(code, np.ascontiguousarray(n),
                                       np.ascontiguousarray(scatter))
    d = scatter.shape[-1]
    if not np.all(n > 0) or not np.all(np.isfinite(scatter)):
        return np.full_like(scatter, np.nan)
    # an empty or one-point component gives zero volumes and 0/0 here; the
    # caller checks for a non-finite result and reports it as a failed fit
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cov = _ESTIMATORS[model](n, scatter, d, tol=tol, max_iter=max_iter)
    return 0.5 * (cov + np.swapaxes(cov, 1, 2))
