"""``MclustMixture`` on Dask arrays and DataFrames equals the fit of the same rows in memory.

Up to 100,000 rows the start is found on every row (no random draw), so the Dask fit
takes the in-memory fit's EM path from the same hc or k-means start: the two agree to
rounding (the partitions' statistics are summed in another order), for all fourteen
models, with a prior, weights, labels, soft priors, ``freeze``, SQUAREM and blocks of
rows. Above that the start comes from a random sample of rows; the fit must still end
at a fixed point of EM on all rows, which one more in-memory EM step from it shows.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from emkit.estimators.mclust_mixture import MclustMixture
from emkit.gaussian.constrained import MCLUST_MODELS

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")


def _data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = 0.6 * np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -1.0], [1.0, 5.0, 2.0]])
    scales = [np.diag([1.0, 0.5, 0.8]), np.array([[0.4, -0.1, 0.0], [-0.1, 1.2, 0.3],
                                                  [0.0, 0.3, 0.7]]), 0.8 * np.eye(3)]
    return np.vstack([rng.multivariate_normal(c, s, size=70)
                      for c, s in zip(centres, scales, strict=True)])


X = _data()
XD = da.from_array(X, chunks=(53, 3))


def _same(a: MclustMixture, b: MclustMixture, atol: float = 1e-9) -> None:
    np.testing.assert_allclose(b.loglik_, a.loglik_, rtol=1e-12)
    np.testing.assert_allclose(b.lower_bound_, a.lower_bound_, rtol=1e-12)
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=0, atol=atol)
    np.testing.assert_allclose(b.means_, a.means_, rtol=0, atol=atol)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=0, atol=atol)
    assert (b.n_iter_, b.converged_, b.init_used_, b.n_samples_fit_) == \
        (a.n_iter_, a.converged_, a.init_used_, a.n_samples_fit_)


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_dask_array_equals_in_memory(model):
    _same(MclustMixture(model, 3).fit(X), MclustMixture(model, 3).fit(XD))


@pytest.mark.parametrize("extra", [
    {"prior": "default"}, {"freeze": {"means_": True}}, {"accelerate": "squarem"},
    {"chunk_size": 20}, {"init_params": "kmeans", "random_state": 4}, {"tol": "mclust"},
], ids=["prior", "freeze", "squarem", "chunks", "kmeans", "mclust-tol"])
def test_dask_equals_in_memory_with_settings(extra):
    a = MclustMixture("VEV", 3, **extra).fit(X)
    b = MclustMixture("VEV", 3, **extra).fit(XD)
    _same(a, b, atol=1e-8)
    assert b.log_prior_ == pytest.approx(a.log_prior_, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("as_dask", [False, True], ids=["numpy-weights", "dask-weights"])
def test_weights_travel_with_their_rows(as_dask):
    weight = np.random.default_rng(2).integers(0, 4, size=len(X)).astype(float)
    given = da.from_array(weight, chunks=53) if as_dask else weight
    a = MclustMixture("EVV", 3).fit(X, sample_weight=weight)
    b = MclustMixture("EVV", 3).fit(XD, sample_weight=given)
    _same(a, b)
    assert b.n_samples_fit_ == int((weight > 0).sum())


def test_labels_and_priors_travel_with_their_rows():
    labels = np.full(len(X), -1)
    labels[:6], labels[70:76], labels[140:146] = 2, 0, 1
    soft = np.ones((len(X), 3))
    soft[10:20] = [4.0, 1.0, 1.0]
    a = MclustMixture("VVV", 3).fit(X, labels=labels, priors=soft)
    b = MclustMixture("VVV", 3).fit(XD, labels=da.from_array(labels, chunks=60),
                                    priors=soft)
    _same(a, b)
    assert (b.predict(X)[:6] == 2).all()


def test_a_start_of_parameters():
    start = MclustMixture("EEE", 3).fit(X[::2])
    init = {"weights": start.weights_, "means": start.means_,
            "covariances": start.covariances_}
    _same(MclustMixture("EEE", 3).fit(X, init=init), MclustMixture("EEE", 3).fit(XD, init=init))


def test_a_dask_dataframe_and_lazy_predictions():
    frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), npartitions=4)
    a = MclustMixture("VVI", 3).fit(X)
    b = MclustMixture("VVI", 3).fit(frame)
    _same(a, b)
    assert not hasattr(b, "feature_names_in_")  # as the in-memory fit of a DataFrame
    labels, proba, dens = b.predict(XD), b.predict_proba(XD), b.score_samples(XD)
    assert all(isinstance(v, da.Array) for v in (labels, proba, dens))
    np.testing.assert_array_equal(labels.compute(), a.predict(X))
    np.testing.assert_allclose(proba.compute(), a.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(dens.compute(), a.score_samples(X), rtol=1e-12)
    assert b.score(XD) == pytest.approx(a.score(X), rel=1e-12)


def test_on_a_distributed_client():
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=":0", silence_logs=logging.CRITICAL):
        b = MclustMixture("VVV", 3).fit(XD)
    _same(MclustMixture("VVV", 3).fit(X), b)


def test_a_sampled_start_still_ends_at_a_fixed_point_of_all_rows(monkeypatch):
    from emkit.backends import dask_backend

    monkeypatch.setattr(dask_backend, "INIT_SAMPLE_ROWS", 80)  # fewer rows than X has
    b = MclustMixture("VVV", 3, tol=1e-10, random_state=0).fit(XD)
    params = {"weights": b.weights_, "means": b.means_, "covariances": b.covariances_}
    after = MclustMixture("VVV", 3, tol=1e-10, max_iter=1).fit(X, init=params)
    assert after.loglik_ == pytest.approx(b.loglik_, rel=1e-9)
    np.testing.assert_allclose(after.means_, b.means_, atol=1e-5)


@pytest.mark.parametrize(("make", "kwargs", "match"), [
    (lambda: XD, {"init": np.zeros(len(X), dtype=int)}, "with Dask X, init must be a dict"),
    (lambda: da.from_array(np.where(np.arange(len(X))[:, None] == 7, np.nan, X), chunks=50),
     {}, "NaN"),
    (lambda: da.ones((30, 2), chunks=10), {}, "all 30 rows of X are identical"),
    (lambda: XD, {"sample_weight": np.ones(5)}, "sample_weight"),
])
def test_bad_dask_input_is_refused_by_name(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MclustMixture("VVV", 2).fit(make(), **kwargs)


def test_prior_with_weights_is_refused_on_dask_too():
    with pytest.raises(ValueError, match="sample_weight cannot be combined with prior"):
        MclustMixture("VVV", 2, prior="default").fit(XD, sample_weight=np.ones(len(X)))
