"""``emkit regress``: the numbers of the Python API's fit, readable and JSON output,
``--save``, and bad input as one line on stderr."""

from __future__ import annotations

import json
import re
import signal

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.cli import main
from emkit.engine import observe

N = 300


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(8)
    x1, x2, z = rng.uniform(0, 10, N), rng.normal(0, 1, N), rng.normal(0, 1, N)
    group = rng.random(N) < 1 / (1 + np.exp(-(0.3 + 1.5 * z)))
    trials = rng.integers(1, 12, N)
    return pd.DataFrame({
        "x1": x1.round(3), "x2": x2.round(3), "z": z.round(3),
        "spend": (np.where(group, 1 + 2 * x1 + 0.5 * x2, 12 - x1)
                  + rng.normal(0, 0.7, N)).round(3),
        "visits": rng.poisson(np.exp(np.where(group, 0.2 + 0.1 * x1, 1.5 - 0.05 * x1))),
        "trials": trials,
        "wins": rng.binomial(trials, np.where(group, 0.2, 0.7)),
        "bought": (rng.random(N) < np.where(group, 0.2, 0.8)).astype(int),
        "label": np.where(group, "a", "b"),
    })


@pytest.fixture(scope="module")
def csv(table, tmp_path_factory):
    path = tmp_path_factory.mktemp("regress") / "shop.csv"
    table.to_csv(path, index=False)
    return path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _api(table, y, x, k=2, family="gaussian", trials=None, concomitant=None, seed=0,
         n_init=1):
    X = table[x].to_numpy(float)
    Y = table[y].to_numpy(float)
    if trials:
        Y = np.column_stack([Y, table[trials].to_numpy(float) - Y])
    Z = table[concomitant].to_numpy(float) if concomitant else None
    model = emkit.RegressionMixture(k, family=family, random_state=seed, n_init=n_init)
    return model.fit(X, Y, concomitant=Z), X, Y, Z


CASES = {
    "gaussian": (["--y", "spend", "--x", "x1,x2"], dict(y="spend", x=["x1", "x2"])),
    "poisson, concomitant": (
        ["--y", "visits", "--x", "x1", "--family", "poisson", "--concomitant", "z"],
        dict(y="visits", x=["x1"], family="poisson", concomitant=["z"])),
    "binomial trials": (
        ["--y", "wins", "--trials", "trials", "--x", "x1", "--x", "x2", "--family", "binomial"],
        dict(y="wins", x=["x1", "x2"], family="binomial", trials="trials")),
    "binomial 0/1, 3 components, seed 5": (
        ["--y", "bought", "--x", "x1", "--family", "binomial", "-k", "3", "--seed", "5",
         "--n-init", "2"],
        dict(y="bought", x=["x1"], family="binomial", k=3, seed=5, n_init=2)),
}


@pytest.mark.parametrize("name", CASES)
def test_json_equals_the_python_fit_with_the_same_seed(capsys, csv, table, name):
    argv, kwargs = CASES[name]
    code, out, err = run(capsys, "regress", csv, *argv, "--json", "--quiet")
    assert code == 0 and err == ""
    doc = json.loads(out)
    model, X, Y, Z = _api(table, **kwargs)
    np.testing.assert_allclose(doc["weights"], model.weights_, rtol=1e-12)
    np.testing.assert_allclose(doc["intercept"], model.intercept_, rtol=1e-12)
    np.testing.assert_allclose(doc["coef"], model.coef_, rtol=1e-12, atol=1e-14)
    if kwargs.get("family", "gaussian") == "gaussian":
        np.testing.assert_allclose(doc["scale"], model.scale_, rtol=1e-12)
    else:
        assert "scale" not in doc
    if Z is not None:
        np.testing.assert_allclose(doc["concomitant_coef"], model.concomitant_coef_,
                                   rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(doc["loglik"], model.score_samples(X, Y, Z).sum(), rtol=1e-12)
    np.testing.assert_allclose(doc["bic"], model.bic(X, Y, Z), rtol=1e-12)
    np.testing.assert_allclose(doc["aic"], model.aic(X, Y, Z), rtol=1e-12)
    # BIC from its definition, with the parameter count written out here
    k, p = doc["n_components"], len(doc["covariates"]) + 1
    free = k * p + (k if doc["family"] == "gaussian" else 0)
    free += (k - 1) * (len(doc["concomitant"]) + 1) if doc["concomitant"] else k - 1
    assert doc["n_parameters"] == free
    np.testing.assert_allclose(doc["bic"], -2 * doc["loglik"] + free * np.log(N), rtol=1e-12)
    assert doc["n_iter"] == model.n_iter_ and doc["converged"] is bool(model.converged_)
    assert doc["stop_reason"] == ("converged" if model.converged_ else "max_iter")
    assert doc["n_rows"] == N and doc["saved"] is None


def _table_rows(out):
    """``{label: [numbers]}`` of the first component table in the text output."""
    block = out.split("component 1", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in block.splitlines()[1:]:
        label, *numbers = re.split(r"\s{2,}", line.strip())
        rows[label] = [float(v) for v in numbers]
    return rows


def test_text_table_shows_the_python_fit(capsys, csv, table):
    code, out, err = run(capsys, "regress", csv, "--y", "spend", "--x", "x1,x2", "-q")
    assert code == 0 and err == ""
    model, *_ = _api(table, "spend", ["x1", "x2"])
    assert out.startswith("Mixture of regressions: 2 components, gaussian (identity link)\n"
                          "300 rows; response spend; covariates x1, x2\n")
    rows = _table_rows(out)
    np.testing.assert_allclose(rows["weight"], model.weights_, rtol=1e-5)
    np.testing.assert_allclose(rows["(intercept)"], model.intercept_, rtol=1e-5)
    np.testing.assert_allclose(rows["x1"], model.coef_[:, 0], rtol=1e-5)
    np.testing.assert_allclose(rows["x2"], model.coef_[:, 1], rtol=1e-5)
    np.testing.assert_allclose(rows["scale (sd)"], model.scale_, rtol=1e-5)
    # the two segments the data were made with: slopes +2 and -1 on x1
    np.testing.assert_allclose(np.sort(rows["x1"]), [-1.0, 2.0], atol=0.05)
    assert "converged: yes" in out and "BIC:" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_concomitant_table_has_the_reference_row_of_zeros(capsys, csv, table):
    code, out, _ = run(capsys, "regress", csv, "--y", "visits", "--x", "x1", "--family",
                       "poisson", "--concomitant", "z", "-q")
    assert code == 0
    model, *_ = _api(table, "visits", ["x1"], family="poisson", concomitant=["z"])
    mixing = out.split("Mixing weights (multinomial logit; component 1 is the reference):\n",
                       1)[1].split("\n\n", 1)[0].splitlines()
    rows = {re.split(r"\s{2,}", line.strip())[0]: [float(v) for v in
                                                   re.split(r"\s{2,}", line.strip())[1:]]
            for line in mixing[1:]}
    np.testing.assert_allclose(rows["(intercept)"], model.concomitant_coef_[:, 0], rtol=1e-5)
    np.testing.assert_allclose(rows["z"], model.concomitant_coef_[:, 1], rtol=1e-5)
    assert rows["z"][0] == 0.0


def test_save_writes_a_model_that_loads_and_predicts_as_the_fit(capsys, csv, table, tmp_path):
    path = tmp_path / "shop.emkit"
    code, out, err = run(capsys, "regress", csv, "--y", "visits", "--x", "x1", "--family",
                         "poisson", "--save", path, "--json", "-q")
    assert code == 0 and err == "" and json.loads(out)["saved"] == str(path)
    loaded = emkit.load(path)
    model, X, Y, _ = _api(table, "visits", ["x1"], family="poisson")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X, Y), model.predict_proba(X, Y))


def _one_line_error(code, out, err, expected_code=1):
    assert code == expected_code
    assert out == ""
    assert err.startswith("emkit: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(("argv", "words"), [
    (["--y", "spend", "--x", "x9"], "unknown column(s) x9"),
    (["--y", "nope", "--x", "x1"], "unknown column(s) nope"),
    (["--y", "spend", "--x", "label"], "label are not numeric"),
    (["--y", "x2", "--x", "x1", "--family", "poisson"], "negative values"),
    (["--y", "x1", "--x", "x2", "--family", "poisson"], "not whole numbers"),
    (["--y", "visits", "--x", "x1", "--family", "binomial"], "other than 0 and 1"),
    (["--y", "visits", "--trials", "wins", "--x", "x1", "--family", "binomial"],
     "at least the successes"),
])
def test_bad_data_is_one_line_on_stderr(capsys, csv, argv, words):
    code, out, err = run(capsys, "regress", csv, *argv)
    _one_line_error(code, out, err)
    assert words in err


def test_negative_count_names_the_column_and_row(capsys, table, tmp_path):
    bad = table.copy()
    bad.loc[6, "visits"] = -2
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    code, out, err = run(capsys, "regress", path, "--y", "visits", "--x", "x1", "--family",
                         "poisson")
    _one_line_error(code, out, err)
    assert "--y column visits has negative values" in err and "data row 7: -2" in err


def test_empty_cell_is_refused_with_its_row(capsys, table, tmp_path):
    bad = table.copy()
    bad["x2"] = bad["x2"].astype(float)
    bad.loc[4, "x2"] = np.nan
    path = tmp_path / "gap.csv"
    bad.to_csv(path, index=False)
    code, out, err = run(capsys, "regress", path, "--y", "spend", "--x", "x1,x2")
    _one_line_error(code, out, err)
    assert "column x2 has 1 empty cell(s) (first in data row 5)" in err


@pytest.mark.parametrize("where", ["missing directory", "a directory", "under a file"])
def test_unwritable_save_path_is_refused_before_fitting(capsys, csv, tmp_path, where):
    target = {"missing directory": tmp_path / "no" / "m.emkit", "a directory": tmp_path,
              "under a file": csv / "m.emkit"}[where]
    steps = []
    with observe(steps.append):
        code, out, err = run(capsys, "regress", csv, "--y", "spend", "--x", "x1",
                             "--save", target)
    _one_line_error(code, out, err)
    assert "cannot write --save" in err
    assert steps == []  # no EM iteration ran


@pytest.mark.parametrize(("argv", "words"), [
    (["--y", "spend", "--x", "x1", "--trials", "trials"], "--family binomial only"),
    (["--y", "spend", "--x", "x1,x1"], "named more than once"),
    (["--y", "spend", "--x", "x1", "--family", "gamma"], "'gamma' is not one of"),
    (["--x", "x1"], "Missing option '--y'"),
    (["--y", "spend", "--x", "x1", "-k", "0"], "--k"),
])
def test_usage_errors_exit_2(capsys, csv, argv, words):
    code, out, err = run(capsys, "regress", csv, *argv)
    _one_line_error(code, out, err, expected_code=2)
    assert words in err


def test_a_component_left_empty_is_a_one_line_error(capsys, csv):
    code, out, err = run(capsys, "regress", csv, "--y", "spend", "--x", "x1", "-k", "60")
    _one_line_error(code, out, err)
    assert "holds no rows" in err


def test_ctrl_c_reports_best_so_far_and_writes_no_model(capsys, csv, tmp_path):
    def press_ctrl_c(step):
        if step.iteration == 2:
            signal.raise_signal(signal.SIGINT)

    path = tmp_path / "m.emkit"
    before = signal.getsignal(signal.SIGINT)
    with observe(press_ctrl_c):
        code, out, err = run(capsys, "regress", csv, "--y", "spend", "--x", "x1,x2",
                             "--tol", "0", "--max-iter", "500", "--json", "--save", path)
    assert code == 130
    doc = json.loads(out)
    assert doc["stop_reason"] == "interrupted" and doc["converged"] is False
    assert doc["n_iter"] == 2 and doc["saved"] is None
    assert not path.exists()
    assert "interrupted" in err and signal.getsignal(signal.SIGINT) is before


def test_help_lists_the_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "regress" in out and "survival" in out
    code, out, _ = run(capsys, "regress", "--help")
    assert code == 0
    for option in ("--y", "--x", "--family", "--trials", "--concomitant", "--n-init",
                   "--seed", "--json", "--save", "--quiet"):
        assert option in out
