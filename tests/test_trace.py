"""The step-by-step trace: rows built from the engine's Step records."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import emkit
import emkit.trace
from emkit.engine import observe
from emkit.examples.textbook import LINKAGE_COUNTS, GeneticLinkage
from emkit.trace import (
    PARAMS_LIMIT,
    StepRecorder,
    format_params,
    format_row,
    format_trace,
    trace_rows,
)


@pytest.fixture(scope="module")
def linkage():
    return emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-12)


def test_module_doctests():
    result = doctest.testmod(emkit.trace)
    assert result.attempted >= 5 and result.failed == 0


def test_rows_follow_steps(linkage):
    rows = trace_rows(linkage)
    assert [r.iteration for r in rows] == list(range(1, linkage.n_iter + 1))
    for row, step in zip(rows, linkage.steps, strict=True):
        assert row.loglik == step.loglik and row.gain == step.gain
        assert row.param_change == step.param_change
    # The gains add up to the total improvement; the changes are |θ_new − θ_old|.
    assert sum(r.gain for r in rows) == pytest.approx(
        linkage.loglik - linkage.logliks[0], rel=1e-12)
    thetas = [0.5] + [s.params for s in linkage.steps]
    np.testing.assert_allclose([r.param_change for r in rows], np.abs(np.diff(thetas)),
                               rtol=1e-12)
    # The last parameter shown is the published MLE 0.6268215 (Dempster et al. 1977).
    assert rows[-1].params == "0.6268"


def test_start_row_and_widths(linkage):
    rows = trace_rows(linkage, start=(float(linkage.logliks[0]), 0.5))
    assert rows[0].iteration == 0 and math.isnan(rows[0].gain)
    text = format_trace(rows)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["iteration", "log-likelihood"]
    assert len(lines) == 1 + linkage.n_iter + 1
    assert lines[1].split() == ["0", f"{linkage.logliks[0]:.6f}", "0.5"]
    # Columns line up: every row puts the log-likelihood under its header.
    end = lines[0].index("log-likelihood") + len("log-likelihood")
    assert all(line[end - 1] != " " for line in lines[1:])


def test_max_rows_keeps_first_and_last(linkage):
    lines = format_trace(linkage, max_rows=4).splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3", "...", "9"]


def test_params_shown_only_for_small_problems():
    big = {"means": np.zeros((PARAMS_LIMIT + 1,))}
    small = {"weights": np.array([0.25, 0.75]), "means": np.array([[0.25], [0.75]])}
    step = emkit.Step(1, -1.0, 0.5, 0.1, 0.0, 2, big)
    assert trace_rows([step])[0].params == ""
    assert trace_rows([step], show_params=True)[0].params.startswith("means=[0 0")
    step = emkit.Step(1, -1.0, 0.5, 0.1, 0.0, 2, small)
    assert trace_rows([step])[0].params == "weights=[0.25 0.75] means=[[0.25] [0.75]]"
    assert trace_rows([step], keys=["means"])[0].params == "means=[[0.25] [0.75]]"


def test_format_params_shapes():
    assert format_params(0.123456) == "0.1235"
    assert format_params((1.0, 2.0)) == "[1 2]"
    assert format_params({"a": 1.0, "b": np.array([2.0, 3.0])}, keys=["b"]) == "b=[2 3]"
    assert format_params(np.array([1234.5678]), digits=6) == "[1234.57]"


def test_accelerated_steps_are_marked():
    steps = [emkit.Step(1, -2.0, 1.0, 0.1, 0.0, 3, 0.5, accelerated=True)]
    assert format_row(trace_rows(steps)[0]).split()[0] == "1*"


def test_recorder_separates_runs():
    recorder = StepRecorder()
    with observe(recorder):
        emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-12)
        with pytest.warns(emkit.ConvergenceWarning):
            emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.05, tol=1e-12, max_iter=2)
    assert len(recorder.runs) == 2
    assert [s.iteration for s in recorder.runs[1]] == [0, 1, 2]
    assert recorder.runs[1][0].params == 0.05 and math.isnan(recorder.runs[1][0].gain)
    assert recorder.best_run() is recorder.runs[0]
    assert recorder.n_steps == 9 + 2
    # Outside the block nothing is recorded.
    emkit.em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-12)
    assert len(recorder.runs) == 2


def test_recorder_sees_estimator_fits():
    data = emkit.datasets.load_faithful()
    recorder = StepRecorder()
    with observe(recorder):
        model = emkit.GaussianMixture(2, random_state=0).fit(data)
    run = recorder.best_run()
    assert run[-1].iteration == model.n_iter_
    assert run[-1].loglik / len(data) == pytest.approx(model.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(run[-1].params["means"], model.means_, rtol=1e-12)
    gains = np.diff([s.loglik for s in run])
    assert (gains >= -1e-9).all()  # EM never lowers the log-likelihood


def test_bad_source():
    with pytest.raises(ValueError, match="Step records"):
        trace_rows([1.0, 2.0])
