"""What every emkit figure shares: pyplot on a headless backend, the colours, the
axes helper, input checks, and the log-likelihood trace of a run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..engine import EMResult, Step

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["COLORS", "MAX_POINTS", "plot_loglik"]

#: Most points a scatter plot draws; larger data are shown by a seeded random
#: subsample and the figure's caption says so (2,000,000 points would take
#: minutes to draw and hide the ellipses under solid blobs).
MAX_POINTS = 20_000

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
          "tab:pink", "tab:gray", "tab:olive", "tab:cyan")


def _pyplot() -> Any:
    """``matplotlib.pyplot``, on the Agg backend when there is no display."""
    import matplotlib

    if ("matplotlib.pyplot" not in sys.modules and "MPLBACKEND" not in os.environ
            and sys.platform.startswith("linux")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(k: int) -> str:
    return COLORS[k % len(COLORS)]


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.8)) -> Axes:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def plural(n: int, word: str) -> str:
    """``"1 component"``, ``"3 components"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def subsample(n_rows: int, max_points: int = MAX_POINTS,
              seed: int = 0) -> tuple[np.ndarray | None, str | None]:
    """Rows to draw of ``n_rows`` and the caption saying so (``None, None``: all).

    Returns
    -------
    index : ndarray of int of shape (max_points,) or None
        Sorted row positions of a seeded random subsample, or None for all rows.
    caption : str or None
        ``"showing 20,000 of 2,000,000 points, a random subsample"``.
    """
    if n_rows <= max_points:
        return None, None
    index = np.sort(np.random.default_rng(seed).choice(n_rows, max_points, replace=False))
    return index, f"showing {max_points:,} of {n_rows:,} points, a random subsample"


def caption(ax: Axes, text: str | None) -> None:
    """Add ``text`` under the x-axis label, as the figure's caption (nothing for None).

    Call it after ``set_xlabel``; being part of the label, the caption takes
    part in the layout and never overlaps the axes.
    """
    if text:
        label = ax.get_xlabel()
        ax.set_xlabel(f"{label}\n({text})" if label else f"({text})")


def _as_matrix(X: Any, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty array of shape (n_samples, n_features)")
    return X


def _column_labels(X: Any, dims: Sequence[int]) -> list[str]:
    columns = getattr(X, "columns", None)
    if columns is not None:
        return [str(columns[i]) for i in dims]
    return [f"x{i}" for i in dims]


def plot_loglik(source: EMResult | Iterable[Step] | Sequence[float], ax: Axes | None = None,
                *, title: str = "Log-likelihood per iteration") -> Axes:
    """Log-likelihood after each EM iteration.

    Parameters
    ----------
    source : EMResult, iterable of Step, or sequence of float
        A run (its starting log-likelihood is shown as iteration 0), the Step
        records of one, or log-likelihood values for iterations 1, 2, ...
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.
    title : str
        The axes title.

    Returns
    -------
    matplotlib.axes.Axes
        One line (markers on every iteration; SQUAREM-accelerated iterations
        have filled markers).
    """
    if isinstance(source, EMResult):
        iterations = [0] + [s.iteration for s in source.steps]
        values = [float(source.logliks[0])] + [s.loglik for s in source.steps]
    else:
        items = list(source)
        # one kind of item throughout (the documented input): the first tells which
        if items and isinstance(items[0], Step):
            steps = cast("list[Step]", items)
            iterations = [s.iteration for s in steps]
            values = [s.loglik for s in steps]
        else:
            values = [float(v) for v in cast("list[float]", items)]
            iterations = list(range(1, len(values) + 1))
    if not values:
        raise ValueError("there are no iterations to plot")
    ax = _axes(ax)
    ax.plot(iterations, values, marker="o", markersize=3.5, color=_color(0), linewidth=1.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel("log-likelihood")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)  # whole values, no 1e6
    # matplotlib's stubs give Locator.set_params no keywords, though every locator's
    # accepts them at run time; the default one here is a MaxNLocator, which uses it
    ax.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    return ax
