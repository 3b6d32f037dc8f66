"""``emkit.select_hmm``: the number of states chosen by BIC / AIC over a grid of HMM fits."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hmmlearn import hmm as hl

import emkit
from emkit.distributions import Poisson


def _three_state_data():
    """600 frames (two sequences) from a 3-state, 2-feature Gaussian HMM."""
    rng = np.random.default_rng(7)
    start = np.array([0.6, 0.3, 0.1])
    trans = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]])
    means = np.array([[-4.0, 0.0], [0.0, 3.0], [4.0, -2.0]])
    frames = []
    for length in (350, 250):
        z = [rng.choice(3, p=start)]
        for _ in range(length - 1):
            z.append(rng.choice(3, p=trans[z[-1]]))
        frames.append(means[z] + rng.normal(size=(length, 2)))
    return np.concatenate(frames), [350, 250]


X3, LENGTHS3 = _three_state_data()
SETTINGS = {"n_iter": 100, "n_init": 2, "random_state": 0}


@pytest.fixture(scope="module")
def result():
    return emkit.select_hmm(X3, LENGTHS3, n_components=range(1, 6), **SETTINGS)


def test_bic_and_aic_choose_the_true_number_of_states(result):
    assert result.best_n_components == 3
    assert isinstance(result.best, emkit.GaussianHMM)
    assert list(result.table.columns) == ["n_components", "loglik", "n_parameters", "bic",
                                          "aic", "converged", "error"]
    assert list(result.table["n_components"]) == [1, 2, 3, 4, 5]
    assert result.table["error"].isna().all()
    assert result.ranking()["n_components"].iloc[0] == 3
    # AIC's lighter penalty: the chosen fit is the table's AIC minimum (here 4 states,
    # 13 log-likelihood units above 3 for 11 more parameters)
    by_aic = emkit.select_hmm(X3, LENGTHS3, n_components=[2, 3, 4], criterion="aic",
                              **SETTINGS)
    assert by_aic.criterion == "aic"
    assert by_aic.best_n_components == by_aic.table.loc[by_aic.table["aic"].idxmin(),
                                                        "n_components"]
    assert by_aic.best.aic(X3, LENGTHS3) == pytest.approx(by_aic.table["aic"].min(), rel=1e-12)


def _free_parameters_diag(k: int, d: int) -> int:
    """Counted by hand: k - 1 start, k (k - 1) transition, k d means, k d variances."""
    return (k - 1) + k * (k - 1) + k * d + k * d


def test_criteria_equal_each_models_own_and_the_formula(result):
    n, d = X3.shape
    for row in result.table.itertuples(index=False):
        k = int(row.n_components)
        model = emkit.GaussianHMM(k, **SETTINGS).fit(X3, LENGTHS3)  # the same fit again
        assert row.loglik == pytest.approx(model.score(X3, LENGTHS3), rel=1e-12)
        assert row.bic == pytest.approx(model.bic(X3, LENGTHS3), rel=1e-12)
        assert row.aic == pytest.approx(model.aic(X3, LENGTHS3), rel=1e-12)
        p = _free_parameters_diag(k, d)
        assert row.n_parameters == p
        assert row.bic == pytest.approx(-2 * row.loglik + p * math.log(n), rel=1e-12)
        assert row.aic == pytest.approx(-2 * row.loglik + 2 * p, rel=1e-12)
    best = result.best
    chosen = result.table.set_index("n_components").loc[3]
    assert chosen["bic"] == pytest.approx(best.bic(X3, LENGTHS3), rel=1e-12)
    # the log-likelihood itself, from hmmlearn at the chosen parameters
    peer = hl.GaussianHMM(3, "diag", init_params="")
    peer.startprob_, peer.transmat_ = best.startprob_, best.transmat_
    peer.means_ = best.means_
    peer.covars_ = np.array([np.diag(c) for c in best.covars_])
    assert chosen["loglik"] == pytest.approx(peer.score(X3, LENGTHS3), rel=1e-9)


def test_a_failed_fit_stays_in_the_table_with_its_reason():
    X = X3[:40]
    result = emkit.select_hmm(X, n_components=[2, 50], n_iter=20, random_state=0)
    failed = result.table.set_index("n_components").loc[50]
    assert isinstance(failed["error"], str) and "50" in failed["error"]
    assert math.isnan(failed["bic"]) and not failed["converged"]
    assert result.best_n_components == 2
    with pytest.raises(ValueError, match="every fit failed"):
        emkit.select_hmm(X, n_components=[60, 70], n_iter=5, random_state=0)


def test_emission_as_distribution_class_and_template():
    rng = np.random.default_rng(3)
    rates = np.repeat([1.0, 9.0, 1.0, 9.0], 60)
    counts = rng.poisson(rates)[:, None].astype(float)
    by_distribution = emkit.select_hmm(counts, emission=Poisson(), n_components=[1, 2, 3],
                                       n_iter=200, random_state=0)
    assert isinstance(by_distribution.best, emkit.HMM)
    assert by_distribution.best_n_components == 2
    by_class = emkit.select_hmm(counts, emission=emkit.PoissonHMM, n_components=[1, 2, 3],
                                n_iter=200, random_state=0)
    assert isinstance(by_class.best, emkit.PoissonHMM)
    assert by_class.best_n_components == 2
    # Poisson states: k - 1 + k (k - 1) + k rates
    assert list(by_class.table["n_parameters"]) == [1, 5, 11]
    # the same maxima for 1 and 2 states (3 states overfit: the two classes start apart)
    np.testing.assert_allclose(by_class.table["loglik"][:2],
                               by_distribution.table["loglik"][:2], rtol=1e-6)

    template = emkit.GaussianHMM(covariance_type="full", n_iter=60, min_covar=1e-2)
    by_template = emkit.select_hmm(X3, LENGTHS3, emission=template, n_components=[2, 3],
                                   random_state=0)
    best = by_template.best
    assert best is not template and template.n_components == 1
    assert best.covariance_type == "full" and best.n_iter == 60 and best.min_covar == 1e-2
    # full covariances: d (d + 1) / 2 = 3 per state instead of 2
    assert list(by_template.table["n_parameters"]) == [1 + 2 + 4 + 6, 2 + 6 + 6 + 9]
    diag = emkit.select_hmm(X3, LENGTHS3, covariance_type="spherical", n_components=[3],
                            n_iter=30, random_state=0)
    assert diag.best.covariance_type == "spherical"


def test_convergence_is_reported_once():
    with pytest.warns(emkit.ConvergenceWarning, match="n_components = 2, 3") as record:
        result = emkit.select_hmm(X3, LENGTHS3, n_components=[2, 3], n_iter=1, tol=0.0,
                                  random_state=0)
    assert len([w for w in record if issubclass(w.category, emkit.ConvergenceWarning)]) == 1
    assert not result.table["converged"].any()


@pytest.mark.parametrize("kwargs, name", [
    ({"n_components": []}, "n_components"),
    ({"n_components": [0, 2]}, "n_components"),
    ({"n_components": "three"}, "n_components"),
    ({"criterion": "icl"}, "criterion"),
    ({"n_init": 0}, "n_init"),
    ({"emission": "poisson"}, "emission"),
    ({"covariance_type": "bogus"}, "covariance_type"),
    ({"lengths": [10, 10]}, "lengths"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    args = {"lengths": None, **kwargs}
    lengths = args.pop("lengths")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=name):
            emkit.select_hmm(X3, lengths, **args)


def test_exported_lazily():
    assert "select_hmm" in emkit.__all__ and "select_hmm" in dir(emkit)
    from emkit.estimators.hmm_selection import select_hmm

    assert emkit.select_hmm is select_hmm


def _repeat_sequences(X, lengths, counts):
    """The sequences of ``X`` listed ``counts[s]`` times each (an independent reference)."""
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    parts = [X[offsets[s]:offsets[s + 1]] for s, c in enumerate(counts) for _ in range(c)]
    return np.concatenate(parts), [len(p) for p in parts]


def _separated_sequences():
    """Four sequences from three states whose means (-10, 0, 30) k-means separates the
    same way from any seed for 1, 2 and 3 clusters (2: {-10, 0} against {30})."""
    rng = np.random.default_rng(11)
    trans = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.1, 0.1, 0.8]])
    means = np.array([[-10.0, 0.0], [0.0, 2.0], [30.0, -3.0]])
    frames, lengths = [], [60, 45, 50, 35]
    for s, length in enumerate(lengths):
        z = [s % 3]
        for _ in range(length - 1):
            z.append(rng.choice(3, p=trans[z[-1]]))
        frames.append(means[z] + rng.normal(size=(length, 2)))
    return np.concatenate(frames), lengths


@pytest.mark.parametrize("emission", [None, emkit.GaussianHMM(covariance_type="full")],
                         ids=["diag", "full"])
def test_integer_sample_weight_equals_repeated_sequences(emission):
    X, lengths = _separated_sequences()
    weights = np.array([1, 3, 0, 2])
    X_rep, lengths_rep = _repeat_sequences(X, lengths, weights)
    settings = {"n_components": [1, 2, 3], "emission": emission, "n_iter": 50,
                "random_state": 0}
    weighted = emkit.select_hmm(X, lengths, sample_weight=weights, **settings)
    repeated = emkit.select_hmm(X_rep, lengths_rep, **settings)
    plain = emkit.select_hmm(X, lengths, **settings)
    numbers = ["loglik", "bic", "aic"]
    np.testing.assert_allclose(weighted.table[numbers], repeated.table[numbers], rtol=1e-9)
    assert list(weighted.table["n_parameters"]) == list(repeated.table["n_parameters"])
    assert weighted.best_n_components == repeated.best_n_components
    np.testing.assert_allclose(weighted.best.transmat_, repeated.best.transmat_, atol=1e-8)
    np.testing.assert_allclose(weighted.best.means_, repeated.best.means_, atol=1e-8)
    # BIC's n_samples is the weighted row count: 60 + 3 * 45 + 2 * 35 = 265, not 190
    row = weighted.table.iloc[2]
    assert row["bic"] == pytest.approx(-2 * row["loglik"] + row["n_parameters"]
                                       * math.log(265), rel=1e-12)
    # and the weights change the fits: the unweighted table is another one
    assert np.max(np.abs(plain.table["loglik"] - weighted.table["loglik"])) > 10.0


def test_sample_weight_reaches_a_distribution_hmm():
    rng = np.random.default_rng(5)
    rates = np.concatenate([np.repeat([1.0, 12.0], 40), np.repeat([12.0, 1.0], 30)])
    counts = rng.poisson(rates)[:, None].astype(float)
    lengths, weights = [80, 60], np.array([2, 1])
    X_rep, lengths_rep = _repeat_sequences(counts, lengths, weights)
    # k-means numbers the two states the other way round on the repeated rows: the fits
    # climb to the same maximum by other paths, so they are run to convergence
    settings = {"n_components": [1, 2], "emission": Poisson(), "n_iter": 200, "tol": 1e-9,
                "random_state": 0}
    weighted = emkit.select_hmm(counts, lengths, sample_weight=weights, **settings)
    repeated = emkit.select_hmm(X_rep, lengths_rep, **settings)
    np.testing.assert_allclose(weighted.table[["loglik", "bic", "aic"]],
                               repeated.table[["loglik", "bic", "aic"]], rtol=1e-9)
    assert isinstance(weighted.best, emkit.HMM) and weighted.best_n_components == 2


@pytest.mark.parametrize("weights, message", [
    ([1.0], "one weight per sequence"),
    ([1.0, -1.0], "non-negative"),
    ([0.0, 0.0], "zero for every sequence"),
    ([1.0, np.nan], "finite"),
])
def test_bad_sample_weight_is_refused_by_name(weights, message):
    with pytest.raises(ValueError, match=f"sample_weight.*{message}|{message}.*sample_weight"):
        emkit.select_hmm(X3, LENGTHS3, sample_weight=weights, n_components=[1, 2])
