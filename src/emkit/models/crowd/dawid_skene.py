"""Dawid & Skene (1979): true classes from several raters, as an EM model.

Each item ``i`` has an unobserved true class ``z_i`` with ``P(z_i = c) = priors[c]``;
rater ``r`` who rates an item of class ``c`` gives label ``l`` with probability
``confusion[r, c, l]`` (rows = true class, columns = given label), independently
of the other raters given ``z_i``. Ratings may be missing: an item is rated by
any subset of raters, possibly several times by the same one.

Data: a :class:`Ratings` value (the non-missing ratings in long form).

Parameters (a dict): ``priors`` (C,) and ``confusion`` (R, C, C).

Three structures of the confusion matrices (``structure``):

* ``"full"``: every row ``confusion[r, c, :]`` is free (Dawid & Skene's model);
* ``"class_conditional"``: rater ``r`` is right about an item of class ``c``
  with probability ``accuracy[r, c]`` and otherwise gives each of the other
  ``C - 1`` labels with probability ``(1 - accuracy[r, c]) / (C - 1)``;
* ``"one_coin"``: one accuracy per rater, ``accuracy[r]``, for every class, with
  the errors spread the same way.

Each M-step is exact: with ``n[r, c, l]`` the expected counts and ``alpha`` the
smoothing, the class-conditional accuracy is
``(n[r, c, c] + alpha) / (sum_l n[r, c, l] + C alpha)`` and the one-coin accuracy
``(sum_c n[r, c, c] + C alpha) / (sum_{c, l} n[r, c, l] + C^2 alpha)`` (the
maximizers of the expected complete-data log-likelihood plus the log-prior
``alpha * sum log confusion``, which counts every entry of the matrix).

Known true classes (``Ratings.known`` >= 0) keep one-hot posteriors: the
log-likelihood is then ``log P(ratings, known classes)``, and EM is exact for it.
Item weights (``Ratings.weight``) multiply each item's statistics and its
log-likelihood, so an integer weight is the same as repeating the item.

E-step: ``log T[i, c] = log priors[c] + sum_{ratings (i, r, l)} log confusion[r, c, l]``,
normalized over ``c``; statistics ``class_counts = sum_i T[i]`` (C,) and
``confusion_counts[r, c, l] = sum_{ratings (i, r, l)} T[i, c]`` (R, C, C), additive
over items.

M-step (``"full"``) with smoothing: ``priors ∝ class_counts + alpha`` and
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
from ...numerics.simplex import on_simplex

__all__ = ["SMOOTHING", "STRUCTURES", "Ratings", "DawidSkeneEM", "majority_vote",
           "vote_shares", "one_hot_known", "normalize_known", "weighted_total"]

#: Dirichlet pseudo-count added to every class count and confusion count.
SMOOTHING = 0.01

#: The confusion-matrix structures :class:`DawidSkeneEM` fits.
STRUCTURES = ("full", "class_conditional", "one_coin")


@dataclass(frozen=True)
class Ratings:
    """Non-missing ratings in long form, with the incidence matrices EM needs.

    Attributes
    ----------
    item, rater, label : ndarray of shape (n_ratings,)
        Integer codes: item ``0..n_items-1``, rater ``0..n_raters-1``, label
        ``0..n_classes-1``.
    n_items, n_raters, n_classes : int
    weight : ndarray of shape (n_items,) or None
        Non-negative item weights (``None``: all one).
    known : ndarray of shape (n_items,) or None
        Known true class of each item, ``-1`` where unknown (``None``: none known).

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
    weight: np.ndarray | None = None
    known: np.ndarray | None = None

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


def vote_shares(data: Ratings) -> np.ndarray:
    """Each item's share of ratings giving each label, shape (n_items, n_classes).

    Dawid & Skene's start; items nobody rated get ``1 / n_classes`` everywhere.
    """
    votes = np.zeros((data.n_items, data.n_classes))
    np.add.at(votes, (data.item, data.label), 1.0)
    total = votes.sum(axis=1, keepdims=True)
    return np.where(total > 0, votes / np.where(total > 0, total, 1.0), 1.0 / data.n_classes)


def one_hot_known(post: np.ndarray, known: np.ndarray | None) -> np.ndarray:
    """``post`` (n_items, C) with the rows of items of known class made one-hot, in place."""
    if known is not None:
        rows = np.flatnonzero(known >= 0)
        post[rows] = 0.0
        post[rows, known[rows]] = 1.0
    return post


def normalize_known(lj: np.ndarray, known: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Items' log-likelihoods (n_items,) and posteriors (n_items, C) from ``log P(z, ratings)``.

    ``lj`` (n_items, C) is normalized in place. Items of known class
    (``known >= 0``) get a one-hot posterior and ``log P(ratings, class)``.
    """
    if known is None:
        return log_normalize(lj, out=lj)
    rows = np.flatnonzero(known >= 0)
    cls = known[rows]
    known_ll = lj[rows, cls]
    ll, post = log_normalize(lj, out=lj)
    ll[rows] = known_ll
    post[rows] = 0.0
    post[rows, cls] = 1.0
    return ll, post


def weighted_total(ll: np.ndarray, weight: np.ndarray | None) -> float:
    """``sum_i weight[i] * ll[i]``; an item of weight 0 adds 0 even if its ``ll`` is -inf."""
    if weight is None:
        return float(ll.sum())
    return float(weight @ np.where(weight > 0, ll, 0.0))


class DawidSkeneEM:
    """EM model for Dawid-Skene; ``data`` passed to the steps is a :class:`Ratings`.

    Parameters
    ----------
    n_raters, n_classes : int
    smoothing : float, default SMOOTHING
        Dirichlet pseudo-count ``alpha`` added to every count (0: plain maximum
        likelihood).
    structure : {"full", "class_conditional", "one_coin"}, default "full"
        The constraint on each rater's confusion matrix (see the module docstring).
    """

    def __init__(self, n_raters: int, n_classes: int, smoothing: float = SMOOTHING,
                 structure: str = "full"):
        if structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        self.n_raters = n_raters
        self.n_classes = n_classes
        self.smoothing = float(smoothing)
        self.structure = structure

    def log_joint(self, data: Ratings, params: dict[str, Any]) -> np.ndarray:
        """``log P(z_i = c, ratings of i)``, shape (n_items, n_classes)."""
        by_item = data.by_item
        with np.errstate(divide="ignore"):  # an exact 0 (no smoothing) is log 0 = -inf
            log_conf = np.log(params["confusion"])  # (R, C, L)
            log_priors = np.log(params["priors"])
        contrib = log_conf[data.rater, :, data.label]  # (n_ratings, C)
        return np.asarray(by_item @ contrib) + log_priors

    def posteriors(self, data: Ratings, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Each item's log-likelihood (n_items,) and class posteriors (n_items, n_classes).

        Items of known class get a one-hot posterior and ``log P(ratings, class)``.
        """
        # a fresh array, normalized in place
        return normalize_known(self.log_joint(data, params), data.known)

    def log_prior(self, params: dict[str, Any]) -> float:
        """``alpha * (sum log priors + sum log confusion)``, the smoothing's log-prior."""
        a = self.smoothing
        if a == 0.0:
            return 0.0
        return float(a * (np.log(params["priors"]).sum() + np.log(params["confusion"]).sum()))

    def stats_from_posteriors(self, data: Ratings, post: np.ndarray) -> dict[str, np.ndarray]:
        """Statistics for given class posteriors ``post`` of shape (n_items, n_classes).

        Item weights, when ``data`` has them, are applied here.
        """
        if data.weight is not None:
            post = post * data.weight[:, None]
        by_item, by_rl = data.by_item, data.by_rater_label
        per_rating = by_item.T @ post  # (n_ratings, C): the posterior of the rated item
        counts = np.asarray(by_rl @ per_rating)  # (R * L, C)
        counts = counts.reshape(self.n_raters, self.n_classes, self.n_classes)
        return {"class_counts": post.sum(axis=0),
                "confusion_counts": counts.transpose(0, 2, 1)}

    def item_e_step(self, data: Ratings, params: dict[str, Any]) -> tuple[dict, float]:
        """Statistics and the items' (weighted) log-likelihood, without the log-prior.

        Both are sums over items, so a block of the items gives its share of each
        (see :mod:`emkit.models.crowd.blocks`).
        """
        ll, post = self.posteriors(data, params)
        return self.stats_from_posteriors(data, post), weighted_total(ll, data.weight)

    def e_step(self, data: Ratings, params: dict[str, Any]) -> tuple[dict, float]:
        stats, total = self.item_e_step(data, params)
        return stats, total + self.log_prior(params)

    def m_step(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        a = self.smoothing
        priors = stats["class_counts"] + a
        counts = np.asarray(stats["confusion_counts"], dtype=float)
        if self.structure == "full":
            conf = counts + a
            conf = _normalize_rows(conf)
        else:
            conf = confusion_from_accuracy(self.accuracy(counts), self.n_classes)
        return {"priors": priors / priors.sum(), "confusion": conf}

    def accuracy(self, counts: np.ndarray) -> np.ndarray:
        """The exact M-step's accuracies from expected counts (R, C, C).

        Shape (R, C) for ``"class_conditional"``, (R,) for ``"one_coin"``; a rater
        (or class row) with no weight at all and no smoothing gets ``1 / C``.
        """
        a, c = self.smoothing, self.n_classes
        right = np.einsum("rcc->rc", counts)
        total = counts.sum(axis=2)
        if self.structure == "one_coin":
            right, total = right.sum(axis=1), total.sum(axis=1)
            num, den = right + c * a, total + c * c * a
        else:
            num, den = right + a, total + c * a
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0 / c)

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Priors and every confusion row on the simplex (open when smoothing > 0)."""
        open_ = self.smoothing > 0
        return (on_simplex(params["priors"], open_=open_)
                and on_simplex(params["confusion"], axis=2, open_=open_))


def _normalize_rows(conf: np.ndarray) -> np.ndarray:
    """Rows of (R, C, C) counts divided by their sums; an all-zero row becomes uniform."""
    total = conf.sum(axis=2, keepdims=True)
    uniform = 1.0 / conf.shape[2]
    return np.where(total > 0, conf / np.where(total > 0, total, 1.0), uniform)


def confusion_from_accuracy(accuracy: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrices (R, C, C) with ``accuracy`` on the diagonal, errors uniform.

    ``accuracy`` is (R,) (one coin) or (R, C) (one accuracy per true class).
    """
    acc = np.asarray(accuracy, dtype=float)
    if acc.ndim == 1:
        acc = np.repeat(acc[:, None], n_classes, axis=1)
    off = (1.0 - acc) / (n_classes - 1)
    conf = np.repeat(off[:, :, None], n_classes, axis=2)
    idx = np.arange(n_classes)
    conf[:, idx, idx] = acc
    return conf
