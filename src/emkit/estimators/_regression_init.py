"""Starting values of :class:`emkit.RegressionMixture`: responsibilities, then GLM starts.

A start gives every row to a component (the nearest of K lines fitted to a few
random rows each, or one k-means run on the scaled covariates and a transformed
response) and turns that into parameters the way ``glm.fit`` starts: per component,
one weighted least-squares fit of the working response at ``mu0`` (``y``;
``log(y + 0.1)`` for counts; ``logit((s + 0.5) / (m + 1))`` for binomial
outcomes) with working weights ``r * w * var(mu0)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logit

__all__ = ["INIT_PARAMS", "start_responsibilities", "start_params"]

INIT_PARAMS = ("random", "kmeans")


def _response_feature(family: str, y: np.ndarray) -> np.ndarray:
    if family == "poisson":
        return np.log1p(y)
    if family == "binomial":
        return (y[:, 0] + 0.5) / (y[:, 1] + 1.0)
    return y


def start_responsibilities(family: str, how: str, k: int, Xt: np.ndarray, y: np.ndarray,
                           w: np.ndarray | None,
                           random_state: np.random.RandomState) -> np.ndarray:
    """Responsibilities (n, K) of one start: random lines, or k-means labels.

    ``"random"``: each component gets a least-squares line through a few rows
    drawn at random (``2 (p + 1)``, at least 5), on the working response, and
    every row goes to the nearest line (one step of "k-lines" clustering, as
    k-means++ seeds k-means). ``"kmeans"``: one k-means run on the scaled
    covariates and the transformed response.
    """
    n, p1 = Xt.shape
    if how == "random":
        z, _ = _working(family, y)
        size = min(n, max(2 * p1, 5))
        lines = np.empty((k, p1))
        for j in range(k):
            rows = random_state.choice(n, size=size, replace=False)
            A = Xt[rows]
            gram = A.T @ A
            gram += 1e-8 * (np.trace(gram) / p1 + 1.0) * np.eye(p1)
            lines[j] = np.linalg.solve(gram, A.T @ z[rows])
        labels = np.argmin(np.abs(z[:, None] - Xt @ lines.T), axis=1)
    else:
        from sklearn.cluster import KMeans  # heavy import, only when initializing

        target = _response_feature(family, y)
        spread = target.std()
        feats = np.column_stack([Xt[:, 1:], (target - target.mean())
                                 / (spread if spread > 0 else 1.0)])
        labels = KMeans(n_clusters=k, n_init=1, random_state=random_state).fit(
            feats, sample_weight=w).labels_
    resp = np.zeros((n, k))
    resp[np.arange(n), labels] = 1.0
    return resp


def _working(family: str, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Working response and variance weights at glm's starting means."""
    if family == "poisson":
        mu = y + 0.1
        return np.log(mu), mu
    if family == "binomial":
        m = y[:, 1]
        p = (y[:, 0] + 0.5) / (m + 1.0)
        return logit(p), m * p * (1.0 - p)
    return y, np.ones(y.shape[0])


def start_params(family: str, resp: np.ndarray, Xt: np.ndarray, y: np.ndarray,
                 w: np.ndarray | None, Zt: np.ndarray | None,
                 y_scale: float) -> dict[str, Any]:
    """Engine parameters (on the scaled design) from one start's responsibilities.

    A component with too few rows for its least-squares fit gets a tiny ridge
    (this is a start, not an M-step); a Gaussian scale is kept above
    ``1e-3 * y_scale`` so that no start begins collapsed.
    """
    k = resp.shape[1]
    r = resp * (1.0 if w is None else w[:, None]) + 10 * np.finfo(float).eps
    z, v = _working(family, y)
    p1 = Xt.shape[1]
    coef = np.empty((k, p1))
    scale = np.empty(k)
    for j in range(k):
        a = r[:, j] * v
        gram = (Xt * a[:, None]).T @ Xt
        gram += 1e-10 * np.trace(gram) / p1 * np.eye(p1)
        coef[j] = np.linalg.solve(gram, Xt.T @ (a * z))
        if family == "gaussian":
            res = y - Xt @ coef[j]
            scale[j] = np.sqrt(r[:, j] @ (res * res) / r[:, j].sum())
    nk = r.sum(axis=0)
    params: dict[str, Any] = {"coef": coef}
    if family == "gaussian":
        params["scale"] = np.maximum(scale, 1e-3 * max(y_scale, np.finfo(float).tiny))
    if Zt is None:
        params["weights"] = nk / nk.sum()
    else:
        gamma = np.zeros((k, Zt.shape[1]))
        gamma[:, 0] = np.log(nk / nk[0])
        params["mixing"] = gamma
    return params

