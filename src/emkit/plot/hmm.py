"""Figures of hidden Markov models: a sequence with its decoded states."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .common import _as_matrix, _color, _column_labels, _pyplot

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_hmm_states"]


def plot_hmm_states(X: Any, states: Any, *, title: str = "Decoded hidden states",
                    figsize: tuple[float, float] = (8.0, 4.8)) -> Figure:
    """A sequence with its decoded hidden states.

    Parameters
    ----------
    X : array-like of shape (n_steps,) or (n_steps, n_features)
        The observations (at most the first three columns are drawn).
    states : array-like of int, shape (n_steps,)
        The decoded state of each step (e.g. from ``GaussianHMM.predict``).
    title : str
    figsize : (float, float)

    Returns
    -------
    matplotlib.figure.Figure
        Two axes sharing the time axis: the observations over a band coloured by
        state (top), and the state sequence as a step line (bottom).
    """
    data = _as_matrix(X)
    states = np.asarray(states)
    if states.ndim != 1 or states.shape[0] != data.shape[0]:
        raise ValueError(
            f"states must have one entry per step ({data.shape[0]}), got shape {states.shape}"
        )
    if not np.issubdtype(states.dtype, np.integer):
        raise ValueError("states must be integer state labels")
    from matplotlib.colors import ListedColormap

    n_states = int(states.max()) + 1
    cmap = ListedColormap([_color(k) for k in range(n_states)])
    t = np.arange(data.shape[0])
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=figsize, layout="constrained",
                                      gridspec_kw={"height_ratios": (3, 1)})
    finite = data[np.isfinite(data)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo or 1.0)
    top.imshow(states[None, :], aspect="auto", cmap=cmap, alpha=0.25, vmin=-0.5,
               vmax=n_states - 0.5, extent=(-0.5, len(t) - 0.5, lo - pad, hi + pad),
               interpolation="nearest", origin="lower")
    shown = min(data.shape[1], 3)
    for j, name in enumerate(_column_labels(X, range(shown))):
        top.plot(t, data[:, j], color=("black", "0.35", "0.6")[j], linewidth=1.0,
                 label=name if data.shape[1] > 1 else None)
    top.set_ylabel("observation")
    top.set_title(title)
    from matplotlib.patches import Patch

    handles, _ = top.get_legend_handles_labels()
    bands = [Patch(facecolor=_color(k), alpha=0.25, label=f"state {k}")
             for k in range(n_states)]
    # outside the data, to the right: the columns drawn, then the state colours
    top.legend(handles=[*handles, *bands], fontsize="small", loc="upper left",
               bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    bottom.step(t, states, where="mid", color="black", linewidth=1.2)
    bottom.set_yticks(range(n_states))
    bottom.set_ylim(-0.5, n_states - 0.5)
    bottom.set_ylabel("state")
    bottom.set_xlabel("time step")
    return fig
