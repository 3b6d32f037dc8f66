"""Duration distributions of the hidden semi-Markov model: tables and M-steps.

Durations are ``d = 1 .. D`` (``D = max_duration``). ``"poisson"`` is a Poisson
on ``d - 1`` with rate ``lambda``; ``"negative_binomial"`` is NB(r, p) on
``d - 1`` (``P(x) = C(x + r - 1, x) p^r (1 - p)^x``, scipy's ``nbinom(r, p)``);
both are truncated at ``D`` and renormalized. ``"nonparametric"`` is a
probability vector over ``1 .. D``.

Parameters (an array per family): poisson ``(K, 1)`` rates, negative binomial
``(K, 2)`` columns ``(r, p)``, nonparametric ``(K, D)`` the table itself.

The M-step maximizes ``sum_d w[j, d] log P(d | j)`` for expected duration counts
``w`` (complete segments plus the imputed durations of censored last segments):
in closed form for the table, by a 1-D root of the truncated mean for the
Poisson, and numerically (kept only when it improves on the anchor) for the
negative binomial.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy.special import gammaln, logsumexp

__all__ = ["DURATIONS", "log_pmf_table", "fit_durations", "gamma_prior", "initial_durations",
           "n_duration_parameters", "impute_censored", "check_duration_params"]

DURATIONS = ("poisson", "negative_binomial", "nonparametric")


def _poisson_log(rate: np.ndarray, dmax: int) -> np.ndarray:
    x = np.arange(dmax, dtype=float)
    rate = np.maximum(np.asarray(rate, float).reshape(-1, 1), 1e-300)
    raw = x * np.log(rate) - rate - gammaln(x + 1.0)
    return raw - logsumexp(raw, axis=1, keepdims=True)


def _nbinom_log(r: np.ndarray, p: np.ndarray, dmax: int) -> np.ndarray:
    x = np.arange(dmax, dtype=float)
    r = np.asarray(r, float).reshape(-1, 1)
    p = np.asarray(p, float).reshape(-1, 1)
    with np.errstate(divide="ignore"):
        raw = (gammaln(x + r) - gammaln(r) - gammaln(x + 1.0) + r * np.log(p)
               + x * np.log1p(-p))
    return raw - logsumexp(raw, axis=1, keepdims=True)


def log_pmf_table(family: str, params: np.ndarray, dmax: int) -> np.ndarray:
    """``log P(d | j)``, shape (n_components, dmax), for d = 1 .. dmax."""
    params = np.asarray(params, dtype=float)
    if family == "poisson":
        return _poisson_log(params[:, 0], dmax)
    if family == "negative_binomial":
        return _nbinom_log(params[:, 0], params[:, 1], dmax)
    with np.errstate(divide="ignore"):
        return np.log(params)


def check_duration_params(family: str, params: np.ndarray, k: int, dmax: int) -> None:
    """Raise ``ValueError`` when duration parameters have the wrong shape or values."""
    width = {"poisson": 1, "negative_binomial": 2}.get(family, dmax)
    if params.shape != (k, width):
        raise ValueError(f"duration parameters for {family!r} must have shape "
                         f"{(k, width)}, got {params.shape}")
    if not np.all(np.isfinite(params)):
        raise ValueError("duration parameters must be finite")
    if family == "poisson" and np.any(params < 0):
        raise ValueError("duration rates must be non-negative")
    if family == "negative_binomial" and (np.any(params[:, 0] <= 0) or np.any(params[:, 1] <= 0)
                                          or np.any(params[:, 1] > 1)):
        raise ValueError("negative binomial durations need r > 0 and 0 < p <= 1")
    if family == "nonparametric" and (np.any(params < 0)
                                      or not np.allclose(params.sum(axis=1), 1.0, atol=1e-6)):
        raise ValueError("durations_ rows must be non-negative and sum to 1")


def initial_durations(family: str, k: int, dmax: int, mean: float) -> np.ndarray:
    """Starting parameters with mean duration about ``mean`` (clipped into 1 .. dmax)."""
    m = float(np.clip(mean, 1.0, max(1.0, (dmax + 1) / 2.0))) - 1.0
    if family == "poisson":
        return np.full((k, 1), max(m, 0.5))
    if family == "negative_binomial":
        r = 2.0
        return np.tile([r, r / (r + max(m, 0.5))], (k, 1))
    table = np.exp(_poisson_log(np.full(k, max(m, 0.5)), dmax))
    return 0.9 * table + 0.1 / dmax


def n_duration_parameters(family: str, k: int, dmax: int) -> int:
    """Free duration parameters (for BIC)."""
    return {"poisson": k, "negative_binomial": 2 * k}.get(family, k * (dmax - 1))


def impute_censored(durations: np.ndarray, censored: np.ndarray,
                    log_pmf: np.ndarray) -> np.ndarray:
    """Complete-duration counts: each censored segment of observed length ``L`` is
    spread over ``d >= L`` with probabilities ``P(d) / P(duration >= L)`` (the EM
    expectation of its unobserved full length)."""
    pmf = np.exp(log_pmf)
    surv = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    ratio = np.where(surv > 0, censored / np.where(surv > 0, surv, 1.0), 0.0)
    return durations + pmf * np.cumsum(ratio, axis=1)


def _nb_objective(theta: np.ndarray, w: np.ndarray, dmax: int) -> float:
    r, p = np.exp(theta[0]), 1.0 / (1.0 + np.exp(-theta[1]))
    return -float(w @ _nbinom_log(np.array([r]), np.array([p]), dmax)[0])


def gamma_prior(prior: object) -> tuple[float, float]:
    """``(shape, rate)`` of the Gamma prior on Poisson duration rates; ``1.0``
    (or any bare number) means none, ``(1, 0)``."""
    if isinstance(prior, (tuple, list, np.ndarray)) and np.shape(prior) == (2,):
        return float(prior[0]), float(prior[1])
    return 1.0, 0.0


def fit_durations(family: str, counts: np.ndarray, anchor: np.ndarray | None,
                  prior: object = 1.0, mask: np.ndarray | None = None) -> np.ndarray:
    """The duration M-step from expected counts (n_components, dmax).

    ``anchor`` (the current parameters) is where the negative binomial's search
    starts, and kept when the search does not improve on it; a state without
    counts keeps its anchor. ``prior``: for the nonparametric table a Dirichlet
    concentration (``mask`` its allowed entries); for the Poisson a pair
    ``(a, b)``, a Gamma(shape a >= 1, rate b >= 0) prior on each rate ``lambda``
    of ``d - 1``, whose MAP solves ``N m(lambda) + b lambda = N xbar + a - 1``
    (``m``: the truncated Poisson mean, ``N`` the segments, ``xbar`` their mean
    ``d - 1``); untruncated this is ``(N xbar + a - 1) / (N + b)``.
    """
    k, dmax = counts.shape
    tot = counts.sum(axis=1)
    if family == "nonparametric":
        w = np.maximum(counts + float(prior) - 1.0, 0.0)  # type: ignore[arg-type]
        if mask is not None:
            w = np.where(mask, w, 0.0)
        sums = w.sum(axis=1, keepdims=True)
        out = w / np.where(sums > 0, sums, 1.0)
        if anchor is not None:
            out = np.where(sums > 0, out, anchor)
        return out
    x = np.arange(dmax, dtype=float)
    out = np.array(anchor, dtype=float, copy=True)
    shape, rate = gamma_prior(prior) if family == "poisson" else (1.0, 0.0)
    for j in range(k):
        if tot[j] <= 1e-12:
            continue
        w = counts[j]
        if family == "poisson":
            n_seg = float(tot[j])
            target = float(w @ x) + shape - 1.0  # N xbar + a - 1
            if target <= 1e-12:
                out[j, 0] = 0.0
                continue

            def gap(log_rate: float, n_seg: float = n_seg, target: float = target) -> float:
                lam = np.exp(log_rate)
                p = np.exp(_poisson_log(np.array([lam]), dmax)[0])
                return n_seg * float(p @ x) + rate * lam - target

            lo, hi = np.log(1e-10), np.log(10.0 * dmax + 10.0)
            if gap(hi) < 0:
                out[j, 0] = np.exp(hi)
                continue
            out[j, 0] = np.exp(optimize.brentq(gap, lo, hi, xtol=1e-14, rtol=1e-14))
        else:
            a = out[j]
            theta0 = np.array([np.log(a[0]), np.log(a[1]) - np.log1p(-min(a[1], 1 - 1e-12))])
            res = optimize.minimize(_nb_objective, theta0, args=(w, dmax), method="L-BFGS-B",
                                    bounds=[(-10, 12), (-25, 25)],
                                    options={"ftol": 1e-15, "gtol": 1e-10})
            if res.fun <= _nb_objective(theta0, w, dmax):
                out[j] = [np.exp(res.x[0]), 1.0 / (1.0 + np.exp(-res.x[1]))]
    return out
