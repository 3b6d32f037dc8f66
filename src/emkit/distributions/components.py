"""K distributions fitted together: the components of a mixture or the states of an HMM.

This is the one interface both model kinds use. A mixture weighs each row's
component log-densities by mixing weights; an HMM links them through a Markov
chain; both then need the same four things from the distributions, which
:class:`Components` provides for any list of them:

``log_prob(X, components)``
    The log-density of every row under every component, shape (n_samples, K),
    computed once per family with the family's vectorized
    :meth:`~emkit.distributions.Distribution.log_prob_components` (the one
    place where a compiled fast path is chosen).
``stats(X, resp, components)``
    Each component's weighted sufficient statistics, with the posterior
    probabilities ``resp`` (n_samples, K) as row weights: additive over rows,
    computed per family by
    :meth:`~emkit.distributions.Distribution.stats_components`.
``fit(stats, frozen=None)``
    The M-step of every component from its (summed) statistics, one call of
    the family's :meth:`~emkit.distributions.Distribution.fit_components` per
    group: components that share parameters
    (:meth:`~emkit.distributions.Distribution.pool_key`, e.g. a tied
    covariance) are fitted together, and so are the other components of one
    family (a family may use all of them at once, e.g. for components left
    with no data). ``frozen`` keeps chosen parameters at given values.
``n_parameters``, ``log_prior``, ``is_feasible``
    What BIC, MAP objectives and SQUAREM's safeguards need.

The parameters of K components, as the engine sees them, are a list of the
components' ``parameters()`` trees (:meth:`pack`); :meth:`build` turns such a
list back into distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from ._base import Distribution
from .missing import MissingEntries

__all__ = ["Components"]


class Components:
    """K distributions used as mixture components or HMM states.

    Parameters
    ----------
    templates : sequence of Distribution
        One per component: its family and settings (parameter values, if any,
        are ignored: they come from the engine's parameter tree).
    """

    def __init__(self, templates: Sequence[Distribution]):
        self.templates = list(templates)
        if not self.templates:
            raise ValueError("at least one component distribution is needed")
        #: True when every component's M-step is an exact maximizer.
        self.exact_m_step = all(t.exact_m_step for t in self.templates)
        #: Components fitted together (shared parameters), keyed by their pool key.
        self.pools: dict[Any, list[int]] = {}
        #: Component indices by family, for the vectorized per-family calls.
        self.families: dict[type[Distribution], list[int]] = {}
        for k, t in enumerate(self.templates):
            key = t.pool_key()
            if key is not None:
                self.pools.setdefault(key, []).append(k)
            self.families.setdefault(type(t), []).append(k)

    def __len__(self) -> int:
        return len(self.templates)

    # -------------------------------------------------------------- conversions
    def build(self, params: Sequence[dict[str, Any]]) -> list[Distribution]:
        """The component distributions described by a list of parameter trees."""
        return [t.with_parameters(p) for t, p in zip(self.templates, params, strict=True)]

    @staticmethod
    def pack(components: Sequence[Distribution]) -> list[dict[str, Any]]:
        """The engine's parameter trees of fitted components."""
        return [c.parameters() for c in components]

    # ------------------------------------------------------------------ E-step
    def log_prob(self, X: np.ndarray, components: Sequence[Distribution]) -> np.ndarray:
        """Log-density of each row under each component.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated data.
        components : sequence of K Distribution

        Returns
        -------
        ndarray of shape (n_samples, K)
        """
        if len(self.families) == 1:
            cls = next(iter(self.families))
            return cls.log_prob_components(list(components), X)
        out = np.empty((X.shape[0], len(components)))
        for cls, idx in self.families.items():
            out[:, idx] = cls.log_prob_components([components[k] for k in idx], X)
        return out

    def stats(self, X: np.ndarray, resp: np.ndarray,
              components: Sequence[Distribution]) -> list[dict[str, np.ndarray]]:
        """Weighted sufficient statistics of every component (additive over rows).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        resp : ndarray of shape (n_samples, K)
            Row weights of each component (responsibilities or state posteriors).
        components : sequence of K Distribution
            The distributions at the E-step's parameters (statistics may be
            centred on them).

        Returns
        -------
        list of K dicts of ndarray
        """
        if len(self.families) == 1:  # one family: no copy of the columns of resp
            return next(iter(self.families)).stats_components(list(components), X, resp)
        out: list[dict[str, np.ndarray] | None] = [None] * len(components)
        for cls, idx in self.families.items():
            block = cls.stats_components([components[k] for k in idx], X, resp[:, idx])
            for k, s in zip(idx, block, strict=True):
                out[k] = s
        # no None left: the families partition range(K)
        return cast("list[dict[str, np.ndarray]]", out)

    # ----------------------------------------------- rows with missing entries
    def log_prob_missing(self, X: np.ndarray, components: Sequence[Distribution],
                         missing: MissingEntries) -> np.ndarray:
        """:meth:`log_prob` of rows with NaN entries (missing at random), (n_samples, K).

        Each family's
        :meth:`~emkit.distributions.Distribution.log_prob_components_missing`: the
        log-density of the observed entries (a Gaussian's marginal of its observed
        block), 0 for a row with no observed entry.
        """
        out = np.empty((X.shape[0], len(components)))
        for cls, idx in self.families.items():
            out[:, idx] = cls.log_prob_components_missing([components[k] for k in idx], X,
                                                          missing)
        return out

    def frame_missing(self, X: np.ndarray, components: Sequence[Distribution],
                      missing: MissingEntries) -> tuple[np.ndarray, np.ndarray] | None:
        """The one family's fast ``(frame, shift)`` of rows with NaN entries, or ``None``."""
        if len(self.families) != 1:
            return None
        return next(iter(self.families)).frame_components_missing(list(components), X, missing)

    def stats_missing(self, X: np.ndarray, resp: np.ndarray,
                      components: Sequence[Distribution],
                      missing: MissingEntries) -> list[dict[str, np.ndarray]]:
        """:meth:`stats` of rows with NaN entries: each family's expected statistics
        (:meth:`~emkit.distributions.Distribution.stats_components_missing`), with the
        same structure as the complete rows' so that blocks add up."""
        if len(self.families) == 1:  # one family: no copy of the columns of resp
            return next(iter(self.families)).stats_components_missing(list(components), X,
                                                                      resp, missing)
        out: list[dict[str, np.ndarray] | None] = [None] * len(components)
        for cls, idx in self.families.items():
            block = cls.stats_components_missing([components[k] for k in idx], X,
                                                 resp[:, idx], missing)
            for k, s in zip(idx, block, strict=True):
                out[k] = s
        return cast("list[dict[str, np.ndarray]]", out)

    # ------------------------------------------------------------------ M-step
    def groups(self) -> list[list[int]]:
        """Indices fitted together: each pool, then the other components by family."""
        pooled = {k for idx in self.pools.values() for k in idx}
        out = [list(idx) for idx in self.pools.values()]
        for idx in self.families.values():
            rest = [k for k in idx if k not in pooled]
            if rest:
                out.append(rest)
        return out

    def fit(self, stats: Sequence[dict[str, np.ndarray]],
            frozen: Sequence[dict[str, Any]] | None = None) -> list[Distribution]:
        """Every component's M-step, one family call per group (see :meth:`groups`).

        ``frozen``: per component, parameters to keep at the given values.
        """
        fitted: list[Distribution | None] = [None] * len(self.templates)
        for idx in self.groups():
            family = type(self.templates[idx[0]])
            block = family.fit_components(
                [self.templates[k] for k in idx], [stats[k] for k in idx],
                None if frozen is None else [frozen[k] for k in idx])
            for k, c in zip(idx, block, strict=True):
                fitted[k] = c
        # no None left: the groups partition range(K)
        return cast("list[Distribution]", fitted)

    def m_step_slack(self, stats: Sequence[dict[str, np.ndarray]],
                     frozen: Sequence[dict[str, Any]] | None = None,
                     live: np.ndarray | None = None) -> float:
        """What :meth:`fit` from ``stats`` may cost EM's monotone guarantee: the sum of
        each group's :meth:`~emkit.distributions.Distribution.m_step_slack_components`
        (``live``: only the components marked, e.g. an HMM's reachable states)."""
        total = 0.0
        for idx in self.groups():
            if live is not None:
                idx = [k for k in idx if live[k]]
            if not idx:
                continue
            family = type(self.templates[idx[0]])
            total += family.m_step_slack_components(
                [self.templates[k] for k in idx], [stats[k] for k in idx],
                None if frozen is None else [frozen[k] for k in idx])
        return float(total)

    def initialize(self, X: np.ndarray, resp: np.ndarray, rng: Any) -> list[Distribution]:
        """First estimates from data with given responsibilities (n_samples, K).

        Each component starts from its family's ``init_from_data``; components
        that share parameters then get one pooled M-step, so they start equal.
        """
        comps = [t.init_from_data(X, resp[:, k], rng) for k, t in enumerate(self.templates)]
        if not self.pools:
            return comps
        return self.fit(self.stats(X, resp, comps))

    # -------------------------------------------------------------- utilities
    def is_feasible(self, params: Sequence[dict[str, Any]]) -> bool:
        """Every component's parameters inside its parameter space."""
        return all(t.is_feasible(p) for t, p in zip(self.templates, params, strict=True))

    def log_prior(self, components: Sequence[Distribution],
                  live: np.ndarray | None = None) -> float:
        """Sum of the components' log prior densities (``live``: only those marked)."""
        live = np.ones(len(components), bool) if live is None else np.asarray(live, bool)
        total = 0.0
        for idx in self.groups():
            family = type(self.templates[idx[0]])
            total += family.log_prior_components([components[k] for k in idx], live[idx])
        return float(total)

    def n_parameters(self, components: Sequence[Distribution]) -> int:
        """Free parameters of all components; parameters shared in a pool count once."""
        total = sum(c.n_parameters for c in components)
        for idx in self.pools.values():
            shared = getattr(components[idx[0]], "n_shared_parameters", lambda: 0)()
            total -= (len(idx) - 1) * shared
        return int(total)
