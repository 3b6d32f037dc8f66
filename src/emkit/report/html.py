"""The report page: :func:`build_html` assembles it, :func:`write_html` writes it.

One self-contained HTML file: the style sheet, the script and the data are
inline, nothing is fetched, so the page works offline and can be mailed.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import json
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .frames import as_steps, hmm_frames, loglik_curve, mixture_frames, model_kind, thin
from .script import SCRIPT, STYLE
from .tables import (
    definition_list,
    diagnostics,
    hmm_tables,
    mixture_tables,
    other_tables,
    selection_grid,
)

__all__ = ["build_html", "write_html", "data_sha256", "COLORS"]

#: Component colours (matplotlib's tab10, as in emkit.plot).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")


def data_sha256(X: np.ndarray) -> str:
    """SHA-256 of the data as float64 in C order (what the report calls the data hash)."""
    return hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes()).hexdigest()


def _matrix(X: Any, model: Any) -> tuple[np.ndarray, list[str]]:
    names = [str(c) for c in X.columns] if hasattr(X, "columns") else None
    try:
        array = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("X: expected a numeric array-like of shape (n_samples, "
                         "n_features)") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"X: expected a non-empty 2-D array, got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError("X: contains infinite values")
    expected = getattr(model, "n_features_in_", None)
    if expected is not None and int(expected) != array.shape[1]:
        raise ValueError(f"X: has {array.shape[1]} columns; the model was fitted on "
                         f"{int(expected)}")
    if names is None:
        fitted = getattr(model, "feature_names_in_", None)
        names = ([str(c) for c in fitted] if fitted is not None and len(fitted) ==
                 array.shape[1] else [f"x{i + 1}" for i in range(array.shape[1])])
    return array, names


def check_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path; ValueError when it is a directory or its directory is not
    there or not writable (checked before any work is done)."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"path: {target} is a directory; give a file name such as "
                         "report.html")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"path: cannot write {target}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"path: cannot write {target}: the directory {parent} is not "
                         "writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise ValueError(f"path: cannot write {target}: the file is not writable")
    return target


def _dump(document: Any) -> str:
    text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/")  # never closes the script element


def build_html(model: Any, X: Any, steps: Any, *, lengths: Sequence[int] | None = None,
               selection: Any = None, warnings: Sequence[str] = (),
               command: str | None = None, data_name: str | None = None,
               data_hash: str | None = None, title: str | None = None,
               dims: Sequence[int] = (0, 1), max_points: int = 2000, max_frames: int = 150,
               standard_errors: Mapping[str, Any] | None = None) -> str:
    """The report page as a string; the arguments are those of :func:`write_html`."""
    from .. import __version__

    records = as_steps(steps)
    kind = model_kind(model)
    array, names = _matrix(X, model)
    if max_points < 1 or max_frames < 1:
        raise ValueError("max_points and max_frames must be at least 1")
    d = array.shape[1]
    if len(dims) != 2 or not all(0 <= int(i) < d for i in dims[: min(d, 2)]):
        raise ValueError(f"dims: two column indices below {d} expected, got {list(dims)}")
    name = type(model).__name__
    if kind == "mixture":
        covariance = getattr(model, "covariance_type", None) or "full"
        explorer = mixture_frames(array, records, covariance, dims=dims,
                                  max_points=max_points, max_frames=max_frames)
        params = mixture_tables(model, names, standard_errors)
        what = f"{name}: {len(np.ravel(model.weights_))} components"
    elif kind == "hmm":
        states = np.asarray(model.predict(array, lengths))
        explorer = hmm_frames(array, states, records, dim=int(dims[0]),
                              max_points=max(max_points, 4000), max_frames=max_frames)
        params = hmm_tables(model, names)
        what = f"{name}: {len(np.ravel(model.startprob_))} hidden states"
        if lengths is not None:
            what += f", {len(lengths)} sequences"
    else:
        from ..trace import format_params

        shown = thin(len(records), max_frames)
        explorer = {"kind": "other", "notes": [], "dims": [0], "frames": [
            {"step": int(i), "params": format_params(records[i].params)} for i in shown]}
        params = other_tables(model, records[-1])
        what = name
    facts, found = diagnostics(model, records)
    all_warnings = list(dict.fromkeys([*warnings, *found]))
    document = {"explorer": explorer, "curve": loglik_curve(records), "names": names,
                "colors": list(COLORS)}
    head = title or f"emkit report: {what}"
    summary = (f"{what}, fitted to {array.shape[0]:,} rows x {d} columns "
               f"({', '.join(names[:8])}{', ...' if d > 8 else ''}).")
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in explorer["notes"])
    warned = "".join(f"<p>{html.escape(w)}</p>" for w in all_warnings)
    hash_text = data_hash or data_sha256(array)
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    provenance = [("data", data_name or "the array passed to write_html"),
                  ("data sha256", hash_text if data_hash else
                   f"{hash_text} (of the float64 array, C order)"),
                  ("shape", f"{array.shape[0]} x {d}"),
                  ("emkit version", __version__), ("numpy version", np.__version__),
                  ("python", platform.python_version())]
    if command:
        provenance.append(("command", command))
    provenance.append(("written", created))
    grid = ""
    if selection is not None:
        grid = ("<h2>Model selection</h2>" + selection_grid(selection, "bic") +
                (selection_grid(selection, "icl")
                 if "icl" in getattr(selection.table, "columns", ()) else ""))
    hmm_box = '<table id="transmat"></table>' if kind == "hmm" else ""
    other_box = '<p id="step-params" class="params-text"></p>' if kind == "other" else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(head)}</title><style>{STYLE}</style></head>
<body>
<h1>{html.escape(head)}</h1>
<p class="summary">{html.escape(summary)}</p>
{f'<div class="warnings" id="warnings"><strong>Warnings</strong>{warned}</div>'
 if warned else ''}
<h2>EM step by step</h2>
<p>Each EM iteration guesses which component every point belongs to (E-step), then re-fits
the components to that guess (M-step); the log-likelihood never falls. Move the slider or
press play to watch it.</p>
{f'<div class="notes" id="notes">{notes}</div>' if notes else ''}
<div class="controls"><button id="play" type="button">Play</button>
<input id="step" type="range" min="0" max="0" step="1" value="0" aria-label="EM step"></div>
<div id="step-label"></div>
<svg id="figure" viewBox="0 0 640 400" width="640" height="400" role="img"
 aria-label="the fit at the chosen step"></svg>
{hmm_box}{other_box}
<svg id="loglik" viewBox="0 0 640 180" width="640" height="180" role="img"
 aria-label="log-likelihood per iteration"></svg>
<h2>Fitted parameters</h2>
{params}
{grid}
<h2>Convergence</h2>
{definition_list(facts)}
<h2>Provenance</h2>
{definition_list(provenance, "facts provenance")}
<script type="application/json" id="emkit-data">{_dump(document)}</script>
<script>{SCRIPT}</script>
</body></html>
"""


def write_html(model: Any, X: Any, steps: Any, path: str | os.PathLike[str], *,
               lengths: Sequence[int] | None = None, selection: Any = None,
               warnings: Sequence[str] = (), command: str | None = None,
               data_name: str | None = None, data_hash: str | None = None,
               title: str | None = None, dims: Sequence[int] = (0, 1),
               max_points: int = 2000, max_frames: int = 150,
               standard_errors: Mapping[str, Any] | None = None) -> Path:
    """Write a self-contained HTML report of an EM fit, step by step.

    Parameters
    ----------
    model : fitted estimator
        A Gaussian mixture (``weights_``, ``means_``, ``covariances_``:
        GaussianMixture, MclustMixture, ``select_model(...).best``), an HMM
        (GaussianHMM, HMM, ...: decoded states over the sequence), or another
        mixture (log-likelihood and parameters only).
    X : array-like of shape (n_samples, n_features)
        The data it was fitted to (a DataFrame's column names label the axes).
    steps : sequence of emkit.Step, EMResult or emkit.trace.StepRecorder
        The run to show: ``StepRecorder().best_run()`` recorded around the fit
        with :func:`emkit.engine.observe`, or ``EMResult.steps``.
    path : str or os.PathLike
        The HTML file to write (atomically).
    lengths : sequence of int, optional
        For an HMM, the lengths of the sequences in ``X``.
    selection : select_model result, optional
        Adds its BIC and ICL grid (models by number of components).
    warnings : sequence of str
        Messages to show (e.g. those raised during the fit); convergence
        problems found in ``steps`` are added.
    command, data_name, data_hash : str, optional
        Provenance: the command that made the report, the data's name and a
        hash of the data file (default: SHA-256 of ``X`` as float64).
    title : str, optional
    dims : pair of int, default (0, 1)
        Columns drawn (an HMM draws ``dims[0]``).
    max_points, max_frames : int
        At most this many rows drawn (a random subsample beyond; the page says
        so) and this many steps in the explorer (HMM sequences: at least 4,000
        frames drawn).
    standard_errors : mapping, optional
        ``{"weights": ..., "means": ..., "covariances": ...}`` with the fitted
        attributes' shapes, shown as ± beside the values.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        An unfitted model, no steps, steps of another model, bad ``X`` or an
        unwritable ``path`` (checked first).
    """
    from ..atomic import atomic_write

    target = check_path(path)
    page = build_html(model, X, steps, lengths=lengths, selection=selection,
                      warnings=warnings, command=command, data_name=data_name,
                      data_hash=data_hash, title=title, dims=dims, max_points=max_points,
                      max_frames=max_frames, standard_errors=standard_errors)
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write(page)
    return target
