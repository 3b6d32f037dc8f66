"""Probability rows with some entries frozen: the free ones share what is left.

One job: the exact constrained maximizer of ``sum_j c_j log p_j`` over a
probability row ``p`` whose frozen entries keep given values. By a Lagrange
multiplier the free entries share the free mass ``1 - sum(frozen)`` in
proportion to their (non-negative) counts ``c``; a row whose free entries have
no count shares it equally. Used for mixing weights, start and emission
probability tables with entry masks (any model).
"""

from __future__ import annotations

import numpy as np

__all__ = ["shared_mass"]


def shared_mass(counts: np.ndarray, fixed: np.ndarray, frozen: np.ndarray) -> np.ndarray:
    """Rows of a probability table: frozen entries kept, the free ones sharing the free
    mass of their row in proportion to ``counts`` (equally where those are all 0).

    Parameters
    ----------
    counts : ndarray of shape (..., C)
        Expected (prior-adjusted) counts; negative entries count as 0.
    fixed : ndarray of shape (..., C)
        The frozen values (entries not frozen are ignored).
    frozen : ndarray of bool, shape (..., C)
        True = frozen.

    Returns
    -------
    ndarray of shape (..., C)
        ``fixed`` where frozen (bit for bit); each row sums to 1 where its frozen
        entries sum to at most 1 and one of its entries is free.
    """
    out = np.where(frozen, fixed, 0.0)
    free = ~frozen
    mass = 1.0 - out.sum(axis=-1, keepdims=True)
    c = np.where(free, np.maximum(counts, 0.0), 0.0)
    total = c.sum(axis=-1, keepdims=True)
    n_free = free.sum(axis=-1, keepdims=True)
    share = np.where(total > 0, c / np.where(total > 0, total, 1.0),
                     free / np.maximum(n_free, 1))
    return np.where(free, np.maximum(mass, 0.0) * share, out)
