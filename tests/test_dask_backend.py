"""The Dask backend: local scheduler, a real multi-process LocalCluster, lost workers,
out-of-core files and lazy prediction."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import emkit
from emkit.backends import ChunkedModel, Sequences, for_input, open_dataset
from emkit.backends.dask_backend import DaskModel, dask_pieces, map_rows, scatter_pieces
from emkit.engine.stats import tree_leaves
from emkit.models.mixture.gaussian import GaussianMixtureModel
from emkit.models.mixture.gaussian_missing import MissingGaussianMixtureModel

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

# worker processes cannot import this test module: send its classes by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def assert_tree_close(a, b, *, rtol, atol=0.0):
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def blobs(n=1200, d=3, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5, size=(k, d))
    X = (centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))).astype(dtype)
    init = {"weights": np.full(k, 1 / k), "means": centres + 0.7,
            "covariances": np.stack([np.eye(d)] * k)}
    return X, init


def fit(model, data, init, n_iter=4, **kwargs):
    """Exactly ``n_iter`` EM iterations (tol=0), so two backends can be compared."""
    with pytest.warns(emkit.ConvergenceWarning):
        return emkit.em(model, data, init, tol=0.0, max_iter=n_iter, **kwargs)


@pytest.fixture(scope="module")
def client():
    """Two worker processes, one thread each, started and closed by the tests."""
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0",
        silence_logs=logging.CRITICAL, memory_limit="1GiB",
    ) as cluster, distributed.Client(cluster, set_as_default=False) as c:
        yield c


# ----------------------------------------------------------------- local scheduler
def test_local_scheduler_array_stats_equal_in_memory():
    X, init = blobs()
    model = GaussianMixtureModel("full")
    stats, loglik = model.e_step(X, init)
    # several row blocks and two column blocks: the backend joins the columns
    dX = da.from_array(X, chunks=(250, 2))
    d_stats, d_loglik = DaskModel(model, split_every=2).e_step(dX, init)
    assert_tree_close(d_stats, stats, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(d_loglik, loglik, rtol=1e-12)


def test_local_scheduler_dataframe_with_missing_values_and_weighted_tuple():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, init = blobs(n=600)
    X[::7, 1] = np.nan
    model = MissingGaussianMixtureModel("diag")
    init = dict(init, covariances=np.ones((3, 3)))
    stats, loglik = model.e_step(X, init)
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abc")), npartitions=4)
    d_stats, d_loglik = DaskModel(model).e_step(frame, init)
    assert_tree_close(d_stats, stats, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(d_loglik, loglik, rtol=1e-12)

    Xc, init = blobs(n=600)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=600)
    full = GaussianMixtureModel("full")
    stats, loglik = full.e_step((Xc, w), init)
    pair = (da.from_array(Xc, chunks=(100, 3)), da.from_array(w, chunks=100))
    d_stats, d_loglik = DaskModel(full).e_step(pair, init)
    assert_tree_close(d_stats, stats, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(d_loglik, loglik, rtol=1e-12)


def test_local_scheduler_mixture_of_distributions():
    from emkit.distributions import Poisson
    from emkit.models.mixture.any_distribution import MixtureEM

    rng = np.random.default_rng(3)
    X = np.concatenate([rng.poisson(2, (500, 1)), rng.poisson(9, (300, 1))]).astype(float)
    model = MixtureEM([Poisson(), Poisson()])
    init = model.pack(np.array([0.5, 0.5]),
                      [Poisson(rate=np.array([1.0])), Poisson(rate=np.array([5.0]))])
    stats, loglik = model.e_step(X, init)
    d_stats, d_loglik = DaskModel(model).e_step(da.from_array(X, chunks=(128, 1)), init)
    assert_tree_close(d_stats, stats, rtol=1e-12)
    np.testing.assert_allclose(d_loglik, loglik, rtol=1e-12)


def test_dask_input_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="Dask array"):
        dask_pieces(np.zeros((3, 2)))
    pair = (da.zeros((10, 2), chunks=5), da.zeros(10, chunks=3))
    with pytest.raises(ValueError, match="same row chunks"):
        dask_pieces(pair)
    with pytest.raises(ValueError, match="split_every"):
        DaskModel(GaussianMixtureModel(), split_every=1)


def test_for_input_sends_dask_data_to_the_dask_backend():
    X, init = blobs(n=300)
    dX = da.from_array(X, chunks=100)
    model = GaussianMixtureModel("diag")
    wrapped, data = for_input(model, dX)
    assert isinstance(wrapped, DaskModel) and wrapped.model is model and data is dX
    wrapped, _ = for_input(model, dX, chunk_size=40)
    assert isinstance(wrapped.model, ChunkedModel) and wrapped.model.chunk_size == 40
    init = dict(init, covariances=np.ones((3, 3)))
    np.testing.assert_allclose(wrapped.e_step(dX, init)[1], model.e_step(X, init)[1],
                               rtol=1e-12)


def test_map_rows_is_lazy_and_matches_numpy():
    X, init = blobs(n=500)
    model = GaussianMixtureModel("full")

    def predict(block):
        return model.log_prob_rows(block, init).argmax(axis=1)

    def proba(block):
        log_prob = model.log_prob_rows(block, init)
        return np.exp(log_prob - np.logaddexp.reduce(log_prob, axis=1, keepdims=True))

    dX = da.from_array(X, chunks=(128, 2))
    labels = map_rows(predict, dX, dtype=np.int64)
    assert isinstance(labels, da.Array) and labels.shape == (500,)
    np.testing.assert_array_equal(labels.compute(), predict(X))
    resp = map_rows(proba, dX, n_columns=3)
    assert resp.shape == (500, 3) and resp.chunks[0] == dX.chunks[0]
    np.testing.assert_allclose(resp.compute(), proba(X), rtol=1e-12)
    np.testing.assert_array_equal(map_rows(predict, X), predict(X))
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abc")), npartitions=3)
    from_frame = map_rows(predict, frame, dtype=np.int64)
    assert isinstance(from_frame, da.Array)
    np.testing.assert_array_equal(from_frame.compute(), predict(X))


# ----------------------------------------------------------------- out-of-core
def test_open_dataset_reads_zarr_npy_and_parquet(tmp_path):
    pytest.importorskip("zarr")
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    X, _ = blobs(n=1000)
    da.from_array(X, chunks=(300, 3)).to_zarr(str(tmp_path / "x.zarr"))
    z = open_dataset(tmp_path / "x.zarr")
    assert z.chunks[0] == (300, 300, 300, 100)
    np.testing.assert_array_equal(z.compute(), X)
    assert open_dataset(tmp_path / "x.zarr", chunk_rows=500).chunks[0] == (500, 500)

    (tmp_path / "npy").mkdir()
    for i, part in enumerate(np.array_split(X, 3)):
        np.save(tmp_path / "npy" / f"part-{i}.npy", part)
    n = open_dataset(tmp_path / "npy", chunk_rows=128)
    assert max(n.chunks[0]) == 128
    np.testing.assert_array_equal(n.compute(), X)

    (tmp_path / "pq").mkdir()
    for i, part in enumerate(np.array_split(X, 2)):
        table = pa.table({c: part[:, j] for j, c in enumerate("abc")})
        pq.write_table(table, tmp_path / "pq" / f"part-{i}.parquet", row_group_size=200)
    p = open_dataset(tmp_path / "pq")
    assert p.chunks[0] == (200, 200, 100) * 2
    np.testing.assert_array_equal(p.compute(), X)
    np.testing.assert_array_equal(open_dataset(tmp_path / "pq", columns=["c", "a"]).compute(),
                                  X[:, [2, 0]])
    # one file of each kind; Parquet nulls become NaN
    np.testing.assert_array_equal(open_dataset(tmp_path / "npy" / "part-1.npy").compute(),
                                  np.array_split(X, 3)[1])
    pq.write_table(pa.table({"a": pa.array([1.0, None, 3.0]), "b": pa.array([1, 2, None])}),
                   tmp_path / "nulls.parquet")
    np.testing.assert_array_equal(open_dataset(tmp_path / "nulls.parquet").compute(),
                                  [[1.0, 1.0], [np.nan, 2.0], [3.0, np.nan]])


def test_open_dataset_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(ValueError, match="no data set"):
        open_dataset(tmp_path / "absent")
    with pytest.raises(ValueError, match=r"no \.npy or \.parquet"):
        open_dataset(tmp_path)
    np.save(tmp_path / "a.npy", np.zeros((3, 2)))
    np.save(tmp_path / "b.npy", np.zeros((3, 4)))
    with pytest.raises(ValueError, match="rows of shape"):
        open_dataset(tmp_path)
    with pytest.raises(ValueError, match="chunk_rows"):
        open_dataset(tmp_path, chunk_rows=0)


# ----------------------------------------------------------------- a real cluster
def test_cluster_fit_from_zarr_agrees_with_in_memory_fit(client, tmp_path):
    X, init = blobs(n=2000)
    da.from_array(X, chunks=(400, 3)).to_zarr(str(tmp_path / "x.zarr"))
    model = GaussianMixtureModel("full")
    expected = fit(model, X, init)
    with client.as_current():
        dmodel, data = for_input(model, open_dataset(tmp_path / "x.zarr"))
        result = fit(dmodel, data, init)
    np.testing.assert_allclose(result.loglik, expected.loglik, rtol=1e-8)
    assert_tree_close(result.params, expected.params, rtol=1e-8)


class DiesOnce(GaussianMixtureModel):
    """A Gaussian mixture whose E-step kills its worker process once, when armed."""

    def __init__(self, marker_dir: str, **kwargs):
        super().__init__(**kwargs)
        self.marker_dir = marker_dir

    def e_step(self, data, params):
        if Path(self.marker_dir, "armed").exists():
            try:  # exactly one process wins the exclusive creation: only one worker dies
                os.close(os.open(Path(self.marker_dir, "done"), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os._exit(1)  # the worker process dies in the middle of the E-step
        return super().e_step(data, params)


def test_fit_survives_a_worker_killed_mid_e_step(client, tmp_path):
    X, init = blobs(n=1600, seed=2)
    expected = fit(GaussianMixtureModel("full"), X, init)
    model = DiesOnce(str(tmp_path), covariance_type="full")
    dX = da.from_array(X, chunks=(200, 3))

    def arm_after_second_iteration(step):
        if step.iteration == 2:
            (tmp_path / "armed").touch()

    result = fit(DaskModel(model, client=client), dX, init,
                 callback=arm_after_second_iteration)
    assert (tmp_path / "done").exists(), "no worker was killed"
    np.testing.assert_allclose(result.loglik, expected.loglik, rtol=1e-8)
    assert_tree_close(result.params, expected.params, rtol=1e-8)
    client.wait_for_workers(2, timeout=60)


class MarkovChain:
    """Transition counts of whole sequences (additive over sequences only)."""

    def e_step(self, data, params):
        counts = np.zeros((3, 3))
        starts = np.cumsum(data.lengths) - data.lengths
        for a, n in zip(starts, data.lengths, strict=True):
            s = data.X[a : a + n]
            np.add.at(counts, (s[:-1], s[1:]), 1.0)
        return counts, float(np.sum(counts * np.log(params)))

    def m_step(self, counts):
        return counts / counts.sum(axis=1, keepdims=True)


def test_sequences_as_partitions_on_the_cluster_and_locally(client):
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 30, size=40)
    data = Sequences(rng.integers(0, 3, size=lengths.sum()), lengths)
    params = np.full((3, 3), 1 / 3)
    stats, loglik = MarkovChain().e_step(data, params)
    pieces = scatter_pieces(data, 4, client=client)
    d_stats, d_loglik = DaskModel(MarkovChain(), client=client).e_step(pieces, params)
    np.testing.assert_array_equal(d_stats, stats)
    np.testing.assert_allclose(d_loglik, loglik, rtol=1e-12)
    local = scatter_pieces(data, 3)
    np.testing.assert_array_equal(DaskModel(MarkovChain()).e_step(local, params)[0], stats)


def test_hmm_sequences_as_dask_pieces_on_the_local_scheduler():
    from emkit.distributions import Categorical
    from emkit.models.hmm.emission import DistributionEmission
    from emkit.models.hmm.model import HMMModel
    from emkit.models.hmm.model import Sequences as HMMSequences

    rng = np.random.default_rng(1)
    lengths = rng.integers(5, 60, size=30)
    X = rng.integers(0, 4, size=(int(lengths.sum()), 1))
    data = HMMSequences.from_arrays(X, lengths)
    init = {"startprob": np.array([0.6, 0.4]),
            "transmat": np.array([[0.8, 0.2], [0.3, 0.7]]),
            "emissions": [{"probs": np.array([[0.4, 0.3, 0.2, 0.1]])},
                          {"probs": np.array([[0.1, 0.2, 0.3, 0.4]])}]}
    emission = DistributionEmission([Categorical(n_categories=4)] * 2)
    model = HMMModel(emission, 2, "ste", init, total_rows=len(X))
    stats, loglik = model.e_step(data, init)
    d_stats, d_loglik = DaskModel(model).e_step(scatter_pieces(data, 4), init)
    assert_tree_close(d_stats, stats, rtol=1e-12)
    np.testing.assert_allclose(d_loglik, loglik, rtol=1e-12)


def test_sample_rows_picks_the_same_rows_from_numpy_and_dask():
    from emkit.backends import sample_rows

    X = np.arange(200.0).reshape(100, 2)
    rows = sample_rows(X, 10, random_state=0)
    assert rows.shape == (10, 2) and np.all(np.diff(rows[:, 0]) > 0)
    np.testing.assert_array_equal(sample_rows(da.from_array(X, chunks=30), 10, random_state=0),
                                  rows)
    assert sample_rows(X, 1000).shape == (100, 2)
    with pytest.raises(ValueError, match="n must be"):
        sample_rows(X, 0)
