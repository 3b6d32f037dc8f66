"""The survival mixture as an EM model: K parametric components and an optional cure fraction.

Model: row ``i`` (time ``t_i``, event ``d_i``) comes from component ``k`` with
probability ``pi_k``, and then contributes ``f_k(t_i)^d_i S_k(t_i)^(1 - d_i)``
(:mod:`~emkit.models.survival.families`). With a cure fraction a last component
never fails: ``S = 1`` and ``f = 0``, so it holds censored rows only.

Data (the engine's row-sliceable data): one float array of shape (n, 2), the
columns time and event, or (n, 3) with the row weights as a third column; then,
when the rows carry evidence (known labels, soft priors), ``K`` (or ``K + 1``
with the cure component) columns of log-evidence added to each row's log joint
before it is normalized (0 at a labelled row's component and ``-inf`` elsewhere;
``log priors``), so the log-likelihood is ``sum_i w_i log sum_k e_ik pi_k L_ik``.

Parameters (a dict): ``weights`` of shape (K,) or, with a cure fraction,
(K + 1,) with the cure fraction last; and the family's parameters, arrays of
shape (K,).

E-step: responsibilities ``r_ik`` of every component (the cure one included)
times the row weight; their column sums ``n`` give the weights' M-step
``n / sum(n)``, and each family adds the additive statistics of its components.
M-step: the family's (:func:`~emkit.models.survival.families.family_m_step`);
each raises ``Q``, so the observed log-likelihood never falls.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...engine.run import MONOTONE_RTOL
from ...numerics.logsumexp import log_normalize
from ...numerics.simplex import on_simplex
from .families import FAMILIES, PARAMETERS, component_stats, family_m_step, log_hazard_terms

__all__ = ["SurvivalMixtureEM", "EMPTY_SHARE"]

#: A component whose responsibility (or observed failures) falls below this share
#: of the total is empty.
EMPTY_SHARE = 1e-10


class SurvivalMixtureEM:
    """EM model of a K-component mixture of right-censored survival distributions.

    Parameters
    ----------
    family : {"exponential", "weibull", "lognormal"}
    n_components : int
        Components that fail (the cure component is not counted).
    cure : bool, default False
        Whether a last component never fails.
    weighted : bool, default False
        Whether the data carry row weights (a third column).
    shape_bounds : tuple of float, default (1e-3, 1e3)
        Range of Weibull shapes.
    min_sdlog : float, default 1e-8
        A log-normal component whose ``sdlog`` falls to this or below has collapsed
        onto one failure time (the likelihood is unbounded there): the M-step
        raises ``ValueError``.
    evidence : bool, default False
        Whether the data carry per-row log-evidence (the last ``K [+ 1]`` columns).
    """

    def __init__(self, family: str, n_components: int, *, cure: bool = False,
                 weighted: bool = False, shape_bounds: tuple[float, float] = (1e-3, 1e3),
                 min_sdlog: float = 1e-8, evidence: bool = False):
        if family not in FAMILIES:
            raise ValueError(f"distribution must be one of {FAMILIES}, got {family!r}")
        self.family = family
        self.n_components = int(n_components)
        self.cure = bool(cure)
        self.weighted = bool(weighted)
        self.shape_bounds = (float(shape_bounds[0]), float(shape_bounds[1]))
        self.min_sdlog = float(min_sdlog)
        self.evidence = bool(evidence)
        # every M-step is exact or raises Q by construction: only rounding may
        # lower the log-likelihood, the engine's default allowance
        self.monotone_rtol = MONOTONE_RTOL

    # ----------------------------------------------------------------- data
    def unpack(self, data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(time, event, weight)`` from the data array (weight None when absent)."""
        D = np.asarray(data, dtype=float)
        return D[:, 0], D[:, 1], (D[:, 2] if self.weighted else None)

    def log_joint(self, data: Any, params: dict[str, Any]) -> np.ndarray:
        """``log pi_k + d log f_k(t) + (1 - d) log S_k(t)``, shape (n, K [+ 1]).

        The last column is the cure component when the model has one. Row weights
        are not applied.
        """
        t, event, _ = self.unpack(data)
        terms = log_hazard_terms(self.family, params, t, event)
        if self.cure:
            never = np.where(event > 0.5, -np.inf, 0.0)
            terms = np.column_stack([terms, never])
        with np.errstate(divide="ignore"):
            log_w = np.log(np.asarray(params["weights"], dtype=float))
        if self.evidence:
            m = self.n_components + int(self.cure)
            return terms + log_w + np.asarray(data, dtype=float)[:, -m:]
        return terms + log_w

    # -------------------------------------------------------------- EMModel
    def e_step(self, data: Any, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        t, event, w = self.unpack(data)
        ll, resp = log_normalize(self.log_joint(data, params))
        finite = bool(np.all(np.isfinite(ll)))
        if not finite:
            resp = np.where(np.isfinite(ll)[:, None], resp, 0.0)
        loglik = float(ll.sum() if w is None else w @ ll) if finite else -np.inf
        r = resp if w is None else resp * w[:, None]
        k = self.n_components
        stats: dict[str, Any] = {
            "rows": np.asarray(float(t.shape[0])),
            "n": r.sum(axis=0),
            "family": component_stats(self.family, params, t, event, r[:, :k],
                                      shape_bounds=self.shape_bounds),
        }
        return stats, loglik

    def m_step(self, stats: dict[str, Any]) -> dict[str, Any]:
        n = np.asarray(stats["n"], dtype=float)
        total = float(n.sum())
        if not total > 0.0:
            raise ValueError("no row has positive weight under the current parameters")
        k = self.n_components
        empty = np.flatnonzero(n[:k] <= EMPTY_SHARE * total)
        if empty.size:
            raise ValueError(f"component {int(empty[0])} holds no rows (total responsibility "
                             f"{n[empty[0]]:.3g}); use fewer components or other starts "
                             "(n_init)")
        events = np.asarray(stats["family"]["events"], dtype=float)
        silent = np.flatnonzero(events <= EMPTY_SHARE * max(float(events.sum()), 1e-300))
        if silent.size:
            raise ValueError(f"component {int(silent[0])} holds no observed failures (its "
                             "rows are censored), so its distribution cannot be estimated; "
                             "use fewer components or other starts (n_init)")
        params: dict[str, Any] = {"weights": n / total}
        params.update(family_m_step(self.family, stats["family"], float(stats["rows"]),
                                    shape_bounds=self.shape_bounds))
        self.check_not_collapsed(params)
        return params

    def check_not_collapsed(self, params: dict[str, Any]) -> None:
        """A log-normal component whose ``sdlog`` fell to ``min_sdlog`` is an error."""
        if self.family != "lognormal":
            return
        collapsed = np.flatnonzero(~(params["sdlog"] > self.min_sdlog))
        if collapsed.size:
            raise ValueError(
                f"component {int(collapsed[0])} collapsed: its sdlog fell to "
                f"{params['sdlog'][collapsed[0]]:.3g} (it holds one failure time, where "
                "the likelihood is unbounded); use fewer components or other starts "
                "(n_init)")

    def is_feasible(self, params: dict[str, Any]) -> bool:
        """Finite positive parameters in range, weights on the simplex."""
        w = np.asarray(params["weights"], dtype=float)
        if not on_simplex(w):
            return False
        for name in PARAMETERS[self.family]:
            v = np.asarray(params[name], dtype=float)
            if not np.all(np.isfinite(v)):
                return False
            if name in ("rate", "scale", "sdlog") and not np.all(v > 0):
                return False
        if self.family == "lognormal":
            return bool(np.all(np.asarray(params["sdlog"]) > self.min_sdlog))
        if self.family == "weibull":
            k = np.asarray(params["shape"], dtype=float)
            lo, hi = self.shape_bounds
            return bool(np.all((k >= lo) & (k <= hi)))
        return True

    # ------------------------------------------------------------- utilities
    def n_parameters(self) -> int:
        """Free parameters: each component's, and the weights (cure fraction included)."""
        k = self.n_components
        return k * len(PARAMETERS[self.family]) + k + int(self.cure) - 1
