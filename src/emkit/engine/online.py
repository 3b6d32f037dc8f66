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

Each update is reported like an engine iteration: one :class:`~emkit.engine.Step`
per batch goes to the functions registered with :func:`emkit.engine.observe` and
to an optional ``callback`` (see :class:`StepwiseEM` for what its fields mean on
a stream), so traces, progress bars and :class:`emkit.trace.StepRecorder` follow
online fits too.

Reference: O. Cappé and E. Moulines, "On-line expectation-maximization algorithm
for latent data models", JRSS B 71 (2009) 593-613; P. Liang and D. Klein,
"Online EM for unsupervised models", NAACL 2009.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .rows import n_rows
from .stats import tree_add, tree_max_abs_diff, tree_scale
from .steps import Step, current_observers

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
    callback : callable or None, default None
        Called with the :class:`~emkit.engine.Step` of every update (not with the
        ``iteration=0`` start, as in :func:`~emkit.engine.em`). Returning ``False``
        makes :meth:`fit` stop after that batch; see :meth:`partial_fit`.

    Attributes
    ----------
    params : object
        Current parameters.
    stats : object or None
        Running average of the per-row statistics (None before the first batch).
    n_batches : int
        Mini-batches seen (``t``); also the E-steps made, one per batch.
    n_rows_seen : float
        Rows seen (the sum of the batches' ``rows``).
    loglik_per_row : float
        Mean per-row log-likelihood of the last batch, evaluated at the
        parameters *before* that batch's update (an honest, held-out-like
        progress measure for a stream); NaN before the first batch.
    stop_requested : bool
        True when ``callback`` returned ``False`` for the latest update.
    stop_reason : str or None
        Why the latest :meth:`fit` ended: ``"exhausted"`` (the batches ran out),
        ``"callback"`` or ``"interrupted"`` (Ctrl-C); None before any ``fit``.

    Notes
    -----
    **What the observers see.** Every update reports one
    :class:`~emkit.engine.Step` to the functions registered with
    :func:`emkit.engine.observe` at the time of the update (so the ``emkit``
    command's ``--trace`` and :class:`emkit.trace.StepRecorder` follow a stream
    like a batch run), then to ``callback``. For the update from batch ``t``
    (``t = 1, 2, ...``, with ``rows_t`` rows):

    ``iteration``
        ``t``, the batch number (:attr:`n_batches` after the update).
    ``loglik``
        The batch's **total** log-likelihood at the parameters **before** the
        update, ``loglik_per_row * rows_t``, i.e. what the model's E-step returned
        for the batch. This differs from :func:`~emkit.engine.em`, whose ``loglik``
        is at the step's new ``params``: scoring a batch before learning from it
        costs no extra E-step and is an out-of-sample measure.
    ``gain``
        ``(loglik_per_row_t - loglik_per_row_{t-1}) * rows_t``: the change of the
        per-row log-likelihood since the previous batch, in the units of this
        batch's ``loglik`` (for equal-sized batches, the difference of the two
        batches' ``loglik``). Different batches are scored, so it is noisy and
        may be negative; NaN for the first batch.
    ``param_change``
        ``max |theta_after - theta_before|`` over all parameter entries
        (:func:`~emkit.engine.stats.tree_max_abs_diff`).
    ``seconds``
        Wall time of the update (its E-step and M-step).
    ``n_estep``
        E-steps made so far, ``t`` (one per batch).
    ``params``
        The parameters after the update.

    Like :func:`~emkit.engine.em`, a stream starts with a ``Step`` of
    ``iteration=0`` reported (to the observers only) just before the first
    update's own ``Step``: ``params`` the initial parameters, ``loglik`` the
    first batch's log-likelihood at them (the same number as the first update's
    ``loglik``, both being scored at ``init``), ``gain`` and ``param_change``
    NaN, ``seconds`` 0, ``n_estep`` 1. It lets a recorder tell a new stream from
    the run it watched before.

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

    The same stream, watched and stopped by a callback after three batches:

    >>> steps = []
    >>> online = StepwiseEM(NormalMixture1D(), init,
    ...                     callback=lambda s: steps.append(s) or s.iteration < 3)
    >>> _ = online.fit(iter_batches(x, 500))
    >>> [s.iteration for s in steps], online.n_batches, online.stop_reason
    ([1, 2, 3], 3, 'callback')
    """

    def __init__(self, model: Any, init_params: Any, alpha: float = 0.6,
                 callback: Callable[[Step], Any] | None = None):
        if not isinstance(alpha, (int, float, np.floating)) or not 0.5 < alpha <= 1.0:
            raise ValueError(f"alpha must be a number in (0.5, 1], got {alpha!r}")
        if not (hasattr(model, "e_step") and hasattr(model, "m_step")):
            raise ValueError("model must have e_step(data, params) and m_step(stats) methods")
        if callback is not None and not callable(callback):
            raise ValueError(f"callback must be callable or None, got {type(callback).__name__}")
        self.model = model
        self.params = init_params
        self.alpha = float(alpha)
        self.callback = callback
        self.stats: Any = None
        self.n_batches = 0
        self.n_rows_seen: float = 0
        self.loglik_per_row = float("nan")
        self.stop_requested = False
        self.stop_reason: str | None = None

    def step_size(self, t: int) -> float:
        """``gamma_t = (t + 2) ** -alpha`` for the ``t``-th update (``t`` from 0)."""
        return float((t + 2) ** -self.alpha)

    def partial_fit(self, batch: Any, rows: float | None = None) -> StepwiseEM:
        """One stepwise-EM update from a mini-batch of rows, reported as a ``Step``.

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

        Raises
        ------
        ValueError
            For an empty batch, or one with a non-finite log-likelihood at the
            current parameters. Nothing is updated then, nor when the model's
            E-step or M-step raises.

        Notes
        -----
        The update is made first, then its :class:`~emkit.engine.Step` (see the
        class notes) goes to the current observers and to ``callback``. The
        update always stands: ``callback`` returning ``False`` only sets
        :attr:`stop_requested` (reset by the next update), which :meth:`fit`
        obeys. A caller driving the stream itself decides whether to heed it.
        """
        rows = n_rows(batch) if rows is None else rows
        if rows < 1:
            raise ValueError("a mini-batch needs at least one row")
        start = time.perf_counter()
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
            stats = per_row
        else:
            # batch t + 2 blends with weight (t + 2) ** -alpha: with alpha = 1 the
            # average is the plain mean of all batches' per-row statistics
            gamma = self.step_size(self.n_batches - 1)
            stats = tree_add(tree_scale(self.stats, 1.0 - gamma), tree_scale(per_row, gamma))
        n_rows_seen = self.n_rows_seen + rows
        params = self.model.m_step(tree_scale(stats, float(n_rows_seen)))
        seconds = time.perf_counter() - start
        # the new state is committed only once the E-step and M-step succeeded
        before, previous_per_row = self.params, self.loglik_per_row
        self.stats, self.params, self.n_rows_seen = stats, params, n_rows_seen
        self.n_batches += 1
        self.loglik_per_row = loglik / rows
        self.stop_requested = False
        self._report(before, previous_per_row, loglik, rows, seconds)
        return self

    def _report(self, before: Any, previous_per_row: float, loglik: float, rows: float,
                seconds: float) -> None:
        """Send the latest update's ``Step`` to the observers and the callback."""
        observers = current_observers()
        if not observers and self.callback is None:
            return  # nobody listens: skip the parameter comparison
        if self.n_batches == 1:
            start = Step(0, loglik, math.nan, math.nan, 0.0, 1, before)
            for fn in observers:
                fn(start)
        gain = (self.loglik_per_row - previous_per_row) * rows if self.n_batches > 1 else math.nan
        step = Step(self.n_batches, loglik, gain, tree_max_abs_diff(self.params, before),
                    seconds, self.n_batches, self.params)
        for fn in observers:
            fn(step)
        if self.callback is not None and self.callback(step) is False:
            self.stop_requested = True

    def fit(self, batches: Iterable[Any]) -> StepwiseEM:
        """:meth:`partial_fit` on each batch of an iterable (one pass over a stream).

        Stops early, after the update that asked, when ``callback`` returns
        ``False`` (:attr:`stop_reason` ``"callback"``). Ctrl-C
        (``KeyboardInterrupt``, also when an observer raises it) stops the pass
        too and keeps the parameters of the last completed update
        (``"interrupted"``); it propagates when no update of this pass had
        completed.

        Parameters
        ----------
        batches : iterable
            Mini-batches, each as :meth:`partial_fit` takes it.

        Returns
        -------
        self
        """
        done = self.n_batches
        try:
            for batch in batches:
                self.partial_fit(batch)
                if self.stop_requested:
                    self.stop_reason = "callback"
                    return self
        except KeyboardInterrupt:
            if self.n_batches == done:
                raise
            self.stop_reason = "interrupted"
            return self
        self.stop_reason = "exhausted"
        return self
