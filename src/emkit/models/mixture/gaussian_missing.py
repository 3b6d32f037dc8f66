"""Gaussian mixtures for data with missing values (NaN, missing at random).

The E-step of Ghahramani & Jordan (1994). For a row with observed coordinates
``o`` and missing ones ``m``, under component ``k`` with mean ``mu`` and
covariance ``S``:

* the likelihood uses the marginal of the observed part,
  ``p(x_o, z=k) = w_k N(x_o; mu_o, S_oo)``, so the log-likelihood the E-step
  returns is the observed-data log-likelihood;
* the statistics use the conditional expectations
  ``E[x_m | x_o, k] = mu_m + S_mo S_oo^-1 (x_o - mu_o)`` and
  ``E[(x - mu)(x - mu)^T | x_o, k] = (x^ - mu)(x^ - mu)^T + C``, where ``x^`` is
  the completed row and ``C`` is the conditional covariance
  ``S_mm - S_mo S_oo^-1 S_om`` placed in the missing block.

Parameters and statistics follow exactly the contract of
:mod:`emkit.models.mixture.gaussian`, whose M-step this model uses, so with no
NaN the statistics equal the complete-data ones.

Rows sharing a missing pattern are processed together: per pattern and
component one Cholesky factor of ``S_oo``, one regression matrix
``S_oo^-1 S_om`` and the conditional covariance (the conditional Gaussians of
:mod:`emkit.gaussian.conditional`); the rows are then handled by matrix products in
blocks of ``chunk_size`` rows, so no N x K x D array is formed. Rows with no
missing entry go through the compiled complete-data E-step of
:class:`~emkit.models.mixture.gaussian.GaussianMixtureModel`, so a few rows
with NaN cost little more than none. Patterns with few rows are packed for a
compiled loop (:mod:`emkit.models.mixture.gaussian_missing_kernels`); the
grouping itself is :func:`emkit.models.mixture.missing_patterns.find_patterns`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...engine.run import MONOTONE_RTOL
from ...gaussian.conditional import (
    ConditionalFactors,
    as_full_covariances,
    completed_deviation,
    conditional_factors,
)
from ...gaussian.m_step import gaussian_mixture_m_step, regularization_slack
from ...gaussian.reference import COVARIANCE_TYPES, log_gaussian_density, precision_cholesky
from ...numerics.logsumexp import log_normalize
from ...numerics.simplex import on_simplex
from .gaussian import FLOAT32_MONOTONE_RTOL, GaussianMixtureModel
from .gaussian_missing_evidence import add_completed_moments
from .gaussian_missing_penalty import penalty, penalty_shift
from .missing_patterns import (
    RARE_PATTERN_ROWS,
    MissingPatterns,
    PatternGroup,
    _RarePatterns,
    find_patterns,
)

__all__ = [
    "MissingGaussianMixtureModel",
    "MissingPatterns",
    "PatternGroup",
    "RARE_PATTERN_ROWS",
    "find_patterns",
]

class MissingGaussianMixtureModel:
    """Gaussian-mixture :class:`~emkit.EMModel` for data with NaN entries.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        Shape of the covariances, as in scikit-learn.
    reg_covar : float, default 1e-6
        Added to every covariance diagonal in the M-step.
    chunk_size : int or None, default None
        Most rows of one pattern processed in one block (8192 when None), and
        rows per chunk of the complete-data E-step for rows without NaN (its
        automatic size when None).
    dtype : float64 or float32, default float64
        Precision of the per-block log-densities: the rows without NaN and the
        frequent patterns' blocks (as :class:`GaussianMixtureModel`'s ``dtype``).
        Conditional means, statistics and the rare patterns' compiled pass are
        float64.
    penalized : bool, default False
        If True, :meth:`e_step` returns the log-likelihood minus
        :meth:`penalty`, the objective that the ``reg_covar`` M-step increases
        (exactly for one component or tied covariances), so that EM's
        monotonicity check holds even where ``reg_covar`` dominates a
        covariance (fewer rows than columns, a collapsing component).

    Notes
    -----
    ``data`` for :meth:`e_step` is an (N, D) array with NaN for missing entries,
    or the :class:`MissingPatterns` of :func:`find_patterns` (faster when the
    E-step runs many times on the same data; it also carries sample weights).
    Rows with no observed value raise ``ValueError``.

    The monotonicity guard: a step may lower the tracked objective by at most
    :meth:`monotone_slack` (exact, from the statistics); beyond that only
    rounding is allowed, ``monotone_rtol`` relative (the engine's default, or
    :data:`~emkit.models.mixture.gaussian.FLOAT32_MONOTONE_RTOL` for float32).
    With ``penalized=True`` the statistics carry one more entry,
    ``penalty_shift`` (a float, additive over rows), for that bound.
    """

    #: Rounding only (float64; float32 instances set their own): what the M-step
    #: may cost is :meth:`monotone_slack`.
    monotone_rtol = MONOTONE_RTOL

    def __init__(self, covariance_type: str = "full", reg_covar: float = 1e-6,
                 chunk_size: int | None = None, penalized: bool = False,
                 dtype: Any = np.float64):
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}"
            )
        if not reg_covar >= 0:
            raise ValueError(f"reg_covar must be >= 0, got {reg_covar!r}")
        if chunk_size is not None and int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.covariance_type = covariance_type
        self.reg_covar = float(reg_covar)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.penalized = bool(penalized)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype must be float64 or float32, got {self.dtype}")
        # The M-step is the complete-data one on expected statistics, so EM's bound
        # holds as for complete data and only rounding is left (see monotone_slack).
        self.monotone_rtol = FLOAT32_MONOTONE_RTOL if self.dtype == np.float32 \
            else MONOTONE_RTOL

    def penalty(self, params: dict, total_weight: float) -> float:
        """``reg_covar`` penalty of :meth:`e_step`'s objective when ``penalized``:
        ``(reg_covar / 2) * N * sum_k w_k tr(S_k^-1)``, ``N = total_weight`` (the
        number of rows or the sum of the sample weights); see
        :mod:`~emkit.models.mixture.gaussian_missing_penalty`."""
        return penalty(params, self.covariance_type, self.reg_covar, total_weight)

    # ------------------------------------------------------------------ factors
    def _factors(self, group: PatternGroup, params: dict,
                 cache: dict[int, ConditionalFactors]) -> ConditionalFactors:
        """The pattern's factors, computed on the first of its blocks only.

        ``cache`` lives for one call, while ``data`` holds every group, so a
        group's ``id`` cannot be reused within it.
        """
        f = cache.get(id(group))
        if f is None:
            f = cache[id(group)] = conditional_factors(
                params["covariances"], self.covariance_type, len(params["weights"]),
                group.observed, group.missing)
        return f

    def _log_prob_block(self, values: np.ndarray, group: PatternGroup, params: dict,
                        factors: ConditionalFactors) -> np.ndarray:
        dt = self.dtype
        means = np.asarray(params["means"], dtype=dt)[:, group.observed]
        ctype = "diag" if factors.regression is None else "full"
        with np.errstate(divide="ignore"):
            log_w = np.log(np.asarray(params["weights"], dtype=float))
        return log_gaussian_density(values.astype(dt, copy=False), means,
                                    factors.prec_chol.astype(dt, copy=False), ctype) + log_w

    @staticmethod
    def _completed(values: np.ndarray, group: PatternGroup, means: np.ndarray, j: int,
                   factors: ConditionalFactors) -> np.ndarray:
        """Row block completed by component ``j``'s conditional mean, minus its mean."""
        regression = None if factors.regression is None else factors.regression[j]
        return completed_deviation(values, means[j], group.observed, group.missing,
                                   regression)

    def _complete_model(self) -> GaussianMixtureModel:
        """The complete-data model, for the rows of a pattern with nothing missing
        (measured at (200k, 16, 16) full: 0.026 s against 0.40 s by the pattern path)."""
        return GaussianMixtureModel(self.covariance_type, self.reg_covar, self.chunk_size,
                                    self.dtype)

    def _blocks(self, data: MissingPatterns, groups: Any = None):
        for group in data.groups if groups is None else groups:
            step = self.chunk_size or 8192
            for start in range(0, len(group.rows), step):
                yield group, slice(start, start + step)

    def _kernel_params(self, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        means = np.ascontiguousarray(params["means"], dtype=float)
        k, d = means.shape
        cov = np.ascontiguousarray(
            as_full_covariances(np.asarray(params["covariances"], dtype=float),
                                self.covariance_type, k, d)
        )
        with np.errstate(divide="ignore"):
            log_w = np.log(np.asarray(params["weights"], dtype=float))
        return log_w, means, cov

    @staticmethod
    def _check_kernel(bad: int, rare: _RarePatterns) -> None:
        if bad >= 0:
            raise ValueError(
                "a covariance is singular or not positive definite on the observed "
                f"columns {np.flatnonzero(~rare.masks[bad]).tolist()} (a component "
                "collapsed onto too few points); increase reg_covar or reduce the "
                "number of components"
            )

    def _rare_conditional_mean(self, rare: _RarePatterns, params: dict) -> np.ndarray:
        from .gaussian_missing_kernels import small_patterns_conditional_mean

        filled, bad = small_patterns_conditional_mean(
            rare.values, rare.bounds, rare.masks, *self._kernel_params(params))
        self._check_kernel(bad, rare)
        return filled

    def _rare_e_step(self, rare: _RarePatterns, params: dict) -> tuple[dict, float]:
        from .gaussian_missing_kernels import small_patterns_e_step

        n, total, centred_sum, outer, loglik, bad = small_patterns_e_step(
            rare.values, rare.weights, rare.bounds, rare.masks, *self._kernel_params(params))
        self._check_kernel(bad, rare)
        if self.covariance_type in ("diag", "spherical"):
            outer = np.diagonal(outer, axis1=1, axis2=2).copy()
        stats = {"n": n, "sum": total, "centred_sum": centred_sum, "centred_outer": outer}
        return stats, float(loglik)

    # ------------------------------------------------------------------ EM protocol
    def e_step(self, data: Any, params: dict) -> tuple[dict, float]:
        """Expected statistics (see :mod:`emkit.models.mixture.gaussian`) and log-likelihood.

        Parameters
        ----------
        data : ndarray of shape (n_samples, n_features), MissingPatterns, or tuple
            NaN marks a missing entry. A tuple ``(X, sample_weight, log_evidence)``
            (``X`` an array or MissingPatterns; the others may be None) carries row
            weights and per-row log-evidence (n_samples, K) added to the log-joint
            before normalizing (see :mod:`.gaussian_missing_evidence`).
        params : dict
            ``weights`` (K,), ``means`` (K, D), ``covariances`` (scikit-learn shape).

        Returns
        -------
        stats : dict
            ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D), ``centred_outer``
            (K, D, D) for full/tied or (K, D) for diag/spherical.
        loglik : float
            Observed-data log-likelihood (weighted by the sample weights), minus
            :meth:`penalty` when ``penalized``.
        """
        evidence = None
        if isinstance(data, tuple):  # (X or MissingPatterns, sample_weight, log_evidence)
            rows, weight, evidence = (*data, None)[:3]
            data = rows if isinstance(rows, MissingPatterns) else find_patterns(rows, weight)
        data = find_patterns(data)
        if evidence is not None:
            from .gaussian_missing_evidence import evidence_e_step

            return self._penalize(*evidence_e_step(self, data, evidence, params), params)
        means = np.asarray(params["means"], dtype=float)
        k, d = means.shape
        diag_stats = self.covariance_type in ("diag", "spherical")
        n = np.zeros(k)
        total = np.zeros((k, d))
        centred_sum = np.zeros((k, d))
        outer = np.zeros((k, d) if diag_stats else (k, d, d))
        loglik = 0.0
        factors: dict[int, ConditionalFactors] = {}
        parts = []  # statistics computed whole: rare patterns, and rows without NaN
        if data.rare is not None:
            parts.append(self._rare_e_step(data.rare, params))
        frequent = [data.groups[i] for i in data.frequent]
        for group in frequent:  # rows without NaN: the compiled complete-data E-step
            if group.missing.size == 0:
                parts.append(self._complete_model().e_step((group.values, group.weights),
                                                           params))
        for part, part_loglik in parts:
            n += part["n"]
            total += part["sum"]
            centred_sum += part["centred_sum"]
            outer += part["centred_outer"]
            loglik += part_loglik
        partial = [g for g in frequent if g.missing.size > 0]
        for group, block in self._blocks(data, partial):
            f = self._factors(group, params, factors)
            values, weights = group.values[block], group.weights[block]
            log_prob = self._log_prob_block(values, group, params, f)
            log_norm, resp = log_normalize(log_prob, out=log_prob)
            loglik += float(weights @ log_norm)
            resp *= weights[:, None]
            n += add_completed_moments(self, values, group, means, f, resp,
                                       (centred_sum, total, outer))
        stats: dict[str, Any] = {"n": n, "sum": total, "centred_sum": centred_sum,
                                 "centred_outer": outer}
        return self._penalize(stats, loglik, params)

    def _penalize(self, stats: dict, loglik: float, params: dict) -> tuple[dict, float]:
        """With ``penalized``: the objective less :meth:`penalty`, and ``penalty_shift``."""
        if self.penalized:
            n = stats["n"]
            loglik -= self.penalty(params, n.sum())
            stats["penalty_shift"] = penalty_shift(params, self.covariance_type,
                                                   self.reg_covar, n)
        return stats, loglik

    def m_step(self, stats: dict) -> dict:
        """Parameters from statistics (the shared Gaussian-mixture M-step)."""
        return gaussian_mixture_m_step(stats, self.covariance_type, self.reg_covar)

    def monotone_slack(self, stats: dict) -> float:
        """How much the M-step from ``stats`` may lower the tracked objective.

        EM's bound holds with the missing entries' expected statistics as for
        complete data, so the M-step costs what it costs there: for the plain
        log-likelihood, what ``reg_covar`` moves the covariances off the
        maximizer (:func:`~emkit.gaussian.m_step.regularization_slack`); with
        ``penalized``, the statistic ``penalty_shift`` when positive (see
        :mod:`~emkit.models.mixture.gaussian_missing_penalty`: the penalized
        M-step is exact but for the weights in the penalty).
        """
        if self.penalized:
            return max(float(stats.get("penalty_shift", 0.0)), 0.0)
        return regularization_slack(stats, self.covariance_type, self.reg_covar)

    def is_feasible(self, params: dict) -> bool:
        """Weights on the simplex and positive-definite covariances."""
        if not on_simplex(params["weights"]):
            return False
        try:
            precision_cholesky(np.asarray(params["covariances"], dtype=float),
                               self.covariance_type)
        except ValueError:
            return False
        return bool(np.all(np.isfinite(params["means"])))

    # ------------------------------------------------------------------ per-row helpers
    def log_prob_rows(self, X: Any, params: dict) -> np.ndarray:
        """Joint log-density of each row's observed part and each component.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or MissingPatterns
            NaN marks a missing entry.
        params : dict
            Mixture parameters.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            ``log w_k + log N(x_o; mu_ko, S_k,oo)``; ``logsumexp`` over axis 1 is
            each row's observed-data log-likelihood.
        """
        data = find_patterns(X)
        out = np.empty((data.n_rows, len(params["weights"])))
        factors: dict[int, ConditionalFactors] = {}
        groups: Sequence[PatternGroup] = data.groups
        if data.rare is not None:
            from .gaussian_missing_kernels import small_patterns_log_prob

            rare = data.rare
            log_prob, bad = small_patterns_log_prob(
                rare.values, rare.bounds, rare.masks, *self._kernel_params(params))
            self._check_kernel(bad, rare)
            out[rare.rows] = log_prob
            groups = [data.groups[i] for i in data.frequent]
        for group in groups:
            if group.missing.size == 0:
                out[group.rows] = self._complete_model().log_prob_rows(group.values, params)
        partial = [g for g in groups if g.missing.size > 0]
        for group, block in self._blocks(data, partial):
            f = self._factors(group, params, factors)
            out[group.rows[block]] = self._log_prob_block(group.values[block], group, params, f)
        return out

    def _resp(self, data: MissingPatterns, params: dict, resp: Any) -> np.ndarray:
        if resp is None:
            return log_normalize(self.log_prob_rows(data, params))[1]
        resp = np.asarray(resp, dtype=float)
        if resp.shape != (data.n_rows, len(params["weights"])):
            raise ValueError(
                f"resp must have shape ({data.n_rows}, {len(params['weights'])}), "
                f"got {resp.shape}"
            )
        return resp

    def conditional_expectation(self, X: Any, params: dict, resp: Any = None) -> np.ndarray:
        """Fill each missing entry with ``E[x_m | x_o]`` under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.
        params : dict
            Mixture parameters.
        resp : array-like of shape (n_samples, n_components), optional
            Posterior component probabilities of the rows; computed from ``X``
            when omitted.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            A copy of ``X`` whose NaN entries hold
            ``sum_k resp_k (mu_km + S_k,mo S_k,oo^-1 (x_o - mu_ko))``; observed
            entries are copied unchanged.
        """
        X = np.array(X, dtype=float)
        data = find_patterns(X)
        groups: Sequence[PatternGroup] = data.groups
        if resp is None and data.rare is not None:
            X[data.rare.rows] = self._rare_conditional_mean(data.rare, params)
            groups = [data.groups[i] for i in data.frequent]
        if resp is not None:
            resp = self._resp(data, params, resp)
        means = np.asarray(params["means"], dtype=float)
        factors: dict[int, ConditionalFactors] = {}
        for group, block in self._blocks(data, groups):
            if not group.missing.size:
                continue
            f = self._factors(group, params, factors)
            rows = group.rows[block]
            if resp is None:
                r = log_normalize(self._log_prob_block(group.values[block], group, params,
                                                       f))[1]
            else:
                r = resp[rows]
            fill = np.zeros((len(rows), group.missing.size))
            for j in range(len(means)):
                z = self._completed(group.values[block], group, means, j, f)
                fill += r[:, j, None] * (z[:, group.missing] + means[j, group.missing])
            X[np.ix_(rows, group.missing)] = fill
        return X

    def sample_conditional(self, X: Any, params: dict, random_state: Any = None,
                           resp: Any = None) -> np.ndarray:
        """Draw each row's missing entries from ``p(x_m | x_o)`` (multiple imputation).

        A component is drawn from the row's posterior, then the missing part from
        that component's conditional normal. Observed entries are copied unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.
        params : dict
            Mixture parameters.
        random_state : int, numpy.random.Generator, RandomState or None
            Source of randomness.
        resp : array-like of shape (n_samples, n_components), optional
            Posterior component probabilities (computed when omitted).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        from sklearn.utils import check_random_state

        rng = check_random_state(random_state)
        X = np.array(X, dtype=float)
        data = find_patterns(X)
        resp = self._resp(data, params, resp)
        means = np.asarray(params["means"], dtype=float)
        cum = np.cumsum(resp, axis=1)
        labels = (cum < rng.uniform(size=(len(X), 1)) * cum[:, -1:]).sum(axis=1)
        labels = np.minimum(labels, len(means) - 1)
        factors: dict[int, ConditionalFactors] = {}
        for group, block in self._blocks(data):
            if not group.missing.size:
                continue
            f = self._factors(group, params, factors)
            rows = group.rows[block]
            noise = rng.standard_normal((len(rows), group.missing.size))
            fill = np.empty_like(noise)
            for j in np.unique(labels[rows]):
                sel = labels[rows] == j
                z = self._completed(group.values[block][sel], group, means, j, f)
                cond = f.cond_cov[j]
                scale = (np.linalg.cholesky(cond).T if cond.ndim == 2 else np.diag(np.sqrt(cond)))
                fill[sel] = z[:, group.missing] + means[j, group.missing] + noise[sel] @ scale
            X[np.ix_(rows, group.missing)] = fill
        return X
