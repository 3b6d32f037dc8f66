"""Bootstrap standard errors against R mclust 6 (tests/fixtures/mclust_bootstrap).

The fixtures hold 20 fixed resamples and 20 weight vectors of Old Faithful with
mclust's ``me()`` / ``me.weighted()`` fits from the original posterior (what
``MclustBootstrap`` does for each replicate), and ``MclustBootstrap``'s standard
errors from 999 replicates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emkit.estimators.bootstrap import bootstrap
from emkit.estimators.mclust_mixture import MclustMixture

FIXTURES = Path(__file__).parent / "fixtures" / "mclust_bootstrap"
FAITHFUL = Path(__file__).parents[1] / "src" / "emkit" / "datasets" / "faithful.csv"


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return pd.read_csv(FAITHFUL).to_numpy(dtype=float)


@pytest.fixture(scope="module")
def fit(X: np.ndarray) -> MclustMixture:
    return MclustMixture("VVV", 2, tol=1e-12).fit(X)


def _r_fits(name: str) -> dict[str, np.ndarray]:
    """R's replicate fits as arrays: weights (B, 2), means (B, 2, 2), covariances (B, 2, 2, 2)."""
    df = pd.read_csv(FIXTURES / name).sort_values(["replicate", "component"])
    b = df["replicate"].nunique()
    return {"weights": df["weight"].to_numpy().reshape(b, 2),
            "means": df[["mean1", "mean2"]].to_numpy().reshape(b, 2, 2),
            "covariances": df[["cov11", "cov12", "cov21", "cov22"]].to_numpy()
            .reshape(b, 2, 2, 2),
            "loglik": df.groupby("replicate")["loglik"].first().to_numpy()}


def test_original_fit_matches_mclust(fit: MclustMixture) -> None:
    ref = pd.read_csv(FIXTURES / "vvv2_fit.csv")
    np.testing.assert_allclose(fit.loglik_, ref["loglik"].iloc[0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.weights_, ref["weight"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(fit.means_, ref[["mean1", "mean2"]], rtol=1e-7)


def test_resample_fits_match_me(X: np.ndarray, fit: MclustMixture) -> None:
    index = pd.read_csv(FIXTURES / "boot_index.csv").to_numpy().T - 1  # R is 1-based
    res = bootstrap(fit, X, kind="nonparametric", draws=index)
    ref = _r_fits("boot_fits.csv")
    assert res.n_boot == 20 and res.n_failed == 0
    np.testing.assert_allclose(res.loglik, ref["loglik"], rtol=0, atol=1e-6)
    for name in ("weights", "means", "covariances"):
        np.testing.assert_allclose(getattr(res, name), ref[name], rtol=1e-4, atol=1e-6)
    # standard errors from the same 20 resamples: R's sd() over mclust's replicates
    np.testing.assert_allclose(res.weights_se, ref["weights"].std(axis=0, ddof=1), rtol=1e-4)
    np.testing.assert_allclose(res.means_se, ref["means"].std(axis=0, ddof=1), rtol=1e-4)
    np.testing.assert_allclose(res.covariances_se, ref["covariances"].std(axis=0, ddof=1),
                               rtol=1e-4)


def test_weighted_fits_match_me_weighted(X: np.ndarray, fit: MclustMixture) -> None:
    weights = pd.read_csv(FIXTURES / "wlbs_weights.csv").to_numpy().T
    res = bootstrap(fit, X, kind="weighted", draws=weights)
    ref = _r_fits("wlbs_fits.csv")
    # me.weighted rescales the weights to a maximum of 1, so its loglik is ours / max(w)
    np.testing.assert_allclose(res.loglik / weights.max(axis=1), ref["loglik"], rtol=1e-9)
    for name in ("weights", "means", "covariances"):
        np.testing.assert_allclose(getattr(res, name), ref[name], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res.means_se, ref["means"].std(axis=0, ddof=1), rtol=1e-4)


@pytest.mark.parametrize("kind, r_type", [("nonparametric", "bs"), ("weighted", "wlbs")])
def test_random_standard_errors_near_mclust(X: np.ndarray, fit: MclustMixture, kind: str,
                                            r_type: str) -> None:
    # MclustBootstrap: 999 replicates; here 150, so Monte Carlo error of about 6 % each
    se = pd.read_csv(FIXTURES / "boot_se.csv").query("type == @r_type")
    res = bootstrap(fit, X, 150, kind, random_state=0)
    ref_w = se.query("parameter == 'weight'").sort_values("component")["se"].to_numpy()
    ref_m = se.query("parameter == 'mean'").sort_values(["component", "i"])["se"].to_numpy()
    ref_c = se.query("parameter == 'covariance'").sort_values(["component", "i", "j"])
    np.testing.assert_allclose(res.weights_se, ref_w, rtol=0.3)
    np.testing.assert_allclose(res.means_se.ravel(), ref_m, rtol=0.3)
    np.testing.assert_allclose(res.covariances_se.ravel(), ref_c["se"].to_numpy(), rtol=0.35)


def test_label_switching_gives_same_errors(X: np.ndarray, fit: MclustMixture) -> None:
    swapped = MclustMixture("VVV", 2, tol=1e-12).fit(X)
    order = [1, 0]
    swapped.weights_ = fit.weights_[order]
    swapped.means_ = fit.means_[order]
    swapped.covariances_ = fit.covariances_[order]
    a = bootstrap(fit, X, 8, random_state=5)
    b = bootstrap(swapped, X, 8, random_state=5)
    np.testing.assert_allclose(b.weights_se, a.weights_se[order], rtol=1e-6)
    np.testing.assert_allclose(b.means_se, a.means_se[order], rtol=1e-6)
    np.testing.assert_allclose(b.covariances_se, a.covariances_se[order], rtol=1e-6)


def test_replicates_matched_when_a_fit_swaps_labels(X: np.ndarray, fit: MclustMixture) -> None:
    # a replicate whose components come back swapped is put back in the original order
    from emkit.estimators._bootstrap_refit import match_components, permute_params

    ref = {"weights": fit.weights_, "means": fit.means_, "covariances": fit.covariances_}
    rep = {k: v[[1, 0]] for k, v in ref.items()}
    perm = match_components(ref, rep, "full")
    np.testing.assert_array_equal(perm, [1, 0])
    back = permute_params(rep, perm, "full")
    np.testing.assert_array_equal(back["means"], fit.means_)


def test_parallel_equals_serial(X: np.ndarray, fit: MclustMixture) -> None:
    serial = bootstrap(fit, X, 6, "weighted", random_state=11)
    parallel = bootstrap(fit, X, 6, "weighted", random_state=11, n_jobs=2)
    np.testing.assert_array_equal(parallel.means, serial.means)
    np.testing.assert_array_equal(parallel.covariances_se, serial.covariances_se)


def test_dask_client_equals_serial(X: np.ndarray, fit: MclustMixture) -> None:
    distributed = pytest.importorskip("distributed")
    serial = bootstrap(fit, X, 4, random_state=3)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = bootstrap(fit, X, 4, random_state=3, client=client)
    np.testing.assert_array_equal(remote.means, serial.means)


@pytest.mark.parametrize("n_boot", [0, -3, 1.5])
def test_bad_n_boot(X: np.ndarray, fit: MclustMixture, n_boot: object) -> None:
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap(fit, X, n_boot)  # type: ignore[arg-type]


def test_unfitted_estimator(X: np.ndarray) -> None:
    with pytest.raises(ValueError, match="fit it first"):
        bootstrap(MclustMixture("VVV", 2), X, 5)


def test_other_bad_input(X: np.ndarray, fit: MclustMixture) -> None:
    with pytest.raises(ValueError, match="kind"):
        bootstrap(fit, X, 5, "parametric")
    with pytest.raises(ValueError, match="features"):
        bootstrap(fit, X[:, :1], 5)
    with pytest.raises(ValueError, match="draws"):
        bootstrap(fit, X, kind="nonparametric", draws=np.full((3, X.shape[0]), X.shape[0]))
    with pytest.raises(ValueError, match="n_jobs"):
        bootstrap(fit, X, 5, n_jobs=0)


def test_method_equals_function_and_gaussian_mixture_runs(X: np.ndarray,
                                                          fit: MclustMixture) -> None:
    from emkit import GaussianMixture

    via_method = fit.bootstrap(X, 4, random_state=2, kind="weighted")
    via_function = bootstrap(fit, X, 4, "weighted", random_state=2)
    np.testing.assert_array_equal(via_method.means_se, via_function.means_se)
    gm = GaussianMixture(2, random_state=0, tol=1e-8, max_iter=500).fit(X)
    res = gm.bootstrap(X, 4, random_state=0)
    assert res.means_se.shape == gm.means_.shape
    assert np.all(np.isfinite(res.covariances_se)) and np.all(res.means_se > 0)
