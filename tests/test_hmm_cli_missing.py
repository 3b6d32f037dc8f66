"""``emkit hmm``: empty cells as missing entries, and ``--weights COLUMN`` per sequence."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

import emkit
from emkit.cli import main

LENGTHS = [70, 50, 60]


def _regimes():
    """Three sequences switching among three well separated regimes (k-means finds the
    same clusters from any seed, so weighted and repeated starts agree)."""
    rng = np.random.default_rng(2)
    trans = np.array([[0.92, 0.04, 0.04], [0.04, 0.92, 0.04], [0.06, 0.06, 0.88]])
    means = np.array([[-10.0, 0.0], [0.0, 6.0], [12.0, -5.0]])
    frames = []
    for s, length in enumerate(LENGTHS):
        z = [s]
        for _ in range(length - 1):
            z.append(rng.choice(3, p=trans[z[-1]]))
        frames.append(means[z] + rng.normal(size=(length, 2)))
    return np.concatenate(frames)


X_FULL = _regimes()
IDS = np.repeat(["a", "b", "c"], LENGTHS)


def _with_holes(X):
    """About 5 % of the entries empty, and two frames with no entry at all."""
    rng = np.random.default_rng(9)
    X = X.copy()
    X[rng.random(X.shape) < 0.05] = np.nan
    X[[10, 130]] = np.nan
    return X


X_HOLES = _with_holes(X_FULL)


def _write(path, X, ids=IDS, **extra):
    table = pd.DataFrame({"id": ids, "x": X[:, 0], "y": X[:, 1], **extra})
    table.to_csv(path, index=False)  # NaN written as empty cells
    return path


@pytest.fixture(scope="module")
def holes_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("hmm_missing") / "holes.csv"
    _write(path, X_HOLES)
    # one cell written as NA, as R and many exporters do
    text = path.read_text().splitlines()
    row = 1 + int(np.flatnonzero(~np.isnan(X_HOLES[:, 1]))[3])
    cells = text[row].split(",")
    cells[2] = "NA"
    text[row] = ",".join(cells)
    path.write_text("\n".join(text) + "\n")
    X = X_HOLES.copy()
    X[row - 1, 1] = np.nan
    return path, X


def _run_json(capsys, argv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def _one_error_line(capsys, argv):
    assert main(argv) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("emkit: error:"), captured.err
    assert captured.out == ""
    return lines[0]


def _forward_loglik(X, lengths, startprob, transmat, means, variances):
    """A reference written here: the forward algorithm in log space over the observed
    entries of each frame (a diagonal Gaussian's marginal drops the missing ones; a
    frame with none contributes only its transition)."""
    total, start = 0.0, 0
    log_a = np.log(transmat)
    for length in lengths:
        alpha = None
        for t in range(start, start + length):
            seen = ~np.isnan(X[t])
            frame = np.array([norm.logpdf(X[t, seen], means[k, seen],
                                          np.sqrt(variances[k, seen])).sum()
                              for k in range(len(startprob))])
            if alpha is None:
                alpha = np.log(startprob) + frame
            else:
                alpha = logsumexp(alpha[:, None] + log_a, axis=0) + frame
        total += logsumexp(alpha)
        start += length
    return total


def test_empty_and_na_cells_are_missing_entries(holes_path, capsys):
    path, X = holes_path
    report = _run_json(capsys, ["hmm", "fit", str(path), "-k", "3", "-s", "id",
                                "--seed", "0", "--json"])
    assert report["n_missing"] == int(np.isnan(X).sum()) and report["n_rows"] == 180
    assert report["columns"] == ["x", "y"]
    expected = _forward_loglik(X, LENGTHS, np.array(report["startprob"]),
                               np.array(report["transmat"]), np.array(report["means"]),
                               np.array(report["covars"]))
    assert report["loglik"] == pytest.approx(expected, rel=1e-9)
    means = np.array(report["means"])
    np.testing.assert_allclose(means[np.argsort(means[:, 0])],
                               [[-10.0, 0.0], [0.0, 6.0], [12.0, -5.0]], atol=0.5)
    p = 2 + 6 + 6 + 6
    assert report["bic"] == pytest.approx(-2 * report["loglik"] + p * math.log(180),
                                          rel=1e-12)
    # the same fit as the library's on the matrix with NaN
    model = emkit.GaussianHMM(3, "diag", n_iter=100, random_state=0).fit(X, LENGTHS)
    assert report["loglik"] == pytest.approx(model.score(X, LENGTHS), rel=1e-9)


def test_text_output_counts_the_missing_cells(holes_path, capsys):
    path, X = holes_path
    assert main(["hmm", "fit", str(path), "-k", "3", "-s", "id", "--seed", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"{int(np.isnan(X).sum())} empty cell(s) taken as missing at random"


def test_decode_fills_frames_with_missing_entries(holes_path, tmp_path, capsys):
    path, X = holes_path
    model_path = tmp_path / "holes.emkit"
    assert main(["hmm", "fit", str(path), "-k", "3", "-s", "id", "--seed", "0",
                 "--save", str(model_path)]) == 0
    states_path = tmp_path / "states.csv"
    assert main(["hmm", "decode", str(model_path), str(path), "-o", str(states_path)]) == 0
    capsys.readouterr()
    decoded = pd.read_csv(states_path)
    assert len(decoded) == 180 and decoded["state"].notna().all()
    model = emkit.load(model_path)
    np.testing.assert_array_equal(decoded["state"], model.predict(X, LENGTHS))
    # the regimes are found through the holes: the complete frames' states match the
    # nearest mean, frame by frame
    complete = ~np.isnan(X).any(axis=1)
    nearest = np.argmin(((X[complete, None, :] - model.means_) ** 2).sum(axis=2), axis=1)
    assert np.mean(decoded["state"].to_numpy()[complete] == nearest) > 0.97


def test_select_takes_missing_cells(holes_path, capsys):
    path, X = holes_path
    report = _run_json(capsys, ["hmm", "select", str(path), "-s", "id", "-k", "2..4",
                                "--seed", "0", "--json"])
    expected = emkit.select_hmm(X, LENGTHS, n_components=[2, 3, 4], n_iter=100,
                                random_state=0)
    np.testing.assert_allclose([r["bic"] for r in report["table"]], expected.table["bic"],
                               rtol=1e-9)
    assert report["best"]["n_components"] == 3 and report["n_missing"] > 0


def test_a_distribution_emission_takes_missing_cells(tmp_path, capsys):
    rng = np.random.default_rng(4)
    durations = rng.gamma(np.repeat([2.0, 9.0, 2.0], 60), 1.0)
    durations[rng.random(180) < 0.1] = np.nan
    path = tmp_path / "durations.csv"
    pd.DataFrame({"d": durations}).to_csv(path, index=False)
    report = _run_json(capsys, ["hmm", "fit", str(path), "-k", "2", "--emission", "gamma",
                                "--seed", "0", "--json"])
    model = emkit.HMM(emkit.distributions.Gamma(), 2, n_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        model.fit(durations[:, None])
    assert report["n_missing"] == int(np.isnan(durations).sum())
    assert report["loglik"] == pytest.approx(model.score(durations[:, None]), rel=1e-9)


@pytest.mark.parametrize("emission, values", [
    ("categorical", [0, 1, 2, 1]),
    ("poisson", [3, 0, 7, 2]),
    ("multinomial", [2, 1, 0, 3]),
])
def test_families_without_missing_data_name_the_row_and_column(tmp_path, capsys, emission,
                                                               values):
    column = np.tile(np.array(values, dtype=float), 10)
    column[13] = np.nan
    path = tmp_path / f"{emission}.csv"
    pd.DataFrame({"a": np.tile(values, 10), "b": column}).to_csv(path, index=False)
    line = _one_error_line(capsys, ["hmm", "fit", str(path), "-k", "2", "-c", "b",
                                    "--emission", emission])
    assert "column 'b'" in line and "row 13" in line
    assert f"--emission {emission} does not take missing entries" in line
    line = _one_error_line(capsys, ["hmm", "select", str(path), "-k", "1..2", "-c", "b",
                                    "--emission", emission])
    assert "column 'b'" in line and "row 13" in line


def test_infinite_cells_are_refused_with_their_place(tmp_path, capsys):
    X = X_FULL.copy()
    X[42, 1] = np.inf
    path = _write(tmp_path / "inf.csv", X)
    line = _one_error_line(capsys, ["hmm", "fit", str(path), "-k", "2", "-s", "id"])
    assert "column 'y' has an infinite value in row 42" in line


# -- --weights ---------------------------------------------------------------------------
WEIGHTS = {"a": 1, "b": 3, "c": 2}


@pytest.fixture(scope="module")
def weighted_paths(tmp_path_factory):
    """The table with a weight column, and the table with each sequence repeated as many
    times as its weight (new ids), in the same order."""
    folder = tmp_path_factory.mktemp("hmm_weights")
    weighted = _write(folder / "weighted.csv", X_FULL,
                      w=np.array([WEIGHTS[i] for i in IDS], dtype=float))
    offsets = np.concatenate([[0], np.cumsum(LENGTHS)])
    parts, ids = [], []
    for s, name in enumerate("abc"):
        for copy in range(WEIGHTS[name]):
            parts.append(X_FULL[offsets[s]:offsets[s + 1]])
            ids += [f"{name}{copy}"] * LENGTHS[s]
    repeated = _write(folder / "repeated.csv", np.concatenate(parts), ids=np.array(ids))
    return weighted, repeated


def test_integer_weights_equal_repeated_sequences(weighted_paths, capsys):
    weighted, repeated = weighted_paths
    args = ["-k", "3", "-s", "id", "-c", "x,y", "--seed", "0", "--json"]
    by_weight = _run_json(capsys, ["hmm", "fit", str(weighted), "--weights", "w", *args])
    by_copies = _run_json(capsys, ["hmm", "fit", str(repeated), *args])
    plain = _run_json(capsys, ["hmm", "fit", str(weighted), *args])
    for key in ("loglik", "aic", "bic"):
        assert by_weight[key] == pytest.approx(by_copies[key], rel=1e-9)
    np.testing.assert_allclose(by_weight["transmat"], by_copies["transmat"], atol=1e-8)
    assert by_weight["weights_column"] == "w" and by_weight["n_sequences"] == 3
    # BIC's n_samples is the weighted row count, 70 + 3 * 50 + 2 * 60
    assert by_weight["bic"] == pytest.approx(
        -2 * by_weight["loglik"] + by_weight["n_parameters"] * math.log(340), rel=1e-12)
    assert abs(plain["loglik"] - by_weight["loglik"]) > 100.0
    # the weight column is not a feature by default
    default = _run_json(capsys, ["hmm", "fit", str(weighted), "-k", "3", "-s", "id",
                                 "--weights", "w", "--seed", "0", "--json"])
    assert default["columns"] == ["x", "y"]
    assert default["loglik"] == pytest.approx(by_weight["loglik"], rel=1e-12)


def test_text_output_says_the_fit_is_weighted(weighted_paths, capsys):
    weighted, _ = weighted_paths
    assert main(["hmm", "fit", str(weighted), "-k", "3", "-s", "id", "-w", "w",
                 "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert ("sequences weighted by column w; log-likelihood, AIC and BIC are weighted"
            in out.splitlines())


def test_select_with_weights_equals_repeated_sequences(weighted_paths, capsys):
    weighted, repeated = weighted_paths
    args = ["-k", "1..3", "-s", "id", "-c", "x,y", "--seed", "0", "--json"]
    by_weight = _run_json(capsys, ["hmm", "select", str(weighted), "--weights", "w", *args])
    by_copies = _run_json(capsys, ["hmm", "select", str(repeated), *args])
    for key in ("loglik", "bic", "aic"):
        np.testing.assert_allclose([r[key] for r in by_weight["table"]],
                                   [r[key] for r in by_copies["table"]], rtol=1e-9)
    assert by_weight["best"]["n_components"] == by_copies["best"]["n_components"] == 3


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(w=np.where(np.arange(len(t)) == 75, 5.0, t["w"])),
     "'w' must be constant within each sequence (one weight per sequence): sequence 'b' "
     "has 3 in row 70 and 5 in row 75"),
    (lambda t: t.assign(w=np.where(np.arange(len(t)) == 7, -1.0, t["w"])),
     "'w' is -1.0 in row 7"),
    (lambda t: t.assign(w=np.where(np.arange(len(t)) == 8, np.nan, t["w"])),
     "'w' is empty in row 8"),
    (lambda t: t.assign(w="heavy"), "'w' is not numeric"),
    (lambda t: t.assign(w=0.0), "0 for every sequence"),
])
def test_bad_weight_columns_give_one_line(weighted_paths, tmp_path, capsys, change, message):
    weighted, _ = weighted_paths
    path = tmp_path / "bad.csv"
    change(pd.read_csv(weighted)).to_csv(path, index=False)
    for command in (["fit", "-k", "2"], ["select", "-k", "1..2"]):
        line = _one_error_line(capsys, ["hmm", command[0], str(path), *command[1:], "-s",
                                        "id", "-c", "x,y", "--weights", "w"])
        assert message in line


@pytest.mark.parametrize("args, message", [
    (["-s", "id", "--weights", "nope"], "no column 'nope'"),
    (["-s", "id", "--weights", "id"], "cannot also be the weight column"),
    (["-s", "id", "-c", "x,w", "--weights", "w"], "the weight column 'w' cannot also be a "
     "feature"),
])
def test_weight_column_mixups(weighted_paths, capsys, args, message):
    weighted, _ = weighted_paths
    assert message in _one_error_line(capsys, ["hmm", "fit", str(weighted), "-k", "2", *args])


def test_weights_without_sequences_must_be_one_value(weighted_paths, tmp_path, capsys):
    weighted, _ = weighted_paths
    line = _one_error_line(capsys, ["hmm", "fit", str(weighted), "-k", "2", "-c", "x,y",
                                    "--weights", "w"])
    assert "the table has 1 in row 0 and 3 in row 70" in line
