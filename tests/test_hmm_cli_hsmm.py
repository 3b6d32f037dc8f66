"""``emkit hmm fit --duration/--max-duration`` (HSMM) and ``--covariates`` (InputDrivenHMM)."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.cli import main
from emkit.estimators.hmm_input_driven import InputDrivenHMM
from emkit.estimators.hsmm import HSMM


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    """Two interleaved sequences of 120 rows: segments of 5..25 frames alternating
    between two levels, a count column and a covariate that shortens segments."""
    rng = np.random.default_rng(3)
    frames = []
    for name in ("p", "q"):
        states: list[int] = []
        state = 0
        while len(states) < 120:
            states += [state] * int(rng.integers(5, 26))
            state = 1 - state
        s = np.array(states[:120])
        frames.append(pd.DataFrame({
            "id": name, "x": rng.normal(np.array([0.0, 3.0])[s], 1.0),
            "count": rng.poisson(np.array([2.0, 9.0])[s]), "u": rng.normal(size=120)}))
    table = pd.concat(frames, ignore_index=True)
    order = np.argsort(np.tile(np.arange(120), 2), kind="stable")  # p0 q0 p1 q1 ...
    path = tmp_path_factory.mktemp("hmm_hsmm") / "sequences.csv"
    table.iloc[order].to_csv(path, index=False)
    return path


def _sequences(path, columns):
    """Rows grouped by ``id`` in first-appearance order (file order within each)."""
    table = pd.read_csv(path)
    codes, _ = pd.factorize(table["id"])
    order = np.argsort(codes, kind="stable")
    return table[columns].to_numpy(float)[order], np.bincount(codes), order


def _quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return model.fit(*args, **kwargs)


def _run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _decoded(capsys, model_path, table_path):
    assert main(["hmm", "decode", str(model_path), str(table_path)]) == 0
    out = capsys.readouterr().out
    return pd.read_csv(io.StringIO(out))


@pytest.mark.parametrize("duration, emission, column, make", [
    ("poisson", "gaussian", "x", lambda: emkit.distributions.Gaussian(covariance_type="diag")),
    ("negative_binomial", "gaussian", "x",
     lambda: emkit.distributions.Gaussian(covariance_type="diag")),
    ("nonparametric", "poisson", "count", lambda: emkit.distributions.Poisson()),
])
def test_hsmm_fit_equals_the_library_and_decode_equals_predict(
        table_path, tmp_path, capsys, duration, emission, column, make):
    model_path = tmp_path / "hsmm.emkit"
    report = _run_json(capsys, [
        "hmm", "fit", str(table_path), "-k", "2", "-s", "id", "-c", column,
        "--emission", emission, "--duration", duration, "--max-duration", "50",
        "--n-iter", "8", "--seed", "0", "--json", "--save", str(model_path)])
    X, lengths, order = _sequences(table_path, [column])
    model = _quiet_fit(HSMM(make(), 2, duration=duration, max_duration=50, n_iter=8,
                            random_state=0), X, lengths)
    assert report["model"] == f"HSMM({type(make()).__name__}, {duration} durations)"
    assert report["duration"] == duration and report["max_duration"] == 50
    assert report["loglik"] == pytest.approx(model.score(X, lengths), rel=1e-10)
    assert report["bic"] == pytest.approx(model.bic(X, lengths), rel=1e-10)
    np.testing.assert_allclose(report["durations"], model.durations_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(report["transmat"], model.transmat_, atol=1e-12)

    saved = emkit.load(model_path)
    assert type(saved) is HSMM and saved.feature_names_in_ == [column]
    assert saved.score(X, lengths) == pytest.approx(model.score(X, lengths), rel=1e-10)
    decoded = _decoded(capsys, model_path, table_path)
    expected = np.empty(len(X), dtype=int)
    expected[order] = model.predict(X, lengths)
    assert list(decoded.columns) == ["id", "row", "state"]
    np.testing.assert_array_equal(decoded["state"].to_numpy(), expected)


def test_input_driven_fit_equals_the_library_and_decode_equals_predict(
        table_path, tmp_path, capsys):
    model_path = tmp_path / "idhmm.emkit"
    # without --columns the covariate is not a feature: the features are x and count
    report = _run_json(capsys, [
        "hmm", "fit", str(table_path), "-k", "2", "-s", "id", "--covariates", "u",
        "--emission", "gaussian", "--n-iter", "8", "--seed", "0", "--json",
        "--save", str(model_path)])
    assert report["columns"] == ["x", "count"] and report["covariates"] == ["u"]
    X, lengths, order = _sequences(table_path, ["x", "count"])
    U = _sequences(table_path, ["u"])[0]
    model = _quiet_fit(InputDrivenHMM(emkit.distributions.Gaussian(covariance_type="diag"),
                                      2, n_iter=8, random_state=0),
                       X, lengths, covariates=U)
    assert report["model"] == "InputDrivenHMM(Gaussian)"
    assert report["loglik"] == pytest.approx(model.score(X, lengths, covariates=U), rel=1e-10)
    assert report["aic"] == pytest.approx(model.aic(X, lengths, covariates=U), rel=1e-10)
    assert report["bic"] == pytest.approx(model.bic(X, lengths, covariates=U), rel=1e-10)
    np.testing.assert_allclose(report["transition_coef"], model.transition_coef_,
                               rtol=1e-10, atol=1e-12)
    assert report["transmat"] is None

    saved = emkit.load(model_path)
    assert saved.covariate_names_ == ["u"] and saved.feature_names_in_ == ["x", "count"]
    decoded = _decoded(capsys, model_path, table_path)
    expected = np.empty(len(X), dtype=int)
    expected[order] = model.predict(X, lengths, covariates=U)
    np.testing.assert_array_equal(decoded["state"].to_numpy(), expected)


def test_text_report_shows_durations_and_coefficients(table_path, capsys):
    assert main(["hmm", "fit", str(table_path), "-k", "2", "-s", "id", "-c", "x",
                 "--duration", "poisson", "--n-iter", "3", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "HSMM(Gaussian, poisson durations)" in out and "Duration parameters:" in out
    assert main(["hmm", "fit", str(table_path), "-k", "2", "-s", "id", "-c", "x",
                 "--covariates", "u", "--n-iter", "3", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "Transition coefficients (u):" in out and "Transition matrix" not in out


@pytest.mark.parametrize("args, code, message", [
    (["--duration", "poisson", "--max-duration", "0"], 2, "--max-duration"),
    (["--duration", "bogus"], 2, "'bogus' is not one of"),
    (["--covariates", "zz"], 1, "no covariate column 'zz'"),
    (["--duration", "poisson", "--covariates", "u"], 2, "cannot be combined with --covariates"),
    (["--max-duration", "5"], 2, "--max-duration needs --duration"),
    (["--covariates", "u", "-c", "x,u"], 1, "'u' cannot also be a feature"),
    (["--covariates", "id"], 1, "covariate column 'id' is not numeric"),
    (["--emission", "gmm", "--duration", "poisson"], 2, "gmm is not available"),
])
def test_bad_options_are_one_line(table_path, capsys, args, code, message):
    assert main(["hmm", "fit", str(table_path), "-k", "2", "-s", "id", *args]) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in captured.err


def test_decode_needs_the_covariate_column(table_path, tmp_path, capsys):
    model_path = tmp_path / "idhmm.emkit"
    assert main(["hmm", "fit", str(table_path), "-k", "2", "-s", "id", "-c", "x",
                 "--covariates", "u", "--n-iter", "2", "--save", str(model_path)]) == 0
    other = tmp_path / "no_u.csv"
    pd.read_csv(table_path).drop(columns="u").to_csv(other, index=False)
    capsys.readouterr()
    assert main(["hmm", "decode", str(model_path), str(other)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no covariate column 'u'" in lines[0]


def test_nan_covariate_is_refused(table_path, tmp_path, capsys):
    table = pd.read_csv(table_path)
    table.loc[7, "u"] = np.nan
    path = tmp_path / "nan_u.csv"
    table.to_csv(path, index=False)
    assert main(["hmm", "fit", str(path), "-k", "2", "-s", "id", "-c", "x",
                 "--covariates", "u"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "'u' is empty or infinite in row 7" in lines[0]
