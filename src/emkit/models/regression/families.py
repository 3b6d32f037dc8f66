"""Response families of a regression mixture: densities and Newton quantities.

Each component ``k`` of a regression mixture models the response of row ``i``
through its linear predictor ``eta_ik = x_i' beta_k`` (``x_i`` with a leading 1
for the intercept):

* ``"gaussian"``: ``y ~ N(eta, sigma_k^2)`` (identity link);
* ``"poisson"``: ``y ~ Poisson(exp(eta))`` (log link);
* ``"binomial"``: ``s ~ Binomial(m, expit(eta))`` (logit link), the response held
  as two columns ``(s, m)``: successes and trials.

For the Newton step of a component's part of EM's ``Q`` the functions below give,
per row and component, the derivative of the log-density in ``eta`` (``score``)
and minus its second derivative (``curvature``). The curvature of the Poisson and
binomial log-densities changes by at most a factor ``exp(|delta eta|)`` when
``eta`` moves by ``delta eta`` (``d log b''(eta) / d eta`` is 1 for the Poisson and
``1 - 2p`` for the binomial), which is what bounds the gain of a Newton step
(:mod:`emkit.models.regression.newton`). The binomial curvature is also bounded
by ``m / 4`` everywhere (Böhning & Lindsay 1988).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln

__all__ = ["FAMILIES", "log_density", "score_and_curvature", "mean_response",
           "constant_term"]

FAMILIES = ("gaussian", "poisson", "binomial")

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def constant_term(family: str, y: np.ndarray) -> np.ndarray:
    """The part of each row's log-density that does not depend on the parameters, (n,).

    ``-log y!`` (Poisson), ``log C(m, s)`` (binomial), ``-log(2 pi) / 2`` (Gaussian).
    """
    if family == "poisson":
        return -gammaln(y + 1.0)
    if family == "binomial":
        s, m = y[:, 0], y[:, 1]
        return gammaln(m + 1.0) - gammaln(s + 1.0) - gammaln(m - s + 1.0)
    return np.full(y.shape[0], -_HALF_LOG_2PI)


def log_density(family: str, eta: np.ndarray, y: np.ndarray,
                scale: np.ndarray | None, constant: np.ndarray | None = None) -> np.ndarray:
    """Log-density of each row's response under each component, shape (n, K).

    Parameters
    ----------
    family : {"gaussian", "poisson", "binomial"}
    eta : ndarray of shape (n, K)
        Linear predictors.
    y : ndarray of shape (n,) or, binomial, (n, 2)
        Responses; binomial ones as (successes, trials).
    scale : ndarray of shape (K,) or None
        The Gaussian standard deviations (ignored by the other families).
    constant : ndarray of shape (n,), optional
        :func:`constant_term` of ``y``, when already computed.
    """
    c = constant_term(family, y) if constant is None else constant
    if family == "gaussian":
        assert scale is not None
        z = (y[:, None] - eta) / scale
        return c[:, None] - np.log(scale) - 0.5 * z * z
    if family == "poisson":
        with np.errstate(over="ignore"):  # a far tail: density 0, log -inf
            return y[:, None] * eta - np.exp(eta) + c[:, None]
    s, m = y[:, 0], y[:, 1]
    # log p = -log(1 + e^-eta), log(1 - p) = -log(1 + e^eta), without overflow
    return s[:, None] * eta - m[:, None] * np.logaddexp(0.0, eta) + c[:, None]


def score_and_curvature(family: str, eta: np.ndarray,
                        y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``d log f / d eta`` and ``-d^2 log f / d eta^2`` per row and component, (n, K).

    The Gaussian score is the residual ``y - eta`` and its curvature is 1 for every
    row (returned as None; the scale enters the M-step in closed form).
    """
    if family == "gaussian":
        return y[:, None] - eta, None
    if family == "poisson":
        with np.errstate(over="ignore"):
            mu = np.exp(eta)
        return y[:, None] - mu, mu
    s, m = y[:, 0], y[:, 1]
    p = expit(eta)
    return s[:, None] - m[:, None] * p, m[:, None] * p * (1.0 - p)


def mean_response(family: str, eta: np.ndarray) -> np.ndarray:
    """The mean of the response given ``eta`` (binomial: the success probability)."""
    if family == "gaussian":
        return eta
    if family == "poisson":
        with np.errstate(over="ignore"):
            return np.exp(eta)
    return expit(eta)
