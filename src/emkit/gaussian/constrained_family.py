"""Whether covariance matrices belong to one of mclust's fourteen families.

:func:`in_family` checks the constraints of :mod:`emkit.gaussian.constrained`'s
models on given matrices (equal volumes, shapes, a common orientation, ...);
:meth:`emkit.models.mixture.mclust.MclustModel.is_feasible` uses it to refuse
SQUAREM extrapolations that leave the family.
"""

from __future__ import annotations

import numpy as np

from .constrained import check_model_name

__all__ = ["in_family", "FAMILY_RTOL"]

#: Relative tolerance of :func:`in_family`: far above the rounding of the M-steps'
#: own results (about 1e-15), far below the departures of extrapolated points.
FAMILY_RTOL = 1e-10


def _diag_matrices(diagonals: np.ndarray) -> np.ndarray:
    k, d = diagonals.shape
    out = np.zeros((k, d, d))
    out[:, np.arange(d), np.arange(d)] = diagonals
    return out


def _spread(values: np.ndarray) -> float:
    """Largest deviation from the first entry along axis 0 (0 for one component)."""
    return float(np.max(np.abs(values - values[:1]))) if values.shape[0] > 1 else 0.0


def in_family(model: str, covariances: np.ndarray, rtol: float = FAMILY_RTOL) -> bool:
    """Whether ``covariances`` (K, D, D) satisfy ``model``'s constraints, to ``rtol``.

    Checks volume (equal determinants for ``E..``), then shape and orientation:
    ``II`` a multiple of the identity, ``EI``/``VI`` diagonal (``EI``: equal
    diagonals up to scale), ``EE`` proportional matrices, ``VE`` commuting
    matrices (a common orientation), ``EV`` equal eigenvalues up to scale; ``VV``
    is free. Shapes are compared after scaling each matrix to unit trace, which is
    accurate however ill-conditioned the matrix; volumes through ``slogdet``.

    The fourteen families are not all closed under the affine combinations that
    SQUAREM extrapolates: ``EII, VII, EEI, VVI, EEE, VVV`` are, the other eight
    are not (a combination of ``VEE`` matrices with different shapes has no common
    shape). From a point outside the family an exact M-step can lower the
    likelihood, since the family's best covariance may be worse than the point's
    own; :meth:`emkit.models.mixture.mclust.MclustModel.is_feasible` therefore rejects
    such points.
    """
    model = check_model_name(model)
    cov = np.asarray(covariances, dtype=float)
    k, d = cov.shape[0], cov.shape[-1]
    if k == 0 or not np.all(np.isfinite(cov)):
        return False
    trace = np.trace(cov, axis1=1, axis2=2)
    if not np.all(trace > 0):
        return False
    unit = cov / trace[:, None, None]  # unit trace: entries at most 1 for PD matrices
    if model[0] == "E":
        sign, logdet = np.linalg.slogdet(cov)
        if not np.all(sign > 0) or _spread(logdet) > rtol * d:
            return False
    shape, orient = model[1], model[2]
    if orient == "I":
        off = unit - _diag_matrices(np.diagonal(unit, axis1=1, axis2=2))
        if np.max(np.abs(off)) > rtol:
            return False
        diag = np.diagonal(unit, axis1=1, axis2=2)
        if shape == "I":
            return bool(np.max(np.abs(diag - 1.0 / d)) <= rtol)
        return shape == "V" or _spread(diag) <= rtol
    if shape == "E" and orient == "E":
        return _spread(unit) <= rtol
    if orient == "E":  # VE: one orientation, i.e. the matrices commute
        prod = np.einsum("aij,bjl->abil", unit, unit)
        return bool(np.max(np.abs(prod - np.swapaxes(prod, 0, 1))) <= rtol)
    if shape == "E":  # EV: one shape, any orientations
        return _spread(np.linalg.eigvalsh(unit)) <= rtol
    return True
