"""``MclustMixture``: a Gaussian mixture with one of mclust's fourteen covariance models.

A scikit-learn-style estimator (``fit``, ``predict``, ``predict_proba``,
``score``, ``bic``, ``aic``, ``sample`` and the fitted ``weights_``, ``means_``,
``covariances_``) whose M-step keeps the covariances in the chosen family
``Sigma_k = lambda_k D_k A_k D_k^T`` (see :mod:`emkit.gaussian.constrained`).
:func:`emkit.select_model` fits a grid of these and returns the best.

Sign conventions: ``bic`` and ``aic`` follow scikit-learn (``-2 loglik + penalty``,
lower is better). mclust prints ``2 loglik - npar log n`` (higher is better), the
negative of :meth:`MclustMixture.bic`.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .. import backends
from ..engine import EMResult, em
from ..gaussian.conjugate_prior import as_prior_control, default_prior
from ..gaussian.constrained import check_model_name
from ..models.mixture.mclust import (
    MclustModel,
    log_joint,
    partition_stats,
    precision_cholesky_full,
    responsibility_stats,
)
from ..models.mixture.mclust_freeze import FrozenMclustModel
from ..models.mixture.mclust_init import hc_partitions, kmeans_partition
from ..models.mixture.mclust_start import check_start
from ..numerics.logsumexp import log_normalize, logsumexp_rows
from ..persistence import Persistable
from ._mclust_checks import (
    INIT_METHODS,
    StartsFailed,
    check_data,
    check_freeze_masks,
    check_settings,
    check_spread,
    failure_reason,
    refuse_combinations,
)
from ._mclust_criteria import MclustCriteria
from ._mixture_inputs import check_sample_weight
from ._mixture_sample import draw_rows
from ._supervision import (
    align_clusters,
    check_labels,
    check_priors,
    log_evidence,
    supervised_responsibilities,
)

__all__ = ["MclustMixture", "INIT_METHODS", "check_data", "check_spread", "failure_reason"]
#: mclust's default EM tolerance, ``emControl()$tol[1]``: relative change of the
#: log-likelihood, ``|l' - l| / (1 + |l'|)``.
MCLUST_REL_TOL = 1e-5
_CHUNK_ROWS = 1 << 16


class MclustMixture(MclustCriteria, Persistable, BaseEstimator):
    """Gaussian mixture with an mclust covariance model, fitted by EM.

    Parameters
    ----------
    model : str, default "VVV"
        One of ``EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV,
        VVV``: volume, shape and orientation Equal, Variable or Identity.
    n_components : int, default 1
    tol : float or "mclust", default 1e-8
        Convergence threshold on the change of the *mean per-row*
        log-likelihood made by one EM step (passed to :func:`emkit.em` as
        ``tol * n_samples``). ``"mclust"`` is mclust's own rule
        (``emControl()$tol[1]``): stop when the change of the total
        log-likelihood is at most ``1e-5 * (1 + |loglik|)``, looser than the
        default, so that a fit stops where ``Mclust()`` stops it.
    reg_covar : float, default 0.0
        Added to each covariance diagonal (mclust uses none; see
        :class:`~emkit.models.mixture.mclust.MclustModel`).
    max_iter : int, default 1000
    init_params : {"hc", "kmeans"}, default "hc"
        ``"hc"``: mclust's own start, model-based hierarchical agglomeration
        (``hc(X, modelName = "VVV", use = "SVD")``, reproduced merge for merge:
        see :mod:`emkit.models.mixture.mclust_hc`) cut at ``n_components``, so
        that a fit starts where ``Mclust()`` starts it; ``"kmeans"``: one
        k-means++ run. Either partition becomes the start through one M-step.
        If the ``"hc"`` start fails (a cluster too small for its covariance), a
        k-means start is tried and ``init_used_`` says so.
    hc_model : {"VVV", "EII"}, default "VVV"
        Model of the agglomeration: ``"VVV"`` is mclust's default
        (``mclust.options("hcModelName")``); ``"EII"`` is Ward's method on the
        same transformed data, faster. With no more rows than columns the tree is
        grown with ``"EII"``, as mclust does.
    hc_sample_size : int or None, default 2000
        Grow the tree on at most this many randomly chosen rows (mclust's
        ``mclust.options("subset")`` is also 2000). The agglomeration holds
        ``m (m - 1) / 2`` merge costs for ``m`` rows: 16 MB at 2,000 rows.
    random_state : int, numpy Generator or None
        Seeds the subsample, k-means and :meth:`sample`.
    prior : None, "default" or dict, default None
        mclust's conjugate prior (:mod:`emkit.gaussian.conjugate_prior`):
        ``"default"`` is ``priorControl()`` (``defaultPrior``'s hyperparameters
        for this model and ``n_components``); a dict overrides some of
        ``shrinkage``, ``mean``, ``dof`` and ``scale``. The fit is then the MAP
        estimate; ``loglik_``, ``lower_bound_``, ``score`` and ``bic`` are the
        log-likelihood at it without the log-prior term (as mclust's BIC), and
        ``log_prior_`` holds that term. mclust has no prior for ``VEE``,
        ``EVE``, ``VVE`` and ``EVV``; emkit gives them its ``VVV`` prior.
    freeze : dict or None, default None
        Parameters kept at their start (``fit(init=...)`` parameters, or the one
        M-step from the hc, k-means or user partition): ``{"means_": True,
        "weights_": mask, ...}`` with True for the whole attribute or a boolean
        mask of its shape (True = frozen). Keys: ``weights_`` (K,), ``means_``
        (K, D), ``covariances_`` (True, or a (K,) mask of whole components; where
        the model shares a volume, shape or orientation, the frozen ones fix it
        for all). The free entries get the exact
        constrained M-step (:mod:`emkit.models.mixture.mclust_freeze`): free
        weights share the free mass, free mean entries the Gaussian conditional
        given the frozen ones, free covariances mclust's step about the means.
        Not available with ``prior``; ``n_parameters`` (and so BIC, AIC and
        ICL) counts only the free parameters.
    accelerate : None or "squarem", default None
        ``"squarem"`` extrapolates along the EM path (see :func:`emkit.em`): same
        fixed point, fewer E-steps. For ``VEI, EVI, VEE, EVE, VVE, EEV, VEV, EVV``
        most extrapolated points leave the model's family and are refused (plain
        EM steps then), so they gain less: on overlapping 3-D data, K = 3, VVV
        went from 124 to 28 E-steps and VEV from 319 to 259.
    chunk_size : int or None, default None
        Rows per E-step call (memory O(chunk_size * K * D)); the statistics add
        up, so the fit equals the one in memory.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray of shape (n_components, n_features, n_features)
    precisions_cholesky_ : ndarray of shape (n_components, n_features, n_features)
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean per-row log-likelihood at the fitted parameters (with
        ``sample_weight``: ``loglik_`` over the sum of the weights).
    loglik_ : float
        Total log-likelihood at the fitted parameters (no log-prior term).
    log_prior_ : float
        The log-prior term of the MAP objective at the fit, without its
        normalizing constant (0.0 without a prior).
    n_samples_fit_ : int
        Rows fitted (with ``sample_weight``: those of positive weight).
    n_features_in_ : int
    init_used_ : str
        ``"hc"``, ``"kmeans"`` or ``"user"`` (``fit(X, init=...)``).
    """

    def __init__(self, model: str = "VVV", n_components: int = 1, *, tol: float | str = 1e-8,
                 reg_covar: float = 0.0, max_iter: int = 1000, init_params: str = "hc",
                 hc_model: str = "VVV", hc_sample_size: int | None = 2000,
                 random_state: Any = None, prior: Any = None, freeze: dict | None = None,
                 accelerate: str | None = None, chunk_size: int | None = None):
        self.model = model
        self.accelerate = accelerate
        self.chunk_size = chunk_size
        self.freeze = freeze
        self.prior = prior
        self.n_components = n_components
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.init_params = init_params
        self.hc_model = hc_model
        self.hc_sample_size = hc_sample_size
        self.random_state = random_state

    # ------------------------------------------------------------------ validation

    def _validate(self, X: np.ndarray) -> None:
        check_settings(self, X)

    # ------------------------------------------------------------------ fitting

    def _em_model(self, X: np.ndarray | None = None) -> MclustModel:
        """The EM model; a prior takes its hyperparameters from ``X`` (n_samples, n_features)."""
        model = check_model_name(self.model)
        control = as_prior_control(self.prior)
        if control is None or X is None:
            return MclustModel(model, reg_covar=float(self.reg_covar))
        rows = self.__dict__.get("_dask_rows")  # a fit on Dask data (its prior, its rows)
        if rows is not None:
            return MclustModel(model, reg_covar=float(self.reg_covar), prior=rows.prior,
                               total_rows=rows.n_rows)
        hyper = default_prior(X, int(self.n_components), model, control)
        return MclustModel(model, reg_covar=float(self.reg_covar), prior=hyper,
                           total_rows=X.shape[0])

    def _engine_tol(self, total: float) -> tuple[float, float]:
        """The engine's ``(tol, rel_tol)`` for ``total`` rows (``tol="mclust"``: relative)."""
        if isinstance(self.tol, str):  # "mclust": its relative rule
            return 0.0, MCLUST_REL_TOL
        return float(self.tol) * total, 0.0

    def _run(self, X: np.ndarray, init: dict, evidence: np.ndarray | None = None,
             weight: np.ndarray | None = None) -> EMResult:
        rows = self.__dict__.get("_dask_rows")
        tol, rel_tol = self._engine_tol(_total(X, weight) if rows is None
                                        else rows.total_weight)
        data = X if evidence is None and weight is None else (X, evidence, weight)
        model: Any = self._em_model(X)
        if getattr(self, "_frozen", None):  # the frozen values are this run's start
            model = FrozenMclustModel(model, init, self._frozen)
        if rows is not None:  # X is the start's sample; the E-steps run on the partitions
            from ._mclust_dask import WeightsThenEvidence

            model, data = WeightsThenEvidence(model), rows.data
        model, data = backends.for_input(model, data, chunk_size=self.chunk_size)
        return em(model, data, init, tol=tol, rel_tol=rel_tol, max_iter=int(self.max_iter),
                  record=False, accelerate=self.accelerate)

    def _start_from(self, X: np.ndarray, rows: np.ndarray, labels: np.ndarray,
                    evidence: np.ndarray | None = None,
                    weight: np.ndarray | None = None) -> dict:
        """One M-step from a partition of ``X[rows]``; with evidence, renamed to agree
        with it and the labelled rows one-hot (``evidence`` and ``weight`` are per
        row of ``X``; the weights multiply the one-hot responsibilities)."""
        k = int(self.n_components)
        if evidence is None and weight is None:
            return self._em_model(X).m_step(partition_stats(X[rows], labels, k))
        if evidence is not None:
            labels = align_clusters(np.asarray(labels), evidence[rows], k)
        resp = np.zeros((len(rows), k))
        resp[np.arange(len(rows)), labels] = 1.0
        if evidence is not None:
            resp = supervised_responsibilities(resp, evidence[rows])
        return self._start_resp(X, rows, resp, weight)

    def _start_resp(self, X: np.ndarray, rows: np.ndarray | slice, resp: np.ndarray,
                    weight: np.ndarray | None = None) -> dict:
        if weight is not None:
            resp = resp * weight[rows][:, None]
        return self._em_model(X).m_step(responsibility_stats(X[rows], resp))

    def _kmeans_start(self, X: np.ndarray, evidence: np.ndarray | None = None,
                      weight: np.ndarray | None = None) -> dict:
        labels = kmeans_partition(X, int(self.n_components), self.random_state)
        return self._start_from(X, np.arange(X.shape[0]), labels, evidence, weight)

    def _fit_partition(self, X: np.ndarray, rows: np.ndarray | None,
                       labels: np.ndarray | None,
                       evidence: np.ndarray | None = None,
                       weight: np.ndarray | None = None) -> MclustMixture:
        """Fit from a given hc partition of ``X[rows]`` (k-means when it fails or is None)."""
        result, used, first_error = None, "hc", None
        if labels is not None and rows is not None:  # the callers pass both or neither
            try:
                result = self._run(X, self._start_from(X, rows, labels, evidence, weight),
                                   evidence, weight)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
                first_error = exc
        if result is None:
            used = "kmeans"
            try:
                result = self._run(X, self._kmeans_start(X, evidence, weight), evidence,
                                   weight)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
                if first_error is not None:
                    raise StartsFailed(
                        f"{exc} (the hc start also failed: {first_error})",
                        f"hc start: {failure_reason(first_error)}; "
                        f"k-means start: {failure_reason(exc)}") from exc
                raise
        self._store(X, result, used, weight)
        return self

    def _fit_start(self, X: np.ndarray, kind: str, start: Any,
                   evidence: np.ndarray | None = None,
                   weight: np.ndarray | None = None) -> MclustMixture:
        """Fit from a user start (checked by ``mclust_start.check_start``)."""
        if kind == "resp":
            init = self._start_resp(X, slice(None), supervised_responsibilities(start, evidence),
                                    weight)
        else:
            init = start
        self._store(X, self._run(X, init, evidence, weight), "user", weight)
        return self

    def _store(self, X: np.ndarray, result: EMResult, used: str,
               weight: np.ndarray | None = None) -> None:
        params = result.params
        self.weights_ = np.asarray(params["weights"], dtype=float)
        self.means_ = np.asarray(params["means"], dtype=float)
        self.covariances_ = np.asarray(params["covariances"], dtype=float)
        self.precisions_cholesky_ = precision_cholesky_full(self.covariances_)
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.n_iter)
        # with a prior the engine climbed loglik + log-prior: report them apart
        self.log_prior_ = float(self._em_model(X).log_prior(params))
        self.loglik_ = float(result.loglik) - self.log_prior_
        rows = self.__dict__.get("_dask_rows")
        self.lower_bound_ = self.loglik_ / (_total(X, weight) if rows is None
                                            else rows.total_weight)
        self.n_samples_fit_ = int(X.shape[0]) if rows is None else rows.n_rows
        self.n_features_in_ = int(X.shape[1])
        self.init_used_ = used

    def fit(self, X: Any, y: Any = None, *, sample_weight: Any = None, init: Any = None,
            labels: Any = None, priors: Any = None) -> MclustMixture:
        """Estimate the mixture from ``X`` of shape (n_samples, n_features).

        Parameters
        ----------
        X : array-like, dask.array.Array or Dask DataFrame of shape (n_samples, n_features)
            Dask data are fitted where they lie: each E-step runs on the
            partitions and only the statistics come back; the start is found on
            :func:`emkit.backends.initialization_rows` (every row up to 100,000,
            so the fit equals the in-memory one; a random sample above), and
            ``init`` must then be a dict of parameters (see
            :mod:`emkit.estimators._mclust_dask`). ``predict``,
            ``predict_proba`` and ``score_samples`` of Dask ``X`` are lazy.
        y : Ignored
            Not used, as in scikit-learn (see ``labels``).
        sample_weight : array-like of shape (n_samples,), default None
            Non-negative weight of each row: it multiplies the row's
            responsibilities in every E-step and in the start's M-step, so an
            integer weight equals repeating the row. Rows of weight 0 are dropped
            before anything else (the fit equals one without them). The ``"hc"``
            and ``"kmeans"`` partitions are found on the rows with positive
            weight, unweighted; the M-step from the partition is weighted.
            ``loglik_`` is then ``sum_i w_i log f(x_i)``, ``lower_bound_`` its
            mean over ``n = sum_i w_i``, and :meth:`bic` with the same weights
            uses that ``n``. Not available with ``prior`` (its hyperparameters
            come from unweighted data moments).
        init : labels, responsibilities, parameters or None, default None
            A start of the user's in place of ``init_params``: integer labels of
            shape (n_samples,) in ``0..n_components-1`` (a partition, as mclust's
            ``me(z = unmap(classification))``), responsibilities of shape
            (n_samples, n_components) (rows normalized), or a dict of
            ``weights``, ``means`` and ``covariances`` (as ``em(parameters = ...)``).
            A partition or responsibilities become parameters through one
            M-step; EM then runs from them, so another program's fit is
            reproduced from its partition. ``init_used_`` is ``"user"``; a start
            that fails is an error (no k-means fallback).
        labels : array-like of int of shape (n_samples,), default None
            Known components: -1 for an unknown row, 0..n_components-1 for a
            known one (its responsibilities stay one-hot; the hc or k-means
            start is renamed to agree with the labelled rows, which start
            one-hot). As :meth:`emkit.GaussianMixture.fit`.
        priors : array-like of shape (n_samples, n_components), default None
            Soft evidence multiplying each row's posterior (a row of ones is no
            evidence). With ``labels`` or ``priors``, ``loglik_`` and the criteria
            are those of the fitted objective ``sum_i log sum_k e_ik w_k N(x_i;
            mu_k, S_k)`` (``e_ik`` the evidence, one-hot for a known row).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For bad input or when every start fails (e.g. a singular covariance).
        """
        if backends.is_dask(X):
            from ._mclust_dask import fit_dask

            return fit_dask(self, X, sample_weight, init, labels, priors)
        X = check_data(X)
        self._validate(X)
        n, k = X.shape[0], int(self.n_components)
        weight = check_sample_weight(sample_weight, n)
        evidence = log_evidence(check_labels(labels, n, k, name="labels"),
                                check_priors(priors, n, k), k)
        self._frozen = check_freeze_masks(self.freeze, k, X.shape[1])
        refuse_combinations(weight is not None, bool(self._frozen),
                            as_prior_control(self.prior) is not None)
        kind, start = ("", {}) if init is None else check_start(init, n, X.shape[1], k)
        if weight is not None and not np.all(weight > 0):  # rows of weight 0 are dropped
            keep = weight > 0
            X, weight = X[keep], weight[keep]
            evidence = None if evidence is None else evidence[keep]
            start = np.asarray(start)[keep] if kind == "resp" else start
            self._validate(X)
        check_spread(X, float(self.reg_covar))
        return self._fit_from(X, kind, start, evidence, weight)

    def _fit_from(self, X: np.ndarray, kind: str, start: Any, evidence: np.ndarray | None,
                  weight: np.ndarray | None) -> MclustMixture:
        """Fit from the user's start (``kind`` "resp" or "params"), else ``init_params``'s
        partition of ``X`` (the data, or a Dask fit's sample of rows)."""
        if kind:
            return self._fit_start(X, kind, start, evidence, weight)
        if self.init_params == "kmeans":
            return self._fit_partition(X, None, None, evidence, weight)
        rows, parts = hc_partitions(X, [int(self.n_components)], model=self.hc_model,
                                    sample_size=self.hc_sample_size,
                                    random_state=self.random_state)
        return self._fit_partition(X, rows, parts.get(int(self.n_components)), evidence,
                                   weight)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit, then return the most probable component of each row of ``X``."""
        return self.fit(X).predict(X)

    # ------------------------------------------------------------------ inference

    def _check_fitted(self) -> None:
        # NotFittedError is a ValueError (and an AttributeError), as in scikit-learn
        check_is_fitted(self, "weights_")

    def _params(self) -> dict:
        return {"weights": self.weights_, "means": self.means_,
                "covariances": self.covariances_}

    def _log_joint(self, X: Any) -> np.ndarray:
        self._check_fitted()
        one_dimensional = np.ndim(X) == 1
        X = check_data(X)
        if X.shape[1] != self.n_features_in_:
            hint = (" (a 1-D X is read as one feature; Reshape your data with "
                    "X.reshape(1, -1) if it is a single row)") if one_dimensional else ""
            raise ValueError(f"X has {X.shape[1]} features, but MclustMixture is expecting "
                             f"{self.n_features_in_} features as input{hint}")
        params = self._params()
        parts = [log_joint(X[s : s + _CHUNK_ROWS], params)
                 for s in range(0, X.shape[0], _CHUNK_ROWS)]
        return np.concatenate(parts, axis=0)

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-density of each row of ``X``, shape (n_samples,) (lazy for Dask ``X``)."""
        if backends.is_dask(X):
            return self._dask_rows_of(X, "score_samples")
        return logsumexp_rows(self._log_joint(X))

    def _dask_rows_of(self, X: Any, what: str) -> Any:
        from ._mclust_dask import predict_dask

        self._check_fitted()
        return predict_dask(self, X, what)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Mean per-row log-likelihood of ``X`` (weighted by ``sample_weight`` (n_samples,))."""
        ll: Any = self.score_samples(X)
        if backends.is_dask(ll):
            ll = ll.compute()
        weight = check_sample_weight(sample_weight, ll.shape[0])
        if weight is None:
            return float(ll.mean())
        pos = weight > 0
        return float(weight[pos] @ ll[pos] / weight.sum())

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior component probabilities, shape (n_samples, n_components)."""
        if backends.is_dask(X):
            return self._dask_rows_of(X, "predict_proba")
        logp = self._log_joint(X)  # a fresh array, normalized in place
        return log_normalize(logp, out=logp)[1]

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row, shape (n_samples,) (lazy for Dask ``X``)."""
        if backends.is_dask(X):
            return self._dask_rows_of(X, "predict")
        return self._log_joint(X).argmax(axis=1)

    # ------------------------------------------------------------------ sampling

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` rows from the fitted mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        self._check_fitted()
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        rng = np.random.default_rng(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        return draw_rows(rng, counts, self.means_, self.covariances_)

    def bootstrap(self, X: Any, n_boot: int = 100, random_state: Any = None, *,
                  kind: str = "nonparametric", **kwargs: Any) -> Any:
        """Bootstrap standard errors of the fitted weights, means and covariances.

        See :func:`emkit.estimators.bootstrap.bootstrap` (``kind``, ``n_jobs``,
        ``client``, ``progress``, ``max_retries``, ``draws``); ``X`` of shape
        (n_samples, n_features) is the data this estimator was fitted to.

        Returns
        -------
        BootstrapResult
        """
        from .bootstrap import bootstrap

        return bootstrap(self, X, n_boot, kind, random_state=random_state, **kwargs)


def _total(X: np.ndarray, weight: np.ndarray | None) -> float:
    """The data's size: rows of ``X`` (n_samples, n_features), or the sum of their weights."""
    return float(X.shape[0]) if weight is None else float(weight.sum())
