"""Per-sequence weights of the HMM estimators' fits (``fit(X, lengths, sample_weight)``).

A weight multiplies everything one sequence contributes to the E-step (its
posteriors, transition counts, emission statistics and log-likelihood), so an
integer weight counts the sequence that many times and 0 leaves it out; the
priors are added once. The starts use the weights too: every frame of a
sequence carries its weight (:func:`frame_weights`) into k-means and the data
moments the starting emissions come from (:func:`weighted_mean_var`,
:func:`emkit.estimators._hmm_inputs.data_covariance`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_sample_weight", "frame_weights", "weighted_mean_var"]


def check_sample_weight(sample_weight: Any, n_sequences: int) -> np.ndarray | None:
    """Validate per-sequence weights; ``None`` stays ``None`` (every weight 1).

    Parameters
    ----------
    sample_weight : array-like of shape (n_sequences,) or None
    n_sequences : int
        Number of sequences ``lengths`` describes.

    Returns
    -------
    ndarray of shape (n_sequences,), float, or None

    Raises
    ------
    ValueError
        When the weights are not numbers, not one per sequence, negative, not
        finite, or all zero.
    """
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("sample_weight must be numbers, one per sequence") from None
    if w.ndim != 1 or len(w) != n_sequences:
        raise ValueError(f"sample_weight must have one weight per sequence: lengths gives "
                         f"{n_sequences} sequence(s), sample_weight has shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight must be finite (no NaN or infinity)")
    if np.any(w < 0):
        bad = np.flatnonzero(w < 0)
        raise ValueError(f"sample_weight must be non-negative: sequence(s) "
                         f"{bad[:5].tolist()} have weight {w[bad[:5]].tolist()}")
    if not np.any(w > 0):
        raise ValueError("sample_weight is zero for every sequence: nothing to fit")
    return w


def frame_weights(weights: np.ndarray | None, lengths: np.ndarray,
                  n_rows: int) -> np.ndarray | None:
    """Each frame's weight (its sequence's) for the first ``n_rows`` frames, or ``None``."""
    if weights is None:
        return None
    return np.repeat(weights, lengths)[:n_rows]


def weighted_mean_var(X: np.ndarray, weights: np.ndarray | None) -> tuple[float, float]:
    """Mean and variance (``ddof=0``) of all entries of ``X`` (n, d), row ``i`` counted
    ``weights[i]`` times (``None``: once each), as ``X.mean(), X.var()``."""
    if weights is None:
        return float(X.mean()), float(X.var())
    total = float(weights.sum()) * X.shape[1]
    mean = float(weights @ X.sum(axis=1)) / total
    var = float(weights @ ((X - mean) ** 2).sum(axis=1)) / total
    return mean, var
