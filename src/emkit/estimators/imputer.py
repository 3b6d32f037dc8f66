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
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import backends
from ..engine import MONOTONE_RTOL, Step, em
from ..exceptions import ConvergenceWarning
from ..gaussian.missing_information import normal_observed_information
from ..gaussian.reference import COVARIANCE_TYPES
from ..models.mixture.gaussian import gaussian_mixture_m_step
from ..models.mixture.gaussian_missing import MissingGaussianMixtureModel, find_patterns
from ..persistence import Persistable
from ..validation import check_magnitude

__all__ = ["EMImputer"]


def _summed_information(data: Any, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Observed information of the normal, summed over Dask partitions when ``data`` is Dask."""
    if not backends.is_dask(data):
        return normal_observed_information(data, mean, covariance)
    import dask

    blocks = data.to_delayed().ravel()
    parts = [dask.delayed(normal_observed_information)(b, mean, covariance) for b in blocks]
    return np.sum(dask.compute(*parts), axis=0)


class EMImputer(Persistable, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
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
    reg_covar : float, default 1e-6
        Added to the covariance diagonals in every M-step. EM runs on
        standardized columns (centred on the observed means, divided by the
        observed standard deviations; one common scale for ``"spherical"``), so
        this is relative to each column's variance and the fit does not depend
        on the data's units. 0 gives the exact MLE but needs more rows than
        columns and no constant column.
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
        :func:`~emkit.gaussian.missing_information.normal_observed_information`).
        None for mixtures.
    n_iter_ : int
        EM iterations made.
    converged_ : bool
        Whether the tolerance was met before ``max_iter``.
    loglik_ : float
        Observed-data log-likelihood (total over rows) at the fitted parameters.
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
                 max_iter: int = 1000, tol: float = 1e-10, reg_covar: float = 1e-6,
                 sample_posterior: bool = False, random_state: Any = None,
                 accelerate: str | None = None, verbose: int = 0):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.sample_posterior = sample_posterior
        self.random_state = random_state
        self.accelerate = accelerate
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        def bad(name: str, what: str) -> ValueError:
            return ValueError(f"{name} must be {what}, got {getattr(self, name)!r}")

        if not isinstance(self.n_components, Integral) or self.n_components < 1:
            raise bad("n_components", "an integer >= 1")
        if self.covariance_type not in COVARIANCE_TYPES:
            raise bad("covariance_type", f"one of {COVARIANCE_TYPES}")
        if not isinstance(self.max_iter, Integral) or self.max_iter < 1:
            raise bad("max_iter", "an integer >= 1")
        if not isinstance(self.tol, Real) or not self.tol >= 0:
            raise bad("tol", "a number >= 0")
        if not isinstance(self.reg_covar, Real) or not self.reg_covar >= 0:
            raise bad("reg_covar", "a number >= 0")
        if self.accelerate not in (None, "squarem"):
            raise bad("accelerate", "None or 'squarem'")

    def _validate_X(self, X: Any, reset: bool) -> np.ndarray:
        try:
            X = validate_data(self, X, reset=reset, dtype=np.float64,
                              ensure_all_finite="allow-nan", ensure_min_samples=1)
        except ValueError as exc:
            if "infinity" in str(exc):
                raise ValueError(
                    "X contains infinite values; mark missing entries with NaN"
                ) from exc
            if "convert" in str(exc) or "dtype" in str(exc):
                raise ValueError(f"EMImputer needs numeric data: {exc}") from exc
            raise
        if np.isinf(X).any():
            raise ValueError("X contains infinite values; mark missing entries with NaN")
        empty_rows = np.flatnonzero(np.isnan(X).all(axis=1))
        if empty_rows.size:
            raise ValueError(
                f"{empty_rows.size} row(s) have every entry missing (first: row "
                f"{empty_rows[0]}); there is nothing to condition on: drop them"
            )
        return X

    @staticmethod
    def _check_spread(X: np.ndarray, spread: np.ndarray) -> None:
        """Refuse data whose column spreads overflow (their squares did).

        EM itself runs on standardized columns, so only the covariance in the
        data's units needs the squares: data at 1e150 fit, data whose squares
        overflow get :func:`~emkit.validation.check_magnitude`'s error.
        """
        if not np.all(np.isfinite(spread)):  # overflow, or a column with no value
            check_magnitude(X)

    def _column_name(self, j: int) -> str:
        names = getattr(self, "feature_names_in_", None)
        return f"column {j} ({names[j]!r})" if names is not None else f"column {j}"

    def _check_fit_data(self, X: np.ndarray, *, n_rows: int | None = None,
                        n_observed: np.ndarray | None = None,
                        spread: np.ndarray | None = None) -> None:
        """Refuse data the model cannot be fitted to (summaries may be precomputed)."""
        n = X.shape[0] if n_rows is None else n_rows
        d = X.shape[1]
        if n < self.n_components + 1:
            raise ValueError(
                f"EMImputer with n_components={self.n_components} needs at least "
                f"{self.n_components + 1} rows (n_samples = {n} given)"
            )
        observed = (~np.isnan(X)).sum(axis=0) if n_observed is None else n_observed
        for j in np.flatnonzero(observed == 0):
            raise ValueError(f"{self._column_name(j)} is entirely missing; drop it")
        for j in np.flatnonzero(observed < 2):
            raise ValueError(
                f"{self._column_name(j)} has only one observed value; its variance "
                "cannot be estimated"
            )
        if self.reg_covar == 0:
            if n <= d:
                raise ValueError(
                    f"with reg_covar=0 the covariance of {d} columns needs more than {d} "
                    f"rows, got {n}; set reg_covar > 0"
                )
            spread = np.nanstd(X, axis=0) if spread is None else spread
            for j in np.flatnonzero(spread == 0):
                raise ValueError(
                    f"{self._column_name(j)} is constant; with reg_covar=0 its variance "
                    "is zero: set reg_covar > 0 or drop it"
                )

    # ------------------------------------------------------------------ fitting
    def _initial_params(self, X: np.ndarray) -> dict:
        """First guess: the teacher's, each missing entry filled with its column's mean.

        The class statistics of the filled table give the starting means (the
        observed column means) and covariance; where that covariance is singular
        (few rows), the observed variances with no correlation are used, as R's
        ``norm`` does.
        """
        col_mean = np.nanmean(X, axis=0)
        d = X.shape[1]
        if self.n_components == 1:
            filled = np.where(np.isnan(X), col_mean, X)
            cov = np.cov(filled, rowvar=False, bias=True).reshape(d, d)
            cov.flat[:: d + 1] += self.reg_covar
            if np.linalg.eigvalsh(cov)[0] <= 1e-12 * np.abs(cov).max():
                cov = np.diag(np.nanvar(X, axis=0) + self.reg_covar)
            if self.covariance_type == "full":
                cov = cov[None]
            elif self.covariance_type == "diag":
                cov = np.diag(cov)[None]
            elif self.covariance_type == "spherical":
                cov = np.array([np.diag(cov).mean()])
            return {"weights": np.ones(1), "means": col_mean[None], "covariances": cov}
        from sklearn.cluster import KMeans

        filled = np.where(np.isnan(X), col_mean, X)
        labels = KMeans(self.n_components, n_init=1,
                        random_state=check_random_state(self.random_state)).fit_predict(filled)
        resp = np.eye(self.n_components)[labels]
        n = resp.sum(axis=0)
        means = resp.T @ filled / n[:, None]
        outer = np.stack([(filled - means[k]).T @ ((filled - means[k]) * resp[:, k, None])
                          for k in range(self.n_components)])
        if self.covariance_type in ("diag", "spherical"):
            outer = np.diagonal(outer, axis1=1, axis2=2)
        stats = {"n": n, "sum": resp.T @ filled, "centred_sum": np.zeros((len(n), d)),
                 "centred_outer": outer}
        return gaussian_mixture_m_step(stats, self.covariance_type, self.reg_covar)

    def fit(self, X: Any, y: Any = None) -> EMImputer:
        """Fit the normal (or mixture) to ``X`` by EM, using every observed entry.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric data, NaN where missing (missing at random).
        y : ignored

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
            return self._fit_dask(X)
        X = self._validate_X(X, reset=True)
        with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # empty columns: checked below
            center = np.nanmean(X, axis=0)
            spread = np.nanstd(X, axis=0)
        self._check_spread(X, spread)
        self._check_fit_data(X, spread=spread)
        # EM runs on standardized columns, so that reg_covar is relative to each
        # column's spread and nothing overflows at extreme scales; the results
        # are mapped back exactly (an affine change of variables).
        scale = self._column_scale(spread)
        data = find_patterns((X - center) / scale)
        init = self._initial_params((X - center) / scale)
        n_observed = (~np.isnan(X)).sum(axis=0)
        return self._run_em(data, data, init, center, scale, n_observed, len(X))

    def _fit_dask(self, X: Any) -> EMImputer:
        """:meth:`fit` on a Dask array or DataFrame: E-steps run on its partitions.

        The column summaries are computed in one pass, the first guess on a
        sample of rows, and the standard errors from information matrices summed
        over the partitions (the observed information adds up over rows).
        """
        import dask
        import dask.array as da

        X = backends.numeric_dask_matrix(self, X, np.float64)
        observed = ~da.isnan(X)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # empty columns and overflowing squares are refused below
            n_observed, n_inf, n_empty, center, spread, largest = dask.compute(
                observed.sum(axis=0), da.isinf(X).sum(), (~observed).all(axis=1).sum(),
                da.nanmean(X, axis=0), da.nanstd(X, axis=0),
                da.nanmax(da.where(observed, abs(X), 0.0)))
        if n_inf:
            raise ValueError("X contains infinite values; mark missing entries with NaN")
        self._check_spread(np.array([largest], dtype=float), spread)
        if n_empty:
            raise ValueError(f"{n_empty} row(s) have every entry missing; there is nothing "
                             "to condition on: drop them")
        n, d = int(X.shape[0]), int(X.shape[1])
        self.n_features_in_ = d
        sample = backends.initialization_rows(X, self.random_state)
        self._check_fit_data(sample, n_rows=n, n_observed=n_observed, spread=spread)
        scale = self._column_scale(spread)
        init = self._initial_params((sample - center) / scale)
        Z = (X - center) / scale
        return self._run_em(Z, Z, init, center, scale, n_observed, n)

    def _run_em(self, data: Any, info_data: Any, init: dict, center: np.ndarray,
                scale: np.ndarray, n_observed: np.ndarray, n_rows: int) -> EMImputer:
        # log-likelihood of X = that of the standardized data - log-Jacobian
        log_jacobian = float(n_observed @ np.log(scale))
        # EM tracks the log-likelihood minus the reg_covar penalty, the objective
        # the regularized M-step increases: where reg_covar dominates a covariance
        # (no more rows than columns, a collapsing component) the plain
        # log-likelihood may fall while EM is working correctly.
        em_model = MissingGaussianMixtureModel(self.covariance_type, self.reg_covar,
                                               penalized=True)
        if self.n_components == 1 or self.covariance_type == "tied":
            em_model.monotone_rtol = MONOTONE_RTOL  # an exact generalized EM
        model, data = backends.for_input(em_model, data)
        history: list[tuple[int, np.ndarray, float]] = []

        def class_mean(params: dict) -> np.ndarray:
            return center + scale * (np.asarray(params["weights"]) @ np.asarray(params["means"]))

        def loglik(objective: float, params: dict) -> float:
            """Observed-data log-likelihood of X from the tracked objective."""
            return objective + em_model.penalty(params, n_rows) - log_jacobian

        def record(step: Step) -> None:
            history.append((step.iteration, class_mean(step.params),
                            loglik(step.loglik, step.params)))
            if self.verbose:
                print(f"EMImputer iteration {step.iteration}: loglik "
                      f"{history[-1][2]:.6f}, gain {step.gain:.3e}")

        result = em(model, data, init, tol=float(self.tol) * n_rows,
                    max_iter=int(self.max_iter), accelerate=self.accelerate, callback=record)
        self._set_fitted(result.params, info_data, center, scale, n_observed)
        self.n_iter_ = int(result.n_iter)
        self.converged_ = bool(result.converged)
        self.loglik_ = loglik(float(result.loglik), result.params)
        means = np.vstack([class_mean(init)] + [h[1] for h in history])
        change = np.r_[np.nan, np.abs(np.diff(means, axis=0)).max(axis=1)]
        self.history_ = {
            "iteration": np.arange(len(means)),
            "means": means,
            "change": change,
            "loglik": np.r_[loglik(float(result.logliks[0]), init), [h[2] for h in history]],
        }
        return self

    def _column_scale(self, spread: np.ndarray) -> np.ndarray:
        """Positive per-column scales; one common scale for spherical covariances."""
        spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
        if self.covariance_type == "spherical":  # keep the model spherical
            spread = np.full_like(spread, np.exp(np.log(spread).mean()))
        return spread

    def _set_fitted(self, params: dict, data: Any, center: np.ndarray,
                    scale: np.ndarray, n_observed: np.ndarray) -> None:
        """Map standardized parameters back to the data's units and store them."""
        for name in ("mean_", "covariance_", "weights_", "means_", "covariances_"):
            self.__dict__.pop(name, None)
        outer_scale = np.outer(scale, scale)
        cov = np.asarray(params["covariances"])
        if self.n_components > 1:
            self.weights_ = params["weights"]
            self.means_ = center + scale * params["means"]
            if self.covariance_type in ("full", "tied"):
                self.covariances_ = cov * outer_scale
            elif self.covariance_type == "diag":
                self.covariances_ = cov * scale**2
            else:
                self.covariances_ = cov * scale[0] ** 2
            self.standard_errors_ = None
            return
        d = len(scale)
        mean_z = params["means"][0]
        if self.covariance_type in ("full", "tied"):
            cov_z = cov.reshape(d, d)
        elif self.covariance_type == "diag":
            cov_z = np.diag(cov.reshape(d))
        else:
            cov_z = np.eye(d) * float(cov.reshape(-1)[0])
        self.mean_ = center + scale * mean_z
        self.covariance_ = cov_z * outer_scale
        if self.covariance_type in ("full", "tied"):
            info = _summed_information(data, mean_z, cov_z)
            var_z = self._mean_variances(info, d)
        else:  # independent columns: each mean is the mean of its observed values
            var_z = np.diag(cov_z) / n_observed
        self.standard_errors_ = scale * np.sqrt(var_z)

    @staticmethod
    def _mean_variances(info: np.ndarray, d: int) -> np.ndarray:
        """Variances of the mean from the observed information; NaN where undefined.

        The information is positive definite at a maximum of the likelihood. Where
        EM stopped short of one (``max_iter`` reached, a likelihood so flat that
        the tolerance is met early), it need not be, and the inverse may give a
        non-positive (or no) variance for a mean: NaN with a
        :class:`~emkit.ConvergenceWarning` is returned there rather than the square
        root of a negative number.
        """
        try:
            var = np.diag(np.linalg.inv(info))[:d].copy()
        except np.linalg.LinAlgError:
            var = np.full(d, np.nan)
        if not np.all(var > 0):
            var[~(var > 0)] = np.nan
            warnings.warn(
                "the observed information is not positive definite at the fitted "
                "parameters (EM stopped before the maximum of the likelihood, or the "
                "maximum is on the boundary): standard_errors_ are NaN where undefined; "
                "raise max_iter or lower tol",
                ConvergenceWarning,
                stacklevel=4,
            )
        return var

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
        model = MissingGaussianMixtureModel(ctype, self.reg_covar)
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

    def _standardized_params(self) -> tuple[np.ndarray, np.ndarray, dict]:
        """The fitted parameters in standardized units (centre and scale from themselves)."""
        if self.n_components == 1:
            center, cov = self.mean_, self.covariance_
            scale = self._column_scale(np.sqrt(np.diag(cov)))
            return center, scale, {"weights": np.ones(1), "means": np.zeros((1, len(center))),
                                   "covariances": (cov / np.outer(scale, scale))[None]}
        w, means, cov = self.weights_, self.means_, np.asarray(self.covariances_)
        center = w @ means
        d = means.shape[1]
        if self.covariance_type in ("full", "tied"):
            var = np.diagonal(cov, axis1=-2, axis2=-1)
        elif self.covariance_type == "diag":
            var = cov
        else:
            var = np.repeat(cov[:, None], d, axis=1)
        var = np.broadcast_to(var, means.shape)
        scale = self._column_scale(np.sqrt(w @ (var + (means - center) ** 2)))
        if self.covariance_type in ("full", "tied"):
            cov_z = cov / np.outer(scale, scale)
        elif self.covariance_type == "diag":
            cov_z = cov / scale**2
        else:
            cov_z = cov / scale[0] ** 2
        return center, scale, {"weights": w, "means": (means - center) / scale,
                               "covariances": cov_z}

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
