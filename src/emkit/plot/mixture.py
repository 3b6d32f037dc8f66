"""Figures of fitted mixtures: densities in 1-D, clusters with covariance ellipses
in 2-D, an animation of EM moving them, and the set the command line saves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..atomic import atomic_path
from ..engine import EMResult, Step
from .common import (
    _as_matrix,
    _axes,
    _color,
    _column_labels,
    _pyplot,
    caption,
    plot_loglik,
    plural,
    subsample,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["mixture_params", "plot_density_1d", "plot_clusters_2d", "animate_fit",
           "save_mixture_plots"]


def mixture_params(
    source: Any, covariance_type: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights (K,), means (K, D) and full covariances (K, D, D) of a Gaussian mixture.

    Parameters
    ----------
    source : estimator or dict
        A fitted estimator with ``weights_``, ``means_``, ``covariances_`` (and
        ``covariance_type``), or a dict with ``weights``, ``means``,
        ``covariances``.
    covariance_type : {"full", "tied", "diag", "spherical"}, optional
        How ``covariances`` are stored; default: the estimator's, else ``"full"``.
    """
    if isinstance(source, dict):
        try:
            weights, means, cov = source["weights"], source["means"], source["covariances"]
        except KeyError as exc:
            raise ValueError(f"mixture parameters need the entry {exc.args[0]!r}") from None
    elif hasattr(source, "means_"):
        weights, means, cov = source.weights_, source.means_, source.covariances_
        covariance_type = covariance_type or getattr(source, "covariance_type", None)
    else:
        raise ValueError(
            "expected a fitted mixture (weights_, means_, covariances_) or a dict of "
            f"weights, means and covariances, got {type(source).__name__}"
        )
    covariance_type = covariance_type or "full"
    weights = np.asarray(weights, dtype=float)
    means = np.atleast_2d(np.asarray(means, dtype=float))
    cov = np.asarray(cov, dtype=float)
    k, d = means.shape
    if covariance_type == "full":
        full = cov.reshape(k, d, d)
    elif covariance_type == "tied":
        full = np.broadcast_to(cov.reshape(d, d), (k, d, d)).copy()
    elif covariance_type == "diag":
        full = np.stack([np.diag(c) for c in cov.reshape(k, d)])
    elif covariance_type == "spherical":
        full = cov.reshape(k, 1, 1) * np.eye(d)
    else:
        raise ValueError(
            "covariance_type must be 'full', 'tied', 'diag' or 'spherical', "
            f"got {covariance_type!r}"
        )
    return weights, means, full


def _log_joint(X: np.ndarray, weights: np.ndarray, means: np.ndarray,
               cov: np.ndarray) -> np.ndarray:
    """log(weight_k) + log N(x | mean_k, cov_k), shape (N, K)."""
    from ..gaussian.reference import log_gaussian_density, precision_cholesky

    prec = precision_cholesky(cov, "full")
    with np.errstate(divide="ignore"):
        return log_gaussian_density(X, means, prec, "full") + np.log(weights)


def plot_density_1d(X: Any, model: Any, ax: Axes | None = None, *,
                    covariance_type: str | None = None, dim: int = 0,
                    bins: int | str = "auto", title: str | None = None) -> Axes:
    """Histogram of one column with each weighted component density and the mixture.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, n_features)
        The data; column ``dim`` is shown (a mixture on several columns is shown
        through its marginal on that column).
    model : estimator or dict
        The fitted mixture (see :func:`mixture_params`).
    ax : matplotlib Axes, optional
    covariance_type : str, optional
        For a parameter dict, how its covariances are stored.
    dim : int, default 0
        Which column to show.
    bins : int or str, default "auto"
        Histogram bins (as numpy.histogram).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        With one histogram (bar patches), one line and one shaded area per
        component, and one line for the mixture (the first line).
    """
    from scipy.stats import norm

    labels = _column_labels(X, [dim])
    data = _as_matrix(X)[:, dim]
    data = data[np.isfinite(data)]
    weights, means, cov = mixture_params(model, covariance_type)
    mu, sd = means[:, dim], np.sqrt(cov[:, dim, dim])
    ax = _axes(ax, figsize=(7.6, 4.8))
    ax.hist(data, bins=bins, density=True, color="0.85", edgecolor="0.6", label="data")
    lo, hi = data.min(), data.max()
    pad = 0.1 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, 400)
    parts = weights[:, None] * norm.pdf(grid[None, :], mu[:, None], sd[:, None])
    ax.plot(grid, parts.sum(axis=0), color="black", linewidth=1.5, label="mixture")
    for k, part in enumerate(parts):
        ax.fill_between(grid, part, color=_color(k), alpha=0.25, linewidth=0)
        # The dashed outline stops where the component is negligible, not along y = 0.
        visible = np.where(part > 1e-3 * parts.max(), part, np.nan)
        ax.plot(grid, visible, color=_color(k), linestyle="--", linewidth=2.0,
                label=f"component {k + 1} (weight {weights[k]:.2f})")
    ax.set_xlabel(labels[0])
    ax.set_ylabel("density")
    ax.set_title(title or f"Gaussian mixture, {plural(len(weights), 'component')}")
    # outside the data, to the right of the axes
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0.0, frameon=False)
    return ax


def _ellipse_geometry(cov2: np.ndarray) -> tuple[float, float, float]:
    """Width and height (for one σ) and angle in degrees of a 2x2 covariance."""
    values, vectors = np.linalg.eigh(cov2)
    values = np.clip(values, 0.0, None)
    angle = float(np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1])))
    return 2.0 * float(np.sqrt(values[1])), 2.0 * float(np.sqrt(values[0])), angle


def _draw_mixture_2d(ax: Axes, X2: np.ndarray, weights: np.ndarray, means2: np.ndarray,
                     cov2: np.ndarray, labels: np.ndarray, sigmas: Sequence[float]) -> None:
    from matplotlib import patheffects
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Ellipse

    colors = [_color(int(k)) for k in labels]
    # many points are drawn small and light, so that the ellipses stay visible
    size, alpha = (14, 0.65) if len(X2) <= 2000 else (3, 0.15)
    ax.scatter(X2[:, 0], X2[:, 1], c=colors, s=size, alpha=alpha, linewidths=0,
               rasterized=len(X2) > 2000)
    halo = [patheffects.withStroke(linewidth=3.5, foreground="white")]
    for k in range(len(weights)):
        edge = tuple(0.65 * c for c in to_rgb(_color(k)))  # darker than its points
        width, height, angle = _ellipse_geometry(cov2[k])
        for j, (s, style) in enumerate(zip(sigmas, ("-", "--", ":", "-."), strict=False)):
            ax.add_patch(Ellipse(tuple(means2[k]), s * width, s * height, angle=angle,
                                 fill=False, edgecolor=edge, linestyle=style,
                                 linewidth=2.0, zorder=2.5, path_effects=halo,
                                 label=f"component {k + 1}, weight {weights[k]:.2f}"
                                 if j == 0 else None))
    ax.scatter(means2[:, 0], means2[:, 1], marker="X", s=110, c=[_color(k) for k in
               range(len(weights))], edgecolors="black", linewidths=1.2, zorder=3)


#: Equal axis scales (true ellipse shapes) when the two ranges differ by at most this
#: factor; beyond it the picture would be a thin strip (Old Faithful: 15x).
EQUAL_ASPECT_RATIO = 4.0


def _equal_aspect(ax: Axes, x_range: float, y_range: float) -> None:
    """One unit the same length on both axes, when the ranges are comparable."""
    if x_range > 0 and y_range > 0 and max(x_range / y_range,
                                           y_range / x_range) <= EQUAL_ASPECT_RATIO:
        ax.set_aspect("equal", adjustable="box")


def _limits(X2: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    lo, hi = X2.min(axis=0), X2.max(axis=0)
    pad = 0.08 * np.where(hi > lo, hi - lo, 1.0)
    return (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])


def plot_clusters_2d(X: Any, model: Any, ax: Axes | None = None, *,
                     covariance_type: str | None = None, dims: Sequence[int] = (0, 1),
                     labels: Any = None, sigmas: Sequence[float] = (1.0, 2.0),
                     title: str | None = None) -> Axes:
    """Points coloured by their most likely component, with covariance ellipses.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data (``n_features >= 2``; columns ``dims`` are shown).
    model : estimator or dict
        The fitted mixture (see :func:`mixture_params`).
    ax : matplotlib Axes, optional
    covariance_type : str, optional
        For a parameter dict, how its covariances are stored.
    dims : pair of int, default (0, 1)
        The two columns to show.
    labels : array-like of shape (n_samples,), optional
        Cluster of each point; by default the component of highest
        responsibility under the shown marginal.
    sigmas : sequence of float, default (1, 2)
        Ellipses drawn at these multiples of the standard deviation (1σ solid,
        2σ dashed).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        With one point collection, one collection of the means and
        ``len(sigmas)`` ellipses per component.
    """
    dims = list(dims)
    names = _column_labels(X, dims)
    data = _as_matrix(X)
    if data.shape[1] < 2 or len(dims) != 2:
        raise ValueError("a 2-D cluster plot needs at least two columns and two dims")
    X2 = data[:, dims]
    X2 = X2[np.isfinite(X2).all(axis=1)] if labels is None else X2
    weights, means, cov = mixture_params(model, covariance_type)
    means2, cov2 = means[:, dims], cov[:, dims][:, :, dims]
    (x0, x1), (y0, y1) = _limits(X2)
    index, note = subsample(len(X2))
    if index is not None:
        X2 = X2[index]
        labels = None if labels is None else np.asarray(labels)[index]
    if labels is None:
        labels = _log_joint(X2, weights, means2, cov2).argmax(axis=1)
    labels = np.asarray(labels, dtype=int)
    ax = _axes(ax, figsize=(7.6, 4.8))
    _draw_mixture_2d(ax, X2, weights, means2, cov2, labels, sigmas)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    _equal_aspect(ax, x1 - x0, y1 - y0)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    caption(ax, note)
    shown = " and ".join(f"{s:g}σ" for s in sigmas)
    ax.set_title(title or f"{plural(len(weights), 'cluster')} with {shown} ellipses")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0.0, frameon=False)
    return ax


def animate_fit(X: Any, steps: EMResult | Iterable[Step], path: str | Path, *,
                init: dict | None = None, covariance_type: str = "full",
                dims: Sequence[int] = (0, 1), fps: int = 4, max_frames: int = 60,
                sigmas: Sequence[float] = (1.0, 2.0), dpi: int = 72) -> Path:
    """Write a GIF with one frame per EM iteration of a Gaussian-mixture fit.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data the run was fitted to (columns ``dims`` are shown).
    steps : EMResult or iterable of Step
        The run; every step's ``params`` must be a mixture parameter dict.
    path : str or pathlib.Path
        Where to write the GIF.
    init : dict, optional
        The starting parameters, shown as iteration 0.
    covariance_type : str, default "full"
        How the covariances in the parameter dicts are stored.
    dims : pair of int, default (0, 1)
    fps : int, default 4
        Frames per second.
    max_frames : int, default 60
        Longer runs show evenly spaced iterations (always the first and the last).
    sigmas : sequence of float, default (1, 2)
    dpi : int, default 72
        Resolution of the frames.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from matplotlib.animation import PillowWriter

    records = list(steps.steps if isinstance(steps, EMResult) else steps)
    frames: list[tuple[int, float | None, dict]] = [(s.iteration, s.loglik, s.params)
                                                    for s in records]
    if init is not None:
        frames.insert(0, (0, None, init))
    if not frames:
        raise ValueError("there are no iterations to animate")
    if max_frames < 2:
        raise ValueError(f"max_frames must be at least 2, got {max_frames}")
    if len(frames) > max_frames:
        keep = np.unique(np.linspace(0, len(frames) - 1, max_frames).round().astype(int))
        frames = [frames[i] for i in keep]
    dims = list(dims)
    names = _column_labels(X, dims)
    X2 = _as_matrix(X)[:, dims]
    X2 = X2[np.isfinite(X2).all(axis=1)]
    (x0, x1), (y0, y1) = _limits(X2)
    index, note = subsample(len(X2))
    if index is not None:
        X2 = X2[index]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.8), layout="constrained")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    _equal_aspect(ax, x1 - x0, y1 - y0)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    caption(ax, note)

    def geometry(i: int) -> tuple:
        weights, means, cov = mixture_params(frames[i][2], covariance_type)
        means2, cov2 = means[:, dims], cov[:, dims][:, :, dims]
        labels = _log_joint(X2, weights, means2, cov2).argmax(axis=1)
        return weights, means2, cov2, labels

    # Draw the first frame once, then move its artists: far cheaper than redrawing.
    weights, means2, cov2, labels = geometry(0)
    _draw_mixture_2d(ax, X2, weights, means2, cov2, labels, sigmas)
    points, centres = ax.collections
    ellipses = list(ax.patches)
    ax.set_title("EM iteration 0")
    fig.canvas.draw()  # lay out once, then keep that layout for every frame
    fig.set_layout_engine("none")

    def draw(i: int) -> None:
        iteration, loglik, _ = frames[i]
        weights, means2, cov2, labels = geometry(i)
        points.set_facecolors([_color(int(k)) for k in labels])
        centres.set_offsets(means2)
        for k in range(len(weights)):
            width, height, angle = _ellipse_geometry(cov2[k])
            for j, s in enumerate(sigmas):
                ellipse = ellipses[k * len(sigmas) + j]
                ellipse.set_center(tuple(means2[k]))
                ellipse.set_width(s * width)
                ellipse.set_height(s * height)
                ellipse.set_angle(angle)
        suffix = "" if loglik is None else f", log-likelihood {loglik:.2f}"
        ax.set_title(f"EM iteration {iteration}{suffix}")

    # PillowWriter driven directly: one draw per frame (FuncAnimation draws each 3 times).
    path = Path(path)
    writer = PillowWriter(fps=fps)
    try:
        with atomic_path(path) as tmp, writer.saving(fig, tmp, dpi=dpi):
            for i in range(len(frames)):
                draw(i)
                writer.grab_frame()
            for _ in range(fps):  # hold the fitted state for about a second
                writer.grab_frame()
    finally:
        plt.close(fig)
    return path


def save_mixture_plots(directory: str | Path, X: Any, model: Any,
                       steps: EMResult | Iterable[Step] | None = None, *,
                       covariance_type: str | None = None, max_frames: int = 40,
                       dpi: int = 100) -> list[Path]:
    """Write the figures of a Gaussian-mixture fit into ``directory``.

    ``loglik.png`` (when ``steps`` has iterations), ``density.png`` (1-D data:
    the first column), ``clusters.png`` (two or more columns: the first two) and
    ``fit.gif`` (exactly two columns and recorded steps: the ellipses moving).

    Parameters
    ----------
    directory : str or pathlib.Path
        Created if needed.
    X : array-like of shape (n_samples, n_features)
        The data (a DataFrame gives axis labels).
    model : estimator or dict
        The fitted mixture (see :func:`mixture_params`).
    steps : EMResult or iterable of Step, optional
        The run, for the log-likelihood figure and the animation.
    covariance_type : str, optional
        For dict parameters, how covariances are stored (default: the model's).
    max_frames : int, default 40
        Most frames of the animation.
    dpi : int, default 100

    Returns
    -------
    list of pathlib.Path
        The files written, in the order above.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    covariance_type = covariance_type or getattr(model, "covariance_type", None)
    records = list(steps.steps if isinstance(steps, EMResult) else (steps or []))
    n_features = _as_matrix(X).shape[1]
    plt = _pyplot()
    written: list[Path] = []

    def save(ax: Axes, name: str) -> None:
        path = directory / name
        figure = cast("Figure", ax.figure)  # each plot below draws on a new figure
        with atomic_path(path) as tmp:
            figure.savefig(tmp, dpi=dpi)
        plt.close(figure)
        written.append(path)

    if any(s.iteration > 0 for s in records):
        save(plot_loglik(records), "loglik.png")
    if n_features == 1:
        save(plot_density_1d(X, model, covariance_type=covariance_type), "density.png")
    else:
        save(plot_clusters_2d(X, model, covariance_type=covariance_type), "clusters.png")
    if n_features == 2 and records:
        written.append(animate_fit(X, records, directory / "fit.gif",
                                   covariance_type=covariance_type or "full",
                                   max_frames=max_frames))
    return written
