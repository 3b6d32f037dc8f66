"""emkit.GaussianMixture against scikit-learn's GaussianMixture, and its own features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import emkit
from emkit import GaussianMixture

TYPES = ["full", "tied", "diag", "spherical"]
INITS = ["kmeans", "k-means++", "random", "random_from_data"]


def blobs(n: int = 240, seed: int = 0) -> np.ndarray:
    """Three overlapping clusters in 3-D with different shapes."""
    rng = np.random.default_rng(seed)
    a = rng.normal([0.0, 0.0, 0.0], [1.0, 0.5, 1.0], (n // 3, 3))
    b = rng.normal([2.5, 1.0, -1.0], [0.7, 1.5, 0.8], (n // 3, 3))
    c = rng.multivariate_normal([-1.0, 3.0, 1.0], [[1.0, 0.6, 0.2], [0.6, 1.0, 0.3],
                                                   [0.2, 0.3, 0.5]], n - 2 * (n // 3))
    return np.vstack([a, b, c])


def fit_both(X, **kwargs):
    with pytest.warns(SkConvergenceWarning):
        sk = SkGaussianMixture(**kwargs).fit(X)
    with pytest.warns(emkit.ConvergenceWarning):
        ours = GaussianMixture(**kwargs).fit(X)
    return sk, ours


def assert_same_params(sk, ours, rtol=1e-7):
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        a, b = getattr(sk, name), getattr(ours, name)
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * np.abs(a).max(), err_msg=name)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("init_params", INITS)
def test_trajectory_matches_sklearn_same_seed(covariance_type, init_params):
    """Same seed -> same initialization -> same 25 EM iterations (tol=0)."""
    X = blobs()
    sk, ours = fit_both(X, n_components=3, covariance_type=covariance_type, tol=0,
                        max_iter=25, random_state=7, init_params=init_params)
    assert ours.n_iter_ == sk.n_iter_ == 25
    assert not ours.converged_
    assert_same_params(sk, ours)
    np.testing.assert_allclose(ours.score_samples(X), sk.score_samples(X), rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    assert ours.bic(X) == pytest.approx(sk.bic(X), rel=1e-9)
    assert ours.aic(X) == pytest.approx(sk.aic(X), rel=1e-9)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_trajectory_matches_sklearn_user_init(covariance_type):
    X = blobs(seed=1)
    rng = np.random.default_rng(2)
    d, k = 3, 3
    prec = {
        "full": np.stack([np.eye(d) * (1.0 + j) for j in range(k)]),
        "tied": np.eye(d) * 0.7,
        "diag": rng.uniform(0.5, 2.0, (k, d)),
        "spherical": np.array([0.5, 1.0, 2.0]),
    }[covariance_type]
    init = dict(weights_init=np.array([0.2, 0.3, 0.5]), means_init=X[[0, 100, 200]],
                precisions_init=prec)
    sk, ours = fit_both(X, n_components=k, covariance_type=covariance_type, tol=0,
                        max_iter=25, **init)
    assert_same_params(sk, ours)


def test_converged_fit_agrees_with_sklearn():
    X = blobs(seed=3)
    sk = SkGaussianMixture(3, random_state=0, tol=1e-8, max_iter=1000).fit(X)
    ours = GaussianMixture(3, random_state=0, tol=1e-8, max_iter=1000).fit(X)
    assert ours.converged_
    # the engine stops one M-step earlier (see the module notes); EM creeps
    # slowly here, so a 1e-8 loglik tolerance pins the parameters only to ~1e-4
    assert_same_params(sk, ours, rtol=1e-3)
    assert ours.score(X) == pytest.approx(sk.score(X), rel=1e-8)
    assert ours.lower_bound_ == pytest.approx(ours.score(X), rel=1e-12)
    assert ours.lower_bounds_[-1] == ours.lower_bound_
    assert len(ours.lower_bounds_) == ours.n_iter_


def test_seed_example_two_components():
    X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    sk = SkGaussianMixture(n_components=2, random_state=0).fit(X)
    np.testing.assert_allclose(gm.means_, sk.means_, rtol=1e-9)
    np.testing.assert_array_equal(gm.predict([[0, 0], [12, 3]]), sk.predict([[0, 0], [12, 3]]))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_fit_predict_equals_predict(covariance_type):
    X = blobs(seed=4)
    kwargs = dict(n_components=3, covariance_type=covariance_type, random_state=0,
                  max_iter=3, tol=0)
    with pytest.warns(emkit.ConvergenceWarning):
        labels = GaussianMixture(**kwargs).fit_predict(X)
    with pytest.warns(emkit.ConvergenceWarning):
        model = GaussianMixture(**kwargs).fit(X)
    np.testing.assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_integer_sample_weight_equals_repeated_rows(covariance_type):
    X = blobs(n=90, seed=5)
    w = np.random.default_rng(0).integers(0, 4, len(X))
    start = GaussianMixture(3, covariance_type=covariance_type, max_iter=1,
                            random_state=0)
    with pytest.warns(emkit.ConvergenceWarning):
        start.fit(X)
    kwargs = dict(n_components=3, covariance_type=covariance_type, tol=1e-10,
                  max_iter=500, means_init=start.means_, weights_init=start.weights_,
                  precisions_init=start.precisions_)
    weighted = GaussianMixture(**kwargs).fit(X, sample_weight=w)
    repeated = GaussianMixture(**kwargs).fit(np.repeat(X, w, axis=0))
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name),
                                   rtol=1e-8, atol=1e-10, err_msg=name)
    assert weighted.n_iter_ == repeated.n_iter_
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-10)


def test_sample_weight_is_not_modified_and_validated():
    X = blobs(n=60)
    w = np.ones(len(X))
    w_copy = w.copy()
    GaussianMixture(2, random_state=0).fit(X, sample_weight=w)
    np.testing.assert_array_equal(w, w_copy)
    with pytest.raises(ValueError, match="non-zero"):
        GaussianMixture(2).fit(X, sample_weight=np.zeros(len(X)))
    with pytest.raises(ValueError, match=r"[Nn]egative"):
        GaussianMixture(2).fit(X, sample_weight=-w)
    with pytest.raises(ValueError, match=r"shape"):
        GaussianMixture(2).fit(X, sample_weight=w[:-1])


@pytest.mark.parametrize("init_params", INITS)
def test_weighted_fit_with_every_init(init_params):
    X = blobs(n=120, seed=6)
    w = np.random.default_rng(1).uniform(0.1, 3.0, len(X))
    gm = GaussianMixture(3, init_params=init_params, random_state=0, max_iter=200).fit(
        X, sample_weight=w)
    assert gm.converged_ and np.isfinite(gm.lower_bound_)


def test_n_init_keeps_the_best_and_warm_start_continues():
    X = blobs(seed=7)
    single = [GaussianMixture(3, init_params="random", random_state=s, max_iter=200,
                              tol=1e-6).fit(X).lower_bound_ for s in range(3)]
    best = GaussianMixture(3, init_params="random", n_init=4, random_state=0, max_iter=200,
                           tol=1e-6).fit(X)
    assert best.lower_bound_ >= min(single) - 1e-9
    with pytest.warns(emkit.ConvergenceWarning):
        warm = GaussianMixture(3, warm_start=True, max_iter=2, tol=0, random_state=0).fit(X)
    first = warm.lower_bound_
    with pytest.warns(emkit.ConvergenceWarning):
        warm.fit(X)
    assert warm.lower_bound_ >= first


def test_max_iter_zero_keeps_the_initialization():
    X = blobs(seed=8)
    sk = SkGaussianMixture(3, max_iter=0, random_state=0).fit(X)
    ours = GaussianMixture(3, max_iter=0, random_state=0).fit(X)
    assert ours.n_iter_ == 0 and not ours.converged_
    np.testing.assert_allclose(ours.means_, sk.means_, rtol=1e-10)


def test_verbose_prints_iterations(capsys):
    X = blobs(n=60, seed=9)
    with pytest.warns(emkit.ConvergenceWarning):
        GaussianMixture(2, verbose=2, verbose_interval=1, max_iter=3, tol=0,
                        random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out
    assert out.count("Iteration") == 3 and "ll change" in out
    assert "did not converge" in out


def test_squarem_reaches_the_same_fit_with_fewer_esteps():
    X = blobs(n=300, seed=10)
    kwargs = dict(n_components=3, random_state=0, tol=1e-9, max_iter=5000)
    plain = GaussianMixture(**kwargs).fit(X)
    fast = GaussianMixture(accelerate="squarem", **kwargs).fit(X)
    assert fast.converged_
    assert fast.lower_bound_ >= plain.lower_bound_ - 1e-8
    np.testing.assert_allclose(np.sort(fast.means_, axis=0), np.sort(plain.means_, axis=0),
                               rtol=1e-3, atol=1e-3)


def test_float32_mode():
    X = blobs(n=300, seed=11)
    kwargs = dict(n_components=3, random_state=0, tol=1e-6, max_iter=500)
    f64 = GaussianMixture(**kwargs).fit(X)
    f32 = GaussianMixture(dtype="float32", **kwargs).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(f32, name).dtype == np.float32
    assert f32.score(X) == pytest.approx(f64.score(X), abs=1e-4)
    np.testing.assert_allclose(f32.means_, f64.means_, atol=1e-2)
    assert f32.predict_proba(X).dtype == np.float32


def test_default_dtype_follows_the_input_as_sklearn():
    X = blobs(n=300, seed=14)
    kw = dict(n_components=3, random_state=0, tol=1e-6, max_iter=300)
    for data in (X.astype(np.float32), X, X.tolist(), pd.DataFrame(X.astype(np.float32))):
        ours, theirs = GaussianMixture(**kw).fit(data), SkGaussianMixture(**kw).fit(data)
        for name in ("weights_", "means_", "covariances_", "precisions_",
                     "precisions_cholesky_"):
            assert getattr(ours, name).dtype == getattr(theirs, name).dtype, name
        for method in ("predict_proba", "score_samples"):
            ours_out, theirs_out = getattr(ours, method)(data), getattr(theirs, method)(data)
            assert ours_out.dtype == theirs_out.dtype, method
        # float32 arithmetic: the same fit as sklearn's to float32 accuracy
        np.testing.assert_allclose(np.sort(ours.means_, axis=0), np.sort(theirs.means_, axis=0),
                                   atol=1e-3)
    forced = GaussianMixture(dtype="float64", **kw).fit(X.astype(np.float32))
    assert forced.means_.dtype == np.float64


def test_sample_follows_the_fitted_mixture():
    X = blobs(n=300, seed=12)
    for covariance_type in TYPES:
        gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
        sk = SkGaussianMixture(3, covariance_type=covariance_type, random_state=0)
        sk.fit(X)
        for name in ("weights_", "means_", "covariances_"):
            setattr(sk, name, getattr(gm, name))
        Xs, ys = gm.sample(500)
        Xk, yk = sk.sample(500)
        np.testing.assert_allclose(Xs, Xk, rtol=1e-10)
        np.testing.assert_array_equal(ys, yk)
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)


def test_save_load_round_trip(tmp_path):
    X = blobs(seed=13)
    gm = GaussianMixture(3, covariance_type="diag", random_state=0, accelerate="squarem",
                         dtype="float32").fit(X)
    path = gm.save(tmp_path / "gm.emkit")
    loaded = emkit.load(path)
    assert isinstance(loaded, GaussianMixture)
    assert loaded.get_params() == gm.get_params()
    np.testing.assert_array_equal(loaded.means_, gm.means_)
    np.testing.assert_array_equal(loaded.predict_proba(X), gm.predict_proba(X))
    assert loaded.score(X) == gm.score(X)


def test_pipeline_gridsearch_and_clone():
    rng = np.random.default_rng(14)
    X = np.vstack([rng.normal(c, 1.0, (50, 3)) for c in ([0, 0, 0], [8, 0, 0], [0, 8, 8])])
    X = X[rng.permutation(len(X))]
    pipe = make_pipeline(StandardScaler(), GaussianMixture(random_state=0))
    search = GridSearchCV(pipe, {"gaussianmixture__n_components": [1, 3],
                                 "gaussianmixture__covariance_type": ["full", "diag"]}, cv=3)
    search.fit(X)
    assert search.best_params_["gaussianmixture__n_components"] == 3
    assert np.isfinite(search.score(X))
    gm = GaussianMixture(3, accelerate="squarem", chunk_size=7)
    twin = clone(gm)
    assert twin.get_params() == gm.get_params() and twin is not gm
