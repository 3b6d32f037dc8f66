"""``MclustMixture(chunk_size=...)`` equals the fit in memory; ``accelerate="squarem"``
reaches plain EM's fixed point, for all fourteen models.

Chunked: the E-step statistics add up over rows, so a fit in blocks of 37 rows takes
the same EM path as the fit in memory from the same hc start (prior, weights, labels
and freeze included). SQUAREM: the reference is plain EM run to a tight tolerance from
the same start; for the six models whose family is closed under the linear
extrapolation of the covariances (EII, VII, EEI, VVI, EEE, VVV) SQUAREM also needs far
fewer E-steps (here 59-132 -> 22-34); for the other eight most extrapolated points
leave the family and are refused, so they gain less (65-319 -> 44-259).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emkit import load
from emkit.estimators.mclust_mixture import MclustMixture
from emkit.exceptions import ConvergenceWarning
from emkit.gaussian.constrained import MCLUST_MODELS
from emkit.models.mixture.mclust import MclustModel

CLOSED = ("EII", "VII", "EEI", "VVI", "EEE", "VVV")


def _data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # overlapping clusters, so that EM takes 59-319 steps to tol=1e-12 and SQUAREM has work
    centres = 0.45 * np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -1.0], [1.0, 5.0, 2.0]])
    scales = [np.diag([1.0, 0.5, 0.8]), np.array([[0.4, -0.1, 0.0], [-0.1, 1.2, 0.3],
                                                  [0.0, 0.3, 0.7]]), 0.8 * np.eye(3)]
    return np.vstack([rng.multivariate_normal(c, s, size=60)
                      for c, s in zip(centres, scales, strict=True)])


X = _data()


def _same(a: MclustMixture, b: MclustMixture, atol: float = 1e-9) -> None:
    np.testing.assert_allclose(a.loglik_, b.loglik_, rtol=1e-12)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=0, atol=atol)
    np.testing.assert_allclose(a.means_, b.means_, rtol=0, atol=atol)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=0, atol=atol)


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_chunked_equals_in_memory(model):
    a = MclustMixture(model, 3).fit(X)
    b = MclustMixture(model, 3, chunk_size=37).fit(X)
    _same(a, b)
    assert a.n_iter_ == b.n_iter_ and a.converged_ and b.converged_


@pytest.mark.parametrize("extra", [
    {"prior": "default"}, {"freeze": {"weights_": True}}, {"tol": "mclust"},
], ids=["prior", "freeze", "mclust-tol"])
def test_chunked_equals_in_memory_with_a_prior_a_freeze_or_mclusts_rule(extra):
    a = MclustMixture("VEV", 3, **extra).fit(X)
    b = MclustMixture("VEV", 3, chunk_size=50, **extra).fit(X)
    _same(a, b)
    assert a.log_prior_ == pytest.approx(b.log_prior_, rel=1e-12, abs=1e-12)


def test_chunked_equals_in_memory_with_weights_and_labels():
    rng = np.random.default_rng(3)
    weight = rng.integers(1, 4, size=len(X)).astype(float)
    labels = np.full(len(X), -1)
    labels[:5], labels[60:65] = 0, 1
    a = MclustMixture("EVV", 3).fit(X, sample_weight=weight, labels=labels)
    b = MclustMixture("EVV", 3, chunk_size=29).fit(X, sample_weight=weight, labels=labels)
    _same(a, b)


def _count_e_steps(monkeypatch) -> list[int]:
    calls = [0]
    plain = MclustModel.e_step

    def counted(self, data, params):
        calls[0] += 1
        return plain(self, data, params)

    monkeypatch.setattr(MclustModel, "e_step", counted)
    return calls


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_squarem_reaches_plain_ems_fixed_point(model, monkeypatch):
    calls = _count_e_steps(monkeypatch)
    start = MclustMixture(model, 3, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X)
    init = {"weights": start.weights_, "means": start.means_,
            "covariances": start.covariances_}
    calls[0] = 0
    plain = MclustMixture(model, 3, tol=1e-12, max_iter=20_000).fit(X, init=init)
    plain_calls, calls[0] = calls[0], 0
    fast = MclustMixture(model, 3, tol=1e-12, max_iter=20_000,
                         accelerate="squarem").fit(X, init=init)
    assert fast.loglik_ >= plain.loglik_ - 1e-8 * abs(plain.loglik_)
    np.testing.assert_allclose(fast.loglik_, plain.loglik_, rtol=1e-9)
    np.testing.assert_allclose(fast.means_, plain.means_, atol=1e-4)
    np.testing.assert_allclose(fast.covariances_, plain.covariances_, atol=1e-4)
    assert calls[0] <= plain_calls
    if model in CLOSED:
        assert plain_calls > 50 and calls[0] < 0.5 * plain_calls


def test_squarem_on_chunks_equals_squarem_in_memory():
    a = MclustMixture("VVV", 3, accelerate="squarem").fit(X)
    b = MclustMixture("VVV", 3, accelerate="squarem", chunk_size=40).fit(X)
    _same(a, b, atol=1e-8)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"accelerate": "fast"}, "accelerate must be None or 'squarem'"),
    ({"chunk_size": 0}, "chunk_size must be None or an integer >= 1"),
    ({"chunk_size": 2.5}, "chunk_size must be None or an integer >= 1"),
])
def test_bad_settings_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MclustMixture("VVV", 2, **kwargs).fit(X)


def test_settings_survive_save_and_load(tmp_path):
    est = MclustMixture("EEE", 2, accelerate="squarem", chunk_size=64).fit(X)
    est.save(tmp_path / "m.emkit")
    back = load(tmp_path / "m.emkit")
    assert back.get_params()["accelerate"] == "squarem"
    assert back.get_params()["chunk_size"] == 64
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
