"""The Gaussian-mixture model with frozen parameters.

:class:`FrozenGaussianMixtureModel` wraps any model with the Gaussian-mixture
statistics (the complete-data, missing-data or Dask-wrapped Gaussian mixture)
and replaces its M-step by
:func:`~emkit.gaussian.constrained_mean.constrained_gaussian_m_step`: the
expected complete log-likelihood maximized over the *free* entries of
``weights``, ``means`` and ``covariances`` while the frozen ones keep given
values (``fixed``; the rules per parameter and covariance type are documented
there). ``masks`` are boolean arrays of the parameters' shapes, True = frozen.
The frozen entries are copied from ``fixed`` bit for bit, so SQUAREM's
extrapolation (a combination of three points that agree there) keeps them too.

The model-free pieces live in :mod:`emkit.gaussian.constrained_mean` (below
every model package, so the HMM states use the same code); their former names
here (``_conditional``, ``_solve``, ``_scatter``, ``_weights``, ``_tied``,
``constrained_gaussian_m_step``, ``TIED_MAX_ITER``) stay importable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...engine.wrapped import ModelWrapper
from ...gaussian.constrained_mean import (
    TIED_MAX_ITER,
    conditional_mean,
    constrained_gaussian_m_step,
    constrained_weights,
    gaussian_scatter,
    solve_psd,
    tied_constrained,
)
from ...gaussian.m_step import regularization_slack

__all__ = ["constrained_gaussian_m_step", "FrozenGaussianMixtureModel", "TIED_MAX_ITER"]

# the former private names of the shared pieces, still importable from here
_solve = solve_psd
_conditional = conditional_mean
_scatter = gaussian_scatter
_weights = constrained_weights
_tied = tied_constrained


class FrozenGaussianMixtureModel(ModelWrapper):
    """A Gaussian-mixture model whose M-step keeps the frozen entries at ``fixed``.

    Parameters
    ----------
    model : EMModel
        A Gaussian-mixture model with the statistics of
        :mod:`emkit.models.mixture.gaussian` (complete data, missing values, Dask).
    fixed : dict
        The start's ``weights``, ``means`` and ``covariances``: the frozen values.
    masks : dict
        Boolean arrays of the parameters' shapes (True = frozen), keyed by
        ``weights``, ``means``, ``covariances``.

    Every attribute but ``m_step`` and ``monotone_slack`` is the wrapped model's.
    """

    def __init__(self, model: Any, fixed: dict, masks: dict):
        self.model = model
        self.fixed = {key: np.array(value, dtype=np.float64, copy=True)
                      for key, value in fixed.items()}
        self.masks = dict(masks)


    def m_step(self, stats: dict) -> dict:
        """:func:`constrained_gaussian_m_step` with the model's covariance type and
        ``reg_covar``."""
        return constrained_gaussian_m_step(stats, self.model.covariance_type,
                                           self.model.reg_covar, self.fixed, self.masks)

    def monotone_slack(self, stats: dict) -> float:
        """What ``reg_covar`` may cost a step: the unconstrained bound over the components
        whose covariance is free, with their scatter about the constrained means."""
        kind, reg = self.model.covariance_type, self.model.reg_covar
        if reg == 0.0:
            return 0.0
        step = self.m_step(stats)
        n = np.asarray(stats["n"], dtype=np.float64) + 10 * np.finfo(float).eps
        delta = stats["sum"] / n[:, None] - step["means"]
        extra = (n[:, None, None] * delta[:, :, None] * delta[:, None, :]
                 if kind in ("full", "tied") else n[:, None] * delta**2)
        shifted = dict(stats, centred_outer=stats["centred_outer"] + extra)
        cov_mask = self.masks.get("covariances")
        if cov_mask is None or kind == "tied":
            return 0.0 if cov_mask is not None else regularization_slack(shifted, kind, reg)
        free = ~cov_mask.reshape(len(n), -1).all(axis=1)
        if not free.any():
            return 0.0
        part = {key: np.asarray(value)[free] for key, value in shifted.items()}
        return regularization_slack(part, kind, reg)
