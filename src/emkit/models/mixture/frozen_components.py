"""The M-step of emkit distributions with some parameter entries frozen.

One job: given a component's summed statistics, its frozen values (``fixed``, a
``parameters()`` tree) and a boolean mask tree of the same structure (True =
frozen), return the parameters that maximize the component's part of the
expected complete log-likelihood over the free entries. Exact where the family
has a closed form (or a one-dimensional equation) for it:

Poisson, Exponential, Bernoulli (with or without a prior)
    Each entry is its own maximization: the free ones are the unconstrained
    M-step's, the frozen ones are put back.
Categorical, Multinomial
    In each probability table the free entries share the free mass
    ``1 - sum(frozen)`` in proportion to their (prior-adjusted) counts, the
    Lagrangian solution; a table whose free entries have no count shares it
    equally (:func:`~emkit.numerics.shared_mass.shared_mass`).
Gaussian (no prior, no floor)
    :func:`~emkit.gaussian.constrained_mean.constrained_gaussian_m_step`:
    free mean entries by the Gaussian conditional given the frozen ones, a free
    covariance as the scatter about the constrained mean plus ``reg_covar``.
    ``full`` covariances freeze whole; ``diag`` per entry; ``spherical`` whole.
    With a prior or a floor only whole parameters (all of a mean or covariance)
    may be frozen: the family's MAP step takes them as given.
LogNormal
    A free ``mu`` is the mean of ``log x`` (whatever ``sigma``); a free ``sigma``
    the root of the scatter of ``log x`` about the (constrained) ``mu`` plus
    ``reg_var``.
Gamma
    Frozen shape ``a``: ``rate = a n / sum x``. Frozen rate ``b``: the shape
    solving ``digamma(a) = log b + mean(log x)`` (Newton's method on the
    concave objective, to 1e-14 relative).
Independent
    Part by part, each by its own family's rule.

Other families (Student-t, negative binomial, Weibull) may be frozen only per
component as a whole; freezing part of one is refused (:func:`check_supported`)
rather than approximated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from ...distributions._base import EPS_COUNT, Distribution
from ...distributions.bernoulli import Bernoulli
from ...distributions.categorical import Categorical
from ...distributions.exponential import Exponential
from ...distributions.gamma import Gamma, solve_gamma_shape
from ...distributions.gaussian import Gaussian
from ...distributions.independent import Independent
from ...distributions.lognormal import LogNormal
from ...distributions.multinomial import Multinomial
from ...distributions.poisson import Poisson
from ...gaussian.constrained_mean import constrained_gaussian_m_step, stack_gaussian_stats
from ...numerics.shared_mass import shared_mass as _shared_mass

__all__ = ["constrained_parameters", "check_supported", "any_frozen", "all_frozen",
           "stack_gaussian_stats"]

_SEPARABLE = (Poisson, Exponential, Bernoulli)


def _leaves(tree: Any) -> list[np.ndarray]:
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _leaves(value)]
    if isinstance(tree, (list, tuple)):
        return [leaf for value in tree for leaf in _leaves(value)]
    return [np.asarray(tree)]


def any_frozen(mask: Any) -> bool:
    """Whether a mask tree freezes at least one entry."""
    return any(bool(leaf.any()) for leaf in _leaves(mask))


def all_frozen(mask: Any) -> bool:
    """Whether a mask tree freezes every entry."""
    return all(bool(leaf.all()) for leaf in _leaves(mask))


def _whole(mask: np.ndarray) -> bool:
    return bool(mask.all() or not mask.any())


def check_supported(template: Distribution, mask: dict, where: str) -> None:
    """Refuse a mask this family has no exact constrained M-step for.

    Raises
    ------
    ValueError
        Naming ``where`` (e.g. ``"freeze['components_'][1]"``) and the family.
    """
    if not any_frozen(mask) or all_frozen(mask):
        return
    name = type(template).__name__
    if isinstance(template, Independent):
        for j, (part, sub) in enumerate(zip(template._parts, mask["parts"], strict=True)):
            check_supported(part, sub, f"{where}['parts'][{j}]")
        return
    if isinstance(template, (*_SEPARABLE, Categorical, Multinomial, LogNormal, Gamma)):
        return
    if isinstance(template, Gaussian):
        kind = template.covariance_type
        if template._is_map() and not (_whole(mask["mean"]) and _whole(mask["covariance"])):
            raise ValueError(f"{where}: a Gaussian with a prior or a variance floor can "
                             "freeze only whole parameters (all of its mean or of its "
                             "covariance)")
        if kind in ("full", "tied") and not _whole(mask["covariance"]):
            raise ValueError(f"{where}: a {kind!r} Gaussian's covariance freezes whole (all "
                             "of its entries or none)")
        return
    raise ValueError(f"{where}: {name} has no exact M-step with part of its parameters "
                     "frozen; freeze the whole component or none of it")


def _gamma_shape(log_rate_plus_mean_log: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The ``a > 0`` solving ``digamma(a) = c`` by Newton's method (digamma is concave
    and increasing: after the first step the iterates rise monotonically to the root)."""
    c = np.asarray(log_rate_plus_mean_log, dtype=np.float64)
    # a start near the root: digamma(a) ~ log(a - 1/2) for a large, -1/a - gamma for a small
    a = np.where(c >= -2.22, np.exp(c) + 0.5, -1.0 / (c - special.digamma(1.0)))
    a = np.where(np.isfinite(a) & (a > 0), a, np.maximum(start, 1e-3))
    for _ in range(100):
        step = (special.digamma(a) - c) / special.polygamma(1, a)
        new = a - step
        new = np.where(new > 0, new, a / 2.0)
        if np.all(np.abs(new - a) <= 1e-14 * np.abs(a)):
            return new
        a = new
    return a


def constrained_parameters(template: Distribution, stats: dict, fixed: dict,
                           mask: dict) -> dict:
    """The parameters (a ``parameters()`` tree) of the constrained M-step of one component.

    Parameters
    ----------
    template : Distribution
        The component's family and settings.
    stats : dict
        Its summed statistics (as ``template.stats``).
    fixed : dict
        The frozen values (a ``parameters()`` tree; free entries are ignored).
    mask : dict
        Boolean arrays of the same structure, True = frozen.
    """
    if not any_frozen(mask):
        return template.from_stats(stats).parameters()
    if all_frozen(mask):
        return _copy(fixed)
    if isinstance(template, Independent):
        return {"parts": [constrained_parameters(p, s, f, m) for p, s, f, m in zip(
            template._parts, stats["parts"], fixed["parts"], mask["parts"], strict=True)]}
    if isinstance(template, _SEPARABLE):
        fitted = template.from_stats(stats).parameters()
        return {key: np.where(mask[key], fixed[key], fitted[key]) for key in fitted}
    if isinstance(template, (Categorical, Multinomial)):
        counts = np.asarray(stats["counts"], dtype=np.float64)
        if isinstance(template, Categorical):
            a = template._concentration(counts.shape)
            if a is not None:
                counts = np.maximum(counts + (a - 1.0), 0.0)
        probs = _shared_mass(counts, np.asarray(fixed["probs"], dtype=np.float64),
                             np.asarray(mask["probs"]))
        return {"probs": probs}
    if isinstance(template, Gaussian):
        return _gaussian(template, stats, fixed, mask)
    if isinstance(template, LogNormal):
        return _lognormal(template, stats, fixed, mask)
    if isinstance(template, Gamma):
        return _gamma(stats, fixed, mask)
    raise ValueError(f"{type(template).__name__}: no constrained M-step for a partial freeze")


def _copy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {key: _copy(value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_copy(value) for value in tree]
    return np.array(tree, dtype=np.float64, copy=True)


def _gaussian(template: Gaussian, stats: dict, fixed: dict, mask: dict) -> dict:
    if template._is_map():  # whole parameters only (check_supported)
        keep = {key: fixed[key] for key in ("mean", "covariance") if mask[key].all()}
        return type(template).fit_components([template], [stats], [keep])[0].parameters()
    kind = template._kind()
    mean_mask = np.atleast_1d(mask["mean"])
    d = mean_mask.shape[0]
    cov_mask = np.asarray(mask["covariance"])
    step = constrained_gaussian_m_step(
        stack_gaussian_stats([stats]), kind, template.reg_covar,
        {"weights": np.ones(1), "means": np.atleast_1d(fixed["mean"])[None],
         "covariances": np.asarray(fixed["covariance"], dtype=np.float64)[None]},
        {"means": mean_mask.reshape(1, d),
         "covariances": (np.full((1, d, d), bool(cov_mask.all())) if kind == "full"
                         else cov_mask.reshape((1, *cov_mask.shape)))})
    return {"mean": step["means"][0], "covariance": np.asarray(step["covariances"][0])}


def _lognormal(template: LogNormal, stats: dict, fixed: dict, mask: dict) -> dict:
    n = stats["n"] + EPS_COUNT
    ybar = stats["sum"] / n
    shift = stats["centred_sum"] / n
    spread = np.maximum(stats["centred_sq"] / n - shift**2, 0.0)  # about ybar
    mu = np.where(mask["mu"], fixed["mu"], ybar)
    var = spread + (ybar - mu) ** 2 + template.reg_var
    if np.any(~mask["sigma"] & ~(var > 0)):
        raise ValueError("LogNormal: a column of log x is constant; set reg_var > 0")
    sigma = np.where(mask["sigma"], fixed["sigma"], np.sqrt(np.maximum(var, 0.0)))
    return {"mu": mu, "sigma": sigma}


def _gamma(stats: dict, fixed: dict, mask: dict) -> dict:
    n = stats["n"] + EPS_COUNT
    mean = stats["sum"] / n
    mean_log = stats["sum_log"] / n
    shape_mask, rate_mask = np.asarray(mask["shape"]), np.asarray(mask["rate"])
    fixed_shape = np.asarray(fixed["shape"], dtype=np.float64)
    fixed_rate = np.asarray(fixed["rate"], dtype=np.float64)
    both_free = ~shape_mask & ~rate_mask
    joint = solve_gamma_shape(np.log(mean) - mean_log)
    given_rate = _gamma_shape(np.log(fixed_rate) + mean_log, fixed_shape)
    shape = np.where(shape_mask, fixed_shape, np.where(both_free, joint, given_rate))
    rate = np.where(rate_mask, fixed_rate, shape / mean)
    return {"shape": shape, "rate": rate}
