"""Plot of a model-selection table: the criterion against K, one line per covariance model.

The figure mclust draws with ``plot(mclustBIC(...))``, in scikit-learn's sign
(lower is better). Failed fits are gaps in their line. matplotlib is imported
only when a plot is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_criterion", "plot_bic"]

_CRITERIA = ("bic", "aic", "icl", "loglik")

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:pink")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_STYLES = ("-", "--")


def line_style(i: int) -> tuple[str, str, str]:
    """Colour, marker and line style of the ``i``-th line: 7 x 7 x 2 distinct triples.

    The colour and the marker change together along the first seven lines; lines
    8 to 14 repeat the colours with other markers and dashed, so that mclust's
    fourteen models are fourteen different-looking lines.
    """
    return (_COLORS[i % len(_COLORS)], _MARKERS[(i + i // len(_COLORS)) % len(_MARKERS)],
            _STYLES[(i // len(_COLORS)) % len(_STYLES)])


def plot_criterion(table: pd.DataFrame, criterion: str = "bic", ax: Any = None,
                   models: list[str] | None = None) -> Any:
    """Draw ``criterion`` against the number of components for each model.

    Parameters
    ----------
    table : pandas.DataFrame
        ``select_model(...).table`` (columns ``model``, ``n_components`` and the
        criterion).
    criterion : {"bic", "aic", "icl", "loglik"}, default "bic"
    ax : matplotlib Axes, optional
        Draw here; default a new figure.
    models : list of str, optional
        Models to draw (default: all in the table, in table order).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
    missing = {"model", "n_components", criterion} - set(table.columns)
    if missing:
        raise ValueError(f"the table lacks column(s) {', '.join(sorted(missing))}")
    from matplotlib.ticker import MaxNLocator

    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 5.2), layout="constrained")
    else:
        fig = ax.figure
    names = models or list(dict.fromkeys(table["model"]))
    ends: list[tuple[str, float, float, str]] = []
    for i, name in enumerate(names):
        rows = table[table["model"] == name].sort_values("n_components")
        if rows.empty:
            raise ValueError(f"model {name!r} is not in the table")
        values = rows[criterion].to_numpy(dtype=float)
        color, marker, style = line_style(i)
        ax.plot(rows["n_components"], values, marker=marker, markersize=5,
                color=color, linestyle=style, linewidth=1.4, label=name)
        ok = np.isfinite(values)
        if ok.any():
            last = np.flatnonzero(ok)[-1]
            ends.append((name, float(rows["n_components"].to_numpy()[last]),
                         float(values[last]), color))
    finite = table[criterion].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size and criterion != "loglik":
        best = table.loc[table[criterion].idxmin()]
        ax.plot([best["n_components"]], [best[criterion]], marker="*", markersize=16,
                color="black", linestyle="none",
                label=f"best: {best['model']},{int(best['n_components'])}")
    _label_line_ends(ax, ends)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ks = table["n_components"].to_numpy(dtype=float)
    if ks.size:
        ax.set_xlim(ks.min() - 0.3, ks.max() + 0.7)  # room for the names at the right
    ax.set_xlabel("number of components K")
    better = "higher" if criterion == "loglik" else "lower"
    ax.set_ylabel(f"{criterion.upper()} ({better} is better)")
    ax.set_title(f"{criterion.upper()} by covariance model")
    ax.legend(ncol=1 if len(names) <= 8 else 2, fontsize="small", loc="upper left",
              bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    ax.grid(alpha=0.3)
    return fig


def _label_line_ends(ax: Any, ends: list[tuple[str, float, float, str]]) -> None:
    """Each model's name at the right end of its line, spread apart where ends crowd."""
    if not ends:
        return
    low, high = ax.get_ylim()
    gap = 0.035 * (high - low)
    placed: list[float] = []
    for name, x, y, color in sorted(ends, key=lambda e: e[2]):
        spot = max(y, placed[-1] + gap) if placed else y
        placed.append(spot)
        ax.annotate(name, (x, y), xytext=(x + 0.12, spot), textcoords="data", va="center",
                    fontsize="x-small", color=color,
                    arrowprops={"arrowstyle": "-", "color": color, "linewidth": 0.5,
                                "alpha": 0.6} if abs(spot - y) > gap / 2 else None)


def plot_bic(result: Any, ax: Any = None, models: list[str] | None = None) -> Any:
    """BIC against K for each model: :func:`plot_criterion` with ``"bic"``.

    ``result`` is a :class:`~emkit.estimators.selection.SelectionResult` or its
    ``table``.
    """
    table = getattr(result, "table", result)
    return plot_criterion(table, "bic", ax=ax, models=models)
