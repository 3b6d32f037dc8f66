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
    import matplotlib

    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 5))
    else:
        fig = ax.figure
    names = models or list(dict.fromkeys(table["model"]))
    cmap = matplotlib.colormaps["tab20"]
    for i, name in enumerate(names):
        rows = table[table["model"] == name].sort_values("n_components")
        if rows.empty:
            raise ValueError(f"model {name!r} is not in the table")
        values = rows[criterion].to_numpy(dtype=float)
        ax.plot(rows["n_components"], values, marker="o", markersize=4, color=cmap(i % 20),
                label=name)
    finite = table[criterion].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size and criterion != "loglik":
        best = table.loc[table[criterion].idxmin()]
        ax.plot([best["n_components"]], [best[criterion]], marker="*", markersize=16,
                color="black", linestyle="none",
                label=f"best: {best['model']},{int(best['n_components'])}")
    ax.set_xlabel("number of components K")
    better = "higher" if criterion == "loglik" else "lower"
    ax.set_ylabel(f"{criterion.upper()} ({better} is better)")
    ax.set_title(f"{criterion.upper()} by covariance model")
    ax.legend(ncol=2, fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def plot_bic(result: Any, ax: Any = None, models: list[str] | None = None) -> Any:
    """BIC against K for each model: :func:`plot_criterion` with ``"bic"``.

    ``result`` is a :class:`~emkit.estimators.selection.SelectionResult` or its
    ``table``.
    """
    table = getattr(result, "table", result)
    return plot_criterion(table, "bic", ax=ax, models=models)
