"""Fuzzing the file readers and the model loader: only documented errors, never code."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import emkit
from emkit.io import read_table
from emkit.persistence import Persistable

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


class Tiny(Persistable):
    """The smallest saveable object: one array and one number."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def get_params(self, deep: bool = False) -> dict:
        return {"scale": self.scale}


def saved_model_bytes(tmp_path: Path) -> bytes:
    model = Tiny(2.5)
    model.values_ = np.arange(6.0).reshape(2, 3)
    model.name_ = "tiny"
    path = model.save(tmp_path / "tiny.emkit")
    return path.read_bytes()


def test_tiny_model_round_trips(tmp_path):
    path = tmp_path / "m.emkit"
    path.write_bytes(saved_model_bytes(tmp_path))
    loaded = emkit.load(path)
    assert isinstance(loaded, Tiny) and loaded.scale == 2.5 and loaded.name_ == "tiny"
    np.testing.assert_array_equal(loaded.values_, np.arange(6.0).reshape(2, 3))


@FUZZ
@given(st.binary(max_size=2000))
def test_load_of_random_bytes_raises_only_model_file_error(tmp_path, blob):
    path = tmp_path / "fuzz.emkit"
    path.write_bytes(blob)
    with pytest.raises(emkit.ModelFileError):
        emkit.load(path)


@FUZZ
@given(data=st.data())
def test_load_of_mutated_model_files_never_succeeds_silently(tmp_path, data):
    good = saved_model_bytes(tmp_path)
    position = data.draw(st.integers(0, len(good) - 1))
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != good[position]))
    mutated = good[:position] + bytes([new_byte]) + good[position + 1:]
    path = tmp_path / "mutated.emkit"
    path.write_bytes(mutated)
    try:
        loaded = emkit.load(path)
    except emkit.ModelFileError:
        return
    # A byte the format does not read (zip padding, a timestamp) may change freely,
    # but then the model must be exactly the saved one.
    assert isinstance(loaded, Tiny) and loaded.scale == 2.5
    np.testing.assert_array_equal(loaded.values_, np.arange(6.0).reshape(2, 3))


@FUZZ
@given(cut=st.integers(0, 400))
def test_truncated_model_files_are_refused(tmp_path, cut):
    good = saved_model_bytes(tmp_path)
    path = tmp_path / "cut.emkit"
    path.write_bytes(good[: max(0, len(good) - 1 - cut)])
    with pytest.raises(emkit.ModelFileError):
        emkit.load(path)


def test_object_arrays_in_a_model_file_are_never_unpickled(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    buffer = io.BytesIO()
    np.save(buffer, np.array([Exploit()], dtype=object), allow_pickle=True)
    path = tmp_path / "evil.emkit"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__meta__.npy", buffer.getvalue())
    with pytest.raises(emkit.ModelFileError):
        emkit.load(path)
    assert not marker.exists()


@FUZZ
@given(blob=st.binary(max_size=1500), suffix=st.sampled_from([".csv", ".tsv", ".npy",
                                                               ".parquet"]))
def test_read_table_raises_only_value_or_os_errors(tmp_path, blob, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(blob)
    try:
        table = read_table(path)
    except (ValueError, OSError):
        return
    # what it reads is what the format's own reader gives (emkit adds nothing, loses
    # nothing): pandas for the tables, numpy for .npy (named x0, x1, ...)
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        array = array[:, None] if array.ndim == 1 else array
        want = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
    elif suffix == ".parquet":
        want = pd.read_parquet(path)
    else:  # the dialect the reader chose and reported (separator, decimal, encoding)
        d = table.attrs["dialect"]
        want = pd.read_csv(path, sep=d["sep"], decimal=d["decimal"], encoding=d["encoding"])
    pd.testing.assert_frame_equal(table, want)


def test_npy_with_pickled_objects_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "evil.npy"
    np.save(path, np.array([Exploit()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        read_table(path)
    assert not marker.exists()
