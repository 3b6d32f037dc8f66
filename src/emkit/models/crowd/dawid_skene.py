"""Dawid & Skene (1979): true classes from several raters, as an EM model.

Each item ``i`` has an unobserved true class ``z_i`` with ``P(z_i = c) = priors[c]``;
rater ``r`` who rates an item of class ``c`` gives label ``l`` with probability
``confusion[r, c, l]`` (rows = true class, columns = given label), independently
of the other raters given ``z_i``. Ratings may be missing: an item is rated by
any subset of raters, possibly several times by the same one.

Data: a :class:`Ratings` value (the non-missing ratings in long form).

Parameters (a dict): ``priors`` (C,) and ``confusion`` (R, C, C).

E-step: ``log T[i, c] = log priors[c] + sum_{ratings (i, r, l)} log confusion[r, c, l]``,
normalized over ``c``; statistics ``class_counts = sum_i T[i]`` (C,) and
``confusion_counts[r, c, l] = sum_{ratings (i, r, l)} T[i, c]`` (R, C, C), additive
over items.

M-step with smoothing: ``priors ∝ class_counts + alpha`` and
``confusion[r, c, :] ∝ confusion_counts[r, c, :] + alpha`` with ``alpha = SMOOTHING``.
That is the posterior mode under Dirichlet(1 + alpha) priors, so no probability is
ever exactly 0 (a rater who never used a label keeps a small probability of it,
and ``log 0`` never occurs); the log-likelihood the E-step reports includes the
matching log-prior ``alpha * (sum log priors + sum log confusion)``, the objective
this MAP-EM increases monotonically.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy import sparse

from ...numerics.logsumexp import log_normalize

__all__ = ["SMOOTHING", "Ratings", "DawidSkeneEM", "majority_vote"]

#: Dirichlet pseudo-count added to every class count and confusion count.
SMOOTHING = 0.01


@dataclass(frozen=True)
class Ratings:
    """Non-missing ratings in long form, with the incidence matrices EM needs.

    Attributes
    ----------
    item, rater, label : ndarray of shape (n_ratings,)
        Integer codes: item ``0..n_items-1``, rater ``0..n_raters-1``, label
        ``0..n_classes-1``.
    n_items, n_raters, n_classes : int

    Notes
    -----
    The incidence matrices are built on first use and kept on the value, so
    every E-step on the same ratings reuses them (building them costs 25-55 %
    of an E-step) and no other ratings can ever see them; the code arrays
    must therefore not be changed in place once the value is in use.
    """

    item: np.ndarray
    rater: np.ndarray
    label: np.ndarray
    n_items: int
    n_raters: int
    n_classes: int

    @cached_property
    def by_item(self) -> sparse.csr_matrix:
        """(n_items, n_ratings) 0/1 matrix: which item each rating is about."""
        n = self.item.size
        return sparse.csr_matrix((np.ones(n), (self.item, np.arange(n))),
                                 shape=(self.n_items, n))

    @cached_property
    def by_rater_label(self) -> sparse.csr_matrix:
        """(n_raters * n_classes, n_ratings) 0/1 matrix of each rating's (rater, label)."""
        n = self.item.size
        row = self.rater * self.n_classes + self.label
        return sparse.csr_matrix((np.ones(n), (row, np.arange(n))),
                                 shape=(self.n_raters * self.n_classes, n))


def majority_vote(data: Ratings) -> np.ndarray:
    """Most frequent label of each item (ties to the smallest label), shape (n_items,).

    Items nobody rated get ``-1``.
    """
    votes = np.zeros((data.n_items, data.n_classes))
    np.add.at(votes, (data.item, data.label), 1.0)
    out = np.argmax(votes, axis=1)
    out[votes.sum(axis=1) == 0] = -1
    return out


class DawidSkeneEM:
    """EM model for Dawid-Skene; ``data`` passed to the steps is a :class:`Ratings`."""

    def __init__(self, n_raters: int, n_classes: int, smoothing: float = SMOOTHING):
        self.n_raters = n_raters
        self.n_classes = n_classes
        self.smoothing = smoothing

    def log_joint(self, data: Ratings, params: dict[str, Any]) -> np.ndarray:
        """``log P(z_i = c, ratings of i)``, shape (n_items, n_classes)."""
        by_item = data.by_item
        log_conf = np.log(params["confusion"])  # (R, C, L)
        contrib = log_conf[data.rater, :, data.label]  # (n_ratings, C)
        return np.asarray(by_item @ contrib) + np.log(params["priors"])

    def log_prior(self, params: dict[str, Any]) -> float:
        """``alpha * (sum log priors + sum log confusion)``, the smoothing's log-prior."""
        a = self.smoothing
        return float(a * (np.log(params["priors"]).sum() + np.log(params["confusion"]).sum()))

    def stats_from_posteriors(self, data: Ratings, post: np.ndarray) -> dict[str, np.ndarray]:
        """Statistics for given class posteriors ``post`` of shape (n_items, n_classes)."""
        by_item, by_rl = data.by_item, data.by_rater_label
        per_rating = by_item.T @ post  # (n_ratings, C): the posterior of the rated item
        counts = np.asarray(by_rl @ per_rating)  # (R * L, C)
        counts = counts.reshape(self.n_raters, self.n_classes, self.n_classes)
        return {"class_counts": post.sum(axis=0),
                "confusion_counts": counts.transpose(0, 2, 1)}

    def e_step(self, data: Ratings, params: dict[str, Any]) -> tuple[dict, float]:
        ll, post = log_normalize(self.log_joint(data, params))
        return self.stats_from_posteriors(data, post), float(ll.sum()) + self.log_prior(params)

    def m_step(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        a = self.smoothing
        priors = stats["class_counts"] + a
        conf = stats["confusion_counts"] + a
        return {"priors": priors / priors.sum(),
                "confusion": conf / conf.sum(axis=2, keepdims=True)}

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Priors and every confusion row on the open simplex."""
        p, c = params["priors"], params["confusion"]
        return bool(np.all(p > 0) and np.all(c > 0) and abs(p.sum() - 1) < 1e-8
                    and np.allclose(c.sum(axis=2), 1.0, atol=1e-8))
