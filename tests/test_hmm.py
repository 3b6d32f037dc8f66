"""HMM estimators: agreement with hmmlearn, the EMModel contract, input checks, saving."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hmmlearn import hmm as hl

import emkit
from emkit.engine.stats import tree_add, tree_max_abs_diff
from emkit.estimators.hmm import GMMHMM, CategoricalHMM, GaussianHMM, PoissonHMM
from emkit.models.hmm.model import HMMModel, Sequences

K, D, M = 3, 2, 2
MEANS = np.array([[0.0, 0.0], [3.0, 3.0], [-3.0, 2.0]])
START = np.full(K, 1.0 / K)
TRANS = np.full((K, K), 0.5 / K) + 0.5 * np.eye(K)
LENGTHS = [200, 150, 250]


def _gaussian_data() -> np.ndarray:
    ref = hl.GaussianHMM(K, "full")
    ref.startprob_ = np.array([0.5, 0.3, 0.2])
    ref.transmat_ = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    ref.means_ = MEANS
    ref.covars_ = np.tile(np.eye(D), (K, 1, 1))
    return ref.sample(sum(LENGTHS), random_state=2)[0]


X_GAUSS = _gaussian_data()


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def _fit_pair(peer, ours, setup, X, lengths):
    """Fit hmmlearn's and emkit's model for 20 iterations from the same start."""
    for model in (peer, ours):
        setup(model)
    peer.fit(X, lengths)
    with pytest.warns(emkit.ConvergenceWarning):
        ours.fit(X, lengths)
    return peer, ours


def _check_agreement(peer, ours, names, X, lengths):
    """The algorithm is hmmlearn's step for step: only rounding differs (measured <= 3e-12
    relative after 20 iterations), so 1e-10 relative."""
    for name in names:
        assert _rel(getattr(ours, name), getattr(peer, name)) < 1e-10, name
    assert ours.score(X, lengths) == pytest.approx(peer.score(X, lengths), rel=1e-10)
    history = list(ours.monitor_.history)
    assert len(history) == 21
    np.testing.assert_allclose(history[:20], list(peer.monitor_.history), rtol=1e-10)


GAUSS_COVARS = {
    "diag": np.full((K, D), 1.5),
    "spherical": np.full(K, 1.5),
    "full": np.tile(1.5 * np.eye(D), (K, 1, 1)),
    "tied": 1.5 * np.eye(D),
}


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full", "tied"])
def test_gaussian_hmm_agrees_with_hmmlearn(covariance_type):
    def setup(m):
        m.startprob_, m.transmat_, m.means_ = START, TRANS, MEANS + 0.5
        m.covars_ = GAUSS_COVARS[covariance_type]

    peer, ours = _fit_pair(
        hl.GaussianHMM(K, covariance_type, n_iter=20, tol=-np.inf, init_params=""),
        GaussianHMM(K, covariance_type, n_iter=20, tol=0, init_params=""),
        setup, X_GAUSS, LENGTHS)
    _check_agreement(peer, ours, ["startprob_", "transmat_", "means_"], X_GAUSS, LENGTHS)
    # hmmlearn keeps spherical variances tiled to (K, D) internally
    peer_cov = peer._covars_.mean(axis=1) if covariance_type == "spherical" else peer._covars_
    assert _rel(ours._covars_, peer_cov) < 1e-10
    assert ours.covars_.shape == (K, D, D)
    assert not ours.monitor_.converged  # n_iter was hit


def test_gaussian_hmm_priors_agree_with_hmmlearn():
    kw = dict(startprob_prior=2.0, transmat_prior=1.5, means_prior=0.5, means_weight=2.0,
              covars_prior=0.3, covars_weight=3.0, n_iter=20, init_params="")

    def setup(m):
        m.startprob_, m.transmat_, m.means_ = START, TRANS, MEANS + 0.5
        m.covars_ = GAUSS_COVARS["diag"]

    peer, ours = _fit_pair(hl.GaussianHMM(K, "diag", tol=-np.inf, **kw),
                           GaussianHMM(K, "diag", tol=0, **kw), setup, X_GAUSS, LENGTHS)
    _check_agreement(peer, ours, ["startprob_", "transmat_", "means_", "_covars_"],
                     X_GAUSS, LENGTHS)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full", "tied"])
def test_gmm_hmm_agrees_with_hmmlearn(covariance_type):
    covars = {"diag": np.full((K, M, D), 1.5), "spherical": np.full((K, M), 1.5),
              "full": np.tile(1.5 * np.eye(D), (K, M, 1, 1)),
              "tied": np.tile(1.5 * np.eye(D), (K, 1, 1))}[covariance_type]

    def setup(m):
        m.startprob_, m.transmat_ = START, TRANS
        m.means_ = np.stack([MEANS + 0.5, MEANS - 0.5], axis=1)
        m.covars_, m.weights_ = covars, np.full((K, M), 0.5)

    X, lengths = X_GAUSS[:300], [120, 180]  # hmmlearn's GMMHMM is slow; keep it small
    peer, ours = _fit_pair(
        hl.GMMHMM(K, M, covariance_type=covariance_type, n_iter=20, tol=-np.inf,
                  init_params=""),
        GMMHMM(K, M, covariance_type=covariance_type, n_iter=20, tol=0, init_params=""),
        setup, X, lengths)
    _check_agreement(peer, ours, ["startprob_", "transmat_", "weights_", "means_", "covars_"],
                     X, lengths)


def _categorical_data():
    rng = np.random.default_rng(7)
    ref = hl.CategoricalHMM(K)
    ref.startprob_ = np.array([0.5, 0.3, 0.2])
    ref.transmat_ = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    ref.emissionprob_ = rng.dirichlet(np.ones(5), size=K)
    return ref.sample(800, random_state=3)[0], rng.dirichlet(np.ones(5), size=K)


def test_categorical_hmm_agrees_with_hmmlearn():
    X, emission = _categorical_data()

    def setup(m):
        m.startprob_, m.transmat_, m.emissionprob_ = START, TRANS, emission

    kw = dict(n_iter=20, init_params="", emissionprob_prior=1.2, transmat_prior=1.1)
    peer, ours = _fit_pair(hl.CategoricalHMM(K, tol=-np.inf, **kw),
                           CategoricalHMM(K, tol=0, **kw), setup, X, [300, 500])
    _check_agreement(peer, ours, ["startprob_", "transmat_", "emissionprob_"], X, [300, 500])


def test_poisson_hmm_agrees_with_hmmlearn():
    rng = np.random.default_rng(8)
    X = np.concatenate([rng.poisson([2, 5], size=(300, 2)), rng.poisson([8, 1], size=(300, 2))])

    def setup(m):
        m.startprob_, m.transmat_ = START, TRANS
        m.lambdas_ = np.array([[1.0, 2.0], [5.0, 5.0], [9.0, 1.0]])

    peer, ours = _fit_pair(hl.PoissonHMM(K, n_iter=20, tol=-np.inf, init_params=""),
                           PoissonHMM(K, n_iter=20, tol=0, init_params=""), setup, X, [250, 350])
    _check_agreement(peer, ours, ["startprob_", "transmat_", "lambdas_"], X, [250, 350])


def _fitted_gaussian(**kw) -> GaussianHMM:
    model = GaussianHMM(K, "full", n_iter=50, tol=1e-4, random_state=0, **kw)
    return model.fit(X_GAUSS, LENGTHS)


def test_decode_predict_and_posteriors_match_hmmlearn():
    ours = _fitted_gaussian()
    peer = hl.GaussianHMM(K, "full")
    peer.startprob_, peer.transmat_, peer.means_ = ours.startprob_, ours.transmat_, ours.means_
    peer.covars_ = ours._covars_
    for algorithm in ("viterbi", "map"):
        lp, states = ours.decode(X_GAUSS, LENGTHS, algorithm=algorithm)
        lp_ref, states_ref = peer.decode(X_GAUSS, LENGTHS, algorithm=algorithm)
        assert lp == pytest.approx(lp_ref, rel=1e-10)
        np.testing.assert_array_equal(states, states_ref)
    logprob, post = ours.score_samples(X_GAUSS, LENGTHS)
    logprob_ref, post_ref = peer.score_samples(X_GAUSS, LENGTHS)
    assert logprob == pytest.approx(logprob_ref, rel=1e-10)
    np.testing.assert_allclose(post, post_ref, atol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X_GAUSS, LENGTHS), post_ref, atol=1e-10)
    np.testing.assert_array_equal(ours.predict(X_GAUSS, LENGTHS), states_ref)


def test_fit_converges_and_recovers_means():
    model = _fitted_gaussian()
    assert model.monitor_.converged
    assert np.all(np.diff(model.monitor_.history) > -1e-8)
    order = np.argsort(model.means_[:, 0])
    np.testing.assert_allclose(model.means_[order], MEANS[np.argsort(MEANS[:, 0])], atol=0.3)


def test_n_init_keeps_the_best_and_squarem_reaches_the_same_optimum():
    single = _fitted_gaussian()
    several = _fitted_gaussian(n_init=3)
    assert several.score(X_GAUSS, LENGTHS) >= single.score(X_GAUSS, LENGTHS) - 1e-6
    fast = _fitted_gaussian(accelerate="squarem")
    assert fast.score(X_GAUSS, LENGTHS) == pytest.approx(single.score(X_GAUSS, LENGTHS),
                                                          rel=1e-6)


def test_e_step_is_additive_over_sequences():
    model = _fitted_gaussian()
    params = model._current_params()
    data = Sequences.from_arrays(X_GAUSS, LENGTHS)
    hmm = HMMModel(model._emission(X_GAUSS), K, "stmc", params, block_rows=64,
                   total_rows=len(X_GAUSS))
    whole, ll = hmm.e_step(data, params)
    first, ll1 = hmm.e_step(data.subset(slice(0, 1)), params)
    rest, ll2 = hmm.e_step(data.subset([1, 2]), params)
    assert tree_max_abs_diff(tree_add(first, rest), whole) < 1e-8
    assert ll1 + ll2 == pytest.approx(ll, rel=1e-12)
    # the engine's objective is the likelihood plus the (default) priors' log-density
    assert ll - hmm.log_prior(params) == pytest.approx(model.score(X_GAUSS, LENGTHS), rel=1e-12)


def test_sample_shapes_and_statistics():
    model = _fitted_gaussian()
    X, states = model.sample(2000, random_state=1)
    assert X.shape == (2000, D) and states.shape == (2000,)
    for k in range(K):
        np.testing.assert_allclose(X[states == k].mean(axis=0), model.means_[k], atol=0.2)
    cat = CategoricalHMM(2, n_iter=5, tol=1e3, random_state=0).fit(
        np.array([[0], [1], [2], [1]] * 20))
    Xc, _ = cat.sample(10, random_state=0)
    assert Xc.shape == (10, 1) and Xc.max() < 3


@pytest.mark.parametrize("make", [
    lambda: GaussianHMM(2, "diag", n_iter=5, random_state=0),
    lambda: GMMHMM(2, 2, covariance_type="full", n_iter=5, random_state=0),
    lambda: PoissonHMM(2, n_iter=5, random_state=0),
])
def test_save_load_round_trip(tmp_path, make):
    rng = np.random.default_rng(0)
    X = np.abs(np.round(rng.normal(3, 2, size=(120, 2))))
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)  # 5 iterations suffice here
        model.fit(X, [60, 60])
    path = model.save(tmp_path / "m.emkit")
    loaded = emkit.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert loaded.score(X, [60, 60]) == pytest.approx(model.score(X, [60, 60]), rel=1e-12)
    assert list(loaded.monitor_.history) == list(model.monitor_.history)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_categorical_save_load(tmp_path):
    X, _ = _categorical_data()
    with pytest.warns(emkit.ConvergenceWarning):
        model = CategoricalHMM(K, n_iter=3, random_state=0).fit(X)
    loaded = emkit.load(model.save(tmp_path / "c.emkit"))
    np.testing.assert_array_equal(loaded.emissionprob_, model.emissionprob_)
    # as in hmmlearn, fit sets n_features=None to the alphabet it inferred, max(X) + 1
    assert loaded.n_features == model.n_features == int(X.max()) + 1


@pytest.mark.parametrize("lengths, message", [
    ([100, 100], "sum to 200 but X has 600 rows"),
    ([300, 0, 300], "zero-length"),
    ([300, -1, 301], "positive"),
    ([[300, 300]], "1-D"),
])
def test_bad_lengths(lengths, message):
    with pytest.raises(ValueError, match=message):
        GaussianHMM(2).fit(X_GAUSS, lengths)


def test_bad_symbols_and_counts():
    model = CategoricalHMM(2, n_features=3)
    with pytest.raises(ValueError, match="outside the alphabet"):
        model.fit(np.array([[0], [1], [3]]))
    with pytest.raises(ValueError, match="non-negative"):
        CategoricalHMM(2).fit(np.array([[0], [-1], [1]]))
    fitted = CategoricalHMM(2, n_iter=2, random_state=0, tol=10.0).fit(np.array([[0, 1, 2]]).T)
    with pytest.raises(ValueError, match="outside the alphabet"):
        fitted.score(np.array([[5]]))
    with pytest.raises(ValueError, match="negative"):
        PoissonHMM(2).fit(np.array([[1.0], [-2.0], [3.0]]))
    with pytest.raises(ValueError, match="integer"):
        PoissonHMM(2).fit(np.array([[1.5], [2.0]]))


def test_bad_settings():
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianHMM(2, "banana").fit(X_GAUSS)
    with pytest.raises(ValueError, match="params has unknown"):
        GaussianHMM(2, params="stx").fit(X_GAUSS)
    with pytest.raises(ValueError, match="algorithm"):
        GaussianHMM(2, algorithm="best").fit(X_GAUSS)
    with pytest.raises(ValueError, match="not set"):
        GaussianHMM(2).score(X_GAUSS)
    model = GaussianHMM(2, init_params="mc", n_iter=2)
    model.startprob_ = np.array([0.7, 0.7])
    model.transmat_ = np.eye(2)
    with pytest.raises(ValueError, match="startprob_ must be non-negative"):
        model.fit(X_GAUSS)


def test_unreachable_state_stays_finite():
    """A state with startprob 0 and no way in keeps finite parameters (pooled data's)."""
    model = GaussianHMM(3, "full", init_params="", n_iter=10, tol=1e-4)
    model.startprob_ = np.array([0.5, 0.5, 0.0])
    model.transmat_ = np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.3, 0.3, 0.4]])
    model.means_ = MEANS
    model.covars_ = GAUSS_COVARS["full"]
    model.fit(X_GAUSS, LENGTHS)
    assert model.startprob_[2] == 0.0 and np.all(model.transmat_[:2, 2] == 0.0)
    for name in ("startprob_", "transmat_", "means_", "covars_"):
        assert np.all(np.isfinite(getattr(model, name))), name
    np.testing.assert_allclose(model.means_[2], X_GAUSS.mean(axis=0), atol=1e-8)
    assert np.all(np.isfinite(model.predict_proba(X_GAUSS, LENGTHS)))
    assert model.predict_proba(X_GAUSS, LENGTHS)[:, 2].max() == 0.0


def test_verbose_prints_each_iteration_and_stationary_distribution(capsys):
    model = GaussianHMM(K, "diag", n_iter=3, tol=0, random_state=0, verbose=True)
    with pytest.warns(emkit.ConvergenceWarning):
        model.fit(X_GAUSS, LENGTHS)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and lines[0].split()[0] == "1"
    pi = model.get_stationary_distribution()
    np.testing.assert_allclose(pi @ model.transmat_, pi, atol=1e-10)
    assert pi.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("make", [
    lambda: GMMHMM(2, 2, covariance_type="tied", n_iter=3, random_state=0),
    lambda: PoissonHMM(2, n_iter=3, random_state=0),
])
def test_sample_other_families(make):
    rng = np.random.default_rng(1)
    X = rng.poisson(3.0, size=(80, 2)).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        model = make().fit(X)
    sample, states = model.sample(50, random_state=0)
    assert sample.shape == (50, 2) and set(states) <= {0, 1}


@pytest.mark.parametrize("make", [
    lambda: GaussianHMM(K, "full", n_iter=30, tol=1e-6, random_state=3),
    lambda: GMMHMM(K, M, covariance_type="diag", n_iter=30, tol=1e-6, random_state=3),
])
def test_fit_does_not_depend_on_the_order_of_the_sequences(make):
    """hmmlearn#410: listing the same sequences in another order gives the same fit (the
    k-means start clusters the rows in sorted order; EM sums the same terms)."""
    X, lengths = X_GAUSS[:450], [200, 150, 100]
    pieces = np.split(X, np.cumsum(lengths)[:-1])
    scores = []
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        Xo = np.concatenate([pieces[i] for i in order])
        lo = [lengths[i] for i in order]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", emkit.ConvergenceWarning)
            scores.append(make().fit(Xo, lo).score(X, lengths))
    np.testing.assert_allclose(scores, scores[0], rtol=1e-10)
