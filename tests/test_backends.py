"""Row-sliceable data and the chunked backend: statistics add up over pieces."""

from __future__ import annotations

import subprocess
import sys
from collections import namedtuple
from dataclasses import dataclass

import numpy as np
import pytest

import emkit
from emkit.backends import (
    ChunkedModel,
    InMemoryModel,
    Sequences,
    for_input,
    iter_chunks,
    n_rows,
    split_rows,
    take_rows,
)
from emkit.engine.stats import tree_leaves
from emkit.examples.textbook import (
    CensoredExponential,
    CensoredLifetimes,
    NormalMixture1D,
    TwoCoins,
)
from emkit.models.mixture.gaussian_missing import MissingGaussianMixtureModel


def assert_tree_close(a, b, *, rtol, atol=0.0):
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def normal_mixture_case(n=5003, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-2, 1, n // 2), rng.normal(3, 0.5, n - n // 2)])
    init = {"weights": np.array([0.4, 0.6]), "means": np.array([-1.0, 1.0]),
            "variances": np.array([1.0, 2.0])}
    return x, init


def gaussian_case(covariance_type, n=2011, d=3, k=3, missing=0.1, seed=1):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4, size=(k, d))
    X = centres[rng.integers(k, size=n)] + rng.normal(size=(n, d)) + 100.0
    if missing:
        mask = rng.random((n, d)) < missing
        mask[mask.all(axis=1), 0] = False
        X[mask] = np.nan
    cov = {"full": np.stack([np.eye(d) * 2] * k), "tied": np.eye(d) * 2,
           "diag": np.full((k, d), 2.0), "spherical": np.full(k, 2.0)}[covariance_type]
    init = {"weights": np.full(k, 1 / k), "means": centres + 100.0 + 0.5, "covariances": cov}
    return X, init


# ----------------------------------------------------------------- row-sliceable data
def test_rows_of_arrays_tuples_dicts_and_dataclasses():
    X = np.arange(20.0).reshape(10, 2)
    w = np.arange(10.0)
    Pair = namedtuple("Pair", "X w")

    @dataclass(frozen=True)
    class Weighted:
        X: np.ndarray
        w: np.ndarray
        note: object = None

    for data in (X, (X, w), [X, w], {"X": X, "w": w}, Pair(X, w), Weighted(X, w)):
        assert n_rows(data) == 10
        piece = take_rows(data, 3, 7)
        assert type(piece) is type(data)
        assert n_rows(piece) == 4
        pieces = split_rows(data, 3)
        assert [n_rows(p) for p in pieces] == [3, 4, 3]
    np.testing.assert_array_equal(take_rows(Weighted(X, w), 2, 4).X, X[2:4])
    np.testing.assert_array_equal(take_rows(Pair(X, w), 2, 4).w, w[2:4])
    # more pieces than rows: one row each
    assert len(split_rows(X[:2], 5)) == 2


def test_misaligned_members_and_bad_arguments_raise():
    with pytest.raises(ValueError, match="different numbers of rows"):
        n_rows((np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="n_pieces"):
        split_rows(np.zeros(3), 0)
    with pytest.raises(ValueError, match="chunk_size"):
        list(iter_chunks(np.zeros(3), 0))
    with pytest.raises(ValueError, match="chunk_size"):
        ChunkedModel(NormalMixture1D(), chunk_size=2.5)
    with pytest.raises(ValueError, match="splitter"):
        ChunkedModel(NormalMixture1D(), chunk_size=2, splitter="rows")
    with pytest.raises(ValueError, match="number of rows"):
        n_rows(object())


def test_sequences_split_keeps_sequences_whole():
    lengths = np.array([5, 1, 7, 3, 3, 9, 2])
    seqs = Sequences(np.arange(lengths.sum()), lengths)
    for n_pieces in (1, 2, 3, 7, 20):
        pieces = seqs.split(n_pieces)
        assert 1 <= len(pieces) <= min(n_pieces, len(lengths))
        np.testing.assert_array_equal(np.concatenate([p.lengths for p in pieces]), lengths)
        np.testing.assert_array_equal(np.concatenate([p.X for p in pieces]), seqs.X)
    with pytest.raises(ValueError, match="sum to"):
        Sequences(np.zeros(5), [2, 2])
    assert Sequences(np.zeros(4)).lengths.tolist() == [4]


# ----------------------------------------------------------------- chunked == in-memory
@pytest.mark.parametrize("chunk_size", [3, 1000, 10_000])
def test_chunked_normal_mixture_stats_equal_in_memory(chunk_size):
    x, init = normal_mixture_case()
    model = NormalMixture1D()
    stats, loglik = model.e_step(x, init)
    c_stats, c_loglik = ChunkedModel(model, chunk_size).e_step(x, init)
    assert_tree_close(c_stats, stats, rtol=1e-12)
    np.testing.assert_allclose(c_loglik, loglik, rtol=1e-12)


def test_chunked_two_coins_stats_equal_in_memory():
    rng = np.random.default_rng(3)
    tosses = rng.integers(5, 15, size=997)
    heads = rng.binomial(tosses, np.where(rng.random(997) < 0.5, 0.3, 0.8))
    data = np.column_stack([heads, tosses]).astype(float)
    model = TwoCoins()
    stats, loglik = model.e_step(data, (0.4, 0.6))
    c_stats, c_loglik = ChunkedModel(model, 100).e_step(data, (0.4, 0.6))
    assert_tree_close(c_stats, stats, rtol=1e-12)
    np.testing.assert_allclose(c_loglik, loglik, rtol=1e-12)


def test_chunked_censored_lifetimes_need_and_use_a_splitter():
    rng = np.random.default_rng(4)
    data = CensoredLifetimes(failures=rng.exponential(2.0, 300), censored=rng.uniform(0, 3, 120))
    model = CensoredExponential()
    with pytest.raises(ValueError, match="splitter"):
        ChunkedModel(model, 50).e_step(data, 0.7)

    def splitter(d, n_pieces):
        f = np.array_split(d.failures, n_pieces)
        c = np.array_split(d.censored, n_pieces)
        return [CensoredLifetimes(a, b) for a, b in zip(f, c, strict=True)]

    stats, loglik = model.e_step(data, 0.7)
    c_stats, c_loglik = ChunkedModel(model, 50, splitter=splitter).e_step(data, 0.7)
    assert_tree_close(c_stats, stats, rtol=1e-12)
    np.testing.assert_allclose(c_loglik, loglik, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_chunked_gaussian_mixture_with_missing_values_equals_in_memory(covariance_type):
    X, init = gaussian_case(covariance_type, n=601)
    model = MissingGaussianMixtureModel(covariance_type)
    stats, loglik = model.e_step(X, init)
    for chunk_size in (97, 250):
        c_stats, c_loglik = ChunkedModel(model, chunk_size).e_step(X, init)
        assert_tree_close(c_stats, stats, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(c_loglik, loglik, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_chunked_complete_data_gaussian_model_equals_in_memory(covariance_type):
    from emkit.models.mixture.gaussian import GaussianMixtureModel

    X, init = gaussian_case(covariance_type, missing=0.0)
    model = GaussianMixtureModel(covariance_type=covariance_type)
    stats, loglik = model.e_step(X, init)
    c_stats, c_loglik = ChunkedModel(model, 100).e_step(X, init)
    assert_tree_close(c_stats, stats, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(c_loglik, loglik, rtol=1e-12)


def test_chunked_fit_follows_the_in_memory_fit():
    x, init = normal_mixture_case()
    model = NormalMixture1D()
    full = emkit.em(model, x, init, tol=1e-10, max_iter=500)
    chunked = emkit.em(ChunkedModel(model, 512), x, init, tol=1e-10, max_iter=500)
    assert chunked.n_iter == full.n_iter
    assert_tree_close(chunked.params, full.params, rtol=1e-9)
    # SQUAREM goes through the wrapper's forwarded is_feasible
    sq = emkit.em(ChunkedModel(model, 512), x, init, tol=1e-10, max_iter=500,
                  accelerate="squarem")
    np.testing.assert_allclose(sq.loglik, full.loglik, rtol=1e-9)


def test_chunked_memory_is_bounded_by_chunk_size():
    seen = []

    class Recording(NormalMixture1D):
        def e_step(self, x, params):
            seen.append(len(x))
            return super().e_step(x, params)

    x, init = normal_mixture_case(n=10_000)
    ChunkedModel(Recording(), 1024).e_step(x, init)
    assert max(seen) == 1024 and sum(seen) == 10_000


def test_chunked_sequences_keep_markov_transitions_exact():
    # transition counts are additive over whole sequences, not over arbitrary rows
    class MarkovChain:
        def e_step(self, data, params):
            counts = np.zeros((3, 3))
            starts = np.cumsum(data.lengths) - data.lengths
            for a, n in zip(starts, data.lengths, strict=True):
                s = data.X[a : a + n]
                np.add.at(counts, (s[:-1], s[1:]), 1.0)
            return counts, float(np.sum(counts * np.log(params)))

        def m_step(self, counts):
            return counts / counts.sum(axis=1, keepdims=True)

    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 40, size=60)
    data = Sequences(rng.integers(0, 3, size=lengths.sum()), lengths)
    params = np.full((3, 3), 1 / 3)
    stats, loglik = MarkovChain().e_step(data, params)
    c_stats, c_loglik = ChunkedModel(MarkovChain(), 100).e_step(data, params)
    np.testing.assert_array_equal(c_stats, stats)
    np.testing.assert_allclose(c_loglik, loglik, rtol=1e-12)


# ----------------------------------------------------------------- backend choice
def test_for_input_picks_the_backend_from_the_input():
    model = NormalMixture1D()
    x = np.zeros(100)
    assert for_input(model, x) == (model, x)
    wrapped, data = for_input(model, x, chunk_size=10)
    assert isinstance(wrapped, ChunkedModel) and wrapped.chunk_size == 10 and data is x
    # one chunk would hold everything: no wrapper needed
    assert for_input(model, x, chunk_size=100)[0] is model
    with pytest.raises(ValueError, match="chunk_size"):
        for_input(model, x, chunk_size=0)
    # attributes the engine looks up (is_feasible, ...) come from the wrapped model
    assert InMemoryModel(model).is_feasible == model.is_feasible
    feasible = {"weights": np.array([0.5, 0.5]), "means": np.zeros(2),
                "variances": np.ones(2)}
    assert InMemoryModel(model).is_feasible(feasible)
    assert not InMemoryModel(model).is_feasible(dict(feasible, variances=np.array([1.0, -1.0])))
    with pytest.raises(AttributeError):
        _ = InMemoryModel(model).no_such_attribute
    assert "chunk_size=10" in repr(wrapped)


def test_import_emkit_and_backends_does_not_import_dask():
    code = (
        "import sys, emkit, emkit.backends, emkit.engine.online\n"
        "import numpy as np\n"
        "emkit.backends.for_input(None, np.zeros(3), chunk_size=1)\n"
        "assert 'dask' not in sys.modules, sorted(m for m in sys.modules if 'dask' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def poisson_mixture_case(n=4000, seed=0):
    from emkit.distributions import Poisson
    from emkit.models.mixture.any_distribution import MixtureEM

    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.poisson(2, (n // 2, 1)), rng.poisson(9, (n - n // 2, 1))])
    model = MixtureEM([Poisson(), Poisson()])
    init = model.pack(np.array([0.5, 0.5]),
                      [Poisson(rate=np.array([1.0])), Poisson(rate=np.array([5.0]))])
    return X.astype(float), model, init


def test_chunked_mixture_of_distributions_equals_in_memory():
    X, model, init = poisson_mixture_case()
    stats, loglik = model.e_step(X, init)
    c_stats, c_loglik = ChunkedModel(model, 333).e_step(X, init)
    assert_tree_close(c_stats, stats, rtol=1e-12)
    np.testing.assert_allclose(c_loglik, loglik, rtol=1e-12)


def hmm_case(seed=0):
    from emkit.distributions import Categorical
    from emkit.models.hmm.emission import DistributionEmission
    from emkit.models.hmm.model import HMMModel
    from emkit.models.hmm.model import Sequences as HMMSequences

    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 60, size=40)
    X = rng.integers(0, 4, size=(int(lengths.sum()), 1))
    data = HMMSequences.from_arrays(X, lengths)
    init = {"startprob": np.array([0.6, 0.4]),
            "transmat": np.array([[0.8, 0.2], [0.3, 0.7]]),
            "emissions": [{"probs": np.array([[0.4, 0.3, 0.2, 0.1]])},
                          {"probs": np.array([[0.1, 0.2, 0.3, 0.4]])}]}
    emission = DistributionEmission([Categorical(n_categories=4)] * 2)
    model = HMMModel(emission, 2, "ste", init, block_rows=64, total_rows=len(X))
    return data, model, init


def test_chunked_hmm_splits_between_sequences_and_matches_in_memory():
    data, model, init = hmm_case()
    assert n_rows(data) == len(data.X)
    pieces = split_rows(data, 5)
    assert sum(p.n_sequences for p in pieces) == data.n_sequences
    stats, loglik = model.e_step(data, init)
    c_stats, c_loglik = ChunkedModel(model, 150).e_step(data, init)
    assert_tree_close(c_stats, stats, rtol=1e-12)
    np.testing.assert_allclose(c_loglik, loglik, rtol=1e-12)
    with pytest.warns(emkit.ConvergenceWarning):
        whole = emkit.em(model, data, init, tol=0.0, max_iter=10)
    with pytest.warns(emkit.ConvergenceWarning):
        chunked = emkit.em(ChunkedModel(model, 150), data, init, tol=0.0, max_iter=10)
    assert_tree_close(chunked.params, whole.params, rtol=1e-9)
