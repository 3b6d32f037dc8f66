"""``emkit.GaussianMixture``: a drop-in for ``sklearn.mixture.GaussianMixture``.

Same constructor arguments, defaults, fitted attributes and methods as
scikit-learn 1.9, plus ``accelerate``, ``dtype``, ``chunk_size``, ``sample_weight``
in ``fit``, and missing values (NaN). The class is a thin adapter: it validates
once, builds :class:`emkit.models.mixture.gaussian.GaussianMixtureModel` (or the
missing-value model when ``X`` has NaN), and runs :func:`emkit.em`.

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
  parameters stay finite. With ``reg_covar=0`` a component collapsing onto one
  point makes its covariance singular and ``fit`` raises ``ValueError`` naming
  the remedy. Parameters are never NaN.
* Degenerate input raises ``ValueError`` saying what is wrong: empty ``X``, ±inf,
  all-NaN rows, fewer (distinct, positively weighted) rows than components, and
  constant columns when ``reg_covar=0`` (with ``reg_covar > 0`` a constant
  column simply gets variance ``reg_covar``, as in scikit-learn).
"""

from __future__ import annotations

import math
import time
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .. import backends
from ..engine import Step, best_of, em
from ..exceptions import ConvergenceWarning
from ..gaussian.reference import precision_cholesky
from ..models.mixture.gaussian import GaussianMixtureModel
from ..persistence import Persistable
from ..validation import check_magnitude
from ._gaussian_mixture_init import initial_params

__all__ = ["GaussianMixture", "KMEANS_MAX_ROWS"]

#: Above this many rows, ``init_params="kmeans"`` clusters a random subsample
#: (k-means on all rows took ~10% of scikit-learn's default fit at 1M rows and
#: would dominate emkit's; a few thousand rows per component locate the centres).
KMEANS_MAX_ROWS = 100_000


class GaussianMixture(DensityMixin, BaseEstimator, Persistable):
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
    dtype : {"float64", "float32"}, default="float64"
        Precision of the E-step arithmetic and of the fitted attributes
        (statistics are always summed in float64).
    chunk_size : int or None, default=None
        Rows per E-step chunk; memory is O(chunk_size * n_components * n_features).
        None picks :func:`emkit.models.mixture.gaussian.auto_chunk_size` (~1 MiB per chunk).
    online_alpha : float, default=0.6
        Step-size exponent of stepwise EM in :meth:`partial_fit`, in (0.5, 1].

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
        "dtype": [StrOptions({"float64", "float32"}), type, np.dtype],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "online_alpha": [Interval(Real, 0.5, 1.0, closed="right")],
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
        dtype: Any = "float64",
        chunk_size: int | None = None,
        online_alpha: float = 0.6,
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

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------ validation
    def _dtype(self) -> np.dtype:
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype must be float64 or float32, got {self.dtype!r}")
        return dtype

    def _validate_X(self, X: Any, reset: bool) -> np.ndarray:
        X = validate_data(
            self, X, reset=reset, dtype=self._dtype(), ensure_all_finite="allow-nan",
            ensure_min_samples=2 if reset else 1, order="C",
        )
        if X.shape[0] == 0:
            raise ValueError("X is empty: at least one row is needed")
        if np.isnan(X).all(axis=1).any():
            raise ValueError(
                "X has rows with no observed value (all NaN); drop them before fitting"
            )
        return X

    def _make_model(self, X: np.ndarray) -> Any:
        if np.isnan(X).any():
            from ..models.mixture.gaussian_missing import MissingGaussianMixtureModel

            return MissingGaussianMixtureModel(self.covariance_type, self.reg_covar)
        return GaussianMixtureModel(self.covariance_type, self.reg_covar, self.chunk_size,
                                    self._dtype())

    def _model_data(self, model: Any, X: np.ndarray, sample_weight: np.ndarray | None) -> Any:
        if isinstance(model, GaussianMixtureModel):
            return X if sample_weight is None else (X, sample_weight)
        from ..models.mixture.gaussian_missing import find_patterns

        return find_patterns(X, sample_weight)

    # ------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixture:
        """Estimate the parameters by EM (``n_init`` starts, best kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            May contain NaN (missing at random); every row needs one observed value.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; integer weights give the fit of repeated rows.

        Returns
        -------
        self : GaussianMixture

        Notes
        -----
        A ``dask.array.Array`` or Dask DataFrame is fitted where it lies: each
        E-step runs on its partitions (on the current ``dask.distributed``
        client) and only the statistics come back; the start is drawn from a
        sample of rows. ``sample_weight`` is not supported with Dask input.
        """
        if backends.is_dask(X):
            from ._gaussian_mixture_scale import fit_dask

            self._validate_params()
            if sample_weight is not None:
                raise ValueError("sample_weight is not supported with Dask input; put the "
                                 "weights in a column and fit a weighted NumPy sample instead")
            return fit_dask(self, X)
        self.fit_predict(X, y, sample_weight=sample_weight)
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
    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit as :meth:`fit` and return the labels of ``X`` (same as ``predict(X)``).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._validate_X(X, reset=True)
        check_magnitude(X)
        weights = self._check_weights(X, sample_weight)
        total = float(len(X)) if weights is None else float(weights.sum())
        self._check_sizes(X, weights)
        model = self._make_model(X)
        data = self._model_data(model, X, weights)
        self._fit_from_starts(model, data, X, weights, total,
                              check_random_state(self.random_state))
        return self._predict_validated(X)

    def _fit_from_starts(self, model: Any, data: Any, X_init: np.ndarray,
                         weights: np.ndarray | None, total: float,
                         random_state: np.random.RandomState) -> None:
        """Run EM from ``n_init`` starts drawn on ``X_init`` (or warm) and keep the best."""
        do_init = not (self.warm_start and hasattr(self, "converged_"))

        def starts():
            for i in range(self.n_init if do_init else 1):
                self._print_verbose(f"Initialization {i}", level=1)
                if do_init:
                    yield initial_params(self, X_init, weights, random_state, KMEANS_MAX_ROWS)
                else:
                    yield self._fitted_params()

        best, _ = best_of(starts(), lambda init: self._run_em(model, data, init, total))
        self._set_fitted(best.params, best, total)
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data "
                "(or try accelerate='squarem').",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _check_weights(self, X: np.ndarray, sample_weight: Any) -> np.ndarray | None:
        if sample_weight is None:
            return None
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64, copy=True,
                                       ensure_non_negative=True)
        if not weights.sum() > 0.0:
            raise ValueError("sample_weight sums to zero: at least one row needs weight")
        return weights

    def _check_sizes(self, X: np.ndarray, weights: np.ndarray | None) -> None:
        rows = X if weights is None else X[weights > 0]
        if len(rows) < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {len(rows)}"
            )
        if self.reg_covar == 0.0:
            spread = np.nanmax(rows, axis=0) - np.nanmin(rows, axis=0)
            constant = np.flatnonzero(~(spread > 0.0))
            if constant.size:
                raise ValueError(
                    f"column(s) {constant.tolist()} of X are constant, so every covariance "
                    "would be singular with reg_covar=0; drop them or set reg_covar > 0"
                )
        if not np.isnan(rows).any() and len(rows) <= 100_000:
            distinct = len(np.unique(rows, axis=0))
            if distinct < self.n_components:
                raise ValueError(
                    f"X has only {distinct} distinct rows, fewer than n_components="
                    f"{self.n_components}: the extra components would have no data; "
                    "reduce n_components"
                )

    def _run_em(self, model: Any, data: Any, init: dict, total: float) -> Any:
        if self.max_iter == 0:
            _, loglik = model.e_step(data, init)
            return _NoIterations(init, loglik)
        start = time.perf_counter()
        last = [start]

        def callback(step: Step) -> None:
            if step.iteration % self.verbose_interval == 0:
                if self.verbose >= 2:
                    now = time.perf_counter()
                    print(f"  Iteration {step.iteration}\t time lapse {now - last[0]:.5f}s"
                          f"\t ll change {step.gain / total:.5f}")
                    last[0] = now
                elif self.verbose == 1:
                    print(f"  Iteration {step.iteration}")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = em(model, data, init, tol=self.tol * total, max_iter=self.max_iter,
                        accelerate=self.accelerate,
                        callback=callback if self.verbose else None)
        status = "converged" if result.converged else "did not converge"
        self._print_verbose(f"Initialization {status}.", level=1, extra=(
            f" time lapse {time.perf_counter() - start:.5f}s\t lower bound "
            f"{result.loglik / total:.5f}."))
        return result

    def _print_verbose(self, message: str, level: int, extra: str = "") -> None:
        if self.verbose >= 2:
            print(message + extra)
        elif self.verbose >= level:
            print(message)

    def _set_fitted(self, params: dict, result: Any, total: float) -> None:
        dtype = self._dtype()
        self.weights_ = np.asarray(params["weights"], dtype=dtype)
        self.means_ = np.asarray(params["means"], dtype=dtype)
        self.covariances_ = np.asarray(params["covariances"], dtype=dtype)
        prec_chol = precision_cholesky(np.asarray(params["covariances"], dtype=np.float64),
                                       self.covariance_type)
        self.precisions_cholesky_ = prec_chol.astype(dtype)
        if self.covariance_type == "full":
            precisions = np.matmul(prec_chol, prec_chol.transpose(0, 2, 1))
        elif self.covariance_type == "tied":
            precisions = prec_chol @ prec_chol.T
        else:
            precisions = prec_chol**2
        self.precisions_ = precisions.astype(dtype)
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        self.lower_bound_ = float(result.loglik / total)
        self.lower_bounds_ = [float(s.loglik / total) for s in result.steps]

    def _fitted_params(self) -> dict:
        return {
            "weights": np.asarray(self.weights_, dtype=np.float64),
            "means": np.asarray(self.means_, dtype=np.float64),
            "covariances": np.asarray(self.covariances_, dtype=np.float64),
        }

    # --------------------------------------------------------------- predict
    def _predict_model(self, X: np.ndarray) -> Any:
        if np.isnan(X).any():
            from ..models.mixture.gaussian_missing import MissingGaussianMixtureModel

            return MissingGaussianMixtureModel(self.covariance_type, self.reg_covar)
        return GaussianMixtureModel(self.covariance_type, self.reg_covar, self.chunk_size,
                                    self._dtype())

    def _weighted_log_prob_chunks(self, X: np.ndarray):
        model = self._predict_model(X)
        params = self._fitted_params()
        if isinstance(model, GaussianMixtureModel):
            yield from model.iter_weighted_log_prob(X, params)
        else:
            yield 0, model.log_prob_rows(X, params)

    def _predict_validated(self, X: np.ndarray) -> np.ndarray:
        labels = np.empty(len(X), dtype=np.int64)
        for start, block in self._weighted_log_prob_chunks(X):
            labels[start:start + len(block)] = block.argmax(axis=1)
        return labels

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        if backends.is_dask(X):
            from ._gaussian_mixture_scale import predict_dask

            return predict_dask(self, X, "predict")
        return self._predict_validated(self._validate_X(X, reset=False))

    def _log_prob_resp(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_norm = np.empty(len(X), dtype=np.float64)
        resp = np.empty((len(X), self.n_components), dtype=self._dtype())
        for start, block in self._weighted_log_prob_chunks(X):
            block = np.array(block, dtype=np.float64)
            top = block.max(axis=1, keepdims=True)
            with np.errstate(under="ignore"):
                norm = np.log(np.exp(block - top).sum(axis=1)) + top[:, 0]
                resp[start:start + len(block)] = np.exp(block - norm[:, None])
            log_norm[start:start + len(block)] = norm
        return log_norm, resp

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            May contain NaN: missing coordinates are marginalized.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        if backends.is_dask(X):
            from ._gaussian_mixture_scale import predict_dask

            return predict_dask(self, X, "predict_proba")
        return self._log_prob_resp(self._validate_X(X, reset=False))[1]

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of each row (of its observed coordinates when NaN).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        if backends.is_dask(X):
            from ._gaussian_mixture_scale import predict_dask

            return predict_dask(self, X, "score_samples")
        return self._log_prob_resp(self._validate_X(X, reset=False))[0]

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
        """
        values = self.score_samples(X)
        return float(values.mean().compute() if backends.is_dask(values) else np.mean(values))

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows from the fitted mixture (seeded by ``random_state``).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at "
                "least one sample."
            )
        n_features = self.means_.shape[1]
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, np.asarray(self.weights_, dtype=np.float64))
        means = np.asarray(self.means_, dtype=np.float64)
        cov = np.asarray(self.covariances_, dtype=np.float64)
        if self.covariance_type == "full":
            X = np.vstack([rng.multivariate_normal(m, c, int(s))
                           for m, c, s in zip(means, cov, counts, strict=True)])
        elif self.covariance_type == "tied":
            X = np.vstack([rng.multivariate_normal(m, cov, int(s))
                           for m, s in zip(means, counts, strict=True)])
        else:
            X = np.vstack([m + rng.standard_normal(size=(s, n_features)) * np.sqrt(c)
                           for m, c, s in zip(means, cov, counts, strict=True)])
        y = np.concatenate([np.full(int(s), i, dtype=np.int64) for i, s in enumerate(counts)])
        return X, y

    # ------------------------------------------------------- model selection
    def _n_parameters(self) -> int:
        n_features = self.means_.shape[1]
        k = self.n_components
        cov_params = {
            "full": k * n_features * (n_features + 1) / 2.0,
            "diag": k * n_features,
            "tied": n_features * (n_features + 1) / 2.0,
            "spherical": k,
        }[self.covariance_type]
        return int(cov_params + n_features * k + k - 1)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        n = np.asarray(X).shape[0] if not hasattr(X, "shape") else X.shape[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        n = np.asarray(X).shape[0] if not hasattr(X, "shape") else X.shape[0]
        return -2 * self.score(X) * n + 2 * self._n_parameters()


class _NoIterations:
    """What ``fit`` records for ``max_iter=0``: the initial parameters, unconverged."""

    def __init__(self, params: dict, loglik: float):
        self.params = params
        self.loglik = float(loglik)
        self.converged = False
        self.n_iter = 0
        self.steps: list[Step] = []

