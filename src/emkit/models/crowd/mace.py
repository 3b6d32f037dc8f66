"""MACE (Hovy et al. 2013): which raters know the answer and which are spamming.

Each item's true class ``t_i`` is uniform over the ``C`` classes. When rater ``r``
rates an item, they spam with probability ``spamming[r, 0]`` and then draw a
label from their own strategy ``thetas[r]`` (C,), whatever the truth; otherwise
(probability ``spamming[r, 1]``, their competence) they give the true class. So
``P(label l | t) = spamming[r, 0] * thetas[r, l] + spamming[r, 1] * [l == t]``.
The layout (column 0 spamming, column 1 knowing) is crowd-kit's ``MACE``.

Data: a :class:`~emkit.models.crowd.dawid_skene.Ratings` value.
Parameters (a dict): ``spamming`` (R, 2) and ``thetas`` (R, C).

E-step: class posteriors ``T``; per rating, the probability that it was spam,
``(1 - T[i, l]) + T[i, l] * s0 theta_l / (s0 theta_l + s1)``, and that it was
known, ``T[i, l] * s1 / (s0 theta_l + s1)``. Statistics (additive over items):
``knowing`` (R, 2), the expected spam and known counts per rater, and ``strategy``
(R, C), the expected spam count per rater and label.

M-step (crowd-kit's ``method="em"``): ``spamming ∝ knowing + eps`` and
``thetas ∝ strategy + eps`` with ``eps = smoothing``, the posterior mode under
Dirichlet(1 + eps) priors; the E-step's ``loglik`` is the log-likelihood plus the
matching log-prior ``eps * (sum log spamming + sum log thetas)``, which this MAP-EM
never lowers.

Known true classes (``Ratings.known`` >= 0) keep one-hot posteriors, and item
weights (``Ratings.weight``) multiply each item's expected counts and its
log-likelihood (an integer weight is the same as repeating the item), as in
:mod:`~emkit.models.crowd.dawid_skene`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...numerics.simplex import on_simplex
from .dawid_skene import Ratings, normalize_known, weighted_total

__all__ = ["MaceEM", "random_start"]


def random_start(rng: np.random.Generator, n_raters: int, n_classes: int,
                 noise: float = 0.5) -> dict[str, np.ndarray]:
    """crowd-kit's kind of start: entries uniform on ``[1, 2 + noise]``, rows normalized."""
    spam = rng.uniform(1.0, 2.0 + noise, size=(n_raters, 2))
    theta = rng.uniform(1.0, 2.0 + noise, size=(n_raters, n_classes))
    return {"spamming": spam / spam.sum(axis=1, keepdims=True),
            "thetas": theta / theta.sum(axis=1, keepdims=True)}


class MaceEM:
    """EM model for MACE; ``data`` passed to the steps is a ``Ratings``.

    Parameters
    ----------
    n_raters, n_classes : int
    smoothing : float
        Pseudo-count added to every expected count in the M-step (> 0).
    """

    def __init__(self, n_raters: int, n_classes: int, smoothing: float):
        self.n_raters = n_raters
        self.n_classes = n_classes
        self.smoothing = float(smoothing)

    def _per_rating(self, data: Ratings, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Per rating: ``s0 * theta[label]`` (spam makes this label) and ``s1``."""
        spam = np.asarray(params["spamming"], dtype=float)
        theta = np.asarray(params["thetas"], dtype=float)
        return spam[data.rater, 0] * theta[data.rater, data.label], spam[data.rater, 1]

    def log_joint(self, data: Ratings, params: dict[str, Any]) -> np.ndarray:
        """``log P(t_i = c, ratings of i)``, shape (n_items, n_classes)."""
        by_spam, know = self._per_rating(data, params)
        log_spam = np.log(by_spam)
        n, c = data.n_items, data.n_classes
        base = np.bincount(data.item, weights=log_spam, minlength=n)
        bonus = np.bincount(data.item * c + data.label,
                            weights=np.log1p(know / by_spam), minlength=n * c).reshape(n, c)
        return bonus + (base - np.log(c))[:, None]

    def posteriors(self, data: Ratings, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Each item's log-likelihood (n_items,) and class posteriors (n_items, C).

        Items of known class get a one-hot posterior and ``log P(ratings, class)``.
        """
        return normalize_known(self.log_joint(data, params), data.known)

    def log_prior(self, params: dict[str, Any]) -> float:
        """``eps * (sum log spamming + sum log thetas)``."""
        return float(self.smoothing * (np.log(params["spamming"]).sum()
                                       + np.log(params["thetas"]).sum()))

    def e_step(self, data: Ratings, params: dict[str, Any]) -> tuple[dict, float]:
        stats, total = self.item_e_step(data, params)
        return stats, total + self.log_prior(params)

    def item_e_step(self, data: Ratings, params: dict[str, Any]) -> tuple[dict, float]:
        """Statistics and the items' (weighted) log-likelihood, without the log-prior.

        Both are sums over items, so a block of the items gives its share of each
        (see :mod:`emkit.models.crowd.blocks`).
        """
        ll, post = self.posteriors(data, params)
        by_spam, know = self._per_rating(data, params)
        right = post[data.item, data.label]
        known = right * know / (by_spam + know)
        spam = 1.0 - known
        if data.weight is not None:
            per_rating = data.weight[data.item]
            known, spam = known * per_rating, spam * per_rating
        r, c = self.n_raters, self.n_classes
        knowing = np.stack([np.bincount(data.rater, weights=spam, minlength=r),
                            np.bincount(data.rater, weights=known, minlength=r)], axis=1)
        strategy = np.bincount(data.rater * c + data.label, weights=spam,
                               minlength=r * c).reshape(r, c)
        return {"knowing": knowing, "strategy": strategy}, weighted_total(ll, data.weight)

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        eps = self.smoothing
        knowing = np.asarray(stats["knowing"], dtype=float) + eps
        strategy = np.asarray(stats["strategy"], dtype=float) + eps
        return {"spamming": knowing / knowing.sum(axis=1, keepdims=True),
                "thetas": strategy / strategy.sum(axis=1, keepdims=True)}

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Every row of ``spamming`` and ``thetas`` on the open simplex (for SQUAREM)."""
        return (on_simplex(params["spamming"], axis=1, open_=True)
                and on_simplex(params["thetas"], axis=1, open_=True))
