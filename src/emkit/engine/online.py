"""Online EM for streams: stepwise EM (Cappé & Moulines 2009).

Batch EM averages the statistics over all rows before each M-step. Stepwise EM
keeps a running average of the *per-row* statistics instead, updated after every
mini-batch ``b`` of the stream::

    s <- (1 - gamma_t) * s + gamma_t * stats(b; theta) / n_rows(b)
    theta <- m_step(s * n_seen)
    gamma_t = (t + 2) ** -alpha,   alpha in (0.5, 1]

where the first batch sets ``s`` outright and ``t = 0, 1, ...`` counts the
batches after it (so ``alpha = 1`` gives the plain mean of the batches' per-row
statistics, each computed at the parameters of its time)
so one pass over the data in mini-batches makes as many M-steps as there are
batches. The conditions ``sum gamma_t = inf``, ``sum gamma_t^2 < inf`` (hence
``alpha`` in (0.5, 1]) make it converge to a stationary point of the
likelihood. Smaller ``alpha`` forgets the early, poorly-fitted batches faster.

It works for any :class:`emkit.EMModel` whose statistics add up over rows (all
of emkit's): the model is used unchanged. The M-step receives the running
average scaled to the number of rows seen so far, so models whose M-step has
priors or pseudo-counts see them weighed against that many rows.

Reference: O. Cappé and E. Moulines, "On-line expectation-maximization algorithm
for latent data models", JRSS B 71 (2009) 593-613; P. Liang and D. Klein,
"Online EM for unsupervised models", NAACL 2009.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .rows import n_rows
from .stats import tree_add, tree_scale

__all__ = ["StepwiseEM"]


class StepwiseEM:
    """Stepwise (online) EM over mini-batches for any additive-statistics model.

    Parameters
    ----------
    model : EMModel
        The model (``e_step``/``m_step``), e.g. a Gaussian-mixture model.
    init_params : object
        Initial parameters (same structure ``model.m_step`` returns).
    alpha : float, default 0.6
        Step-size exponent, ``gamma_t = (t + 2) ** -alpha``, in (0.5, 1].

    Attributes
    ----------
    params : object
        Current parameters.
    stats : object or None
        Running average of the per-row statistics (None before the first batch).
    n_batches : int
        Mini-batches seen (``t``).
    n_rows_seen : int
        Rows seen.
    loglik_per_row : float
        Mean per-row log-likelihood of the last batch, evaluated at the
        parameters *before* that batch's update (an honest, held-out-like
        progress measure for a stream); NaN before the first batch.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit.engine.rows import iter_batches
    >>> from emkit.examples.textbook import NormalMixture1D
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(-2, 1, 5000), rng.normal(2, 1, 5000)])
    >>> rng.shuffle(x)
    >>> init = {"weights": np.array([.5, .5]), "means": np.array([-1., 1.]),
    ...         "variances": np.array([1., 1.])}
    >>> online = StepwiseEM(NormalMixture1D(), init)
    >>> for batch in iter_batches(x, 500):
    ...     _ = online.partial_fit(batch)
    >>> bool(np.allclose(np.sort(online.params["means"]), [-2, 2], atol=0.1))
    True
    """

    def __init__(self, model: Any, init_params: Any, alpha: float = 0.6):
        if not isinstance(alpha, (int, float, np.floating)) or not 0.5 < alpha <= 1.0:
            raise ValueError(f"alpha must be a number in (0.5, 1], got {alpha!r}")
        if not (hasattr(model, "e_step") and hasattr(model, "m_step")):
            raise ValueError("model must have e_step(data, params) and m_step(stats) methods")
        self.model = model
        self.params = init_params
        self.alpha = float(alpha)
        self.stats: Any = None
        self.n_batches = 0
        self.n_rows_seen = 0
        self.loglik_per_row = float("nan")

    def step_size(self, t: int) -> float:
        """``gamma_t = (t + 2) ** -alpha`` for the ``t``-th update (``t`` from 0)."""
        return float((t + 2) ** -self.alpha)

    def partial_fit(self, batch: Any, rows: float | None = None) -> StepwiseEM:
        """One stepwise-EM update from a mini-batch of rows.

        Parameters
        ----------
        batch : row-sliceable data (e.g. an array of shape (n_rows, n_features))
            Rows the model's ``e_step`` accepts; at least one row.
        rows : float, optional
            How many rows the batch counts for (its total sample weight for
            weighted data); default: its number of rows.

        Returns
        -------
        self
        """
        rows = n_rows(batch) if rows is None else rows
        if rows < 1:
            raise ValueError("a mini-batch needs at least one row")
        batch_stats, loglik = self.model.e_step(batch, self.params)
        loglik = float(loglik)
        if not np.isfinite(loglik):
            raise ValueError(
                f"the mini-batch has log-likelihood {loglik} at the current parameters; "
                "check it for values outside the model's support"
            )
        per_row = tree_scale(batch_stats, 1.0 / rows)
        if self.stats is None:
            # the first batch is the whole average: no earlier estimate to keep
            self.stats = per_row
        else:
            # batch t + 2 blends with weight (t + 2) ** -alpha: with alpha = 1 the
            # average is the plain mean of all batches' per-row statistics
            gamma = self.step_size(self.n_batches - 1)
            self.stats = tree_add(tree_scale(self.stats, 1.0 - gamma), tree_scale(per_row, gamma))
        self.n_batches += 1
        self.n_rows_seen += rows
        self.loglik_per_row = loglik / rows
        self.params = self.model.m_step(tree_scale(self.stats, float(self.n_rows_seen)))
        return self

    def fit(self, batches: Iterable[Any]) -> StepwiseEM:
        """:meth:`partial_fit` on each batch of an iterable (one pass over a stream)."""
        for batch in batches:
            self.partial_fit(batch)
        return self
