"""``emkit.backends.open_dataset``: what it refuses, and the edge cases it reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emkit.backends.storage import open_dataset


def test_refusals_say_what_is_wrong(tmp_path):
    (tmp_path / "mixed").mkdir()
    np.save(tmp_path / "mixed" / "a.npy", np.ones((2, 2)))
    pd.DataFrame({"a": [1.0]}).to_parquet(tmp_path / "mixed" / "b.parquet")
    with pytest.raises(ValueError, match="mixes file kinds"):
        open_dataset(tmp_path / "mixed")

    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects"):
        open_dataset(tmp_path / "objects.npy")

    np.save(tmp_path / "scalar.npy", np.float64(3.0))
    with pytest.raises(ValueError, match="scalar"):
        open_dataset(tmp_path / "scalar.npy")

    pd.DataFrame({"a": [1.0], "b": [2.0]}).to_parquet(tmp_path / "ab.parquet")
    with pytest.raises(ValueError, match="no column"):
        open_dataset(tmp_path / "ab.parquet", columns=["a", "zz"])

    (tmp_path / "cols").mkdir()
    pd.DataFrame({"a": [1.0], "b": [2.0]}).to_parquet(tmp_path / "cols" / "1.parquet")
    pd.DataFrame({"a": [1.0], "c": [2.0]}).to_parquet(tmp_path / "cols" / "2.parquet")
    with pytest.raises(ValueError, match="first file has"):
        open_dataset(tmp_path / "cols")


def test_npy_version_2_header_and_empty_files(tmp_path):
    X = np.arange(12.0).reshape(6, 2)
    with open(tmp_path / "v2.npy", "wb") as fh:
        np.lib.format.write_array(fh, X, version=(2, 0))
    np.testing.assert_array_equal(open_dataset(tmp_path / "v2.npy", chunk_rows=4).compute(), X)

    np.save(tmp_path / "none.npy", np.empty((0, 3)))
    empty = open_dataset(tmp_path / "none.npy")
    assert empty.shape == (0, 3)

    pd.DataFrame({"a": pd.Series([], dtype=float)}).to_parquet(tmp_path / "none.parquet")
    assert open_dataset(tmp_path / "none.parquet").shape[0] == 0


def test_parquet_rechunked_and_zarr_rechunked(tmp_path):
    import dask.array as da

    frame = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) * 2})
    frame.to_parquet(tmp_path / "t.parquet", row_group_size=3)
    array = open_dataset(tmp_path / "t.parquet", chunk_rows=4)
    assert array.chunks[0][0] == 4
    np.testing.assert_array_equal(array.compute(), frame.to_numpy())
    da.from_array(frame.to_numpy(), chunks=(5, 2)).to_zarr(str(tmp_path / "z.zarr"))
    z = open_dataset(tmp_path / "z.zarr", chunk_rows=3)
    assert z.chunks[0][0] == 3
    np.testing.assert_array_equal(z.compute(), frame.to_numpy())
