"""Small textbook EM problems, written as :class:`emkit.EMModel` implementations.

They are the shortest complete examples of the model protocol, and their answers
are known in closed form or published, so they also anchor the engine's tests and
benchmarks.

* :class:`GeneticLinkage` - Dempster, Laird & Rubin (1977), section 1: 197 animals
  in four categories; the MLE is ``theta = 0.6268214980``.
* :class:`TwoCoins` - Do & Batzoglou (2008): sets of tosses from one of two coins
  of unknown bias.
* :class:`CensoredExponential` - exponential lifetimes with right censoring; the
  MLE is ``failures / total time on test``.
* :class:`NormalMixture1D` - a one-dimensional mixture of normals, the
  smallest model whose EM can be made arbitrarily slow by overlapping components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, logsumexp

__all__ = ["GeneticLinkage", "TwoCoins", "CensoredExponential", "NormalMixture1D"]

#: The counts of Dempster, Laird & Rubin (1977): AB, Ab, aB, ab phenotypes.
LINKAGE_COUNTS = np.array([125.0, 18.0, 20.0, 34.0])


class GeneticLinkage:
    """Multinomial with cell probabilities (1/2 + t/4, (1 - t)/4, (1 - t)/4, t/4).

    ``data`` is the vector of four counts; ``params`` is ``t`` (a float). The
    hidden part is how the first cell's count splits between its 1/2 and t/4 parts.
    """

    @staticmethod
    def cell_probabilities(theta: float) -> np.ndarray:
        return np.array([0.5 + theta / 4, (1 - theta) / 4, (1 - theta) / 4, theta / 4])

    def loglik(self, counts: np.ndarray, theta: float) -> float:
        """Observed-data multinomial log-likelihood, with its combinatorial constant."""
        counts = np.asarray(counts, dtype=float)
        const = gammaln(counts.sum() + 1) - gammaln(counts + 1).sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(const + counts @ np.log(self.cell_probabilities(theta)))

    def is_feasible(self, theta: float) -> bool:
        return 0.0 < theta < 1.0

    def e_step(self, counts: np.ndarray, theta: float) -> tuple[dict, float]:
        counts = np.asarray(counts, dtype=float)
        split = counts[0] * (theta / 4) / (0.5 + theta / 4)
        stats = {"linked": split + counts[3], "unlinked": counts[1] + counts[2]}
        return stats, self.loglik(counts, theta)

    def m_step(self, stats: dict) -> float:
        return float(stats["linked"] / (stats["linked"] + stats["unlinked"]))


class TwoCoins:
    """Each row is ``(heads, tosses)`` from one of two coins picked with probability 1/2.

    ``params`` is the tuple ``(p_A, p_B)`` of the coins' head probabilities.
    """

    def loglik_rows(self, data: np.ndarray, params: tuple[float, float]) -> np.ndarray:
        heads, tosses = np.asarray(data, dtype=float).T
        p = np.asarray(params, dtype=float)
        log_comb = gammaln(tosses + 1) - gammaln(heads + 1) - gammaln(tosses - heads + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_coin = (
                np.log(0.5)
                + heads[:, None] * np.log(p)
                + (tosses - heads)[:, None] * np.log1p(-p)
            )
        return log_comb[:, None] + per_coin

    def is_feasible(self, params: tuple[float, float]) -> bool:
        return all(0.0 < p < 1.0 for p in params)

    def e_step(self, data: np.ndarray, params: tuple[float, float]) -> tuple[dict, float]:
        joint = self.loglik_rows(data, params)
        row_ll = logsumexp(joint, axis=1)
        resp = np.exp(joint - row_ll[:, None])
        heads, tosses = np.asarray(data, dtype=float).T
        stats = {"heads": resp.T @ heads, "tosses": resp.T @ tosses}
        return stats, float(row_ll.sum())

    def m_step(self, stats: dict) -> tuple[float, float]:
        p = stats["heads"] / stats["tosses"]
        return float(p[0]), float(p[1])


@dataclass(frozen=True)
class CensoredLifetimes:
    """Observed failure times and right-censoring times (both arrays)."""

    failures: np.ndarray
    censored: np.ndarray


class CensoredExponential:
    """Exponential lifetimes with rate ``lam``; some only known to exceed a time.

    The hidden part is the remaining life of each censored unit, whose
    expectation is ``c + 1/lam`` by memorylessness.
    """

    def is_feasible(self, lam: float) -> bool:
        return lam > 0.0

    def e_step(self, data: CensoredLifetimes, lam: float) -> tuple[dict, float]:
        t = np.asarray(data.failures, dtype=float)
        c = np.asarray(data.censored, dtype=float)
        expected_total = t.sum() + c.sum() + c.size / lam
        loglik = t.size * np.log(lam) - lam * (t.sum() + c.sum())
        return {"units": float(t.size + c.size), "time": expected_total}, float(loglik)

    def m_step(self, stats: dict) -> float:
        return float(stats["units"] / stats["time"])


class NormalMixture1D:
    """A K-component mixture of univariate normals.

    ``params`` is a dict with arrays ``weights``, ``means`` and ``variances`` of
    shape (K,). The statistics are the responsibility-weighted counts, sums and
    sums of squares centred on the current means (so they stay accurate when the
    data sit far from zero).
    """

    def is_feasible(self, params: dict) -> bool:
        w = np.asarray(params["weights"])
        return bool(np.all(w > 0) and np.all(np.asarray(params["variances"]) > 0))

    def _joint(self, x: np.ndarray, params: dict) -> np.ndarray:
        w, mu, var = (np.asarray(params[k], dtype=float) for k in ("weights", "means", "variances"))
        with np.errstate(divide="ignore", invalid="ignore"):  # outside the domain -> nan
            return np.log(w) - 0.5 * np.log(2 * np.pi * var) - 0.5 * (x[:, None] - mu) ** 2 / var

    def e_step(self, x: np.ndarray, params: dict) -> tuple[dict, float]:
        x = np.asarray(x, dtype=float).ravel()
        joint = self._joint(x, params)
        row_ll = logsumexp(joint, axis=1)
        resp = np.exp(joint - row_ll[:, None])
        centred = x[:, None] - np.asarray(params["means"], dtype=float)
        stats = {
            "n": resp.sum(axis=0),
            "sum": resp.T @ x,
            "centred_sum": (resp * centred).sum(axis=0),
            "centred_squares": (resp * centred**2).sum(axis=0),
        }
        return stats, float(row_ll.sum())

    def m_step(self, stats: dict) -> dict:
        n = stats["n"]
        shift = stats["centred_sum"] / n  # new mean minus the E-step's mean
        return {
            "weights": n / n.sum(),
            "means": stats["sum"] / n,
            "variances": stats["centred_squares"] / n - shift**2,
        }

    @staticmethod
    def loglik(x: np.ndarray, params: dict) -> float:
        return float(logsumexp(NormalMixture1D()._joint(np.ravel(x), params), axis=1).sum())
