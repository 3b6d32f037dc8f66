"""open_dataset on Zarr arrays: memory-mapped raw chunks, and Zarr's reader otherwise."""

from __future__ import annotations

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")

from emkit.backends import open_dataset  # noqa: E402


def _graph_functions(array) -> str:
    return " ".join(str(key) for key in dict(array.__dask_graph__()))


def _write(path, values, chunks, **kwargs):
    z = zarr.create_array(store=str(path), shape=values.shape, chunks=chunks,
                          dtype=values.dtype, **kwargs)
    z[:] = values
    return z


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_raw_chunks_are_memory_mapped_and_read_exactly(tmp_path, zarr_format, dtype):
    values = np.arange(103 * 4).reshape(103, 4).astype(dtype)
    _write(tmp_path / "x.zarr", values, (25, 4), compressors=None, zarr_format=zarr_format)
    array = open_dataset(tmp_path / "x.zarr")
    assert "_map_zarr_chunk" in _graph_functions(array)
    assert array.chunks[0] == (25, 25, 25, 25, 3)
    assert array.dtype == values.dtype
    np.testing.assert_array_equal(array.compute(), values)


def test_raw_blocks_are_private_copies_on_write(tmp_path):
    values = np.ones((50, 2))
    _write(tmp_path / "x.zarr", values, (20, 2), compressors=None)
    block = open_dataset(tmp_path / "x.zarr").blocks[0].compute()
    block[:] = 7.0  # a user's in-place change stays in that process's memory
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "x.zarr"))[:], values)


def test_unwritten_chunks_read_as_the_fill_value(tmp_path):
    z = zarr.create_array(store=str(tmp_path / "x.zarr"), shape=(60, 3), chunks=(20, 3),
                          dtype="float64", compressors=None, fill_value=-1.5)
    z[:20] = 2.0  # chunks 1 and 2 are never written
    got = open_dataset(tmp_path / "x.zarr").compute()
    assert "_map_zarr_chunk" in _graph_functions(open_dataset(tmp_path / "x.zarr"))
    np.testing.assert_array_equal(got[:20], 2.0)
    np.testing.assert_array_equal(got[20:], -1.5)


def test_a_truncated_raw_chunk_is_a_clear_error(tmp_path):
    _write(tmp_path / "x.zarr", np.ones((40, 2)), (20, 2), compressors=None)
    chunk = tmp_path / "x.zarr" / "c" / "1" / "0"
    chunk.write_bytes(chunk.read_bytes()[:100])
    with pytest.raises(ValueError, match="not the 320 of a raw chunk"):
        open_dataset(tmp_path / "x.zarr").compute()


@pytest.mark.parametrize("kwargs", [
    {},  # Zarr's default compressor
    {"compressors": None, "chunks": (10, 1)},  # chunked along columns too
    {"compressors": None, "serializer": "big-endian"},
])
def test_other_layouts_go_through_zarr(tmp_path, kwargs):
    values = np.random.default_rng(0).standard_normal((45, 3))
    chunks = kwargs.pop("chunks", (10, 3))
    if kwargs.pop("serializer", None):
        from zarr.codecs import BytesCodec

        kwargs["serializer"] = BytesCodec(endian="big")
    _write(tmp_path / "x.zarr", values, chunks, **kwargs)
    array = open_dataset(tmp_path / "x.zarr")
    assert "_map_zarr_chunk" not in _graph_functions(array)
    np.testing.assert_array_equal(array.compute(), values)


def test_an_empty_raw_array(tmp_path):
    zarr.create_array(store=str(tmp_path / "x.zarr"), shape=(0, 3), chunks=(10, 3),
                      dtype="float32", compressors=None)
    array = open_dataset(tmp_path / "x.zarr")
    assert array.shape == (0, 3)
    assert array.compute().shape == (0, 3)


def test_dask_e_step_reads_each_block_inside_its_own_task(tmp_path):
    from emkit.backends.block_sources import BlockRead
    from emkit.backends.dask_backend import DaskModel, dask_pieces
    from emkit.models.mixture.gaussian import GaussianMixtureModel

    rng = np.random.default_rng(0)
    values = np.vstack([rng.normal(-3, 1, (150, 2)), rng.normal(3, 1, (107, 2))])
    _write(tmp_path / "x.zarr", values, (50, 2), compressors=None)
    array = open_dataset(tmp_path / "x.zarr")
    pieces = dask_pieces(array)
    assert len(pieces) == 6 and all(isinstance(p, BlockRead) for p in pieces)
    np.testing.assert_array_equal(np.vstack([p() for p in pieces]), values)
    # any operation on the array makes it a different array: its own tasks run
    assert not any(isinstance(p, BlockRead) for p in dask_pieces(array.astype(np.float32)))
    assert not any(isinstance(p, BlockRead) for p in dask_pieces(array[:100]))

    model = GaussianMixtureModel("full")
    params = {"weights": np.array([0.5, 0.5]), "means": np.array([[-1.0, 0.0], [1.0, 0.0]]),
              "covariances": np.tile(np.eye(2), (2, 1, 1))}
    stats, loglik = DaskModel(model).e_step(array, params)
    ref_stats, ref_loglik = model.e_step(values, params)
    assert loglik == pytest.approx(ref_loglik, rel=1e-12)
    for key in ref_stats:
        np.testing.assert_allclose(stats[key], ref_stats[key], rtol=1e-12, atol=1e-9)


def test_npy_blocks_are_read_inside_the_task_too(tmp_path):
    from emkit.backends.block_sources import BlockRead
    from emkit.backends.dask_backend import dask_pieces

    np.save(tmp_path / "a.npy", np.arange(20.0).reshape(10, 2))
    np.save(tmp_path / "b.npy", np.arange(20.0, 34.0).reshape(7, 2))
    array = open_dataset(tmp_path, chunk_rows=4)
    pieces = dask_pieces(array)
    assert [type(p) for p in pieces] == [BlockRead] * 5
    np.testing.assert_array_equal(np.vstack([p() for p in pieces]), array.compute())


def test_the_block_registry_is_bounded_and_checks_its_input():
    import dask.array as da

    from emkit.backends import block_sources

    arrays = [da.full((4, 2), float(i), chunks=(2, 2)) for i in range(block_sources.MAX_ARRAYS + 3)]
    for a in arrays:
        block_sources.register_block_reads(a, [block_sources.BlockRead(np.zeros, ((2, 2),))] * 2)
    assert block_sources.block_reads(arrays[0]) is None  # forgotten, oldest first
    assert len(block_sources.block_reads(arrays[-1])) == 2
    assert block_sources.block_reads(np.zeros(3)) is None
    with pytest.raises(ValueError, match="one read per row block"):
        block_sources.register_block_reads(arrays[0], [])
    with pytest.raises(ValueError, match="whole rows per block"):
        block_sources.register_block_reads(da.zeros((4, 4), chunks=(2, 2)),
                                           [block_sources.BlockRead(np.zeros, (2,))] * 2)


def test_estimators_converting_the_dtype_still_read_blocks_in_their_tasks(tmp_path):
    import emkit
    from emkit.backends import numeric_dask_matrix
    from emkit.backends.block_sources import BlockRead
    from emkit.backends.dask_backend import dask_pieces

    rng = np.random.default_rng(1)
    values = np.vstack([rng.normal(-4, 1, (120, 2)), rng.normal(4, 1, (80, 2))]).astype(np.float32)
    _write(tmp_path / "x.zarr", values, (64, 2), compressors=None)
    array = open_dataset(tmp_path / "x.zarr")
    est = emkit.GaussianMixture(n_components=2, random_state=0)
    as64 = numeric_dask_matrix(est, array, np.float64)
    pieces = dask_pieces(as64)
    assert all(isinstance(p, BlockRead) for p in pieces)
    blocks = [p() for p in pieces]
    assert all(b.dtype == np.float64 for b in blocks)
    np.testing.assert_array_equal(np.vstack(blocks), values.astype(np.float64))
    fitted = est.fit(array)
    reference = emkit.GaussianMixture(n_components=2, random_state=0).fit(values)
    np.testing.assert_allclose(np.sort(fitted.means_[:, 0]), np.sort(reference.means_[:, 0]),
                               rtol=1e-6)
