"""``emkit.MACE``: Multi-Annotator Competence Estimation (Hovy et al. 2013)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import backends
from ..engine import best_of, em
from ..models.crowd.dawid_skene import Ratings
from ..models.crowd.mace import MaceEM, random_start
from ..persistence import Persistable
from ._crowd_common import CrowdInput, check_int, check_positive, dask_predict_proba
from ._ratings import parse_ratings

__all__ = ["MACE"]


class MACE(BaseEstimator, Persistable):
    """Which raters know the answer and which are spamming, fitted by EM.

    Each rater either knows an item's true class and gives it (with probability
    ``competence_``) or spams, drawing a label from their own strategy
    ``thetas_`` whatever the truth. True classes are uniform a priori. This is
    crowd-kit's ``crowdkit.aggregation.MACE`` with ``method="em"`` (same model,
    smoothing, parameter layout and kind of random start), on emkit's engine;
    crowd-kit's default ``method="vb"`` (variational Bayes) is not provided.

    Parameters
    ----------
    n_classes : int or None, default None
        Number of classes ``C``; ``None``: the largest label plus one.
    n_restarts : int, default 10
        Random starts; the fit with the highest penalized log-likelihood is kept.
    max_iter : int, default 50
        Most EM iterations per start.
    tol : float, default 1e-6
        Convergence threshold on the change of the log-likelihood per item
        (``0``: exactly ``max_iter`` iterations, as crowd-kit).
    smoothing : float or None, default None
        Pseudo-count added to every expected count in the M-step; ``None`` is
        crowd-kit's ``0.01 / C``.
    default_noise : float, default 0.5
        Random starts draw every entry uniformly from ``[1, 2 + default_noise]``
        and normalize the rows (crowd-kit's start).
    spamming_init, thetas_init : array-like of shape (n_raters, 2) and (n_raters, C) or None
        A given start (rows of probabilities); used by every restart.
    random_state : int, RandomState or None, default None
    chunk_size : int or None, default None
        Items per E-step call on in-memory ratings (blocks of about
        ``chunk_size`` consecutive items, bounding the E-step's temporaries);
        ``None`` takes all items at once. Dask ratings always run partition by
        partition; ``chunk_size`` then bounds each partition's E-step. The fit
        is the same to rounding.
    accelerate : {None, "squarem"}, default None
        ``"squarem"`` extrapolates along the EM path (passed to :func:`emkit.em`;
        an extrapolated point off the simplex falls back to the plain EM step).

    Attributes
    ----------
    spamming_ : ndarray of shape (n_raters, 2)
        Column 0: probability that the rater spams; column 1: that they know.
    competence_ : ndarray of shape (n_raters,)
        ``spamming_[:, 1]``: how far each rater can be trusted.
    thetas_ : ndarray of shape (n_raters, n_classes)
        Each rater's label distribution when spamming.
    posteriors_ : ndarray of shape (n_items, n_classes)
    n_classes_, n_raters_ : int
    raters_, items_ : list
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Final penalized log-likelihood per item (per unit of weight when ``fit``
        had ``sample_weight``).

    Notes
    -----
    On Dask, ``ratings`` is a wide ``dask.array.Array`` (or Dask DataFrame) of
    shape (n_items, n_raters), NaN for "not rated", partitioned by items; ``y``
    and ``sample_weight`` (NumPy or Dask) are checked on the client and travel
    with their items. The expected spam, knowing and strategy counts are sums
    over items, so each partition's E-step runs where it lives and only the
    counts travel; the random starts need no data. ``posteriors_`` is brought
    to the client; :meth:`predict_proba` of Dask ratings stays lazy.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import MACE
    >>> ratings = np.array([[0, 0, 1], [1, 1, 1], [0, np.nan, 0], [1, 0, 1]])
    >>> MACE(random_state=0).fit(ratings).predict(ratings)
    array([0, 1, 0, 1])
    """

    def __init__(self, n_classes: int | None = None, *, n_restarts: int = 10,
                 max_iter: int = 50, tol: float = 1e-6, smoothing: float | None = None,
                 default_noise: float = 0.5, spamming_init: Any = None,
                 thetas_init: Any = None, random_state: Any = None,
                 chunk_size: int | None = None, accelerate: str | None = None):
        self.n_classes = n_classes
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.default_noise = default_noise
        self.spamming_init = spamming_init
        self.thetas_init = thetas_init
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.accelerate = accelerate

    def _check_params(self) -> None:
        if self.n_classes is not None:
            check_int("n_classes", self.n_classes, 2)
        check_int("n_restarts", self.n_restarts, 1)
        check_int("max_iter", self.max_iter, 1)
        check_positive("tol", self.tol)
        check_positive("default_noise", self.default_noise)
        if self.smoothing is not None:
            check_positive("smoothing", self.smoothing, strict=True)
        if self.chunk_size is not None:
            check_int("chunk_size", self.chunk_size, 1)
        if self.accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate must be None or 'squarem', got {self.accelerate!r}")
        if (self.spamming_init is None) != (self.thetas_init is None):
            raise ValueError("spamming_init and thetas_init must be given together")

    def _given_start(self, r: int, c: int) -> dict[str, np.ndarray]:
        start = {}
        for name, key, shape in (("spamming_init", "spamming", (r, 2)),
                                 ("thetas_init", "thetas", (r, c))):
            arr = np.array(getattr(self, name), dtype=float)
            if arr.shape != shape or np.any(~(arr > 0)) or not np.allclose(arr.sum(axis=1), 1):
                raise ValueError(f"{name} must have shape {shape} with positive rows summing "
                                 f"to one, got shape {arr.shape}")
            start[key] = arr
        return start

    def fit(self, ratings: Any, y: Any = None, sample_weight: Any = None) -> MACE:
        """Fit competences and spamming strategies by EM.

        Parameters
        ----------
        ratings : array-like of shape (n_items, n_raters), pandas.DataFrame or Dask array
            Labels ``0..C-1`` with NaN for "not rated", or a table with columns
            ``item``, ``rater``, ``label``. A wide ``dask.array.Array`` or Dask
            DataFrame, partitioned by items, runs on Dask (see Notes).
        y : array-like of shape (n_items,) or None, default None
            Known true classes (a gold standard for some items): ``-1`` for
            unknown, ``0..C-1`` for known, in the order of the matrix's rows or of
            the table's sorted ``item`` values. Known items keep one-hot
            posteriors in every E-step (as crowd-kit's ``true_labels`` in its
            Dawid-Skene); the fit maximizes the likelihood of the ratings and the
            known classes together.
        sample_weight : array-like of shape (n_items,) or None, default None
            Weight of each item (same order as ``y``), finite and ``>= 0``, not all
            zero: the item's expected counts and log-likelihood are multiplied by
            it, so an integer weight is the same as repeating the item and a weight
            of 0 the same as leaving it out (its ``posteriors_`` row is still given).

        Returns
        -------
        self
        """
        self._check_params()
        inp = CrowdInput(ratings, y, sample_weight, self.n_classes, self.chunk_size)
        r, c = inp.n_raters, inp.n_classes
        n_eff = inp.total
        eps = 0.01 / c if self.smoothing is None else float(self.smoothing)
        model = MaceEM(r, c, eps)
        if self.spamming_init is not None:
            starts = [self._given_start(r, c)]
        else:
            rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31))
            starts = [random_start(rng, r, c, float(self.default_noise))
                      for _ in range(int(self.n_restarts))]
        engine_model, engine_data = inp.engine(model)
        result, _ = best_of(starts, lambda init: em(
            engine_model, engine_data, init, tol=float(self.tol) * n_eff,
            max_iter=int(self.max_iter), accelerate=self.accelerate))
        self.spamming_ = result.params["spamming"]
        self.thetas_ = result.params["thetas"]
        self.competence_ = self.spamming_[:, 1].copy()
        self.smoothing_ = eps
        self.n_classes_ = c
        self.n_raters_ = r
        self.raters_ = inp.raters
        self.items_ = inp.items
        self.posteriors_ = inp.posteriors(model, result.params)
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        self.lower_bound_ = float(result.loglik) / n_eff
        return self

    def predict_proba(self, ratings: Any) -> np.ndarray:
        """Posterior of each true class, shape (n_items, n_classes).

        Rows follow the matrix's rows, or the sorted ``item`` values of a table;
        raters must be those of ``fit``. Dask ratings (a wide matrix) give a lazy
        Dask array with their row chunks.
        """
        check_is_fitted(self, "spamming_")
        model = MaceEM(self.n_raters_, self.n_classes_, self.smoothing_)
        params = {"spamming": self.spamming_, "thetas": self.thetas_}
        if backends.is_dask(ratings):
            return dask_predict_proba(model, params, self.n_classes_, ratings, self.raters_)
        data, _, _ = parse_ratings(ratings, self.n_classes_, self.raters_)
        data = Ratings(data.item, data.rater, data.label, data.n_items, data.n_raters,
                       self.n_classes_)
        return model.posteriors(data, params)[1]

    def predict(self, ratings: Any) -> np.ndarray:
        """Most probable true class of each item, shape (n_items,) (lazy for Dask ratings)."""
        return self.predict_proba(ratings).argmax(axis=1)
