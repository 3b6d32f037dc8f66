"""Per-sequence weights of the HMM fits: integer weights equal repeated sequences (also
against hmmlearn fitted on the repeated data), 0 equals dropping, the priors count once,
chunked and Dask fits equal in-memory ones, restarts, the weighted starts, bad weights."""

from __future__ import annotations

import itertools
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from hmmlearn import hmm as hl

import emkit
from emkit.distributions import Gaussian, Poisson
from emkit.engine import em
from emkit.engine.stats import tree_add, tree_max_abs_diff, tree_scale
from emkit.models.hmm.model import HMMModel, Sequences

K = 2
LENGTHS = np.array([40, 60, 50, 30])
WEIGHTS = np.array([2, 1, 3, 1])
START = np.array([0.6, 0.4])
TRANS = np.array([[0.85, 0.15], [0.25, 0.75]])


def _states(seed: int) -> np.ndarray:
    """A two-state Markov chain per sequence, back to back."""
    rng = np.random.default_rng(seed)
    out = []
    for n in LENGTHS:
        s = int(rng.random() < START[1])
        for _ in range(n):
            out.append(s)
            s = int(rng.random() < TRANS[s, 1])
    return np.array(out)


STATES = _states(0)
_RNG = np.random.default_rng(1)
# well separated states, so that k-means finds the same two clusters from any seed
X_GAUSS = np.where(STATES[:, None] == 0, [-4.0, 0.0], [4.0, 3.0]) + _RNG.normal(
    size=(len(STATES), 2)) * np.array([1.0, 0.7])
X_COUNTS = _RNG.poisson(np.where(STATES[:, None] == 0, [1.0, 6.0], [7.0, 2.0]))
X_SYMBOLS = np.where(_RNG.random(len(STATES)) < np.where(STATES == 0, 0.8, 0.15), 0,
                     _RNG.integers(1, 4, size=len(STATES)))[:, None]
X_TRIALS = np.stack([_RNG.multinomial(5, [0.6, 0.3, 0.1] if s == 0 else [0.1, 0.3, 0.6])
                     for s in STATES])


def repeat_sequences(X, lengths, weights):
    """The sequences of ``X`` listed ``weights[s]`` times each (an independent reference)."""
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    parts, out_lengths = [], []
    for s, count in enumerate(weights):
        for _ in range(int(count)):
            parts.append(X[offsets[s]:offsets[s + 1]])
            out_lengths.append(int(lengths[s]))
    return np.concatenate(parts), np.array(out_lengths)


def quiet_fit(model, X, lengths=None, sample_weight=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return model.fit(X, lengths, sample_weight=sample_weight)


def history(model) -> np.ndarray:
    return np.array(list(model.monitor_.history))


def gaussian_start(model):
    model.startprob_, model.transmat_ = START, TRANS
    model.means_ = np.array([[-3.0, 1.0], [3.0, 2.0]])
    covars = {"diag": np.full((K, 2), 2.0), "spherical": np.full(K, 2.0),
              "full": np.tile(2.0 * np.eye(2), (K, 1, 1)), "tied": 2.0 * np.eye(2)}
    model.covars_ = covars[model.covariance_type]
    return model


def gmm_start(model):
    model.startprob_, model.transmat_ = START, TRANS
    model.means_ = np.array([[[-3.0, 0.0], [-4.5, 1.0]], [[3.0, 2.0], [5.0, 3.5]]])
    model.covars_ = np.tile(1.5 * np.eye(2), (K, 2, 1, 1))
    model.weights_ = np.full((K, 2), 0.5)
    return model


def counts_start(model):
    model.startprob_, model.transmat_ = START, TRANS
    model.lambdas_ = np.array([[2.0, 4.0], [5.0, 3.0]])
    return model


def symbols_start(model):
    model.startprob_, model.transmat_ = START, TRANS
    model.emissionprob_ = np.array([[0.4, 0.2, 0.2, 0.2], [0.1, 0.3, 0.3, 0.3]])
    return model


def trials_start(model):
    model.startprob_, model.transmat_ = START, TRANS
    model.emissionprob_ = np.array([[0.4, 0.35, 0.25], [0.25, 0.35, 0.4]])
    return model


FIT = {"n_iter": 15, "tol": 0}

# (emkit estimator with a start, hmmlearn's with the same start or None, data, attributes)
CASES = {
    "gaussian-diag": (lambda: gaussian_start(emkit.GaussianHMM(K, "diag", init_params="",
                                                                **FIT)),
                      lambda: gaussian_start(hl.GaussianHMM(K, "diag", init_params="",
                                                            n_iter=15, tol=-np.inf)),
                      X_GAUSS, ("startprob_", "transmat_", "means_", "_covars_")),
    "gaussian-full-priors": (
        lambda: gaussian_start(emkit.GaussianHMM(
            K, "full", init_params="", startprob_prior=2.0, transmat_prior=1.5,
            means_prior=0.5, means_weight=2.0, covars_prior=0.3, covars_weight=3.0, **FIT)),
        lambda: gaussian_start(hl.GaussianHMM(
            K, "full", init_params="", startprob_prior=2.0, transmat_prior=1.5,
            means_prior=0.5, means_weight=2.0, covars_prior=0.3, covars_weight=3.0,
            n_iter=15, tol=-np.inf)),
        X_GAUSS, ("startprob_", "transmat_", "means_", "_covars_")),
    "gmm-full": (lambda: gmm_start(emkit.GMMHMM(K, 2, covariance_type="full",
                                                init_params="", **FIT)),
                 lambda: gmm_start(hl.GMMHMM(K, 2, covariance_type="full", init_params="",
                                             n_iter=15, tol=-np.inf)),
                 X_GAUSS, ("startprob_", "transmat_", "weights_", "means_", "covars_")),
    "poisson": (lambda: counts_start(emkit.PoissonHMM(K, init_params="", **FIT)),
                lambda: counts_start(hl.PoissonHMM(K, init_params="", n_iter=15,
                                                   tol=-np.inf)),
                X_COUNTS, ("startprob_", "transmat_", "lambdas_")),
    "categorical-priors": (
        lambda: symbols_start(emkit.CategoricalHMM(K, init_params="", emissionprob_prior=1.3,
                                                   transmat_prior=1.2, **FIT)),
        lambda: symbols_start(hl.CategoricalHMM(K, init_params="", emissionprob_prior=1.3,
                                                transmat_prior=1.2, n_iter=15,
                                                tol=-np.inf)),
        X_SYMBOLS, ("startprob_", "transmat_", "emissionprob_")),
    "multinomial": (lambda: trials_start(emkit.MultinomialHMM(K, n_trials=5, init_params="",
                                                              **FIT)),
                    lambda: trials_start(hl.MultinomialHMM(K, n_trials=5, init_params="",
                                                           n_iter=15, tol=-np.inf)),
                    X_TRIALS, ("startprob_", "transmat_", "emissionprob_")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_integer_weights_equal_repeated_sequences_and_hmmlearn_on_them(name):
    make, make_peer, X, attrs = CASES[name]
    weighted = quiet_fit(make(), X, LENGTHS, sample_weight=WEIGHTS)
    X_rep, lengths_rep = repeat_sequences(X, LENGTHS, WEIGHTS)
    repeated = quiet_fit(make(), X_rep, lengths_rep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hmmlearn's MultinomialHMM notice
        peer = make_peer().fit(X_rep, lengths_rep)
    np.testing.assert_allclose(history(weighted), history(repeated), rtol=1e-10)
    np.testing.assert_allclose(history(weighted)[:15], list(peer.monitor_.history), rtol=1e-10)
    for attr in attrs:
        np.testing.assert_allclose(getattr(weighted, attr), getattr(repeated, attr),
                                   rtol=1e-10, atol=1e-13, err_msg=attr)
        np.testing.assert_allclose(getattr(weighted, attr), getattr(peer, attr),
                                   rtol=1e-9, atol=1e-12, err_msg=attr)
    # the weights changed the fit: the unweighted one differs
    plain = quiet_fit(make(), X, LENGTHS)
    assert np.max(np.abs(plain.transmat_ - weighted.transmat_)) > 1e-4


def test_distribution_hmm_weights_equal_repeated_sequences():
    """emkit.HMM of any family: Poisson states from given rates, Gaussian from given ones."""
    for template, X, emissions in [
            (Poisson(), X_COUNTS, [Poisson(rate=[2.0, 4.0]), Poisson(rate=[5.0, 3.0])]),
            (Gaussian(covariance_type="diag"), X_GAUSS,
             [Gaussian(covariance_type="diag", mean=[-3.0, 1.0], covariance=[2.0, 2.0]),
              Gaussian(covariance_type="diag", mean=[3.0, 2.0], covariance=[2.0, 2.0])])]:
        def make(template=template, emissions=emissions):
            model = emkit.HMM(emissions, K, init_params="", **FIT)
            model.startprob_, model.transmat_ = START, TRANS
            return model

        weighted = quiet_fit(make(), X, LENGTHS, sample_weight=WEIGHTS)
        repeated = quiet_fit(make(), *repeat_sequences(X, LENGTHS, WEIGHTS))
        np.testing.assert_allclose(history(weighted), history(repeated), rtol=1e-10)
        np.testing.assert_allclose(weighted.transmat_, repeated.transmat_, rtol=1e-10)
        for ours, ref in zip(weighted.emissions_, repeated.emissions_, strict=True):
            for key, value in ours.parameters().items():
                np.testing.assert_allclose(value, ref.parameters()[key], rtol=1e-10)


def test_weight_zero_equals_dropping_the_sequence():
    weights = np.array([1.0, 0.0, 2.0, 1.0])
    kept = np.array([True, False, True, True])
    X_kept, lengths_kept = repeat_sequences(X_GAUSS, LENGTHS, kept.astype(int))
    make = CASES["gaussian-full-priors"][0]
    weighted = quiet_fit(make(), X_GAUSS, LENGTHS, sample_weight=weights)
    dropped = quiet_fit(make(), X_kept, lengths_kept, sample_weight=weights[kept])
    np.testing.assert_allclose(history(weighted), history(dropped), rtol=1e-10)
    np.testing.assert_allclose(weighted.means_, dropped.means_, rtol=1e-10)
    np.testing.assert_allclose(weighted.transmat_, dropped.transmat_, rtol=1e-10)


def test_a_zero_weight_sequence_may_be_impossible_under_the_model():
    """A dropped sequence is not even evaluated: an impossible one changes nothing."""
    def make():
        model = symbols_start(emkit.CategoricalHMM(K, n_features=4, init_params="", **FIT))
        model.emissionprob_ = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]])
        return model

    X = np.array([[0], [1], [2], [1], [0], [1], [3], [3], [3]])  # symbol 3: impossible
    weighted = quiet_fit(make(), X, [6, 3], sample_weight=[1.0, 0.0])
    alone = quiet_fit(make(), X[:6])
    assert np.isfinite(weighted.monitor_.history[-1])
    np.testing.assert_allclose(history(weighted), history(alone), rtol=1e-12)


def test_fractional_weights_scale_the_likelihood_not_the_fit_at_flat_priors():
    """With the default (flat) priors, multiplying every weight by c leaves each M-step
    unchanged and multiplies the log-likelihood by c; with a Dirichlet prior it does not,
    since the prior counts once."""
    make = CASES["poisson"][0]
    base = quiet_fit(make(), X_COUNTS, LENGTHS, sample_weight=WEIGHTS)
    scaled = quiet_fit(make(), X_COUNTS, LENGTHS, sample_weight=0.37 * WEIGHTS)
    np.testing.assert_allclose(history(scaled), 0.37 * history(base), rtol=1e-10)
    np.testing.assert_allclose(scaled.lambdas_, base.lambdas_, rtol=1e-10)
    np.testing.assert_allclose(scaled.transmat_, base.transmat_, rtol=1e-10)

    def prior(model):
        model.transmat_prior = 3.0
        return model

    base = quiet_fit(prior(make()), X_COUNTS, LENGTHS, sample_weight=WEIGHTS)
    scaled = quiet_fit(prior(make()), X_COUNTS, LENGTHS, sample_weight=0.37 * WEIGHTS)
    assert np.max(np.abs(scaled.transmat_ - base.transmat_)) > 1e-3


def test_monitored_loglik_is_weighted_and_score_is_not():
    model = quiet_fit(CASES["gaussian-diag"][0](), X_GAUSS, LENGTHS, sample_weight=WEIGHTS)
    peer = hl.GaussianHMM(K, "diag", init_params="")
    peer.startprob_, peer.transmat_, peer.means_ = (model.startprob_, model.transmat_,
                                                    model.means_)
    peer.covars_ = model._covars_
    offsets = np.concatenate([[0], np.cumsum(LENGTHS)])
    per_sequence = np.array([peer.score(X_GAUSS[a:b]) for a, b in itertools.pairwise(offsets)])
    # the last monitored value is the weighted log-likelihood at the fitted parameters
    assert model.monitor_.history[-1] == pytest.approx(WEIGHTS @ per_sequence, rel=1e-10)
    assert model.score(X_GAUSS, LENGTHS) == pytest.approx(per_sequence.sum(), rel=1e-10)
    assert model.bic(X_GAUSS, LENGTHS) == pytest.approx(peer.bic(X_GAUSS, LENGTHS), rel=1e-10)
    assert model.aic(X_GAUSS, LENGTHS) == pytest.approx(peer.aic(X_GAUSS, LENGTHS), rel=1e-10)


def test_weights_of_one_equal_the_unweighted_fit():
    make = CASES["gmm-full"][0]
    ones = quiet_fit(make(), X_GAUSS, LENGTHS, sample_weight=np.ones(len(LENGTHS)))
    plain = quiet_fit(make(), X_GAUSS, LENGTHS)
    np.testing.assert_allclose(history(ones), history(plain), rtol=1e-12)
    np.testing.assert_allclose(ones.means_, plain.means_, rtol=1e-12)


@pytest.mark.parametrize("bad, message", [
    ([1.0, 2.0, 3.0], "one weight per sequence"),
    ([[1.0, 2.0, 3.0, 4.0]], "one weight per sequence"),
    ([1.0, -1.0, 2.0, 1.0], "non-negative"),
    ([1.0, np.nan, 2.0, 1.0], "finite"),
    ([1.0, np.inf, 2.0, 1.0], "finite"),
    ([0.0, 0.0, 0.0, 0.0], "zero for every sequence"),
    (["a", "b", "c", "d"], "numbers"),
])
def test_bad_weights_are_refused_by_name(bad, message):
    for model in (emkit.GaussianHMM(K), emkit.CategoricalHMM(K), emkit.MultinomialHMM(K),
                  emkit.HMM(Poisson(), K)):
        X = {"GaussianHMM": X_GAUSS, "CategoricalHMM": X_SYMBOLS,
             "MultinomialHMM": X_TRIALS, "HMM": X_COUNTS}[type(model).__name__]
        with pytest.raises(ValueError, match="sample_weight") as info:
            model.fit(X, LENGTHS, sample_weight=bad)
        assert message in str(info.value)
    with pytest.raises(ValueError, match="sample_weight"), \
            dask.config.set(scheduler="synchronous"):
        emkit.GaussianHMM(K).fit(da.from_array(X_GAUSS, chunks=((100, 80), 2)), LENGTHS,
                                 sample_weight=bad)


def _weighted_sequences(X, weights):
    return Sequences.from_arrays(X, LENGTHS, weights)


def test_weighted_e_step_adds_up_over_pieces_and_blocks():
    model = gaussian_start(emkit.GaussianHMM(K, "full"))
    params = model._current_params()
    weights = np.array([2.0, 0.0, 0.5, 1.5])
    data = _weighted_sequences(X_GAUSS, weights)
    whole = HMMModel(model._emission(X_GAUSS), K, "stmc", params, total_rows=len(X_GAUSS))
    small = HMMModel(model._emission(X_GAUSS), K, "stmc", params, block_rows=37,
                     total_rows=len(X_GAUSS))
    stats, ll = whole.e_step(data, params)
    blocked, ll_blocked = small.e_step(data, params)
    assert tree_max_abs_diff(blocked, stats) < 1e-9
    assert ll_blocked == pytest.approx(ll, rel=1e-12)
    # a piece holding only the zero-weight sequence adds zero statistics
    parts = [whole.e_step(data.subset(idx), params) for idx in ([0], [1], [2, 3])]
    zero, ll_zero = parts[1]
    for key in ("start", "trans", "visits"):
        assert not np.any(zero[key]), key
    assert tree_max_abs_diff(zero["emission"], tree_scale(stats["emission"], 0.0)) == 0
    share = LENGTHS[1] / len(X_GAUSS)
    assert ll_zero == pytest.approx(share * whole.log_prior(params), rel=1e-12)
    total = parts[0][0]
    for piece, _ in parts[1:]:
        total = tree_add(total, piece)
    assert tree_max_abs_diff(total, stats) < 1e-9
    assert sum(p[1] for p in parts) == pytest.approx(ll, rel=1e-12)
    # reordering sequences changes only the order of the additions
    grouped, ll_grouped = whole.e_step(data.subset([2, 0, 3, 1]), params)
    assert tree_max_abs_diff(grouped, stats) < 1e-9
    assert ll_grouped == pytest.approx(ll, rel=1e-12)
    # the reference: the weighted sum of each sequence's own E-step
    plain = HMMModel(model._emission(X_GAUSS), K, "stmc", params)
    ref_ll = 0.0
    for s, w in enumerate(weights):
        piece = Sequences.from_arrays(X_GAUSS, LENGTHS).subset([s])
        _, ll_s = plain.e_step(piece, params)
        ref_ll += w * (ll_s - plain.log_prior(params))
    assert ll - whole.log_prior(params) == pytest.approx(ref_ll, rel=1e-12)


def test_chunked_weighted_fit_equals_in_memory():
    """Baum-Welch in blocks of 37 rows (sequences cut into weight runs and blocks) follows
    the estimator's in-memory fit."""
    weights = np.array([2.0, 0.0, 0.5, 1.5])
    model = quiet_fit(CASES["gaussian-full-priors"][0](), X_GAUSS, LENGTHS,
                      sample_weight=weights)
    start = CASES["gaussian-full-priors"][0]()
    init = start._current_params()
    hmm = HMMModel(start._emission(X_GAUSS), K, start.params, init,
                   start.startprob_prior, start.transmat_prior, block_rows=37,
                   total_rows=len(X_GAUSS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        result = em(hmm, _weighted_sequences(X_GAUSS, weights), init, tol=0, max_iter=15)
    np.testing.assert_allclose(result.params["transmat"], model.transmat_, rtol=1e-8)
    np.testing.assert_allclose(np.stack([e["mean"] for e in result.params["emissions"]]),
                               model.means_, rtol=1e-8)
    logliks = [s.loglik - hmm.log_prior(s.params) for s in result.steps]
    np.testing.assert_allclose(logliks, history(model)[1:], rtol=1e-8)


@pytest.mark.parametrize("make, X", [
    (lambda: emkit.GaussianHMM(K, "diag", random_state=0, **FIT), X_GAUSS),
    (lambda: emkit.CategoricalHMM(K, n_features=4, random_state=0, **FIT), X_SYMBOLS),
    (lambda: emkit.HMM(Poisson(), K, random_state=0, **FIT), X_COUNTS),
])
def test_dask_weighted_fit_equals_in_memory(make, X):
    weights = np.array([2.0, 0.0, 0.5, 1.5])
    local = quiet_fit(make(), X, LENGTHS, sample_weight=weights)
    # partitions of whole sequences: 40 + 60 | 50 + 30; then one piece of weight 0 alone
    for chunks in ((100, 80), (40, 60, 80)):
        with dask.config.set(scheduler="synchronous"):
            remote = quiet_fit(make(), da.from_array(X, chunks=(chunks, X.shape[1])),
                               LENGTHS, sample_weight=weights)
        np.testing.assert_allclose(history(remote), history(local), rtol=1e-8)
        np.testing.assert_allclose(remote.transmat_, local.transmat_, rtol=1e-8, atol=1e-12)


def test_restarts_keep_the_best_weighted_fit():
    """n_init: the weighted fit from several starts follows the repeated data's."""
    kw = {"n_iter": 4, "tol": 0, "n_init": 3, "random_state": 3}  # starts still apart
    weighted = quiet_fit(emkit.PoissonHMM(K, **kw), X_COUNTS, LENGTHS, sample_weight=WEIGHTS)
    repeated = quiet_fit(emkit.PoissonHMM(K, **kw), *repeat_sequences(X_COUNTS, LENGTHS,
                                                                      WEIGHTS))
    np.testing.assert_allclose(history(weighted), history(repeated), rtol=1e-10)
    np.testing.assert_allclose(weighted.lambdas_, repeated.lambdas_, rtol=1e-10)
    # the first of the three starts is the single start's: the best is at least as good
    single = quiet_fit(emkit.PoissonHMM(K, n_iter=4, tol=0, random_state=3), X_COUNTS,
                       LENGTHS, sample_weight=WEIGHTS)
    assert history(weighted)[-1] >= history(single)[-1] - 1e-9


def test_poisson_start_uses_the_weighted_moments():
    """PoissonHMM's default start draws rates from the data's mean and variance: the
    weighted ones, so the whole default fit equals the repeated data's."""
    kw = {"n_iter": 15, "tol": 0, "random_state": 5}
    weighted = quiet_fit(emkit.PoissonHMM(K, **kw), X_COUNTS, LENGTHS, sample_weight=WEIGHTS)
    X_rep, lengths_rep = repeat_sequences(X_COUNTS, LENGTHS, WEIGHTS)
    repeated = quiet_fit(emkit.PoissonHMM(K, **kw), X_rep, lengths_rep)
    np.testing.assert_allclose(history(weighted), history(repeated), rtol=1e-10)
    np.testing.assert_allclose(weighted.lambdas_, repeated.lambdas_, rtol=1e-10)
    start = {"n_iter": 0, "random_state": 5}
    w_start = emkit.PoissonHMM(K, **start).fit(X_COUNTS, LENGTHS, sample_weight=WEIGHTS)
    plain_start = emkit.PoissonHMM(K, **start).fit(X_COUNTS, LENGTHS)
    assert np.max(np.abs(w_start.lambdas_ - plain_start.lambdas_)) > 1e-3


@pytest.mark.parametrize("make", [
    lambda **kw: emkit.GaussianHMM(K, "full", random_state=0, **kw),
    lambda **kw: emkit.GaussianHMM(K, "spherical", random_state=0, **kw),
    lambda **kw: emkit.GMMHMM(K, 2, covariance_type="diag", random_state=0, **kw),
    lambda **kw: emkit.HMM(Gaussian(), K, random_state=0, **kw),
], ids=["gaussian-full", "gaussian-spherical", "gmm-diag", "hmm-gaussian"])
def test_kmeans_start_uses_the_weights(make):
    """Each frame carries its sequence's weight into k-means and the data covariance: on
    clusters k-means finds from any seed, the default start (and so the whole default
    fit) equals the repeated data's, and differs from the unweighted start."""
    X_rep, lengths_rep = repeat_sequences(X_GAUSS, LENGTHS, WEIGHTS)
    starts = [make(n_iter=0).fit(X_GAUSS, LENGTHS, sample_weight=WEIGHTS),
              make(n_iter=0).fit(X_rep, lengths_rep), make(n_iter=0).fit(X_GAUSS, LENGTHS)]

    def emission(model):
        if hasattr(model, "emissions_"):
            return np.concatenate([np.ravel(v) for e in model.emissions_
                                   for v in e.parameters().values()])
        covars = model._covars_ if hasattr(model, "_covars_") else model.covars_
        return np.concatenate([np.ravel(model.means_), np.ravel(covars)])

    np.testing.assert_allclose(emission(starts[0]), emission(starts[1]), rtol=1e-12,
                               atol=1e-13)
    assert np.max(np.abs(emission(starts[0]) - emission(starts[2]))) > 1e-2
    weighted = quiet_fit(make(**FIT), X_GAUSS, LENGTHS, sample_weight=WEIGHTS)
    repeated = quiet_fit(make(**FIT), X_rep, lengths_rep)
    np.testing.assert_allclose(history(weighted), history(repeated), rtol=1e-10)
    np.testing.assert_allclose(weighted.transmat_, repeated.transmat_, rtol=1e-9, atol=1e-12)


def test_weight_zero_drops_the_sequence_from_the_start_too():
    weights = np.array([1.0, 0.0, 2.0, 1.0])
    kept = np.array([True, False, True, True])
    X_kept, lengths_kept = repeat_sequences(X_GAUSS, LENGTHS, kept.astype(int))
    make = lambda: emkit.GaussianHMM(K, "diag", random_state=0, **FIT)  # noqa: E731
    weighted = quiet_fit(make(), X_GAUSS, LENGTHS, sample_weight=weights)
    dropped = quiet_fit(make(), X_kept, lengths_kept, sample_weight=weights[kept])
    np.testing.assert_allclose(history(weighted), history(dropped), rtol=1e-10)
    np.testing.assert_allclose(weighted.means_, dropped.means_, rtol=1e-10)
