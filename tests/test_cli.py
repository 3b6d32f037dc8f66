"""The emkit command: fit, predict, demo, errors and exit codes."""

from __future__ import annotations

import io
import json
import signal

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.cli import main
from emkit.engine import observe

FIT_ARGS = ["-k", "2", "--quiet"]


@pytest.fixture(scope="module")
def faithful_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "faithful.csv"
    emkit.datasets.load_faithful().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def reference():
    """The fit `emkit fit -k 2` makes (seed 0, sklearn's defaults otherwise)."""
    data = emkit.datasets.load_faithful()
    return emkit.GaussianMixture(2, random_state=0).fit(data), data


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_commands_and_exit_codes(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for word in ("fit", "predict", "demo", "impute", "Exit codes", "130"):
        assert word in out


def test_fit_summary_in_seed_style(capsys, faithful_csv, reference):
    model, data = reference
    code, out, err = run(capsys, "fit", faithful_csv, *FIT_ARGS)
    assert code == 0 and err == ""
    assert "Gaussian mixture: 2 components, full covariances, 272 rows x 2 columns" in out
    block = out.split("Means:\n", 1)[1].split("\n\n", 1)[0]
    assert block.startswith("[[") and block.count("\n") == 1
    np.testing.assert_allclose(np.array(eval(block.replace(" ", ",").replace(",,", ",")
                                             .replace("[,", "["))), model.means_, atol=1e-4)
    for word in ("Weights:", "Covariances:", "Log-likelihood:", "BIC:", "Iterations:",
                 "converged: yes"):
        assert word in out
    assert f"BIC: {model.bic(data):.4f}" in out


def test_fit_json(capsys, faithful_csv, reference):
    model, data = reference
    code, out, _ = run(capsys, "fit", faithful_csv, *FIT_ARGS, "--json")
    assert code == 0
    doc = json.loads(out)
    np.testing.assert_allclose(doc["means"], model.means_, rtol=1e-12)
    np.testing.assert_allclose(doc["covariances"], model.covariances_, rtol=1e-12)
    assert doc["loglik"] == pytest.approx(model.score(data) * 272, rel=1e-12)
    assert doc["bic"] == pytest.approx(model.bic(data), rel=1e-12)
    assert doc["n_iter"] == model.n_iter_ and doc["converged"] is True
    assert doc["stop_reason"] == "converged" and doc["columns"] == ["eruptions", "waiting"]


def test_fit_trace_table(capsys, faithful_csv, reference):
    model, _ = reference
    code, out, _ = run(capsys, "fit", faithful_csv, *FIT_ARGS, "--trace")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["iteration", "log-likelihood"]
    rows = lines[1:model.n_iter_ + 2]
    assert [int(r.split()[0]) for r in rows] == list(range(model.n_iter_ + 1))
    logliks = [float(r.split()[1]) for r in rows]
    assert (np.diff(logliks) > 0).all()
    gains = [float(r.split()[2]) for r in rows[1:]]
    np.testing.assert_allclose(gains, np.diff(logliks), rtol=1e-4, atol=2e-6)  # 5 digits
    assert "weights=[" in rows[-1] and "means=[[" in rows[-1]
    assert logliks[-1] / 272 == pytest.approx(model.lower_bound_, rel=1e-8)


def test_fit_trace_json(capsys, faithful_csv, reference):
    model, _ = reference
    _, out, _ = run(capsys, "fit", faithful_csv, *FIT_ARGS, "--trace", "--json")
    trace = json.loads(out)["trace"]
    assert [r["iteration"] for r in trace] == list(range(model.n_iter_ + 1))
    assert trace[0]["gain"] is None and trace[1]["gain"] > 0


@pytest.mark.parametrize("kind", ["tsv", "parquet", "npy", "stdin"])
def test_fit_reads_every_format(capsys, monkeypatch, tmp_path, reference, kind):
    model, data = reference
    if kind == "tsv":
        source = tmp_path / "d.tsv"
        data.to_csv(source, sep="\t", index=False)
    elif kind == "parquet":
        source = tmp_path / "d.parquet"
        data.to_parquet(source)
    elif kind == "npy":
        source = tmp_path / "d.npy"
        np.save(source, data.to_numpy())
    else:
        source = "-"
        monkeypatch.setattr("sys.stdin", io.StringIO(data.to_csv(index=False)))
    code, out, _ = run(capsys, "fit", source, *FIT_ARGS, "--json")
    assert code == 0
    np.testing.assert_allclose(json.loads(out)["means"], model.means_, rtol=1e-10)


def test_columns_and_options(capsys, tmp_path):
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"name": ["r"] * 200, "a": rng.normal(size=200),
                          "b": rng.normal(size=200), "c": rng.normal(size=200)})
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    code, out, _ = run(capsys, "fit", path, "-k", "3", "--columns", "a,b", "-c", "c",
                       "--covariance", "diag", "--max-iter", "5", "--tol", "0", "--seed", "3",
                       "--accelerate", "squarem", "--n-init", "2", "--json", "--quiet")
    doc = json.loads(out)
    assert code == 0 and doc["columns"] == ["a", "b", "c"]
    assert np.shape(doc["covariances"]) == (3, 3) and doc["covariance_type"] == "diag"
    assert doc["n_iter"] == 5 and doc["converged"] is False
    assert doc["stop_reason"] == "max_iter"


def test_warning_is_one_line_on_stderr(capsys, faithful_csv):
    code, _, err = run(capsys, "fit", faithful_csv, "-k", "2", "--max-iter", "1", "--tol", "0")
    assert code == 0
    assert err.startswith("emkit: warning: ") and err.count("\n") == 1
    assert "converge" in err


def test_save_then_predict(capsys, tmp_path, faithful_csv, reference):
    model, data = reference
    saved = tmp_path / "m.emkit"
    code, out, _ = run(capsys, "fit", faithful_csv, *FIT_ARGS, "--save", saved)
    assert code == 0 and f"Model saved to: {saved}" in out
    assert list(emkit.load(saved).feature_names_in_) == ["eruptions", "waiting"]
    labels = tmp_path / "labels.csv"
    code, _, err = run(capsys, "predict", saved, faithful_csv, "-o", labels)
    assert code == 0 and "wrote 272 labels" in err
    np.testing.assert_array_equal(pd.read_csv(labels)["label"], model.predict(data))
    code, out, _ = run(capsys, "predict", saved, faithful_csv, "--proba")
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns) == ["label", "p0", "p1"]
    np.testing.assert_allclose(table[["p0", "p1"]].sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(table[["p0", "p1"]], model.predict_proba(data), rtol=1e-10)


def test_predict_errors(capsys, tmp_path, faithful_csv):
    saved = tmp_path / "m.emkit"
    assert run(capsys, "fit", faithful_csv, *FIT_ARGS, "--save", saved)[0] == 0
    other = tmp_path / "other.csv"
    pd.DataFrame({"x": [1.0, 2.0]}).to_csv(other, index=False)
    code, _, err = run(capsys, "predict", saved, other)
    assert code == 1 and "lack eruptions, waiting" in err
    code, _, err = run(capsys, "predict", saved, other, "--columns", "x")
    assert code == 1 and "expects 2 columns" in err


def test_predict_with_chosen_columns(capsys, tmp_path, faithful_csv, reference):
    """--columns maps other column names (here an NPY's x0, x1) onto the model's."""
    model, data = reference
    saved = tmp_path / "m.emkit"
    assert run(capsys, "fit", faithful_csv, *FIT_ARGS, "--save", saved)[0] == 0
    npy = tmp_path / "d.npy"
    np.save(npy, data.to_numpy())
    code, _, err = run(capsys, "predict", saved, npy)
    assert code == 1 and "lack eruptions, waiting" in err
    code, out, _ = run(capsys, "predict", saved, npy, "--columns", "x0,x1")
    assert code == 0
    np.testing.assert_array_equal(pd.read_csv(io.StringIO(out))["label"], model.predict(data))
    # A model fitted without column names takes the columns as they come.
    plain = tmp_path / "plain.emkit"
    emkit.GaussianMixture(2, random_state=0).fit(data.to_numpy()).save(plain)
    code, out, _ = run(capsys, "predict", plain, npy)
    assert code == 0
    np.testing.assert_array_equal(pd.read_csv(io.StringIO(out))["label"], model.predict(data))


def test_plot_dir(capsys, tmp_path, faithful_csv):
    out_dir = tmp_path / "plots"
    code, out, _ = run(capsys, "fit", faithful_csv, *FIT_ARGS, "--plot", out_dir)
    assert code == 0
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["clusters.png", "fit.gif", "loglik.png"]
    assert "Plots: " in out


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (["fit", "{missing}"], 1, "no such file"),
    (["fit", "{text}"], 1, "column(s) b are not numeric"),
    (["fit", "{empty}"], 1, "is empty"),
    (["fit", "{header}"], 1, "no data rows"),
    (["fit", "{data}", "--columns", "zz"], 1, "unknown column(s) zz"),
    (["fit", "{data}", "-k", "0"], 2, "Invalid value for '--k'"),
    (["fit", "{data}", "--covariance", "round"], 2, "'round' is not one of"),
    (["fit", "{data}", "--bogus"], 2, "No such option: --bogus"),
    (["fit"], 2, "Missing argument 'DATA'"),
    (["nonsense"], 2, "No such command"),
    (["predict", "{data}", "{data}"], 1, "not an emkit model file"),
])
def test_errors_are_one_line(capsys, tmp_path, args, code, fragment):
    files = {"missing": tmp_path / "none.csv", "text": tmp_path / "text.csv",
             "empty": tmp_path / "empty.csv", "header": tmp_path / "header.csv",
             "data": tmp_path / "data.csv"}
    files["text"].write_text("a,b\n1,x\n2,y\n")
    files["empty"].write_text("")
    files["header"].write_text("a,b\n")
    files["data"].write_text("a\n1\n2\n3\n")
    argv = [a.format(**files) for a in args]
    got, out, err = run(capsys, *argv)
    assert got == code
    assert err.startswith("emkit: error: ") and err.count("\n") == 1
    assert fragment in err
    assert "Traceback" not in out + err


def test_debug_shows_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["fit", str(tmp_path / "none.csv"), "--debug"])


def test_ctrl_c_reports_best_so_far(capsys, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "big.npy"
    np.save(path, rng.normal(size=(2000, 2)))

    def press_ctrl_c(step):
        if step.iteration == 3:
            signal.raise_signal(signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # ignored when the tests run in the background
    with observe(press_ctrl_c):
        code, out, err = run(capsys, "fit", path, "-k", "3", "--tol", "0", "--max-iter",
                             "1000", "--json")
    assert code == 130
    doc = json.loads(out)
    assert doc["converged"] is False and doc["stop_reason"] == "interrupted"
    assert doc["n_iter"] == 3
    assert "interrupted" in err and "warning" not in err
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_before_em_exits_130(capsys, monkeypatch, faithful_csv):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("emkit.cli._reading.read_input", interrupted)
    code, _, err = run(capsys, "fit", faithful_csv)
    assert code == 130 and err == "emkit: interrupted\n"


def test_demo(capsys, tmp_path):
    out_dir = tmp_path / "demo"
    code, out, _ = run(capsys, "demo", "--out", out_dir, "--quiet")
    assert code == 0
    assert "Old Faithful" in out and "E-step" in out and "M-step" in out
    assert "Means:\n[[" in out and "converged: yes" in out
    # The step-by-step table starts at the first guess (iteration 0).
    header = next(i for i, line in enumerate(out.splitlines())
                  if line.lstrip().startswith("iteration    log-likelihood"))
    assert out.splitlines()[header + 1].split()[0] == "0"
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "clusters.png", "eruptions.png", "fit.gif", "loglik.png"]
    assert f"Figures written to {out_dir}/" in out
    assert "gradebook" in out and "first guess" in out and "(was missing)" in out


def test_progress_bar_on_a_terminal(capsys, monkeypatch, faithful_csv):
    from rich.console import Console

    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    code, out, err = run(capsys, "fit", faithful_csv, "-k", "2", "--n-init", "2")
    assert code == 0 and "converged: yes" in out
    assert "EM" in err  # the bar's label, drawn on stderr
    # A live trace is its own progress report: no bar, every line on stdout.
    code, out, err = run(capsys, "fit", faithful_csv, "-k", "2", "--n-init", "2", "--trace")
    assert code == 0 and "start 2 of 2" in out and err == ""
    code, _, quiet_err = run(capsys, "fit", faithful_csv, "-k", "2", "--quiet")
    assert code == 0 and quiet_err == ""


def test_unexpected_error_is_one_line(capsys, monkeypatch, faithful_csv):
    def broken(*args, **kwargs):
        raise RuntimeError("something broke\ninside")

    monkeypatch.setattr("emkit.cli.fit.summary", broken)
    code, _, err = run(capsys, "fit", faithful_csv, "-q")
    assert code == 1
    assert err == ("emkit: error: RuntimeError: something broke inside (rerun with --debug "
                   "for the traceback)\n")
    with pytest.raises(RuntimeError):
        main(["fit", str(faithful_csv), "-q", "--debug"])
    capsys.readouterr()


def test_every_command_is_registered(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in ("fit", "predict", "select", "impute", "hmm", "segment", "demo"):
        assert f" {name} " in out


def test_fit_with_missing_values(capsys, tmp_path):
    data = emkit.datasets.load_faithful()
    holes = data.mask(np.random.default_rng(0).random(data.shape) < 0.1)
    holes = holes[~holes.isna().all(axis=1)]
    path = tmp_path / "holes.csv"
    holes.to_csv(path, index=False)
    code, out, _ = run(capsys, "fit", path, *FIT_ARGS)
    n_missing = int(holes.isna().sum().sum())
    assert code == 0 and f"{n_missing} values are missing" in out
    code, out, _ = run(capsys, "fit", path, *FIT_ARGS, "--json")
    doc = json.loads(out)
    reference = emkit.GaussianMixture(2, random_state=0).fit(holes)
    assert doc["n_missing"] == n_missing
    np.testing.assert_allclose(doc["means"], reference.means_, rtol=1e-10)


def test_help_imports_neither_scikit_learn_nor_pandas():
    import subprocess
    import sys

    code = ("import sys\nfrom emkit.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('sklearn', 'pandas', 'scipy.stats') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "HEAVY []" in out
