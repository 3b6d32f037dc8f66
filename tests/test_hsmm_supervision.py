"""HSMM with known states, soft evidence and frozen transitions.

The likelihood with evidence is checked against the brute-force enumeration of all
segmentations in tests/test_hsmm.py, each frame's density multiplied by its evidence
(a known state: 1 there, 0 elsewhere).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emkit.distributions import Gaussian
from emkit.estimators.hsmm import HSMM
from emkit.models.hmm.model import Sequences
from test_hsmm import enumerate_segmentations, frame_logs, hand_model


@pytest.mark.parametrize("K,T,dmax", [(2, 5, 3), (3, 6, 4)])
def test_likelihood_and_posteriors_with_evidence_equal_the_enumeration(K, T, dmax):
    rng = np.random.default_rng(7 * K + T)
    m, means = hand_model(K, dmax, rng)
    X = rng.normal(size=(T, 1)) * 2.0
    labels = np.full(T, -1)
    labels[1], labels[T - 2] = 0, K - 1
    priors = rng.uniform(0.2, 1.0, size=(T, K))
    log_ev = np.log(priors)
    log_ev[labels >= 0] = -np.inf
    log_ev[1, 0] = np.log(priors[1, 0])
    log_ev[T - 2, K - 1] = np.log(priors[T - 2, K - 1])
    ll, _, _, post = enumerate_segmentations(frame_logs(X, means) + log_ev, m.startprob_,
                                             m.transmat_, m.durations_)
    params = m._current_params()
    model = m._model(X, params)
    stats, objective = model.e_step(Sequences(X, np.array([T]), None, log_ev), params)
    np.testing.assert_allclose(objective - model.log_prior(params), ll, rtol=0, atol=1e-10)
    np.testing.assert_allclose(stats["visits"], post.sum(axis=0), rtol=0, atol=1e-10)
    # the fit takes them too, and the labelled frames are decoded to their states
    m.set_params(n_iter=2, init_params="", tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X, labels=labels, priors=priors)
    assert np.isfinite(m.monitor_.history[-1])


def test_a_labelled_run_longer_than_max_duration_is_refused():
    X = np.random.default_rng(0).normal(size=(40, 1))
    labels = np.full(40, -1)
    labels[10:22] = 1  # 12 consecutive frames of state 1: one segment
    with pytest.raises(ValueError, match="max_duration=10 is shorter than a run of 12 "
                                         r"consecutive frames labelled state 1 \(from row 10\)"):
        HSMM(Gaussian(), 2, max_duration=10, n_iter=1).fit(X, labels=labels)
    labels[16] = -1  # broken by an unknown frame: two segments are possible
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        HSMM(Gaussian(), 2, max_duration=10, n_iter=1, random_state=0).fit(X, labels=labels)
    # runs do not continue across sequences
    labels = np.full(40, -1)
    labels[14:26] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        HSMM(Gaussian(), 2, max_duration=10, n_iter=1, random_state=0).fit(
            X, [20, 20], labels=labels)


def test_frozen_transitions_keep_their_entries():
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(m, 1.0, size=(15, 1)) for m in (0, 4, 8) * 6])
    mask = np.zeros((3, 3), bool)
    mask[0, 2] = True
    start = HSMM(Gaussian(), 3, max_duration=30, n_iter=0, random_state=0).fit(X)
    m = HSMM(Gaussian(), 3, max_duration=30, n_iter=5, tol=0.0, random_state=0,
             init_params="sde", freeze={"transmat_": mask})
    m.transmat_ = start.transmat_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X)
    assert m.transmat_[0, 2] == start.transmat_[0, 2]
    np.testing.assert_allclose(m.transmat_.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(np.diag(m.transmat_), 0.0)
    # row 0 has one free entry left (the diagonal is structurally zero): it takes the rest
    assert m.transmat_[0, 1] == pytest.approx(1.0 - start.transmat_[0, 2], rel=1e-12)
