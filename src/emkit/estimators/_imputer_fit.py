"""The EM fit loop of :class:`~emkit.estimators.imputer.EMImputer`.

This module's one job is to run EM on standardized columns and record what it
did: the first guess (the column means, and k-means on the mean-filled table
for a mixture), the Dask path that computes the column summaries in one pass
and runs the E-steps on the partitions, and the run itself, whose callback keeps
the teacher's ``history_`` (class means, largest change, log-likelihood of the
data in its own units) before the fitted parameters are mapped back. They are
methods of a mixin because ``EMImputer.fit`` calls them on the estimator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils import check_random_state

from .. import backends
from ..engine import MONOTONE_RTOL, Step, em
from ..models.mixture.constrained_m_step import FrozenGaussianMixtureModel
from ..models.mixture.gaussian import gaussian_mixture_m_step
from ..models.mixture.gaussian_missing import MissingGaussianMixtureModel
from ._imputer_checks import FALLBACK_REG_COVAR, warn_regularized
from ._mixture_inputs import dask_evidence, dask_with_weights
from ._supervision import align_clusters, supervised_responsibilities

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ImputerFit", "SINGULAR_EIGENVALUE", "weighted_nan_moments"]

#: The default's unregularized EM gives up, and refits with
#: :data:`~._imputer_checks.FALLBACK_REG_COVAR`, once a covariance eigenvalue
#: falls below this fraction of the columns' variances (EM runs on standardized
#: columns): the likelihood then has no maximum and grows towards a singular
#: covariance. Measured on 4 rows, 3 columns and one missing entry: the smallest
#: eigenvalue falls tenfold every ~40 iterations, passes 1e-10 at iteration 400,
#: and at 1e-16 (iteration 700) the arithmetic breaks down. An estimate with an
#: eigenvalue this small is singular to ten digits anyway.
SINGULAR_EIGENVALUE = 1e-10


def weighted_nan_moments(X: np.ndarray, sample_weight: np.ndarray | None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and standard deviation over its observed entries (NaN for a
    column with none), weighted by ``sample_weight`` when given."""
    if sample_weight is None:
        return np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    observed = ~np.isnan(X)
    w = sample_weight[:, None] * observed
    total = w.sum(axis=0)
    mean = np.where(observed, X, 0.0).T @ sample_weight / total
    var = (w * np.where(observed, X - mean, 0.0) ** 2).sum(axis=0) / total
    return mean, np.sqrt(var)


class _SingularFit(ValueError):
    """The unregularized fit is heading for a singular covariance."""


def _smallest_eigenvalue(params: dict, covariance_type: str) -> float:
    """Smallest eigenvalue of any component's covariance (standardized units)."""
    cov = np.asarray(params["covariances"], dtype=float)
    if covariance_type in ("diag", "spherical"):
        return float(cov.min())
    return float(np.linalg.eigvalsh(cov.reshape(-1, *cov.shape[-2:])).min())


class ImputerFit:
    """Initialization and EM-running methods of ``EMImputer``.

    Reads the estimator's parameters and calls its checks
    (:class:`~emkit.estimators._imputer_checks.ImputerChecks`) and unit
    conversions (:class:`~emkit.estimators._imputer_units.ImputerUnits`).
    """

    n_components: int
    covariance_type: str
    max_iter: int
    tol: float
    reg_covar: float | None
    reg_covar_: float
    random_state: Any
    accelerate: str | None
    verbose: int

    if TYPE_CHECKING:  # from ImputerChecks and ImputerUnits
        @staticmethod
        def _check_spread(X: np.ndarray, spread: np.ndarray) -> None: ...

        def _check_fit_data(self, X: np.ndarray, *, n_rows: int | None = None,
                            n_observed: np.ndarray | None = None,
                            spread: np.ndarray | None = None) -> None: ...

        def _column_scale(self, spread: np.ndarray) -> np.ndarray: ...

        def _regularization(self, n_rows: int, spread: np.ndarray) -> float: ...

        def _set_fitted(self, params: dict, data: Any, center: np.ndarray,
                        scale: np.ndarray, n_observed: np.ndarray) -> None: ...

        def _freeze_masks(self, d: int) -> dict[str, np.ndarray]: ...

        def _user_start(self, init: dict, center: np.ndarray, scale: np.ndarray) -> dict: ...

        def _restore_frozen(self) -> None: ...

    def _initial_params(self, X: np.ndarray, sample_weight: np.ndarray | None = None,
                        evidence: np.ndarray | None = None) -> dict:
        """First guess: the teacher's, each missing entry filled with its column's mean.

        The class statistics of the filled table give the starting means (the
        observed column means) and covariance; where that covariance is singular
        (few rows), the observed variances with no correlation are used, as R's
        ``norm`` does. ``sample_weight`` weights every summary (and k-means);
        ``evidence`` (n, K) renames the k-means clusters to agree with known
        labels or priors and multiplies the start's responsibilities by it.
        """
        col_mean, col_sd = weighted_nan_moments(X, sample_weight)
        d = X.shape[1]
        w = np.ones(len(X)) if sample_weight is None else sample_weight
        if self.n_components == 1:
            filled = np.where(np.isnan(X), col_mean, X)
            cov = np.cov(filled, rowvar=False, bias=True, aweights=w).reshape(d, d)
            cov.flat[:: d + 1] += self.reg_covar_
            if np.linalg.eigvalsh(cov)[0] <= 1e-12 * np.abs(cov).max():
                var = np.nanvar(X, axis=0) if sample_weight is None else col_sd**2
                cov = np.diag(var + self.reg_covar_)
            if self.covariance_type == "full":
                cov = cov[None]
            elif self.covariance_type == "diag":
                cov = np.diag(cov)[None]
            elif self.covariance_type == "spherical":
                cov = np.array([np.diag(cov).mean()])
            return {"weights": np.ones(1), "means": col_mean[None], "covariances": cov}
        from sklearn.cluster import KMeans

        filled = np.where(np.isnan(X), col_mean, X)
        k = self.n_components
        labels = KMeans(k, n_init=1, random_state=check_random_state(self.random_state)
                        ).fit_predict(filled, sample_weight=sample_weight)
        if evidence is not None:
            labels = align_clusters(labels, evidence, k)
        resp = supervised_responsibilities(np.eye(k)[labels], evidence) * w[:, None]
        n = resp.sum(axis=0)
        means = resp.T @ filled / n[:, None]
        outer = np.stack([(filled - means[k]).T @ ((filled - means[k]) * resp[:, k, None])
                          for k in range(self.n_components)])
        if self.covariance_type in ("diag", "spherical"):
            outer = np.diagonal(outer, axis1=1, axis2=2)
        stats = {"n": n, "sum": resp.T @ filled, "centred_sum": np.zeros((len(n), d)),
                 "centred_outer": outer}
        return gaussian_mixture_m_step(stats, self.covariance_type, self.reg_covar_)

    def _fit_regularized(self, fit_once: Callable[[], Self]) -> Self:
        """Run ``fit_once`` with ``reg_covar_``; if the default's 0 meets a singular
        covariance in EM (collinear columns, a collapsing component), warn and
        run it again with :data:`~._imputer_checks.FALLBACK_REG_COVAR`.

        The inputs were checked before, so a ``ValueError`` (or ``LinAlgError``)
        out of EM is a numerical failure of the unregularized fit; the run also
        stops once a covariance eigenvalue passes :data:`SINGULAR_EIGENVALUE`.
        """
        try:
            return fit_once()
        except (ValueError, np.linalg.LinAlgError):
            if self.reg_covar is not None or self.reg_covar_ > 0:
                raise
            warn_regularized("EM reached a singular covariance: collinear columns or a "
                             "component collapsing onto too few rows")
            self.reg_covar_ = FALLBACK_REG_COVAR
            return fit_once()

    def _fit_dask(self, X: Any, sample_weight: Any = None, labels: Any = None,
                  priors: Any = None) -> Self:
        """:meth:`fit` on a Dask array or DataFrame: E-steps run on its partitions.

        The column summaries are computed in one pass (two with ``sample_weight``:
        the weighted means, then the weighted spreads about them), the first guess
        on a sample of rows (with those rows' weights and ``evidence``), and the
        standard errors from information matrices summed over the partitions (the
        observed information adds up over rows). ``sample_weight`` (n,) and
        the log-evidence of ``labels`` and ``priors`` (NumPy or Dask) travel with
        their rows.
        """
        import dask
        import dask.array as da

        X = backends.numeric_dask_matrix(self, X, np.float64)
        if np.isnan(X.shape[0]):
            X = X.compute_chunk_sizes()
        weight = None if sample_weight is None else dask_with_weights(X, sample_weight)[1]
        evidence = dask_evidence(int(X.shape[0]), X.chunks[0], labels, priors,
                                 int(self.n_components))
        observed = ~da.isnan(X)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # empty columns and overflowing squares are refused below
            n_observed, n_inf, n_empty, center, spread, largest = dask.compute(
                observed.sum(axis=0), da.isinf(X).sum(), (~observed).all(axis=1).sum(),
                da.nanmean(X, axis=0), da.nanstd(X, axis=0),
                da.nanmax(da.where(observed, abs(X), 0.0)))
            if weight is not None:
                wo = weight[:, None] * observed
                w_observed, w_sum = dask.compute(wo.sum(axis=0),
                                                 (wo * da.where(observed, X, 0.0)).sum(axis=0))
                center = w_sum / w_observed
                spread = np.sqrt(dask.compute(
                    (wo * da.where(observed, X - center, 0.0) ** 2).sum(axis=0))[0]
                    / w_observed)
        if n_inf:
            raise ValueError("X contains infinite values; mark missing entries with NaN")
        self._check_spread(np.array([largest], dtype=float), spread)
        if n_empty:
            raise ValueError(f"{n_empty} row(s) have every entry missing; there is nothing "
                             "to condition on: drop them")
        n, d = int(X.shape[0]), int(X.shape[1])
        self.n_features_in_ = d
        extra = [m for m in (None if weight is None else weight[:, None], evidence)
                 if m is not None]
        sample_weight_ = sample_evidence = None
        if not extra:
            sample = backends.initialization_rows(X, self.random_state)
        else:  # the same rows as without them (the draw depends on n and the seed only)
            both = backends.initialization_rows(da.concatenate([X, *extra], axis=1),
                                                self.random_state)
            sample = both[:, :d]
            sample_weight_ = None if weight is None else both[:, d]
            sample_evidence = None if evidence is None else both[:, d + (weight is not None):]
        self._check_fit_data(sample, n_rows=n, n_observed=n_observed, spread=spread)
        self._masks = self._freeze_masks(d)
        self.reg_covar_ = self._regularization(n, spread)
        scale = self._column_scale(spread)
        Z = (X - center) / scale
        self._user_start({}, center, scale)  # check *_init before EM (its errors refit)
        total: float = n if weight is None else float(weight.sum().compute())
        counted = n_observed if weight is None else w_observed
        em_data: Any = Z if weight is None and evidence is None else tuple(
            m for m in (Z, da.ones(n, chunks=(Z.chunks[0],)) if weight is None else weight,
                        evidence) if m is not None)
        info_data: Any = Z if weight is None else (Z, weight)
        return self._fit_regularized(lambda: self._run_em(
            em_data, info_data,
            self._user_start(self._initial_params((sample - center) / scale, sample_weight_,
                                                  sample_evidence), center, scale),
            center, scale, counted, total))

    def _run_em(self, data: Any, info_data: Any, init: dict, center: np.ndarray,
                scale: np.ndarray, n_observed: np.ndarray, n_rows: float) -> Self:
        # log-likelihood of X = that of the standardized data - log-Jacobian
        log_jacobian = float(n_observed @ np.log(scale))
        # EM tracks the log-likelihood minus the reg_covar penalty, the objective
        # the regularized M-step increases: where reg_covar dominates a covariance
        # (no more rows than columns, a collapsing component) the plain
        # log-likelihood may fall while EM is working correctly. With frozen
        # parameters the constrained M-step maximizes the expected complete
        # log-likelihood (reg_covar on the free covariances only), so EM tracks
        # the plain one, with that step's slack.
        masks = getattr(self, "_masks", None) or {}
        penalized = not masks
        em_model = MissingGaussianMixtureModel(self.covariance_type, self.reg_covar_,
                                               penalized=penalized)
        if self.n_components == 1 or self.covariance_type == "tied":
            em_model.monotone_rtol = MONOTONE_RTOL  # an exact generalized EM
        model, data = backends.for_input(em_model, data)
        if masks:
            model = FrozenGaussianMixtureModel(model, init, masks)
        history: list[tuple[int, np.ndarray, float]] = []

        def class_mean(params: dict) -> np.ndarray:
            return center + scale * (np.asarray(params["weights"]) @ np.asarray(params["means"]))

        def loglik(objective: float, params: dict) -> float:
            """Observed-data log-likelihood of X from the tracked objective."""
            penalty = em_model.penalty(params, n_rows) if penalized else 0.0
            return objective + penalty - log_jacobian

        watch_singular = self.reg_covar is None and self.reg_covar_ == 0

        def record(step: Step) -> None:
            if watch_singular and (_smallest_eigenvalue(step.params, self.covariance_type)
                                   < SINGULAR_EIGENVALUE):
                raise _SingularFit("a covariance eigenvalue fell below "
                                   f"{SINGULAR_EIGENVALUE:g} of the variances")
            history.append((step.iteration, class_mean(step.params),
                            loglik(step.loglik, step.params)))
            if self.verbose:
                print(f"EMImputer iteration {step.iteration}: loglik "
                      f"{history[-1][2]:.6f}, gain {step.gain:.3e}")

        result = em(model, data, init, tol=float(self.tol) * n_rows,
                    max_iter=int(self.max_iter), accelerate=self.accelerate, callback=record)
        self._set_fitted(result.params, info_data, center, scale, n_observed)
        self._restore_frozen()
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
