"""Property-based tests for MclustMixture / select_model and the chunked and Dask backends.

mclust's fourteen covariance models on random data and random starts: plain EM
never lowers the log-likelihood, SQUAREM ends at a plain-EM fixed point, fitted
covariances are symmetric positive definite in the model's family, ``score``
equals scipy's mixture density, seeds reproduce, and fits do not depend on row
order or on the labels of the start. ``select_model``'s table recomputes. The
backends: an E-step cut into chunks or Dask partitions of any size gives the
same statistics and the same EM path as in memory.
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.special import logsumexp

import emkit
from emkit.backends.chunked import ChunkedModel
from emkit.distributions import Poisson
from emkit.estimators.mclust_mixture import MclustMixture
from emkit.gaussian.constrained import MCLUST_MODELS
from emkit.models.hmm.model import Sequences
from emkit.models.mixture.any_distribution import MixtureEM
from emkit.models.mixture.gaussian import GaussianMixtureModel
from emkit.models.mixture.mclust import MclustModel, partition_stats

NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)  # seeds: shrinking costs minutes
PROPERTY = settings(max_examples=8, deadline=None, phases=NO_SHRINK)
seeds = st.integers(0, 2**16)
models = st.sampled_from(MCLUST_MODELS)


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        warnings.simplefilter("error", emkit.MonotonicityWarning)
        return fn(*args, **kwargs)


def blobs(rng, n: int = 45, d: int = 2, k: int = 3) -> np.ndarray:
    centres = rng.normal(scale=4.0, size=(k, d))
    scales = rng.uniform(0.5, 2.0, size=(k, d))
    labels = np.arange(n) % k
    return centres[labels] + rng.normal(size=(n, d)) * scales[labels]


def random_start(model: MclustModel, X: np.ndarray, k: int, rng) -> dict:
    labels = np.r_[np.arange(k), rng.integers(0, k, len(X) - k)]
    return model.m_step(partition_stats(X, rng.permutation(labels), k))


def mixture_logpdf(X, params) -> np.ndarray:
    terms = [np.log(w) + sps.multivariate_normal(m, c).logpdf(X)
             for w, m, c in zip(params["weights"], params["means"], params["covariances"],
                                strict=True)]
    return logsumexp(np.stack(terms, axis=1), axis=1)


@PROPERTY
@given(seed=seeds, name=models, k=st.integers(1, 3))
@example(seed=65536, name="VEE", k=3)  # a plain step inside SQUAREM lowers the likelihood
def test_mclust_em_is_monotone_valid_and_scored_like_scipy(seed, name, k):
    rng = np.random.default_rng(seed)
    X = blobs(rng)
    model = MclustModel(name, reg_covar=1e-6)
    init = random_start(model, X, k, rng)
    result = quietly(emkit.em, model, X, init, tol=0, max_iter=20)
    ll = result.logliks
    rtol = getattr(model, "monotone_rtol", 1e-10)
    assert np.all(np.diff(ll) >= -rtol * np.maximum(np.abs(ll[:-1]), 1.0))
    p = result.params
    assert np.all(p["weights"] >= 0)
    np.testing.assert_allclose(p["weights"].sum(), 1.0, rtol=0, atol=1e-12)
    for c in p["covariances"]:
        np.testing.assert_allclose(c, c.T, rtol=0, atol=1e-10 * np.abs(c).max())
        assert np.linalg.eigvalsh(c).min() > 0
    if name[0] == "E" and k > 1:  # equal volume: equal determinants
        dets = np.linalg.det(p["covariances"])
        np.testing.assert_allclose(dets, dets[0], rtol=1e-6)
    if name.endswith("I"):  # axis-aligned
        off = p["covariances"] - np.stack([np.diag(np.diag(c)) for c in p["covariances"]])
        assert np.abs(off).max() <= 1e-12 * np.abs(p["covariances"]).max()
    np.testing.assert_allclose(result.loglik, mixture_logpdf(X, p).sum(), rtol=1e-9)
    # SQUAREM from the same start ends at a fixed point of plain EM
    fast = quietly(emkit.em, model, X, init, tol=1e-9, max_iter=500, accelerate="squarem")
    more = quietly(emkit.em, model, X, fast.params, tol=0, max_iter=10)
    assert more.loglik - fast.loglik <= 1e-6 * max(abs(fast.loglik), 1.0)


@PROPERTY
@given(seed=seeds, name=models)
def test_mclust_invariant_to_row_order_and_start_labels(seed, name):
    rng = np.random.default_rng(seed)
    X = blobs(rng)
    model = MclustModel(name, reg_covar=1e-6)
    init = random_start(model, X, 3, rng)
    base = quietly(emkit.em, model, X, init, tol=0, max_iter=15)
    shuffled = quietly(emkit.em, model, X[rng.permutation(len(X))], init, tol=0, max_iter=15)
    perm = rng.permutation(3)

    def relabel(key, value):  # EVE/VVE's common "orientation" belongs to no component
        return np.asarray(value) if key == "orientation" else np.asarray(value)[perm]

    moved = {key: relabel(key, v) for key, v in init.items()}
    relabelled = quietly(emkit.em, model, X, moved, tol=0, max_iter=15)
    np.testing.assert_allclose(shuffled.loglik, base.loglik, rtol=1e-9)
    np.testing.assert_allclose(relabelled.loglik, base.loglik, rtol=1e-9)
    for key, value in base.params.items():
        np.testing.assert_allclose(shuffled.params[key], value, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(relabelled.params[key], relabel(key, value), rtol=1e-5,
                                   atol=1e-8)


@PROPERTY
@given(seed=seeds, name=models)
def test_mclust_estimator_reproducible_and_scored_like_scipy(seed, name):
    rng = np.random.default_rng(seed)
    X = blobs(rng)
    kw = dict(n_components=2, init_params="kmeans", random_state=seed, reg_covar=1e-6,
              max_iter=50)
    a = quietly(MclustMixture(name, **kw).fit, X)
    b = quietly(MclustMixture(name, **kw).fit, X)
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    params = {"weights": a.weights_, "means": a.means_, "covariances": a.covariances_}
    rows = mixture_logpdf(X, params)
    np.testing.assert_allclose(a.score_samples(X), rows, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a.loglik_, rows.sum(), rtol=1e-9)
    np.testing.assert_allclose(a.bic(X), -2 * rows.sum() + a.n_parameters() * np.log(len(X)),
                               rtol=1e-12)


@settings(max_examples=3, deadline=None, phases=NO_SHRINK)
@given(seed=seeds)
def test_select_model_table_recomputes_and_best_is_the_minimum(seed):
    rng = np.random.default_rng(seed)
    X = blobs(rng, n=40)
    kw = dict(n_components=[1, 2], covariance_models=["EII", "VVI", "VVV"], random_state=seed)
    result = quietly(emkit.select_model, X, **kw)
    again = quietly(emkit.select_model, X, **kw)
    table = result.table
    assert len(table) == 6
    np.testing.assert_array_equal(table["bic"].to_numpy(), again.table["bic"].to_numpy())
    ok = table[table["error"].isna()]
    n = len(X)
    np.testing.assert_allclose(ok["bic"], -2 * ok["loglik"] + ok["n_parameters"] * np.log(n),
                               rtol=1e-12)
    np.testing.assert_allclose(ok["aic"], -2 * ok["loglik"] + 2 * ok["n_parameters"],
                               rtol=1e-12)
    np.testing.assert_allclose(result.best.bic(X), ok["bic"].min(), rtol=1e-9)


# ------------------------------------------------------------------------- backends
@PROPERTY
@given(seed=seeds, chunk=st.integers(4, 60), which=st.sampled_from(("gm", "mixture", "mclust")))
def test_chunked_e_step_and_em_path_equal_in_memory(seed, chunk, which):
    rng = np.random.default_rng(seed)
    X = blobs(rng, n=50)
    if which == "gm":
        model = GaussianMixtureModel("full", 1e-6)
        init = {"weights": np.full(3, 1 / 3), "means": X[:3].copy(),
                "covariances": np.stack([np.eye(2)] * 3)}
        data = X
    elif which == "mclust":
        model = MclustModel("VEV", reg_covar=1e-6)
        init = random_start(model, X, 3, rng)
        data = X
    else:
        data = rng.poisson(4, (50, 2)).astype(float)
        template = Poisson()
        model = MixtureEM([template, template])
        init = model.pack(np.array([0.4, 0.6]), [Poisson(rate=[2.0, 3.0]),
                                                 Poisson(rate=[5.0, 6.0])])
    chunked = ChunkedModel(model, chunk)
    s1, l1 = model.e_step(data, init)
    s2, l2 = chunked.e_step(data, init)
    np.testing.assert_allclose(l2, l1, rtol=1e-12)
    flat1 = np.concatenate([np.ravel(v) for v in _leaves(s1)])
    flat2 = np.concatenate([np.ravel(v) for v in _leaves(s2)])
    np.testing.assert_allclose(flat2, flat1, rtol=1e-10, atol=1e-10)
    a = quietly(emkit.em, model, data, init, tol=0, max_iter=4)
    b = quietly(emkit.em, chunked, data, init, tol=0, max_iter=4)
    np.testing.assert_allclose(b.logliks, a.logliks, rtol=1e-10)


def _leaves(tree):
    if isinstance(tree, dict):
        for key in sorted(tree):
            yield from _leaves(tree[key])
    elif isinstance(tree, (list, tuple)):
        for item in tree:
            yield from _leaves(item)
    else:
        yield np.asarray(tree, dtype=float)


@settings(max_examples=3, deadline=None, phases=NO_SHRINK)
@given(seed=seeds, chunk=st.integers(7, 40))
def test_dask_partitions_give_the_in_memory_em_path(seed, chunk):
    import dask.array as da

    from emkit.backends.dask_backend import DaskModel

    rng = np.random.default_rng(seed)
    X = blobs(rng, n=60)
    model = GaussianMixtureModel("diag", 1e-6)
    init = {"weights": np.full(3, 1 / 3), "means": X[:3].copy(), "covariances": np.ones((3, 2))}
    a = quietly(emkit.em, model, X, init, tol=0, max_iter=5)
    b = quietly(emkit.em, DaskModel(model), da.from_array(X, chunks=(chunk, 2)), init, tol=0,
                max_iter=5)
    np.testing.assert_allclose(b.logliks, a.logliks, rtol=1e-10)
    for key, value in a.params.items():
        np.testing.assert_allclose(b.params[key], value, rtol=1e-9, atol=1e-12)


@PROPERTY
@given(seed=seeds, block=st.integers(1, 30))
def test_hmm_e_step_is_the_same_for_any_block_size(seed, block):
    rng = np.random.default_rng(seed)
    est = emkit.GaussianHMM(2, init_params="", covariance_type="diag")
    X = rng.normal(size=(40, 2))
    lengths = [13, 17, 10]
    est.startprob_ = np.array([0.3, 0.7])
    est.transmat_ = np.array([[0.8, 0.2], [0.4, 0.6]])
    est.means_ = np.array([[0.0, 0.0], [1.0, 1.0]])
    est.covars_ = np.ones((2, 2))
    params = est._current_params()
    whole = est._model(X, params)
    data = Sequences.from_arrays(X, lengths)
    s1, l1 = whole.e_step(data, params)
    whole.block_rows = block
    s2, l2 = whole.e_step(data, params)
    np.testing.assert_allclose(l2, l1, rtol=1e-12)
    for a, b in zip(_leaves(s1), _leaves(s2), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


@PROPERTY
@given(seed=seeds, batch=st.integers(1, 50), alpha=st.floats(0.51, 1.0))
def test_stepwise_em_first_batch_is_one_em_step_and_params_stay_valid(seed, batch, alpha):
    from emkit.engine.online import StepwiseEM
    from emkit.engine.rows import iter_batches

    rng = np.random.default_rng(seed)
    X = blobs(rng, n=60)
    model = GaussianMixtureModel("full", 1e-6)
    init = {"weights": np.full(3, 1 / 3), "means": X[:3].copy(),
            "covariances": np.stack([np.eye(2)] * 3)}
    whole = StepwiseEM(model, init, alpha=alpha).partial_fit(X)
    step = quietly(emkit.em, model, X, init, tol=0, max_iter=1)
    for key, value in step.params.items():
        np.testing.assert_allclose(whole.params[key], value, rtol=1e-10, atol=1e-12)
    online = StepwiseEM(model, init, alpha=alpha)
    for piece in iter_batches(X, batch, shuffle=True, random_state=seed):
        online.partial_fit(piece)
        p = online.params
        assert np.all(p["weights"] >= 0) and abs(p["weights"].sum() - 1) < 1e-10
        for c in p["covariances"]:
            assert np.linalg.eigvalsh(c).min() > 0
    assert online.n_rows_seen == len(X)
    assert online.n_batches == -(-len(X) // batch)
