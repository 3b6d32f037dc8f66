"""Every data-reading command takes the reader options and reads a file the same way.

The same table is written twice: as a plain UTF-8 CSV, and as a latin-1 file
with ';' separators, decimal commas, a DataFrame.to_csv() index column and '?'
meaning nothing (it never occurs, so the values agree). Each command run on the
second file with --sep ';' --decimal , --encoding latin-1 --index-col 0
--na-values ? must print the same JSON document as on the first, and each
refuses the second without --index-col (the unnamed index column).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emkit.cli import main

DIALECT = ["--sep", ";", "--decimal", ",", "--encoding", "latin-1", "--index-col", "0",
           "--na-values", "?"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader")
    rng = np.random.default_rng(7)
    n = 120
    z = rng.integers(0, 2, n)
    frame = pd.DataFrame({
        "a": np.round(rng.normal(3 * z, 1.0), 3),
        "bé": np.round(rng.normal(-2 * z, 0.7), 3),
        "t": np.round(rng.weibull(1.5, n) * 10 + 0.01, 3),
        "d": rng.integers(0, 2, n),
        "s": np.repeat([0, 1, 2], n // 3),
    })
    clean = root / "clean.csv"
    frame.to_csv(clean, index=False)
    odd = root / "odd.csv"
    text = frame.to_csv(sep=";", decimal=",", index=True)
    odd.write_bytes(text.encode("latin-1"))
    model = root / "gm.emkit"
    assert main(["fit", str(clean), "-k", "2", "-q", "-c", "a,bé", "--save", str(model)]) == 0
    hmm = root / "hmm.emkit"
    assert main(["hmm", "fit", str(clean), "-k", "2", "-c", "a,bé", "-s", "s",
                 "--save", str(hmm)]) == 0
    return {"clean": clean, "odd": odd, "gm": model, "hmm": hmm, "root": root}


#: (name, arguments before DATA, arguments after it); each prints JSON on stdout.
COMMANDS = [
    ("fit", ["fit"], ["-k", "2", "-c", "a,bé", "--json", "-q"]),
    ("predict", ["predict", "{gm}"], ["-c", "a,bé", "--json", "--proba"]),
    ("select", ["select"], ["-k", "1..2", "-m", "VVV,EII", "-c", "a,bé", "--json", "-q"]),
    ("impute", ["impute"], ["-c", "a,bé", "--json", "-q"]),
    ("hmm fit", ["hmm", "fit"], ["-k", "2", "-c", "a,bé", "-s", "s", "--json", "-q"]),
    ("hmm select", ["hmm", "select"], ["-k", "1..2", "-c", "a,bé", "-s", "s", "--json"]),
    ("hmm decode", ["hmm", "decode", "{hmm}"], ["--json"]),
    ("regress", ["regress"], ["--y", "a", "--x", "bé", "--json", "-q"]),
    ("survival", ["survival"], ["--time", "t", "--event", "d", "--json", "-q"]),
]


def _run(capsys, args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _args(files, before, data, after, extra=()):
    return [a.format(**files) for a in before] + [str(data)] + list(after) + list(extra)


def _without_paths(doc):
    if isinstance(doc, dict):
        return {k: _without_paths(v) for k, v in doc.items() if k not in ("saved", "output")}
    if isinstance(doc, list):
        return [_without_paths(v) for v in doc]
    return doc


@pytest.mark.parametrize(("name", "before", "after"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_reader_options_read_the_same_table(capsys, files, name, before, after):
    code, out, err = _run(capsys, _args(files, before, files["clean"], after))
    assert code == 0, err
    expected = json.loads(out)
    code, out, err = _run(capsys, _args(files, before, files["odd"], after, DIALECT))
    assert code == 0, err
    assert _without_paths(json.loads(out)) == _without_paths(expected)


@pytest.mark.parametrize(("name", "before", "after"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_unnamed_index_column_is_refused_without_index_col(capsys, files, name, before,
                                                           after):
    options = [a for a in DIALECT[:6]]  # --sep, --decimal, --encoding: no --index-col
    code, out, err = _run(capsys, _args(files, before, files["odd"], after, options))
    assert code == 1 and out == ""
    assert err.startswith("emkit: error:") and err.count("\n") == 1
    assert "--index-col 0" in err


def test_report_takes_the_reader_options(capsys, files):
    page = files["root"] / "report.html"
    code, out, err = _run(capsys, ["report", files["odd"], "-k", "2", "-c", "a,bé", "-o", page,
                                   *DIALECT])
    assert code == 0, err
    assert page.exists() and "120 rows" in out


def test_no_header_names_the_columns_x0_x1(capsys, files, tmp_path):
    frame = pd.read_csv(files["clean"])[["a", "bé"]]
    path = tmp_path / "bare.csv"
    frame.to_csv(path, index=False, header=False)
    code, out, err = _run(capsys, ["fit", path, "-k", "2", "--json", "-q"])
    assert code == 1 and "--no-header" in err
    code, out, _ = _run(capsys, ["fit", path, "-k", "2", "--json", "-q", "--no-header"])
    headless = json.loads(out)
    assert code == 0 and headless["columns"] == ["x0", "x1"] and headless["n_rows"] == 120
    code, out, _ = _run(capsys, ["fit", files["clean"], "-k", "2", "--json", "-q", "-c",
                                 "a,bé"])
    assert headless["means"] == json.loads(out)["means"]


def test_na_values_mark_missing_cells(capsys, tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("a,b\n1.0,2.0\n?,3.5\n2.0,?\n4.0,1.0\n3.0,2.5\n")
    code, _, err = _run(capsys, ["impute", path, "--json"])
    assert code == 1 and "'?'" in err and "--na-values" in err
    code, out, err = _run(capsys, ["impute", path, "--json", "--na-values", "?"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["n_missing"] == 2 and doc["missing_per_column"] == {"a": 1, "b": 1}


def test_tab_separator_spelled_out(capsys, tmp_path):
    path = tmp_path / "tabs.txt"
    path.write_text("a\tb\n1.5\t2\n2.5\t3\n3.5\t1\n0.5\t4\n")
    for spelling in ("\\t", "tab", "\t"):
        code, out, err = _run(capsys, ["fit", path, "-k", "1", "--json", "-q", "--sep",
                                       spelling])
        assert code == 0, err
        assert json.loads(out)["means"] == [[pytest.approx(2.0), pytest.approx(2.5)]]


def test_a_row_counter_column_is_warned_about(capsys, tmp_path):
    path = tmp_path / "counter.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"t": np.arange(50), "x": rng.normal(size=50)}).to_csv(path, index=False)
    code, _, err = _run(capsys, ["fit", path, "-k", "1"])
    assert code == 0 and "column t counts the rows" in err
    code, _, err = _run(capsys, ["fit", path, "-k", "1", "--index-col", "t"])
    assert code == 0 and "counts the rows" not in err


def test_a_time_step_restarting_per_sequence_is_warned_about_in_hmm_fit(capsys, tmp_path):
    path = tmp_path / "steps.csv"
    rng = np.random.default_rng(1)
    pd.DataFrame({"id": np.repeat([0, 1, 2], 20), "t": np.tile(np.arange(20), 3),
                  "x": rng.normal(size=60)}).to_csv(path, index=False)
    code, _, err = _run(capsys, ["hmm", "fit", path, "-s", "id"])
    assert code == 0 and "column t counts the rows" in err
    code, _, err = _run(capsys, ["hmm", "fit", path, "-s", "id", "-c", "x"])
    assert code == 0 and "counts the rows" not in err
    # without the sequences a restarting count is not a row counter
    code, _, err = _run(capsys, ["fit", path, "-c", "t,x", "-k", "1"])
    assert code == 0 and "counts the rows" not in err


def test_counter_columns_rules():
    from emkit.cli._reading import counter_columns

    X = np.c_[np.arange(6), np.arange(1, 7), [0, 1, 2, 0, 1, 2], [0, 2, 4, 6, 8, 10],
              [0, 1, np.nan, 3, 4, 5]]
    names = ["a", "b", "c", "d", "e"]
    assert counter_columns(X, names) == ["a", "b"]
    assert counter_columns(X, names, lengths=[3, 3]) == ["c"]
    assert counter_columns(X[:2], names) == []
