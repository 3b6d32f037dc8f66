"""``emkit.MixtureModel``: a scikit-learn-style mixture of any emkit distribution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..distributions._base import Distribution, as_rng
from ..engine import EMResult, best_of, em
from ..models.mixture import MixtureEM
from ..persistence import Persistable

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

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    components_ : list of Distribution
        The fitted component distributions.
    converged_ : bool
    n_iter_ : int
        Engine iterations of the best start.
    lower_bound_ : float
        Mean log-likelihood per row of the best start (plus the components'
        log-priors divided by ``n_samples`` when a family has a prior).
    lower_bounds_ : ndarray
        The mean log-likelihood of each E-step of the best start.
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
                 random_state: Any = None):
        self.distribution = distribution
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init_params = init_params
        self.accelerate = accelerate
        self.random_state = random_state

    # ---------------------------------------------------------------- validation
    def _templates(self) -> list[Distribution]:
        dist = self.distribution
        k = self.n_components
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"n_components must be an integer >= 1, got {k!r}")
        if isinstance(dist, Distribution):
            return [dist] * int(k)
        if isinstance(dist, (list, tuple)) and dist and all(
                isinstance(d, Distribution) for d in dist):
            if k not in (1, len(dist)):
                raise ValueError(
                    f"n_components={k} but {len(dist)} distributions were given; pass "
                    "one distribution as a template or a list of n_components of them"
                )
            return list(dist)
        raise ValueError(
            "distribution must be an emkit.distributions instance or a non-empty list of "
            f"them, got {type(dist).__name__}"
        )

    def _check_params(self) -> None:
        for name in ("max_iter", "n_init"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not isinstance(self.tol, (int, float, np.number)) or not self.tol >= 0:
            raise ValueError(f"tol must be a non-negative number, got {self.tol!r}")
        if self.init_params not in INIT_PARAMS:
            raise ValueError(f"init_params must be one of {INIT_PARAMS}, "
                             f"got {self.init_params!r}")
        if self.accelerate not in (None, "squarem"):
            raise ValueError(f"accelerate must be None or 'squarem', got {self.accelerate!r}")

    @staticmethod
    def _as_matrix(X: Any) -> np.ndarray:
        if hasattr(X, "to_numpy"):
            X = X.to_numpy()
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("X must be numeric (code categories as 0, 1, 2, ...)") from None
        return X[:, None] if X.ndim == 1 else X

    @staticmethod
    def _validate(X: np.ndarray, templates: Sequence[Distribution]) -> np.ndarray:
        checked = None
        seen: set[int] = set()
        for t in templates:
            if id(t) in seen:
                continue
            seen.add(id(t))
            checked = t.validate(X)
        assert checked is not None
        return checked

    # --------------------------------------------------------------------- init
    def _initialize(self, X: np.ndarray, model: MixtureEM,
                    random_state: np.random.RandomState) -> dict[str, Any]:
        templates = model.templates
        k = len(templates)
        n = X.shape[0]
        if self.init_params == "given":
            if not all(t.is_fitted for t in templates):
                raise ValueError('init_params="given" needs a list of distributions with '
                                 "parameters (fitted or set in the constructor)")
            return model.pack(np.full(k, 1.0 / k), templates)
        if self.init_params == "kmeans":
            feats = templates[0].init_features(X)
            labels = KMeans(n_clusters=k, n_init=1,
                            random_state=random_state).fit(feats).labels_
            resp = np.zeros((n, k))
            resp[np.arange(n), labels] = 1.0
        else:  # "random", drawn as scikit-learn draws it
            resp = random_state.uniform(size=(n, k))
            resp /= resp.sum(axis=1)[:, None]
        rng = as_rng(random_state)
        nk = resp.sum(axis=0) + 10 * np.finfo(float).eps
        comps = [t.init_from_data(X, resp[:, j], rng) for j, t in enumerate(templates)]
        if model.pools:  # tied parameters: the first M-step pools the scatter
            return model.m_step({"n": nk, "components": [
                c.stats(X, resp[:, j]) for j, c in enumerate(comps)]})
        return model.pack(nk / n, comps)

    # ---------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None) -> MixtureModel:
        """Fit the mixture by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to cluster (a pandas DataFrame is accepted; categories coded as
            integers). A 1-D array is one feature.
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        X = self._as_matrix(X)
        templates = self._templates()
        if X.ndim == 2 and X.shape[0] > 0 and X.shape[1] > 0 and np.all(np.isfinite(X)):
            templates = [t.prepare(X) for t in templates]
        X = self._validate(X, templates)
        k = len(templates)
        if X.shape[0] < k:
            raise ValueError(f"n_samples={X.shape[0]} must be >= n_components={k}")
        model = MixtureEM(templates)
        random_state = check_random_state(self.random_state)
        n = X.shape[0]

        def fit_one(_: int) -> EMResult:
            init = self._initialize(X, model, random_state)
            return em(model, X, init, tol=float(self.tol) * n, max_iter=int(self.max_iter),
                      accelerate=self.accelerate)

        best, _ = best_of(range(int(self.n_init)), fit_one)
        self._model = model
        self.weights_ = np.asarray(best.params["weights"], dtype=float)
        self.components_ = model.components(best.params)
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.loglik) / n
        self.lower_bounds_ = best.logliks / n
        self.n_features_in_ = int(X.shape[1])
        return self

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit, then return the most probable component of each row, shape (n_samples,)."""
        return self.fit(X).predict(X)

    # --------------------------------------------------------------- inference
    def _log_joint(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "components_")
        X = self._validate(self._as_matrix(X), self.components_)
        model = MixtureEM(self.components_)
        return model.log_joint(X, model.pack(self.weights_, self.components_))

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of each row under the mixture, shape (n_samples,)."""
        return logsumexp(self._log_joint(X), axis=1)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per row."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component for each row, shape (n_samples, K)."""
        lj = self._log_joint(X)
        return np.exp(lj - logsumexp(lj, axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row, shape (n_samples,)."""
        return np.argmax(self._log_joint(X), axis=1)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows from the fitted mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
            The component each row came from.
        """
        check_is_fitted(self, "components_")
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        rng = as_rng(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        X = np.concatenate([c.sample(int(m), rng) for c, m in zip(self.components_, counts,
                                                                    strict=True)])
        labels = np.repeat(np.arange(len(counts)), counts)
        return X, labels

    # ----------------------------------------------------------- model choice
    def n_parameters(self) -> int:
        """Free parameters: ``K - 1`` weights plus the components' (shared ones once)."""
        check_is_fitted(self, "components_")
        return MixtureEM(self.components_).n_parameters(self.components_)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on ``X`` (lower is better)."""
        X = self._as_matrix(X)
        n = X.shape[0]
        return float(-2.0 * self.score(X) * n + self.n_parameters() * np.log(n))

    def aic(self, X: Any) -> float:
        """Akaike information criterion on ``X`` (lower is better)."""
        X = self._as_matrix(X)
        return float(-2.0 * self.score(X) * X.shape[0] + 2.0 * self.n_parameters())

