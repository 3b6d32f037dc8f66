"""GLAD (Whitehill et al. 2009): rater ability and item difficulty, as a generalized EM.

Item ``i`` has an unobserved true class ``z_i`` with fixed prior ``priors`` (C,).
Rater ``r`` rating item ``i`` gives the true class with probability
``sigma(alpha[r] * exp(beta[i]))`` and each other class with probability
``(1 - sigma(...)) / (C - 1)``: ``alpha`` is the rater's ability (negative: worse
than chance), ``exp(beta)`` the item's inverse difficulty. ``alpha`` and ``beta``
have independent normal priors ``N(alpha_mean, 1)`` and ``N(beta_mean, 1)``, as in
crowd-kit's ``GLAD`` (whose parameterization, priors and M-step this follows).

Data: a :class:`~emkit.models.crowd.dawid_skene.Ratings` value.
Parameters (a dict): ``alpha`` (R,) and ``beta`` (n_items,).

E-step: class posteriors ``T`` and, per rating, ``correct = T[i, label]`` (the
probability that the rating is right); the statistics are that vector (additive
over disjoint pieces of the items, each filling its own ratings) and the current
parameters as anchors (``rows * alpha``, ``rows * beta``), where the M-step's
optimizer starts.

M-step: conjugate gradients (scipy's ``minimize(method="CG")``, as crowd-kit) on
``Q(alpha, beta) = sum_ratings [correct log sigma(s) + (1 - correct)(log(1 - sigma(s))
- log(C - 1))] + log-priors``, ``s = alpha[r] exp(beta[i])``, from the current
parameters for at most ``m_step_max_iter`` iterations. Each line search lowers
``-Q``, so the step never lowers the objective: a generalized EM whose
log-posterior (the E-step's ``loglik``: the log-likelihood of the ratings plus the
normal log-priors) does not decrease.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from ...numerics.logsumexp import log_normalize
from .dawid_skene import Ratings

__all__ = ["GladEM"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def _log_sigmoid(s: np.ndarray) -> np.ndarray:
    """``log sigma(s) = -log(1 + exp(-s))`` without overflow."""
    return -np.logaddexp(0.0, -s)


class GladEM:
    """Generalized-EM model for GLAD; ``data`` passed to the steps is a ``Ratings``.

    Parameters
    ----------
    data : Ratings
        The ratings the model is fitted to (the M-step needs their incidence).
    priors : ndarray of shape (n_classes,)
        Fixed class prevalences.
    alpha_mean, beta_mean : ndarray of shape (n_raters,) and (n_items,)
        Means of the unit-variance normal priors.
    m_step_max_iter : int
        Most conjugate-gradient iterations per M-step.
    m_step_tol : float
        The optimizer's gradient tolerance (scipy's ``tol``).
    """

    def __init__(self, data: Ratings, priors: np.ndarray, alpha_mean: np.ndarray,
                 beta_mean: np.ndarray, m_step_max_iter: int = 25, m_step_tol: float = 1e-2):
        self.data = data
        self.log_priors = np.log(np.asarray(priors, dtype=float))
        self.alpha_mean = np.asarray(alpha_mean, dtype=float)
        self.beta_mean = np.asarray(beta_mean, dtype=float)
        self.m_step_max_iter = int(m_step_max_iter)
        self.m_step_tol = float(m_step_tol)
        self.log_wrong_share = float(np.log(data.n_classes - 1))

    # ------------------------------------------------------------ the model
    def rating_terms(self, data: Ratings, alpha: np.ndarray,
                     beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per rating: ``s``, ``log P(label | right class)`` and ``log P(label | other)``."""
        s = alpha[data.rater] * np.exp(beta[data.item])
        right = _log_sigmoid(s)
        wrong = _log_sigmoid(-s) - self.log_wrong_share
        return s, right, wrong

    def log_joint(self, data: Ratings, params: dict[str, Any]) -> np.ndarray:
        """``log P(z_i = c, ratings of i)``, shape (n_items, n_classes)."""
        _, right, wrong = self.rating_terms(data, params["alpha"], params["beta"])
        n, c = data.n_items, data.n_classes
        base = np.bincount(data.item, weights=wrong, minlength=n)
        bonus = np.bincount(data.item * c + data.label, weights=right - wrong,
                            minlength=n * c).reshape(n, c)
        return bonus + base[:, None] + self.log_priors

    def log_prior(self, params: dict[str, Any]) -> float:
        """Normal log-densities of ``alpha`` and ``beta`` around their prior means."""
        da = params["alpha"] - self.alpha_mean
        db = params["beta"] - self.beta_mean
        return float(-0.5 * (da @ da + db @ db) - 0.5 * _LOG_2PI * (da.size + db.size))

    def posteriors(self, data: Ratings, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Each item's log-likelihood (n_items,) and class posteriors (n_items, C)."""
        lj = self.log_joint(data, params)
        return log_normalize(lj, out=lj)

    # -------------------------------------------------------------- EMModel
    def e_step(self, data: Ratings, params: dict[str, Any]) -> tuple[dict, float]:
        ll, post = self.posteriors(data, params)
        rows = float(data.item.size)
        stats = {"rows": np.asarray(rows),
                 "correct": post[data.item, data.label],
                 "anchor_alpha": rows * np.asarray(params["alpha"], dtype=float),
                 "anchor_beta": rows * np.asarray(params["beta"], dtype=float)}
        return stats, float(ll.sum()) + self.log_prior(params)

    def q_and_gradient(self, x: np.ndarray, correct: np.ndarray) -> tuple[float, np.ndarray]:
        """``-Q`` and its gradient at ``x = [alpha, beta]`` (minimized by the M-step)."""
        data = self.data
        n_r = data.n_raters
        alpha, beta = x[:n_r], x[n_r:]
        s, right, wrong = self.rating_terms(data, alpha, beta)
        q = float(correct @ right + (1.0 - correct) @ wrong)
        da, db = alpha - self.alpha_mean, beta - self.beta_mean
        q += -0.5 * (da @ da + db @ db) - 0.5 * _LOG_2PI * x.size
        g = (correct - expit(s)) * np.exp(beta[data.item])  # dQ/ds * ds/dalpha
        grad_alpha = np.bincount(data.rater, weights=g, minlength=n_r) - da
        grad_beta = np.bincount(data.item, weights=g * alpha[data.rater],
                                minlength=data.n_items) - db
        return -q, -np.concatenate([grad_alpha, grad_beta])

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        rows = float(stats["rows"])
        x0 = np.concatenate([np.asarray(stats["anchor_alpha"], dtype=float) / rows,
                             np.asarray(stats["anchor_beta"], dtype=float) / rows])
        correct = np.asarray(stats["correct"], dtype=float)
        res = minimize(self.q_and_gradient, x0, args=(correct,), jac=True, method="CG",
                       tol=self.m_step_tol, options={"maxiter": self.m_step_max_iter})
        x = res.x
        # a failed line search leaves res.x at its last accepted point, never above -Q(x0)
        if not float(res.fun) <= self.q_and_gradient(x0, correct)[0]:
            x = x0
        n_r = self.data.n_raters
        return {"alpha": x[:n_r].copy(), "beta": x[n_r:].copy()}
