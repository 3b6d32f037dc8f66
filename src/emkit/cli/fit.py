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
    load_data,
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
    print(f"Gaussian mixture: {facts['n_components']} components, "
          f"{facts['covariance_type']} covariances, {facts['n_rows']} rows x "
          f"{len(facts['columns'])} columns ({shown})", file=out)
    if facts["n_missing"]:
        print(f"{facts['n_missing']} values are missing: EM treats them as hidden, like the "
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


def fit(
    data: Annotated[str, typer.Argument(
        metavar="DATA", help="CSV, TSV, Parquet or NPY file, or - for stdin.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Number of components.")] = 2,
    covariance: Annotated[Covariance, typer.Option(
        "--covariance", help="Covariance structure.")] = Covariance.full,
    columns: ColumnsOption = None,
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
    import pandas as pd

    from .. import GaussianMixture

    X, names = load_data(data, columns)
    frame = pd.DataFrame(X, columns=names)
    model = GaussianMixture(
        n_components=k, covariance_type=covariance.value, max_iter=max_iter, tol=tol,
        n_init=n_init, random_state=seed,
        accelerate=accelerate.value if accelerate is not None else None,
    )
    live = _live_trace(n_init) if trace and not json_ else None
    with watch_fit(quiet=quiet, total=max_iter, label="EM", on_step=live) as watch:
        model.fit(frame)
    facts = summary(model, frame, watch)
    if trace and json_:
        from ..trace import trace_rows

        facts["trace"] = [
            {"iteration": r.iteration, "loglik": r.loglik, "gain": r.gain,
             "param_change": r.param_change}
            for r in trace_rows(watch.recorder.best_run(), show_params=False)
        ]
    if plot is not None:
        from ..plot import save_mixture_plots

        facts["plots"] = [str(p) for p in save_mixture_plots(
            plot, frame, model, watch.recorder.best_run())]
    if save is not None:
        facts["saved"] = str(model.save(save))
    if json_:
        print_json(facts)
    else:
        if trace:
            print()
        print_summary(facts)
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
        "--output", "-o", help="Write the labels CSV here (default: stdout).")] = None,
    columns: ColumnsOption = None,
    proba: Annotated[bool, typer.Option(
        "--proba", help="Also write each component's probability.")] = False,
    quiet: QuietOption = False,
) -> int:
    """Label each row of DATA with the most likely component of a saved model."""
    import pandas as pd

    from ..io import numeric_matrix, read_table
    from ..persistence import load

    model = load(model_file)
    if not hasattr(model, "predict"):
        raise CLIError(f"{model_file} holds a {type(model).__name__}, which cannot predict")
    table = read_table(data)
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
    if output is None:
        out.to_csv(sys.stdout, index=False)
    else:
        from ..atomic import atomic_write

        with atomic_write(output, "w", encoding="utf-8", newline="") as fh:
            out.to_csv(fh, index=False)
        if not quiet:
            print(f"wrote {len(out)} labels to {output}", file=sys.stderr)
    return EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("fit")(fit)
    app.command("predict")(predict)
