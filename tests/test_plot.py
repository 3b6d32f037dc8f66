"""Figures: produced with the right content (axes, artists, labels)."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.patches import Ellipse
from PIL import Image

import emkit
from emkit import plot
from emkit.engine import observe
from emkit.trace import StepRecorder


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def faithful_fit():
    data = emkit.datasets.load_faithful()
    recorder = StepRecorder()
    with observe(recorder):
        model = emkit.GaussianMixture(2, init_params="random", random_state=2, tol=1e-6,
                                      max_iter=500).fit(data)
    return data, model, recorder.best_run()


def test_import_emkit_does_not_import_matplotlib():
    code = ("import sys, emkit, emkit.plot, emkit.trace, emkit.cli; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_loglik(faithful_fit):
    _, _model, steps = faithful_fit
    ax = plot.plot_loglik(steps)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [s.iteration for s in steps])
    np.testing.assert_array_equal(line.get_ydata(), [s.loglik for s in steps])
    assert (np.diff(line.get_ydata()) >= -1e-9).all()
    assert ax.get_xlabel() == "iteration" and ax.get_ylabel() == "log-likelihood"
    assert ax.get_title() == "Log-likelihood per iteration"


def test_loglik_from_result_and_values():
    from emkit.examples.textbook import LINKAGE_COUNTS, GeneticLinkage

    result = emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-12)
    (line,) = plot.plot_loglik(result).get_lines()
    assert line.get_xdata()[0] == 0 and len(line.get_xdata()) == result.n_iter + 1
    assert line.get_ydata()[0] == result.logliks[0]
    (line,) = plot.plot_loglik([-3.0, -2.0, -1.5]).get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    with pytest.raises(ValueError, match="no iterations"):
        plot.plot_loglik([])


def test_density_1d():
    data = emkit.datasets.load_faithful()[["eruptions"]]
    model = emkit.GaussianMixture(2, random_state=0).fit(data.to_numpy())
    ax = plot.plot_density_1d(data, model, bins=20)
    assert len(ax.patches) == 20  # histogram bars
    lines = ax.get_lines()
    assert len(lines) == 1 + 2 and len(ax.collections) == 2
    mixture = lines[0]
    x, y = mixture.get_xdata(), mixture.get_ydata()
    # The mixture curve is exp(score_samples), and it integrates to ~1.
    np.testing.assert_allclose(y, np.exp(model.score_samples(x[:, None])), rtol=1e-10)
    assert np.trapezoid(y, x) == pytest.approx(1.0, abs=0.01)
    # Each component's curve peaks at its mean.
    for k, line in enumerate(lines[1:]):
        peak = line.get_xdata()[np.nanargmax(line.get_ydata())]
        assert peak == pytest.approx(model.means_[k, 0], abs=0.02)
    assert ax.get_xlabel() == "eruptions" and ax.get_ylabel() == "density"
    texts = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"data", "mixture", f"component 1 (weight {model.weights_[0]:.2f})"} <= texts


def test_clusters_2d(faithful_fit):
    data, model, _ = faithful_fit
    ax = plot.plot_clusters_2d(data, model)
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 2 * 2  # 1σ and 2σ per component
    points, centres = ax.collections
    assert points.get_offsets().shape == (272, 2)
    np.testing.assert_allclose(centres.get_offsets(), model.means_, rtol=1e-12)
    # Point colours follow the model's own labels.
    colours = points.get_facecolors()[:, :3]
    labels = model.predict(data)
    for k in range(2):
        assert np.ptp(colours[labels == k], axis=0).max() == 0
    # The 1σ ellipse's axes are 2·sqrt(eigenvalues) of the covariance.
    eig = np.linalg.eigvalsh(model.covariances_[0])
    one_sigma = ellipses[0]
    np.testing.assert_allclose(sorted([one_sigma.width, one_sigma.height]),
                               2 * np.sqrt(eig), rtol=1e-10)
    np.testing.assert_allclose(ellipses[1].width, 2 * one_sigma.width, rtol=1e-12)
    assert ax.get_xlabel() == "eruptions" and ax.get_ylabel() == "waiting"
    assert "2 clusters" in ax.get_title()


@pytest.mark.parametrize("covariance_type", ["tied", "diag", "spherical"])
def test_mixture_params_expand_every_type(covariance_type):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    model = emkit.GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    weights, means, full = plot.mixture_params(model)
    assert full.shape == (2, 3, 3)
    # A full-covariance density of the expanded matrices equals the model's.
    manual = {"weights": weights, "means": means, "covariances": full}
    ax = plot.plot_clusters_2d(X, manual, dims=(0, 2))
    assert len(ax.patches) == 4
    from emkit.plot.mixture import _log_joint

    np.testing.assert_allclose(np.logaddexp.reduce(_log_joint(X, weights, means, full), axis=1),
                               model.score_samples(X), rtol=1e-10)


def test_animation_frames(faithful_fit, tmp_path):
    data, _model, steps = faithful_fit
    path = plot.animate_fit(data, steps, tmp_path / "fit.gif", max_frames=10)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 10
        first = np.asarray(gif.convert("RGB"))
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"))
    assert first.shape[2] == 3 and np.abs(first.astype(int) - last).sum() > 0
    path = plot.animate_fit(data, steps[:5], tmp_path / "short.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 5
    with pytest.raises(ValueError, match="no iterations"):
        plot.animate_fit(data, [], tmp_path / "none.gif")


def test_hmm_states():
    rng = np.random.default_rng(1)
    states = np.repeat([0, 2, 1, 0], 50)
    X = states * 3.0 + rng.normal(size=states.size)
    fig = plot.plot_hmm_states(X, states)
    top, bottom = fig.axes
    np.testing.assert_array_equal(bottom.get_lines()[0].get_ydata(), states)
    np.testing.assert_array_equal(top.get_lines()[0].get_ydata(), X)
    (band,) = top.get_images()
    np.testing.assert_array_equal(band.get_array()[0], states)
    assert bottom.get_ylabel() == "state" and bottom.get_xlabel() == "time step"
    assert len(bottom.get_yticks()) == 3
    with pytest.raises(ValueError, match="one entry per step"):
        plot.plot_hmm_states(X, states[:-1])
    with pytest.raises(ValueError, match="integer"):
        plot.plot_hmm_states(X, states.astype(float))


def test_save_mixture_plots(faithful_fit, tmp_path):
    data, model, steps = faithful_fit
    written = plot.save_mixture_plots(tmp_path / "out", data, model, steps, max_frames=5)
    assert [p.name for p in written] == ["loglik.png", "clusters.png", "fit.gif"]
    with Image.open(written[0]) as png:
        assert png.size == (640, 480)
    one = plot.save_mixture_plots(tmp_path / "one", data[["waiting"]],
                                  emkit.GaussianMixture(2, random_state=0).fit(
                                      data[["waiting"]]))
    assert [p.name for p in one] == ["density.png"]
    assert plt.get_fignums() == []  # figures are closed after saving


def test_bad_inputs():
    with pytest.raises(ValueError, match="fitted mixture"):
        plot.mixture_params(object())
    with pytest.raises(ValueError, match="'weights'"):
        plot.mixture_params({"means": np.zeros((1, 1))})
    with pytest.raises(ValueError, match="covariance_type"):
        plot.mixture_params({"weights": [1.0], "means": [[0.0]], "covariances": [1.0]},
                            covariance_type="bogus")
    with pytest.raises(ValueError, match="two columns"):
        plot.plot_clusters_2d(np.zeros((5, 1)), {"weights": [1.0], "means": [[0.0]],
                                                 "covariances": [[[1.0]]]})
    with pytest.raises(AttributeError):
        _ = plot.plot_no_such_figure


def test_selection_plot_is_re_exported():
    from emkit.plot.selection import plot_criterion

    assert plot.plot_criterion is plot_criterion
