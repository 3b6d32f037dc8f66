"""emkit.RegressionMixture: refused input, inference against direct formulas, sampling,
restarts, saving and loading."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as ss
from scipy.special import expit, softmax
from sklearn.exceptions import NotFittedError

import emkit
from emkit.models.regression.design import Design
from emkit.models.regression.model import RegressionMixtureEM

RNG = np.random.default_rng(31)
N = 400
X = np.column_stack([RNG.uniform(0.0, 10.0, N), RNG.normal(size=N)])
Z = RNG.normal(size=(N, 2))
SEG = RNG.random(N) < 0.4
Y = np.where(SEG, 1.0 + 2.0 * X[:, 0], 8.0 - 0.5 * X[:, 0]) + RNG.normal(0.0, 1.0, N)
COUNTS = RNG.poisson(np.exp(np.where(SEG, 0.2 + 0.2 * X[:, 0], 2.0 - 0.1 * X[:, 0])))


@pytest.fixture(scope="module")
def gaussian_fit():
    return emkit.RegressionMixture(2, random_state=0, n_init=2, tol=1e-8,
                                   max_iter=500).fit(X, Y, concomitant=Z)


# ---------------------------------------------------------------- bad input
def _with(a, index, value):
    a = np.array(a, dtype=float)
    a[index] = value
    return a


BAD_FITS = [
    ({"X": _with(X, (3, 1), np.nan)}, "X contains NaN or infinity"),
    ({"X": _with(X, (3, 0), np.inf)}, "X contains NaN or infinity"),
    ({"y": _with(Y, 5, np.nan)}, "y contains NaN or infinity"),
    ({"y": _with(Y, 5, -np.inf)}, "y contains NaN or infinity"),
    ({"y": Y[:-1]}, "y has 399 rows but X has 400"),
    ({"y": np.c_[Y, Y]}, "y must be 1-D"),
    ({"family": "poisson", "y": _with(COUNTS, 2, -1)}, "non-negative counts"),
    ({"family": "poisson", "y": _with(COUNTS, 2, 1.5)}, "whole counts"),
    ({"family": "binomial", "y": _with(SEG, 0, 2)}, "only 0 and 1"),
    ({"family": "binomial", "y": np.c_[COUNTS, _with(COUNTS, 4, -2)]}, "non-negative"),
    ({"family": "binomial", "y": np.c_[COUNTS, _with(COUNTS, 4, 0.5)]}, "whole numbers"),
    ({"family": "binomial", "y": np.zeros((N, 2))}, "y has no trials"),
    ({"family": "binomial", "y": np.c_[COUNTS, COUNTS, COUNTS]}, r"shape \(n_samples, 2\)"),
    ({"concomitant": Z[:-3]}, "concomitant has 397 rows but X has 400"),
    ({"concomitant": _with(Z, (0, 0), np.nan)}, "concomitant contains NaN or infinity"),
    ({"concomitant": np.c_[Z, Z[:, 0] * 2.0]}, "concomitant's columns are collinear"),
    ({"sample_weight": -np.ones(N)}, "sample_weight must be non-negative"),
    ({"sample_weight": np.ones(N - 1)}, "sample_weight has 399 rows but X has 400"),
    ({"sample_weight": _with(np.ones(N), 0, np.nan)}, "sample_weight contains NaN"),
    ({"sample_weight": np.zeros(N)}, "sample_weight sums to zero"),
    ({"X": np.c_[X, np.full(N, 3.0)]}, "X column 2 is constant"),
    ({"X": np.c_[X, X[:, 0] - 2.0 * X[:, 1]]}, "X's columns are collinear"),
    ({"X": X[:1], "y": Y[:1]}, "n_samples=1 must be >= n_components=2"),
    ({"X": np.empty((0, 2)), "y": np.empty(0)}, "X is empty"),
    ({"family": "gamma"}, "family must be one of"),
    ({"n_components": 0}, "n_components must be an integer >= 1"),
    ({"tol": -1.0}, "tol must be a non-negative number"),
    ({"init_params": "kmeans++"}, "init_params must be one of"),
    ({"accelerate": "fast"}, "accelerate must be None or 'squarem'"),
    ({"max_iter": 0}, "max_iter must be an integer >= 1"),
]


@pytest.mark.parametrize(("change", "message"), BAD_FITS)
def test_bad_input_is_refused_naming_the_argument(change, message):
    args = {"X": X, "y": Y, "concomitant": None, "sample_weight": None, "family": "gaussian",
            "n_components": 2, "tol": 1e-3, "init_params": "random", "accelerate": None,
            "max_iter": 100, **change}
    est = emkit.RegressionMixture(args["n_components"], family=args["family"], tol=args["tol"],
                                  init_params=args["init_params"],
                                  accelerate=args["accelerate"], max_iter=args["max_iter"])
    with pytest.raises(ValueError, match=message):
        est.fit(args["X"], args["y"], concomitant=args["concomitant"],
                sample_weight=args["sample_weight"])


def test_prediction_input_is_checked(gaussian_fit):
    with pytest.raises(ValueError, match="X has 3 features, but RegressionMixture is "
                                         "expecting 2"):
        gaussian_fit.predict(np.c_[X, X[:, 0]], concomitant=Z)
    with pytest.raises(ValueError, match="concomitant is required"):
        gaussian_fit.predict(X)
    with pytest.raises(ValueError, match="concomitant has 1 columns, but the model was "
                                         "fitted with 2"):
        gaussian_fit.predict(X, concomitant=Z[:, :1])
    with pytest.raises(ValueError, match="concomitant has 10 rows but X has 400"):
        gaussian_fit.predict_proba(X, Y, concomitant=Z[:10])
    with pytest.raises(ValueError, match="y has 10 rows"):
        gaussian_fit.score(X, Y[:10], concomitant=Z)
    with pytest.raises(ValueError, match="X contains NaN"):
        gaussian_fit.predict(_with(X, (0, 0), np.nan), concomitant=Z)
    plain = emkit.RegressionMixture(1).fit(X, Y)
    with pytest.raises(ValueError, match="fitted without concomitant"):
        plain.predict(X, concomitant=Z)
    with pytest.raises(NotFittedError):
        emkit.RegressionMixture(2).predict(X)


def test_an_emptied_or_collapsed_component_is_a_clear_error():
    model = RegressionMixtureEM("gaussian", 2, Design.identity(2))
    coef = np.array([[1.0, 2.0, 0.0], [8.0, -0.5, 0.0]])
    stats, _ = model.e_step((X, Y), {"coef": coef, "scale": np.array([1.0, 1.0]),
                                     "weights": np.array([1.0, 0.0])})
    with pytest.raises(ValueError, match="component 1 holds no rows"):
        model.m_step(stats)
    # a component that fits its rows exactly: the likelihood is unbounded there
    x3 = np.array([[0.0], [1.0], [2.0], [3.0]])
    exact = RegressionMixtureEM("gaussian", 1, Design.identity(1), min_scale=1e-12)
    stats, _ = exact.e_step((x3, 1.0 + 2.0 * x3[:, 0]), {
        "coef": np.array([[0.5, 1.0]]), "scale": np.array([1.0]), "weights": np.array([1.0])})
    with pytest.raises(ValueError, match="component 0 collapsed"):
        exact.m_step(stats)


# ---------------------------------------------------------------- inference
def test_scores_and_posteriors_are_the_mixture_density(gaussian_fit):
    m = gaussian_fit
    pi = softmax(np.c_[np.ones(N), Z] @ m.concomitant_coef_.T, axis=1)
    dens = ss.norm.pdf(Y[:, None], m.intercept_ + X @ m.coef_.T, m.scale_)
    mix = (pi * dens).sum(axis=1)
    np.testing.assert_allclose(m.score_samples(X, Y, concomitant=Z), np.log(mix), rtol=1e-10)
    np.testing.assert_allclose(m.score(X, Y, concomitant=Z), np.mean(np.log(mix)), rtol=1e-10)
    np.testing.assert_allclose(m.lower_bound_, np.mean(np.log(mix)), rtol=1e-8)
    np.testing.assert_allclose(m.predict_proba(X, Y, concomitant=Z),
                               pi * dens / mix[:, None], rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(m.predict(X, concomitant=Z),
                               np.sum(pi * (m.intercept_ + X @ m.coef_.T), axis=1), rtol=1e-10)
    k, p, q = 2, 2, 2
    n_par = k * (p + 1) + k + (k - 1) * (q + 1)
    assert m.n_parameters() == n_par
    loglik = np.log(mix).sum()
    np.testing.assert_allclose(m.bic(X, Y, concomitant=Z), -2 * loglik + n_par * np.log(N))
    np.testing.assert_allclose(m.aic(X, Y, concomitant=Z), -2 * loglik + 2 * n_par)


def test_poisson_prediction_and_criteria():
    m = emkit.RegressionMixture(2, family="poisson", random_state=0).fit(X, COUNTS)
    mu = np.exp(m.intercept_ + X @ m.coef_.T)
    np.testing.assert_allclose(m.predict(X), mu @ m.weights_, rtol=1e-10)
    mix = ss.poisson.pmf(COUNTS[:, None], mu) @ m.weights_
    np.testing.assert_allclose(m.score(X, COUNTS), np.mean(np.log(mix)), rtol=1e-10)
    assert m.n_parameters() == 2 * 3 + 1
    np.testing.assert_allclose(m.bic(X, COUNTS), -2 * np.log(mix).sum() + 7 * np.log(N))


def test_sample_draws_from_the_fitted_mixture(gaussian_fit):
    rows = np.repeat(X[:3], 4000, axis=0)
    zrows = np.repeat(Z[:3], 4000, axis=0)
    y, labels = gaussian_fit.sample(rows, concomitant=zrows, random_state=0)
    assert y.shape == labels.shape == (12_000,)
    means = y.reshape(3, 4000).mean(axis=1)
    expected = gaussian_fit.predict(X[:3], concomitant=Z[:3])
    # the mixture's standard deviation is below 10 here: 4 standard errors
    np.testing.assert_allclose(means, expected, atol=4 * 10 / np.sqrt(4000))
    pi = softmax(np.c_[np.ones(3), Z[:3]] @ gaussian_fit.concomitant_coef_.T, axis=1)
    np.testing.assert_allclose((labels.reshape(3, 4000) == 1).mean(axis=1), pi[:, 1], atol=0.03)
    binomial = emkit.RegressionMixture(1, family="binomial").fit(X, SEG.astype(float))
    s, _ = binomial.sample(X, random_state=0)
    assert set(np.unique(s)) <= {0.0, 1.0}
    sf, _ = binomial.sample(X, trials=5, random_state=0)
    assert sf.shape == (N, 2) and np.all(sf.sum(axis=1) == 5)


def test_more_starts_never_give_a_lower_likelihood():
    one = emkit.RegressionMixture(3, random_state=4, n_init=1).fit(X, Y)
    five = emkit.RegressionMixture(3, random_state=4, n_init=5).fit(X, Y)
    # the first of five starts is the one start (same seed), so the best is at least it
    assert five.lower_bound_ >= one.lower_bound_ - 1e-12


def test_kmeans_start_fits_level_separated_segments():
    y = np.where(SEG, 20.0, 0.0) + 0.5 * X[:, 1] + RNG.normal(0.0, 1.0, N)
    m = emkit.RegressionMixture(2, init_params="kmeans", random_state=0).fit(X, y)
    order = np.argsort(m.intercept_)
    np.testing.assert_allclose(m.intercept_[order], [0.0, 20.0], atol=0.5)
    np.testing.assert_allclose(m.coef_[order, 1], [0.5, 0.5], atol=0.2)


# ------------------------------------------------------------ save and load
@pytest.mark.parametrize("family", ["gaussian", "poisson", "binomial"])
def test_save_and_load_round_trip(tmp_path, family):
    y = {"gaussian": Y, "poisson": COUNTS,
         "binomial": np.c_[COUNTS, RNG.integers(0, 3, N)]}[family]
    conc = Z if family != "poisson" else None
    model = emkit.RegressionMixture(2, family=family, random_state=0).fit(X, y, concomitant=conc)
    path = model.save(tmp_path / "model.npz")
    loaded = emkit.load(path)
    assert type(loaded) is emkit.RegressionMixture
    assert loaded.get_params() == model.get_params()
    for key, value in vars(model).items():
        if key.endswith("_") and not key.startswith("_"):
            np.testing.assert_array_equal(getattr(loaded, key), value)
    np.testing.assert_array_equal(loaded.predict(X, concomitant=conc),
                                  model.predict(X, concomitant=conc))
    np.testing.assert_array_equal(loaded.predict_proba(X, y, concomitant=conc),
                                  model.predict_proba(X, y, concomitant=conc))
    assert hasattr(loaded, "concomitant_coef_") == (conc is not None)
    assert hasattr(loaded, "scale_") == (family == "gaussian")


def test_binomial_one_trial_columns_equal_zero_one_outcomes():
    y01 = SEG.astype(float)
    a = emkit.RegressionMixture(2, family="binomial", random_state=0).fit(X, y01)
    b = emkit.RegressionMixture(2, family="binomial", random_state=0).fit(X, np.c_[y01, 1 - y01])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12)
    np.testing.assert_allclose(a.score(X, y01), b.score(X, np.c_[y01, 1 - y01]), rtol=1e-12)
    np.testing.assert_allclose(a.predict(X), (expit(a.intercept_ + X @ a.coef_.T))
                               @ a.weights_, rtol=1e-10)
