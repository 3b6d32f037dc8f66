"""What the estimators built on :mod:`emkit.distributions` share: templates, input, starts.

:class:`~emkit.MixtureModel` and :class:`~emkit.HMM` both take one distribution
(a template copied to every component or state) or a list of them, read the
same numeric input, check it against every distinct template, and start EM from
responsibilities found by k-means or drawn at random.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..distributions._base import Distribution

__all__ = ["component_templates", "as_matrix", "dense_matrix", "validate_for",
           "start_responsibilities"]


def component_templates(dist: Any, k: Any, name: str = "distribution") -> list[Distribution]:
    """``k`` distributions from one template or a list of ``k`` of them.

    Raises
    ------
    ValueError
        When ``k`` is not a positive integer, the list has another length, or
        ``dist`` is not an emkit distribution (or a list of them).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"n_components must be an integer >= 1, got {k!r}")
    if isinstance(dist, Distribution):
        return [dist] * int(k)
    if isinstance(dist, (list, tuple)) and dist and all(
            isinstance(d, Distribution) for d in dist):
        if k not in (1, len(dist)):
            raise ValueError(
                f"n_components={k} but {len(dist)} distributions were given; pass "
                "one distribution as a template or a list of n_components of them"
            )
        return list(dist)
    raise ValueError(
        f"{name} must be an emkit.distributions instance or a non-empty list of "
        f"them, got {type(dist).__name__}"
    )


def as_matrix(X: Any) -> np.ndarray:
    """Numeric input as a float array; a 1-D array is one feature (n_samples, 1).

    Raises
    ------
    ValueError
        For complex numbers or text (categories must be coded as integers).
    TypeError
        For entries that are neither numbers nor text (NumPy's own message, as
        scikit-learn's ``check_array`` gives).
    """
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    # to an array first: np.iscomplexobj on an array-like that is not one (a
    # __array__ object with __array_function__) would be a NumPy function call on it
    X = np.asarray(X)
    if np.iscomplexobj(X) or (X.dtype == object
                              and any(isinstance(v, complex) for v in X.ravel())):
        raise ValueError("Complex data not supported: X must hold real numbers")
    try:
        X = X.astype(float, copy=False)
    except ValueError:
        raise ValueError("X must be numeric (code categories as 0, 1, 2, ...)") from None
    return X[:, None] if X.ndim == 1 else X


def dense_matrix(X: Any, owner: str) -> np.ndarray:
    """:func:`as_matrix`, refusing sparse input and a 2-D ``X`` without rows or columns
    (scikit-learn's wording; ``owner``: the estimator's name for the message)."""
    from scipy import sparse

    if sparse.issparse(X):
        raise ValueError(f"Sparse data was passed to {owner}, but dense data is "
                         "required: convert it with X.toarray()")
    X = as_matrix(X)
    if X.ndim == 2 and 0 in X.shape:
        what = "sample" if X.shape[0] == 0 else "feature"
        raise ValueError(f"X is empty: 0 {what}(s) (shape={X.shape}) while a minimum "
                         "of 1 is required.")
    return X


def validate_for(X: np.ndarray, templates: Sequence[Distribution],
                 allow_missing: bool = False) -> np.ndarray:
    """``X`` checked against the support of every distinct template, as a 2-D float array
    (``allow_missing``: NaN entries are missing values, see ``Distribution.validate``)."""
    checked = None
    seen: set[int] = set()
    for t in templates:
        if id(t) in seen:
            continue
        seen.add(id(t))
        checked = t.validate(X, allow_missing=allow_missing)
    assert checked is not None
    return checked


def start_responsibilities(X: np.ndarray, templates: Sequence[Distribution], how: str,
                           random_state: np.random.RandomState,
                           sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Starting responsibilities (n_samples, K): one k-means run, or random rows.

    ``"kmeans"`` runs k-means once on the first template's ``init_features`` and
    gives each row to its cluster (``sample_weight`` (n_samples,): the rows'
    weights in k-means); ``"random"`` draws uniform rows normalized to one, as
    scikit-learn does.
    """
    from sklearn.cluster import KMeans  # heavy import, only when initializing

    k, n = len(templates), X.shape[0]
    if how == "kmeans":
        feats = templates[0].init_features(X)
        labels = KMeans(n_clusters=k, n_init=1, random_state=random_state).fit(
            feats, sample_weight=sample_weight).labels_
        resp = np.zeros((n, k))
        resp[np.arange(n), labels] = 1.0
        return resp
    resp = random_state.uniform(size=(n, k))
    return resp / resp.sum(axis=1)[:, None]
