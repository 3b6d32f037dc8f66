"""``emkit.RegressionMixture``: mixtures of regressions (flexmix's FLXMRglm) with concomitants."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import backends
from ..distributions._base import as_rng
from ..engine import EMResult, best_of, em
from ..models.regression.design import Design
from ..models.regression.families import FAMILIES, mean_response
from ..models.regression.frozen import FrozenRegressionEM
from ..models.regression.model import RegressionMixtureEM
from ..numerics.logsumexp import log_normalize
from ..persistence import Persistable
from ._fitting_keywords import check_fitting_keywords
from ._regression_init import INIT_PARAMS, start_params, start_responsibilities
from ._regression_inputs import RegressionData, as_covariates, check_inputs, check_response
from ._regression_supervision import (
    check_given_starts,
    given_start,
    labelled_start,
    regression_freeze,
    to_scaled,
)

__all__ = ["RegressionMixture"]


class RegressionMixture(BaseEstimator, Persistable):
    """Finite mixture of regressions (Gaussian, Poisson or binomial GLMs), fitted by EM.

    Row ``i`` comes from component ``k`` with probability ``weights_[k]``, or, when
    ``fit`` is given ``concomitant=Z``, with the multinomial-logit probability
    ``pi_k(z_i)`` (flexmix's ``FLXPmultinom``), and its response then follows that
    component's GLM in the covariates ``x_i``: ``y ~ N(a_k + x'b_k, sigma_k^2)``,
    ``y ~ Poisson(exp(a_k + x'b_k))`` or ``y ~ Binomial(m, expit(a_k + x'b_k))``.

    Parameters
    ----------
    n_components : int, default 1
        Number of components ``K``.
    family : {"gaussian", "poisson", "binomial"}, default "gaussian"
        The response distribution (identity, log and logit links).
    max_iter : int, default 100
        Most EM iterations per start.
    tol : float, default 1e-3
        Convergence threshold on the change of the **mean** log-likelihood per
        row (per unit of ``sample_weight``), as scikit-learn's; the engine
        receives ``tol * n_samples``.
    n_init : int, default 1
        Number of starts; the fit with the highest log-likelihood is kept. A
        start whose component empties or collapses is skipped.
    init_params : {"random", "kmeans"}, default "random"
        How a start assigns the rows: ``"random"`` fits each component's line
        (on the working response) to a few rows drawn at random and gives every
        row to its nearest line; ``"kmeans"`` runs k-means once on the scaled
        covariates and the (transformed) response, which finds segments that
        differ in level more than in slope. Each assignment becomes a start by
        one weighted least-squares fit of the working response per component,
        as ``glm.fit`` starts.
    accelerate : {None, "squarem"}, default None
        Passed to :func:`emkit.em`.
    random_state : int, RandomState or None, default None
        Seeds the starts and :meth:`sample`.
    chunk_size : int or None, default None
        Rows per E-step call on in-memory data; Dask input always runs partition
        by partition.
    weights_init : array-like of shape (n_components,) or None, default None
        The start's mixing weights (summing to 1); not with concomitant variables.
    coef_init : array-like of shape (n_components, n_features) or None, default None
        The start's slopes, in the covariates' own units (as ``coef_``).
    intercept_init : array-like of shape (n_components,) or None, default None
        The start's intercepts (as ``intercept_``).
    scale_init : array-like of shape (n_components,) or None, default None
        Gaussian only: the start's residual standard deviations (as ``scale_``).
    concomitant_coef_init : array-like of shape (n_components, n_concomitant + 1) or None
        With concomitant variables: the start's logit coefficients (as
        ``concomitant_coef_``: intercepts in column 0, row 0 zero).
        Each ``*_init`` left None takes the drawn start's value.
    freeze : dict or None, default None
        Parameters kept at their start (the ``*_init`` values, else the drawn
        start's): ``{"coef_": mask, "intercept_": mask, "scale_": mask,
        "weights_": mask, "concomitant_coef_": mask}``, each ``True`` (the whole
        attribute) or a boolean mask
        of the attribute's shape (True = frozen). The free coefficients get the
        exact constrained M-step (Gaussian: weighted least squares with the
        frozen columns moved to the offset; Poisson and binomial: the safeguarded
        Newton step over the free coordinates), free weights share the free
        mass, free logit coefficients the constrained Newton step over them
        (row 0, the reference, is zero whatever the mask says); see
        :mod:`emkit.models.regression.frozen`. ``"weights_"`` is refused with
        concomitant variables (the logit's intercepts are its weights: freeze
        ``concomitant_coef_`` column 0), ``"scale_"`` outside the Gaussian family.
        A mask of the wrong shape or a freeze that leaves nothing to fit is a
        ``ValueError``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_components, n_features)
        Slopes of each component.
    intercept_ : ndarray of shape (n_components,)
    scale_ : ndarray of shape (n_components,)
        Gaussian only: each component's residual standard deviation, the
        maximum-likelihood one (divided by the component's weight, not by its
        degrees of freedom).
    weights_ : ndarray of shape (n_components,)
        Mixing weights; with concomitant variables the share of the training
        rows' posterior weight in each component (equal, at convergence, to the
        average of the fitted ``pi_k(z_i)``).
    concomitant_coef_ : ndarray of shape (n_components, n_concomitant + 1)
        Only after a fit with ``concomitant``: the multinomial logit's
        coefficients, the intercept in column 0; component 0 is the reference
        (its row is zero).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per row (per unit of weight) of the best start.
    lower_bounds_ : ndarray of shape (n_iter_,)
        The same after each iteration of the best start.
    n_features_in_ : int
    n_concomitant_in_ : int
        Number of concomitant variables (0 without).

    Notes
    -----
    Each EM iteration's E-step returns additive statistics (per component its
    weighted ``X'WX``, ``X'W(y - eta)`` and residual sum of squares, or the
    gradient and Hessian of its part of EM's ``Q``), so fits run in chunks and on
    Dask partitions. The Gaussian M-step is weighted least squares; the Poisson,
    binomial and concomitant M-steps are one Newton step with step-halving on a
    bound of the gain, which keeps EM's monotone increase (generalized EM); see
    :mod:`emkit.models.regression`.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import RegressionMixture
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 10, 600)
    >>> group = rng.random(600) < 0.5
    >>> y = np.where(group, 1 + 2 * x, 12 - x) + rng.normal(0, 0.5, 600)
    >>> model = RegressionMixture(2, random_state=0).fit(x[:, None], y)
    >>> np.sort(np.round(model.coef_[:, 0]))
    array([-1.,  2.])
    """

    def __init__(self, n_components: int = 1, *, family: str = "gaussian",
                 max_iter: int = 100, tol: float = 1e-3, n_init: int = 1,
                 init_params: str = "random", accelerate: str | None = None,
                 random_state: Any = None, chunk_size: int | None = None,
                 weights_init: Any = None, coef_init: Any = None,
                 intercept_init: Any = None, scale_init: Any = None,
                 freeze: dict | None = None, concomitant_coef_init: Any = None):
        self.n_components = n_components
        self.family = family
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init_params = init_params
        self.accelerate = accelerate
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.weights_init = weights_init
        self.coef_init = coef_init
        self.intercept_init = intercept_init
        self.scale_init = scale_init
        self.freeze = freeze
        self.concomitant_coef_init = concomitant_coef_init

    # ---------------------------------------------------------------- validation
    def _check_params(self) -> None:
        check_fitting_keywords(self, ("n_components", "max_iter", "n_init"), INIT_PARAMS)
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")

    # ---------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any, *, concomitant: Any = None, sample_weight: Any = None,
            labels: Any = None, priors: Any = None) -> RegressionMixture:
        """Fit the mixture of regressions by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates (a 1-D array is one covariate); a Dask array or DataFrame
            runs the E-steps on its partitions.
        y : array-like of shape (n_samples,) or (n_samples, 2)
            Responses: real values (gaussian), non-negative whole counts
            (poisson), 0/1 outcomes or two columns (successes, failures)
            (binomial).
        concomitant : array-like of shape (n_samples, n_concomitant), optional
            Variables the mixing weights depend on (multinomial logit).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights (a weight of 2 counts as the row twice).
        labels : array-like of shape (n_samples,), optional
            Known components, -1 (or NaN) unknown: those rows keep one-hot
            responsibilities throughout, and the start's assignment is renamed to
            agree with them and applies them. With ``concomitant`` a labelled row
            still enters the logit (its one-hot responsibilities are the logit's
            response).
        priors : array-like of shape (n_samples, n_components), optional
            Non-negative soft evidence multiplying each row's posterior (a row of
            ones is no evidence; with ``concomitant`` it multiplies
            ``pi_k(z_i) f_k(y_i)``, not the logit). With Dask ``X``, ``labels`` and
            ``priors`` may be NumPy or Dask and travel to the partitions with
            their rows. ``lower_bound_`` is then the mean of
            ``log sum_k e_ik pi_k f_k(y_i)``, ``e`` the evidence.

        Returns
        -------
        self
        """
        self._check_params()
        k = int(self.n_components)
        data = check_inputs(self.family, X, y, concomitant, sample_weight, k, labels, priors)
        p, has_z = data.design.n_columns, data.concomitant is not None
        q = 0 if data.concomitant is None else data.concomitant.n_columns
        given = check_given_starts(self, k, p, self.family, has_z, q)
        masks = regression_freeze(self.freeze, k, p, self.family, has_z, q)
        model = RegressionMixtureEM(self.family, k, data.design, concomitant=data.concomitant,
                                    weighted=data.w is not None,
                                    min_scale=1e-10 * data.y_range,
                                    evidence=data.E is not None)
        fitting: RegressionMixtureEM | FrozenRegressionEM = model
        if masks:
            # a placeholder until each start gives the frozen values
            fitting = FrozenRegressionEM(model, {}, masks)
        engine_model, engine_data = backends.for_input(fitting, data.members(),
                                                       chunk_size=self.chunk_size)
        random_state = check_random_state(self.random_state)
        X0, y0, Z0, w0, E0 = self._init_rows(data, random_state)
        Xt0 = data.design.rows(X0)
        Zt0 = None if data.concomitant is None or Z0 is None else data.concomitant.rows(Z0)
        y_scale = float(np.std(y0)) if self.family == "gaussian" else 1.0

        def fit_one(_: int) -> EMResult:
            resp = start_responsibilities(self.family, self.init_params, k, Xt0, y0, w0,
                                          random_state)
            resp = labelled_start(resp, E0)
            init = start_params(self.family, resp, Xt0, y0, w0, Zt0, y_scale)
            if masks:
                init = given_start(init, data.design, given, data.concomitant)
                assert isinstance(fitting, FrozenRegressionEM)
                fitting.fixed = {key: np.array(value, dtype=np.float64, copy=True)
                                 for key, value in init.items() if key != "mixing"}
                if data.concomitant is not None:  # the logit's start, in own units
                    fitting.fixed["mixing_coef"] = given.get("mixing_coef", np.column_stack(
                        data.concomitant.to_original(np.asarray(init["mixing"]))))
            elif given:
                init = to_scaled(given_start(init, data.design, given, data.concomitant),
                                 data.design)
            return em(engine_model, engine_data, init, tol=float(self.tol) * data.total_weight,
                      max_iter=int(self.max_iter), accelerate=self.accelerate)

        best, _ = best_of(range(int(self.n_init)), fit_one)
        self._set_fitted(data, best, original=bool(masks))
        return self

    @staticmethod
    def _init_rows(data: RegressionData, random_state: np.random.RandomState) -> tuple[
            np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """The rows the starts are drawn on: all of in-memory data, a sample of Dask data."""
        if not data.is_dask:
            return data.X, data.y, data.Z, data.w, data.E
        import dask.array as da

        parts = [m if m.ndim == 2 else m[:, None] for m in data.members()]
        rows = backends.initialization_rows(da.concatenate(parts, axis=1), random_state)
        widths = np.cumsum([0] + [int(m.shape[1]) for m in parts])
        cols = [rows[:, a:b] for a, b in itertools.pairwise(widths)]
        X0, y0 = cols[0], cols[1] if data.y.ndim == 2 else cols[1][:, 0]
        rest = cols[2:]
        Z0 = rest.pop(0) if data.Z is not None else None
        w0 = rest.pop(0)[:, 0] if data.w is not None else None
        E0 = rest.pop(0) if data.E is not None else None
        return X0, y0, Z0, w0, E0

    def _set_fitted(self, data: RegressionData, best: EMResult, original: bool = False) -> None:
        params = best.params
        if original:  # a frozen fit holds its coefficients in the covariates' own units
            coef = np.asarray(params["coef"], dtype=float)
            self.intercept_, self.coef_ = coef[:, 0].copy(), coef[:, 1:].copy()
        else:
            self.intercept_, self.coef_ = data.design.to_original(params["coef"])
        self.__dict__.pop("scale_", None)
        self.__dict__.pop("concomitant_coef_", None)
        if self.family == "gaussian":
            self.scale_ = np.asarray(params["scale"], dtype=float).copy()
        if data.concomitant is None:
            self.weights_ = np.asarray(params["weights"], dtype=float).copy()
        else:
            a, b = data.concomitant.to_original(params["mixing"])
            self.concomitant_coef_ = np.column_stack([a, b])
            self.concomitant_coef_[0] = 0.0
            n = np.asarray(best.stats["n"], dtype=float)
            self.weights_ = n / n.sum()
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.loglik) / data.total_weight
        self.lower_bounds_ = np.array([s.loglik for s in best.steps],
                                      dtype=float) / data.total_weight
        self.n_features_in_ = int(data.design.n_columns)
        self.n_concomitant_in_ = 0 if data.concomitant is None else data.concomitant.n_columns

    # --------------------------------------------------------------- inference
    def _fitted(self) -> tuple[RegressionMixtureEM, dict[str, Any]]:
        """The model in the columns' own units and its parameters."""
        check_is_fitted(self, "coef_")
        q = int(self.n_concomitant_in_)
        model = RegressionMixtureEM(self.family, len(self.intercept_),
                                    Design.identity(self.n_features_in_),
                                    concomitant=Design.identity(q) if q else None)
        params: dict[str, Any] = {"coef": np.column_stack([self.intercept_, self.coef_])}
        if self.family == "gaussian":
            params["scale"] = self.scale_
        if q:
            params["mixing"] = self.concomitant_coef_
        else:
            params["weights"] = self.weights_
        return model, params

    def _rows(self, X: Any, concomitant: Any) -> tuple[np.ndarray, np.ndarray | None]:
        check_is_fitted(self, "coef_")
        X = as_covariates(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but RegressionMixture is "
                             f"expecting {self.n_features_in_} features as input")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinity")
        q = int(self.n_concomitant_in_)
        if concomitant is None:
            if q:
                raise ValueError("concomitant is required: the model was fitted with "
                                 f"{q} concomitant variable(s)")
            return X, None
        if not q:
            raise ValueError("concomitant was given, but the model was fitted without "
                             "concomitant variables")
        Z = as_covariates(concomitant, "concomitant")
        if Z.shape[0] != X.shape[0]:
            raise ValueError(f"concomitant has {Z.shape[0]} rows but X has {X.shape[0]}")
        if Z.shape[1] != q:
            raise ValueError(f"concomitant has {Z.shape[1]} columns, but the model was "
                             f"fitted with {q}")
        if not np.all(np.isfinite(Z)):
            raise ValueError("concomitant contains NaN or infinity")
        return X, Z

    def _log_joint(self, X: Any, y: Any, concomitant: Any) -> np.ndarray:
        X, Z = self._rows(X, concomitant)
        y, checks = check_response(self.family, y, X.shape[0])
        for bad, message in checks:
            if bool(bad):
                raise ValueError(message)
        model, params = self._fitted()
        data = (X, y) if Z is None else (X, y, Z)
        return model.log_joint(data, params)

    def _mixing(self, X: np.ndarray, Z: np.ndarray | None) -> np.ndarray:
        model, params = self._fitted()
        with np.errstate(under="ignore"):
            return np.exp(model.log_mixing(Z, params, X.shape[0]))

    def score_samples(self, X: Any, y: Any, concomitant: Any = None) -> np.ndarray:
        """Log-likelihood of each row under the mixture, shape (n_samples,)."""
        return log_normalize(self._log_joint(X, y, concomitant))[0]

    def score(self, X: Any, y: Any, concomitant: Any = None,
              sample_weight: Any = None) -> float:
        """Mean log-likelihood per row (weighted by ``sample_weight`` when given)."""
        values = self.score_samples(X, y, concomitant)
        if sample_weight is None:
            return float(np.mean(values))
        return float(np.average(values, weights=np.asarray(sample_weight, dtype=float)))

    def predict_proba(self, X: Any, y: Any, concomitant: Any = None) -> np.ndarray:
        """Posterior probability of each component for each row, shape (n_samples, K)."""
        return log_normalize(self._log_joint(X, y, concomitant))[1]

    def predict(self, X: Any, concomitant: Any = None) -> np.ndarray:
        """Expected response ``sum_k pi_k mu_k(x)``, shape (n_samples,).

        The binomial's is the success probability per trial.
        """
        X, Z = self._rows(X, concomitant)
        model, params = self._fitted()
        means = mean_response(self.family, model.linear_predictor(X, params))
        return np.sum(self._mixing(X, Z) * means, axis=1)

    def sample(self, X: Any, concomitant: Any = None, *, trials: Any = 1,
               random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw a response for each row of ``X`` from the fitted mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        concomitant : array-like of shape (n_samples, n_concomitant), optional
            Needed when the fit used concomitant variables.
        trials : int or array-like of shape (n_samples,), default 1
            Binomial: trials per row.
        random_state : int, Generator or None
            Defaults to the estimator's ``random_state``.

        Returns
        -------
        y : ndarray of shape (n_samples,) or, binomial with more than one trial,
            (n_samples, 2) as (successes, failures)
        labels : ndarray of shape (n_samples,)
            The component each row came from.
        """
        X, Z = self._rows(X, concomitant)
        rng = as_rng(self.random_state if random_state is None else random_state)
        pi = self._mixing(X, Z)
        cum = np.cumsum(pi, axis=1)
        labels = np.minimum((rng.random(X.shape[0])[:, None] > cum).sum(axis=1), pi.shape[1] - 1)
        model, params = self._fitted()
        eta = model.linear_predictor(X, params)[np.arange(X.shape[0]), labels]
        if self.family == "gaussian":
            return eta + self.scale_[labels] * rng.standard_normal(X.shape[0]), labels
        if self.family == "poisson":
            return rng.poisson(mean_response("poisson", eta)).astype(float), labels
        m = np.broadcast_to(np.asarray(trials), (X.shape[0],)).astype(np.int64)
        if np.any(m < 0):
            raise ValueError("trials must be non-negative")
        s = rng.binomial(m, mean_response("binomial", eta)).astype(float)
        return (s, labels) if np.ndim(trials) == 0 and int(trials) == 1 \
            else (np.column_stack([s, m - s]), labels)

    # ----------------------------------------------------------- model choice
    def n_parameters(self) -> int:
        """Free parameters: coefficients, Gaussian scales and the mixing part (frozen
        entries not counted)."""
        model = self._fitted()[0]
        masks = regression_freeze(self.freeze, model.n_components, int(self.n_features_in_),
                                  self.family, bool(self.n_concomitant_in_),
                                  int(self.n_concomitant_in_))
        if not masks:
            return model.n_parameters()
        return FrozenRegressionEM(model, {}, masks).n_parameters()

    def bic(self, X: Any, y: Any, concomitant: Any = None) -> float:
        """Bayesian information criterion on ``(X, y)`` (lower is better)."""
        values = self.score_samples(X, y, concomitant)
        return float(-2.0 * values.sum() + self.n_parameters() * np.log(values.size))

    def aic(self, X: Any, y: Any, concomitant: Any = None) -> float:
        """Akaike information criterion on ``(X, y)`` (lower is better)."""
        values = self.score_samples(X, y, concomitant)
        return float(-2.0 * values.sum() + 2.0 * self.n_parameters())
