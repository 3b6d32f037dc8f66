"""``emkit.MixtureModel``: a scikit-learn-style mixture of any emkit distribution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import backends
from ..distributions._base import Distribution, as_rng
from ..engine import EMResult, best_of, em
from ..engine.online import StepwiseEM
from ..models.mixture.any_distribution import MixtureEM
from ..models.mixture.concomitant import ConcomitantMixtureEM
from ..numerics.design_scaling import Design
from ..numerics.logsumexp import log_normalize, logsumexp_rows
from ..persistence import Persistable
from . import _supervision as sv
from ._components import component_templates, dense_matrix, validate_for
from ._fitting_keywords import check_fitting_keywords
from ._freeze_counts import frozen_mixture_model
from ._mixture_concomitant import (
    check_coef_init,
    check_concomitant,
    check_predict_concomitant,
    dask_rows_with_z,
    fitted_coef,
    frozen_concomitant_model,
    refuse_without_concomitant,
    sample_concomitant,
    start_with_coef,
)
from ._mixture_inputs import check_sample_weight, dask_input
from ._mixture_start import check_weights_init, frozen_model, initial_params, overflow_as_error

__all__ = ["MixtureModel"]

INIT_PARAMS = ("kmeans", "random", "given")


class MixtureModel(BaseEstimator, Persistable):
    """Finite mixture of any :mod:`emkit.distributions` family, fitted by EM.

    Parameters
    ----------
    distribution : Distribution or list of Distribution
        One distribution used as the template for every component (e.g.
        ``emkit.distributions.Poisson()``), or a list with one distribution per
        component for a heterogeneous mixture. Parameter values in a template
        are ignored unless ``init_params="given"``.
    n_components : int, default 1
        Number of components. With a list of distributions it must be 1 (the
        default, meaning "as many as the list") or the list's length.
    max_iter : int, default 100
        Most EM iterations per start.
    tol : float, default 1e-3
        Convergence threshold on the change of the **mean** log-likelihood per
        row (as scikit-learn's); the engine receives ``tol * n_samples``.
    n_init : int, default 1
        Number of starts; the fit with the highest log-likelihood is kept.
    init_params : {"kmeans", "random", "given"}, default "kmeans"
        ``"kmeans"``: responsibilities from one k-means run (scikit-learn's
        scheme, on each family's ``init_features``, e.g. one-hot codes for
        categories); ``"random"``: uniform random responsibilities, normalized;
        ``"given"``: start from the parameters of the (fitted) distributions in
        the list, with equal weights.
    accelerate : {None, "squarem"}, default None
        Passed to :func:`emkit.em`.
    random_state : int, RandomState or None, default None
        Seeds the initialization (the same draws as scikit-learn's
        ``GaussianMixture`` with the same seed) and :meth:`sample`.
    chunk_size : int or None, default None
        Rows per E-step call on in-memory data (bounds the memory of the
        responsibilities); ``None`` processes all rows at once. Dask input
        (``dask.array.Array`` or Dask DataFrame) always runs partition by
        partition on the current ``dask.distributed`` client.
    online_alpha : float, default 0.6
        Step-size exponent of stepwise EM in :meth:`partial_fit`, in (0.5, 1].
    weights_init : array-like of shape (n_components,) or None, default None
        The start's mixing weights (summing to 1); None takes the start's
        responsibilities' shares (equal weights for ``init_params="given"``).
    freeze : dict or None, default None
        Parameters kept at their start (``weights_init`` and the given
        distributions with ``init_params="given"``, else the drawn start):
        ``{"weights_": mask, "components_": [True, {"rate": mask}, ...]}`` or a
        parameter name shared by the components with a mask of shape
        (n_components, *its shape*), e.g. ``{"mean": mask}``; ``True`` freezes a
        whole attribute. The free entries get the exact constrained M-step
        (free weights share the free mass; see
        :mod:`emkit.estimators._mixture_freeze` and
        :mod:`emkit.models.mixture.frozen_components` for the families). With
        ``fit(..., concomitant=Z)``: ``"concomitant_coef_"`` takes True or a
        boolean mask of shape (n_components, n_concomitant + 1), entries kept at
        ``concomitant_coef_init`` (or at the start's intercepts and zero slopes);
        row 0, the reference, is zero whatever the mask says, and the free
        entries get the safeguarded Newton step restricted to them
        (:mod:`emkit.models.mixture.frozen_concomitant`); ``"weights_"`` is
        refused there.
    concomitant_coef_init : array-like of shape (n_components, n_concomitant + 1) or None
        The start's logit coefficients for ``fit(..., concomitant=Z)``, laid out as
        ``concomitant_coef_`` (intercept in column 0, ``Z``'s own units); row 0 must
        be zero (the reference). None starts from the start's weights (intercepts
        ``log(w_k / w_0)``, zero slopes). Not together with ``weights_init``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixing weights; after a fit with ``concomitant`` the share of the
        training rows' posterior weight in each component (at convergence the
        average of the fitted ``pi_k(z_i)``).
    concomitant_coef_ : ndarray of shape (n_components, n_concomitant + 1)
        Only after a fit with ``concomitant``: the multinomial logit of the
        mixing weights, ``pi_k(z) = softmax_k(coef[k, 0] + coef[k, 1:] @ z)``, the
        intercept in column 0 and component 0 the reference (its row is zero),
        as flexmix's ``FLXPmultinom`` and :class:`emkit.RegressionMixture`.
    components_ : list of Distribution
        The fitted component distributions.
    converged_ : bool
    n_iter_ : int
        Engine iterations of the best start.
    lower_bound_ : float
        Mean log-likelihood per row of the best start (plus the components'
        log-priors divided by ``n_samples`` when a family has a prior).
    lower_bounds_ : ndarray of shape (n_iter_,)
        The same after each iteration of the best start (one value per
        iteration, as ``GaussianMixture.lower_bounds_``; a SQUAREM cycle is one
        iteration).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import MixtureModel
    >>> from emkit.distributions import Poisson
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.poisson(2, 300), rng.poisson(12, 200)])[:, None]
    >>> model = MixtureModel(Poisson(), n_components=2, random_state=0).fit(X)
    >>> np.round(np.sort(np.concatenate([c.rate for c in model.components_])))
    array([ 2., 12.])
    """

    def __init__(self, distribution: Distribution | Sequence[Distribution],
                 n_components: int = 1, *, max_iter: int = 100, tol: float = 1e-3,
                 n_init: int = 1, init_params: str = "kmeans", accelerate: str | None = None,
                 random_state: Any = None, chunk_size: int | None = None,
                 online_alpha: float = 0.6, weights_init: Any = None,
                 freeze: dict | None = None, concomitant_coef_init: Any = None):
        self.distribution = distribution
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init_params = init_params
        self.accelerate = accelerate
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.online_alpha = online_alpha
        self.weights_init = weights_init
        self.freeze = freeze
        self.concomitant_coef_init = concomitant_coef_init

    # ---------------------------------------------------------------- validation
    def _templates(self) -> list[Distribution]:
        return component_templates(self.distribution, self.n_components)

    def _check_params(self) -> None:
        check_fitting_keywords(self, ("max_iter", "n_init"), INIT_PARAMS)

    @staticmethod
    def _as_matrix(X: Any) -> np.ndarray:
        """Rows as a float array (1-D: one feature); sparse or empty input refused."""
        return dense_matrix(X, "MixtureModel")
    _validate = staticmethod(validate_for)

    def _initialize(self, X: np.ndarray, model: MixtureEM | ConcomitantMixtureEM,
                    random_state: np.random.RandomState,
                    evidence: np.ndarray | None = None) -> dict[str, Any]:
        """Start parameters of one run (see :func:`._mixture_start.initial_params`)."""
        return initial_params(self.init_params, X, model, random_state, evidence,
                              weights_init=check_weights_init(self.weights_init,
                                                              len(model.templates)))

    # ---------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None, *, concomitant: Any = None, labels: Any = None,
            priors: Any = None, sample_weight: Any = None) -> MixtureModel:
        """Fit the mixture by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to cluster (a pandas DataFrame is accepted; categories coded as
            integers). A 1-D array is one feature.
        y : ignored
        concomitant : array-like of shape (n_samples, n_concomitant), optional
            Covariates the mixing weights depend on, a multinomial logit
            (latent class regression; ``concomitant_coef_``). A 1-D array is one
            variable; shape (n_samples, 0) is the intercept-only logit, the
            plain mixture. Dask ``X`` takes Dask or NumPy ``Z``. Combines with
            ``labels``, ``priors``, ``sample_weight``, ``freeze`` and
            ``concomitant_coef_init``.
        labels : array-like of shape (n_samples,), optional
            Known components, -1 (or NaN) unknown: one-hot responsibilities, used by the start.
            With ``concomitant`` a labelled row still enters the logit (its
            one-hot responsibilities are the logit's response).
        priors : array-like of shape (n_samples, K), optional
            Non-negative soft evidence multiplying each row's posterior (a row of
            ones is no evidence; with ``concomitant`` it multiplies
            ``pi_k(z_i) p_k(x_i)``, not the logit). With Dask ``X``, ``labels``
            and ``priors`` may be NumPy or Dask and travel to the partitions
            with their rows.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights multiplying each row's log-likelihood and
            responsibilities (an integer weight equals repeating the row, a zero
            weight dropping it), also used by the k-means start; with
            ``concomitant`` they weight the logit's Newton M-step too (a weighted
            multinomial logit). NumPy or Dask weights for Dask ``X``.
            ``lower_bound_`` is then per unit of weight.

        Returns
        -------
        self
        """
        self._check_params()
        random_state = check_random_state(self.random_state)
        data = X if backends.is_dask(X) else None
        if concomitant is None:
            refuse_without_concomitant(self.concomitant_coef_init, self.freeze)
        cz = None if concomitant is None else check_concomitant(
            X, concomitant, random_state, sample_weight=sample_weight, labels=labels,
            priors=priors, n_components=len(self._templates()))
        sw = evidence = None
        if cz is not None:
            X, sw, evidence = cz.X0, cz.w0, cz.e0
            data = cz.data if data is not None else None
        elif data is not None:
            # Dask input: initialize on a sample, run the E-steps on the partitions.
            rows = dask_input(data, sample_weight, labels, priors, len(self._templates()),
                              random_state)
            data, X, sw, evidence = rows.data, rows.sample, rows.sample_weight, \
                rows.sample_evidence
        X, templates = self._prepare(X)
        k = len(templates)
        n = X.shape[0] if data is None else backends.n_rows(
            data[0] if isinstance(data, tuple) else data)
        if n < k:
            raise ValueError(f"n_samples={n} must be >= n_components={k}")
        weights_init = check_weights_init(self.weights_init, k)
        model: MixtureEM | ConcomitantMixtureEM = (
            MixtureEM(templates) if cz is None else ConcomitantMixtureEM(templates, cz.design))
        coef_init = None if cz is None else check_coef_init(
            self.concomitant_coef_init, k, cz.design.n_columns, weights_init)
        local: Any = None
        if cz is not None:  # in memory: the validated X with Z, weights and evidence
            total, local = cz.total, (X, *cz.data[1:])
        elif data is None:
            evidence = sv.log_evidence(sv.check_labels(labels, n, k, name="labels"),
                                       sv.check_priors(priors, n, k), k)
            sw = check_sample_weight(sample_weight, n)
            total = float(n if sw is None else sw.sum())
            local = X if evidence is None and sw is None else (X, sw, evidence)
        else:
            total = rows.total_weight
        fitted_by: dict[int, Any] = {}  # each run's (frozen) model, by id of its result

        def fit_one(_: int) -> EMResult:
            fitting: Any
            with overflow_as_error(X):
                init = initial_params(self.init_params, X, model, random_state, evidence, sw,
                                      weights_init)
                if isinstance(model, ConcomitantMixtureEM):
                    init = start_with_coef(init, model.concomitant, coef_init)
                    fitting = frozen_concomitant_model(model, self.freeze, init, coef_init)
                else:
                    fitting = frozen_model(model, self.freeze, init)
                engine_model, engine_data = backends.for_input(
                    fitting, local if data is None else data, chunk_size=self.chunk_size)
                result = em(engine_model, engine_data, init, tol=float(self.tol) * total,
                            max_iter=int(self.max_iter), accelerate=self.accelerate)
                fitted_by[id(result)] = fitting
                return result

        best, _ = best_of(range(int(self.n_init)), fit_one)
        self._set_fitted(model, best.params, X.shape[1])
        if cz is not None:
            self.concomitant_coef_ = fitted_coef(cz.design, best.params["mixing"],
                                                 fitted_by.get(id(best)))
            nk = np.asarray(best.stats["n"], dtype=float)
            self.weights_ = nk / nk.sum()
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.loglik) / total
        # one value per iteration (after it), as GaussianMixture and scikit-learn
        self.lower_bounds_ = np.array([s.loglik for s in best.steps], dtype=float) / total
        return self

    def _prepare(self, X: Any) -> tuple[np.ndarray, list[Distribution]]:
        """Validated rows and the templates with data-dependent settings resolved."""
        X = self._as_matrix(X)
        templates = self._templates()
        if X.ndim == 2 and X.shape[0] > 0 and X.shape[1] > 0 and np.all(np.isfinite(X)):
            templates = [t.prepare(X) for t in templates]
        return self._validate(X, templates), templates

    def _set_fitted(self, model: MixtureEM | ConcomitantMixtureEM, params: dict[str, Any],
                    n_features: int) -> None:
        self._model = model
        self.__dict__.pop("concomitant_coef_", None)
        if "weights" in params:
            self.weights_ = np.asarray(params["weights"], dtype=float)
        self.components_ = model.components(params)
        self.n_features_in_ = int(n_features)

    def partial_fit(self, X: Any, y: Any = None) -> MixtureModel:
        """Update the mixture with one mini-batch of a stream (stepwise EM).

        The first call initializes from its batch (as :meth:`fit` would); each
        call then makes one E-step on the batch and one M-step on a running
        average of the per-row statistics with step size
        ``(t + 2) ** -online_alpha`` (Cappé & Moulines 2009). One pass over the
        data in batches of a few thousand rows lands close to the batch fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The mini-batch.
        y : ignored

        Returns
        -------
        self
        """
        online = getattr(self, "_online", None)
        if self.freeze is not None:
            raise ValueError("freeze is not supported by partial_fit (stepwise EM); use fit")
        if online is None:
            self._check_params()
            X, templates = self._prepare(X)
            if X.shape[0] < len(templates):
                raise ValueError(f"the first batch needs at least n_components="
                                 f"{len(templates)} rows, got {X.shape[0]}")
            model = MixtureEM(templates)
            with overflow_as_error(X):
                init = initial_params(self.init_params, X, model,
                                      check_random_state(self.random_state),
                                      weights_init=check_weights_init(self.weights_init,
                                                                      len(templates)))
            online = self._online = StepwiseEM(model, init, alpha=self.online_alpha)
        else:
            X = self._validate(self._as_matrix(X), online.model.templates)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but MixtureModel is "
                                 f"expecting {self.n_features_in_} features as input")
        with overflow_as_error(X):
            online.partial_fit(X)
        self._set_fitted(online.model, online.params, X.shape[1])
        self.converged_ = False
        self.n_iter_ = online.n_batches
        self.lower_bound_ = online.loglik_per_row
        return self

    def fit_predict(self, X: Any, y: Any = None, *, concomitant: Any = None,
                    **supervision: Any) -> np.ndarray:
        """Fit (``supervision``: :meth:`fit`'s ``labels`` and ``priors``),
        then return the most probable component of each row, shape (n_samples,)."""
        return self.fit(X, concomitant=concomitant, **supervision).predict(
            X, concomitant=concomitant)

    # --------------------------------------------------------------- inference
    def _n_concomitant(self) -> int | None:
        """Concomitant variables of the fit (None for a fit without them)."""
        coef = getattr(self, "concomitant_coef_", None)
        return None if coef is None else int(np.shape(coef)[1]) - 1

    def _inference_model(self) -> tuple[MixtureEM | ConcomitantMixtureEM, dict[str, Any]]:
        """The fitted model (in the columns' own units) and its parameters."""
        q = self._n_concomitant()
        if q is None:
            return MixtureEM(self.components_), MixtureEM.pack(self.weights_, self.components_)
        model = ConcomitantMixtureEM(self.components_, Design.identity(q))
        return model, model.pack(self.concomitant_coef_, self.components_)

    def _log_joint(self, X: Any, Z: np.ndarray | None = None) -> np.ndarray:
        check_is_fitted(self, "components_")
        one_dimensional = np.ndim(X) == 1
        X = self._as_matrix(X)
        if X.ndim == 2 and X.shape[1] != self.n_features_in_:
            hint = (" (a 1-D X is read as one feature; Reshape your data with "
                    "X.reshape(1, -1) if it is a single row)") if one_dimensional else ""
            raise ValueError(f"X has {X.shape[1]} features, but MixtureModel is expecting "
                             f"{self.n_features_in_} features as input{hint}")
        X = self._validate(X, self.components_)
        model, params = self._inference_model()
        if isinstance(model, ConcomitantMixtureEM):
            if Z is None or not np.all(np.isfinite(Z)):
                raise ValueError("concomitant contains NaN or infinity")
            return model.log_joint((X, Z), params)
        return model.log_joint(X, params)

    def _map_rows(self, fn: Any, X: Any, concomitant: Any, **kw: Any) -> Any:
        """``fn(log_joint)`` row block by row block (lazy on Dask input)."""
        check_is_fitted(self, "components_")
        Z = check_predict_concomitant(X, concomitant, self._n_concomitant())
        if Z is None:
            return backends.map_rows(lambda b: fn(self._log_joint(b)), X, **kw)
        if not backends.is_dask(X):
            return fn(self._log_joint(X, Z))
        p = self.n_features_in_
        return backends.map_rows(lambda b: fn(self._log_joint(b[:, :p], b[:, p:])),
                                 dask_rows_with_z(self, X, Z, p), **kw)

    def score_samples(self, X: Any, *, concomitant: Any = None) -> np.ndarray:
        """Log-likelihood of each row under the mixture, shape (n_samples,).

        Lazy (a Dask array) on Dask input, as are :meth:`predict` and
        :meth:`predict_proba`. ``concomitant`` (n_samples, n_concomitant) is
        required when the fit used concomitant variables (and refused otherwise).
        """
        return self._map_rows(logsumexp_rows, X, concomitant)

    def score(self, X: Any, y: Any = None, *, concomitant: Any = None) -> float:
        """Mean log-likelihood per row."""
        values = self.score_samples(X, concomitant=concomitant)
        return float(values.mean().compute() if backends.is_dask(values) else np.mean(values))

    def predict_proba(self, X: Any, *, concomitant: Any = None) -> np.ndarray:
        """Posterior probability of each component for each row, shape (n_samples, K)."""
        check_is_fitted(self, "components_")

        def block(lj: np.ndarray) -> np.ndarray:
            return log_normalize(lj, out=lj)[1]  # a fresh array, normalized in place

        return self._map_rows(block, X, concomitant, n_columns=len(self.weights_))

    def predict(self, X: Any, *, concomitant: Any = None) -> np.ndarray:
        """Most probable component of each row, shape (n_samples,)."""
        return self._map_rows(lambda lj: np.argmax(lj, axis=1), X, concomitant, dtype=np.int64)

    def sample(self, n_samples: int = 1, *,
               concomitant: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default 1
        concomitant : array-like of shape (n_rows, n_concomitant), optional
            Required after a fit with concomitant variables: one row is drawn
            for each of its rows, from the weights ``pi(z)`` (``n_samples`` is
            then its number of rows and need not be given).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
            The component each row came from (in row order only with
            ``concomitant``; grouped by component otherwise).
        """
        check_is_fitted(self, "components_")
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        rng = as_rng(self.random_state)
        q = self._n_concomitant()
        if q is not None:
            return sample_concomitant(self.concomitant_coef_, self.components_,
                                      self.n_features_in_, concomitant, n_samples, rng)
        if concomitant is not None:
            raise ValueError("concomitant was given, but the model was fitted without "
                             "concomitant variables")
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        X = np.concatenate([c.sample(int(m), rng) for c, m in zip(self.components_, counts,
                                                                    strict=True)])
        labels = np.repeat(np.arange(len(counts)), counts)
        return X, labels

    # ----------------------------------------------------------- model choice
    def n_parameters(self) -> int:
        """Free parameters: ``K - 1`` weights (``(K - 1)(n_concomitant + 1)`` logit coefficients
        with concomitants) and the components' (shared ones once); frozen entries not counted."""
        check_is_fitted(self, "components_")
        m = self._inference_model()[0]
        q1 = m.concomitant.n_columns + 1 if isinstance(m, ConcomitantMixtureEM) else None
        return m.n_parameters(self.components_) - frozen_mixture_model(
            self.freeze, self.components_, m.set.pools, q1)

    def bic(self, X: Any, *, concomitant: Any = None) -> float:
        """Bayesian information criterion on ``X`` (lower is better; free parameters only)."""
        X = self._as_matrix(X)
        n = X.shape[0]
        return float(-2.0 * self.score(X, concomitant=concomitant) * n
                     + self.n_parameters() * np.log(n))

    def aic(self, X: Any, *, concomitant: Any = None) -> float:
        """Akaike information criterion on ``X`` (lower is better; free parameters only)."""
        X = self._as_matrix(X)
        return float(-2.0 * self.score(X, concomitant=concomitant) * X.shape[0]
                     + 2.0 * self.n_parameters())
