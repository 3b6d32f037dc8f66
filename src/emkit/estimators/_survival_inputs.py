"""Input checks of :class:`emkit.SurvivalMixture`, for NumPy and Dask data alike.

The checks are reductions that Dask arrays answer lazily too, computed together
in one pass, so a Dask fit reads its data once before EM starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backends
from . import _supervision as sv

__all__ = ["SurvivalData", "check_survival", "as_vector"]

#: Observed failures each component needs, per family (distinct failure times).
MIN_DISTINCT_EVENTS = {"exponential": 1, "weibull": 2, "lognormal": 2}


@dataclass(frozen=True)
class SurvivalData:
    """Checked training data: the model's data array and what the estimator needs."""

    data: Any  # (n, 2) time, event or (n, 3) with the weights, then any evidence columns
    n: int
    total_weight: float
    weighted: bool
    is_dask: bool
    evidence: int = 0  # columns of per-row log-evidence after time, event (and weight)


def _now(*values: Any) -> tuple[Any, ...]:
    if any(backends.is_dask(v) for v in values):
        import dask

        return tuple(dask.compute(*values))
    return values


def as_vector(values: Any, name: str, dask: bool = False) -> Any:
    """``values`` as a 1-D float array (NumPy, or Dask when ``dask``)."""
    if backends.is_dask(values):
        if not dask:
            raise ValueError(f"{name} is a Dask collection but time is not: pass all of "
                             "time, event and sample_weight as Dask collections or in memory")
        if hasattr(values, "to_dask_array"):
            values = values.to_dask_array(lengths=True)
        if np.isnan(values.shape[0]):
            values = values.compute_chunk_sizes()
    else:
        if hasattr(values, "to_numpy"):
            values = values.to_numpy()
        if np.iscomplexobj(values):
            raise ValueError(f"{name} must hold real numbers, not complex ones")
        try:
            values = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numeric") from None
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (n_samples,), got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number) and not np.issubdtype(values.dtype, np.bool_):
        raise ValueError(f"{name} must be numeric, got dtype {values.dtype}")
    return values.astype(np.float64)


def _like(values: Any, time: Any, name: str) -> Any:
    """``values`` on the row chunks of the Dask array ``time``."""
    import dask.array as da

    n = time.shape[0]
    if values.shape[0] != n:
        raise ValueError(f"{name} has {values.shape[0]} rows but time has {n}")
    if not backends.is_dask(values):
        return da.from_array(values, chunks=(time.chunks[0],))
    return values.rechunk({0: time.chunks[0]})


def check_survival(time: Any, event: Any, sample_weight: Any = None, *,
                   distribution: str = "weibull", n_components: int = 1,
                   fitting: bool = True, labels: Any = None, priors: Any = None,
                   cure: bool = False) -> SurvivalData:
    """Checked ``(time, event[, weight][, log-evidence])`` as the model's data array.

    ``labels`` (n,) and ``priors`` (n, K [+ 1]) name the components
    ``0 .. n_components - 1`` and, with ``cure``, the cured one last
    (:mod:`~._supervision`); they become ``n_components + cure`` columns of
    log-evidence after the others (with Dask input brought into memory first and
    sent to the partitions with their rows).

    Raises
    ------
    ValueError
        Naming the argument: a time that is not positive and finite, an event not
        0 or 1, lengths that differ, negative or non-finite weights; when fitting,
        also too few observed failures for ``n_components`` components, bad
        labels or priors, or a row labelled cured whose failure was observed.
    """
    dask = backends.is_dask(time)
    t = as_vector(time, "time", dask)
    d = as_vector(event, "event", dask)
    w = None if sample_weight is None else as_vector(sample_weight, "sample_weight", dask)
    n = int(t.shape[0])
    for name, v in (("event", d), ("sample_weight", w)):
        if v is not None and v.shape[0] != n:
            raise ValueError(f"{name} has {v.shape[0]} rows but time has {n}")
    if n == 0:
        raise ValueError("time is empty: at least one row is needed")
    if dask:
        d = _like(d, t, "event")
        w = None if w is None else _like(w, t, "sample_weight")
    lazy: list[Any] = [
        ~np.isfinite(t).all(), (t <= 0).any(), ((d != 0) & (d != 1)).any(),
        (d * (1.0 if w is None else (w > 0))).sum(),
    ]
    if w is not None:
        lazy += [~np.isfinite(w).all(), (w < 0).any(), w.sum()]
    values = _now(*lazy)
    if bool(values[0]):
        raise ValueError("time contains NaN or infinity")
    if bool(values[1]):
        raise ValueError("time must be strictly positive (failure or censoring times > 0)")
    if bool(values[2]):
        raise ValueError("event must be 0 (right-censored) or 1 (failure observed) in every row")
    total = float(n)
    if w is not None:
        if bool(values[4]) or bool(values[5]):
            raise ValueError("sample_weight must be finite and non-negative")
        total = float(values[6])
        if not total > 0:
            raise ValueError("sample_weight sums to 0: at least one row needs positive weight")
    if fitting:
        if not float(values[3]) > 0:
            raise ValueError("event: every row is censored (event == 0); the survival "
                             "distribution cannot be estimated without observed failures")
        need = MIN_DISTINCT_EVENTS[distribution] * n_components
        if need > 1:
            seen = t[d > 0.5] if w is None else t[(d > 0.5) & (w > 0)]
            distinct = int(np.unique(_now(seen)[0]).size)
            if distinct < need:
                raise ValueError(
                    f"event: {distinct} distinct observed failure time(s) cannot estimate "
                    f"{n_components} {distribution} component(s) (at least {need} needed); "
                    "use fewer components (n_components)")
    m = int(n_components) + int(bool(cure))
    E = sv.labels_priors_evidence(labels, priors, n, m)
    if E is not None and cure:
        cured = np.isfinite(E[:, -1]) & ~np.isfinite(E[:, :-1]).any(axis=1)
        seen = np.asarray(_now(d)[0], dtype=float) > 0.5
        if (cured & seen).any():
            row = int(np.flatnonzero(cured & seen)[0])
            raise ValueError(f"row {row} is labelled cured (component {m - 1}) but its failure "
                             "was observed (event == 1)")
    columns = [t, d] if w is None else [t, d, w]
    if dask:
        import dask.array as da

        data = da.stack(columns, axis=1)
        if E is not None:
            data = da.concatenate([data, da.from_array(E, chunks=(t.chunks[0], m))], axis=1)
    else:
        data = np.column_stack(columns if E is None else [*columns, E])
    return SurvivalData(data=data, n=n, total_weight=total, weighted=w is not None,
                        is_dask=dask, evidence=0 if E is None else m)
