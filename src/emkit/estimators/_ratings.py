"""Reading crowd ratings: a wide (n_items, n_raters) matrix or a long table.

Shared by :class:`~emkit.DawidSkene`, :class:`~emkit.GLAD` and :class:`~emkit.MACE`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..models.crowd.dawid_skene import Ratings

__all__ = ["parse_ratings", "is_long", "check_labels", "check_label_summary", "take_items",
           "dask_matrix", "dask_labels_summary"]

_LONG_COLUMNS = ("item", "rater", "label")


def check_labels(labels: np.ndarray, n_classes: int | None) -> None:
    """Refuse labels that are not integers 0..n_classes-1."""
    if labels.size:
        bad = bool(np.any(labels < 0) or np.any(labels != np.round(labels)))
        check_label_summary(bad, float(labels.max()), n_classes)


def check_label_summary(bad: bool, largest: float, n_classes: int | None) -> None:
    """:func:`check_labels` from a summary of the labels (for Dask ratings).

    ``bad``: some label is negative or not an integer; ``largest``: the largest label.
    """
    if bad:
        raise ValueError("ratings must be class labels 0, 1, ..., n_classes - 1 "
                         "(NaN for 'not rated')")
    if n_classes is not None and largest >= n_classes:
        raise ValueError(f"a rating has label {int(largest)} but n_classes={n_classes} "
                         f"(labels 0..{n_classes - 1})")


def is_long(ratings: Any) -> bool:
    """A long table: a DataFrame with columns item, rater and label.

    A DataFrame with some of those columns but not all is a malformed long
    table, not a wide matrix whose raters happen to carry those names.
    """
    if not isinstance(ratings, pd.DataFrame):
        return False
    present = [c for c in _LONG_COLUMNS if c in ratings.columns]
    if present and len(present) < len(_LONG_COLUMNS):
        missing = [c for c in _LONG_COLUMNS if c not in ratings.columns]
        raise ValueError(
            f"the ratings table has the column(s) {', '.join(present)} but no "
            f"{', '.join(missing)} column; a long table needs the columns item, rater "
            "and label (or pass a wide (n_items, n_raters) matrix)"
        )
    return bool(present)


def parse_ratings(ratings: Any, n_classes: int | None,
                  raters: list | None) -> tuple[Ratings, list, list]:
    """Ratings in long form, plus the item and rater identifiers.

    ``raters``: those of a fitted model, or ``None`` to take them from the data.
    """
    if is_long(ratings):
        table = ratings.dropna(subset=["label"])
        try:
            label = table["label"].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ValueError("the label column must hold class numbers 0..C-1 "
                             "(recode text labels first)") from None
        check_labels(label, n_classes)
        items, item_code = np.unique(table["item"].to_numpy(), return_inverse=True)
        if raters is None:
            rater_ids, rater_code = np.unique(table["rater"].to_numpy(), return_inverse=True)
            raters = rater_ids.tolist()
        else:
            lookup = {r: j for j, r in enumerate(raters)}
            unknown = sorted({r for r in table["rater"].tolist() if r not in lookup}, key=str)
            if unknown:
                raise ValueError(f"raters {unknown[:5]} were not seen in fit")
            rater_code = np.array([lookup[r] for r in table["rater"].tolist()], dtype=int)
        item_list = items.tolist()
    else:
        if isinstance(ratings, pd.DataFrame):
            ratings = ratings.to_numpy()
        try:
            M = np.asarray(ratings, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("ratings must be a numeric (n_items, n_raters) array with NaN "
                             "for missing, or a DataFrame with columns item, rater, label") \
                from None
        if M.ndim != 2 or M.shape[0] == 0 or M.shape[1] == 0:
            raise ValueError(f"ratings must be a 2-D (n_items, n_raters) array, "
                             f"got shape {M.shape}")
        if np.any(np.isinf(M)):
            raise ValueError("ratings contain infinite values; use NaN for 'not rated'")
        if raters is not None and M.shape[1] != len(raters):
            raise ValueError(f"ratings have {M.shape[1]} raters (columns) but the model "
                             f"was fitted with {len(raters)}")
        item_code, rater_code = np.nonzero(~np.isnan(M))
        label = M[item_code, rater_code]
        check_labels(label, n_classes)
        item_list = list(range(M.shape[0]))
        raters = list(range(M.shape[1])) if raters is None else raters
    if label.size == 0:
        raise ValueError("ratings contain no rating at all")
    c = int(label.max()) + 1 if n_classes is None else int(n_classes)
    c = max(c, 2)
    data = Ratings(np.asarray(item_code, dtype=np.intp), np.asarray(rater_code, np.intp),
                   label.astype(np.intp), len(item_list), len(raters), c)
    return data, item_list, raters


def take_items(data: Ratings, items: np.ndarray) -> Ratings:
    """The ratings of the given items only (sorted item codes), renumbered ``0..len - 1``.

    Their weights and known classes come along; raters and classes stay as they are.
    """
    items = np.asarray(items, dtype=np.intp)
    code = np.full(data.n_items, -1, dtype=np.intp)
    code[items] = np.arange(items.size)
    keep = code[data.item] >= 0
    return Ratings(code[data.item[keep]], data.rater[keep], data.label[keep], items.size,
                   data.n_raters, data.n_classes,
                   None if data.weight is None else data.weight[items],
                   None if data.known is None else data.known[items])


def dask_matrix(ratings: Any, raters: list | None = None) -> Any:
    """Dask ratings (array or wide DataFrame) as a float64 (n_items, n_raters) Dask array.

    The rows keep their partitions (with known sizes); the columns are joined into
    one block, so that every partition holds whole items. ``raters``: those of a
    fitted model, whose number the columns must match.
    """
    if type(ratings).__module__.startswith(("dask.dataframe", "dask_expr")):
        if any(c in ratings.columns for c in ("item", "rater", "label")):
            raise ValueError("a long (item, rater, label) table is read in memory only; on "
                             "Dask give the ratings as a wide (n_items, n_raters) Dask array "
                             "or DataFrame, NaN for 'not rated', partitioned by items")
        ratings = ratings.to_dask_array(lengths=True)
    if not hasattr(ratings, "ndim") or ratings.ndim != 2 \
            or not np.issubdtype(ratings.dtype, np.number):
        raise ValueError("Dask ratings must be a 2-D numeric (n_items, n_raters) array with "
                         "NaN for 'not rated'")
    M = ratings.astype(np.float64)
    if np.isnan(M.shape[0]):
        M = M.compute_chunk_sizes()
    if M.shape[0] == 0 or M.shape[1] == 0:
        raise ValueError(f"ratings must be a 2-D (n_items, n_raters) array, "
                         f"got shape {M.shape}")
    if raters is not None and M.shape[1] != len(raters):
        raise ValueError(f"ratings have {M.shape[1]} raters (columns) but the model "
                         f"was fitted with {len(raters)}")
    if M.numblocks[1] > 1:
        M = M.rechunk({1: -1})
    return M


def dask_labels_summary(M: Any, n_classes: int | None) -> int:
    """Check Dask ratings as :func:`parse_ratings` checks a matrix; their ``n_classes``.

    One pass over the data (a few reductions computed together).
    """
    import dask
    import dask.array as da

    rated = ~da.isnan(M)
    values = da.where(rated, M, 0.0)
    infinite, count, low, high, fraction = dask.compute(
        da.isinf(M).any(), rated.sum(), values.min(), values.max(),
        (values != da.round(values)).any())
    if infinite:
        raise ValueError("ratings contain infinite values; use NaN for 'not rated'")
    if count:
        check_label_summary(bool(low < 0 or fraction), float(high), n_classes)
    else:
        raise ValueError("ratings contain no rating at all")
    c = int(high) + 1 if n_classes is None else int(n_classes)
    return max(c, 2)
