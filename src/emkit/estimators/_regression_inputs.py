"""Input checks of :class:`emkit.RegressionMixture`, for NumPy and Dask data alike.

Every check is written with NumPy functions that Dask arrays also answer (lazy
reductions), and all of one pass are computed together, so a Dask fit reads its
data twice before EM starts: once for finiteness, supports and column ranges,
once for the Gram matrix of the scaled design (the collinearity check).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backends
from ..models.regression.design import Design
from ..validation import check_magnitude
from . import _supervision as sv
from ._components import dense_matrix

__all__ = ["RegressionData", "check_inputs", "check_response", "as_covariates"]

OWNER = "RegressionMixture"

#: Smallest eigenvalue, relative to the largest, of the scaled design's normalized
#: Gram matrix below which the columns count as collinear.
COLLINEAR_RTOL = 1e-12


@dataclass(frozen=True)
class RegressionData:
    """Checked training data: the engine's tuple members and what the model needs."""

    X: Any
    y: Any  # (n,) or, binomial, (n, 2) as (successes, trials)
    Z: Any | None
    w: Any | None
    n: int
    total_weight: float
    design: Design
    concomitant: Design | None
    y_range: float
    is_dask: bool
    E: Any | None = None  # per-row log-evidence (n, K): known labels and priors

    def members(self) -> tuple[Any, ...]:
        """``(X, y[, Z][, w][, E])``: the data tuple of the model."""
        out = [self.X, self.y]
        if self.Z is not None:
            out.append(self.Z)
        if self.w is not None:
            out.append(self.w)
        if self.E is not None:
            out.append(self.E)
        return tuple(out)


def _now(*values: Any) -> tuple[Any, ...]:
    """Compute lazy (Dask) values together; NumPy values pass through."""
    if any(backends.is_dask(v) for v in values):
        import dask

        return tuple(dask.compute(*values))
    return values


def _dask_matrix(X: Any, name: str) -> Any:
    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=True)
    if np.isnan(X.shape[0]):
        X = X.compute_chunk_sizes()
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{name} must be a 2-D numeric array, got {X.ndim}-D {X.dtype}")
    return X.astype(np.float64)


def as_covariates(X: Any, name: str, dask: bool = False) -> Any:
    """``X`` (or the concomitant variables) as a 2-D float array; 1-D is one column."""
    if dask:
        return _dask_matrix(X, name)
    if backends.is_dask(X):
        raise ValueError(f"{name} is a Dask collection but X is not: pass both as Dask "
                         "collections or both in memory")
    M = dense_matrix(X, OWNER)
    if M.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_columns), "
                         f"got {M.ndim}-D")
    return M


def _aligned(a: Any, like: Any, name: str, n: int) -> Any:
    """A member of the data tuple on the row chunks of the Dask array ``like``."""
    import dask.array as da

    if not backends.is_dask(a):
        a = np.asarray(a, dtype=float)
        if a.shape[0] != n:
            raise ValueError(f"{name} has {a.shape[0]} rows but X has {n}")
        chunks = (like.chunks[0], *((s,) for s in a.shape[1:]))
        return da.from_array(a, chunks=chunks)
    if hasattr(a, "to_dask_array"):
        a = a.to_dask_array(lengths=True)
    if np.isnan(a.shape[0]):
        a = a.compute_chunk_sizes()
    if a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} rows but X has {n}")
    return a.astype(np.float64).rechunk({0: like.chunks[0]})


def check_response(family: str, y: Any, n: int, dask: bool = False) -> tuple[Any, Any]:
    """``y`` in the model's layout and the lazy checks of its values.

    Returns the response ((n,), or (n, 2) successes and trials for the binomial)
    and a list of ``(bad, message)`` pairs, ``bad`` a (lazy) boolean.
    """
    if dask:
        import dask.array as da

        if hasattr(y, "to_dask_array"):
            y = y.to_dask_array(lengths=True)
        elif not backends.is_dask(y):
            y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y, dtype=float)
        arr = y if backends.is_dask(y) else da.from_array(y)
        if np.isnan(arr.shape[0]):
            arr = arr.compute_chunk_sizes()
        y = arr.astype(np.float64)
    else:
        if backends.is_dask(y):
            raise ValueError("y is a Dask collection but X is not: pass both as Dask "
                             "collections or both in memory")
        if np.iscomplexobj(y):
            raise ValueError("y must hold real numbers, not complex ones")
        try:
            y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("y must be numeric") from None
    if y.ndim == 2 and y.shape[1] == 1 and family != "binomial":
        y = y[:, 0]
    if family == "binomial":
        if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 2)):
            raise ValueError("y must be 1-D 0/1 outcomes or of shape (n_samples, 2) "
                             f"(successes, failures) for family='binomial', got shape {y.shape}")
    elif y.ndim != 1:
        raise ValueError(f"y must be 1-D for family={family!r}, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} rows but X has {n}")
    checks = [(~np.isfinite(y).all(), "y contains NaN or infinity")]
    if family == "poisson":
        checks += [((y < 0).any(), "y must be non-negative counts for family='poisson'"),
                   ((y != np.floor(y)).any(), "y must be whole counts for family='poisson'")]
    elif family == "binomial" and y.ndim == 1:
        checks.append((((y != 0) & (y != 1)).any(),
                       "y must hold only 0 and 1 for family='binomial' (or give "
                       "(successes, failures) as two columns)"))
    elif family == "binomial":
        checks += [((y < 0).any(), "y's successes and failures must be non-negative"),
                   ((y != np.floor(y)).any(),
                    "y's successes and failures must be whole numbers"),
                   (~(y.sum() > 0), "y has no trials: every row has 0 successes and 0 failures")]
    if family == "binomial":
        y = (np.stack([y, np.ones_like(y)], axis=1) if y.ndim == 1
             else np.stack([y[:, 0], y[:, 0] + y[:, 1]], axis=1))
    return y, checks


def _design_checks(M: Any, name: str) -> list[tuple[Any, str]]:
    return [(~np.isfinite(M).all(), f"{name} contains NaN or infinity")]


def _design(low: np.ndarray, high: np.ndarray, name: str) -> Design:
    constant = np.flatnonzero(~(high > low))
    if constant.size:
        raise ValueError(f"{name} column {int(constant[0])} is constant: it is collinear "
                         "with the intercept (drop it)")
    return Design.from_range(low, high)


def _check_rank(M: Any, design: Design, w: Any, name: str) -> None:
    """Refuse collinear columns (with the intercept) among the rows of positive weight."""
    scaled = (M - design.centre) / design.half_range
    keep = None if w is None else (w > 0).astype(np.float64)
    rows = scaled if keep is None else scaled * keep[:, None]
    s, S, count = _now(rows.sum(axis=0), rows.T @ scaled,
                       M.shape[0] if keep is None else keep.sum())
    p = design.n_columns
    gram = np.empty((p + 1, p + 1))
    gram[0, 0], gram[0, 1:], gram[1:, 0], gram[1:, 1:] = float(count), s, s, S
    d = np.sqrt(np.diag(gram))
    eig = np.linalg.eigvalsh(gram / np.outer(d, d))
    if not eig[0] > COLLINEAR_RTOL * eig[-1]:
        raise ValueError(
            f"{name}'s columns are collinear with each other or with the intercept (or "
            f"there are fewer rows than columns + 1): the design of {p} columns and an "
            f"intercept has numerical rank {int(np.sum(eig > COLLINEAR_RTOL * eig[-1]))}; "
            "drop redundant columns")


def _check_weights(sample_weight: Any, n: int, X: Any, dask: bool) -> tuple[Any, list]:
    if dask:
        w = _aligned(sample_weight, X, "sample_weight", n)
    else:
        w = np.asarray(sample_weight, dtype=float)
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be 1-D, got shape {w.shape}")
    if w.shape[0] != n:
        raise ValueError(f"sample_weight has {w.shape[0]} rows but X has {n}")
    return w, [(~np.isfinite(w).all(), "sample_weight contains NaN or infinity"),
               ((w < 0).any(), "sample_weight must be non-negative"),
               (~(w.sum() > 0), "sample_weight sums to zero: at least one row needs weight")]


def check_inputs(family: str, X: Any, y: Any, concomitant: Any, sample_weight: Any,
                 n_components: int = 1, labels: Any = None,
                 priors: Any = None) -> RegressionData:
    """Check the training data of a fit; clear ``ValueError`` naming the argument.

    Parameters
    ----------
    family : str
    X : array-like or Dask collection of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, 2)
    concomitant : array-like of shape (n_samples, n_concomitant) or None
    sample_weight : array-like of shape (n_samples,) or None
    n_components : int
        Fewer rows than this are refused.
    labels : array-like of shape (n_samples,) or None
        Known components, -1 unknown (:func:`~._supervision.check_labels`).
    priors : array-like of shape (n_samples, n_components) or None
        Soft evidence (:func:`~._supervision.check_priors`). With Dask ``X`` both
        are brought into memory, turned into the rows' log-evidence and sent to
        the partitions with their rows.
    """
    dask = backends.is_dask(X)
    X = as_covariates(X, "X", dask)
    n = int(X.shape[0])
    if n == 0 or X.shape[1] == 0:
        raise ValueError(f"X is empty (shape {X.shape}): at least one row and one column "
                         "are needed")
    if n < n_components:
        raise ValueError(f"n_samples={n} must be >= n_components={n_components}")
    y, checks = check_response(family, y, n, dask)
    checks = _design_checks(X, "X") + checks
    Z = None
    if concomitant is not None:
        Z = _aligned(as_covariates(concomitant, "concomitant", True), X, "concomitant", n) \
            if dask else as_covariates(concomitant, "concomitant")
        if Z.shape[0] != n:
            raise ValueError(f"concomitant has {Z.shape[0]} rows but X has {n}")
        checks += _design_checks(Z, "concomitant")
    if dask:
        y = _aligned(y, X, "y", n)
    w = None
    if sample_weight is not None:
        w, more = _check_weights(sample_weight, n, X, dask)
        checks += more
    bad = _now(*(b for b, _ in checks))
    for flag, (_, message) in zip(bad, checks, strict=True):
        if bool(flag):
            raise ValueError(message)
    ranges = [X.min(axis=0), X.max(axis=0), y.min(axis=0), y.max(axis=0),
              1.0 * n if w is None else w.sum()]
    if Z is not None:
        ranges += [Z.min(axis=0), Z.max(axis=0)]
    values = _now(*ranges)
    x_low, x_high = np.asarray(values[0], dtype=float), np.asarray(values[1], dtype=float)
    if not dask:
        check_magnitude(X)
    design = _design(x_low, x_high, "X")
    _check_rank(X, design, w, "X")
    z_design = None
    if Z is not None:
        z_design = _design(np.asarray(values[5], dtype=float),
                           np.asarray(values[6], dtype=float), "concomitant")
        _check_rank(Z, z_design, w, "concomitant")
    y_low, y_high = np.ravel(values[2])[0], np.ravel(values[3])[0]
    E = sv.labels_priors_evidence(labels, priors, n, n_components)
    if E is not None and dask:
        E = _aligned(E, X, "labels", n)
    return RegressionData(X=X, y=y, Z=Z, w=w, n=n, total_weight=float(values[4]),
                          design=design, concomitant=z_design,
                          y_range=float(y_high - y_low), is_dask=dask, E=E)
