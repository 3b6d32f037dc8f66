"""The commands behave alike: Ctrl-C, seeds, output files, exit codes, shared option names."""

from __future__ import annotations

import json
import signal

import numpy as np
import pandas as pd
import pytest

from emkit.cli import main
from emkit.engine import observe


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("alike")
    rng = np.random.default_rng(3)
    n = 200
    z = rng.integers(0, 2, n)
    frame = pd.DataFrame({"a": rng.normal(4 * z, 1.0), "b": rng.normal(-3 * z, 1.0),
                          "s": np.repeat(np.arange(4), n // 4)})
    data = root / "data.csv"
    frame.to_csv(data, index=False)
    holes = frame.copy()
    holes.loc[::7, "b"] = np.nan
    missing = root / "missing.csv"
    holes.to_csv(missing, index=False)
    pixels = np.zeros((24, 24, 3), dtype=np.uint8)
    pixels[:, 12:] = (200, 30, 30)
    pixels[:12, :12] = (20, 160, 40)
    pixels = np.clip(pixels + rng.normal(0, 45, pixels.shape), 0, 255).astype(np.uint8)
    image = root / "photo.png"
    Image.fromarray(pixels).save(image)
    gm = root / "gm.emkit"
    hmm = root / "hmm.emkit"
    assert main(["fit", str(data), "-c", "a,b", "-q", "--save", str(gm)]) == 0
    assert main(["hmm", "fit", str(data), "-c", "a,b", "-s", "s", "-q", "--save", str(hmm)]) == 0
    return {"data": data, "missing": missing, "image": image, "gm": gm, "hmm": hmm,
            "root": root}


#: Commands that fit by EM: (name, arguments, the output option they write).
FITTING = [
    ("fit", ["fit", "{data}", "-c", "a,b", "--tol", "0", "--max-iter", "500"], "--save",
     "m.emkit"),
    ("select", ["select", "{data}", "-c", "a,b", "-k", "1..3", "-m", "VVV,EEE", "--tol", "0"],
     "--save", "m.emkit"),
    ("impute", ["impute", "{missing}", "-c", "a,b", "-k", "2", "--tol", "0"], "--output",
     "filled.csv"),
    ("segment", ["segment", "{image}", "-k", "3"], "--output", "seg.png"),
    ("hmm fit", ["hmm", "fit", "{data}", "-c", "a,b", "-s", "s", "--tol", "0", "--max-iter",
                 "500"], "--save", "m.emkit"),
    ("hmm select", ["hmm", "select", "{data}", "-c", "a,b", "-s", "s", "-k", "1..3", "--tol",
                    "0", "--max-iter", "500"], "--save", "m.emkit"),
    ("report", ["report", "{data}", "-c", "a,b", "-k", "3", "--covariance-type", "spherical"],
     "--output", "r.html"),
    ("report select", ["report", "{data}", "-c", "a,b", "-k", "1..3", "--select"], "--output",
     "r.html"),
]


def _args(files, args):
    return [a.format(**files) for a in args]


@pytest.mark.parametrize(("name", "args", "option", "target"), FITTING,
                         ids=[f[0] for f in FITTING])
def test_ctrl_c_stops_after_the_step_exits_130_and_writes_nothing(
        capsys, files, tmp_path, name, args, option, target):
    out_path = tmp_path / target
    steps = []

    def press_ctrl_c(step):  # Ctrl-C arriving during the third EM step of the first fit
        steps.append(step.iteration)
        if len(steps) == 3:
            signal.raise_signal(signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    with observe(press_ctrl_c):
        code, out, err = run(capsys, *_args(files, args), option, out_path)
    assert code == 130, err
    assert not out_path.exists() and list(tmp_path.iterdir()) == []
    assert "interrupted" in err.lower() and "Traceback" not in err
    assert "interrupted" in (out + err).lower()
    assert set(steps[3:]) <= {0}  # it stopped: later fits did not run their EM
    assert signal.getsignal(signal.SIGINT) is before
    report = out + err
    assert any(word in report for word in ("Means", "Weights", "Start probabilities",
                                           "EM mean", "red", "Best by",
                                           "best log-likelihood so far"))  # the best so far


@pytest.mark.parametrize(("name", "args"), [
    ("fit", ["fit", "{data}", "-c", "a,b", "--json", "-q"]),
    ("select", ["select", "{data}", "-c", "a,b", "-k", "1..3", "-m", "VVV", "--json", "-q",
                "--init", "kmeans"]),
    ("impute", ["impute", "{missing}", "-c", "a,b", "-k", "2", "--json", "-q"]),
    ("segment", ["segment", "{image}", "-k", "3", "--json", "-q", "-o", "{root}/s.png"]),
    ("hmm fit", ["hmm", "fit", "{data}", "-c", "a,b", "-s", "s", "-k", "3", "--json", "-q"]),
    ("hmm select", ["hmm", "select", "{data}", "-c", "a,b", "-s", "s", "-k", "2..3", "--json"]),
], ids=["fit", "select", "impute", "segment", "hmm fit", "hmm select"])
def test_seeded_by_default_two_runs_agree(capsys, files, name, args):
    code, first, err = run(capsys, *_args(files, args))
    assert code == 0, err
    code, second, err = run(capsys, *_args(files, args))
    assert code == 0, err
    one, two = json.loads(first), json.loads(second)
    one.pop("seconds", None)
    two.pop("seconds", None)
    assert one == two


@pytest.mark.parametrize(("name", "args", "option"), [
    ("fit", ["fit", "{data}", "-c", "a,b"], "--save"),
    ("fit plot", ["fit", "{data}", "-c", "a,b"], "--plot"),
    ("select", ["select", "{data}", "-c", "a,b", "-k", "2"], "--save"),
    ("impute", ["impute", "{missing}"], "--output"),
    ("hmm fit", ["hmm", "fit", "{data}", "-c", "a,b"], "--save"),
    ("hmm select", ["hmm", "select", "{data}", "-c", "a,b", "-k", "2"], "--save"),
    ("predict", ["predict", "{gm}", "{data}"], "--output"),
    ("hmm decode", ["hmm", "decode", "{hmm}", "{data}"], "--output"),
    ("segment", ["segment", "{image}"], "--output"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_unwritable_output_is_found_before_any_fitting(capsys, files, tmp_path, name, args,
                                                       option):
    target = tmp_path / "no" / "such" / ("out.png" if name == "segment" else "out.csv")
    if option == "--save":
        target = target.with_suffix(".emkit")
    if option == "--plot":
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        target = blocker
    steps = []
    with observe(steps.append):
        code, out, err = run(capsys, *_args(files, args), option, target)
    assert code == 1 and steps == [] and out == ""
    assert err.startswith("emkit: error: cannot write") and err.count("\n") == 1


@pytest.mark.parametrize(("name", "args"), [
    ("predict", ["predict", "{gm}", "{data}", "-c", "a,b"]),
    ("hmm decode", ["hmm", "decode", "{hmm}", "{data}"]),
    ("impute", ["impute", "{missing}", "-c", "a,b"]),
], ids=["predict", "hmm decode", "impute"])
@pytest.mark.parametrize("suffix", [".parquet", ".json", ".tsv", ".csv"])
def test_output_written_in_the_format_of_its_suffix(capsys, files, tmp_path, name, args,
                                                    suffix):
    target = tmp_path / f"out{suffix}"
    code, _, err = run(capsys, *_args(files, args), "-o", target, "-q")
    assert code == 0, err
    if suffix == ".parquet":
        table = pd.read_parquet(target)
        assert target.read_bytes()[:4] == b"PAR1"
    elif suffix == ".json":
        table = pd.DataFrame(json.loads(target.read_text()))
    else:
        table = pd.read_csv(target, sep="\t" if suffix == ".tsv" else ",")
    assert len(table) == 200
    reference = tmp_path / "reference.csv"
    assert main([*_args(files, args), "-o", str(reference), "-q"]) == 0
    pd.testing.assert_frame_equal(table.reset_index(drop=True), pd.read_csv(reference),
                                  check_dtype=False)


@pytest.mark.parametrize("args", [
    ["predict", "{gm}", "{data}", "-o", "{root}/labels.xlsx"],
    ["hmm", "decode", "{hmm}", "{data}", "-o", "{root}/states"],
    ["impute", "{missing}", "-o", "{root}/filled.dat"],
    ["segment", "{image}", "-o", "{root}/seg.csv"],
    ["segment", "{image}", "--table", "{root}/palette.png"],
], ids=["predict", "decode", "impute", "segment image", "segment table"])
def test_unknown_output_suffix_is_a_usage_error(capsys, files, args):
    code, out, err = run(capsys, *_args(files, args))
    assert code == 2 and out == "" and "cannot tell the format" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("args", [
    ["fit", "{data}", "--covariance-type", "bogus"],
    ["fit", "{data}", "-k", "0"],
    ["select", "{data}", "--models", "ABC"],
    ["select", "{data}", "--prior", "vague"],
    ["select", "{data}", "-k", "3..1"],
    ["impute", "{missing}", "--covariance-type", "round"],
    ["hmm", "fit", "{data}", "--emission", "bogus"],
    ["hmm", "fit", "{data}", "--max-iter", "0"],
    ["hmm", "decode", "{hmm}", "{data}", "--algorithm", "best"],
    ["segment", "{image}", "-k", "0"],
    ["regress", "{data}", "--y", "a", "--x", "b", "--family", "bogus"],
    ["survival", "{data}", "--time", "a", "--event", "b", "--distribution", "bogus"],
    ["fit", "{data}", "--no-such-option"],
    ["fit", "{data}", "--sep", "ab"],
    ["select", "{data}", "--decimal", "x"],
    ["hmm", "fit", "{data}", "--encoding", "no-such-codec"],
    ["impute", "{missing}", "--sep", "a"],
])
def test_bad_option_values_are_exit_2_everywhere(capsys, files, args):
    code, out, err = run(capsys, *_args(files, args))
    assert code == 2 and out == ""
    assert err.startswith("emkit: error:") and err.count("\n") == 1


def test_version_and_bare_emkit(capsys):
    from importlib.metadata import version

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out == f"emkit {version('emkit')}\n"
    code, out, err = run(capsys)
    assert code == 0 and "Usage: emkit" in out and "fit" in out and err == ""


def test_old_option_spellings_still_work_but_are_not_listed(capsys, files):
    code, new, _ = run(capsys, "fit", files["data"], "-c", "a,b", "--covariance-type", "diag",
                       "--json", "-q")
    code_old, old, _ = run(capsys, "fit", files["data"], "-c", "a,b", "--covariance", "diag",
                           "--json", "-q")
    assert code == code_old == 0 and json.loads(new) == json.loads(old)
    code, new, _ = run(capsys, "hmm", "fit", files["data"], "-c", "a,b", "--max-iter", "3",
                       "--json", "-q")
    code_old, old, _ = run(capsys, "hmm", "fit", files["data"], "-c", "a,b", "--n-iter", "3",
                           "--json", "-q")
    assert code == code_old == 0 and json.loads(new) == json.loads(old)
    assert json.loads(new)["n_iter"] == 3
    for command in (["fit"], ["hmm", "fit"], ["hmm", "select"]):
        code, out, _ = run(capsys, *command, "--help")
        assert code == 0 and "--max-iter" in out and "--n-iter" not in out
    code, out, _ = run(capsys, "fit", "--help")
    assert "--covariance-type" in out and "--covariance " not in out


@pytest.mark.parametrize("command", [
    ["fit"], ["predict"], ["select"], ["impute"], ["segment"], ["hmm", "fit"],
    ["hmm", "select"], ["hmm", "decode"], ["regress"], ["survival"], ["report"],
])
def test_every_command_has_quiet_json_and_a_documented_seed(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert "--quiet" in out and "--json" in out
    fits = command not in (["predict"], ["hmm", "decode"])
    assert ("--seed" in out) == fits
    if fits:
        assert "default: 0" in out.replace("\n", " ") or "[default: 0]" in out


def test_select_advice_names_an_option_select_has(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(30, 2)), np.tile([[5.0, 5.0]], (6, 1))]  # 6 identical rows
    path = tmp_path / "tied.csv"
    pd.DataFrame(X, columns=["a", "b"]).to_csv(path, index=False)
    code, out, err = run(capsys, "select", path, "-k", "2..3", "-m", "VVV", "--init",
                         "kmeans")
    text = out + err
    assert "--reg-covar 1e-6" in text and "reg_covar" not in text
    same = tmp_path / "same.csv"
    pd.DataFrame(np.tile([[1.0, 2.0]], (10, 1)), columns=["a", "b"]).to_csv(same, index=False)
    code, out, err = run(capsys, "select", same, "-k", "1..2")
    assert code == 1 and "--reg-covar" in err and "reg_covar" not in err
    code, out, err = run(capsys, "select", path, "-k", "2..3", "-m", "VVV", "--init", "kmeans",
                         "--reg-covar", "1e-3", "--json", "-q")
    assert code == 0, err
    assert json.loads(out)["best"]["n_components"] in (2, 3)


def test_select_refuses_missing_values_saying_what_to_do(capsys, files):
    code, out, err = run(capsys, "select", files["missing"], "-c", "a,b", "-k", "2")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "emkit impute" in err and "29 of 200 rows" in err


def test_hmm_non_convergence_advice_names_n_iter(capsys, files):
    import warnings

    import emkit

    X = pd.read_csv(files["data"])[["a", "b"]].to_numpy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emkit.GaussianHMM(2, n_iter=1, random_state=0).fit(X)
    messages = [str(w.message) for w in caught if "did not converge" in str(w.message)]
    assert messages and all("raise n_iter" in m and "max_iter" not in m for m in messages)
    code, _, err = run(capsys, "hmm", "fit", files["data"], "-c", "a,b", "--max-iter", "1")
    assert code == 0 and "raise n_iter" in err


def test_counts_of_one_are_singular(capsys, files):
    code, out, _ = run(capsys, "fit", files["data"], "-c", "a,b", "-k", "1", "-q")
    assert code == 0 and out.startswith("Gaussian mixture: 1 component, full covariances")
    code, out, _ = run(capsys, "hmm", "fit", files["data"], "-c", "a,b", "-k", "1", "-q")
    assert code == 0 and out.startswith("GaussianHMM (diag), 1 state, ")
    code, out, _ = run(capsys, "select", files["data"], "-c", "a,b", "-k", "1", "-m", "VVV",
                       "-q")
    assert code == 0 and "with 1 component, log-likelihood" in out


@pytest.mark.parametrize("spelling", ["-k", "--k", "--n-components", "--states"])
def test_the_count_has_every_spelling_on_every_command(capsys, files, spelling):
    for command, key in ((["fit", "{data}", "-c", "a,b"], "n_components"),
                         (["hmm", "fit", "{data}", "-c", "a,b"], "states"),
                         (["impute", "{missing}", "-c", "a,b"], "n_components")):
        code, out, err = run(capsys, *_args(files, command), spelling, "3", "--json", "-q")
        assert code == 0, err
        assert json.loads(out)[key] == 3


def test_log_warnings_are_warning_lines_and_quiet_silences_them(capsys, tmp_path):
    path = tmp_path / "short.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 1.5, 2.5, 3.1, 0.9, 2.2]}).to_csv(path, index=False)
    code, _, err = run(capsys, "hmm", "fit", path, "-k", "3")
    assert code == 0
    assert "emkit: warning: Fitting a model with 14 free scalar parameters" in err
    code, _, err = run(capsys, "hmm", "fit", path, "-k", "3", "-q")
    assert code == 0 and err == ""


@pytest.mark.parametrize(("args", "words"), [
    (["fit", "{data}", "-c", "a,b", "--tol", "1e-9"], ["reading", "EM", "iteration",
                                                       "/100", "gain/row", "(tol 1e-09)"]),
    (["select", "{data}", "-c", "a,b", "-k", "1..2", "-m", "VVV"], ["select: fit 2 of 2",
                                                                    "gain/row"]),
    (["hmm", "fit", "{data}", "-c", "a,b", "--tol", "0"], ["EM", "iteration", "/100", "gain"]),
], ids=["fit", "select", "hmm fit"])
def test_progress_line_shows_clock_iteration_and_gain(capsys, monkeypatch, files, args, words):
    from rich.console import Console

    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    code, _, err = run(capsys, *_args(files, args))
    assert code == 0
    assert "0:00:0" in err  # the elapsed time
    for word in words:
        assert word in err
    code, _, err = run(capsys, *_args(files, args), "--quiet")
    assert code == 0 and err == ""


@pytest.mark.parametrize(("name", "args", "option", "target"), FITTING,
                         ids=[f[0] for f in FITTING])
def test_ctrl_c_with_json_prints_one_document_saying_so(capsys, files, tmp_path, name, args,
                                                        option, target):
    steps = []

    def press_ctrl_c(step):
        steps.append(step.iteration)
        if len(steps) == 3:
            signal.raise_signal(signal.SIGINT)

    with observe(press_ctrl_c):
        code, out, err = run(capsys, *_args(files, args), option, tmp_path / target, "--json")
    assert code == 130, err
    doc = json.loads(out)
    assert doc.get("interrupted") is True or doc.get("stop_reason") == "interrupted"
    assert not (tmp_path / target).exists()
