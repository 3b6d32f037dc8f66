"""emkit.bootstrap_lrt against R mclust 6's mclustBootstrapLRT on Old Faithful."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emkit.estimators.bootstrap_lrt import bootstrap_lrt

FIXTURES = Path(__file__).parent / "fixtures" / "mclust_bootstrap"
FAITHFUL = Path(__file__).parents[1] / "src" / "emkit" / "datasets" / "faithful.csv"


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return pd.read_csv(FAITHFUL).to_numpy(dtype=float)


@pytest.mark.parametrize("model", ["EII", "EEE", "VVV"])
def test_observed_statistics_match_mclust(X: np.ndarray, model: str) -> None:
    ref = pd.read_csv(FIXTURES / "lrt_observed.csv").query("model == @model")
    table = bootstrap_lrt(X, model, max_components=5, n_boot=1, random_state=0, tol=1e-12,
                          max_iter=20000)
    assert list(table.columns[:3]) == ["k", "lrt", "p_value"]
    np.testing.assert_array_equal(table["k"], [1, 2, 3, 4])
    np.testing.assert_allclose(table["loglik_k"], ref["loglik_k"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["loglik_k1"], ref["loglik_k1"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["lrt"], ref["lrt"], rtol=0, atol=1e-6)


def test_p_value_rule(X: np.ndarray) -> None:
    table = bootstrap_lrt(X, "EII", max_components=3, n_boot=9, random_state=1,
                          tol=1e-5, max_iter=200)
    reps = table.attrs["replicates"]
    assert reps.shape == (9, 2)
    for j, obs in enumerate(table["lrt"]):
        # mclust: (1 + sum(boot >= obs)) / (nboot + 1), written out
        count = sum(1 for value in reps[:, j] if value >= obs)
        assert table["p_value"].iloc[j] == pytest.approx((1 + count) / 10, abs=1e-15)
    # EII k=1 vs 2 on Old Faithful: LRT 588.5, far beyond every bootstrap statistic
    assert table["p_value"].iloc[0] == pytest.approx(0.1, abs=1e-15)


def test_p_value_rule_when_null_holds() -> None:
    # one Gaussian: the observed 1-vs-2 statistic is an ordinary draw from the null
    rng = np.random.default_rng(4)
    data = rng.normal(size=(120, 2))
    table = bootstrap_lrt(data, "EII", max_components=2, n_boot=19, random_state=2,
                          tol=1e-5, max_iter=200)
    reps, obs = table.attrs["replicates"][:, 0], table["lrt"].iloc[0]
    assert table["p_value"].iloc[0] == pytest.approx((1 + np.sum(reps >= obs)) / 20,
                                                     abs=1e-15)
    assert table["p_value"].iloc[0] > 0.05


def test_bootstrap_statistics_near_mclust(X: np.ndarray) -> None:
    # the null distribution of 2 (loglik(2) - loglik(1)) for VVV: mclust's 199 draws
    # (the replicates here use a looser tol, as mclust's default emControl)
    r_boot = pd.read_csv(FIXTURES / "lrt_boot_VVV.csv")["k1"].to_numpy()
    table = bootstrap_lrt(X, "VVV", max_components=2, n_boot=40, random_state=3,
                          tol=1e-6, max_iter=300)
    ours = table.attrs["replicates"][:, 0]
    assert np.median(ours) == pytest.approx(np.median(r_boot), rel=0.35)
    assert table["p_value"].iloc[0] == pytest.approx(1 / 41, abs=1e-15)


def test_parallel_equals_serial(X: np.ndarray) -> None:
    kw = {"max_components": 3, "n_boot": 4, "random_state": 7, "tol": 1e-5, "max_iter": 200}
    serial = bootstrap_lrt(X, "EEE", **kw)
    parallel = bootstrap_lrt(X, "EEE", n_jobs=2, **kw)
    np.testing.assert_array_equal(parallel.attrs["replicates"], serial.attrs["replicates"])
    pd.testing.assert_frame_equal(parallel, serial)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_boot": 0}, "n_boot"), ({"max_components": 1}, "max_components"),
    ({"covariance_model": "XYZ"}, "XYZ"), ({"n_jobs": 0}, "n_jobs"),
])
def test_bad_input(X: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_lrt(X, **kwargs)
