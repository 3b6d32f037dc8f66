"""``emkit.GaussianMixture``: a drop-in for ``sklearn.mixture.GaussianMixture``.

Same constructor arguments, defaults, fitted attributes and methods as
scikit-learn 1.9, plus ``accelerate``, ``dtype``, ``chunk_size``, ``sample_weight``
in ``fit``, and missing values (NaN). The class is a thin adapter: it validates
once, builds :class:`emkit.models.mixture.gaussian.GaussianMixtureModel` (or the
missing-value model when ``X`` has NaN), and runs :func:`emkit.em`. This module
holds the constructor and the fitting entry points; the rest is in mixins next
to it, one job each: input validation (:mod:`._gaussian_mixture_checks`), the EM
loop and fitted attributes (:mod:`._gaussian_mixture_fit`), prediction, scoring
and sampling (:mod:`._gaussian_mixture_predict`), initialization
(:mod:`._gaussian_mixture_init`), Dask input and ``partial_fit``
(:mod:`._gaussian_mixture_scale`), and a run whose M-step collapses a component
(:mod:`._gaussian_mixture_guard`).

Differences from scikit-learn, stated once
------------------------------------------
* ``tol`` has scikit-learn's meaning (change of the mean log-likelihood per
  sample, weighted by ``sample_weight``); it is handed to the engine as
  ``tol * total_weight``. The engine tests the change made by the last M-step,
  so a converged fit stops one M-step before scikit-learn would and reports one
  iteration fewer.
* ``lower_bound_`` is the mean log-likelihood *at the fitted parameters*
  (scikit-learn reports it one M-step earlier); ``lower_bounds_`` holds the value
  after each iteration.
* ``init_params="kmeans"`` on more than :data:`KMEANS_MAX_ROWS` rows runs k-means
  on a random subsample of that size and labels every row by its nearest
  centre (scikit-learn clusters all rows, which dominates a fast EM's run time).
* A component that loses all responsibility is handled as scikit-learn does:
  its weight becomes ~0, its mean 0 and its covariance ``reg_covar * I``, so the
  parameters stay finite.
* Where scikit-learn raises "Fitting the mixture model failed because some
  components have ill-defined empirical covariance" (an M-step or the drawn
  start gives a covariance that is not positive definite, or a variance that is
  not positive, in the stored precision), ``degenerate="reseed"`` (the default)
  re-seeds that component at the worst-explained row, with the data's column
  variances, and continues, warning with a ``DegenerateComponentWarning`` that
  names the component and the iteration (see :mod:`._gaussian_mixture_reseed`);
  ``degenerate="raise"`` raises scikit-learn's ``ValueError``. Fits where
  nothing collapses are unchanged. With ``reg_covar=0`` a component can also
  collapse onto one point with a positive variance below the rounding of its
  mean, where scikit-learn goes on with an undefined likelihood: EM stops
  there, keeps the last parameters whose likelihood is defined
  (``converged_=False``) and says so in a ``ConvergenceWarning``, as it does
  after :data:`MAX_RESEEDS_PER_COMPONENT` re-seeds of one component. Parameters
  are never NaN.
* A ``MonotonicityWarning`` (a step that lowered the log-likelihood, which exact
  EM never does) allows for rounding and for what ``reg_covar`` can cost a step
  (the model's ``monotone_slack``), so a large ``reg_covar`` does not raise it.
* Degenerate input raises ``ValueError`` saying what is wrong: empty ``X``, ±inf,
  all-NaN rows, fewer positively weighted rows than components, and with
  ``reg_covar=0`` constant columns or fewer distinct rows than components (with
  ``reg_covar > 0`` these simply get variance ``reg_covar``, as in scikit-learn).
* ``dtype=None`` (the default) fits float32 data in float32 and anything else in
  float64, as scikit-learn does; ``dtype`` forces one precision for any input.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .. import backends
from ..persistence import Persistable
from ..validation import check_magnitude
from ._gaussian_mixture_checks import GaussianMixtureChecks
from ._gaussian_mixture_fit import KMEANS_MAX_ROWS, GaussianMixtureFit
from ._gaussian_mixture_predict import GaussianMixturePredict
from ._gaussian_mixture_reseed import MAX_RESEEDS_PER_COMPONENT

__all__ = ["GaussianMixture", "KMEANS_MAX_ROWS", "MAX_RESEEDS_PER_COMPONENT"]


class GaussianMixture(GaussianMixtureChecks, GaussianMixtureFit, GaussianMixturePredict,
                      DensityMixin, BaseEstimator, Persistable):
    """Gaussian mixture fitted by EM; scikit-learn's ``GaussianMixture`` API.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Each component's own full covariance, one shared full covariance, each
        its own diagonal, or each its own single variance.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean (per-sample, weighted)
        log-likelihood made by one EM iteration.
    reg_covar : float, default=1e-6
        Non-negative value added to the covariance diagonals in every M-step.
    max_iter : int, default=100
        Most EM iterations per initialization (0 keeps the initial parameters).
    n_init : int, default=1
        Number of initializations; the one with the highest log-likelihood is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How initial responsibilities are drawn (as in scikit-learn).
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        User initial parameters; shapes as ``precisions_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization and :meth:`sample`.
    warm_start : bool, default=False
        Start the next ``fit`` from the current parameters (``n_init`` ignored).
    verbose : int, default=0
        1 prints each initialization and iteration, 2 adds timings and
        log-likelihood changes.
    verbose_interval : int, default=10
        Iterations between verbose lines.
    accelerate : {None, "squarem"}, default=None
        ``"squarem"`` uses SQUAREM extrapolation (see :func:`emkit.em`).
    dtype : {None, "float64", "float32"}, default=None
        Precision of the E-step arithmetic and of the fitted attributes
        (statistics are always summed in float64). None follows ``X`` as
        scikit-learn does: float32 data are fitted in float32, anything else
        in float64.
    chunk_size : int or None, default=None
        Rows per E-step chunk; memory is O(chunk_size * n_components * n_features).
        None picks :func:`emkit.models.mixture.gaussian.auto_chunk_size` (~1 MiB per chunk).
    online_alpha : float, default=0.6
        Step-size exponent of stepwise EM in :meth:`partial_fit`, in (0.5, 1].
    freeze : dict or None, default=None
        Parameters kept at their initial values (from ``*_init``, the drawn start
        or a warm start): ``{"means_": True, "weights_": mask, ...}`` with
        ``True`` for the whole attribute or a boolean mask of its shape (True =
        frozen). Keys: ``weights_``, ``means_``, ``covariances_`` (or
        ``precisions_``; whole matrices for "full" and "tied"). The free entries
        get the exact constrained M-step (free weights share the free mass; see
        :mod:`emkit.models.mixture.constrained_m_step`).
    degenerate : {"reseed", "raise"}, default="reseed"
        What a component whose covariance collapses (not positive definite, where
        scikit-learn raises "ill-defined empirical covariance") does: ``"reseed"``
        starts it again at the worst-explained row (the lowest log-likelihood
        under the current fit) with the data's column variances and warns
        (``DegenerateComponentWarning``, naming the component and iteration);
        ``"raise"`` raises scikit-learn's ``ValueError``. No re-seeding with
        ``freeze``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes (n_components, n_features, n_features) for "full",
        (n_features, n_features) for "tied", (n_components, n_features) for
        "diag", (n_components,) for "spherical".
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood of the training data at the fitted parameters.
    lower_bounds_ : list of float
        The same after each iteration of the best run.
    n_reseeds_ : int
        Components re-seeded in the best run (``degenerate="reseed"``).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` has string feature names.

    Examples
    --------
    >>> import numpy as np, emkit
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = emkit.GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_.round(6)
    array([[10.,  2.],
           [ 1.,  2.]])
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "accelerate": [StrOptions({"squarem"}), None],
        "dtype": [StrOptions({"float64", "float32"}), type, np.dtype, None],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "online_alpha": [Interval(Real, 0.5, 1.0, closed="right")],
        "freeze": [dict, None],
        "degenerate": [StrOptions({"reseed", "raise"})],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        accelerate: str | None = None,
        dtype: Any = None,
        chunk_size: int | None = None,
        online_alpha: float = 0.6,
        freeze: dict | None = None,
        degenerate: str = "reseed",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.accelerate = accelerate
        self.dtype = dtype
        self.chunk_size = chunk_size
        self.online_alpha = online_alpha
        self.freeze = freeze
        self.degenerate = degenerate

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None, *,
            labels: Any = None, priors: Any = None) -> GaussianMixture:
        """Estimate the parameters by EM (``n_init`` starts, best kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            May contain NaN (missing at random); every row needs one observed value.
        y : Ignored
            Not used, as in scikit-learn: pipelines and searches pass their target
            here, which must not turn into known components (see ``labels``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; integer weights give the fit of repeated rows.
        labels : array-like of int of shape (n_samples,), default=None
            Known components: -1 for an unknown row, 0..n_components-1 for a
            known one (its responsibilities stay one-hot; the start uses it).
        priors : array-like of shape (n_samples, n_components), default=None
            Soft evidence multiplying each row's posterior (a row of ones is no
            evidence). With ``labels`` or ``priors`` the fitted objective, and
            ``lower_bound_``, is ``sum_i log sum_k e_ik w_k N(x_i; mu_k, S_k)``
            (``e_ik`` the evidence; one-hot for a known row; with NaN in ``X``,
            ``N`` of each row's observed entries). With Dask ``X`` both may be
            NumPy or Dask; they are brought to the client as one (n_samples, K)
            array and travel to the partitions with their rows.

        Returns
        -------
        self : GaussianMixture

        Notes
        -----
        A ``dask.array.Array`` or Dask DataFrame is fitted where it lies: each
        E-step runs on its partitions (on the current ``dask.distributed``
        client) and only the statistics come back; the start is drawn from a
        sample of rows. ``sample_weight`` (NumPy or Dask) is rechunked as ``X``'s
        rows and travels to the partitions with them.
        """
        if backends.is_dask(X):
            from ._gaussian_mixture_scale import fit_dask

            self._validate_params()
            return fit_dask(self, X, labels, priors, sample_weight)
        self._fit_array(X, sample_weight, labels, priors)  # fit_predict without the labels
        return self

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixture:
        """Update the mixture with one mini-batch of a stream (stepwise EM).

        The first call initializes from its batch (``init_params`` as in
        :meth:`fit`); every call then makes one E-step on the batch and one M-step
        on a running average of the per-row statistics, with step size
        ``(t + 2) ** -online_alpha`` (Cappé & Moulines 2009). One pass over the data
        in batches of a few hundred rows or more lands close to the batch fit.
        Batches may contain NaN (missing values).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The mini-batch.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : GaussianMixture
        """
        from ._gaussian_mixture_scale import partial_fit

        if not hasattr(self, "_online"):
            self._validate_params()
        return partial_fit(self, X, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit_array(self, X: Any, sample_weight: Any, labels: Any,
                   priors: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Validate ``X`` (NumPy or array-like) and fit; the validated ``X`` and the
        rows' log-evidence (None without ``labels`` and ``priors``)."""
        X = self._validate_X(X, reset=True)
        check_magnitude(X)
        weights = self._check_weights(X, sample_weight)
        total = float(len(X)) if weights is None else float(weights.sum())
        self._check_sizes(X, weights)
        evidence = self._evidence(X, labels, priors)
        model = self._make_model(X)
        data = self._model_data(model, X, weights, evidence)
        self._fit_from_starts(model, data, X, weights, total,
                              check_random_state(self.random_state), evidence)
        return X, evidence

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None, *,
                    labels: Any = None, priors: Any = None) -> np.ndarray:
        """Fit as :meth:`fit` and return the labels of ``X`` (same as ``predict(X)``;
        with ``labels`` or ``priors``, the most probable component given that evidence too,
        so a known row gets its own label).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X, evidence = self._fit_array(X, sample_weight, labels, priors)
        if evidence is None:
            return self._predict_validated(X)
        labels = np.empty(len(X), dtype=np.int64)
        for start, block in self._weighted_log_prob_chunks(X):
            labels[start:start + len(block)] = (
                block + evidence[start:start + len(block)]).argmax(axis=1)
        return labels

    def bootstrap(self, X: Any, n_boot: int = 100, random_state: Any = None, *,
                  kind: str = "nonparametric", **kwargs: Any) -> Any:
        """Bootstrap standard errors of the fitted weights, means and covariances.

        See :func:`emkit.estimators.bootstrap.bootstrap` (``kind``, ``n_jobs``,
        ``client``, ``progress``, ``max_retries``, ``draws``); ``X`` of shape
        (n_samples, n_features) is the data this estimator was fitted to.

        Returns
        -------
        BootstrapResult
        """
        from .bootstrap import bootstrap

        return bootstrap(self, X, n_boot, kind, random_state=random_state, **kwargs)
