"""The figures ``emkit fit --plot`` and ``emkit select --plot`` write: readable at any size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.plot import plot_clusters_2d, plot_density_1d
from emkit.plot.common import MAX_POINTS, plural, subsample
from emkit.plot.selection import line_style, plot_criterion

plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _blobs(n, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 3, n)
    return pd.DataFrame({"a": rng.normal(3 * z, 1.0), "b": rng.normal(-2 * z, 1.5)})


def test_plural():
    assert plural(1, "component") == "1 component" and plural(3, "cluster") == "3 clusters"


def test_subsample_is_seeded_and_captioned():
    assert subsample(MAX_POINTS) == (None, None)
    index, note = subsample(2_000_000)
    again, _ = subsample(2_000_000)
    assert index is not None and len(index) == MAX_POINTS and np.array_equal(index, again)
    assert np.all(np.diff(index) > 0) and index[-1] < 2_000_000
    assert note == "showing 20,000 of 2,000,000 points, a random subsample"


def test_large_cluster_plot_draws_a_subsample_and_says_so():
    X = _blobs(3 * MAX_POINTS)
    model = emkit.GaussianMixture(3, random_state=0, max_iter=5).fit(X)
    ax = plot_clusters_2d(X, model)
    points = ax.collections[0]
    assert len(points.get_offsets()) == MAX_POINTS
    assert f"showing 20,000 of {3 * MAX_POINTS:,} points" in ax.get_xlabel()
    # a legend, outside the data, one entry per component
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        f"component {k + 1}, weight {w:.2f}" for k, w in enumerate(model.weights_)]
    ax.figure.canvas.draw()
    inside = ax.get_window_extent()
    assert legend.get_window_extent().x0 >= inside.x1 - 1
    assert ax.get_aspect() == 1.0  # comparable ranges: one unit is as long on both axes
    assert ax.get_title() == "3 clusters with 1σ and 2σ ellipses"


def test_small_cluster_plot_draws_every_point_and_no_caption():
    X = emkit.datasets.load_faithful()
    model = emkit.GaussianMixture(2, random_state=0).fit(X)
    ax = plot_clusters_2d(X, model)
    assert len(ax.collections[0].get_offsets()) == len(X)
    assert ax.get_xlabel() == "eruptions"
    assert ax.get_aspect() == "auto"  # ranges 15x apart: equal units would be a strip


def test_one_component_title_and_legend_outside():
    X = emkit.datasets.load_faithful()[["eruptions"]]
    ax = plot_density_1d(X, emkit.GaussianMixture(1, random_state=0).fit(X))
    assert ax.get_title() == "Gaussian mixture, 1 component"
    ax.figure.canvas.draw()
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1 - 1


def test_selection_plot_integer_ticks_and_fourteen_distinct_lines():
    rows = [{"model": m, "n_components": k, "bic": 100.0 + i + k ** 2}
            for i, m in enumerate(["EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE",
                                   "EVE", "VVE", "EEV", "VEV", "EVV", "VVV"])
            for k in range(1, 7)]
    fig = plot_criterion(pd.DataFrame(rows))
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    lines = [line for line in ax.get_lines() if line.get_label() != "_nolegend_"
             and not line.get_label().startswith("best")][:14]
    looks = {(line.get_color(), line.get_marker(), line.get_linestyle()) for line in lines}
    assert len(looks) == 14
    assert len({line_style(i) for i in range(14)}) == 14
    names = {t.get_text() for t in ax.texts}
    assert {"EII", "VVV"} <= names  # direct labels at the line ends
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1 - 1


def test_fit_plot_on_many_rows_writes_all_figures(tmp_path, capsys):
    from emkit.cli import main

    path = tmp_path / "big.csv"
    _blobs(2 * MAX_POINTS + 7).to_csv(path, index=False)
    out = tmp_path / "figs"
    assert main(["fit", str(path), "-k", "3", "-q", "--max-iter", "5", "--plot", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clusters.png", "fit.gif", "loglik.png"]


def test_demo_eruptions_figure_shows_the_printed_fit(tmp_path, capsys, monkeypatch):
    import re

    from emkit.cli import main

    drawn = []
    import emkit.plot as plot_module

    original = plot_module.plot_density_1d

    def spy(X, model, *args, **kwargs):
        drawn.append(np.asarray(model.weights_))
        return original(X, model, *args, **kwargs)

    monkeypatch.setattr(plot_module, "plot_density_1d", spy)
    assert main(["demo", "--out", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    printed = [float(v) for v in re.search(r"Weights:\n\[([^\]]+)\]", out).group(1).split()]
    assert len(drawn) == 1 and np.allclose(drawn[0], printed, atol=5e-5)


def test_hmm_states_legend_names_each_state_outside_the_data():
    from emkit.plot import plot_hmm_states

    rng = np.random.default_rng(0)
    states = np.repeat([0, 1, 2, 1], 25)
    fig = plot_hmm_states(np.c_[rng.normal(states, 0.3), rng.normal(-states, 0.3)], states)
    top = fig.axes[0]
    legend = top.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["x0", "x1", "state 0", "state 1",
                                                          "state 2"]
    fig.canvas.draw()
    assert legend.get_window_extent().x0 >= top.get_window_extent().x1 - 1
