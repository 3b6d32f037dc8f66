"""emkit.DawidSkene: recovery of simulated raters, majority vote, input forms, saving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

import emkit
from emkit import DawidSkene
from emkit.models.crowd.dawid_skene import SMOOTHING, DawidSkeneEM, Ratings, majority_vote


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Tiny BLAS calls are slowed badly by thread hand-offs on a shared, loaded machine."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def simulate(n_items=3000, n_raters=5, n_classes=3, p_rated=0.8, seed=0):
    """Items with true classes, raters with random confusion matrices, missing ratings."""
    rng = np.random.default_rng(seed)
    priors = rng.dirichlet(np.full(n_classes, 5.0))
    truth = rng.choice(n_classes, n_items, p=priors)
    conf = np.empty((n_raters, n_classes, n_classes))
    for r in range(n_raters):
        for c in range(n_classes):
            acc = rng.uniform(0.55, 0.9)
            conf[r, c] = np.insert(rng.dirichlet(np.ones(n_classes - 1)) * (1 - acc), c, acc)
    ratings = np.full((n_items, n_raters), np.nan)
    for r in range(n_raters):
        cum = conf[r, truth].cumsum(axis=1)
        labels = (rng.random(n_items)[:, None] > cum).sum(axis=1)
        rated = rng.random(n_items) < p_rated
        ratings[rated, r] = labels[rated]
    return ratings, truth, conf, priors


def to_long(ratings):
    item, rater = np.nonzero(~np.isnan(ratings))
    return pd.DataFrame({"item": item, "rater": rater, "label": ratings[item, rater]})


def empirical_confusion(ratings, truth, n_classes):
    """The confusion matrices one would estimate if the true classes were known."""
    counts = np.zeros((ratings.shape[1], n_classes, n_classes))
    item, rater = np.nonzero(~np.isnan(ratings))
    np.add.at(counts, (rater, truth[item], ratings[item, rater].astype(int)), 1.0)
    return counts / counts.sum(axis=2, keepdims=True)


def test_recovers_simulated_confusion_matrices_and_priors():
    ratings, truth, conf, priors = simulate()
    model = DawidSkene().fit(ratings)
    assert model.converged_
    oracle = empirical_confusion(ratings, truth, 3)
    # EM without the truth lands next to the estimate made knowing it...
    np.testing.assert_allclose(model.confusion_matrices_, oracle, atol=0.03)
    # ...which is itself within sampling error of the truth (>= ~250 ratings per row)
    np.testing.assert_allclose(model.confusion_matrices_, conf, atol=0.1)
    np.testing.assert_allclose(model.class_priors_, priors, atol=0.03)
    np.testing.assert_allclose(model.confusion_matrices_.sum(axis=2), 1.0)


def test_beats_majority_vote():
    ratings, truth, _, _ = simulate(seed=1)
    model = DawidSkene().fit(ratings)
    item, rater = np.nonzero(~np.isnan(ratings))
    data = Ratings(item, rater, ratings[item, rater].astype(int), *ratings.shape, 3)
    majority = majority_vote(data)
    ds_accuracy = np.mean(model.predict(ratings) == truth)
    mv_accuracy = np.mean(majority == truth)
    assert ds_accuracy > mv_accuracy + 0.02
    np.testing.assert_allclose(model.posteriors_, model.predict_proba(ratings), atol=1e-12)


def test_table_and_matrix_inputs_agree():
    ratings, _, _, _ = simulate(n_items=400, seed=2)
    # the same ratings in another order: the same EM path up to rounding, which may
    # stop it one iteration apart on the slow final approach
    wide = DawidSkene(tol=1e-9, max_iter=1000).fit(ratings)
    long = DawidSkene(tol=1e-9, max_iter=1000).fit(to_long(ratings))
    np.testing.assert_allclose(long.confusion_matrices_, wide.confusion_matrices_, atol=1e-5)
    # a table only lists rated items; the matrix also has rows nobody rated
    np.testing.assert_allclose(long.predict_proba(to_long(ratings)),
                               wide.predict_proba(ratings)[long.items_], atol=1e-5)
    unrated = np.isnan(ratings).all(axis=1)
    np.testing.assert_allclose(wide.predict_proba(ratings)[unrated],
                               np.broadcast_to(wide.class_priors_, (unrated.sum(), 3)))
    assert wide.raters_ == list(range(5)) and wide.items_ == list(range(400))


def test_named_raters_and_items_in_a_table():
    table = pd.DataFrame({
        "item": ["p3", "p1", "p1", "p2", "p2", "p3", "p1", "p2", "p3"],
        "rater": ["dr_b", "dr_a", "dr_b", "dr_a", "dr_b", "dr_a", "dr_c", "dr_c", "dr_c"],
        "label": [1, 0, 0, 1, 1, 1, 0, 0, 1],
    })
    model = DawidSkene(n_classes=2).fit(table)
    assert model.items_ == ["p1", "p2", "p3"] and model.raters_ == ["dr_a", "dr_b", "dr_c"]
    np.testing.assert_array_equal(model.predict(table), [0, 1, 1])
    with pytest.raises(ValueError, match="not seen in fit"):
        model.predict(pd.DataFrame({"item": [1], "rater": ["dr_z"], "label": [0]}))


def test_em_is_monotone_and_the_likelihood_is_direct():
    ratings, _, _, _ = simulate(n_items=300, seed=3)
    item, rater = np.nonzero(~np.isnan(ratings))
    data = Ratings(item, rater, ratings[item, rater].astype(int), 300, 5, 3)
    model = DawidSkeneEM(5, 3)
    rng = np.random.default_rng(0)
    params = {"priors": rng.dirichlet(np.ones(3)),
              "confusion": rng.dirichlet(np.ones(3), size=(5, 3))}
    # the log-likelihood written out: sum_i log sum_c prior_c prod_ratings conf[r, c, l]
    direct = 0.0
    for i in range(300):
        terms = params["priors"].copy()
        for r in np.nonzero(~np.isnan(ratings[i]))[0]:
            terms = terms * params["confusion"][r, :, int(ratings[i, r])]
        direct += np.log(terms.sum())
    _, loglik = model.e_step(data, params)
    np.testing.assert_allclose(loglik - model.log_prior(params), direct, rtol=1e-12)
    result = emkit.em(model, data, params, tol=1e-10, max_iter=300)
    assert np.all(np.diff(result.logliks) >= -1e-9 * np.abs(result.logliks[1:]))


def test_smoothing_keeps_probabilities_positive():
    # rater 1 never says 1: without smoothing that entry would be log(0)
    ratings = np.array([[0, 0], [1, 0], [1, 0], [0, 0]], dtype=float)
    model = DawidSkene(n_classes=2, max_iter=2000).fit(ratings)
    assert np.all(model.confusion_matrices_ > 0)
    assert SMOOTHING > 0


def test_perfect_raters_give_identity_confusion():
    truth = np.tile([0, 1, 2, 2], 25)
    ratings = np.column_stack([truth] * 4).astype(float)
    model = DawidSkene().fit(ratings)
    np.testing.assert_allclose(model.confusion_matrices_, np.broadcast_to(np.eye(3), (4, 3, 3)),
                               atol=1e-3)
    np.testing.assert_array_equal(model.predict(ratings), truth)


def test_initial_posteriors_can_be_given():
    ratings, truth, _, _ = simulate(n_items=300, seed=4)
    start = np.eye(3)[truth] * 0.6 + 0.4 / 3
    model = DawidSkene(init=start).fit(ratings)
    assert np.mean(model.predict(ratings) == truth) > 0.8


@pytest.mark.parametrize(
    ("kwargs", "ratings", "match"),
    [
        ({}, [[0, 1], [1, -1]], "class labels"),
        ({}, [[0, 1.5]], "class labels"),
        ({"n_classes": 2}, [[0, 2]], "n_classes=2"),
        ({}, [[0, np.inf]], "infinite"),
        ({}, [[np.nan, np.nan]], "no rating"),
        ({}, [0, 1, 1], "2-D"),
        ({}, [["a", "b"]], "numeric"),
        ({}, pd.DataFrame({"item": [0], "rater": [0], "label": ["sick"]}), "class numbers"),
        ({"n_classes": 1}, [[0, 1]], "n_classes"),
        ({"max_iter": 0}, [[0, 1]], "max_iter"),
        ({"tol": -1}, [[0, 1]], "tol"),
        ({"init": "random"}, [[0, 1]], "init"),
        ({"init": np.ones((3, 2))}, [[0, 1]], "shape"),
    ],
)
def test_bad_input_is_refused(kwargs, ratings, match):
    with pytest.raises(ValueError, match=match):
        DawidSkene(**kwargs).fit(ratings)


def test_prediction_checks():
    with pytest.raises(NotFittedError):
        DawidSkene().predict([[0, 1]])
    model = DawidSkene().fit([[0, 1, 1], [1, 1, 0]])
    with pytest.raises(ValueError, match="fitted with 3"):
        model.predict([[0, 1]])


def test_save_and_load_round_trip(tmp_path):
    table = to_long(simulate(n_items=200, seed=5)[0])
    table["rater"] = table["rater"].map(lambda r: f"clinician {r}")
    model = DawidSkene().fit(table)
    loaded = emkit.load(model.save(tmp_path / "ds.npz"))
    np.testing.assert_array_equal(loaded.predict_proba(table), model.predict_proba(table))
    assert loaded.raters_ == model.raters_ and loaded.get_params() == model.get_params()
