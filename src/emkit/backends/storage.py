"""Out-of-core data: open a Zarr array or a directory of NPY / Parquet files lazily.

:func:`open_dataset` returns a ``dask.array.Array`` whose blocks are read from
disk by whichever worker runs the task that needs them, so a fit on data larger
than the workers' memory streams through it once per EM iteration and keeps only
a few blocks in memory at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["open_dataset"]

_DEFAULT_BLOCK_ROWS = 262_144


def open_dataset(path: str | Path, *, chunk_rows: int | None = None,
                 columns: list[str] | None = None, dtype: Any = None) -> Any:
    """A lazy ``dask.array.Array`` of shape (n_rows, n_features) over files on disk.

    Parameters
    ----------
    path : str or pathlib.Path
        One of

        * a Zarr array (a directory with ``zarr.json`` or ``.zarray``);
        * a ``.npy`` file, or a directory of them (sorted by name, stacked by rows;
          read through memory maps, ``chunk_rows`` rows at a time);
        * a ``.parquet`` file, or a directory of them (sorted by name; one block
          per row group; nulls become NaN).
    chunk_rows : int, optional
        Rows per block. Zarr arrays keep their own chunking unless given;
        NPY files default to 262,144 rows; Parquet uses its row groups.
    columns : list of str, optional
        Parquet columns to read (default: all).
    dtype : numpy dtype, optional
        Parquet only: the array's dtype (default float64).

    Returns
    -------
    dask.array.Array

    Raises
    ------
    ValueError
        When the path does not exist, holds no supported files, or the files
        disagree on their number of columns or dtype.
    """
    import dask.array as da

    path = Path(path)
    if not path.exists():
        raise ValueError(f"no data set at {path}")
    if chunk_rows is not None and (
        isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1
    ):
        raise ValueError(f"chunk_rows must be an integer >= 1, got {chunk_rows!r}")
    if path.is_dir() and ((path / "zarr.json").exists() or (path / ".zarray").exists()):
        array = da.from_zarr(str(path))
        if chunk_rows is not None:
            array = array.rechunk({0: chunk_rows})
        return array
    files = _files(path)
    if files[0].suffix == ".npy":
        return _open_npy(files, chunk_rows or _DEFAULT_BLOCK_ROWS)
    return _open_parquet(files, columns, np.dtype(dtype or np.float64), chunk_rows)


def _files(path: Path) -> list[Path]:
    if path.is_file():
        files = [path]
    else:
        files = sorted(p for p in path.iterdir() if p.suffix in (".npy", ".parquet"))
    if not files:
        raise ValueError(
            f"{path} holds no .npy or .parquet files and is not a Zarr array"
        )
    kinds = {p.suffix for p in files}
    if len(kinds) > 1 or files[0].suffix not in (".npy", ".parquet"):
        raise ValueError(f"{path} mixes file kinds {sorted(kinds)}; keep one kind per directory")
    return files


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    if dtype.hasobject:
        raise ValueError(f"{path} holds Python objects; only numeric arrays are read")
    return shape, dtype


def _read_npy_rows(path: str, start: int, stop: int) -> np.ndarray:
    """Runs on a worker: rows start:stop of an NPY file, copied out of a memory map."""
    mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    return np.array(mapped[start:stop])


def _open_npy(files: list[Path], chunk_rows: int) -> Any:
    import dask.array as da
    from dask import delayed

    blocks = []
    tail: tuple[tuple[int, ...], np.dtype] | None = None
    for f in files:
        shape, dtype = _npy_header(f)
        if len(shape) == 0:
            raise ValueError(f"{f} holds a scalar, not rows")
        if tail is None:
            tail = (shape[1:], dtype)
        elif (shape[1:], dtype) != tail:
            raise ValueError(
                f"{f} has rows of shape {shape[1:]} and dtype {dtype}; the first file has "
                f"{tail[0]} and {tail[1]}"
            )
        for start in range(0, shape[0], chunk_rows):
            stop = min(start + chunk_rows, shape[0])
            part = delayed(_read_npy_rows, pure=True)(str(f), start, stop)
            blocks.append(da.from_delayed(part, shape=(stop - start, *shape[1:]), dtype=dtype))
    assert tail is not None
    if not blocks:
        return da.zeros((0, *tail[0]), dtype=tail[1])
    return da.concatenate(blocks, axis=0)


def _read_parquet_group(path: str, group: int, columns: list[str] | None,
                        dtype: str) -> np.ndarray:
    """Runs on a worker: one row group of a Parquet file as a matrix (nulls -> NaN)."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read_row_group(group, columns=columns)
    out = np.empty((table.num_rows, table.num_columns), dtype=dtype)
    for j, column in enumerate(table.columns):
        out[:, j] = column.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    return out


def _open_parquet(files: list[Path], columns: list[str] | None, dtype: np.dtype,
                  chunk_rows: int | None) -> Any:
    import dask.array as da
    import pyarrow.parquet as pq
    from dask import delayed

    blocks = []
    names: list[str] | None = None
    for f in files:
        meta = pq.ParquetFile(f)
        file_names = columns if columns is not None else list(meta.schema_arrow.names)
        missing = set(file_names) - set(meta.schema_arrow.names)
        if missing:
            raise ValueError(f"{f} has no column(s) {sorted(missing)}")
        if names is None:
            names = file_names
        elif file_names != names:
            raise ValueError(f"{f} has columns {file_names}; the first file has {names}")
        for group in range(meta.num_row_groups):
            n = meta.metadata.row_group(group).num_rows
            part = delayed(_read_parquet_group, pure=True)(str(f), group, columns, dtype.str)
            blocks.append(da.from_delayed(part, shape=(n, len(names)), dtype=dtype))
    assert names is not None
    if not blocks:
        return da.zeros((0, len(names)), dtype=dtype)
    array = da.concatenate(blocks, axis=0)
    if chunk_rows is not None:
        array = array.rechunk({0: chunk_rows})
    return array
