"""AIC and BIC of every HMM: hmmlearn's definitions, checked against hmmlearn's values.

The same parameters are set on both models, so the log-likelihoods agree and the
criteria differ only if the parameter counts do.
"""

from __future__ import annotations

import numpy as np
import pytest
from hmmlearn import hmm as hl

import emkit
from emkit.distributions import Categorical, Gaussian, Independent, Poisson

K = 3
START = np.array([0.5, 0.3, 0.2])
TRANS = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
LENGTHS = [120, 180]
RNG = np.random.default_rng(5)
X_GAUSS = RNG.normal(size=(300, 2)) + RNG.integers(0, 3, size=(300, 1))
MEANS = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
COVARS = {"spherical": np.ones(K), "diag": np.ones((K, 2)),
          "full": np.tile(np.eye(2), (K, 1, 1)), "tied": np.eye(2)}


def _set_chain(*models):
    for m in models:
        m.startprob_, m.transmat_ = START, TRANS


def _agree(peer, ours, X, extra: float = 0.0):
    assert ours.aic(X, LENGTHS) == pytest.approx(peer.aic(X, LENGTHS) + 2 * extra, rel=1e-10)
    assert ours.bic(X, LENGTHS) == pytest.approx(
        peer.bic(X, LENGTHS) + np.log(len(X)) * extra, rel=1e-10)


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "full", "tied"])
def test_gaussian_hmm_criteria_are_hmmlearn_s(covariance_type):
    peer = hl.GaussianHMM(K, covariance_type)
    ours = emkit.GaussianHMM(K, covariance_type)
    _set_chain(peer, ours)
    for m in (peer, ours):
        m.means_, m.covars_ = MEANS, COVARS[covariance_type]
    peer.n_features = 2
    _agree(peer, ours, X_GAUSS)


def test_categorical_and_poisson_hmm_criteria_are_hmmlearn_s():
    symbols = RNG.integers(0, 4, size=(300, 1))
    probs = RNG.dirichlet(np.ones(4), size=K)
    peer, ours = hl.CategoricalHMM(K), emkit.CategoricalHMM(K)
    _set_chain(peer, ours)
    peer.emissionprob_ = ours.emissionprob_ = probs
    peer.n_features = 4
    _agree(peer, ours, symbols)

    counts = RNG.poisson(3.0, size=(300, 2)).astype(float)
    rates = np.array([[1.0, 2.0], [3.0, 3.0], [5.0, 1.0]])
    peer, ours = hl.PoissonHMM(K), emkit.PoissonHMM(K)
    _set_chain(peer, ours)
    peer.lambdas_ = ours.lambdas_ = rates
    peer.n_features = 2
    _agree(peer, ours, counts)


def test_gmm_hmm_counts_every_state_s_weights():
    """hmmlearn counts n_mix - 1 free weights for all states together; each state has its own."""
    m = 2
    peer, ours = hl.GMMHMM(K, m, "diag"), emkit.GMMHMM(K, m, covariance_type="diag")
    _set_chain(peer, ours)
    for model in (peer, ours):
        model.weights_ = np.full((K, m), 1.0 / m)
        model.means_ = np.stack([MEANS, MEANS + 0.5], axis=1)
        model.covars_ = np.ones((K, m, 2))
    peer.n_features = 2
    _agree(peer, ours, X_GAUSS, extra=(K - 1) * (m - 1))


def test_any_emission_hmm_counts_its_distributions():
    frames = np.column_stack([X_GAUSS[:, 0], RNG.poisson(2.0, 300), RNG.integers(0, 3, 300)])
    template = Independent([Gaussian(covariance_type="diag"), Poisson(), Categorical()],
                           columns=[[0], [1], [2]])
    model = emkit.HMM(template, K, n_iter=5, random_state=0).fit(frames, LENGTHS)
    # per state: a mean and a variance, a rate, two free category probabilities
    p = (K - 1) + K * (K - 1) + K * (2 + 1 + 2)
    log_likelihood = model.score(frames, LENGTHS)
    assert model.aic(frames, LENGTHS) == pytest.approx(-2 * log_likelihood + 2 * p, rel=1e-12)
    assert model.bic(frames, LENGTHS) == pytest.approx(
        -2 * log_likelihood + p * np.log(len(frames)), rel=1e-12)


def test_bic_chooses_the_number_of_states():
    rng = np.random.default_rng(0)
    states = np.repeat([0, 1, 2, 0, 1, 2], 80)
    X = rng.normal(np.array([-4.0, 0.0, 4.0])[states], 1.0)[:, None]
    # one start of K = 3 ends with two states on one level (log-likelihood -966.3, the
    # same before and after the emission refactor); the best of five finds -713.6
    bics = {k: emkit.GaussianHMM(k, n_iter=200, n_init=5, random_state=0).fit(X).bic(X)
            for k in (1, 2, 3, 4)}
    assert min(bics, key=bics.get) == 3
