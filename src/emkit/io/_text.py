"""Reading a delimited text table that can be read only one way, or refusing it.

The dialect (encoding, separator, decimal mark) comes from :mod:`emkit.io.dialect`;
this module parses the text with pandas after checking, on the raw records, what
pandas would silently repair: rows with more or fewer fields than the header,
duplicated or empty column names, an index column written by ``DataFrame.to_csv()``
and a first row that is data rather than names. Every refusal is a one-line
``ValueError`` naming the line, column or value.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .dialect import decode, is_number, records, show_sep, sniff_decimal, sniff_separator

__all__ = ["read_text_table"]


def _index_hint(position: int) -> str:
    return (f"give index_col={position} (--index-col {position}) to use it as the row "
            "index, or name the column")


def _check_header(names: Sequence[str], name: str, decimal: str,
                  index_col: int | str | None) -> None:
    """Refuse a header of numbers, duplicated names and unnamed columns."""
    stripped = [n.strip() for n in names]
    if stripped and all(is_number(n, decimal) for n in stripped if n) and any(stripped):
        shown = ", ".join(stripped[:4]) + (", ..." if len(names) > 4 else "")
        raise ValueError(
            f"the first row of {name} ({shown}) "
            "is all numbers: it looks like data, not column names; say header=False "
            "(--no-header) if the file has no header row")
    seen: dict[str, int] = {}
    for position, column in enumerate(stripped):
        if column in seen and column:
            raise ValueError(
                f"column name {column!r} appears twice in {name} (columns {seen[column] + 1} "
                f"and {position + 1}); rename one")
        seen[column] = position
    for position, column in enumerate(stripped):
        if index_col is not None and index_col in (position, column):
            continue
        if not column or column.startswith("Unnamed: "):
            what = "has no name" if not column else f"is named {column!r}"
            if position == 0:
                raise ValueError(
                    f"column 1 of {name} {what}: it looks like a row index written by "
                    f"DataFrame.to_csv(); {_index_hint(0)}")
            raise ValueError(f"column {position + 1} of {name} {what}; name it in the header")


def _check_widths(text: str, sep: str, width: int, name: str, header: bool) -> None:
    """Refuse a record whose field count differs from the first record's."""
    for line, fields in records(text, sep):
        if len(fields) == width:
            continue
        first = "header" if header else "first row"
        if len(fields) > width:
            extra = fields[width:]
            trail = " (trailing separators?)" if all(not f.strip() for f in extra) else ""
            raise ValueError(
                f"line {line} of {name} has {len(fields)} fields separated by {show_sep(sep)} "
                f"but the {first} has {width}{trail}; rows would be shifted - fix the file "
                "or give the right --sep")
        raise ValueError(
            f"line {line} of {name} has {len(fields)} fields separated by {show_sep(sep)} "
            f"but the {first} has {width}; write missing values as empty fields")


def read_text_table(raw: bytes | str, name: str, *, default_sep: str, sep: str | None,
                    decimal: str | None, encoding: str | None,
                    na_values: Sequence[str] | None, header: bool,
                    index_col: int | str | None) -> pd.DataFrame:
    """Parse ``raw`` (the bytes or text of a delimited table) into a DataFrame.

    Parameters
    ----------
    raw : bytes or str
        The file's content (already decompressed).
    name : str
        How messages name the file.
    default_sep : str
        The separator of a one-column table (from the file's suffix).
    sep, decimal, encoding, na_values, header, index_col
        As :func:`emkit.io.read_table`.

    Returns
    -------
    pandas.DataFrame
        With ``attrs["dialect"]`` (``sep``, ``decimal``, ``encoding``, ``header``,
        ``sniffed``: the names of the settings that were guessed) and
        ``attrs["notes"]`` (list of str: what a reader should be told).
    """
    notes: list[str] = []
    if isinstance(raw, str):
        text, used = raw.removeprefix("\ufeff"), "text"
    else:
        text, used, fallback = decode(raw, encoding, name)
        if fallback:
            notes.append(f"{name} is not valid UTF-8; read it as latin-1 (give --encoding "
                         "to choose another)")
    if not text.strip():
        raise ValueError(f"{name} has no data")
    if sep is not None and (len(sep) != 1 or sep in "\"\r\n"):
        raise ValueError(f"separator {sep!r} (--sep) must be one character such as , ; | "
                         "or a tab")
    if decimal is not None and decimal not in (".", ","):
        raise ValueError(f"decimal mark {decimal!r} (--decimal) must be '.' or ','")
    sniffed = []
    if sep is None and decimal == ",":  # a given decimal comma is not the separator
        sep = sniff_separator(text, header, ";" if default_sep == "," else default_sep, name,
                              exclude=",")
        sniffed.append("sep")
    elif sep is None:
        sep = sniff_separator(text, header, default_sep, name)
        sniffed.append("sep")
    if decimal is None:
        decimal = sniff_decimal(text, sep, header, name)
        sniffed.append("decimal")
    if decimal == sep:
        raise ValueError(f"the decimal mark and the separator are both {show_sep(sep)}")
    first = next(records(text, sep, 1), None)
    if first is None:
        raise ValueError(f"{name} has no data")
    _, names = first
    if header:
        _check_header(names, name, decimal, index_col)
    _check_widths(text, sep, len(names), name, header)
    if header and len(list(records(text, sep, 2))) < 2:
        raise ValueError(f"{name} has a header but no data rows")
    if sep != default_sep or decimal != ".":
        notes.append(f"read {name} with separator {show_sep(sep)} and decimal mark "
                     f"{decimal!r}" + (" (guessed; give --sep/--decimal to choose)"
                                       if sniffed else ""))
    known = [n.strip() for n in names] if header else [f"x{i}" for i in range(len(names))]
    if index_col is not None and not (
            (isinstance(index_col, int) and 0 <= index_col < len(names))
            or (isinstance(index_col, str) and index_col in known)):
        raise ValueError(f"index column {index_col!r} (--index-col) is not in {name}; "
                         "give a column name or a 0-based position")
    options: dict[str, Any] = {"sep": sep, "decimal": decimal, "quotechar": '"'}
    if na_values:
        options["na_values"] = list(na_values)
    if not header:
        options["header"] = None
        options["names"] = [f"x{i}" for i in range(len(names))]
    try:
        table = pd.read_csv(io.StringIO(text), index_col=index_col, **options)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{name} has no data") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{name} is not a valid table: {str(exc).splitlines()[0]}") from None
    table.attrs["dialect"] = {"sep": sep, "decimal": decimal, "encoding": used,
                              "header": header, "sniffed": sniffed}
    table.attrs["notes"] = notes
    return table
