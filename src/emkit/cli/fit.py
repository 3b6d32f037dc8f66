"""``emkit fit`` (a Gaussian mixture on a data file) and ``emkit predict``."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from . import CLIError
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    AccelerateOption,
    ColumnsOption,
    FitWatch,
    JsonOption,
    MaxIterOption,
    NInitOption,
    QuietOption,
    SaveOption,
    SeedOption,
    TolOption,
    loading,
    plural,
    print_block,
    print_json,
    split_columns,
    watch_fit,
)

__all__ = ["fit", "predict", "register", "summary", "print_summary"]

#: Trace rows show these parameter entries (when the problem is small).
TRACE_KEYS = ("weights", "means")


class Covariance(str, Enum):
    full = "full"
    tied = "tied"
    diag = "diag"
    spherical = "spherical"


def summary(model: Any, frame: Any, watch: FitWatch | None = None) -> dict[str, Any]:
    """The facts ``emkit fit`` reports about a fitted Gaussian mixture, as a dict.

    Keys: model, n_components, covariance_type, columns, n_rows, n_missing, weights, means,
    covariances, loglik (total), mean_loglik (per row), bic, aic, n_iter,
    converged, stop_reason ("converged", "max_iter" or "interrupted").
    """
    X = frame.to_numpy(dtype=float)
    mean_loglik = float(model.score(frame))
    interrupted = bool(watch is not None and watch.interrupted)
    converged = bool(model.converged_) and not interrupted
    return {
        "model": type(model).__name__,
        "n_components": int(model.n_components),
        "covariance_type": model.covariance_type,
        "columns": [str(c) for c in frame.columns],
        "n_rows": int(X.shape[0]),
        "n_missing": int(np.isnan(X).sum()),
        "weights": model.weights_,
        "means": model.means_,
        "covariances": model.covariances_,
        "loglik": mean_loglik * X.shape[0],
        "mean_loglik": mean_loglik,
        "bic": float(model.bic(frame)),
        "aic": float(model.aic(frame)),
        "n_iter": int(model.n_iter_),
        "converged": converged,
        "stop_reason": "interrupted" if interrupted else
                       ("converged" if converged else "max_iter"),
    }


def print_summary(facts: dict[str, Any], file: Any = None) -> None:
    """Print :func:`summary` in the readable form (``Means:`` then the array)."""
    out = file or sys.stdout
    shown = ", ".join(facts["columns"][:8]) + (", ..." if len(facts["columns"]) > 8 else "")
    print(f"Gaussian mixture: {plural(facts['n_components'], 'component')}, "
          f"{facts['covariance_type']} covariances, {facts['n_rows']} rows x "
          f"{len(facts['columns'])} columns ({shown})", file=out)
    if facts["n_missing"]:
        n = facts["n_missing"]
        print(f"{plural(n, 'value')} {'is' if n == 1 else 'are'} missing: EM treats "
              f"{'it' if n == 1 else 'them'} as hidden, like the "
              "components", file=out)
    print(file=out)
    for title, key in (("Weights", "weights"), ("Means", "means"),
                       ("Covariances", "covariances")):
        print_block(title, facts[key], file=out)
        print(file=out)
    print(f"Log-likelihood: {facts['loglik']:.4f} (mean per row {facts['mean_loglik']:.6f})",
          file=out)
    print(f"BIC: {facts['bic']:.4f}   AIC: {facts['aic']:.4f}   (lower is better)", file=out)
    status = {"converged": "yes", "max_iter": "no (max_iter reached)",
              "interrupted": "no (interrupted; best parameters so far)"}[facts["stop_reason"]]
    print(f"Iterations: {facts['n_iter']}   converged: {status}", file=out)


def _live_trace(n_init: int) -> Any:
    """A step observer printing the trace table as EM runs (a header at each start)."""
    from ..trace import format_row, trace_rows

    starts = [0]

    def on_step(step: Any) -> None:
        if step.iteration == 0:
            starts[0] += 1
            if n_init > 1:
                if starts[0] > 1:
                    print()
                print(f"start {starts[0]} of {n_init}")
            print(format_row(None))
        print(format_row(trace_rows([step], keys=TRACE_KEYS)[0]), flush=True)

    return on_step


def _label_codes(values: Any, name: str, k: int) -> np.ndarray:
    """``--labels`` as fit's ``labels``: -1 where empty (or -1), else 0..K-1.

    Integer labels are the component numbers themselves; text labels are numbered
    in sorted order (``a`` -> 0, ``b`` -> 1, ...).
    """
    import pandas as pd

    series = pd.Series(values)
    known = series.notna()
    if pd.api.types.is_numeric_dtype(series):
        numbers = series[known].to_numpy(dtype=float)
        if numbers.size and (np.any(numbers != np.round(numbers)) or numbers.min() < -1
                             or numbers.max() > k - 1):
            bad = numbers[(numbers != np.round(numbers)) | (numbers < -1) | (numbers > k - 1)]
            raise CLIError(f"--labels column {name} holds {bad[0]:g}; give component numbers "
                           f"0..{k - 1}, or -1 or an empty cell for an unknown row")
        codes = np.full(len(series), -1, dtype=np.int64)
        codes[known.to_numpy()] = numbers.astype(np.int64)
        return codes
    names = sorted({str(v) for v in series[known]})
    if len(names) > k:
        raise CLIError(f"--labels column {name} has {len(names)} distinct labels "
                       f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}) but "
                       f"-k is {k}: give at least as many components")
    lookup = {label: j for j, label in enumerate(names)}
    return np.array([lookup[str(v)] if ok else -1 for v, ok in zip(series, known, strict=True)],
                    dtype=np.int64)


def _weight_values(values: Any, name: str) -> np.ndarray:
    """``--weights`` as a float vector: finite, non-negative, not all zero (else exit 1)."""
    import pandas as pd

    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers) | (numbers < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CLIError(f"--weights column {name} holds {values[row]!r} in data row {row + 1}; "
                       "weights are finite numbers >= 0")
    if not numbers.sum() > 0:
        raise CLIError(f"--weights column {name} is all zero")
    return numbers


def _features(table: Any, columns: list[str] | None, kept_out: list[str]) -> list[str]:
    """The feature columns: ``--columns``, or every column but the ``kept_out`` ones."""
    for name in kept_out:
        if name not in table.columns:
            raise CLIError(f"unknown column {name}; the table has "
                           f"{', '.join(map(str, table.columns))}")
    if columns:
        clash = [c for c in columns if c in kept_out]
        if clash:
            raise typer.BadParameter(f"column {clash[0]} is also given to --labels/--weights; "
                                     "it cannot be a feature too", param_hint="--columns")
        return columns
    return [str(c) for c in table.columns if c not in kept_out]


def fit(
    data: Annotated[str, typer.Argument(
        metavar="DATA", help="CSV, TSV, Parquet or NPY file, or - for stdin.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Number of components.")] = 2,
    covariance: Annotated[Covariance, typer.Option(
        "--covariance-type", help="Covariance structure.")] = Covariance.full,
    columns: ColumnsOption = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", metavar="COLUMN", help="Column of known components (0..K-1, or text "
        "labels numbered in sorted order); an empty cell or -1 is unknown. Not a feature."
    )] = None,
    weights: Annotated[str | None, typer.Option(
        "--weights", "-w", metavar="COLUMN", help="Column of row weights (>= 0; an integer "
        "weight counts the row that many times). Not a feature.")] = None,
    trace: Annotated[bool, typer.Option(
        "--trace", help="Print every EM iteration: log-likelihood, gain, max |Δθ|.")] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", metavar="DIR", help="Write figures (PNG, and a GIF for 2-D data) here.")
    ] = None,
    json_: JsonOption = False,
    save: SaveOption = None,
    quiet: QuietOption = False,
    max_iter: MaxIterOption = 100,
    tol: TolOption = 1e-3,
    n_init: NInitOption = 1,
    seed: SeedOption = 0,
    accelerate: AccelerateOption = None,
) -> int:
    """Fit a Gaussian mixture with K components and print its parameters."""
    from ._gc import loading_libraries

    with loading_libraries():
        import pandas as pd

        from .. import GaussianMixture
        from ..io import numeric_matrix
        from ._outcome import check_save_path, save_model
        from ._output import check_plot_dir
        from ._reading import read_input, warn_counters
        from ._threads import few_threads

    check_save_path(save)
    check_plot_dir(plot)
    kept_out = [c for c in (labels, weights) if c is not None]
    if labels is not None and labels == weights:
        raise typer.BadParameter("--labels and --weights name the same column",
                                 param_hint="--weights")
    with loading(data, quiet or trace):
        table = read_input(data)
    names = _features(table, split_columns(columns), kept_out)
    X = numeric_matrix(table, names)
    if np.isinf(X).any():
        raise ValueError("the data contain infinite values; remove or replace them")
    if not columns:
        warn_counters(X, names)
    frame = pd.DataFrame(X, columns=names)
    extra: dict[str, Any] = {}
    if labels is not None:
        extra["labels"] = _label_codes(table[labels].to_numpy(), labels, k)
    if weights is not None:
        extra["sample_weight"] = _weight_values(table[weights].to_numpy(), weights)
    model = GaussianMixture(
        n_components=k, covariance_type=covariance.value, max_iter=max_iter, tol=tol,
        n_init=n_init, random_state=seed,
        accelerate=accelerate.value if accelerate is not None else None,
    )
    live = _live_trace(n_init) if trace and not json_ else None
    with few_threads(X.size):
        with watch_fit(quiet=quiet, total=max_iter, label="EM", on_step=live, tol=tol,
                       n_rows=len(X)) as watch:
            model.fit(frame, **extra)
        facts = summary(model, frame, watch)
    if labels is not None:
        facts["labels_column"] = labels
        facts["n_labelled"] = int((extra["labels"] >= 0).sum())
    if weights is not None:
        facts["weights_column"] = weights
    if trace and json_:
        from ..trace import trace_rows

        facts["trace"] = [
            {"iteration": r.iteration, "loglik": r.loglik, "gain": r.gain,
             "param_change": r.param_change}
            for r in trace_rows(watch.recorder.best_run(), show_params=False)
        ]
    if plot is not None and not watch.interrupted:
        from ..plot import save_mixture_plots

        facts["plots"] = [str(p) for p in save_mixture_plots(
            plot, frame, model, watch.recorder.best_run())]
    saved = save_model(model, save, watch, quiet)
    if saved is not None:
        facts["saved"] = saved
    if json_:
        print_json(facts)
    else:
        if trace:
            print()
        print_summary(facts)
        if labels is not None:
            print(f"{facts['n_labelled']} rows with a known component (column {labels})")
        if weights is not None:
            print(f"rows weighted by column {weights}")
        for key, what in (("plots", "Plots"), ("saved", "Model saved to")):
            if key in facts:
                value = facts[key]
                print(f"{what}: {', '.join(value) if isinstance(value, list) else value}")
    return EXIT_INTERRUPTED if watch.interrupted else EXIT_OK


def predict(
    model_file: Annotated[Path, typer.Argument(metavar="MODEL", help="A saved model file.")],
    data: Annotated[str, typer.Argument(
        metavar="DATA", help="CSV, TSV, Parquet or NPY file, or - for stdin.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the labels here: .csv, .tsv, .parquet or .json by the "
        "suffix (default: CSV on stdout).")] = None,
    columns: ColumnsOption = None,
    proba: Annotated[bool, typer.Option(
        "--proba", help="Also write each component's probability.")] = False,
    json_: JsonOption = False,
    quiet: QuietOption = False,
) -> int:
    """Label each row of DATA with the most likely component of a saved model."""
    import pandas as pd

    from ..io import numeric_matrix
    from ..persistence import load
    from ._output import check_output, write_table
    from ._reading import read_input

    check_output(output, "--output")
    model = load(model_file)
    if not hasattr(model, "predict"):
        raise CLIError(f"{model_file} holds a {type(model).__name__}, which cannot predict")
    with loading(data, quiet):
        table = read_input(data)
    names = split_columns(columns)
    if names is None and hasattr(model, "feature_names_in_"):
        names = [str(c) for c in model.feature_names_in_]
        missing = [c for c in names if c not in table.columns]
        if missing:
            raise CLIError(
                f"the model was fitted on columns {', '.join(names)}; the data lack "
                f"{', '.join(missing)} (choose columns with --columns)"
            )
    X = numeric_matrix(table, names)
    expected = getattr(model, "n_features_in_", X.shape[1])
    if X.shape[1] != expected:
        raise CLIError(f"the model expects {expected} columns, the data give {X.shape[1]}; "
                       "choose them with --columns")
    if hasattr(model, "feature_names_in_"):
        # Columns chosen with --columns stand, in order, for those the model was fitted on.
        frame: Any = pd.DataFrame(X, columns=list(model.feature_names_in_))
    else:
        frame = X
    out = pd.DataFrame({"label": model.predict(frame)})
    if proba:
        probabilities = model.predict_proba(frame)
        for j in range(probabilities.shape[1]):
            out[f"p{j}"] = probabilities[:, j]
    if json_ and output is None:
        print_json({"n_rows": len(out), "rows": out.to_dict(orient="records")})
        return EXIT_OK
    write_table(out, output)
    if output is not None:
        if json_:
            print_json({"n_rows": len(out), "output": str(output)})
        elif not quiet:
            print(f"wrote {len(out)} labels to {output}", file=sys.stderr)
    return EXIT_OK


def register(app: typer.Typer) -> None:
    """Add ``emkit fit`` and ``emkit predict`` to ``app``."""
    from ._command import add_command

    add_command(app, "fit", fit)
    add_command(app, "predict", predict)
