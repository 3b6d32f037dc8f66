"""The EM fit loop of :class:`~emkit.estimators.gaussian_mixture.GaussianMixture`.

This module's one job is to turn validated data into fitted attributes: it picks
the model (complete data or the missing-value model), runs :func:`emkit.em` from
``n_init`` starts (or the warm one) with scikit-learn's verbose output, keeps
the best run, warns when it did not converge, and stores ``weights_``,
``means_``, the covariances and precisions, ``converged_``, ``n_iter_`` and the
lower bounds. ``fit``, the Dask path and ``partial_fit`` share it as methods of
a mixin.

Partial supervision enters here too: known labels ``y`` and soft evidence
``priors`` become one per-row log-evidence array that travels with the rows in
the model's data (``(X, sample_weight, log_evidence)``; with missing values
``(patterns, None, log_evidence)``), and ``freeze`` wraps the
model of each run in
:class:`~emkit.models.mixture.constrained_m_step.FrozenGaussianMixtureModel`,
whose frozen values are that run's start.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine import Step, best_of, em
from ..exceptions import ConvergenceWarning, DegenerateComponentWarning
from ..gaussian.reference import precision_cholesky
from ..models.mixture.constrained_m_step import FrozenGaussianMixtureModel
from ..models.mixture.gaussian import GaussianMixtureModel
from ._gaussian_mixture_guard import Collapsed, CollapseGuard
from ._gaussian_mixture_init import initial_params
from ._gaussian_mixture_reseed import Reseeder
from ._supervision import (
    check_freeze,
    check_labels,
    check_priors,
    check_something_free,
    check_whole_covariances,
    log_evidence,
)

if TYPE_CHECKING:
    from ..models.mixture.gaussian_missing import MissingGaussianMixtureModel

__all__ = ["GaussianMixtureFit", "KMEANS_MAX_ROWS"]

#: Above this many rows, ``init_params="kmeans"`` clusters a random subsample
#: (k-means on all rows took ~10% of scikit-learn's default fit at 1M rows and
#: would dominate emkit's; a few thousand rows per component locate the centres).
KMEANS_MAX_ROWS = 100_000


class GaussianMixtureFit:
    """EM-running and attribute-setting methods of ``GaussianMixture``.

    Reads the estimator's parameters and its ``_dtype`` (from
    :class:`~emkit.estimators._gaussian_mixture_checks.GaussianMixtureChecks`).
    """

    covariance_type: str
    reg_covar: float
    chunk_size: int | None
    n_init: int
    warm_start: bool
    max_iter: int
    tol: float
    accelerate: str | None
    verbose: int
    verbose_interval: int
    n_components: int
    freeze: Any
    degenerate: str

    if TYPE_CHECKING:  # from GaussianMixtureChecks
        def _dtype(self) -> np.dtype: ...

    def _make_model(self, X: np.ndarray) -> GaussianMixtureModel | MissingGaussianMixtureModel:
        if np.isnan(X).any():
            from ..models.mixture.gaussian_missing import MissingGaussianMixtureModel

            return MissingGaussianMixtureModel(self.covariance_type, self.reg_covar,
                                               self.chunk_size, dtype=self._dtype())
        return GaussianMixtureModel(self.covariance_type, self.reg_covar, self.chunk_size,
                                    self._dtype())

    def _evidence(self, X: np.ndarray, y: Any, priors: Any) -> np.ndarray | None:
        """Per-row log-evidence (n_samples, K) from ``y`` and ``priors``, or None."""
        labels = check_labels(y, len(X), self.n_components, name="labels")
        return log_evidence(labels, check_priors(priors, len(X), self.n_components),
                            self.n_components)

    def _freeze_masks(self, n_features: int) -> dict[str, np.ndarray]:
        """``freeze`` as boolean masks keyed by parameter (``weights``, ``means``,
        ``covariances``), checked against the shapes of the fitted attributes."""
        k, d, kind = self.n_components, n_features, self.covariance_type
        cov_shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d),
                     "spherical": (k,)}[kind]
        shapes = {"weights_": (k,), "means_": (k, d), "covariances_": cov_shape}
        aliases = {"precisions_": "covariances_", "precisions_cholesky_": "covariances_"}
        given = dict(self.freeze) if isinstance(self.freeze, dict) else self.freeze
        for alias, target in aliases.items():
            if isinstance(given, dict) and alias in given:
                if target in given:
                    raise ValueError(f"freeze names both {alias!r} and {target!r}; give one")
                given[target] = given.pop(alias)
        masks = check_freeze(given, shapes)
        check_whole_covariances(masks.get("covariances_"), kind, k)
        check_something_free(masks, shapes)
        return {name.rstrip("_"): mask for name, mask in masks.items()}

    def _model_data(self, model: Any, X: np.ndarray, sample_weight: np.ndarray | None,
                    evidence: np.ndarray | None = None) -> Any:
        if isinstance(model, GaussianMixtureModel):
            if evidence is not None:
                return (X, sample_weight, evidence)
            return X if sample_weight is None else (X, sample_weight)
        from ..models.mixture.gaussian_missing import find_patterns

        patterns = find_patterns(X, sample_weight)
        # the evidence is indexed by row, as the patterns' rows are
        return patterns if evidence is None else (patterns, None, evidence)

    def _fit_from_starts(self, model: Any, data: Any, X_init: np.ndarray,
                         weights: np.ndarray | None, total: float,
                         random_state: np.random.RandomState,
                         evidence: np.ndarray | None = None) -> None:
        """Run EM from ``n_init`` starts drawn on ``X_init`` (or warm) and keep the best.

        ``evidence``: the rows' log-evidence, for starts that agree with it (the
        model's data carry it to the E-steps)."""
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        self._masks = self._freeze_masks(X_init.shape[1])
        self._reseed_rows = (X_init, weights)

        def starts():
            for i in range(self.n_init if do_init else 1):
                self._print_verbose(f"Initialization {i}", level=1)
                if do_init:
                    yield initial_params(self, X_init, weights, random_state, KMEANS_MAX_ROWS,
                                         evidence)
                else:
                    yield self._fitted_params()

        best, _ = best_of(starts(), lambda init: self._run_em(model, data, init, total))
        self._set_fitted(best.params, best, total)
        reseeds = getattr(best, "reseeds", [])
        self.n_reseeds_ = len(reseeds)
        if reseeds:
            shown = "; ".join(e.describe(self.covariance_type) for e in reseeds[:5])
            more = f"; and {len(reseeds) - 5} more" if len(reseeds) > 5 else ""
            warnings.warn(
                f"{len(reseeds)} collapsed component(s) re-seeded where scikit-learn raises "
                f"'ill-defined empirical covariance': {shown}{more}. "
                "degenerate='raise' raises instead; increasing reg_covar, decreasing "
                "n_components or scaling the data avoids the collapse.",
                DegenerateComponentWarning,
                stacklevel=4,
            )
        collapse = getattr(best, "collapse", None)
        if collapse is not None:
            warnings.warn(
                f"Best performing initialization did not converge: EM stopped after "
                f"iteration {best.n_iter} because the next M-step made a component's "
                f"covariance singular ({collapse}); the parameters before that step are "
                "kept. Try to decrease the number of components, increase reg_covar, or "
                "scale the input data.",
                ConvergenceWarning,
                stacklevel=4,
            )
        elif not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data "
                "(or try accelerate='squarem').",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _run_em(self, model: Any, data: Any, init: dict, total: float) -> Any:
        masks = getattr(self, "_masks", None)
        if masks:
            model = FrozenGaussianMixtureModel(model, init, masks)
        guard = CollapseGuard(model, self.covariance_type, self._dtype(),
                              None if masks else self._reseeder(),
                              getattr(self, "degenerate", "reseed"))
        init = guard.start(init)
        result = self._run_guarded(guard, data, init, total)
        result.reseeds = [] if guard.reseeder is None else list(guard.reseeder.events)
        return result

    def _reseeder(self) -> Reseeder | None:
        """The :class:`Reseeder` of this fit's rows (None with ``degenerate="raise"``)."""
        if getattr(self, "degenerate", "reseed") != "reseed":
            return None
        rows, weights = self._reseed_rows
        scorer = self._make_model(np.asarray(rows))
        return Reseeder(np.asarray(rows), scorer.log_prob_rows, self.covariance_type,
                        self.reg_covar, self._dtype(), weights)

    def _run_guarded(self, guard: CollapseGuard, data: Any, init: dict, total: float) -> Any:
        if self.max_iter == 0:
            _, loglik = guard.e_step(data, init)
            stopped = _Stopped(init, loglik, [])
            stopped.iteration_logliks = []
            return stopped
        start = time.perf_counter()
        last = [start]
        steps: list[Step] = []

        def callback(step: Step) -> None:
            steps.append(step)
            if not self.verbose or step.iteration % self.verbose_interval != 0:
                return
            if self.verbose >= 2:
                now = time.perf_counter()
                print(f"  Iteration {step.iteration}\t time lapse {now - last[0]:.5f}s"
                      f"\t ll change {step.gain / total:.5f}")
                last[0] = now
            else:
                print(f"  Iteration {step.iteration}")

        # without verbose output nobody reads the steps: the engine keeps no records
        # (the same iterates; lower_bounds_ then come from the guard's log-likelihoods)
        quiet = not self.verbose and self.accelerate is None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result: Any  # an EMResult, or _Stopped
            try:
                result = em(guard, data, init, tol=self.tol * total, max_iter=self.max_iter,
                            accelerate=self.accelerate, callback=None if quiet else callback,
                            record=not quiet)
                result.iteration_logliks = (list(guard.logliks[1:]) if quiet
                                            else [s.loglik for s in result.steps])
            except Collapsed as stop:
                result = _Stopped(stop.params, stop.loglik,
                                  guard.logliks[1:] if quiet else [s.loglik for s in steps],
                                  stop.reason)
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
        logliks = getattr(result, "iteration_logliks", None)  # a stream's result has none
        if logliks is None:
            logliks = [s.loglik for s in result.steps]
        self.lower_bounds_ = [float(v / total) for v in logliks]

    def _fitted_params(self) -> dict:
        return {
            "weights": np.asarray(self.weights_, dtype=np.float64),
            "means": np.asarray(self.means_, dtype=np.float64),
            "covariances": np.asarray(self.covariances_, dtype=np.float64),
        }


class _Stopped:
    """A run that ended before EM could continue, unconverged.

    For ``max_iter=0`` the initial parameters (no steps); after a collapse
    (``collapse`` says what happened) the last parameters whose likelihood is
    defined, with the log-likelihood after each iteration that led there.
    """

    def __init__(self, params: dict, loglik: float, logliks: list[float],
                 collapse: str | None = None):
        self.params = params
        self.loglik = float(loglik)
        self.converged = False
        self.n_iter = len(logliks)
        self.steps: list[Step] = []
        self.iteration_logliks = [float(v) for v in logliks]
        self.collapse = collapse
