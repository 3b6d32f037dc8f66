"""``emkit.io.read_table``: a frame written in any dialect reads back as itself, or is refused.

The oracle is the frame the test wrote (pandas' writer), never the reader itself.
Each refusal has its own test with the words of its message.
"""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emkit.io import numeric_matrix, read_table

NAMES = ["a", "height_cm", "größe", "âge", "Zeit s", "x;y", "b,c", "q|r", "café"]
VALUES = st.one_of(
    st.none(),
    st.integers(-10_000, 10_000).map(float),
    st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    st.decimals(-1000, 1000, places=3, allow_nan=False, allow_infinity=False).map(float),
)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n_cols = draw(st.integers(1, 4))
    n_rows = draw(st.integers(1, 6))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=n_cols, max_size=n_cols,
                          unique=True))
    data = {name: [np.nan if v is None else v
                   for v in draw(st.lists(VALUES, min_size=n_rows, max_size=n_rows))]
            for name in names}
    return pd.DataFrame(data, dtype=float)


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(frame=frames(), sep=st.sampled_from([",", ";", "\t", "|"]),
       decimal=st.sampled_from([".", ","]),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
       header=st.booleans(), compressed=st.booleans(),
       encoding=st.sampled_from(["utf-8", "latin-1"]),
       given_dialect=st.booleans(), suffix=st.sampled_from([".csv", ".tsv", ".txt"]))
def test_any_dialect_reads_back_the_same_frame_or_is_refused(
        tmp_path, frame, sep, decimal, quoting, header, compressed, encoding,
        given_dialect, suffix):
    if sep == decimal:
        decimal = "."
    text = frame.to_csv(sep=sep, decimal=decimal, quoting=quoting, header=header,
                        index=False, lineterminator="\n")
    raw = text.encode(encoding)
    path = tmp_path / f"t{suffix}{'.gz' if compressed else ''}"
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    options: dict = {"header": header}
    if given_dialect:
        options.update(sep=sep, decimal=decimal, encoding=encoding)
    elif not header and frame.shape[1] == 1 and decimal == ",":
        # "1,5" on every line is two integer columns or one decimal-comma column:
        # no rule can tell, so a user says which decimal mark the file uses
        options["decimal"] = ","
    try:
        table = read_table(path, **options)
    except ValueError as exc:
        # refusing is allowed - a different frame is not - except that a file whose
        # dialect is given and whose columns all hold a value must read
        assert not (given_dialect and frame.notna().any().all()), str(exc)
        return
    want = frame if header else frame.set_axis([f"x{i}" for i in range(frame.shape[1])],
                                               axis=1)
    assert [str(c) for c in table.columns] == [str(c) for c in want.columns]
    np.testing.assert_array_equal(numeric_matrix(table), want.to_numpy())
    if frame.shape[1] > 1:
        assert table.attrs["dialect"]["sep"] == sep


def test_given_dialects_always_read(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20, 3)).round(4), columns=["größe", "b", "c"])
    for sep in [",", ";", "\t", "|"]:
        for decimal in [".", ","]:
            if sep == decimal:
                continue
            path = tmp_path / "t.csv.gz"
            path.write_bytes(gzip.compress(frame.to_csv(sep=sep, decimal=decimal,
                                                        index=False).encode("latin-1")))
            table = read_table(path, sep=sep, decimal=decimal, encoding="latin-1")
            pd.testing.assert_frame_equal(table, frame)
            sniffed = read_table(path)  # the sniffer finds the same dialect
            pd.testing.assert_frame_equal(sniffed, frame)
            assert sniffed.attrs["dialect"]["sep"] == sep
            assert sniffed.attrs["dialect"]["decimal"] == decimal


def write(tmp_path, text: str, name: str = "t.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_semicolon_with_decimal_commas_is_read_and_stated(tmp_path):
    table = read_table(write(tmp_path, "a;b\n1,5;2,25\n3,0;-4,5\n"))
    np.testing.assert_array_equal(numeric_matrix(table), [[1.5, 2.25], [3.0, -4.5]])
    assert table.attrs["dialect"]["sniffed"] == ["sep", "decimal"]
    assert any("separator ';'" in note and "decimal mark ','" in note
               for note in table.attrs["notes"])


def test_latin1_falls_back_and_says_so(tmp_path):
    table = read_table(write(tmp_path, "größe,b\n1,2\n", encoding="latin-1"))
    assert list(table.columns) == ["größe", "b"]
    assert table.attrs["dialect"]["encoding"] == "latin-1"
    assert any("latin-1" in note for note in table.attrs["notes"])


def test_refuses_cp1252_bytes_without_an_encoding(tmp_path):
    path = write(tmp_path, "price €,b\n1,2\n", encoding="cp1252")
    with pytest.raises(ValueError, match=r"byte 0x80 on line 1.*--encoding"):
        read_table(path)
    assert list(read_table(path, encoding="cp1252").columns) == ["price €", "b"]


def test_refuses_a_wrong_given_encoding(tmp_path):
    path = write(tmp_path, "größe,b\n1,2\n", encoding="latin-1")
    with pytest.raises(ValueError, match=r"not valid utf-8: byte 0xf6 on line 1"):
        read_table(path, encoding="utf-8")
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        read_table(path, encoding="klingon")


def test_refuses_trailing_commas(tmp_path):
    path = write(tmp_path, "height_cm,weight,age\n170,60,30,\n180,80,40,\n")
    with pytest.raises(ValueError, match=r"line 2 of t\.csv has 4 fields separated by ',' "
                                         r"but the header has 3 \(trailing separators\?\)"):
        read_table(path)


def test_refuses_short_rows(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n4,5\n")
    with pytest.raises(ValueError, match=r"line 3 of t\.csv has 2 fields .* header has 3"):
        read_table(path)


def test_refuses_an_all_empty_column(tmp_path):
    path = write(tmp_path, "a,b,c\n1,,3\n4,,6\n")
    with pytest.raises(ValueError, match=r"column 'b' \(column 2\) of t\.csv is empty: "
                                         r"all 2 rows are missing"):
        read_table(path)


def test_refuses_duplicated_names(tmp_path):
    path = write(tmp_path, "a,b,a\n1,2,3\n")
    with pytest.raises(ValueError, match=r"column name 'a' appears twice in t\.csv "
                                         r"\(columns 1 and 3\)"):
        read_table(path)


def test_refuses_a_to_csv_index_unless_told(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}).to_csv(path)  # index written
    with pytest.raises(ValueError, match=r"column 1 of t\.csv has no name: .*row index.*"
                                         r"--index-col 0"):
        read_table(path)
    table = read_table(path, index_col=0)
    assert list(table.columns) == ["a", "b"]
    np.testing.assert_array_equal(numeric_matrix(table), [[1, 3], [2, 4]])
    again = write(tmp_path, "Unnamed: 0,a\n0,1\n1,2\n", "u.csv")
    with pytest.raises(ValueError, match=r"column 1 of u\.csv is named 'Unnamed: 0'"):
        read_table(again)


def test_refuses_an_unnamed_column_inside(tmp_path):
    with pytest.raises(ValueError, match=r"column 2 of t\.csv has no name"):
        read_table(write(tmp_path, "a,,c\n1,2,3\n"))


def test_refuses_a_headerless_file_unless_told(tmp_path):
    path = write(tmp_path, "1.5,2\n3,4\n")
    with pytest.raises(ValueError, match=r"first row of t\.csv \(1\.5, 2\) is all numbers.*"
                                         r"header=False \(--no-header\)"):
        read_table(path)
    table = read_table(path, header=False)
    assert list(table.columns) == ["x0", "x1"]
    np.testing.assert_array_equal(numeric_matrix(table), [[1.5, 2], [3, 4]])


def test_refuses_thousands_groups_that_may_be_decimals(tmp_path):
    path = write(tmp_path, "a;b\n1,234;5,678\n2,000;3,500\n")
    with pytest.raises(ValueError, match=r"cannot tell the decimal mark of t\.csv: values "
                                         r"like '1,234'.*--decimal"):
        read_table(path)
    np.testing.assert_array_equal(numeric_matrix(read_table(path, decimal=",")),
                                  [[1.234, 5.678], [2.0, 3.5]])


def test_refuses_a_separator_it_cannot_tell(tmp_path):
    with pytest.raises(ValueError, match=r"cannot tell the separator of t\.csv: ',' or ';'"):
        read_table(write(tmp_path, "a,b;c,d\nx,y;z,w\n"))


def test_refuses_a_header_without_rows(tmp_path):
    with pytest.raises(ValueError, match=r"t\.csv has a header but no data rows"):
        read_table(write(tmp_path, "a,b\n"))


def test_non_numeric_values_are_named_with_row_and_column(tmp_path):
    table = read_table(write(tmp_path, 'a,b\n1,"5,432.41"\n2,3\n'))
    with pytest.raises(ValueError, match=r"column\(s\) b are not numeric: data row 1 of "
                                         r"column 'b' holds '5,432\.41'; ',' as a thousands"):
        numeric_matrix(table)
    table = read_table(write(tmp_path, "a,b\n1,2\n?,3\n", "q.csv"))
    with pytest.raises(ValueError, match=r"column\(s\) a are not numeric: data row 2 of "
                                         r"column 'a' holds '\?'; if '\?' marks a missing"):
        numeric_matrix(table)
    X = numeric_matrix(read_table(tmp_path / "q.csv", na_values=["?"]))
    np.testing.assert_array_equal(X, [[1, 2], [np.nan, 3]])


def test_bad_options_are_named(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"decimal mark ';' \(--decimal\)"):
        read_table(path, decimal=";")
    with pytest.raises(ValueError, match=r"separator '::' \(--sep\)"):
        read_table(path, sep="::")
    with pytest.raises(ValueError, match=r"index column 'zz' \(--index-col\)"):
        read_table(path, index_col="zz")
    (tmp_path / "t.parquet.gz").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"text ones may end in \.gz"):
        read_table(tmp_path / "t.parquet.gz")
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"cannot read .*bad\.csv\.gz"):
        read_table(tmp_path / "bad.csv.gz")


def test_cli_loader_passes_the_options_and_prints_notes(tmp_path, capsys):
    from emkit.cli._common import load_data

    path = write(tmp_path, "0\t1,5\t?\n1\t2,5\t4\n", "t.tsv")
    X, names = load_data(str(path), sep="\\t", decimal=",", na_values=["?"], no_header=True,
                         index_col="0")
    assert names == ["x1", "x2"]
    np.testing.assert_array_equal(X, [[1.5, np.nan], [2.5, 4]])
    assert "decimal mark ','" in capsys.readouterr().err
    latin = write(tmp_path, "größe;b\n1;2\n", encoding="latin-1")
    X, names = load_data(str(latin))
    assert names == ["größe", "b"]
    err = capsys.readouterr().err
    assert "read it as latin-1" in err and "separator ';'" in err
