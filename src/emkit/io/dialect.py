"""How a text table is written: its encoding, field separator, decimal mark and header.

The rules, each stated so that a reader can predict them:

* **Encoding.** A byte-order mark decides (UTF-8 or UTF-16). Otherwise the file is
  read as UTF-8; when it is not valid UTF-8 it is read as latin-1, and the reading
  says so - unless it holds bytes 0x80-0x9f, which are control characters in latin-1
  (most likely cp1252): then it is refused. With ``encoding=`` given, bytes that do
  not decode are an error naming the line and the byte.
* **Separator.** One of ``,`` ``;`` tab ``|``. A candidate *fits* when it splits the
  first line into two or more fields and every one of the first
  :data:`SAMPLE_LINES` lines into that many (quotes respected). One fitting
  candidate is chosen; of several, the one whose data fields are all numbers;
  when that still leaves more than one, the table is refused (give ``sep=``). When
  none fits, the candidate that splits the first line into the most fields is
  used (so that a ragged row is reported), and a one-column table keeps the
  suffix's separator.
* **Decimal mark.** ``.`` with a comma separator. Otherwise ``,`` when sampled data
  fields look like ``1,5`` and none like ``1.5``, except that values that all look
  like thousands groups (``1,234``, ``12,345,678``) are ambiguous and refused.
* **Header.** The first line names the columns unless ``header=False``; a first
  line whose fields are all numbers is refused (it is data: say ``header=False``).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence

__all__ = ["SEPARATORS", "SAMPLE_LINES", "decode", "records", "sniff_separator",
           "sniff_decimal", "is_number", "show_sep"]

#: Separators tried when none is given, in this order.
SEPARATORS = (",", ";", "\t", "|")
#: Lines sampled for the separator and the decimal mark.
SAMPLE_LINES = 200

_NUMBER = {
    ".": re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*"),
    ",": re.compile(r"\s*[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?\s*"),
}
_SPECIAL = re.compile(r"\s*[+-]?(inf|infinity|nan)\s*", re.IGNORECASE)
_COMMA_DECIMAL = re.compile(r"\s*[+-]?\d*,\d+([eE][+-]?\d+)?\s*")
_POINT_DECIMAL = re.compile(r"\s*[+-]?\d*\.\d+([eE][+-]?\d+)?\s*")
_THOUSANDS = re.compile(r"\s*[+-]?[1-9]\d{0,2}(,\d{3})+\s*")


def show_sep(sep: str) -> str:
    """``","`` -> ``"','"``; a tab is spelled ``tab``."""
    return "tab" if sep == "\t" else repr(sep)


def is_number(text: str, decimal: str = ".") -> bool:
    """Whether ``text`` reads as a number with decimal mark ``decimal`` (``inf``, ``nan`` too)."""
    return bool(_NUMBER[decimal].fullmatch(text) or _SPECIAL.fullmatch(text))


def _line_of(raw: bytes, position: int) -> int:
    return raw.count(b"\n", 0, position) + 1


def decode(raw: bytes, encoding: str | None, name: str) -> tuple[str, str, bool]:
    """The text of ``raw``, the encoding used and whether it was a latin-1 fallback.

    Raises
    ------
    ValueError
        An unknown encoding, bytes that do not decode in the given one, or NUL
        characters (a binary file).
    """
    fallback = False
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r} (--encoding): use e.g. "
                             "utf-8, latin-1, cp1252, utf-16") from None
        used = encoding
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{name} is not valid {encoding}: byte 0x{raw[exc.start]:02x} on line "
                f"{_line_of(raw, exc.start)} does not decode; give the file's encoding "
                "with --encoding (e.g. --encoding latin-1)") from None
        text = text.removeprefix("\ufeff")
    elif raw.startswith(codecs.BOM_UTF8):
        used, text = "utf-8", raw[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict")
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        used, text = "utf-16", raw.decode("utf-16")
    else:
        try:
            used, text = "utf-8", raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            control = re.search(rb"[\x80-\x9f]", raw)
            if control is not None:  # C1 controls never occur in latin-1 text
                raise ValueError(
                    f"{name} is not a valid table: neither UTF-8 (byte "
                    f"0x{raw[exc.start]:02x} on line {_line_of(raw, exc.start)}) "
                    "nor latin-1 text (byte "
                    f"0x{raw[control.start()]:02x} on line {_line_of(raw, control.start())}); "
                    "give its encoding with --encoding (e.g. --encoding cp1252)") from None
            used, text, fallback = "latin-1", raw.decode("latin-1"), True
    if "\x00" in text:
        raise ValueError(f"{name} is not a text table (it holds NUL bytes); give a CSV, "
                         "TSV, Parquet or NPY file")
    return text, used, fallback


def _blank(fields: Sequence[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip(" "))


def records(text: str, sep: str, limit: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each non-blank record of ``text``, quotes respected.

    ``limit`` stops after that many records. Blank lines (only spaces) are skipped,
    as pandas skips them.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"',
                        doublequote=True, strict=False)
    previous = 0
    count = 0
    for fields in reader:
        start, previous = previous + 1, reader.line_num
        if _blank(fields):
            continue
        yield start, fields
        count += 1
        if limit is not None and count >= limit:
            return


def sniff_separator(text: str, header: bool, default: str, name: str,
                    exclude: str = "") -> str:
    """The field separator of ``text`` by the rule in this module's docstring.

    ``exclude`` lists candidates not to try (the given decimal mark).
    """
    sampled = {sep: [f for _, f in records(text, sep, SAMPLE_LINES)]
               for sep in SEPARATORS if sep not in exclude}
    fitting = [sep for sep, rows in sampled.items()
               if rows and len(rows[0]) >= 2 and all(len(r) == len(rows[0]) for r in rows)]
    if len(fitting) > 1:
        numeric = [sep for sep in fitting
                   if all(not f.strip() or is_number(f, ".") or is_number(f, ",")
                          for row in sampled[sep][1 if header else 0:] for f in row)]
        if len(numeric) == 1:
            return numeric[0]
        shown = " or ".join(show_sep(s) for s in fitting)
        raise ValueError(f"cannot tell the separator of {name}: {shown} split every line "
                         "evenly; give it with --sep")
    if fitting:
        return fitting[0]
    widths = {sep: len(rows[0]) for sep, rows in sampled.items() if rows}
    widest = max(widths.values(), default=1)
    if widest < 2:
        return default
    return next(sep for sep in SEPARATORS if widths.get(sep) == widest)


def sniff_decimal(text: str, sep: str, header: bool, name: str) -> str:
    """The decimal mark of ``text`` by the rule in this module's docstring."""
    if sep == ",":
        return "."
    fields = [f for _, row in list(records(text, sep, SAMPLE_LINES))[1 if header else 0:]
              for f in row]
    commas = [f for f in fields if _COMMA_DECIMAL.fullmatch(f)]
    if not commas or any(_POINT_DECIMAL.fullmatch(f) for f in fields):
        return "."
    if all(_THOUSANDS.fullmatch(f) for f in commas):
        raise ValueError(f"cannot tell the decimal mark of {name}: values like "
                         f"{commas[0].strip()!r} may have ',' as decimal mark or as thousands "
                         "separator; give --decimal , (or --decimal .)")
    return ","
