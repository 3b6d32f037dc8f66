"""MultinomialHMM and the Multinomial distribution: hmmlearn's trajectory, scipy's log-mass,
input checks, sampling and saving."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from hmmlearn import hmm as hl
from scipy import stats

import emkit
from emkit.distributions import Multinomial

K, C, TRIALS = 3, 4, 6
START = np.full(K, 1.0 / K)
TRANS = np.full((K, K), 0.5 / K) + 0.5 * np.eye(K)
EMISSION = np.array([[0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]])
LENGTHS = [200, 150, 250]


def _peer(**kw) -> hl.MultinomialHMM:
    logging.getLogger("hmmlearn").disabled = True  # its constructor logs a notice each time
    try:
        return hl.MultinomialHMM(K, **kw)
    finally:
        logging.getLogger("hmmlearn").disabled = False


def _data() -> np.ndarray:
    ref = _peer(n_trials=TRIALS)
    ref.startprob_ = np.array([0.5, 0.3, 0.2])
    ref.transmat_ = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    ref.emissionprob_ = np.array([[0.6, 0.2, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1],
                                  [0.1, 0.1, 0.2, 0.6]])
    return ref.sample(sum(LENGTHS), random_state=1)[0]


X = _data()


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _fit_quietly(model, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return model.fit(*args)


@pytest.mark.parametrize("params", ["ste", "e", "st"])
def test_multinomial_hmm_follows_hmmlearn_from_the_same_start(params):
    """Same Baum-Welch updates as hmmlearn: 20 iterations agree to 1e-10 relative (measured
    3.5e-13: only summation order differs, log-space vs scaled recursions)."""
    peer = _peer(n_trials=TRIALS, n_iter=20, tol=-np.inf, init_params="", params=params)
    ours = emkit.MultinomialHMM(K, n_trials=TRIALS, n_iter=20, tol=0, init_params="",
                                params=params)
    for model in (peer, ours):
        model.startprob_, model.transmat_, model.emissionprob_ = START, TRANS, EMISSION
    peer.fit(X, LENGTHS)
    _fit_quietly(ours, X, LENGTHS)
    for name in ("startprob_", "transmat_", "emissionprob_"):
        assert _rel(getattr(ours, name), getattr(peer, name)) < 1e-10, name
    assert ours.score(X, LENGTHS) == pytest.approx(peer.score(X, LENGTHS), rel=1e-12)
    np.testing.assert_allclose(list(ours.monitor_.history)[:20], list(peer.monitor_.history),
                               rtol=1e-12)
    assert ours.aic(X, LENGTHS) == pytest.approx(peer.aic(X, LENGTHS), rel=1e-12)
    assert ours.bic(X, LENGTHS) == pytest.approx(peer.bic(X, LENGTHS), rel=1e-12)


def test_multinomial_hmm_with_per_row_trials_follows_hmmlearn():
    """Rows with different totals (n_trials=None): hmmlearn's trajectory, and fit leaves
    n_trials None because the rows have no common total."""
    Xv = X.copy()
    Xv[::2] *= 2
    peer = _peer(n_trials=None, n_iter=10, tol=-np.inf, init_params="")
    ours = emkit.MultinomialHMM(K, n_iter=10, tol=0, init_params="")
    for model in (peer, ours):
        model.startprob_, model.transmat_, model.emissionprob_ = START, TRANS, EMISSION
    peer.fit(Xv, LENGTHS)
    _fit_quietly(ours, Xv, LENGTHS)
    assert _rel(ours.emissionprob_, peer.emissionprob_) < 1e-10
    assert _rel(ours.transmat_, peer.transmat_) < 1e-10
    assert ours.n_trials is None
    with pytest.raises(ValueError, match="one n_trials"):
        ours.sample(5)


def test_n_trials_none_becomes_the_common_total_and_sampling_uses_it():
    model = _fit_quietly(emkit.MultinomialHMM(K, n_iter=3, random_state=0), X, LENGTHS)
    assert model.n_trials == TRIALS
    sample, states = model.sample(200, random_state=0)
    assert sample.shape == (200, C) and states.shape == (200,)
    np.testing.assert_array_equal(sample.sum(axis=1), TRIALS)


def test_save_load_round_trip(tmp_path):
    model = _fit_quietly(emkit.MultinomialHMM(K, n_trials=TRIALS, n_iter=5, random_state=0),
                         X, LENGTHS)
    loaded = emkit.load(model.save(tmp_path / "multinomial.emkit"))
    assert type(loaded) is emkit.MultinomialHMM
    assert loaded.get_params() == model.get_params()
    for name in ("startprob_", "transmat_", "emissionprob_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert loaded.score(X, LENGTHS) == model.score(X, LENGTHS)
    np.testing.assert_array_equal(loaded.predict(X, LENGTHS), model.predict(X, LENGTHS))
    assert list(loaded.monitor_.history) == list(model.monitor_.history)


def test_bad_counts_are_refused():
    model = emkit.MultinomialHMM(K, n_trials=TRIALS)
    with pytest.raises(ValueError, match="row 2 sums to 7"):
        model.fit(np.array([[3, 3, 0, 0], [6, 0, 0, 0], [4, 3, 0, 0]]))
    with pytest.raises(ValueError, match="non-negative integer counts"):
        emkit.MultinomialHMM(K).fit(np.array([[1, -1, 2, 4]] * 5))
    with pytest.raises(ValueError, match="non-negative integer counts"):
        emkit.MultinomialHMM(K).fit(np.array([[0.5, 2.5, 1, 2]] * 5))
    with pytest.raises(ValueError, match="one per row"):
        emkit.MultinomialHMM(K, n_trials=[6, 6]).fit(X)
    fitted = _fit_quietly(emkit.MultinomialHMM(K, n_iter=2, random_state=0), X, LENGTHS)
    with pytest.raises(ValueError, match="3 categories"):
        fitted.score(X[:, :3])


def test_multinomial_log_mass_is_scipys():
    probs = np.array([0.5, 0.3, 0.0, 0.2])
    rows = np.array([[2, 1, 0, 3], [0, 0, 0, 1], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=float)
    ours = Multinomial(probs).log_prob(rows)
    expected = [stats.multinomial.logpmf(r, n=r.sum(), p=probs) for r in rows]
    np.testing.assert_allclose(ours[[0, 1, 3]], np.asarray(expected)[[0, 1, 3]], rtol=1e-14)
    assert ours[2] == -np.inf  # a count of an outcome of probability 0


def test_multinomial_fits_the_pooled_proportions_and_samples_its_trials():
    rows = np.array([[1, 2, 3], [0, 4, 2], [3, 3, 0]], dtype=float)
    weights = np.array([1.0, 2.0, 0.5])
    fitted = Multinomial().fit(rows, weights)
    expected = weights @ rows / (weights @ rows).sum()  # the weighted MLE, closed form
    np.testing.assert_allclose(fitted.probs, expected, rtol=1e-15)
    assert fitted.n_parameters == 2
    draws = Multinomial(fitted.probs, n_trials=6).sample(4000, rng=0)
    np.testing.assert_array_equal(draws.sum(axis=1), 6)
    np.testing.assert_allclose(draws.mean(axis=0) / 6, fitted.probs, atol=0.02)
    with pytest.raises(ValueError, match="needs n_trials"):
        fitted.sample(3)
    with pytest.raises(ValueError, match="row 1 sums to 6"):
        Multinomial(n_trials=5).fit(np.array([[1, 4, 0], [2, 2, 2]]))


def test_hmm_with_multinomial_emission_equals_multinomial_hmm():
    """emkit.HMM(Multinomial()) is the same model as MultinomialHMM: same trajectory."""
    hmm = emkit.HMM(Multinomial(), K, n_iter=10, tol=0, init_params="")
    hmm.startprob_, hmm.transmat_ = START, TRANS
    hmm.emission = [Multinomial(row) for row in EMISSION]
    named = emkit.MultinomialHMM(K, n_iter=10, tol=0, init_params="")
    named.startprob_, named.transmat_, named.emissionprob_ = START, TRANS, EMISSION
    _fit_quietly(hmm, X, LENGTHS)
    _fit_quietly(named, X, LENGTHS)
    np.testing.assert_allclose(np.stack([e.probs for e in hmm.emissions_]),
                               named.emissionprob_, rtol=1e-12)
    np.testing.assert_allclose(hmm.transmat_, named.transmat_, rtol=1e-12)
