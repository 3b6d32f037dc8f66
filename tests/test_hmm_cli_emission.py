"""``emkit hmm fit --emission/--n-init`` with AIC and BIC, and ``emkit hmm select``."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.cli import main


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    """Two sequences of 240 rows from three regimes; columns of several kinds."""
    rng = np.random.default_rng(0)
    levels = np.tile(np.repeat([0, 1, 2], 80), 2)
    x = rng.normal(np.array([-4.0, 0.0, 4.0])[levels], 1.0)
    table = pd.DataFrame({
        "id": np.repeat(["a", "b"], 240),
        "x": x,
        "count": rng.poisson(np.array([1.0, 5.0, 12.0])[levels]),
        "duration": rng.gamma(np.array([2.0, 5.0, 9.0])[levels], 1.0),
        "symbol": np.where(rng.random(480) < 0.9, levels, rng.integers(0, 3, 480)),
        "flag": (rng.random(480) < np.array([0.1, 0.5, 0.9])[levels]).astype(int),
    })
    path = tmp_path_factory.mktemp("hmm_emission") / "sequences.csv"
    table.to_csv(path, index=False)
    return path


def _data(path, column):
    table = pd.read_csv(path)
    return table[[column]].to_numpy(float), [240, 240]


def _run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


K = 2
#: --emission, column, free emission parameters of K states on one column (by hand),
#: and the library estimator the command should fit
FAMILIES = [
    ("gaussian", "x", 2 * K, lambda: emkit.GaussianHMM(K, "diag")),
    ("gmm", "x", K * (2 - 1) + 2 * K * 2, lambda: emkit.GMMHMM(K, n_mix=2)),
    ("categorical", "symbol", K * (3 - 1), lambda: emkit.CategoricalHMM(K)),
    ("poisson", "count", K, lambda: emkit.PoissonHMM(K)),
    ("exponential", "duration", K,
     lambda: emkit.HMM(emkit.distributions.Exponential(), K)),
    ("gamma", "duration", 2 * K, lambda: emkit.HMM(emkit.distributions.Gamma(), K)),
    ("lognormal", "duration", 2 * K, lambda: emkit.HMM(emkit.distributions.LogNormal(), K)),
    ("student-t", "x", 3 * K, lambda: emkit.HMM(emkit.distributions.StudentT(), K)),
    ("bernoulli", "flag", K, lambda: emkit.HMM(emkit.distributions.Bernoulli(), K)),
    ("weibull", "duration", 2 * K, lambda: emkit.HMM(emkit.distributions.Weibull(), K)),
    ("negative-binomial", "count", 2 * K,
     lambda: emkit.HMM(emkit.distributions.NegativeBinomial(), K)),
]


@pytest.mark.parametrize("emission, column, emission_parameters, make", FAMILIES,
                         ids=[f[0] for f in FAMILIES])
def test_every_emission_reports_aic_and_bic(table_path, capsys, emission, column,
                                            emission_parameters, make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        report = _run_json(capsys, ["hmm", "fit", str(table_path), "-k", str(K), "-s", "id",
                                    "-c", column, "--emission", emission, "--n-iter", "30",
                                    "--seed", "0", "--json"])
        X, lengths = _data(table_path, column)
        model = make().set_params(n_iter=30, random_state=0).fit(X, lengths)
    assert report["emission"] == emission
    assert report["loglik"] == pytest.approx(model.score(X, lengths), rel=1e-9)
    assert report["bic"] == pytest.approx(model.bic(X, lengths), rel=1e-9)
    assert report["aic"] == pytest.approx(model.aic(X, lengths), rel=1e-9)
    # an independent count: K - 1 start, K (K - 1) transition, then the emissions
    p = (K - 1) + K * (K - 1) + emission_parameters
    assert report["n_parameters"] == p
    assert report["bic"] == pytest.approx(-2 * report["loglik"] + p * math.log(480), rel=1e-12)
    assert report["aic"] == pytest.approx(-2 * report["loglik"] + 2 * p, rel=1e-12)
    assert report["emission_parameters"]


def test_text_output_shows_aic_and_bic(table_path, capsys):
    report = _run_json(capsys, ["hmm", "fit", str(table_path), "-k", "3", "-s", "id", "-c",
                                "x", "--seed", "0", "--json"])
    assert main(["hmm", "fit", str(table_path), "-k", "3", "-s", "id", "-c", "x",
                 "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert f"AIC {report['aic']:.3f}, BIC {report['bic']:.3f} (14 free parameters" in out
    assert out.startswith("GaussianHMM (diag), 3 states, 2 sequence(s), 480 rows")
    assert "Means:" in out


def test_n_init_reaches_the_command(table_path, capsys):
    report = _run_json(capsys, ["hmm", "fit", str(table_path), "-k", "3", "-c", "x",
                                "--n-init", "3", "--seed", "4", "--json"])
    X, _ = _data(table_path, "x")
    once = emkit.GaussianHMM(3, n_iter=100, random_state=4).fit(X)
    thrice = emkit.GaussianHMM(3, n_iter=100, n_init=3, random_state=4).fit(X)
    assert report["n_init"] == 3
    assert report["loglik"] == pytest.approx(thrice.score(X), rel=1e-9)
    assert report["loglik"] >= once.score(X) - 1e-6


def test_select_prints_the_table_and_the_choice(table_path, tmp_path, capsys):
    model_path = tmp_path / "best.emkit"
    assert main(["hmm", "select", str(table_path), "-s", "id", "-c", "x", "--n-components",
                 "1..4", "--n-init", "2", "--seed", "0", "--save", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "BIC by number of states" in out
    assert "Best by BIC: 3 states (GaussianHMM (diag))" in out
    X, lengths = _data(table_path, "x")
    expected = emkit.select_hmm(X, lengths, n_components=range(1, 5), n_iter=100, n_init=2,
                                random_state=0)
    for row in expected.table.itertuples(index=False):
        assert f"{row.bic:.3f}" in out and f"{row.aic:.3f}" in out
    best = emkit.load(model_path)
    assert best.n_components == 3 and best.feature_names_in_ == ["x"]
    assert best.bic(X, lengths) == pytest.approx(expected.table["bic"].min(), rel=1e-9)


def test_select_json_keeps_failed_fits(table_path, capsys):
    report = _run_json(capsys, ["hmm", "select", str(table_path), "-s", "id", "-c", "count",
                                "--emission", "poisson", "-k", "1,2,3", "--criterion", "aic",
                                "--seed", "0", "--json"])
    X, lengths = _data(table_path, "count")
    expected = emkit.select_hmm(X, lengths, n_components=[1, 2, 3], emission=emkit.PoissonHMM,
                                criterion="aic", n_iter=100, random_state=0)
    assert [r["n_components"] for r in report["table"]] == [1, 2, 3]
    np.testing.assert_allclose([r["aic"] for r in report["table"]], expected.table["aic"],
                               rtol=1e-9)
    assert report["best"]["n_components"] == expected.best_n_components
    assert report["criterion"] == "aic" and "lambdas" in report["best"]["emission_parameters"]

    assert main(["hmm", "select", str(table_path), "-c", "x", "-k", "2,600", "--n-iter", "20",
                 "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "failed: 600 states:" in out and "Best by BIC: 2 states" in out


@pytest.mark.parametrize("args, where", [
    (["fit", "--emission", "bogus"], "--emission"),
    (["fit", "--emission", "poisson", "--covariance-type", "full"], "--covariance-type"),
    (["fit", "--covariance-type", "bogus"], "--covariance-type"),
    (["fit", "--n-mix", "3"], "--n-mix"),
    (["fit", "--n-init", "0"], "--n-init"),
    (["select", "--n-components", "0"], "--n-components"),
    (["select", "--n-components", "4..2"], "--n-components"),
    (["select", "-k", "two"], "--n-components"),
    (["select", "--criterion", "icl"], "--criterion"),
])
def test_bad_values_exit_2_with_one_line(table_path, capsys, args, where):
    command, *rest = args
    assert main(["hmm", command, str(table_path), "-c", "x", *rest]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("emkit: error:") and where in lines[0]
    assert captured.out == ""


def test_data_the_family_refuses_exits_1(table_path, capsys):
    assert main(["hmm", "fit", str(table_path), "-c", "x", "--emission", "poisson"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("emkit: error:") and len(err.strip().splitlines()) == 1
