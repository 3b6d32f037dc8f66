"""``emkit select --tol mclust``: mclust's stopping rule from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

import emkit
from emkit.cli import main
from emkit.estimators.selection import select_model


@pytest.fixture(scope="module")
def faithful_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "faithful.csv"
    emkit.datasets.load_faithful().to_csv(path, index=False)
    return path


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_mclust_tolerance_gives_the_library_table(capsys, faithful_csv):
    code, out, err = _run(capsys, "select", faithful_csv, "-k", "1..4", "-m", "EEE,VVV,EII",
                          "--tol", "mclust", "--json", "--quiet")
    assert code == 0, err
    doc = json.loads(out)
    X = emkit.datasets.load_faithful().to_numpy(dtype=float)
    result = select_model(X, n_components=[1, 2, 3, 4], covariance_models="EEE,VVV,EII",
                          random_state=0, tol="mclust")
    expected = result.table
    got = {(row["model"], row["n_components"]): row for row in doc["table"]}
    for _, row in expected.iterrows():
        cell = got[(row["model"], row["n_components"])]
        if np.isfinite(row["bic"]):
            assert cell["bic"] == pytest.approx(row["bic"], rel=1e-12)
    assert (doc["best"]["model"], doc["best"]["n_components"]) == (
        result.best.model, result.best.n_components)
    # mclust's rule stops earlier than the default tolerance: a different (looser) fit
    code, out_default, _ = _run(capsys, "select", faithful_csv, "-k", "3", "-m", "VVV",
                                "--json", "--quiet")
    default_loglik = json.loads(out_default)["best"]["loglik"]
    mclust_vvv3 = got[("VVV", 3)]["loglik"]
    assert default_loglik >= mclust_vvv3 - 1e-9
    assert default_loglik != mclust_vvv3


@pytest.mark.parametrize("value", ["-1", "abc", "inf", "nan"])
def test_bad_tolerance_is_one_line_exit_2(capsys, faithful_csv, value):
    code, _out, err = _run(capsys, "select", faithful_csv, "-k", "2", "--tol", value)
    assert code == 2
    assert "--tol" in err and "mclust" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
