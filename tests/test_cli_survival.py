"""``emkit survival``: the numbers of the Python API's fit, medians, ``--save``, and bad
input as one line on stderr."""

from __future__ import annotations

import json
import re
import signal

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import emkit
from emkit.cli import main
from emkit.engine import observe

N = 400


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(21)
    early = rng.random(N) < 0.4
    cured = rng.random(N) < 0.15
    fail = np.where(cured, np.inf, np.where(early, 2.0 * rng.weibull(1.5, N),
                                            8.0 * rng.weibull(3.0, N)))
    censor = rng.uniform(0.0, 15.0, N)
    return pd.DataFrame({"months": np.minimum(fail, censor).round(4),
                         "died": (fail <= censor).astype(int),
                         "arm": np.where(early, "a", "b")})


@pytest.fixture(scope="module")
def csv(table, tmp_path_factory):
    path = tmp_path_factory.mktemp("survival") / "trial.csv"
    table.to_csv(path, index=False)
    return path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _api(table, distribution="weibull", k=1, cure=False, seed=0, n_init=1):
    t = table["months"].to_numpy(float)
    d = table["died"].to_numpy(float)
    model = emkit.SurvivalMixture(distribution, k, cure=cure, random_state=seed, n_init=n_init)
    return model.fit(t, d), t, d


PARAMETERS = {"exponential": ("rate",), "weibull": ("shape", "scale"),
              "lognormal": ("meanlog", "sdlog")}
CASES = {
    "weibull K=2": (["-k", "2"], dict(k=2)),
    "lognormal K=1": (["--distribution", "lognormal"], dict(distribution="lognormal")),
    "exponential K=2 cure, seed 3": (
        ["--distribution", "exponential", "-k", "2", "--cure", "--seed", "3", "--n-init", "2"],
        dict(distribution="exponential", k=2, cure=True, seed=3, n_init=2)),
    "weibull cure": (["--cure"], dict(cure=True)),
}


def _median(distribution, params):
    """A component's median from scipy.stats (not emkit's formulas)."""
    if distribution == "exponential":
        return stats.expon(scale=1.0 / params["rate"]).median()
    if distribution == "weibull":
        return stats.weibull_min(params["shape"], scale=params["scale"]).median()
    return stats.lognorm(params["sdlog"], scale=np.exp(params["meanlog"])).median()


@pytest.mark.parametrize("name", CASES)
def test_json_equals_the_python_fit_with_the_same_seed(capsys, csv, table, name):
    argv, kwargs = CASES[name]
    code, out, err = run(capsys, "survival", csv, "--time", "months", "--event", "died",
                         *argv, "--json", "--quiet")
    assert code == 0 and err == ""
    doc = json.loads(out)
    model, t, d = _api(table, **kwargs)
    family = model.distribution
    np.testing.assert_allclose(doc["weights"], model.weights_, rtol=1e-12)
    for name_ in PARAMETERS[family]:
        np.testing.assert_allclose(doc[name_], getattr(model, name_ + "_"), rtol=1e-12)
    if model.cure:
        np.testing.assert_allclose(doc["cure_fraction"], model.cure_fraction_, rtol=1e-12)
    else:
        assert "cure_fraction" not in doc
    np.testing.assert_allclose(doc["loglik"], model.score_samples(t, d).sum(), rtol=1e-12)
    np.testing.assert_allclose(doc["bic"], model.bic(t, d), rtol=1e-12)
    np.testing.assert_allclose(doc["aic"], model.aic(t, d), rtol=1e-12)
    free = model.n_components * len(PARAMETERS[family]) + model.n_components - 1 + model.cure
    np.testing.assert_allclose(doc["bic"], -2 * doc["loglik"] + free * np.log(N), rtol=1e-12)
    medians = [_median(family, {p: doc[p][j] for p in PARAMETERS[family]})
               for j in range(model.n_components)]
    np.testing.assert_allclose(doc["component_median_survival"], medians, rtol=1e-10)
    if doc["median_survival"] is None:
        assert model.median_survival_ == np.inf
    else:  # the mixture's S is 1/2 there
        np.testing.assert_allclose(model.survival_function([doc["median_survival"]]), 0.5,
                                   rtol=1e-9)
    assert doc["n_iter"] == model.n_iter_ and doc["converged"] is bool(model.converged_)
    assert doc["n_events"] == int(d.sum()) and doc["n_rows"] == N


def test_exponential_rate_is_events_over_exposure(capsys, csv, table):
    """One exponential component: the closed-form censored MLE."""
    code, out, _ = run(capsys, "survival", csv, "--time", "months", "--event", "died",
                       "--distribution", "exponential", "--json", "-q")
    assert code == 0
    rate = table["died"].sum() / table["months"].sum()
    np.testing.assert_allclose(json.loads(out)["rate"], [rate], rtol=1e-12)


def test_text_table_shows_the_python_fit(capsys, csv, table):
    code, out, err = run(capsys, "survival", csv, "--time", "months", "--event", "died",
                         "-k", "2", "--cure", "-q")
    assert code == 0 and err == ""
    model, *_ = _api(table, k=2, cure=True)
    events = int(table["died"].sum())
    assert out.startswith("Survival mixture: 2 Weibull components, with a cure fraction\n"
                          f"400 rows ({events} failures, {N - events} censored); time months, "
                          "event died\n")
    block = out.split("component 1", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in block.splitlines()[1:]:
        label, *numbers = re.split(r"\s{2,}", line.strip())
        rows[label] = [float(v) for v in numbers]
    np.testing.assert_allclose(rows["weight"], model.weights_, rtol=1e-5)
    np.testing.assert_allclose(rows["shape"], model.shape_, rtol=1e-5)
    np.testing.assert_allclose(rows["scale"], model.scale_, rtol=1e-5)
    np.testing.assert_allclose(
        rows["median survival"],
        [_median("weibull", {"shape": a, "scale": b}) for a, b in zip(model.shape_,
                                                                      model.scale_,
                                                                      strict=True)],
        rtol=1e-5)
    cure = float(re.search(r"Cure fraction \(never fail\): (\S+)", out).group(1))
    np.testing.assert_allclose(cure, model.cure_fraction_, rtol=1e-5)
    median = float(re.search(r"Median survival of the mixture: (\S+)", out).group(1))
    np.testing.assert_allclose(median, model.median_survival_, rtol=1e-5)
    assert max(len(line) for line in out.splitlines()) <= 80


def test_save_writes_a_model_that_loads_and_scores_as_the_fit(capsys, csv, table, tmp_path):
    path = tmp_path / "trial.emkit"
    code, out, _ = run(capsys, "survival", csv, "--time", "months", "--event", "died",
                       "--distribution", "lognormal", "-k", "2", "--save", path, "-q")
    assert code == 0 and f"Model saved to: {path}" in out
    loaded = emkit.load(path)
    model, t, d = _api(table, "lognormal", k=2)
    np.testing.assert_array_equal(loaded.predict_proba(t, d), model.predict_proba(t, d))
    np.testing.assert_array_equal(loaded.survival_function([1.0, 5.0]),
                                  model.survival_function([1.0, 5.0]))


def _one_line_error(code, out, err, expected_code=1):
    assert code == expected_code
    assert out == ""
    assert err.startswith("emkit: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def _bad_file(table, tmp_path, column, row, value):
    bad = table.copy()
    bad[column] = bad[column].astype(float)
    bad.loc[row, column] = value
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("column", "value", "words"), [
    ("months", 0.0, "--time column months must be strictly positive (data row 4: 0;"),
    ("months", -1.5, "--time column months must be strictly positive (data row 4: -1.5;"),
    ("died", 2.0, "--event column died must hold 1 (failure observed) or 0 (censored) "
                  "(data row 4: 2;"),
    ("died", 0.5, "(data row 4: 0.5;"),
    ("months", np.nan, "column months has 1 empty cell(s) (first in data row 4)"),
])
def test_bad_times_and_events_are_one_line_on_stderr(capsys, table, tmp_path, column, value,
                                                     words):
    path = _bad_file(table, tmp_path, column, 3, value)
    code, out, err = run(capsys, "survival", path, "--time", "months", "--event", "died")
    _one_line_error(code, out, err)
    assert words in err


@pytest.mark.parametrize(("argv", "words"), [
    (["--time", "weeks", "--event", "died"], "unknown column(s) weeks"),
    (["--time", "months", "--event", "arm"], "arm are not numeric"),
])
def test_missing_or_text_column_is_one_line(capsys, csv, argv, words):
    code, out, err = run(capsys, "survival", csv, *argv)
    _one_line_error(code, out, err)
    assert words in err


def test_every_row_censored_is_refused(capsys, table, tmp_path):
    bad = table.assign(died=0)
    path = tmp_path / "censored.csv"
    bad.to_csv(path, index=False)
    code, out, err = run(capsys, "survival", path, "--time", "months", "--event", "died")
    _one_line_error(code, out, err)
    assert "no observed failure" in err


@pytest.mark.parametrize("where", ["missing directory", "a directory", "under a file"])
def test_unwritable_save_path_is_refused_before_fitting(capsys, csv, tmp_path, where):
    target = {"missing directory": tmp_path / "no" / "m.emkit", "a directory": tmp_path,
              "under a file": csv / "m.emkit"}[where]
    steps = []
    with observe(steps.append):
        code, out, err = run(capsys, "survival", csv, "--time", "months", "--event", "died",
                             "--save", target)
    _one_line_error(code, out, err)
    assert "cannot write --save" in err and steps == []


@pytest.mark.parametrize(("argv", "words"), [
    (["--time", "months", "--event", "months"], "named more than once"),
    (["--time", "months", "--event", "died", "--distribution", "gamma"], "'gamma' is not one"),
    (["--time", "months"], "Missing option '--event'"),
])
def test_usage_errors_exit_2(capsys, csv, argv, words):
    code, out, err = run(capsys, "survival", csv, *argv)
    _one_line_error(code, out, err, expected_code=2)
    assert words in err


def test_ctrl_c_reports_best_so_far_and_writes_no_model(capsys, csv, tmp_path):
    def press_ctrl_c(step):
        if step.iteration == 2:
            signal.raise_signal(signal.SIGINT)

    path = tmp_path / "m.emkit"
    before = signal.getsignal(signal.SIGINT)
    with observe(press_ctrl_c):
        code, out, err = run(capsys, "survival", csv, "--time", "months", "--event", "died",
                             "-k", "2", "--tol", "0", "--max-iter", "500", "--save", path)
    assert code == 130
    assert "converged: no (interrupted; best parameters so far)" in out
    assert "Iterations: 2 " in out and not path.exists()
    assert "was not written" in err and signal.getsignal(signal.SIGINT) is before
