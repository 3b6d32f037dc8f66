"""``emkit.io.read_table``: every refusal says what is wrong; every format reads."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from emkit.io import numeric_matrix, read_table


def test_stdin_with_tabs_and_empty_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a\tb\n1\t2\n3\t4\n"))
    table = read_table("-")
    assert list(table.columns) == ["a", "b"]
    np.testing.assert_array_equal(table.to_numpy(), [[1, 2], [3, 4]])
    monkeypatch.setattr("sys.stdin", io.StringIO("  \n"))
    with pytest.raises(ValueError, match="standard input is empty"):
        read_table("-")


def test_refusals_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="is a directory"):
        read_table(tmp_path)
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(ValueError, match=r"\.csv, \.tsv"):
        read_table(tmp_path / "data.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        read_table(tmp_path / "empty.csv")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="3-D array"):
        read_table(tmp_path / "cube.npy")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match="cannot read"):
        read_table(tmp_path / "bad.parquet")


def test_every_format_reads_the_same_numbers(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.5, np.nan], "b": [4.0, 5.0, 6.0]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "t.parquet")
    np.save(tmp_path / "t.npy", frame.to_numpy())
    np.save(tmp_path / "v.npy", frame["b"].to_numpy())
    for name in ("t.csv", "t.tsv", "t.parquet"):
        got = numeric_matrix(read_table(tmp_path / name))
        np.testing.assert_array_equal(got, frame.to_numpy())
    np.testing.assert_array_equal(read_table(tmp_path / "t.npy").to_numpy(), frame.to_numpy())
    one = read_table(tmp_path / "v.npy")
    assert list(one.columns) == ["x0"]
    np.testing.assert_array_equal(one["x0"], frame["b"])
