"""The contract every emkit distribution keeps, and what they share.

A distribution is a value: its parameters are constructor arguments (so
``get_params`` and saving work), and fitting returns a *new* object. The EM
pieces follow pomegranate v1's ``summarize`` / ``from_summaries``:

``stats(X, weights)``
    weighted sufficient statistics, a dict of arrays that is **additive over
    rows**: the statistics of a data set equal the sum of those of its pieces;
``from_stats(stats)``
    the M-step: the parameters maximizing the expected complete-data
    log-likelihood (or log-posterior when a prior is given), as a new object.

Statistics may depend on the parameters they are computed at (a Gaussian
centres its second moments on its current mean; a Student-t computes its latent
scale weights), which keeps them additive, since those parameters are constant
during an E-step.

For the engine a distribution's parameters are also a plain tree of arrays,
``parameters()``, and ``with_parameters(tree)`` rebuilds the distribution, so
SQUAREM can extrapolate them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from ..persistence import Persistable
from .missing import MissingEntries, check_missing_values

__all__ = ["Distribution", "as_rng", "check_weights", "column_sums", "positive_interval",
           "EPS_COUNT"]

#: Added to weighted counts before dividing, as scikit-learn does, so that a
#: mixture component that lost all its rows yields finite parameters.
EPS_COUNT = 10.0 * np.finfo(float).eps


def as_rng(rng: Any) -> np.random.Generator:
    """A NumPy ``Generator`` from ``None``, a seed, a ``RandomState`` or a ``Generator``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(0, 2**31 - 1))
    return np.random.default_rng(rng)


def check_weights(weights: Any, n: int) -> np.ndarray:
    """Row weights as a float vector of length ``n`` (``None`` means all ones)."""
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    return w


def column_sums(resp: np.ndarray) -> np.ndarray:
    """``resp.sum(axis=0)`` as one BLAS product (several times faster on tall arrays)."""
    return np.ones(resp.shape[0]) @ resp


def positive_interval(bounds: Any, owner: str, name: str) -> tuple[float, float]:
    """``bounds`` as floats ``(low, high)`` with ``0 < low < high``.

    Raises
    ------
    ValueError
        Naming ``owner`` (the family) and ``name`` (its argument) otherwise.
    """
    lo, hi = map(float, bounds)
    if not 0 < lo < hi:
        raise ValueError(f"{owner}: {name} must satisfy 0 < low < high, got {bounds}")
    return lo, hi


def _as_array(value: Any) -> np.ndarray | None:
    """``None`` or a float array; a float array is returned as is (keeps identity)."""
    return None if value is None else np.asarray(value, dtype=float)



@functools.cache
def _init_parameter_names(init: Callable[..., None]) -> tuple[str, ...]:
    """The constructor's parameter names (``self`` left out), read once per class."""
    return tuple(p for p in inspect.signature(init).parameters if p != "self")

class Distribution(BaseEstimator, Persistable):
    """Base class of emkit's distributions (abstract).

    Subclasses set ``_parameter_names`` (the constructor arguments that are
    fitted parameters) and implement ``_log_prob``, ``stats``, ``_fit_stats``,
    ``n_parameters``, ``sample`` and ``_check_support``.

    Rows are observations and columns are features: ``X`` has shape
    (n_samples, n_features). Univariate families model the columns as
    independent, each with its own parameters.
    """

    _parameter_names: ClassVar[tuple[str, ...]] = ()
    #: True when one M-step is the exact maximizer (no regularization, no step of
    #: an iteration towards it). What an inexact M-step may cost EM's monotone
    #: guarantee is :meth:`m_step_slack`, which the engine's guard allows.
    exact_m_step: ClassVar[bool] = True

    # ----------------------------------------------------------------- parameters
    @classmethod
    def _get_param_names(cls) -> list[str]:
        # scikit-learn's get_params calls this for every copy of a distribution (an
        # HMM E-step builds K of them): the signature is read once per class
        return list(_init_parameter_names(cls.__init__))

    @property
    def is_fitted(self) -> bool:
        """True when every parameter has a value."""
        return all(getattr(self, name) is not None for name in self._parameter_names)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            missing = [n for n in self._parameter_names if getattr(self, n) is None]
            raise ValueError(
                f"{type(self).__name__} has no value for {', '.join(missing)}; pass them to "
                "the constructor or fit the distribution first"
            )

    def parameters(self) -> dict[str, Any]:
        """The fitted parameters as a dict of float arrays (the engine's tree)."""
        self._check_fitted()
        return {name: np.asarray(getattr(self, name), dtype=float)
                for name in self._parameter_names}

    def with_parameters(self, params: dict[str, Any]) -> Distribution:
        """A new distribution with these parameters and this one's other settings."""
        kwargs = self.get_params(deep=False)
        kwargs.update(params)
        return type(self)(**kwargs)

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Whether ``params`` lie in the parameter space (default: all finite)."""
        return all(np.all(np.isfinite(v)) for v in params.values())

    # ---------------------------------------------------------------- validation
    def validate(self, X: Any, *, allow_missing: bool = False) -> np.ndarray:
        """Check ``X`` against the family's support and return it as a 2-D float array.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,)
            A 1-D array is one feature.
        allow_missing : bool, default False
            Accept NaN as a missing entry (an HMM's frames): the observed
            entries are checked against the support; infinite values are
            still refused.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features)

        Raises
        ------
        ValueError
            When ``X`` is empty, not numeric, has NaN (unless ``allow_missing``)
            or inf, has a value outside the family's support, or has a
            different number of features than the fitted parameters.
        """
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{type(self).__name__}: X must be numeric") from None
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(
                f"{type(self).__name__}: X must be a non-empty 2-D array, got shape {X.shape}"
            )
        missing = None
        if allow_missing:
            check_missing_values(X, f"{type(self).__name__}: X")
            missing = MissingEntries.of(X)
        elif not np.all(np.isfinite(X)):
            raise ValueError(f"{type(self).__name__}: X contains NaN or infinite values")
        width = self.n_features if self.is_fitted else None
        if width is not None and X.shape[1] != width:
            raise ValueError(
                f"{type(self).__name__}: X has {X.shape[1]} features but the distribution "
                f"has {width}"
            )
        # a missing entry takes an observed value of its column: only those are checked
        self._check_support(X if missing is None else missing.support_filled())
        return X

    def _check_support(self, X: np.ndarray) -> None:
        """Raise ``ValueError`` naming the problem when ``X`` is outside the support."""

    @property
    def n_features(self) -> int | None:
        """Number of columns the distribution models (``None`` before fitting)."""
        first = getattr(self, self._parameter_names[0])
        if first is None:
            return None
        return int(np.atleast_1d(np.asarray(first)).shape[0])

    # ------------------------------------------------------------------- density
    def log_prob(self, X: Any) -> np.ndarray:
        """Log-density (or log-mass) of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
        """
        self._check_fitted()
        return self._log_prob(self.validate(X))

    def _log_prob(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def log_prob_components(cls, components: list[Distribution], X: np.ndarray) -> np.ndarray:
        """Log-density of each row under each component, shape (n_samples, K).

        ``X`` is already validated. Families override this with one vectorized
        computation; the default stacks the components' ``_log_prob``.
        """
        return np.column_stack([c._log_prob(X) for c in components])

    @classmethod
    def stats_components(cls, components: list[Distribution], X: np.ndarray,
                         resp: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Statistics of each component, weighting the rows by the columns of ``resp``.

        Parameters
        ----------
        components : list of K distributions of this family
        X : numpy.ndarray of shape (n_samples, n_features)
            Validated data.
        resp : numpy.ndarray of shape (n_samples, K)
            Non-negative row weights of each component.

        Returns
        -------
        list of K dicts of numpy.ndarray, each as :meth:`stats` returns.

        Families override this with one vectorized pass; the default calls each
        component's :meth:`stats`.
        """
        return [c.stats(X, resp[:, k]) for k, c in enumerate(components)]

    @classmethod
    def fit_components(cls, templates: list[Distribution], stats: list[dict],
                       frozen: list[dict[str, Any]] | None = None) -> list[Distribution]:
        """The M-step of several components of this family, fitted as one group.

        Parameters
        ----------
        templates : list of K distributions of this family
            The components' settings; when they share a :meth:`pool_key` they
            share parameters and are fitted together (:meth:`from_stats_pooled`).
        stats : list of K dicts
            Each component's summed statistics.
        frozen : list of K dicts, optional
            Per component, parameters to keep at the given values (name ->
            value); the others are re-fitted.

        Returns
        -------
        list of K Distribution

        The default fits each component on its own (or the pool together) and
        then puts the frozen values back, exact for families whose parameters
        are estimated separately (a Poisson rate, a categorical table); families
        whose parameters depend on each other (a Gaussian's covariance on its
        mean) override it.
        """
        if len(templates) > 1 and templates[0].pool_key() is not None:
            fitted = templates[0].from_stats_pooled(list(stats))
        else:
            fitted = [t.from_stats(s) for t, s in zip(templates, stats, strict=True)]
        if frozen is not None:
            fitted = [f.with_parameters(keep) if keep else f
                      for f, keep in zip(fitted, frozen, strict=True)]
        return fitted

    @classmethod
    def log_prior_components(cls, components: list[Distribution], live: np.ndarray) -> float:
        """Summed log prior density of the components marked ``live`` (K,) (bool)."""
        return float(sum(c.log_prior() for c, keep in zip(components, live, strict=True)
                         if keep))

    @classmethod
    def frame_components(cls, components: list[Distribution],
                         X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Optional fast path: densities as ``exp(log_prob - shift)`` without logarithms.

        Returns ``(frame, shift)`` of shapes (n_samples, K) and (n_samples,), or
        ``None`` (the default) when the family has no such path and the caller
        should exponentiate :meth:`log_prob_components`. Discrete families
        whose probabilities are table look-ups override it.
        """
        return None

    # ------------------------------------------------- missing entries (NaN)
    @classmethod
    def log_prob_components_missing(cls, components: list[Distribution], X: np.ndarray,
                                    missing: MissingEntries) -> np.ndarray:
        """:meth:`log_prob_components` of rows with missing entries (NaN), shape (n, K).

        The log-density of each row's observed entries: 0 for a row with none
        (it is left out). The default refuses a partly observed row
        (:meth:`MissingEntries.refuse_partial`): a family modelling its columns
        jointly has no marginal of some of them; a one-column family never has
        one, and the Gaussian uses the marginal of the observed block.
        """
        missing.refuse_partial(cls.__name__)
        out = np.zeros((X.shape[0], len(components)))
        keep = ~missing.empty
        if np.any(keep):
            out[keep] = cls.log_prob_components(components, X[keep])
        return out

    @classmethod
    def stats_components_missing(cls, components: list[Distribution], X: np.ndarray,
                                 resp: np.ndarray,
                                 missing: MissingEntries) -> list[dict[str, np.ndarray]]:
        """:meth:`stats_components` of rows with missing entries: the expected statistics.

        A row with no observed entry contributes nothing; the default takes the
        other rows as they are, refusing partly observed ones as
        :meth:`log_prob_components_missing` does (the Gaussian adds the
        conditional expectations of the missing entries).
        """
        missing.refuse_partial(cls.__name__)
        keep = ~missing.empty
        if np.any(keep):
            return cls.stats_components(components, X[keep], resp[keep])
        # no row left: the statistics of one in-support row with weight 0
        return cls.stats_components(components, missing.support_filled()[:1],
                                    np.zeros((1, len(components))))

    @classmethod
    def frame_components_missing(cls, components: list[Distribution], X: np.ndarray,
                                 missing: MissingEntries
                                 ) -> tuple[np.ndarray, np.ndarray] | None:
        """Optional fast path: :meth:`frame_components` of rows with missing entries
        (the default, ``None``: exponentiate :meth:`log_prob_components_missing`)."""
        return None

    def log_prior(self) -> float:
        """Log-density of the parameters under the conjugate prior (0 without one)."""
        return 0.0

    # ------------------------------------------------------------------------ EM
    def stats(self, X: np.ndarray, weights: Any = None) -> dict[str, np.ndarray]:
        """Weighted sufficient statistics of the rows of ``X`` (additive over rows).

        Parameters
        ----------
        X : numpy.ndarray of shape (n_samples, n_features)
            Validated data.
        weights : array-like of shape (n_samples,) or None
            Non-negative row weights (a mixture's responsibilities); ``None`` is
            all ones.

        Returns
        -------
        dict of numpy.ndarray
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def m_step_slack(self, stats: dict[str, np.ndarray]) -> float:
        """How far the M-step from ``stats`` may fall short of maximizing this
        distribution's part of EM's expected complete-data log-likelihood (plus
        its log prior), i.e. how much it may lower the likelihood in one EM step.

        The default, 0, is right for an exact M-step and for a generalized-EM
        step that never lowers that expectation (Weibull's and
        NegativeBinomial's minorize-maximize steps); Gamma's shape is solved by
        Newton's method to 1e-14 relative, far below rounding. Families that
        perturb the maximizer on purpose (``reg_covar``) override it with the
        exact cost; the monotonicity guard (:mod:`emkit.engine.run`) allows that
        on top of rounding.
        """
        return 0.0

    @classmethod
    def m_step_slack_components(cls, templates: list[Distribution], stats: list[dict],
                                frozen: list[dict[str, Any]] | None = None) -> float:
        """:meth:`m_step_slack` of components fitted together by :meth:`fit_components`
        (the default: the sum of each one's; families with shared parameters or a
        joint M-step override it)."""
        return float(sum(t.m_step_slack(s) for t, s in zip(templates, stats, strict=True)))

    def from_stats(self, stats: dict[str, np.ndarray]) -> Distribution:
        """The M-step: a new distribution fitted to ``stats``."""
        return self.with_parameters(self._fit_stats(stats))

    def _fit_stats(self, stats: dict[str, np.ndarray]) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover - abstract

    def init_from_data(self, X: np.ndarray, weights: Any = None,
                       rng: Any = None) -> Distribution:
        """A first estimate from weighted data (used to start EM).

        The default is one M-step on the statistics; families whose statistics
        need current parameters override it.
        """
        return self.from_stats(self.stats(X, check_weights(weights, X.shape[0])))

    def fit(self, X: Any, weights: Any = None, *, tol: float = 1e-8,
            max_iter: int = 200) -> Distribution:
        """Maximum-likelihood (or MAP) fit to weighted data, returned as a new object.

        Families with a closed-form M-step converge in one EM step; the
        Student-t needs several (its scale weights are latent), run by
        :func:`emkit.em`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        weights : array-like of shape (n_samples,) or None
        tol : float, default 1e-8
            Absolute tolerance on the total log-likelihood change.
        max_iter : int, default 200

        Returns
        -------
        Distribution
        """
        from ..engine import em

        X = self.validate(X)
        w = check_weights(weights, X.shape[0])
        start = self.init_from_data(X, w)
        model = _SingleDistributionEM(start)
        result = em(model, (X, w), start.parameters(), tol=tol, max_iter=max_iter)
        return start.with_parameters(result.params)

    # ------------------------------------------------------------------ the rest
    @property
    def n_parameters(self) -> int:
        """Number of free parameters (for BIC/AIC).

        The default counts one per fitted parameter and column, right for the
        univariate families whose parameters are all free (a rate; a shape and a
        scale); families with constrained or shared parameters override it.
        """
        self._check_fitted()
        return len(self._parameter_names) * int(self.n_features or 0)

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        """Draw ``n`` rows, shape (n, n_features)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def prepare(self, X: np.ndarray) -> Distribution:
        """This distribution with settings that depend on the data resolved (default: itself)."""
        return self

    def init_features(self, X: np.ndarray) -> np.ndarray:
        """Numeric features on which a mixture runs k-means to initialize (default ``X``)."""
        return X

    def pool_key(self) -> Any:
        """Non-``None`` when mixture components of this kind share parameters.

        Components whose keys are equal are fitted together by
        :meth:`from_stats_pooled` (a tied-covariance Gaussian uses it).
        """
        return None

    def from_stats_pooled(self, stats_list: list[dict]) -> list[Distribution]:
        """M-step for components that share parameters (see :meth:`pool_key`)."""
        return [self.from_stats(s) for s in stats_list]  # pragma: no cover - default


class _SingleDistributionEM:
    """EM model for one distribution on weighted rows: data is ``(X, weights)``."""

    def __init__(self, template: Distribution):
        # the engine's rounding-level monotone_rtol, with what the M-step may cost
        # (a reg_covar, see Distribution.m_step_slack) allowed on top
        self.template = template

    def monotone_slack(self, stats: dict) -> float:
        return self.template.m_step_slack(stats)

    def e_step(self, data: tuple[np.ndarray, np.ndarray],
               params: dict[str, Any]) -> tuple[dict, float]:
        X, w = data
        dist = self.template.with_parameters(params)
        loglik = float(w @ dist._log_prob(X)) + dist.log_prior()
        return dist.stats(X, w), loglik

    def m_step(self, stats: dict) -> dict[str, Any]:
        return self.template.from_stats(stats).parameters()
