"""emkit fit --labels COLUMN and --weights COLUMN: the library's fit, the column kept out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.cli import main


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(11)
    n = 150
    z = rng.integers(0, 3, n)
    frame = pd.DataFrame({"x": rng.normal(2.0 * z, 0.8), "y": rng.normal(-1.5 * z, 0.8)})
    known = np.where(rng.random(n) < 0.3, z, -1)
    frame["known"] = pd.array(np.where(known >= 0, known, np.nan), dtype="Float64")
    frame["species"] = np.where(known >= 0, np.array(["ash", "birch", "cedar"])[z], "")
    frame["w"] = rng.integers(1, 4, n)
    path = tmp_path_factory.mktemp("labels") / "labelled.csv"
    frame.to_csv(path, index=False)
    return path, frame, known


def run_json(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_labels_equal_the_library_fit_and_stay_out_of_the_features(capsys, table):
    path, frame, known = table
    doc = run_json(capsys, "fit", path, "-k", "3", "--labels", "known", "-c", "x,y", "--json",
                   "-q")
    ref = emkit.GaussianMixture(3, random_state=0, max_iter=100, tol=1e-3).fit(
        frame[["x", "y"]], labels=known)
    assert doc["columns"] == ["x", "y"] and doc["n_labelled"] == int((known >= 0).sum())
    np.testing.assert_allclose(doc["means"], ref.means_, rtol=1e-10)
    np.testing.assert_allclose(doc["weights"], ref.weights_, rtol=1e-10)
    # without --columns every other column but the label (and weight) columns is a feature
    doc = run_json(capsys, "fit", path, "-k", "3", "--labels", "known", "--weights", "w",
                   "-c", "x,y", "--json", "-q")
    assert doc["weights_column"] == "w"


def test_known_rows_keep_their_component(capsys, table, tmp_path):
    path, frame, known = table
    model = tmp_path / "m.emkit"
    run_json(capsys, "fit", path, "-k", "3", "--labels", "known", "-c", "x,y", "--json", "-q",
             "--save", model)
    fitted = emkit.load(model)
    labelled = known >= 0
    proba = fitted.predict_proba(frame[["x", "y"]])
    # EM started from the labels: each known row's component has the labelled mean region
    agree = (proba.argmax(axis=1)[labelled] == known[labelled]).mean()
    assert agree > 0.9


def test_text_labels_are_numbered_in_sorted_order(capsys, table):
    path, _, _ = table
    as_text = run_json(capsys, "fit", path, "-k", "3", "--labels", "species", "-c", "x,y",
                       "--json", "-q")
    as_numbers = run_json(capsys, "fit", path, "-k", "3", "--labels", "known", "-c", "x,y",
                          "--json", "-q")
    assert as_text["means"] == as_numbers["means"]  # ash, birch, cedar = 0, 1, 2


def test_weights_equal_the_library_with_sample_weight(capsys, table):
    path, frame, _ = table
    doc = run_json(capsys, "fit", path, "-k", "2", "--weights", "w", "-c", "x,y", "--json",
                   "-q")
    ref = emkit.GaussianMixture(2, random_state=0, max_iter=100, tol=1e-3).fit(
        frame[["x", "y"]], sample_weight=frame["w"].to_numpy(dtype=float))
    np.testing.assert_allclose(doc["means"], ref.means_, rtol=1e-10)
    unweighted = run_json(capsys, "fit", path, "-k", "2", "-c", "x,y", "--json", "-q")
    assert not np.allclose(doc["means"], unweighted["means"])


def test_features_default_to_the_other_numeric_columns(capsys, table, tmp_path):
    _, frame, _ = table
    path = tmp_path / "numeric.csv"
    frame[["x", "y", "known", "w"]].to_csv(path, index=False)
    doc = run_json(capsys, "fit", path, "-k", "3", "--labels", "known", "--weights", "w",
                   "--json", "-q")
    assert doc["columns"] == ["x", "y"]


@pytest.mark.parametrize(("args", "code", "words"), [
    (["--labels", "nope"], 1, "unknown column nope"),
    (["--labels", "x", "-c", "x,y"], 2, "cannot be a feature"),
    (["--labels", "w", "--weights", "w"], 2, "same column"),
    (["--labels", "w", "-k", "2", "-c", "x,y"], 1, "0..1"),
    (["--labels", "species", "-k", "2", "-c", "x,y"], 1, "3 distinct labels"),
    (["--weights", "x", "-c", "y"], 1, "weights are finite numbers >= 0"),
])
def test_bad_label_and_weight_columns(capsys, table, args, code, words):
    path, _, _ = table
    assert main(["fit", str(path), *args]) == code
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and words in err
