"""InputDrivenHMM with known states and soft evidence, against references written here.

At fixed parameters the E-step's log-likelihood with evidence must equal a log-space
forward recursion whose frame log-densities have the log-evidence added (a known
state: 0 there, -inf elsewhere); with a state on every frame one iteration gives
the counted supervised estimates.
"""

from __future__ import annotations

import warnings

import dask
import dask.array as da
import numpy as np
import pytest

import emkit
from emkit.estimators.hmm_input_driven import InputDrivenHMM
from emkit.models.hmm.emission import DistributionEmission
from emkit.models.hmm.input_driven import CovariateSequences, InputDrivenHMMModel
from emkit.numerics.design_scaling import Design
from test_hmm_input_driven import forward_reference, log_emission, set_by_hand, softmax_transmat


def evidence(labels, priors, k):
    out = np.zeros((len(labels), k)) if priors is None else np.log(priors)
    known = labels >= 0
    keep = out[known, labels[known]]
    out[known] = -np.inf
    out[known, labels[known]] = keep
    return out


@pytest.mark.parametrize("k,q", [(2, 1), (3, 2)])
def test_log_likelihood_with_evidence_equals_the_forward_reference(k, q):
    rng = np.random.default_rng(k + q)
    hmm = set_by_hand(k, q, seed=k)
    n = 60
    X = rng.normal(1.0, 2.0, size=(n, 1))
    U = rng.normal(size=(n, q))
    labels = np.where(rng.random(n) < 0.3, rng.integers(k, size=n), -1)
    priors = rng.uniform(0.1, 1.0, size=(n, k))
    log_ev = evidence(labels, priors, k)
    ref = forward_reference(log_emission(X, k) + log_ev, np.log(hmm.startprob_),
                            np.log(softmax_transmat(hmm.transition_coef_, U)), [0, 30, n])
    params = hmm._current_params()
    model = InputDrivenHMMModel(DistributionEmission(hmm._fitted_emissions()), k,
                                Design.identity(q), "ste", params)
    data = CovariateSequences.from_arrays(X, U, [30, 30])
    data = CovariateSequences(data.X, data.U, data.lengths, None, log_ev)
    _, objective = model.e_step(data, params)
    assert objective - model.log_prior(params) == pytest.approx(ref, rel=1e-10)
    pieces = data.split(2)
    assert sum(model.e_step(p, params)[1] for p in pieces) == pytest.approx(objective,
                                                                             rel=1e-12)


def test_labels_on_every_frame_give_the_supervised_estimates_in_one_iteration():
    rng = np.random.default_rng(0)
    z = np.repeat(rng.integers(0, 2, size=40), rng.integers(3, 9, size=40))
    X = rng.normal(np.array([0.0, 3.0])[z], 1.0)[:, None]
    lengths = [len(z) // 2, len(z) - len(z) // 2]
    est = InputDrivenHMM(emkit.distributions.Gaussian(), 2, n_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        est.fit(X, lengths, labels=z)
    counts = np.zeros((2, 2))
    for a, b in ((0, lengths[0]), (lengths[0], len(z))):
        np.add.at(counts, (z[a:b - 1], z[a + 1:b]), 1.0)
    P = est.predict_transmat(np.zeros((1, 0)))[0]
    np.testing.assert_allclose(P, counts / counts.sum(axis=1, keepdims=True), rtol=1e-10)
    for s in range(2):
        assert est.emissions_[s].mean[0] == pytest.approx(X[z == s, 0].mean(), rel=1e-10)
    first = z[[0, lengths[0]]]
    np.testing.assert_allclose(est.startprob_, np.bincount(first, minlength=2) / 2, atol=1e-12)


def test_dask_carries_the_evidence_and_bad_labels_are_named():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 1)) + np.repeat([0.0, 3.0, 0.0, 3.0], 100)[:, None]
    U = rng.normal(size=(400, 1))
    labels = np.where(rng.random(400) < 0.2, np.repeat([0, 1, 0, 1], 100), -1)
    kw = {"n_iter": 5, "tol": 0.0, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        local = InputDrivenHMM(emkit.distributions.Gaussian(), 2, **kw).fit(
            X, [200, 200], covariates=U, labels=labels)
        with dask.config.set(scheduler="synchronous"):
            remote = InputDrivenHMM(emkit.distributions.Gaussian(), 2, **kw).fit(
                da.from_array(X, chunks=(200, 1)), [200, 200], covariates=U, labels=labels)
    np.testing.assert_allclose(remote.transition_coef_, local.transition_coef_, rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(remote.monitor_.history, local.monitor_.history, rtol=1e-10)
    with pytest.raises(ValueError, match="labels must have shape"):
        InputDrivenHMM(emkit.distributions.Gaussian(), 2).fit(X, covariates=U,
                                                              labels=labels[1:])
    with pytest.raises(ValueError, match="priors"):
        InputDrivenHMM(emkit.distributions.Gaussian(), 2).fit(X, covariates=U,
                                                              priors=-np.ones((400, 2)))


def test_frozen_attributes_keep_their_start_and_bad_freezes_are_named():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 1)) + np.repeat([0.0, 3.0, 0.0], 100)[:, None]
    U = rng.normal(size=(300, 1))
    kw = {"n_iter": 4, "tol": 0.0, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        start = InputDrivenHMM(emkit.distributions.Gaussian(), 2, n_iter=0,
                               random_state=0).fit(X, covariates=U)
        est = InputDrivenHMM(emkit.distributions.Gaussian(), 2, **kw,
                             freeze={"transition_coef_": True}).fit(X, covariates=U)
        np.testing.assert_allclose(est.transition_coef_, start.transition_coef_, rtol=1e-12,
                                   atol=1e-12)
        assert not np.allclose(est.emissions_[0].mean, start.emissions_[0].mean)
        est = InputDrivenHMM(emkit.distributions.Gaussian(), 2, **kw,
                             freeze={"emissions_": True}).fit(X, covariates=U)
        for a, b in zip(est.emissions_, start.emissions_, strict=True):
            np.testing.assert_array_equal(a.mean, b.mean)
        assert not np.allclose(est.transition_coef_, start.transition_coef_)
    bad = InputDrivenHMM(emkit.distributions.Gaussian(), 2, n_iter=1)
    with pytest.raises(ValueError, match="nothing to fit"):
        bad.set_params(freeze={"transition_coef_": True, "emissions_": True,
                               "startprob_": True}).fit(X, covariates=U)
    with pytest.raises(ValueError, match=r"freeze\['transition_coef_'\].*shape"):
        bad.set_params(freeze={"transition_coef_": np.ones((2, 2), bool)}).fit(
            X, covariates=U)
    with pytest.raises(ValueError, match="unknown attribute 'transmat_'"):
        bad.set_params(freeze={"transmat_": True}).fit(X, covariates=U)
