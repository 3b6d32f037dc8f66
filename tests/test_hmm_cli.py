"""``emkit hmm fit`` and ``emkit hmm decode``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.cli import main


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    """Four interleaved two-state sequences; rows of a sequence are in file order."""
    rng = np.random.default_rng(0)
    frames = []
    for i in range(4):
        state, states = 0, []
        for _ in range(60):
            states.append(state)
            state = state if rng.random() < 0.9 else 1 - state
        states = np.array(states)
        X = np.array([[0.0, 0.0], [5.0, 5.0]])[states] + rng.normal(size=(60, 2))
        frames.append(pd.DataFrame({"id": f"s{i}", "t": np.arange(60), "a": X[:, 0],
                                    "b": X[:, 1], "truth": states}))
    table = pd.concat(frames).sample(frac=1.0, random_state=1).sort_values("t", kind="stable")
    path = tmp_path_factory.mktemp("hmm") / "sequences.csv"
    table.to_csv(path, index=False)
    return path


def test_fit_json_save_and_decode(table_path, tmp_path, capsys):
    model_path = tmp_path / "model.emkit"
    code = main(["hmm", "fit", str(table_path), "--states", "2", "--sequence-column", "id",
                 "--columns", "a,b", "--json", "--save", str(model_path), "--seed", "0"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_sequences"] == 4 and report["n_rows"] == 240
    assert report["columns"] == ["a", "b"]
    means = np.array(report["means"])
    np.testing.assert_allclose(np.sort(means[:, 0]), [0.0, 5.0], atol=0.4)

    model = emkit.load(model_path)
    assert model.feature_names_in_ == ["a", "b"] and model.sequence_column_ == "id"
    states_path = tmp_path / "states.csv"
    assert main(["hmm", "decode", str(model_path), str(table_path), "-o",
                 str(states_path)]) == 0
    decoded = pd.read_csv(states_path)
    truth = pd.read_csv(table_path)
    assert list(decoded.columns) == ["id", "row", "state"]
    assert (decoded["id"] == truth["id"]).all()
    # same labelling up to swapping the two states
    agree = np.mean(decoded["state"].to_numpy() == truth["truth"].to_numpy())
    assert max(agree, 1 - agree) > 0.95


def test_fit_text_output(table_path, capsys):
    assert main(["hmm", "fit", str(table_path), "-k", "2", "-s", "id", "-c", "a", "-c", "b",
                 "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "Transition matrix:" in out and "4 sequence(s), 240 rows" in out


def test_decode_to_stdout_without_sequences(table_path, tmp_path, capsys):
    model_path = tmp_path / "one.emkit"
    assert main(["hmm", "fit", str(table_path), "-k", "2", "-c", "a,b", "--save",
                 str(model_path), "--seed", "0"]) == 0
    capsys.readouterr()
    assert main(["hmm", "decode", str(model_path), str(table_path),
                 "--algorithm", "map"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "row,state" and len(lines) == 241


@pytest.mark.parametrize("args, message", [
    (["--sequence-column", "nope"], "no column 'nope'"),
    (["--columns", "a,zz"], "unknown column"),
    (["--sequence-column", "id", "--columns", "id,a"], "cannot also be a feature"),
])
def test_fit_errors(table_path, capsys, args, message):
    assert main(["hmm", "fit", str(table_path), "-k", "2", *args]) == 1
    assert message in capsys.readouterr().err


def test_decode_refuses_a_non_hmm_file(tmp_path, capsys):
    assert main(["hmm", "decode", str(tmp_path / "missing.emkit"), "x.csv"]) == 1
    assert "no model file" in capsys.readouterr().err
