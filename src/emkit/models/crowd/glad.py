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
parameters for at most ``m_step_max_iter`` iterations, stopped (as scipy's ``gtol``
with its default max-norm) once no gradient entry exceeds ``m_step_tol``. Each
line search lowers ``-Q``, so the step never lowers the objective: a generalized EM
whose log-posterior (the E-step's ``loglik``: the log-likelihood of the ratings
plus the normal log-priors) does not decrease.

Known true classes (``Ratings.known`` >= 0) keep one-hot posteriors. Item weights
(``Ratings.weight``, all positive here: an item of weight 0 is left out of the
data) multiply each item's terms, its ratings' and its ``beta`` prior's, in the
log-posterior and in ``Q``: with integer weights that is the objective of the data
with each item repeated under new item ids (the copies of an item keep equal
``beta``). The optimizer runs on ``u = sqrt(weight) * beta`` and stops on the
gradient of one copy, ``dQ/dbeta / weight``, which makes its path the one it takes
on the repeated items: the same inner products, line searches and stopping rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from .dawid_skene import Ratings, normalize_known, weighted_total

__all__ = ["GladEM"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def _log_sigmoid(s: np.ndarray) -> np.ndarray:
    """``log sigma(s) = -log(1 + exp(-s))`` without overflow."""
    return -np.logaddexp(0.0, -s)


class _Stopped(Exception):
    """Raised by the optimizer's callback once the gradient is small enough."""

    def __init__(self, x: np.ndarray):
        super().__init__()
        self.x = x


class GladEM:
    """Generalized-EM model for GLAD; ``data`` passed to the steps is a ``Ratings``.

    Parameters
    ----------
    data : Ratings
        The ratings the model is fitted to (the M-step needs their incidence and
        item weights; the weights, when given, must all be positive).
    priors : ndarray of shape (n_classes,)
        Fixed class prevalences.
    alpha_mean, beta_mean : ndarray of shape (n_raters,) and (n_items,)
        Means of the unit-variance normal priors.
    m_step_max_iter : int
        Most conjugate-gradient iterations per M-step.
    m_step_tol : float
        The optimizer's gradient tolerance (scipy's ``gtol``, max-norm).
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
        w = data.weight
        if w is not None and not np.all(w > 0):
            raise ValueError("GladEM needs positive item weights (leave items of weight 0 "
                             "out of the data)")
        self.weight = w
        self.rating_weight = None if w is None else w[data.item]
        self.scale = None if w is None else np.sqrt(w)

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

    def _log_prior(self, da: np.ndarray, db: np.ndarray) -> float:
        if self.weight is None:
            return float(-0.5 * (da @ da + db @ db) - 0.5 * _LOG_2PI * (da.size + db.size))
        w = self.weight
        return float(-0.5 * (da @ da + (w * db) @ db)
                     - 0.5 * _LOG_2PI * (da.size + float(w.sum())))

    def log_prior(self, params: dict[str, Any]) -> float:
        """Normal log-densities of ``alpha`` and ``beta`` around their prior means.

        Each item's ``beta`` term is multiplied by the item's weight.
        """
        return self._log_prior(params["alpha"] - self.alpha_mean,
                               params["beta"] - self.beta_mean)

    def posteriors(self, data: Ratings, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Each item's log-likelihood (n_items,) and class posteriors (n_items, C).

        Items of known class get a one-hot posterior and ``log P(ratings, class)``.
        """
        return normalize_known(self.log_joint(data, params), data.known)

    # -------------------------------------------------------------- EMModel
    def e_step(self, data: Ratings, params: dict[str, Any]) -> tuple[dict, float]:
        ll, post = self.posteriors(data, params)
        rows = float(data.item.size)
        stats = {"rows": np.asarray(rows),
                 "correct": post[data.item, data.label],
                 "anchor_alpha": rows * np.asarray(params["alpha"], dtype=float),
                 "anchor_beta": rows * np.asarray(params["beta"], dtype=float)}
        return stats, weighted_total(ll, data.weight) + self.log_prior(params)

    def _beta(self, x: np.ndarray) -> np.ndarray:
        """``beta`` from the optimizer's point ``x = [alpha, u]``."""
        u = x[self.data.n_raters:]
        return u if self.scale is None else u / self.scale

    def q_and_gradient(self, x: np.ndarray, correct: np.ndarray) -> tuple[float, np.ndarray]:
        """``-Q`` and its gradient at ``x = [alpha, u]`` (minimized by the M-step).

        ``u = sqrt(weight) * beta`` (``u = beta`` without weights).
        """
        data = self.data
        n_r = data.n_raters
        alpha, beta = x[:n_r], self._beta(x)
        s, right, wrong = self.rating_terms(data, alpha, beta)
        v = self.rating_weight
        if v is None:
            q = float(correct @ right + (1.0 - correct) @ wrong)
        else:
            q = float((v * correct) @ right + (v * (1.0 - correct)) @ wrong)
        da, db = alpha - self.alpha_mean, beta - self.beta_mean
        q += self._log_prior(da, db)
        g = (correct - expit(s)) * np.exp(beta[data.item])  # dQ/ds * ds/dalpha
        if v is not None:
            g = g * v
        grad_alpha = np.bincount(data.rater, weights=g, minlength=n_r) - da
        grad_beta = np.bincount(data.item, weights=g * alpha[data.rater],
                                minlength=data.n_items)
        if self.scale is None:
            grad_u = grad_beta - db
        else:
            grad_u = (grad_beta - self.weight * db) / self.scale
        return -q, -np.concatenate([grad_alpha, grad_u])

    def gradient_norm(self, grad: np.ndarray) -> float:
        """The stopping norm: the largest of |dQ/dalpha| and |dQ/dbeta / weight|."""
        if self.scale is None:
            return float(np.max(np.abs(grad)))
        n_r = self.data.n_raters
        return float(max(np.max(np.abs(grad[:n_r]), initial=0.0),
                         np.max(np.abs(grad[n_r:] / self.scale), initial=0.0)))

    def _conjugate_gradients(self, x0: np.ndarray, correct: np.ndarray) -> np.ndarray:
        """scipy's CG from ``x0``, stopped by :meth:`gradient_norm` (see the module docstring)."""
        last: dict[str, Any] = {}

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            if "x" in last and np.array_equal(x, last["x"]):
                return last["f"], last["g"]
            f, g = self.q_and_gradient(x, correct)
            last.update(x=np.array(x), f=f, g=g)
            return f, g

        def stop(xk: np.ndarray) -> None:
            if self.gradient_norm(fun(xk)[1]) <= self.m_step_tol:
                raise _Stopped(np.array(xk))

        f0, g0 = fun(x0)
        if self.gradient_norm(g0) <= self.m_step_tol:
            return x0
        # gtol=0: scipy's own max-norm rule is replaced by stop(); maxiter as before
        try:
            res = minimize(fun, x0, jac=True, method="CG", callback=stop,
                           options={"gtol": 0.0, "maxiter": self.m_step_max_iter})
            x, f = res.x, float(res.fun)
        except _Stopped as done:
            x = done.x
            f = fun(x)[0]
        # a failed line search leaves x at its last accepted point, never above -Q(x0)
        return x if f <= f0 else x0

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        rows = float(stats["rows"])
        alpha0 = np.asarray(stats["anchor_alpha"], dtype=float) / rows
        beta0 = np.asarray(stats["anchor_beta"], dtype=float) / rows
        u0 = beta0 if self.scale is None else beta0 * self.scale
        x = self._conjugate_gradients(np.concatenate([alpha0, u0]),
                                      np.asarray(stats["correct"], dtype=float))
        n_r = self.data.n_raters
        return {"alpha": x[:n_r].copy(), "beta": np.array(self._beta(x))}
