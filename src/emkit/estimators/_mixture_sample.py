"""Drawing rows from a fitted Gaussian mixture, shared by the mixture estimators.

This module's one job is the draw itself once the number of rows per component
is known: ``counts[k]`` rows from component ``k``, in component order, with the
label of each row. ``GaussianMixture.sample`` (a ``RandomState``, any of
scikit-learn's covariance types) and ``MclustMixture.sample`` (a ``Generator``,
full covariances) each validate ``n_samples`` and draw the counts their own way,
then call :func:`draw_rows` with their generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["draw_rows"]


def draw_rows(rng: Any, counts: np.ndarray, means: np.ndarray, covariances: np.ndarray,
              covariance_type: str = "full") -> tuple[np.ndarray, np.ndarray]:
    """Rows of each component of a Gaussian mixture, and their component labels.

    Parameters
    ----------
    rng : numpy.random.RandomState or numpy.random.Generator
        Draws the rows (``multivariate_normal`` for full and tied covariances,
        ``standard_normal`` for diagonal and spherical ones).
    counts : ndarray of shape (n_components,)
        Rows to draw from each component.
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        In scikit-learn's shape for ``covariance_type`` (see
        ``GaussianMixture.covariances_``).
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"

    Returns
    -------
    X : ndarray of shape (counts.sum(), n_features)
        The rows of component 0, then those of component 1, and so on.
    y : ndarray of shape (counts.sum(),)
        The component of each row (int64).
    """
    if covariance_type == "full":
        X = np.vstack([rng.multivariate_normal(m, c, int(s))
                       for m, c, s in zip(means, covariances, counts, strict=True)])
    elif covariance_type == "tied":
        X = np.vstack([rng.multivariate_normal(m, covariances, int(s))
                       for m, s in zip(means, counts, strict=True)])
    else:
        n_features = means.shape[1]
        X = np.vstack([m + rng.standard_normal(size=(s, n_features)) * np.sqrt(c)
                       for m, c, s in zip(means, covariances, counts, strict=True)])
    y = np.concatenate([np.full(int(s), i, dtype=np.int64) for i, s in enumerate(counts)])
    return X, y
