"""``emkit.DawidSkene``: true labels from several noisy raters (Dawid & Skene 1979)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .. import backends
from ..engine import em
from ..models.crowd.blocks import VoteStart
from ..models.crowd.dawid_skene import (
    SMOOTHING,
    STRUCTURES,
    DawidSkeneEM,
    Ratings,
    one_hot_known,
    vote_shares,
)
from ..persistence import Persistable
from ._crowd_common import CrowdInput, check_int, dask_predict_proba, to_numpy
from ._ratings import parse_ratings

__all__ = ["DawidSkene"]

class DawidSkene(BaseEstimator, Persistable):
    """Estimate items' true classes and each rater's confusion matrix by EM.

    Parameters
    ----------
    n_classes : int or None, default None
        Number of classes ``C``; ``None`` takes the largest label (or known class)
        seen in ``fit`` plus one.
    model : {"full", "class_conditional", "one_coin"}, default "full"
        The raters' confusion matrices: ``"full"``, every row free (Dawid & Skene);
        ``"class_conditional"``, one accuracy per rater and true class with the
        errors spread evenly over the other labels; ``"one_coin"``, one accuracy
        per rater (crowd-kit's ``OneCoinDawidSkene``).
    max_iter : int, default 100
        Most EM iterations.
    tol : float, default 1e-6
        Convergence threshold on the change of the log-likelihood **per item**
        (the engine receives ``tol * n_items``).
    init : "majority" or array-like of shape (n_items, n_classes), default "majority"
        ``"majority"`` starts from each item's vote shares (Dawid & Skene's own
        start: the fraction of its ratings giving each label; unrated items
        uniform); an array gives the initial class posteriors directly. Items of
        known class (``y``) start one-hot either way. On Dask input both are
        computed partition by partition (an array may be NumPy or Dask).
    smoothing : float, default 0.01
        Dirichlet pseudo-count added to every count in the M-step (see Notes);
        ``0`` gives the plain maximum-likelihood fit (as crowd-kit's).
    chunk_size : int or None, default None
        Items per E-step call on in-memory ratings: blocks of about
        ``chunk_size`` consecutive items (bounds the E-step's temporaries, one
        row per rating and class); ``None`` takes all items at once. Dask ratings
        always run partition by partition; ``chunk_size`` then bounds each
        partition's E-step the same way. The fit is the same to rounding.
    accelerate : {None, "squarem"}, default None
        ``"squarem"`` extrapolates along the EM path (passed to :func:`emkit.em`;
        an extrapolated point off the simplex falls back to the plain EM step).

    Attributes
    ----------
    class_priors_ : ndarray of shape (n_classes,)
        Estimated prevalence of each true class.
    confusion_matrices_ : ndarray of shape (n_raters, n_classes, n_classes)
        ``confusion_matrices_[r, c, l]``: probability that rater ``r`` says ``l``
        about an item whose true class is ``c`` (rows sum to one).
    accuracies_ : ndarray of shape (n_raters,) or (n_raters, n_classes)
        Probability that each rater gives the true class: one number per rater
        for ``model="one_coin"``, one per rater and true class otherwise (the
        diagonals of ``confusion_matrices_``).
    n_classes_ : int
    n_raters_ : int
    raters_ : list
        Rater identifiers: column numbers for a matrix, the ``rater`` values for
        a table.
    items_ : list
        The items of ``fit``'s data in the order of ``posteriors_`` (row numbers
        for a matrix, the sorted ``item`` values for a table).
    posteriors_ : ndarray of shape (n_items, n_classes)
        Class posteriors of the training items (one-hot for items of known class).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Final penalized log-likelihood per item (see Notes).

    Notes
    -----
    Every count gets a Dirichlet pseudo-count of ``smoothing`` (by default
    :data:`emkit.models.crowd.dawid_skene.SMOOTHING`, 0.01) in the M-step, so that no
    confusion probability is exactly zero: a rater who never gave some label in
    the data still has a tiny probability of giving it, ``log 0`` never occurs,
    and a single disagreement can never rule a class out. The fit maximizes the
    log-likelihood plus the matching log-prior.

    On Dask, ``ratings`` is a wide ``dask.array.Array`` (or Dask DataFrame) of
    shape (n_items, n_raters), NaN for "not rated", partitioned by items; ``y``,
    ``sample_weight`` and an array ``init`` (NumPy or Dask, one entry per item)
    are checked on the client and travel with their items. The statistics
    (class and confusion counts) are sums over items, so each partition's E-step
    runs where it lives and only the counts travel; the smoothing's log-prior is
    added once, in shares of the items. ``posteriors_`` is brought to the client
    (n_items x n_classes); :meth:`predict_proba` of Dask ratings stays lazy.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import DawidSkene
    >>> ratings = np.array([[0, 0, 1], [1, 1, 1], [0, np.nan, 0], [1, 0, 1]])
    >>> DawidSkene().fit(ratings).predict(ratings)
    array([0, 1, 0, 1])
    """

    def __init__(self, n_classes: int | None = None, *, model: str = "full",
                 max_iter: int = 100, tol: float = 1e-6, init: Any = "majority",
                 smoothing: float = SMOOTHING, chunk_size: int | None = None,
                 accelerate: str | None = None):
        self.n_classes = n_classes
        self.model = model
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.smoothing = smoothing
        self.chunk_size = chunk_size
        self.accelerate = accelerate

    def __sklearn_tags__(self) -> Any:
        # ratings are class labels (categorical), NaN for "not rated"
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ parsing
    def _check_params(self) -> None:
        c = self.n_classes
        if c is not None and (isinstance(c, bool) or not isinstance(c, (int, np.integer))
                              or c < 2):
            raise ValueError(f"n_classes must be None or an integer >= 2, got {c!r}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, (int, np.integer)) \
                or self.max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if not isinstance(self.tol, (int, float, np.number)) or not self.tol >= 0:
            raise ValueError(f"tol must be a non-negative number, got {self.tol!r}")
        if not isinstance(self.model, str) or self.model not in STRUCTURES:
            raise ValueError(f"model must be one of {', '.join(map(repr, STRUCTURES))}, "
                             f"got {self.model!r}")
        a = self.smoothing
        if isinstance(a, bool) or not isinstance(a, (int, float, np.number)) \
                or not (np.isfinite(a) and a >= 0):
            raise ValueError(f"smoothing must be a finite number >= 0, got {a!r}")
        if self.chunk_size is not None:
            check_int("chunk_size", self.chunk_size, 1)
        if self.accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate must be None or 'squarem', got {self.accelerate!r}")

    def _parse(self, ratings: Any, n_classes: int | None,
               raters: list | None) -> tuple[Ratings, list, list]:
        return parse_ratings(ratings, n_classes, raters)

    def _given_posteriors(self, n_items: int, n_classes: int) -> np.ndarray | None:
        """An array ``init`` checked (None for ``"majority"``)."""
        if isinstance(self.init, str):
            if self.init != "majority":
                raise ValueError(f"init must be 'majority' or an array of posteriors, "
                                 f"got {self.init!r}")
            return None
        post = np.array(to_numpy(self.init), dtype=float)
        if post.shape != (n_items, n_classes) or np.any(post < 0) \
                or not np.allclose(post.sum(axis=1), 1.0):
            raise ValueError(f"init as an array must have shape ({n_items}, "
                             f"{n_classes}) with rows of probabilities summing "
                             "to one")
        return post

    def _initial_posteriors(self, data: Ratings) -> np.ndarray:
        given = self._given_posteriors(data.n_items, data.n_classes)
        post = vote_shares(data) if given is None else given
        return one_hot_known(post, data.known)

    def _start(self, model: DawidSkeneEM, inp: CrowdInput) -> dict[str, Any]:
        """The first parameters: the M-step from the initial posteriors' statistics.

        In memory on all items at once (with or without ``chunk_size``); on Dask
        partition by partition (the statistics are sums over items).
        """
        if inp.data is not None:
            # chunked: a copy, so that no incidence matrix of all items is kept
            data = replace(inp.data) if inp.chunked else inp.data
            return model.m_step(model.stats_from_posteriors(
                data, self._initial_posteriors(data)))
        given = self._given_posteriors(inp.n_items, inp.n_classes)
        start = VoteStart(model, inp.n_items, inp.n_classes, weighted=inp.weight is not None,
                          known=inp.known is not None, given=given is not None)
        data = inp.members() if given is None else inp.members(inp.rows(given))
        start_model, start_data = backends.for_input(start, data, chunk_size=inp.chunk_size)
        return model.m_step(start_model.e_step(start_data, None)[0])

    # ---------------------------------------------------------------------- fit
    def fit(self, ratings: Any, y: Any = None, sample_weight: Any = None) -> DawidSkene:
        """Fit priors and confusion matrices by EM.

        Parameters
        ----------
        ratings : array-like of shape (n_items, n_raters), pandas.DataFrame or Dask array
            Labels ``0..C-1`` with NaN for "not rated", or a table with columns
            ``item``, ``rater``, ``label`` (one row per rating; an item may be
            rated several times by the same rater). A wide ``dask.array.Array``
            or Dask DataFrame, partitioned by items, runs on Dask (see Notes).
        y : array-like of shape (n_items,) or None, default None
            Known true classes (a gold standard for some items): ``-1`` for
            unknown, ``0..C-1`` for known, in the order of the matrix's rows or of
            the table's sorted ``item`` values. Known items keep one-hot
            posteriors; the fit maximizes the likelihood of the ratings and the
            known classes together.
        sample_weight : array-like of shape (n_items,) or None, default None
            Weight of each item (same order as ``y``), finite and ``>= 0``, not all
            zero: the item's statistics and log-likelihood are multiplied by it, so
            an integer weight is the same as repeating the item and a weight of 0
            the same as leaving it out (its ``posteriors_`` row is still given).

        Returns
        -------
        self
        """
        self._check_params()
        inp = CrowdInput(ratings, y, sample_weight, self.n_classes, self.chunk_size)
        model = DawidSkeneEM(inp.n_raters, inp.n_classes, float(self.smoothing), self.model)
        init = self._start(model, inp)
        engine_model, engine_data = inp.engine(model)
        result = em(engine_model, engine_data, init, tol=float(self.tol) * inp.total,
                    max_iter=int(self.max_iter), accelerate=self.accelerate)
        self.class_priors_ = result.params["priors"]
        self.confusion_matrices_ = result.params["confusion"]
        self.accuracies_ = self._accuracies(result.params["confusion"])
        self.n_classes_ = inp.n_classes
        self.n_raters_ = inp.n_raters
        self.raters_ = inp.raters
        self.items_ = inp.items
        self.posteriors_ = inp.posteriors(model, result.params)
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        self.lower_bound_ = float(result.loglik) / inp.total
        return self

    def _accuracies(self, confusion: np.ndarray) -> np.ndarray:
        diag = np.einsum("rcc->rc", confusion).copy()
        return diag[:, 0].copy() if self.model == "one_coin" else diag

    @staticmethod
    def _posteriors(model: DawidSkeneEM, data: Ratings, params: dict) -> np.ndarray:
        return model.posteriors(data, params)[1]

    def predict_proba(self, ratings: Any) -> np.ndarray:
        """Posterior probability of each true class, shape (n_items, n_classes).

        Rows follow the matrix's rows, or the sorted ``item`` values of a table.
        Raters must be those of ``fit``. Dask ratings (a wide matrix) give a lazy
        Dask array with their row chunks.
        """
        check_is_fitted(self, "confusion_matrices_")
        model = DawidSkeneEM(self.n_raters_, self.n_classes_)
        params = {"priors": self.class_priors_, "confusion": self.confusion_matrices_}
        if backends.is_dask(ratings):
            return dask_predict_proba(model, params, self.n_classes_, ratings, self.raters_)
        data, _, _ = self._parse(ratings, self.n_classes_, self.raters_)
        return self._posteriors(model, data, params)

    def predict(self, ratings: Any) -> np.ndarray:
        """Most probable true class of each item, shape (n_items,) (lazy for Dask ratings)."""
        return self.predict_proba(ratings).argmax(axis=1)
