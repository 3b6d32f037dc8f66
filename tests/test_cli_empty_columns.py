"""An all-empty column is an error, never estimates: in the reader, the commands and the API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.cli import main
from emkit.validation import check_observed_columns


@pytest.fixture
def X():
    data = np.random.default_rng(0).normal(size=(40, 3))
    data[:, 1] = np.nan
    return data


@pytest.mark.parametrize("make", [
    lambda: emkit.GaussianMixture(2, random_state=0),
    lambda: emkit.GaussianMixture(2, covariance_type="diag", random_state=0),
    lambda: emkit.EMImputer(),
    lambda: emkit.GaussianHMM(2, random_state=0),
    lambda: emkit.MclustMixture("VVV", 2),
    lambda: emkit.BayesianGaussianMixture(n_components=2),
], ids=["gmm-full", "gmm-diag", "imputer", "hmm", "mclust", "bgm"])
def test_estimators_refuse_an_all_nan_column(X, make):
    with pytest.raises(ValueError, match=r"(?i)column|NaN|missing"):
        make().fit(X)


def test_the_shared_check_names_the_columns(X):
    with pytest.raises(ValueError, match=r"X has no observed value in column\(s\) 1: every"):
        check_observed_columns(X)
    wide = np.full((5, 14), np.nan)
    with pytest.raises(ValueError, match=r"column\(s\) 0, 1, .*, 9, \.\.\.:"):
        check_observed_columns(wide, name="data")
    X[3, 1] = 2.5  # one observed value: not empty
    check_observed_columns(X)
    check_observed_columns(np.zeros((3, 2), dtype=int))  # integers hold no NaN
    emkit.GaussianMixture(2, random_state=0).fit(X)


def test_predict_with_an_empty_column_is_still_allowed(X):
    full = np.random.default_rng(1).normal(size=(40, 3))
    model = emkit.GaussianMixture(2, random_state=0).fit(full)
    labels = model.predict(X)  # a column missing at prediction is marginalized
    assert labels.shape == (40,)


@pytest.mark.parametrize("command", [
    ["fit", "{p}"], ["select", "{p}", "-k", "2"], ["impute", "{p}"],
    ["hmm", "fit", "{p}"], ["report", "{p}", "-o", "{d}/r.html"],
])
def test_commands_refuse_an_empty_column_in_one_line(capsys, tmp_path, X, command):
    path = tmp_path / "empty.csv"
    pd.DataFrame(X, columns=["a", "junk", "c"]).to_csv(path, index=False)
    code = main([a.format(p=path, d=tmp_path) for a in command])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "'junk' (column 2)" in err and "empty" in err
