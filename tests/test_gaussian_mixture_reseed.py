"""GaussianMixture(degenerate=...): collapsed components re-seeded where scikit-learn raises.

Data like the downstream reports of scikit-learn's "ill-defined empirical
covariance" crash: duplicated points, a constant column, K close to N. Each test
shows scikit-learn raising on the same data and start, and emkit's default
answer being a valid fit (finite log-likelihood, positive-definite covariances).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import emkit
from emkit import GaussianMixture
from emkit.estimators._gaussian_mixture_checks import COLLAPSE_MESSAGE
from emkit.estimators._gaussian_mixture_guard import CollapseGuard
from emkit.exceptions import DegenerateComponentWarning

ILL_DEFINED = re.escape("ill-defined empirical covariance")


def _valid_fit(gm: GaussianMixture, X: np.ndarray) -> None:
    """Finite log-likelihood and positive-definite covariances in the stored precision."""
    assert np.isfinite(gm.score(X))
    assert np.all(np.isfinite(gm.score_samples(X)))
    cov = np.asarray(gm.covariances_, dtype=np.float64)
    if gm.covariance_type in ("full", "tied"):
        for mat in cov.reshape(-1, *cov.shape[-2:]):
            np.linalg.cholesky(mat)
    else:
        assert np.all(cov > 0)
    np.testing.assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(gm.means_))


def _duplicates_and_outlier():
    """30 points near the origin, 10 copies of (5, 5) and one far row (-20, 20)."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(30, 2)), np.tile([5.0, 5.0], (10, 1)), [[-20.0, 20.0]]])
    return X


def _narrow_start(covariance_type: str) -> dict:
    prec = {"full": np.stack([100 * np.eye(2), np.eye(2)]),
            "diag": np.array([[100.0, 100.0], [1.0, 1.0]]),
            "spherical": np.array([100.0, 1.0])}[covariance_type]
    return dict(n_components=2, covariance_type=covariance_type, reg_covar=0.0,
                means_init=np.array([[5.0, 5.0], [0.0, 0.0]]), weights_init=[0.25, 0.75],
                precisions_init=prec)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_collapsed_component_moves_to_the_worst_explained_row(covariance_type):
    # Component 0 takes exactly the 10 duplicated rows in the first E-step, so
    # the first M-step gives it a zero covariance: scikit-learn raises there for
    # "full"; for "diag" and "spherical" its sums leave a variance of 1.4e-14
    # (rounding: the duplicated rows are 5.0 exactly) and it goes on with that.
    X = _duplicates_and_outlier()
    kw = _narrow_start(covariance_type)
    if covariance_type == "full":
        with pytest.raises(ValueError, match=ILL_DEFINED):
            SkGaussianMixture(max_iter=5, **kw).fit(X)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkConvergenceWarning)
            sk = SkGaussianMixture(max_iter=1, **kw).fit(X)
        assert np.all(np.asarray(sk.covariances_[0]) < 1e-13)
    # the worst-explained row under the parameters of that E-step (the start),
    # computed here with scipy
    prec = np.asarray(kw["precisions_init"], dtype=float)
    covs = [np.linalg.inv(p) if p.ndim == 2 else np.eye(2) / p for p in
            (prec if covariance_type == "full" else
             [np.diag(r) for r in prec] if covariance_type == "diag" else prec)]
    logp = np.column_stack([np.log(w) + multivariate_normal(m, c).logpdf(X) for w, m, c in
                            zip(kw["weights_init"], kw["means_init"], covs, strict=True)])
    worst = int(np.argmin(logsumexp(logp, axis=1)))
    assert worst == 40
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(max_iter=100, **kw).fit(X)
    told = [str(w.message) for w in caught if isinstance(w.message, DegenerateComponentWarning)]
    assert len(told) == 1 and (f"component 0 collapsed at the M-step of iteration 1; "
                               f"re-seeded at row {worst} ") in told[0]
    # with reg_covar=0 the re-seeded component may shrink onto that lone row in
    # turn (a variance below rounding): the run then stops, as without re-seeding
    assert gm.n_reseeds_ >= 1
    _valid_fit(gm, X)
    # "raise" keeps scikit-learn's error
    with pytest.raises(ValueError, match=re.escape(COLLAPSE_MESSAGE)):
        GaussianMixture(max_iter=5, degenerate="raise", **kw).fit(X)


def test_reseed_step_one_puts_the_mean_on_that_row(monkeypatch):
    X = _duplicates_and_outlier()
    seen = []
    original = CollapseGuard.m_step

    def spy(self, stats):
        params = original(self, stats)
        seen.append(params)
        return params

    monkeypatch.setattr(CollapseGuard, "m_step", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        GaussianMixture(max_iter=1, tol=0.0, **_narrow_start("diag")).fit(X)
    np.testing.assert_array_equal(seen[0]["means"][0], X[40])
    # the seed covariance: the data's column variances (above every floor here)
    np.testing.assert_allclose(seen[0]["covariances"][0], X.var(axis=0), rtol=1e-12)
    # weight: max(old weight, 1/n), then renormalized
    assert seen[0]["weights"].sum() == pytest.approx(1.0, abs=1e-14)


def test_duplicated_points_reg_covar_zero_kmeans_start():
    # k-means puts the duplicated rows in one cluster: a zero covariance at the start
    X = _duplicates_and_outlier()
    with pytest.raises(ValueError, match=ILL_DEFINED):
        SkGaussianMixture(3, reg_covar=0.0, random_state=0).fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(3, reg_covar=0.0, random_state=0).fit(X)
    assert any(isinstance(w.message, DegenerateComponentWarning)
               and "at the drawn start" in str(w.message) for w in caught)
    _valid_fit(gm, X)
    with pytest.raises(ValueError, match=re.escape(COLLAPSE_MESSAGE)):
        GaussianMixture(3, reg_covar=0.0, random_state=0, degenerate="raise").fit(X)


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_k_close_to_n_float32(accelerate):
    # 30 float32 rows in 16 dimensions, K=5: each component has ~6 rows, so its
    # covariance is rank 5 + reg_covar, not positive definite in float32
    X = (np.random.RandomState(0).normal(size=(30, 16)) * 100).astype(np.float32)
    with pytest.raises(ValueError, match=ILL_DEFINED):
        SkGaussianMixture(5, random_state=0).fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(5, random_state=0, accelerate=accelerate).fit(X)
    assert any(isinstance(w.message, DegenerateComponentWarning) for w in caught)
    assert not any(isinstance(w.message, emkit.MonotonicityWarning) for w in caught)
    assert gm.means_.dtype == np.float32
    _valid_fit(gm, X)
    with pytest.raises(ValueError, match=re.escape(COLLAPSE_MESSAGE)):
        GaussianMixture(5, random_state=0, degenerate="raise").fit(X)


@pytest.mark.parametrize(("name", "covariance_type", "n_components"), [
    ("constant column, float32", "diag", 10),
    ("duplicated points at 1e6", "diag", 20),
    ("duplicated points at 1e6", "tied", 20),
])
def test_where_sklearn_raises_emkit_needs_no_reseed(name, covariance_type, n_components):
    # scikit-learn's covariances lose their positivity to rounding here; emkit's
    # M-step (centred statistics summed in float64) keeps them positive definite
    rng = np.random.RandomState(0)
    if name.startswith("constant"):
        X = rng.normal(size=(60, 8)).astype(np.float32)
        X[:, 3] = 7.0
    else:
        X = np.repeat(rng.normal(size=(20, 3)) * 1e4 + 1e6, 5, axis=0)
    kw = dict(covariance_type=covariance_type, random_state=0)
    with pytest.raises(ValueError, match=ILL_DEFINED):
        SkGaussianMixture(n_components, **kw).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        gm = GaussianMixture(n_components, **kw).fit(X)
    assert gm.n_reseeds_ == 0
    _valid_fit(gm, X)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_trajectory_unchanged_where_sklearn_does_not_raise(covariance_type):
    # duplicated points and a constant column with the default reg_covar: no
    # collapse, so the default fit follows scikit-learn's from the same start
    rng = np.random.RandomState(1)
    base = np.vstack([rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 4])
    X = np.vstack([base, np.repeat(base[:5], 6, axis=0)])
    X[:, 2] = 3.0
    sk_start = SkGaussianMixture(3, covariance_type=covariance_type, max_iter=1,
                                 random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk_start.fit(X)
    start = dict(weights_init=sk_start.weights_, means_init=sk_start.means_,
                 precisions_init=sk_start.precisions_)
    kw = dict(covariance_type=covariance_type, tol=0.0, max_iter=15, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        sk = SkGaussianMixture(3, **kw).fit(X)
        ours = GaussianMixture(3, **kw).fit(X)
        raising = GaussianMixture(3, degenerate="raise", **kw).fit(X)
    assert ours.n_reseeds_ == 0
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(ours, attr), getattr(sk, attr), rtol=1e-7, atol=1e-9)
        np.testing.assert_array_equal(getattr(ours, attr), getattr(raising, attr))


def test_degenerate_parameter_is_a_constructor_parameter(tmp_path):
    gm = GaussianMixture(2, degenerate="raise")
    assert gm.get_params()["degenerate"] == "raise"
    assert GaussianMixture().get_params()["degenerate"] == "reseed"
    X = np.random.RandomState(0).normal(size=(50, 2))
    gm.fit(X)
    path = gm.save(tmp_path / "gm.emkit")
    back = emkit.load(path)
    assert back.degenerate == "raise" and back.n_reseeds_ == 0
    np.testing.assert_array_equal(back.means_, gm.means_)
    with pytest.raises(ValueError, match="degenerate"):
        GaussianMixture(2, degenerate="drop").fit(X)


def test_reseed_on_dask_input_and_with_missing_values():
    # Dask: the candidate rows are the sample the start is drawn from (all rows here)
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X = (np.random.RandomState(0).normal(size=(30, 16)) * 100).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught, \
            dask.config.set(scheduler="synchronous"):
        warnings.simplefilter("always")
        gm = GaussianMixture(5, random_state=0).fit(da.from_array(X, chunks=10))
    assert any(isinstance(w.message, DegenerateComponentWarning) for w in caught)
    _valid_fit(gm, X)
    # NaN: rows are scored by the missing-value model, a missing entry of the
    # picked row takes its column's mean
    Xn = np.random.RandomState(0).normal(size=(30, 16)) * 100
    Xn = np.vstack([Xn, np.tile(Xn[:1], (6, 1))])  # 6 copies of row 0
    Xn[3, 2] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(3, reg_covar=0.0, random_state=0).fit(Xn)
    assert gm.n_reseeds_ >= 1
    assert np.isfinite(gm.score(Xn)) and np.all(np.isfinite(gm.means_))


def test_partial_fit_reseeds_among_the_batch_rows():
    # 25 components on float32 batches of 30 rows in 16 dimensions: the start's
    # covariances are not positive definite in float32
    X = (np.random.RandomState(0).normal(size=(300, 16)) * 100).astype(np.float32)
    gm = GaussianMixture(25, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for start in range(0, 300, 30):
            gm.partial_fit(X[start:start + 30])
    told = [str(w.message) for w in caught if isinstance(w.message, DegenerateComponentWarning)]
    assert told and "re-seeded" in told[0]
    assert gm.n_reseeds_ >= 1
    _valid_fit(gm, X)
    raising = GaussianMixture(25, random_state=0, degenerate="raise")
    with pytest.raises(ValueError, match=re.escape(COLLAPSE_MESSAGE)):
        raising.partial_fit(X[:30])
