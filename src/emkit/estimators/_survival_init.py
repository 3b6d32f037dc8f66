"""Starting points of :class:`emkit.SurvivalMixture`.

The observed failure times are grouped by a one-dimensional k-means on ``log t``
(from K distinct failure times drawn at random; one group when K = 1) and every
row, censored ones included, goes to the nearest group. Each group's start is
the moment estimate of its failures' ``log t`` (Weibull: mean ``log lam - gamma/k``,
variance ``pi^2 / (6 k^2)``; log-normal: mean and standard deviation) or, for the
exponential, its failures over its exposure. A cure fraction starts at half the
censored share of the rows (between 0.01 and 0.5).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["start_params", "LLOYD_ITERATIONS"]

LLOYD_ITERATIONS = 20
_EULER_GAMMA = 0.5772156649015329


def _groups(y: np.ndarray, seen: np.ndarray, w: np.ndarray, k: int,
            rng: np.random.RandomState) -> np.ndarray:
    """Group of each row (0 .. k - 1), ordered by centre, from k-means on failures' log t."""
    if k == 1:
        return np.zeros(y.size, dtype=int)
    values = np.unique(y[seen])
    centres = np.sort(rng.choice(values, size=k, replace=False))
    ys, ws = y[seen], w[seen]
    for _ in range(LLOYD_ITERATIONS):
        label = np.argmin(np.abs(ys[:, None] - centres[None]), axis=1)
        new = centres.copy()
        for j in range(k):
            mass = ws[label == j].sum()
            if mass > 0:
                new[j] = ws[label == j] @ ys[label == j] / mass
        new = np.sort(new)
        if np.array_equal(new, centres):
            break
        centres = new
    label = np.argmin(np.abs(y[:, None] - centres[None]), axis=1)
    for j in range(k):  # a group without failures: quantile centres instead
        if np.unique(y[seen & (label == j)]).size < 2:
            q = np.quantile(ys, (np.arange(k) + 0.5) / k)
            return np.argmin(np.abs(y[:, None] - q[None]), axis=1)
    return label


def start_params(family: str, k: int, cure: bool, time: np.ndarray, event: np.ndarray,
                 weight: np.ndarray | None, rng: np.random.RandomState, *,
                 shape_bounds: tuple[float, float] = (1e-3, 1e3),
                 evidence: np.ndarray | None = None) -> dict[str, Any]:
    """One start: weights (cure fraction last) and the family's parameters, shape (K,).

    Parameters
    ----------
    family : str
    k : int
    cure : bool
    time, event : ndarray of shape (n,)
    weight : ndarray of shape (n,) or None
    rng : RandomState
        Draws the k-means centres.
    shape_bounds : tuple of float
    evidence : ndarray of shape (n, K [+ 1]), optional
        The rows' log-evidence (known labels, priors): the groups are renamed to
        agree with it and it is applied (:func:`_labelled_start`).
    """
    w = np.ones(time.size) if weight is None else np.asarray(weight, dtype=float)
    y = np.log(time)
    seen = (event > 0.5) & (w > 0)
    label = _groups(y, seen, w, k, rng)
    if evidence is not None:
        return _labelled_start(family, k, cure, time, event, w, label, evidence, shape_bounds)
    floor = _variance_floor(y, seen)
    mass = np.array([w[label == j].sum() for j in range(k)])
    a, b = np.empty(k), np.empty(k)
    for j in range(k):
        g = label == j
        ge = g & seen
        if family == "exponential":
            a[j] = max(w[ge].sum(), 1e-12) / max(w[g] @ time[g], 1e-300)
            continue
        wj = w[ge] if ge.any() else w[seen]
        yj = y[ge] if ge.any() else y[seen]
        a[j], b[j] = _moment_start(family, wj, yj, floor, shape_bounds)
    weights = np.maximum(mass, 1e-12)
    weights = weights / weights.sum()
    if cure:
        censored = 1.0 - float(w[seen].sum()) / float(w.sum())
        c0 = float(np.clip(0.5 * censored, 0.01, 0.5))
        weights = np.append(weights * (1.0 - c0), c0)
    return _start_params(family, weights, a, b)


def _labelled_start(family: str, k: int, cure: bool, time: np.ndarray, event: np.ndarray,
                    w: np.ndarray, label: np.ndarray, evidence: np.ndarray,
                    shape_bounds: tuple[float, float]) -> dict[str, Any]:
    """A start that uses the evidence: the groups renamed to agree with it, then weighted
    moment estimates from the responsibilities with the evidence applied.

    A row may go to the cure component (the last) only when censored; unlabelled
    censored rows start half cured, as the unsupervised start's cure fraction.
    """
    from ._supervision import align_clusters, supervised_responsibilities

    n = time.size
    y = np.log(time)
    seen = (event > 0.5) & (w > 0)
    failing = np.isfinite(evidence[:, :k]).any(axis=1)
    label = label.copy()
    if failing.any():
        label[failing] = align_clusters(label[failing], evidence[failing, :k], k)
    resp = np.zeros((n, k + int(cure)))
    resp[np.arange(n), label] = 1.0
    if cure:
        censored = event <= 0.5
        resp[censored] *= 0.5
        resp[censored, k] = 0.5
    r = supervised_responsibilities(resp, evidence) * w[:, None]
    floor = _variance_floor(y, seen)
    a, b = np.empty(k), np.empty(k)
    for j in range(k):
        rd = r[:, j] * seen
        if family == "exponential":
            a[j] = max(rd.sum(), 1e-12) / max(r[:, j] @ time, 1e-300)
            continue
        if not rd.sum() > 1e-12:
            rd = w * seen
        a[j], b[j] = _moment_start(family, rd, y, floor, shape_bounds)
    mass = np.maximum(r.sum(axis=0), 1e-12)
    weights = mass / mass.sum()
    if cure:
        c0 = float(np.clip(weights[k], 0.01, 0.5))
        weights = np.append(weights[:k] / weights[:k].sum() * (1.0 - c0), c0)
    return _start_params(family, weights, a, b)


def _variance_floor(y: np.ndarray, seen: np.ndarray) -> float:
    """The smallest start variance of log failure times: 1e-4 of their spread."""
    spread = float(np.var(y[seen])) if seen.sum() > 1 else 1.0
    return 1e-4 * spread if spread > 0 else 1e-4


def _moment_start(family: str, w: np.ndarray, y: np.ndarray, floor: float,
                  shape_bounds: tuple[float, float]) -> tuple[float, float]:
    """A Weibull (shape, scale) or log-normal (meanlog, sdlog) from the weighted mean
    and variance (at least ``floor``) of log failure times ``y``."""
    m = float(w @ y / w.sum())
    v = max(float(w @ (y - m) ** 2 / w.sum()), floor)
    if family == "weibull":
        shape = float(np.clip(np.pi / np.sqrt(6.0 * v), *shape_bounds))
        return shape, float(np.exp(m + _EULER_GAMMA / shape))
    return m, float(np.sqrt(v))


def _start_params(family: str, weights: np.ndarray, a: np.ndarray,
                  b: np.ndarray) -> dict[str, Any]:
    """The start's parameter dict under the family's names."""
    if family == "exponential":
        return {"weights": weights, "rate": a}
    if family == "weibull":
        return {"weights": weights, "shape": a, "scale": b}
    return {"weights": weights, "meanlog": a, "sdlog": b}
