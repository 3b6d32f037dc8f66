"""``emkit.SurvivalMixture``: mixtures of right-censored survival distributions, with cure."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtri
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import backends
from ..distributions._base import as_rng
from ..engine import EMResult, best_of, em
from ..models.survival.families import FAMILIES, PARAMETERS, log_density_and_survival
from ..models.survival.frozen import FrozenSurvivalEM
from ..models.survival.model import SurvivalMixtureEM
from ..numerics.logsumexp import log_normalize
from ..persistence import Persistable
from ._fitting_keywords import check_fitting_keywords
from ._survival_init import start_params
from ._survival_inputs import SurvivalData, as_vector, check_survival
from ._survival_supervision import check_given_starts, given_start, survival_freeze

__all__ = ["SurvivalMixture"]

INIT_PARAMS = ("random",)


class SurvivalMixture(BaseEstimator, Persistable):
    """Finite mixture of parametric survival distributions for right-censored times, by EM.

    A subject belongs to component ``k`` with probability ``weights_[k]`` and then
    fails at a time drawn from that component's distribution; with ``cure=True``
    it is instead, with probability ``cure_fraction_``, never going to fail (a
    component with ``S(t) = 1``). A row is a time and an event indicator: 1, the
    failure was observed at that time; 0, the subject was still alive then
    (right-censored). Row ``i`` contributes ``sum_k pi_k f_k(t_i)^d_i S_k(t_i)^(1 - d_i)``
    to the likelihood.

    Parameters
    ----------
    distribution : {"weibull", "exponential", "lognormal"}, default "weibull"
        The family of every component.
    n_components : int, default 1
        Components that fail (the cure component is not counted).
    cure : bool, default False
        Add a cure fraction: a component that never fails.
    max_iter : int, default 100
        Most EM iterations per start.
    tol : float, default 1e-3
        Convergence threshold on the change of the **mean** log-likelihood per row
        (per unit of ``sample_weight``), as scikit-learn's; the engine receives
        ``tol * n_samples``.
    n_init : int, default 1
        Number of starts; the one with the highest log-likelihood is kept. A start
        whose component empties is skipped.
    init_params : {"random"}, default "random"
        A start groups the observed failure times by a one-dimensional k-means on
        ``log t`` from ``n_components`` failure times drawn at random, and starts
        each component at its group's moment estimates.
    accelerate : {None, "squarem"}, default None
        Passed to :func:`emkit.em`.
    random_state : int, RandomState or None, default None
        Seeds the starts and :meth:`sample`.
    chunk_size : int or None, default None
        Rows per E-step call on in-memory data; Dask input always runs partition
        by partition.
    shape_bounds : tuple of float, default (1e-3, 1e3)
        Range of the Weibull shapes.
    weights_init : array-like of shape (n_components,) or None, default None
        The start's weights of the failing components (as ``weights_``: with
        ``cure=True`` they sum to ``1 - cure_fraction_init``, or to less than 1,
        the rest being the cure fraction).
    cure_fraction_init : float or None, default None
        With ``cure=True``: the start's cure fraction, in (0, 1).
    rate_init : array-like of shape (n_components,) or None, default None
        Exponential: the start's rates.
    shape_init, scale_init : array-like of shape (n_components,) or None, default None
        Weibull: the start's shapes and scales.
    meanlog_init, sdlog_init : array-like of shape (n_components,) or None, default None
        Log-normal: the start's ``meanlog`` and ``sdlog``. Each ``*_init`` left None
        takes the drawn start's value.
    freeze : dict or None, default None
        Parameters kept at their start (the ``*_init`` values, else the drawn
        start's): ``"weights_"``, ``"cure_fraction_"`` and the family's
        ``"rate_"``, ``"shape_"``, ``"scale_"``, ``"meanlog_"``, ``"sdlog_"``, each
        ``True`` or a boolean mask of shape (n_components,). The free entries get
        the exact constrained M-step (closed form for the rate, for a Weibull
        scale at a frozen shape, and for the weights, the free ones sharing the
        free mass; a minorize-maximize step of a Weibull shape at a frozen scale;
        the log-normal's safeguarded Newton or data-augmentation step over its
        free coordinate); see :mod:`emkit.models.survival.frozen`. A mask of the
        wrong shape or a freeze that leaves nothing to fit is a ``ValueError``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixing weights of the failing components, ordered by their median time
        (kept in the given order when the fit had ``labels``, ``priors``,
        ``freeze`` or an ``*_init``, so that component ``k`` stays the one they
        name); with a cure fraction they sum to ``1 - cure_fraction_``.
    cure_fraction_ : float
        Only with ``cure=True``: the probability of never failing.
    rate_ : ndarray of shape (n_components,)
        Exponential: ``S_k(t) = exp(-rate_k t)``.
    shape_, scale_ : ndarray of shape (n_components,)
        Weibull: ``S_k(t) = exp(-(t / scale_k)^shape_k)``.
    meanlog_, sdlog_ : ndarray of shape (n_components,)
        Log-normal: ``log t ~ N(meanlog_k, sdlog_k^2)``.
    median_survival_ : float
        The time ``t`` with mixture ``S(t) = 1/2``; ``inf`` when the cure fraction is
        at least 1/2.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per row (per unit of weight) of the best start.
    lower_bounds_ : ndarray of shape (n_iter_,)
        The same after each iteration of the best start.

    Notes
    -----
    The E-step returns additive statistics, so fits run in chunks and on Dask
    partitions. The exponential M-step is closed form; the Weibull's is a
    minorize-maximize step of the shape (as :class:`emkit.distributions.Weibull`)
    and the log-normal's a safeguarded Newton step on the component's censored
    log-likelihood (or the complete-data step when that guarantees more); each
    raises EM's ``Q``, so the log-likelihood never falls. See
    :mod:`emkit.models.survival.families` and :mod:`emkit.models.survival.lognormal`.

    With several components convergence is EM's usual linear rate; pass
    ``accelerate="squarem"`` or a lower ``tol`` when the estimates matter to more
    than three digits.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import SurvivalMixture
    >>> rng = np.random.default_rng(0)
    >>> failure = rng.exponential(2.0, 2000)
    >>> censor = rng.exponential(4.0, 2000)
    >>> model = SurvivalMixture("exponential").fit(np.minimum(failure, censor),
    ...                                            (failure <= censor).astype(int))
    >>> round(float(model.rate_[0]), 1)
    0.5
    """

    def __init__(self, distribution: str = "weibull", n_components: int = 1, *,
                 cure: bool = False, max_iter: int = 100, tol: float = 1e-3,
                 n_init: int = 1, init_params: str = "random",
                 accelerate: str | None = None, random_state: Any = None,
                 chunk_size: int | None = None,
                 shape_bounds: tuple[float, float] = (1e-3, 1e3),
                 weights_init: Any = None, cure_fraction_init: float | None = None,
                 rate_init: Any = None, shape_init: Any = None, scale_init: Any = None,
                 meanlog_init: Any = None, sdlog_init: Any = None,
                 freeze: dict | None = None):
        self.distribution = distribution
        self.n_components = n_components
        self.cure = cure
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init_params = init_params
        self.accelerate = accelerate
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.shape_bounds = shape_bounds
        self.weights_init = weights_init
        self.cure_fraction_init = cure_fraction_init
        self.rate_init = rate_init
        self.shape_init = shape_init
        self.scale_init = scale_init
        self.meanlog_init = meanlog_init
        self.sdlog_init = sdlog_init
        self.freeze = freeze

    # ---------------------------------------------------------------- validation
    def _check_params(self) -> None:
        if self.distribution not in FAMILIES:
            raise ValueError(f"distribution must be one of {FAMILIES}, "
                             f"got {self.distribution!r}")
        check_fitting_keywords(self, ("n_components", "max_iter", "n_init"), INIT_PARAMS)
        if not isinstance(self.cure, (bool, np.bool_)):
            raise ValueError(f"cure must be True or False, got {self.cure!r}")
        lo, hi = (float(b) for b in self.shape_bounds)
        if not 0 < lo < hi < np.inf:
            raise ValueError(f"shape_bounds must be (low, high) with 0 < low < high, "
                             f"got {self.shape_bounds!r}")

    def _model(self, weighted: bool = False, evidence: bool = False) -> SurvivalMixtureEM:
        lo, hi = (float(b) for b in self.shape_bounds)
        return SurvivalMixtureEM(self.distribution, int(self.n_components),
                                 cure=bool(self.cure), weighted=weighted, shape_bounds=(lo, hi),
                                 evidence=evidence)

    # ---------------------------------------------------------------------- fit
    def fit(self, time: Any, event: Any, *, sample_weight: Any = None, labels: Any = None,
            priors: Any = None) -> SurvivalMixture:
        """Fit the mixture by EM.

        Parameters
        ----------
        time : array-like of shape (n_samples,)
            Failure or censoring times, strictly positive; a Dask array runs the
            E-steps on its partitions.
        event : array-like of shape (n_samples,)
            1 where the failure was observed at ``time``, 0 where the row was
            right-censored there.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights (a weight of 2 counts as the row twice).
        labels : array-like of shape (n_samples,), optional
            Known components, -1 (or NaN) unknown; with ``cure=True`` the label
            ``n_components`` is "cured" (only a censored row may have it). Those
            rows keep one-hot responsibilities throughout, and the start's groups
            are renamed to agree with them.
        priors : array-like of shape (n_samples, n_components [+ 1]), optional
            Non-negative soft evidence multiplying each row's posterior (a row of
            ones is no evidence), the cure component last. With Dask ``time``,
            ``labels`` and ``priors`` may be NumPy or Dask and travel to the
            partitions with their rows. ``lower_bound_`` is then the mean of
            ``log sum_k e_ik pi_k L_ik``, ``e`` the evidence.

        Returns
        -------
        self
        """
        self._check_params()
        k, cure = int(self.n_components), bool(self.cure)
        data = check_survival(time, event, sample_weight, distribution=self.distribution,
                              n_components=k, labels=labels, priors=priors, cure=cure)
        model = self._model(data.weighted, evidence=data.evidence > 0)
        given = check_given_starts(self, k, self.distribution, cure, model.shape_bounds)
        masks = survival_freeze(self.freeze, k, self.distribution, cure)
        fitting: SurvivalMixtureEM | FrozenSurvivalEM = model
        if masks:
            fitting = FrozenSurvivalEM(model, {}, masks)  # each start sets the frozen values
        engine_model, engine_data = backends.for_input(fitting, data.data,
                                                       chunk_size=self.chunk_size)
        random_state = check_random_state(self.random_state)
        rows = self._init_rows(data, random_state)
        t0, d0 = rows[:, 0], rows[:, 1]
        w0 = rows[:, 2] if data.weighted else None
        e0 = rows[:, -data.evidence:] if data.evidence else None
        bounds = model.shape_bounds

        def fit_one(_: int) -> EMResult:
            init = start_params(self.distribution, k, cure, t0, d0, w0,
                                random_state, shape_bounds=bounds, evidence=e0)
            if given or masks:
                init = given_start(init, given, k, cure)
            if isinstance(fitting, FrozenSurvivalEM):
                fitting.fixed = {key: np.array(value, dtype=np.float64, copy=True)
                                 for key, value in init.items()}
            return em(engine_model, engine_data, init, tol=float(self.tol) * data.total_weight,
                      max_iter=int(self.max_iter), accelerate=self.accelerate)

        best, _ = best_of(range(int(self.n_init)), fit_one)
        keep_order = bool(given or masks or data.evidence)
        self._set_fitted(data, best, keep_order)
        return self

    @staticmethod
    def _init_rows(data: SurvivalData, random_state: np.random.RandomState) -> np.ndarray:
        """The rows the starts are drawn on: all of in-memory data, a sample of Dask data."""
        if not data.is_dask:
            return np.asarray(data.data)
        return np.asarray(backends.initialization_rows(data.data, random_state))

    def _set_fitted(self, data: SurvivalData, best: EMResult, keep_order: bool = False) -> None:
        params = best.params
        k = int(self.n_components)
        names = PARAMETERS[self.distribution]
        values = {name: np.asarray(params[name], dtype=float) for name in names}
        weights = np.asarray(params["weights"], dtype=float)
        for name in ("rate_", "shape_", "scale_", "meanlog_", "sdlog_", "cure_fraction_"):
            self.__dict__.pop(name, None)
        order = (np.arange(k) if keep_order
                 else np.argsort(self._quantiles(values, 0.5), kind="stable"))
        for name in names:
            setattr(self, name + "_", values[name][order].copy())
        self.weights_ = weights[:k][order].copy()
        if self.cure:
            self.cure_fraction_ = float(weights[k])
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.loglik) / data.total_weight
        self.lower_bounds_ = np.array([s.loglik for s in best.steps],
                                      dtype=float) / data.total_weight
        self.median_survival_ = self._median()

    # --------------------------------------------------------------- inference
    def _params(self) -> dict[str, Any]:
        check_is_fitted(self, "weights_")
        params: dict[str, Any] = {name: getattr(self, name + "_")
                                  for name in PARAMETERS[self.distribution]}
        w = np.asarray(self.weights_, dtype=float)
        params["weights"] = np.append(w, self.cure_fraction_) if self.cure else w
        return params

    def _quantiles(self, values: dict[str, np.ndarray], p: float) -> np.ndarray:
        """Each component's time ``t`` with ``S_k(t) = p``, shape (K,)."""
        if self.distribution == "exponential":
            return -np.log(p) / values["rate"]
        if self.distribution == "weibull":
            return values["scale"] * (-np.log(p)) ** (1.0 / values["shape"])
        return np.exp(values["meanlog"] + values["sdlog"] * ndtri(1.0 - p))

    def _median(self) -> float:
        cure = float(self.cure_fraction_) if self.cure else 0.0
        if cure >= 0.5:
            return float("inf")
        w = np.asarray(self.weights_, dtype=float)
        w = w / w.sum()
        p = (0.5 - cure) / (1.0 - cure)  # S of the failing part at the mixture's median
        params = self._params()
        q = self._quantiles(params, p)
        lo, hi = float(np.log(q.min())), float(np.log(q.max()))
        if hi - lo <= 1e-14 * max(1.0, abs(lo)):
            return float(np.exp(lo))

        def gap(log_t: float) -> float:
            t = np.array([np.exp(log_t)])
            log_s = log_density_and_survival(self.distribution, params, t)[1]
            return float(np.exp(log_s[0]) @ w) - p

        return float(np.exp(brentq(gap, lo, hi, xtol=1e-14, rtol=1e-14)))

    def _times(self, t: Any) -> np.ndarray:
        t = as_vector(np.atleast_1d(np.asarray(t, dtype=float)), "t")
        if not np.all(np.isfinite(t)) or np.any(t <= 0):
            raise ValueError("t must be finite and strictly positive")
        return t

    def survival_function(self, t: Any) -> np.ndarray:
        """The mixture's survival function ``S(t) = sum_k pi_k S_k(t) (+ cure)``.

        Parameters
        ----------
        t : array-like of shape (n_times,)
            Positive times.

        Returns
        -------
        ndarray of shape (n_times,)
        """
        params = self._params()
        t = self._times(t)
        log_s = log_density_and_survival(self.distribution, params, t)[1]
        s = np.exp(log_s) @ np.asarray(self.weights_, dtype=float)
        return s + (float(self.cure_fraction_) if self.cure else 0.0)

    def hazard(self, t: Any) -> np.ndarray:
        """The mixture's hazard ``f(t) / S(t)``, shape (n_times,) for ``t`` of shape (n_times,)."""
        params = self._params()
        t = self._times(t)
        log_f, log_s = log_density_and_survival(self.distribution, params, t)
        with np.errstate(divide="ignore"):
            log_w = np.log(np.asarray(params["weights"], dtype=float))
        if self.cure:
            log_f = np.column_stack([log_f, np.full(t.size, -np.inf)])
            log_s = np.column_stack([log_s, np.zeros(t.size)])
        num = log_normalize(log_f + log_w)[0]
        den = log_normalize(log_s + log_w)[0]
        return np.asarray(np.exp(num - den))

    def _log_joint(self, time: Any, event: Any) -> np.ndarray:
        data = check_survival(time, event, distribution=self.distribution, fitting=False)
        if data.is_dask:
            raise ValueError("time: pass in-memory arrays to score or predict")
        return self._model().log_joint(data.data, self._params())

    def score_samples(self, time: Any, event: Any) -> np.ndarray:
        """Log-likelihood of each row, ``log sum_k pi_k f_k^d S_k^(1-d)``, shape (n_samples,)."""
        return log_normalize(self._log_joint(time, event))[0]

    def score(self, time: Any, event: Any, sample_weight: Any = None) -> float:
        """Mean log-likelihood per row (weighted by ``sample_weight`` when given)."""
        values = self.score_samples(time, event)
        if sample_weight is None:
            return float(np.mean(values))
        return float(np.average(values, weights=np.asarray(sample_weight, dtype=float)))

    def predict_proba(self, time: Any, event: Any) -> np.ndarray:
        """Posterior probability of each component for each row.

        Returns
        -------
        ndarray of shape (n_samples, n_components) or, with a cure fraction,
        (n_samples, n_components + 1), the last column the probability of being cured.
        """
        return log_normalize(self._log_joint(time, event))[1]

    def sample(self, n_samples: int = 1, *,
               random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw failure times from the fitted mixture (no censoring).

        Parameters
        ----------
        n_samples : int, default 1
        random_state : int, Generator or None
            Defaults to the estimator's ``random_state``.

        Returns
        -------
        time : ndarray of shape (n_samples,)
            ``inf`` for cured subjects.
        labels : ndarray of shape (n_samples,)
            The component of each draw (``n_components`` for the cured).
        """
        params = self._params()
        rng = as_rng(self.random_state if random_state is None else random_state)
        pi = np.asarray(params["weights"], dtype=float)
        labels = np.minimum(np.searchsorted(np.cumsum(pi), rng.random(n_samples), side="right"),
                            pi.size - 1)
        k = int(self.n_components)
        j = np.minimum(labels, k - 1)
        if self.distribution == "exponential":
            t = rng.exponential(1.0 / self.rate_[j])
        elif self.distribution == "weibull":
            t = self.scale_[j] * rng.weibull(self.shape_[j])
        else:
            t = np.exp(self.meanlog_[j] + self.sdlog_[j] * rng.standard_normal(n_samples))
        return np.where(labels >= k, np.inf, t), labels

    # ----------------------------------------------------------- model choice
    def n_parameters(self) -> int:
        """Free parameters: each component's, and the weights (cure fraction included);
        frozen entries not counted."""
        check_is_fitted(self, "weights_")
        masks = survival_freeze(self.freeze, int(self.n_components), self.distribution,
                                bool(self.cure))
        if not masks:
            return self._model().n_parameters()
        return FrozenSurvivalEM(self._model(), {}, masks).n_parameters()

    def bic(self, time: Any, event: Any) -> float:
        """Bayesian information criterion on ``(time, event)`` (lower is better)."""
        values = self.score_samples(time, event)
        return float(-2.0 * values.sum() + self.n_parameters() * np.log(values.size))

    def aic(self, time: Any, event: Any) -> float:
        """Akaike information criterion on ``(time, event)`` (lower is better)."""
        values = self.score_samples(time, event)
        return float(-2.0 * values.sum() + 2.0 * self.n_parameters())
