"""``emkit.GLAD``: true labels, rater abilities and item difficulties (Whitehill et al. 2009)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .. import backends
from ..engine import em
from ..models.crowd.dawid_skene import Ratings
from ..models.crowd.glad import GladEM
from ..persistence import Persistable
from ._crowd_common import check_int, check_items_match, check_positive, supervised
from ._ratings import parse_ratings, take_items

__all__ = ["GLAD"]


def _vector(name: str, value: Any, size: int) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(size, float(arr))
    if arr.shape != (size,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite number or an array of shape ({size},), "
                         f"got shape {arr.shape}")
    return arr


def _refuse_dask(ratings: Any) -> None:
    if backends.is_dask(ratings):
        raise ValueError(
            "GLAD does not run on Dask: each item has its own difficulty (betas_) and every "
            "M-step optimizes all of them together with the abilities, from one statistic "
            "per rating, so partitions have no fixed-size statistics to add; compute the "
            "ratings into memory (ratings.compute()) or use DawidSkene or MACE, which run "
            "on Dask")


class GLAD(BaseEstimator, Persistable):
    """Generative model of Labels, Abilities and Difficulties, fitted by generalized EM.

    Rater ``r`` labels item ``i`` correctly with probability
    ``sigma(alphas_[r] * exp(betas_[i]))`` and otherwise picks one of the other
    classes at random; the true classes have fixed prior probabilities. This is
    crowd-kit's ``crowdkit.aggregation.GLAD`` (same parameterization, normal
    priors, start and conjugate-gradient M-step), on emkit's engine.

    Parameters
    ----------
    n_classes : int or None, default None
        Number of classes ``C``; ``None``: the largest label plus one.
    max_iter : int, default 100
        Most EM iterations.
    tol : float, default 1e-5
        Convergence threshold on the change of the log-posterior per item.
    class_priors : array-like of shape (n_classes,) or None, default None
        Fixed prevalences of the true classes (``None``: uniform, as crowd-kit).
    alpha_prior_mean, beta_prior_mean : float or array-like, default 1.0
        Means of the unit-variance normal priors on the abilities (one per rater)
        and the log inverse difficulties (one per item).
    m_step_max_iter : int, default 25
        Most conjugate-gradient iterations in each M-step.
    m_step_tol : float, default 1e-2
        Gradient tolerance of each M-step's optimizer.

    Attributes
    ----------
    alphas_ : ndarray of shape (n_raters,)
        Abilities: large positive for a reliable rater, near 0 for one who guesses,
        negative for one who tends to give a wrong label.
    betas_ : ndarray of shape (n_items,)
        Log inverse difficulties: an item with large ``betas_`` is easy (every able
        rater gets it right); ``exp(betas_)`` near 0 makes everyone guess.
    class_priors_ : ndarray of shape (n_classes,)
    posteriors_ : ndarray of shape (n_items, n_classes)
        Class posteriors of the fitted items.
    n_classes_, n_raters_ : int
    raters_, items_ : list
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Final log-posterior per item (log-likelihood of the ratings plus the
        normal log-priors), divided by the sum of the weights when ``fit`` had
        ``sample_weight``.

    Notes
    -----
    GLAD runs in memory only: Dask ratings are refused with a ``ValueError``
    (and there is no ``chunk_size``). Each item has its own difficulty
    ``betas_``, and every M-step optimizes all abilities and all difficulties
    together (conjugate gradients over ``n_raters + n_items`` numbers, with one
    statistic per rating), so its statistics are not a fixed-size sum over items
    that partitions could add. :class:`~emkit.DawidSkene` and
    :class:`~emkit.MACE` run on Dask.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import GLAD
    >>> ratings = np.array([[0, 0, 1], [1, 1, 1], [0, np.nan, 0], [1, 0, 1]])
    >>> GLAD().fit(ratings).predict(ratings)
    array([0, 1, 0, 1])
    """

    def __init__(self, n_classes: int | None = None, *, max_iter: int = 100, tol: float = 1e-5,
                 class_priors: Any = None, alpha_prior_mean: Any = 1.0,
                 beta_prior_mean: Any = 1.0, m_step_max_iter: int = 25,
                 m_step_tol: float = 1e-2):
        self.n_classes = n_classes
        self.max_iter = max_iter
        self.tol = tol
        self.class_priors = class_priors
        self.alpha_prior_mean = alpha_prior_mean
        self.beta_prior_mean = beta_prior_mean
        self.m_step_max_iter = m_step_max_iter
        self.m_step_tol = m_step_tol

    def _check_params(self) -> None:
        if self.n_classes is not None:
            check_int("n_classes", self.n_classes, 2)
        check_int("max_iter", self.max_iter, 1)
        check_int("m_step_max_iter", self.m_step_max_iter, 1)
        check_positive("tol", self.tol)
        check_positive("m_step_tol", self.m_step_tol)

    def _priors(self, c: int) -> np.ndarray:
        if self.class_priors is None:
            return np.full(c, 1.0 / c)
        p = np.asarray(self.class_priors, dtype=float)
        if p.shape != (c,) or np.any(~(p > 0)) or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"class_priors must be {c} positive probabilities summing to "
                             f"one, got {self.class_priors!r}")
        return p / p.sum()

    def _model(self, data: Ratings, beta_mean: np.ndarray | None = None) -> GladEM:
        if beta_mean is None:
            beta_mean = _vector("beta_prior_mean", self.beta_prior_mean, data.n_items)
        return GladEM(data, self.class_priors_,
                      _vector("alpha_prior_mean", self.alpha_prior_mean, data.n_raters),
                      beta_mean, self.m_step_max_iter, self.m_step_tol)

    def fit(self, ratings: Any, y: Any = None, sample_weight: Any = None) -> GLAD:
        """Fit abilities and difficulties by generalized EM.

        Parameters
        ----------
        ratings : array-like of shape (n_items, n_raters) or pandas.DataFrame
            Labels ``0..C-1`` with NaN for "not rated", or a table with columns
            ``item``, ``rater``, ``label``.
        y : array-like of shape (n_items,) or None, default None
            Known true classes (a gold standard for some items): ``-1`` for
            unknown, ``0..C-1`` for known, in the order of the matrix's rows or of
            the table's sorted ``item`` values. Known items keep one-hot
            posteriors in every E-step (as crowd-kit's ``true_labels`` in its
            Dawid-Skene); the fit maximizes the log-posterior of the ratings and
            the known classes together.
        sample_weight : array-like of shape (n_items,) or None, default None
            Weight of each item (same order as ``y``), finite and ``>= 0``, not all
            zero. It multiplies the item's terms (its ratings' log-likelihood and
            its ``betas_`` prior) in the E-step and in the M-step's objective, so an
            integer weight is the same as repeating the item under new item ids.
            An item of weight 0 is left out of the fit: its ``betas_`` entry is its
            prior mean and its ``posteriors_`` row follows from that.

        Returns
        -------
        self
        """
        self._check_params()
        _refuse_dask(ratings)
        data, items, raters = parse_ratings(ratings, self.n_classes, None)
        data = supervised(data, y, sample_weight, self.n_classes)
        self.class_priors_ = self._priors(data.n_classes)
        beta_mean = _vector("beta_prior_mean", self.beta_prior_mean, data.n_items)
        kept = None if data.weight is None else np.flatnonzero(data.weight > 0)
        if kept is not None and kept.size == data.n_items:
            kept = None
        fit_data = data if kept is None else take_items(data, kept)
        model = self._model(fit_data, beta_mean if kept is None else beta_mean[kept])
        init = {"alpha": np.ones(fit_data.n_raters), "beta": np.ones(fit_data.n_items)}
        n_eff = data.n_items if data.weight is None else float(data.weight.sum())
        result = em(model, fit_data, init, tol=float(self.tol) * n_eff,
                    max_iter=int(self.max_iter))
        self.alphas_ = result.params["alpha"]
        if kept is None:
            self.betas_ = result.params["beta"]
            self.posteriors_ = model.posteriors(data, result.params)[1]
        else:
            self.betas_ = beta_mean.copy()
            self.betas_[kept] = result.params["beta"]
            params = {"alpha": self.alphas_, "beta": self.betas_}
            every = replace(data, weight=None)  # the posteriors need no weights
            self.posteriors_ = self._model(every, beta_mean).posteriors(every, params)[1]
        self.n_classes_ = data.n_classes
        self.n_raters_ = data.n_raters
        self.raters_ = raters
        self.items_ = items
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        self.lower_bound_ = float(result.loglik) / n_eff
        return self

    def predict_proba(self, ratings: Any) -> np.ndarray:
        """Posterior of each true class for the fitted items, shape (n_items, n_classes).

        ``ratings`` must be about the items of ``fit`` (each has its own difficulty),
        with the raters of ``fit``.
        """
        check_is_fitted(self, "alphas_")
        _refuse_dask(ratings)
        data, items, _ = parse_ratings(ratings, self.n_classes_, self.raters_)
        check_items_match(items, self.items_, "GLAD")
        data = Ratings(data.item, data.rater, data.label, data.n_items, data.n_raters,
                       self.n_classes_)
        model = self._model(data)
        return model.posteriors(data, {"alpha": self.alphas_, "beta": self.betas_})[1]

    def predict(self, ratings: Any) -> np.ndarray:
        """Most probable true class of each fitted item, shape (n_items,)."""
        return np.argmax(self.predict_proba(ratings), axis=1)
