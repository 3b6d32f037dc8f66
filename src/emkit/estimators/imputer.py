"""``EMImputer``: fill missing values by EM under a multivariate normal (or a mixture).

The teacher's loop, done properly: start from the column means, then alternate
filling each missing entry with its conditional expectation given the row's
observed entries (E-step, with the conditional covariance kept in the second
moments) and re-estimating the class means and covariance (M-step) until the
observed-data log-likelihood stops changing. With one component this is the EM
algorithm of Little & Rubin (2002, ch. 11) and of R's ``norm`` package; with
several it is the Gaussian-mixture EM of Ghahramani & Jordan (1994). All the math
lives in :mod:`emkit.models.mixture.gaussian_missing`; this class validates,
calls :func:`emkit.em` and copies the results.

This module holds the estimator's interface (constructor, ``fit``, ``transform``
and the persistence state); the rest is in mixins next to it, one job each:
input validation (:mod:`._imputer_checks`), the EM loop and ``history_``
(:mod:`._imputer_fit`) and the change of units between the data and the
standardized columns EM runs on (:mod:`._imputer_units`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .. import backends
from ..models.mixture.gaussian_missing import MissingGaussianMixtureModel, find_patterns
from ..persistence import Persistable
from ..validation import check_magnitude
from ._imputer_checks import ImputerChecks
from ._imputer_fit import ImputerFit, weighted_nan_moments
from ._imputer_freeze import ImputerFreeze
from ._imputer_units import ImputerUnits
from ._mixture_inputs import check_sample_weight
from ._supervision import check_labels, check_priors, log_evidence

__all__ = ["EMImputer"]


class EMImputer(ImputerChecks, ImputerFit, ImputerFreeze, ImputerUnits, Persistable,
                OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Impute missing values with their conditional expectations under a fitted normal.

    Parameters
    ----------
    n_components : int, default 1
        1 fits one multivariate normal (R's ``norm``); more fits a Gaussian
        mixture (initialized by k-means on the mean-filled data) and imputes
        with the mixture's conditional expectation.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        Covariance structure, as in :class:`sklearn.mixture.GaussianMixture`.
        Only ``"full"`` (or ``"tied"``) lets columns inform each other.
    max_iter : int, default 1000
        Most EM iterations.
    tol : float, default 1e-10
        Convergence tolerance on the change of the **mean per-row**
        observed-data log-likelihood made by one EM step (the engine receives
        ``tol * n_samples``, see :mod:`emkit.engine`).
    reg_covar : float or None, default None
        Added to the covariance diagonals in every M-step. EM runs on
        standardized columns (centred on the observed means, divided by the
        observed standard deviations; one common scale for ``"spherical"``), so
        this is relative to each column's variance and the fit does not depend
        on the data's units. None (the default) fits the exact maximum-likelihood
        estimate where it exists, and falls back to ``1e-6`` with a
        :class:`~emkit.exceptions.RegularizationWarning` where the covariance is
        singular (no more rows than columns, a constant column, collinear
        columns, a component collapsing onto too few rows). A number is used as
        given, with no warning; ``0`` refuses data whose covariance must be
        singular.
    sample_posterior : bool, default False
        If True, ``transform`` draws each row's missing entries from their
        conditional distribution (for multiple imputation) instead of using the
        conditional mean.
    random_state : int, RandomState, Generator or None, default None
        Seeds the k-means initialization (``n_components > 1``) and the draws of
        ``sample_posterior``. With an integer every ``transform`` call draws the
        same values; use different seeds for several imputations.
    accelerate : {None, "squarem"}, default None
        SQUAREM acceleration of the EM iterations.
    verbose : int, default 0
        If positive, print one line per iteration.
    weights_init : array-like of shape (n_components,), default None
        Starting mixture weights (``n_components > 1``); None: from the k-means start.
    means_init : array-like of shape (n_components, n_features), default None
        Starting means, in the data's units ((n_features,) for one component);
        None: the observed column means (the k-means centres for a mixture).
    covariances_init : array-like, default None
        Starting covariances in the data's units, shaped as the fitted
        ``covariance_`` (one component: (n_features, n_features), diagonal for
        "diag", a multiple of the identity for "spherical") or ``covariances_``;
        None: those of the mean-filled table.
    freeze : dict or None, default None
        Parameters kept at their start (``*_init``, else the drawn start):
        ``{"mean_": True | mask (n_features,), "covariance_": True}`` for one
        component, ``{"weights_": ..., "means_": ..., "covariances_": ...}`` with
        ``True`` or a boolean mask of the attribute's shape for a mixture (as
        :class:`~emkit.GaussianMixture` takes them: whole matrices for "full" and
        "tied"). The free entries get the exact constrained M-step on the
        missing data's expected statistics (free means: the Gaussian conditional
        given the frozen ones; free weights share the free mass; a frozen
        covariance stays as given; see
        :mod:`emkit.models.mixture.constrained_m_step`). With a freeze,
        ``standard_errors_`` come from the information of the free parameters
        (0 for a frozen mean) and EM monitors the plain log-likelihood.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Fitted mean (``n_components == 1``).
    covariance_ : ndarray of shape (n_features, n_features)
        Fitted covariance (``n_components == 1``; a full matrix for every type).
    weights_, means_, covariances_ : ndarray
        Mixture parameters in scikit-learn's shapes (``n_components > 1``).
    standard_errors_ : ndarray of shape (n_features,) or None
        Standard errors of ``mean_`` from the observed information (the exact
        Hessian of the observed-data log-likelihood; see
        :func:`~emkit.models.mixture.missing_information.normal_observed_information`).
        None for mixtures.
    n_iter_ : int
        EM iterations made.
    converged_ : bool
        Whether the tolerance was met before ``max_iter``.
    loglik_ : float
        Observed-data log-likelihood (total over rows) at the fitted parameters.
    reg_covar_ : float
        The ``reg_covar`` the fit used (0 or ``1e-6`` for the default None).
    history_ : dict of ndarray
        The teacher's loop: ``iteration`` (T+1,), ``means`` (T+1, n_features)
        the class means (the mixture's overall mean for ``n_components > 1``)
        after each iteration, row 0 being the first guess (the observed column
        means), ``change`` (T+1,) the largest absolute change of a class mean
        in that iteration (NaN for row 0), and ``loglik`` (T+1,).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Set when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import EMImputer
    >>> X = np.array([[1.0, 2.0], [2.0, np.nan], [3.0, 6.1], [4.0, 8.0]])
    >>> EMImputer().fit_transform(X)[1, 1].round(2)
    np.float64(4.03)
    """

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 max_iter: int = 1000, tol: float = 1e-10, reg_covar: float | None = None,
                 sample_posterior: bool = False, random_state: Any = None,
                 accelerate: str | None = None, verbose: int = 0, weights_init: Any = None,
                 means_init: Any = None, covariances_init: Any = None,
                 freeze: dict | None = None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.sample_posterior = sample_posterior
        self.random_state = random_state
        self.accelerate = accelerate
        self.verbose = verbose
        self.weights_init = weights_init
        self.means_init = means_init
        self.covariances_init = covariances_init
        self.freeze = freeze

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None, *, labels: Any = None, priors: Any = None,
            sample_weight: Any = None) -> EMImputer:
        """Fit the normal (or mixture) to ``X`` by EM, using every observed entry.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric data, NaN where missing (missing at random).
        y : ignored
        labels : array-like of int of shape (n_samples,), optional
            Known mixture components: -1 unknown, ``0 .. n_components - 1`` known
            (those rows keep one-hot responsibilities; the k-means start agrees
            with them).
        priors : array-like of shape (n_samples, n_components), optional
            Soft evidence multiplying each row's posterior (a row of ones is none).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights (an integer weight equals repeating the row),
            in the column summaries, the start and every E-step. With Dask ``X``,
            ``labels``, ``priors`` and ``sample_weight`` may be NumPy or Dask and
            travel to the partitions with their rows.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For non-numeric data, infinite values, a column or a row that is
            entirely missing, a column with a single observed value, or too few
            rows for the model.
        """
        self._check_params()
        if backends.is_dask(X):
            return self._fit_dask(X, sample_weight, labels, priors)
        X = self._validate_X(X, reset=True)
        weights = check_sample_weight(sample_weight, len(X))
        k = int(self.n_components)
        evidence = log_evidence(check_labels(labels, len(X), k, name="labels"),
                                check_priors(priors, len(X), k), k)
        with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # empty columns: checked below
            center, spread = weighted_nan_moments(X, weights)
        self._check_spread(X, spread)
        self._check_fit_data(X, spread=spread)
        self._masks = self._freeze_masks(X.shape[1])
        self.reg_covar_ = self._regularization(len(X), spread)
        # EM runs on standardized columns, so that reg_covar is relative to each
        # column's spread and nothing overflows at extreme scales; the results
        # are mapped back exactly (an affine change of variables).
        scale = self._column_scale(spread)
        Z = (X - center) / scale
        data = find_patterns(Z, weights)
        observed = ~np.isnan(X)
        n_observed = observed.sum(axis=0) if weights is None else weights @ observed
        total = len(X) if weights is None else float(weights.sum())
        em_data = data if evidence is None else (data, None, evidence)
        self._user_start({}, center, scale)  # check *_init before EM (its errors refit)
        return self._fit_regularized(lambda: self._run_em(
            em_data, data, self._user_start(self._initial_params(Z, weights, evidence),
                                            center, scale), center, scale,
            n_observed, total))

    # ------------------------------------------------------------------ transforming
    def transform(self, X: Any) -> np.ndarray:
        """Fill the missing entries of ``X``; observed entries are returned unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN where missing; every row needs an observed entry.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            Conditional expectations ``E[x_m | x_o]`` in the missing entries (or
            draws from ``p(x_m | x_o)`` with ``sample_posterior=True``).
        """
        check_is_fitted(self, "n_iter_")
        if backends.is_dask(X):
            if hasattr(X, "columns"):
                X = X.to_dask_array(lengths=True)
            return backends.map_rows(self._fill, X.astype(np.float64),
                                     n_columns=self.n_features_in_)
        return self._fill(self._validate_X(X, reset=False))

    def _fill(self, X: np.ndarray) -> np.ndarray:
        """:meth:`transform` of a validated float array."""
        if np.isinf(X).any() or np.isnan(X).all(axis=1).any():
            raise ValueError("X has infinite values or rows with every entry missing")
        if not np.isnan(X).any():
            return X.copy()
        # the fitted K=1 covariance is always stored as a full matrix
        ctype = "full" if self.n_components == 1 else self.covariance_type
        model = MissingGaussianMixtureModel(ctype)  # reg_covar plays no part in filling
        center, scale, params = self._standardized_params()
        with np.errstate(over="ignore"):
            Z = (X - center) / scale
        check_magnitude(Z, "X (in units of the fitted spread)")
        if self.sample_posterior:
            Z = model.sample_conditional(Z, params, self.random_state)
        else:
            Z = model.conditional_expectation(Z, params)
        out = X.copy()
        missing = np.isnan(X)
        out[missing] = (center + scale * Z)[missing]
        return out

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        if "feature_names_in_" in state:
            state["feature_names_in_"] = [str(s) for s in state["feature_names_in_"]]
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if "feature_names_in_" in state:
            state["feature_names_in_"] = np.asarray(state["feature_names_in_"], dtype=object)
        super()._set_state(state)
