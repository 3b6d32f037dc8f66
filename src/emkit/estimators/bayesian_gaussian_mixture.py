"""``emkit.BayesianGaussianMixture``: scikit-learn's variational Gaussian mixture on the engine.

Same constructor arguments, defaults, fitted attributes and methods as
``sklearn.mixture.BayesianGaussianMixture`` 1.9, plus ``chunk_size``. The
class is a thin adapter: it validates once, resolves the prior
(:mod:`._bgm_init`), builds
:class:`emkit.models.mixture.bayesian_gaussian.BayesianGaussianMixtureModel` and
runs :func:`emkit.em`, whose monitored quantity is scikit-learn's lower bound.
Prediction, scoring and sampling are in :mod:`._bgm_predict`.

Differences from scikit-learn, stated once
------------------------------------------
* The iterations are scikit-learn's: the same updates, the same lower bound
  (``lower_bound_`` is scikit-learn's, not divided by the number of rows, and
  ``tol`` is on its change), the same stopping rule and ``n_iter_``; from the
  same initial responsibilities the bounds agree to rounding.
* ``chunk_size`` runs each E-step over that many rows at a time
  (:class:`emkit.backends.ChunkedModel`); the statistics and the bound add up
  over the chunks.
* There is no ``accelerate``: the bound of a point depends on the
  responsibilities that produced it, so a SQUAREM extrapolation has no bound to
  be compared by.
* Fitted attributes are float64 whatever the input's precision.
* ``freeze`` keeps blocks of the variational posterior at their start
  (:mod:`emkit.models.mixture.bayesian_gaussian_frozen`); the bound monitored
  then is the full variational bound, not scikit-learn's shortcut.
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
from sklearn.utils.validation import validate_data

from .. import backends
from ..engine import best_of, em
from ..exceptions import ConvergenceWarning
from ..gaussian.reference import precision_cholesky
from ..models.mixture.bayesian_gaussian import (
    BayesianGaussianMixtureModel,
    VariationalPrior,
    mixture_weights,
)
from ..models.mixture.bayesian_gaussian_frozen import FrozenBayesianGaussianMixtureModel
from ..persistence import Persistable
from ..validation import check_magnitude
from ._bgm_init import freeze_masks, initial_stats, resolve_prior
from ._bgm_predict import BayesianGaussianMixturePredict

__all__ = ["BayesianGaussianMixture"]


class _Run:
    """One start's outcome: final parameters, bound, convergence, per-iteration bounds."""

    def __init__(self, params: dict, loglik: float, converged: bool, bounds: list[float]):
        self.params = params
        self.loglik = float(loglik)
        self.converged = bool(converged)
        self.n_iter = len(bounds)
        self.bounds = bounds


class BayesianGaussianMixture(BayesianGaussianMixturePredict, DensityMixin, BaseEstimator,
                              Persistable):
    """Variational Bayesian Gaussian mixture; scikit-learn's ``BayesianGaussianMixture`` API.

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components; the prior switches off the
        ones the data do not need.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound (a total over rows).
    reg_covar : float, default=1e-6
        Non-negative value added to the covariance diagonals in every M-step.
    max_iter : int, default=100
        Most iterations per start (0 keeps the initial parameters).
    n_init : int, default=1
        Number of starts; the one with the highest lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the initial responsibilities are drawn (as in scikit-learn).
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
default="dirichlet_process"
        A truncated stick-breaking (Dirichlet process) prior or a finite Dirichlet
        prior on the weights.
    weight_concentration_prior : float or None, default=None
        Dirichlet (process) concentration; None means ``1 / n_components``.
    mean_precision_prior : float or None, default=None
        Precision prior of the means (``beta_0``); None means 1.
    mean_prior : array-like of shape (n_features,) or None, default=None
        Prior mean of the means; None means the mean of ``X``.
    degrees_of_freedom_prior : float or None, default=None
        Wishart degrees of freedom (> n_features - 1); None means n_features.
    covariance_prior : float or array-like or None, default=None
        Wishart prior covariance: (n_features, n_features) for full and tied,
        (n_features,) for diag, a float for spherical; None means the
        covariance of ``X``.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start the next ``fit`` from the current parameters (``n_init`` ignored).
    verbose : int, default=0
    verbose_interval : int, default=10
    chunk_size : int or None, default=None
        Rows per E-step call (bounded memory); None runs the E-step on all rows.
    freeze : dict or None, default=None
        Blocks of the variational posterior kept at their start (the drawn start,
        or the current attributes with ``warm_start=True``, which may be set by
        hand before the refit), while the others get the coordinate-ascent update
        given them: ``{"weights_": True | mask (K,), "means_": True | mask (K,) |
        mask (K, D), "covariances_": True | mask (K,)}`` (``precisions_`` is an
        alias of ``covariances_``). A frozen component's weight keeps its
        ``weight_concentration_`` entries (its stick's Beta pair for the
        Dirichlet process: the sticks are broken in the components' order, so
        its ``weights_`` entry still moves with the free sticks before it; for
        the Dirichlet distribution the free concentrations are the nearest to
        their usual update given the frozen ones); a frozen mean keeps
        ``means_`` and ``mean_precision_``, a (K, D) mask keeps the masked
        entries of ``means_`` and moves the rest by the Gaussian conditional
        given them (``mean_precision_`` then moves, unless the whole row is
        frozen); a frozen covariance keeps ``covariances_`` and
        ``degrees_of_freedom_``. Not for "tied". ``lower_bound_`` is then the
        full variational bound (Bishop 2006, eq. 10.70, every constant
        included), which the iterations never lower; see
        :mod:`emkit.models.mixture.bayesian_gaussian_frozen`.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes (n_components, n_features, n_features) for "full",
        (n_features, n_features) for "tied", (n_components, n_features) for
        "diag", (n_components,) for "spherical".
    weight_concentration_ : tuple of two ndarrays of shape (n_components,) or ndarray
        The Beta parameters of the sticks ("dirichlet_process") or the Dirichlet's.
    weight_concentration_prior_, mean_precision_prior_, degrees_of_freedom_prior_ : float
    mean_prior_ : ndarray of shape (n_features,)
    covariance_prior_ : ndarray or float
    mean_precision_ : ndarray of shape (n_components,)
    degrees_of_freedom_ : ndarray of shape (n_components,) or float ("tied")
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        scikit-learn's lower bound of the best start at its last iteration.
    lower_bounds_ : list of float
        The lower bound after each iteration of the best start.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> import numpy as np
    >>> from emkit.estimators.bayesian_gaussian_mixture import BayesianGaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [12, 4], [10, 7]])
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=42).fit(X)
    >>> bgm.means_.round(2)
    array([[2.5 , 2.29],
           [8.46, 4.52]])
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "weight_concentration_prior_type": [
            StrOptions({"dirichlet_process", "dirichlet_distribution"})],
        "weight_concentration_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_precision_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "covariance_prior": [None, "array-like", Interval(Real, 0.0, None, closed="neither")],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "freeze": [dict, None],
    }

    def __init__(
        self,
        *,
        n_components: int = 1,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior: Any = None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior: Any = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        chunk_size: int | None = None,
        freeze: dict | None = None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.freeze = freeze

    # ------------------------------------------------------------ validation
    def _validate_X(self, X: Any, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                          ensure_min_samples=2 if reset else 1)
        X = np.ascontiguousarray(X, dtype=np.float64)
        check_magnitude(X)
        return X

    def _check_constant_columns_width(self, width: np.ndarray) -> None:
        """Refuse constant columns (``width``: max - min per column, (D,)) with
        ``reg_covar=0`` (not for "spherical"): the default ``covariance_prior`` and
        every posterior covariance are singular there, where scikit-learn raises
        "ill-defined empirical covariance" mid-fit."""
        if self.reg_covar > 0.0 or self.covariance_type == "spherical":
            return
        constant = np.flatnonzero(~(np.asarray(width) > 0.0))
        if constant.size:
            raise ValueError(
                f"column(s) {constant.tolist()} of X are constant, so with reg_covar=0 the "
                f"{self.covariance_type!r} covariances (and the default covariance_prior) "
                "are singular; drop them or set reg_covar > 0")

    def _check_parameters(self, X: np.ndarray, moments: Any = None) -> None:
        """Resolve the prior for ``X`` (or its ``moments``, see
        :func:`._bgm_init.data_moments`) and store it (scikit-learn's ``*_prior_``)."""
        prior = resolve_prior(self, X, moments)
        self.weight_concentration_prior_ = prior.weight_concentration
        self.mean_precision_prior_ = prior.mean_precision
        self.mean_prior_ = prior.mean
        self.degrees_of_freedom_prior_ = prior.degrees_of_freedom
        self.covariance_prior_ = (float(prior.covariance) if prior.covariance.ndim == 0
                                  else prior.covariance)

    def _prior(self) -> VariationalPrior:
        return VariationalPrior(float(self.weight_concentration_prior_),
                                float(self.mean_precision_prior_),
                                np.asarray(self.mean_prior_, dtype=np.float64),
                                float(self.degrees_of_freedom_prior_),
                                np.asarray(self.covariance_prior_, dtype=np.float64))

    def _make_model(self, n_rows: int, frozen: bool = True) -> BayesianGaussianMixtureModel:
        """The model of ``n_rows`` rows; with ``freeze`` (and ``frozen``) the frozen one."""
        masks = getattr(self, "_masks", None) if frozen else None
        args = (self.covariance_type, self._prior(), self.weight_concentration_prior_type,
                self.n_components, n_rows, self.reg_covar)
        if masks:
            return FrozenBayesianGaussianMixtureModel(*args, masks=masks)
        return BayesianGaussianMixtureModel(*args)

    # ------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None) -> BayesianGaussianMixture:
        """Estimate the variational posterior (``n_init`` starts, best bound kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Or a ``dask.array.Array`` / Dask DataFrame, fitted where it lies (each
            E-step on its partitions; see :mod:`._bgm_dask`).
        y : Ignored

        Returns
        -------
        self : BayesianGaussianMixture
        """
        if backends.is_dask(X):
            from ._bgm_dask import fit_dask

            self._validate_params()
            return fit_dask(self, X)
        self.fit_predict(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit as :meth:`fit` and return the labels of ``X`` (same as ``predict(X)``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._validate_X(X, reset=True)
        if X.shape[0] < self.n_components:
            raise ValueError("Expected n_samples >= n_components but got n_components = "
                             f"{self.n_components}, n_samples = {X.shape[0]}")
        self._check_constant_columns_width(np.ptp(X, axis=0))
        self._check_parameters(X)
        self._masks = freeze_masks(self, X.shape[1])
        model = self._make_model(len(X))
        fit_model, data = backends.for_input(model, X, chunk_size=self.chunk_size)
        random_state = check_random_state(self.random_state)
        start = self._make_model(len(X), frozen=False)
        self._fit_from_starts(fit_model, data, lambda: start.m_step(
            initial_stats(self, X, random_state)))
        return self._predict_validated(X)

    def _fit_from_starts(self, fit_model: Any, data: Any, draw: Any) -> None:
        """Run ``n_init`` starts (``draw()`` gives one's parameters) or the warm one,
        keep the best bound and set the fitted attributes."""
        do_init = not (self.warm_start and hasattr(self, "converged_"))

        def starts():
            for i in range(self.n_init if do_init else 1):
                self._print_verbose(f"Initialization {i}", level=1)
                yield draw() if do_init else self._fitted_params()

        if self.max_iter == 0:  # scikit-learn keeps the last start, bound -inf
            for init in starts():
                best = _Run(init, -math.inf, False, [])
        else:
            # best_of only needs .loglik: a _Run stands in for an EMResult
            best, _ = best_of(  # type: ignore[assignment]
                starts(), lambda init: self._run(fit_model, data, init, do_init))  # type: ignore[arg-type, return-value]
        self._set_fitted(best)
        if not self.converged_ and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different "
                          "init parameters, or increase max_iter, tol, or check for "
                          "degenerate data.", ConvergenceWarning, stacklevel=4)

    def _run(self, model: Any, data: Any, init: dict, fresh: bool) -> _Run:
        """One start: scikit-learn's iterations, the engine running all but the first.

        A fresh start's parameters come from the initial responsibilities, which
        are not the E-step of any parameters, so scikit-learn never evaluates a
        bound there and compares its first bound with ``-inf``. Its first
        iteration (one E-step and one M-step by the model) is therefore made
        here and the engine runs the rest from that point, where every bound it
        monitors is scikit-learn's. A warm start begins at the fitted
        parameters, whose bound is ``lower_bound_``, as in scikit-learn. The
        run's outcome is its last iterate (scikit-learn keeps the last one, not
        the highest bound). With ``freeze`` the start holds the frozen values and
        every iteration is the engine's: the full bound is defined at any point.
        """
        start = time.perf_counter()
        bounds: list[float] = []
        params = init
        budget = self.max_iter
        frozen = bool(getattr(self, "_masks", None))
        if frozen:
            model.start_from(init)
        if fresh and not frozen:
            stats, _ = model.e_step(data, init)
            params = model.m_step(stats)
            bounds.append(self._make_model(1).lower_bound(params))
            self._print_iteration(1, math.inf)
            budget -= 1
        bound = bounds[-1] if bounds else float(getattr(self, "lower_bound_", -math.inf))
        converged = False
        if budget > 0:
            last: dict[str, Any] = {}

            def callback(step: Any) -> None:
                bounds.append(float(step.loglik))
                last["params"] = step.params
                self._print_iteration(len(bounds), step.gain)

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                result = em(model, data, params, tol=self.tol, max_iter=budget,
                            callback=callback)
            converged = result.converged
            params, bound = last["params"], bounds[-1]
        status = "converged" if converged else "did not converge"
        self._print_verbose(f"Initialization {status}.", level=1, extra=(
            f" time lapse {time.perf_counter() - start:.5f}s\t lower bound "
            f"{bound:.5f}."))
        return _Run(params, bound, converged, bounds)

    def _print_iteration(self, n_iter: int, change: float) -> None:
        if not self.verbose or n_iter % self.verbose_interval != 0:
            return
        if self.verbose >= 2:
            print(f"  Iteration {n_iter}\t ll change {change:.5f}")
        else:
            print(f"  Iteration {n_iter}")

    def _print_verbose(self, message: str, level: int, extra: str = "") -> None:
        if self.verbose >= 2:
            print(message + extra)
        elif self.verbose >= level:
            print(message)

    # ------------------------------------------------------------ attributes
    def _set_params_attributes(self, params: dict) -> None:
        conc = np.asarray(params["concentration"], dtype=np.float64)
        if self.weight_concentration_prior_type == "dirichlet_process":
            self.weight_concentration_: Any = (conc[0].copy(), conc[1].copy())
        else:
            self.weight_concentration_ = conc.copy()
        self.weights_ = mixture_weights(conc, self.weight_concentration_prior_type)
        self.mean_precision_ = np.asarray(params["mean_precision"], dtype=np.float64)
        self.means_ = np.asarray(params["means"], dtype=np.float64)
        dof = np.asarray(params["degrees_of_freedom"], dtype=np.float64)
        self.degrees_of_freedom_: Any = float(dof) if self.covariance_type == "tied" else dof
        cov = np.asarray(params["covariances"], dtype=np.float64)
        self.covariances_: Any = float(cov) if cov.ndim == 0 else cov
        prec_chol = precision_cholesky(cov, self.covariance_type)
        self.precisions_cholesky_ = prec_chol
        if self.covariance_type == "full":
            self.precisions_ = np.matmul(prec_chol, prec_chol.transpose(0, 2, 1))
        elif self.covariance_type == "tied":
            self.precisions_ = prec_chol @ prec_chol.T
        else:
            self.precisions_ = prec_chol**2

    def _set_fitted(self, run: _Run) -> None:
        self._set_params_attributes(run.params)
        self.converged_ = run.converged
        self.n_iter_ = run.n_iter
        self.lower_bound_ = run.loglik
        self.lower_bounds_ = list(run.bounds)

    def _fitted_params(self) -> dict:
        """The model's parameters from the fitted attributes, ``entropy`` recovered
        from ``lower_bound_`` (the bound is the entropy plus a function of them)."""
        conc = self.weight_concentration_
        params = {
            "concentration": np.array(conc, dtype=np.float64),
            "mean_precision": np.asarray(self.mean_precision_, dtype=np.float64),
            "means": np.asarray(self.means_, dtype=np.float64),
            "degrees_of_freedom": np.asarray(self.degrees_of_freedom_, dtype=np.float64),
            "covariances": np.asarray(self.covariances_, dtype=np.float64),
            "entropy": np.asarray(0.0),
        }
        bound = float(getattr(self, "lower_bound_", -math.inf))
        if math.isfinite(bound):
            model = self._make_model(1, frozen=False)
            params["entropy"] = np.asarray(bound - model.lower_bound(params))
        return params

    def _initialize_parameters(self, X: np.ndarray, random_state: Any) -> None:
        """Set the initial parameters of one start as fitted attributes (scikit-learn's
        private ``_initialize_parameters``; call :meth:`_check_parameters` first)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        model = self._make_model(len(X), frozen=False)
        self._set_params_attributes(model.m_step(initial_stats(self, X, random_state)))
