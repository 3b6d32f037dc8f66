"""The one-pass Gaussian HMM E-step against a NumPy reference and against the three-pass path.

The reference is written here: log-space forward-backward
(:func:`emkit.models.hmm.recursions_reference.forward_backward_reference`) on
SciPy's ``multivariate_normal`` log-densities,
then the states' moments about their E-step means from the posteriors. Rows
with NaN are checked against the generic path (frame probabilities,
forward-backward, then the states' expected statistics, each tested on its own
elsewhere), which the one-pass kernel replaces.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from emkit.distributions.gaussian import Gaussian
from emkit.models.hmm import emission as emission_module
from emkit.models.hmm.emission import DistributionEmission
from emkit.models.hmm.gaussian_fused import gaussian_e_step
from emkit.models.hmm.model import HMMModel, Sequences
from emkit.models.hmm.recursions_reference import forward_backward_reference
from emkit.numerics import parallel

LENGTHS = (40, 1, 73, 2, 55, 60)


@pytest.fixture(params=["serial", "parallel"])
def mode(request, monkeypatch):
    if request.param == "parallel":
        monkeypatch.setattr(parallel, "PARALLEL_MIN_ROWS", 0)
    return request.param


def _problem(ctype: str, seed: int = 0, k: int = 5, d: int = 3):
    rng = np.random.default_rng(seed)
    n = sum(LENGTHS)
    means = rng.normal(scale=3.0, size=(k, d))
    X = means[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    if ctype == "full":
        a = rng.normal(size=(k, d, d))
        covs = a @ a.transpose(0, 2, 1) + np.eye(d)
    elif ctype == "tied":
        a = rng.normal(size=(d, d))
        covs = np.broadcast_to(a @ a.T + np.eye(d), (k, d, d))
    elif ctype == "diag":
        covs = rng.uniform(0.5, 2.0, size=(k, d))
    else:
        covs = rng.uniform(0.5, 2.0, size=k)
    states = [Gaussian(means[j], covs[j], covariance_type=ctype) for j in range(k)]
    startprob = rng.dirichlet(np.ones(k))
    transmat = rng.dirichlet(np.ones(k), size=k)
    return X, states, startprob, transmat


def _full_covariances(states):
    return np.stack([s.full_covariance() for s in states])


@pytest.mark.parametrize("ctype", ["diag", "full", "spherical", "tied"])
def test_matches_numpy_reference(ctype, mode):
    X, states, startprob, transmat = _problem(ctype)
    offsets = np.concatenate([[0], np.cumsum(LENGTHS)]).astype(np.int64)
    weights = np.linspace(0.5, 2.0, len(LENGTHS))
    means = np.stack([s.mean for s in states])
    log_frame = np.stack([multivariate_normal(m, c).logpdf(X)
                          for m, c in zip(means, _full_covariances(states), strict=True)],
                         axis=1)
    ref_ll, gamma, xi = forward_backward_reference(log_frame, offsets, startprob, transmat,
                                                   weights)
    logliks, start, visits, trans, stats = gaussian_e_step(X, offsets, weights, states,
                                                           startprob, transmat)
    np.testing.assert_allclose(logliks, ref_ll, rtol=1e-11)
    np.testing.assert_allclose(start, gamma[offsets[:-1]].sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(visits, gamma.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(trans, xi, rtol=1e-9, atol=1e-12)
    for j, s in enumerate(stats):
        z = X - means[j]
        outer = (z * gamma[:, j, None]).T @ z
        np.testing.assert_allclose(s["n"], gamma[:, j].sum(), rtol=1e-10)
        np.testing.assert_allclose(s["sum"], gamma[:, j] @ X, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(s["centred_sum"], gamma[:, j] @ z, atol=1e-8)
        expected = outer if ctype in ("full", "tied") else np.diag(outer)
        np.testing.assert_allclose(s["centred_outer"], expected, rtol=1e-9)


def _generic(monkeypatch, model, data, params):
    with monkeypatch.context() as patch:
        patch.setattr(DistributionEmission, "block_e_step", lambda self, *args: None)
        return model.e_step(data, params)


@pytest.mark.parametrize("ctype", ["diag", "full", "spherical", "tied"])
def test_rows_with_nan_match_the_three_pass_path(ctype, mode, monkeypatch):
    X, states, startprob, transmat = _problem(ctype, seed=1)
    rng = np.random.default_rng(2)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[[0, 7, 41]] = np.nan  # rows with nothing observed, one a sequence's first
    emission = DistributionEmission(states)
    params = {"startprob": startprob, "transmat": transmat,
              "emissions": [s.parameters() for s in states]}
    model = HMMModel(emission, len(states), "ste", params)
    data = Sequences.from_arrays(X, np.array(LENGTHS), np.linspace(2.0, 0.5, len(LENGTHS)))
    stats, objective = model.e_step(data, params)
    ref_stats, ref_objective = _generic(monkeypatch, model, data, params)
    assert objective == pytest.approx(ref_objective, rel=1e-12)
    for key in ("start", "trans", "visits"):
        np.testing.assert_allclose(stats[key], ref_stats[key], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(stats["emission"]["post"], ref_stats["emission"]["post"],
                               rtol=1e-11)
    for s, r in zip(stats["emission"]["components"], ref_stats["emission"]["components"],
                    strict=True):
        assert s.keys() == r.keys()
        for key in r:
            np.testing.assert_allclose(s[key], r[key], rtol=1e-10, atol=1e-10)


def test_other_families_take_the_generic_path():
    from emkit.distributions import Poisson

    emission = DistributionEmission([Poisson(rate=[1.0]), Poisson(rate=[2.0])])
    prepared = emission.prepare({"emissions": [{"rate": np.array([1.0])},
                                               {"rate": np.array([2.0])}]})
    X = np.ones((4, 1))
    assert emission.block_e_step(X, np.array([0, 4]), None, prepared, np.full(2, 0.5),
                                 np.full((2, 2), 0.5)) is None
    assert emission_module.Emission.block_e_step(emission, X, np.array([0, 4]), None,
                                                 prepared, np.full(2, 0.5),
                                                 np.full((2, 2), 0.5)) is None
