"""Input checks and failure reasons shared by ``MclustMixture`` and ``select_model``.

One job: refuse data no mclust model can be fitted to (:func:`check_data`,
:func:`check_spread`) and ``freeze`` masks no mclust model can honour
(:func:`check_freeze_masks`), and name a failed fit's reason in a few words
(:func:`failure_reason`).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy import sparse

from .. import backends
from ..gaussian.conjugate_prior import as_prior_control
from ..gaussian.constrained import check_model_name
from ..models.mixture.mclust_init import HC_MODELS
from ..validation import check_magnitude
from ._supervision import check_freeze, check_something_free

__all__ = ["check_data", "check_spread", "check_settings", "check_freeze_masks",
           "failure_reason", "StartsFailed", "INIT_METHODS"]

INIT_METHODS = ("hc", "kmeans")


def check_settings(est: Any, X: np.ndarray) -> None:
    """Refuse an ``MclustMixture``'s bad constructor arguments for data ``X`` (n_samples, D).

    Raises
    ------
    ValueError
        Naming the first bad argument.
    """
    check_model_name(est.model)
    k = est.n_components
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ValueError(f"n_components must be an integer >= 1, got {k!r}")
    if k > X.shape[0]:
        raise ValueError(f"n_components={k} exceeds the number of samples {X.shape[0]}")
    if not (isinstance(est.tol, str) and est.tol == "mclust") and (
            isinstance(est.tol, bool) or not isinstance(est.tol, Real)
            or not float(est.tol) >= 0):
        raise ValueError(f"tol must be a non-negative number or 'mclust', got {est.tol!r}")
    if not isinstance(est.reg_covar, Real) or not float(est.reg_covar) >= 0:
        raise ValueError(f"reg_covar must be a non-negative number, got {est.reg_covar!r}")
    if isinstance(est.max_iter, bool) or not isinstance(est.max_iter, Integral) \
            or est.max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {est.max_iter!r}")
    if est.init_params not in INIT_METHODS:
        raise ValueError(f"init_params must be one of {INIT_METHODS}, got {est.init_params!r}")
    if est.hc_model not in HC_MODELS:
        raise ValueError(f"hc_model must be one of {HC_MODELS}, got {est.hc_model!r}")
    size = est.hc_sample_size
    if size is not None and (isinstance(size, bool) or not isinstance(size, Integral)
                             or size < 2):
        raise ValueError(f"hc_sample_size must be None or an integer >= 2, got {size!r}")
    if est.accelerate not in (None, "squarem"):
        raise ValueError(f"accelerate must be None or 'squarem', got {est.accelerate!r}")
    backends.check_chunk_size(est.chunk_size)  # before the hc start, not after it
    as_prior_control(est.prior)


def check_data(X: Any, what: str = "X") -> np.ndarray:
    """``X`` as a finite 2-D float array (a 1-D array becomes one column).

    Raises
    ------
    ValueError
        When ``X`` is not 2-D, is empty, has NaN or infinite entries, or has values
        so large that their squares overflow (see :func:`emkit.validation.check_magnitude`).
    """
    if sparse.issparse(X):
        raise ValueError(f"Sparse data was passed as {what}, but dense data is required: "
                         "convert it with .toarray()")
    X = np.asarray(X)
    if np.iscomplexobj(X):
        raise ValueError(f"Complex data not supported: {what} must hold real numbers")
    X = X.astype(float, copy=False)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"{what} must be 2-D (n_samples, n_features), got {X.ndim}-D")
    if X.shape[0] == 0 or X.shape[1] == 0:
        part = "sample" if X.shape[0] == 0 else "feature"
        raise ValueError(f"{what} is empty: 0 {part}(s) (shape={X.shape}) while a minimum "
                         "of 1 is required.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{what} contains NaN or infinite values; this model needs complete data")
    check_magnitude(X, what)
    return X


def failure_reason(exc: BaseException) -> str:
    """A fit's failure in a few words: the exception's ``reason``, else its first clause."""
    reason = getattr(exc, "reason", None)
    if reason:
        return str(reason)
    text = " ".join(str(exc).split())
    return text.split("; ")[0] or type(exc).__name__


class StartsFailed(ValueError):
    """Both starts of a fit failed; ``reason`` names each start's failure briefly."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def check_spread(X: np.ndarray, reg_covar: float, what: str = "X",
                 n_rows: int | None = None) -> None:
    """Refuse identical rows when nothing regularizes the covariances.

    With every row of ``X`` equal, each covariance estimate is the zero matrix
    whatever the model, so EM cannot start (mclust fails on such data as well).
    ``X`` may also be the columns' minima and maxima (2, n_features) of data of
    ``n_rows`` rows that are not in memory.

    Raises
    ------
    ValueError
        When ``reg_covar`` is 0 and all rows of ``X`` (n_samples, n_features) are equal.
    """
    if reg_covar > 0 or np.any(X != X[0]):
        return
    n = X.shape[0] if n_rows is None else int(n_rows)
    rows = (f"{what} has a single row (1 sample)" if n == 1
            else f"all {n} rows of {what} are identical")
    raise ValueError(f"{rows}: every column is constant (zero variance), so no covariance "
                     "can be estimated; give data with distinct rows or set reg_covar > 0")



def check_freeze_masks(freeze: Any, n_components: int, n_features: int
                       ) -> dict[str, np.ndarray]:
    """``freeze`` as the model's masks: ``weights`` (K,), ``means`` (K, D) and
    ``covariances`` (K,) (True = frozen; only the frozen attributes are keys).

    ``freeze`` maps ``weights_``, ``means_`` and ``covariances_`` to True or a
    boolean mask: of shape (K,) and (K, D) for the first two; for the covariances
    a (K,) mask of whole components or a (K, D, D) mask that is all True or all
    False for each component.

    Raises
    ------
    ValueError
        For an unknown attribute, a mask of the wrong shape or dtype, a covariance
        mask splitting a matrix, or a freeze leaving nothing to fit.
    """
    k, d = int(n_components), int(n_features)
    shapes = {"weights_": (k,), "means_": (k, d), "covariances_": (k, d, d)}
    given = dict(freeze) if isinstance(freeze, dict) else freeze
    if isinstance(given, dict) and "covariances_" in given:
        value = given["covariances_"]
        if not isinstance(value, (bool, np.bool_)) and np.shape(value) == (k,):
            arr = np.asarray(value)
            if arr.dtype != np.bool_:
                raise ValueError(f"freeze['covariances_'] must be True or a boolean mask of "
                                 f"shape ({k},) or {shapes['covariances_']}, got dtype "
                                 f"{arr.dtype}")
            given["covariances_"] = np.broadcast_to(arr[:, None, None], (k, d, d))
    masks = check_freeze(given, shapes)
    cov = masks.get("covariances_")
    if cov is not None:
        per = cov.reshape(k, -1)
        if not np.all(per.all(axis=1) | ~per.any(axis=1)):
            raise ValueError("freeze['covariances_'] must freeze whole covariance matrices "
                             "(all or none of each component's entries)")
    check_something_free(masks, shapes)
    out = {name.rstrip("_"): mask for name, mask in masks.items()}
    if "covariances" in out:
        out["covariances"] = np.asarray(out["covariances"].reshape(k, -1).all(axis=1))
    return out


def refuse_combinations(weighted: bool, frozen: bool, with_prior: bool) -> None:
    """Refuse ``sample_weight`` or ``freeze`` together with ``prior``.

    Raises
    ------
    ValueError
        Saying why the two do not go together.
    """
    if weighted and with_prior:
        raise ValueError("sample_weight cannot be combined with prior: the prior's "
                         "hyperparameters come from unweighted data moments")
    if frozen and with_prior:
        raise ValueError("freeze cannot be combined with prior: mclust's MAP M-step has "
                         "no constrained form here")
