"""The chunked backend: E-steps over row blocks, for bounded memory.

A Gaussian mixture's E-step on ``n`` rows builds ``n x K`` responsibilities (and
temporaries of that size). :class:`ChunkedModel` runs the wrapped model's E-step
on ``chunk_size`` rows at a time and adds the statistics as it goes, so at most
one chunk's temporaries exist at once: memory is ``O(chunk_size x K)`` on top of
the data, whatever the number of rows. The result equals the one-block E-step up
to the order of floating-point additions.
"""

from __future__ import annotations

from typing import Any

from ..engine.stats import tree_add
from .memory import Splitter, iter_chunks

__all__ = ["ChunkedModel"]


class ChunkedModel:
    """Wrap an EM model so that its E-step runs over ``chunk_size`` rows at a time.

    Parameters
    ----------
    model : EMModel
        A model whose statistics are additive over rows (every emkit model).
    chunk_size : int
        Rows per E-step call (>= 1).
    splitter : callable, optional
        ``splitter(data, n_pieces) -> pieces`` for data that are not row-sliceable
        by the rules of :mod:`emkit.backends.memory`.

    Notes
    -----
    ``m_step`` and any other attribute (``is_feasible``, ``monotone_rtol``, ...)
    are the wrapped model's, so the engine treats the wrapper as the model.

    Examples
    --------
    >>> import numpy as np, emkit
    >>> from emkit.examples.textbook import NormalMixture1D
    >>> x = np.random.default_rng(0).normal(size=10_000)
    >>> init = {"weights": np.array([.5, .5]), "means": np.array([-1., 1.]),
    ...         "variances": np.array([1., 1.])}
    >>> model = ChunkedModel(NormalMixture1D(), chunk_size=1_000)
    >>> result = emkit.em(model, x, init, max_iter=5, tol=1e-3)
    """

    def __init__(self, model: Any, chunk_size: int, *, splitter: Splitter | None = None):
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
        if splitter is not None and not callable(splitter):
            raise ValueError("splitter must be callable: splitter(data, n_pieces) -> pieces")
        self.model = model
        self.chunk_size = chunk_size
        self.splitter = splitter

    def e_step(self, data: Any, params: Any) -> tuple[Any, float]:
        """Sum of the wrapped E-step over chunks: ``(stats, loglik)`` of all rows."""
        total_stats: Any = None
        total_loglik = 0.0
        for piece in iter_chunks(data, self.chunk_size, self.splitter):
            stats, loglik = self.model.e_step(piece, params)
            total_stats = stats if total_stats is None else tree_add(total_stats, stats)
            total_loglik += float(loglik)
        return total_stats, total_loglik

    def m_step(self, stats: Any) -> Any:
        return self.model.m_step(stats)

    def __getattr__(self, name: str) -> Any:
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)

    def __repr__(self) -> str:
        return f"ChunkedModel({self.model!r}, chunk_size={self.chunk_size})"
