"""emkit.HMM: an HMM whose states emit from any emkit distribution.

Checked against hmmlearn from identical starts (Poisson, Categorical and
Gaussian states, where hmmlearn's update is the distribution's maximum-likelihood
one), for additivity of the E-step over pieces, on Dask partitions, with
SQUAREM, mixed-type frames, saving and bad input.
"""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from hmmlearn import hmm as hl

import emkit
from emkit.distributions import Categorical, Exponential, Gaussian, Independent, Poisson
from emkit.engine.stats import tree_add, tree_max_abs_diff
from emkit.models.hmm.emission import DistributionEmission
from emkit.models.hmm.model import HMMModel, Sequences

K = 3
START = np.array([0.5, 0.3, 0.2])
TRANS = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
LENGTHS = [250, 350]


def _quiet(model, X, lengths=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return model.fit(X, lengths)


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def _poisson_counts() -> np.ndarray:
    rng = np.random.default_rng(8)
    return np.concatenate([rng.poisson([2, 5], size=(300, 2)),
                           rng.poisson([8, 1], size=(300, 2))]).astype(float)


LAMBDAS = np.array([[1.0, 2.0], [5.0, 5.0], [9.0, 1.0]])


def _poisson_pair(n_iter: int = 20):
    X = _poisson_counts()
    peer = hl.PoissonHMM(K, n_iter=n_iter, tol=-np.inf, init_params="")
    peer.startprob_, peer.transmat_, peer.lambdas_ = START, TRANS, LAMBDAS
    peer.fit(X, LENGTHS)
    ours = emkit.HMM([Poisson(rate=r) for r in LAMBDAS], K, n_iter=n_iter, tol=0,
                     init_params="")
    ours.startprob_, ours.transmat_ = START, TRANS
    _quiet(ours, X, LENGTHS)
    return X, peer, ours


def test_poisson_states_follow_hmmlearn_from_the_same_start():
    X, peer, ours = _poisson_pair()
    rates = np.stack([e.rate for e in ours.emissions_])
    assert _rel(rates, peer.lambdas_) < 1e-10
    assert _rel(ours.transmat_, peer.transmat_) < 1e-10
    assert _rel(ours.startprob_, peer.startprob_) < 1e-10
    np.testing.assert_allclose(list(ours.monitor_.history)[:20], list(peer.monitor_.history),
                               rtol=1e-10)
    assert ours.score(X, LENGTHS) == pytest.approx(peer.score(X, LENGTHS), rel=1e-10)
    np.testing.assert_array_equal(ours.predict(X, LENGTHS), peer.predict(X, LENGTHS))
    np.testing.assert_allclose(ours.predict_proba(X, LENGTHS), peer.predict_proba(X, LENGTHS),
                               atol=1e-10)


def test_categorical_states_follow_hmmlearn_from_the_same_start():
    rng = np.random.default_rng(7)
    truth = hl.CategoricalHMM(K)
    truth.startprob_, truth.transmat_ = START, TRANS
    truth.emissionprob_ = rng.dirichlet(np.ones(5), size=K)
    X = truth.sample(800, random_state=3)[0]
    emission = rng.dirichlet(np.ones(5), size=K)
    peer = hl.CategoricalHMM(K, n_iter=20, tol=-np.inf, init_params="")
    peer.startprob_, peer.transmat_, peer.emissionprob_ = START, TRANS, emission
    peer.fit(X, [300, 500])
    ours = emkit.HMM([Categorical(probs=p[None]) for p in emission], K, n_iter=20, tol=0,
                     init_params="")
    ours.startprob_, ours.transmat_ = START, TRANS
    _quiet(ours, X, [300, 500])
    probs = np.stack([e.probs[0] for e in ours.emissions_])
    assert _rel(probs, peer.emissionprob_) < 1e-10
    assert _rel(ours.transmat_, peer.transmat_) < 1e-10
    np.testing.assert_allclose(list(ours.monitor_.history)[:20], list(peer.monitor_.history),
                               rtol=1e-10)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_gaussian_states_follow_hmmlearn_without_priors(covariance_type):
    """hmmlearn's GaussianHMM with covars_prior=0, covars_weight=1 is maximum likelihood."""
    rng = np.random.default_rng(2)
    means = np.array([[0.0, 0.0], [3.0, 3.0], [-3.0, 2.0]])
    X = np.concatenate([rng.normal(m, 1.0, size=(200, 2)) for m in means])
    covs = np.tile(np.eye(2) * 1.5, (K, 1, 1))
    diag = np.full((K, 2), 1.5)
    peer = hl.GaussianHMM(K, covariance_type, n_iter=15, tol=-np.inf, init_params="",
                          covars_prior=0.0, covars_weight=1.0)
    peer.startprob_, peer.transmat_, peer.means_ = START, TRANS, means
    peer.covars_ = diag if covariance_type == "diag" else covs
    peer.fit(X)
    start = [Gaussian(mean=m, covariance=(diag[k] if covariance_type == "diag" else covs[k]),
                      covariance_type=covariance_type, reg_covar=0.0)
             for k, m in enumerate(means)]
    ours = emkit.HMM(start, K, n_iter=15, tol=0, init_params="")
    ours.startprob_, ours.transmat_ = START, TRANS
    _quiet(ours, X)
    assert _rel(np.stack([e.mean for e in ours.emissions_]), peer.means_) < 1e-10
    ours_cov = np.stack([e.full_covariance() for e in ours.emissions_])
    assert _rel(ours_cov, peer.covars_) < 1e-10
    np.testing.assert_allclose(list(ours.monitor_.history)[:15], list(peer.monitor_.history),
                               rtol=1e-10)


def test_e_step_statistics_add_up_over_pieces():
    X = _poisson_counts()
    data = Sequences.from_arrays(X, [100, 150, 350])
    emission = DistributionEmission([Poisson()] * K)
    params = {"startprob": START, "transmat": TRANS,
              "emissions": [{"rate": r} for r in LAMBDAS]}
    model = HMMModel(emission, K, "ste", params)
    whole, ll = model.e_step(data, params)
    a, ll_a = model.e_step(data.subset(slice(0, 2)), params)
    b, ll_b = model.e_step(data.subset(slice(2, 3)), params)
    assert tree_max_abs_diff(tree_add(a, b), whole) < 1e-9
    assert ll_a + ll_b == pytest.approx(ll, rel=1e-12)


def test_dask_partitions_give_the_in_memory_fit():
    X = _poisson_counts()
    kw = {"n_components": K, "n_iter": 12, "tol": 0.0, "random_state": 0}
    local = _quiet(emkit.HMM(Poisson(), **kw), X, LENGTHS)
    with dask.config.set(scheduler="synchronous"):
        remote = _quiet(emkit.HMM(Poisson(), **kw), da.from_array(X, chunks=((250, 350), 2)),
                        LENGTHS)
    np.testing.assert_allclose(np.stack([e.rate for e in remote.emissions_]),
                               np.stack([e.rate for e in local.emissions_]), rtol=1e-8)
    np.testing.assert_allclose(remote.monitor_.history, local.monitor_.history, rtol=1e-10)


def test_squarem_reaches_the_plain_fit_in_fewer_iterations():
    X = _poisson_counts()
    kw = {"n_components": K, "n_iter": 5000, "tol": 1e-6, "random_state": 1}
    plain = emkit.HMM(Poisson(), **kw).fit(X, LENGTHS)
    fast = emkit.HMM(Poisson(), accelerate="squarem", **kw).fit(X, LENGTHS)
    # plain EM crawls here (966 iterations); SQUAREM gets at least as high in far fewer
    assert fast.score(X, LENGTHS) >= plain.score(X, LENGTHS) - 1e-6
    assert fast.monitor_.iter < plain.monitor_.iter / 5


def test_mixed_type_frames_recover_the_states():
    """A Gaussian column, a count and a category per frame, two well-separated states."""
    rng = np.random.default_rng(3)
    states = np.repeat([0, 1, 0, 1], 150)
    frames = np.column_stack([
        rng.normal(np.where(states == 0, -2.0, 2.0), 1.0),
        rng.poisson(np.where(states == 0, 1.0, 6.0)),
        np.where(rng.random(states.size) < np.where(states == 0, 0.9, 0.1), 0, 1),
    ])
    template = Independent([Gaussian(covariance_type="diag"), Poisson(), Categorical()],
                           columns=[[0], [1], [2]])
    seen = []
    with emkit.engine.observe(lambda step: seen.append(step.loglik)):
        model = emkit.HMM(template, 2, n_iter=100, tol=1e-6, random_state=0).fit(frames)
    assert np.all(np.diff(seen) >= -1e-8 * np.abs(seen[:-1]))
    predicted = model.predict(frames)
    accuracy = max(np.mean(predicted == states), np.mean(predicted != states))
    assert accuracy > 0.97
    assert model.monitor_.converged


def test_save_load_round_trip(tmp_path):
    X, _, ours = _poisson_pair(n_iter=5)
    path = ours.save(tmp_path / "hmm.emkit")
    loaded = emkit.load(path)
    assert isinstance(loaded.emissions_[0], Poisson)
    assert loaded.score(X, LENGTHS) == ours.score(X, LENGTHS)
    np.testing.assert_array_equal(loaded.predict(X, LENGTHS), ours.predict(X, LENGTHS))


def test_sample_draws_from_the_states():
    model = emkit.HMM([Exponential(rate=[10.0]), Exponential(rate=[0.1])], 2, init_params="")
    model.startprob_ = np.array([1.0, 0.0])
    model.transmat_ = np.array([[0.5, 0.5], [0.5, 0.5]])
    X, states = model.sample(4000, random_state=0)
    assert X.shape == (4000, 1) and states.shape == (4000,)
    assert X[states == 0].mean() == pytest.approx(0.1, rel=0.1)
    assert X[states == 1].mean() == pytest.approx(10.0, rel=0.1)


def test_warm_start_without_e_in_init_params_continues_from_the_fit():
    X = _poisson_counts()
    first = _quiet(emkit.HMM(Poisson(), K, n_iter=3, random_state=0), X, LENGTHS)
    before = first.score(X, LENGTHS)
    first.set_params(init_params="")
    _quiet(first, X, LENGTHS)
    assert first.score(X, LENGTHS) >= before - 1e-9


def test_bad_input_is_refused():
    X = _poisson_counts()
    with pytest.raises(ValueError, match=r"emission must be an emkit\.distributions"):
        emkit.HMM(None, 2).fit(X)
    with pytest.raises(ValueError, match="3 distributions were given"):
        emkit.HMM([Poisson()] * 3, 2).fit(X)
    with pytest.raises(ValueError, match="non-negative integer counts"):
        emkit.HMM(Poisson(), 2).fit(-X)
    with pytest.raises(ValueError, match="NaN"):
        emkit.HMM(Poisson(), 2).fit(np.where(X > 7, np.nan, X))
    with pytest.raises(ValueError, match="lengths sum"):
        emkit.HMM(Poisson(), 2).fit(X, [10, 10])


def test_emissions_not_given_are_initialized_without_e_in_init_params():
    """hmmlearn's rule: a parameter that is not set is initialized even when its letter
    is missing from init_params, exactly as with the letter."""
    X = _poisson_counts()
    without = _quiet(emkit.HMM(Poisson(), 2, init_params="st", n_iter=3, random_state=0),
                     X, LENGTHS)
    with_e = _quiet(emkit.HMM(Poisson(), 2, init_params="ste", n_iter=3, random_state=0),
                    X, LENGTHS)
    assert [e.rate[0] for e in without.emissions_] == [e.rate[0] for e in with_e.emissions_]


def test_poisson_hmm_with_hmmlearn_prior_terms_follows_hmmlearn():
    """PoissonHMM's lambdas_prior / lambdas_weight keep hmmlearn's rate rule."""
    X = _poisson_counts()
    kw = dict(n_iter=10, init_params="", lambdas_prior=2.0, lambdas_weight=0.5)
    peer = hl.PoissonHMM(K, tol=-np.inf, **kw)
    ours = emkit.PoissonHMM(K, tol=0, **kw)
    for model in (peer, ours):
        model.startprob_, model.transmat_, model.lambdas_ = START, TRANS, LAMBDAS
    peer.fit(X, LENGTHS)
    _quiet(ours, X, LENGTHS)
    assert _rel(ours.lambdas_, peer.lambdas_) < 1e-10
    assert _rel(ours.transmat_, peer.transmat_) < 1e-10
    np.testing.assert_allclose(list(ours.monitor_.history)[:10], list(peer.monitor_.history),
                               rtol=1e-10)


def test_an_unreachable_state_keeps_valid_parameters():
    """A state nothing can enter: Poisson rates from no data (0) are valid and kept."""
    X = _poisson_counts()
    model = emkit.HMM([Poisson(rate=r) for r in LAMBDAS], K, n_iter=5, tol=0, init_params="")
    model.startprob_ = np.array([0.5, 0.5, 0.0])
    model.transmat_ = np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.3, 0.3, 0.4]])
    _quiet(model, X, LENGTHS)
    assert model.transmat_[0, 2] == 0.0 and model.startprob_[2] == 0.0
    assert np.all(np.isfinite(model.emissions_[2].rate))
    assert model.predict_proba(X, LENGTHS)[:, 2].max() == 0.0


def test_an_unreachable_exponential_state_keeps_its_start():
    """No data give an Exponential no valid rate: the state keeps its starting one."""
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.exponential(1.0, 200), rng.exponential(5.0, 200)])[:, None]
    start = [Exponential(rate=[1.0]), Exponential(rate=[0.2]), Exponential(rate=[3.0])]
    model = emkit.HMM(start, 3, n_iter=5, tol=0, init_params="")
    model.startprob_ = np.array([0.5, 0.5, 0.0])
    model.transmat_ = np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.3, 0.3, 0.4]])
    _quiet(model, X)
    np.testing.assert_array_equal(model.emissions_[2].rate, [3.0])


def test_a_model_set_by_hand_saves_and_scores_without_a_fit(tmp_path):
    X = _poisson_counts()
    model = emkit.HMM([Poisson(rate=r) for r in LAMBDAS], K, init_params="")
    model.startprob_, model.transmat_ = START, TRANS
    loaded = emkit.load(model.save(tmp_path / "by_hand.emkit"))
    assert loaded.score(X, LENGTHS) == pytest.approx(model.score(X, LENGTHS), rel=1e-12)
