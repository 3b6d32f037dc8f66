"""``emkit select``: fit mclust's covariance models for a range of K and rank them.

Prints the criterion as a K x model grid (mclust's BIC print, in scikit-learn's
sign: lower is better), the best fits, failed fits with their reasons, and the
winner's parameters. ``--json`` prints the whole table and the winner instead;
``--plot DIR`` writes the criterion-by-K plot as ``DIR/select_<criterion>.png``.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from . import CLIError
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    ColumnsOption,
    JsonOption,
    MaxIterOption,
    QuietOption,
    SeedOption,
    load_data,
    loading,
    plural,
    print_json,
    warn,
    watch_fit,
)

__all__ = ["select", "register", "parse_components"]


class Criterion(str, Enum):
    bic = "bic"
    aic = "aic"
    icl = "icl"


class Init(str, Enum):
    hc = "hc"
    kmeans = "kmeans"


def parse_components(text: str) -> list[int]:
    """``"1..9"`` -> 1..9; ``"2,3,5"`` -> [2, 3, 5]; ``"4"`` -> [4]; ranges and lists mix."""
    values: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)\s*(?:\.\.|-|:)\s*(\d+)", part)
        if match:
            lo, hi = int(match.group(1)), int(match.group(2))
            if lo > hi:
                raise typer.BadParameter(f"empty range {part!r}", param_hint="--k")
            values.extend(range(lo, hi + 1))
        elif part.isdigit():
            values.append(int(part))
        else:
            raise typer.BadParameter(
                f"{part!r} is not a count or a range like 1..9", param_hint="--k")
    if not values or min(values) < 1:
        raise typer.BadParameter("give component counts >= 1, e.g. 1..9", param_hint="--k")
    return sorted(set(values))


def parse_tolerance(text: str) -> float | str:
    """``"1e-8"`` -> 1e-8 (a finite number >= 0); ``"mclust"`` -> ``"mclust"``."""
    if text.strip().lower() == "mclust":
        return "mclust"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0.0):
        raise typer.BadParameter(f"give a number >= 0 or 'mclust', not {text!r}",
                                 param_hint="--tol")
    return value


def _number(value: Any, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _print_report(result: Any, names: list[str], criterion: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 160)
    grid = result.pivot(criterion)
    best_value = float(result.table[criterion].min())
    texts = {(k, model): _number(value, 2) for model in grid.columns
             for k, value in grid[model].items()}
    cell = max(len(t) for t in [*texts.values(), *map(str, grid.columns)]) + 3
    per_table = max(1, (console.width - len(str(max(grid.index))) - 4) // cell)
    models = list(grid.columns)
    for first in range(0, len(models), per_table):
        chunk = models[first:first + per_table]
        table = Table("K", *chunk, title=f"{criterion.upper()} by model and K"
                      if first == 0 else None)
        for k in grid.index:
            cells = []
            for model in chunk:
                value = grid.at[k, model]
                text = texts[(k, model)]
                if math.isfinite(value) and math.isclose(value, best_value, abs_tol=1e-9):
                    text = f"[bold]{text}[/bold]"
                cells.append(text)
            table.add_row(str(k), *cells)
        console.print(table)
    console.print(f"{criterion.upper()}: lower is better (mclust prints the negative)")
    top = Table("rank", "model", "K", "loglik", "params", "bic", "aic", "icl",
                title="Best fits")
    for i, row in enumerate(result.ranking().head(5).itertuples(index=False)):
        top.add_row(str(i + 1), row.model, str(row.n_components), _number(row.loglik),
                    str(row.n_parameters), _number(row.bic), _number(row.aic),
                    _number(row.icl))
    console.print(top)
    failed = result.table[result.table["error"].notna()]
    for row in failed.itertuples(index=False):
        console.print(f"failed: {row.model},{row.n_components}: {row.error}")
    if failed["error"].astype(str).str.contains("singular|collapsed").any():
        console.print("a component that collapses fails its fit; --reg-covar 1e-6 (added to "
                      "every covariance diagonal) keeps it")
    best = result.best
    from ..gaussian.constrained import MODEL_DESCRIPTIONS

    console.print(
        f"Best by {criterion.upper()}: {best.model} ({MODEL_DESCRIPTIONS[best.model]}) with "
        f"{plural(best.n_components, 'component')}, log-likelihood {best.loglik_:.3f}, "
        f"{best.n_parameters()} parameters"
    )
    from ._common import print_block

    print_block("Weights", best.weights_)
    print_block(f"Means ({', '.join(names)})", best.means_)


def select(
    data: Annotated[str, typer.Argument(help="Data file (CSV, TSV, Parquet, NPY) or '-'.")],
    k: Annotated[str, typer.Option(
        "--k", "-k", metavar="COUNTS", help="Component counts: 1..9, 2,3,5 or 4.")] = "1..9",
    models: Annotated[str | None, typer.Option(
        "--models", "-m", metavar="NAMES",
        help="mclust models, comma-separated (default: all fourteen, EII ... VVV).")] = None,
    criterion: Annotated[Criterion, typer.Option(
        "--criterion", help="Rank by BIC, AIC or ICL (lower is better).")] = Criterion.bic,
    columns: ColumnsOption = None,
    as_json: JsonOption = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", metavar="DIR", help="Write the criterion-by-K plot into DIR.")] = None,
    init: Annotated[Init, typer.Option(
        "--init", help="Start EM from model-based hierarchical agglomeration (hc) or "
        "k-means.")] = Init.hc,
    save: Annotated[Path | None, typer.Option(
        "--save", metavar="PATH", help="Save the best model (load with emkit.load).")] = None,
    seed: SeedOption = 0,
    prior: Annotated[str | None, typer.Option(
        "--prior", help="mclust's conjugate prior for every fit: 'default' = "
        "priorControl().")] = None,
    reg_covar: Annotated[float, typer.Option(
        "--reg-covar", min=0.0, help="Added to every covariance diagonal; > 0 keeps a "
        "collapsing component from failing the fit.")] = 0.0,
    max_iter: MaxIterOption = 1000,
    tol: Annotated[str, typer.Option(
        "--tol", metavar="TOL|mclust",
        help="Stop when the mean log-likelihood per row gains less; 'mclust' stops each "
        "fit by mclust's rule (relative change of the log-likelihood at most 1e-5), as "
        "R's Mclust() does.")
    ] = "1e-8",
    quiet: QuietOption = False,
) -> int:
    """Fit Gaussian mixtures with mclust's covariance models and pick the best."""
    import numpy as np

    from ..estimators.selection import select_model
    from ..exceptions import ConvergenceWarning  # builds on scikit-learn: not at start-up
    from ._outcome import check_save_path
    from ._output import check_plot_dir

    counts = parse_components(k)
    tolerance = parse_tolerance(tol)
    check_model_names(models)
    if prior is not None and prior != "default":
        raise typer.BadParameter(f"give 'default' (mclust's priorControl()), not {prior!r}",
                                 param_hint="--prior")
    check_save_path(save)
    check_plot_dir(plot)
    with loading(data, quiet):
        X, names = load_data(data, columns)
    incomplete = np.isnan(X).any(axis=1)
    if incomplete.any():
        raise CLIError(f"{int(incomplete.sum())} of {len(X)} rows have empty cells (first: data "
                       f"row {int(np.argmax(incomplete)) + 1}); select fits complete rows "
                       "only: fill them with emkit impute, or fit them as missing with "
                       "emkit fit")
    n_models = 14 if models is None else len([m for m in models.split(",") if m.strip()])
    with watch_fit(quiet=quiet, abandon=True, label="select", total=max_iter,
                   fits=n_models * len(counts), n_rows=len(X),
                   tol=tolerance if isinstance(tolerance, float) else None) as watch, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            result = select_model(X, n_components=counts, covariance_models=models,
                                  criterion=criterion.value, random_state=seed,
                                  init_params=init.value, prior=prior, reg_covar=reg_covar,
                                  max_iter=max_iter, tol=tolerance)
        except ValueError as exc:  # the library's advice, in this command's option names
            raise CLIError(_option_names(str(exc))) from None
    if not quiet:
        for warning in caught:
            warn(_option_names(str(warning.message)))
    interrupted = watch.interrupted
    figure_path = None
    if plot is not None and not interrupted:
        from ..plot.selection import plot_criterion

        plot.mkdir(parents=True, exist_ok=True)
        figure_path = plot / f"select_{criterion.value}.png"
        fig = plot_criterion(result.table, criterion=criterion.value)
        from ..atomic import atomic_path

        with atomic_path(figure_path) as tmp:
            fig.savefig(tmp, dpi=100)
        import matplotlib.pyplot as plt

        plt.close(fig)
    if save is not None and not interrupted:
        result.best.save(save)
    elif save is not None and not quiet:
        warn(f"the selection was interrupted, so {save} was not written")
    if as_json:
        best = result.best
        table = result.table.astype(object).where(result.table.notna(), None)
        print_json({
            "criterion": criterion.value,
            "columns": names,
            "n_rows": int(X.shape[0]),
            "interrupted": interrupted,
            "best": {"model": best.model, "n_components": int(best.n_components),
                     "loglik": best.loglik_, "n_parameters": best.n_parameters(),
                     "bic": best.bic(X), "aic": best.aic(X), "icl": best.icl(X),
                     "converged": bool(best.converged_) and not interrupted,
                     "weights": best.weights_, "means": best.means_,
                     "covariances": best.covariances_},
            "table": table.to_dict(orient="records"),
            "plot": figure_path,
            "saved": None if interrupted else save,
        })
        return EXIT_INTERRUPTED if interrupted else EXIT_OK
    if interrupted:
        print("Interrupted (Ctrl-C): the fits not run are listed as failed; the best "
              "below is the best so far")
    _print_report(result, names, criterion.value)
    if figure_path is not None and not quiet:
        print(f"Wrote {figure_path}", file=sys.stderr)
    if save is not None and not interrupted and not quiet:
        print(f"Saved the best model to {save}", file=sys.stderr)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _option_names(message: str) -> str:
    """The library's advice (``reg_covar``, ``max_iter``) in this command's option names."""
    message = (message.replace("reg_covar > 0", "--reg-covar 1e-6 (or larger)")
               .replace("reg_covar=0", "--reg-covar 0")
               .replace("raise max_iter", "raise --max-iter"))
    if ("singular" in message or "collapsed" in message) and "--reg-covar" not in message:
        message += "; --reg-covar 1e-6 (added to every covariance diagonal) keeps a " \
            "collapsing component"
    return message


def check_model_names(models: str | None) -> None:
    """Refuse an unknown mclust model name as a usage error (exit 2)."""
    if models is None:
        return
    from ..estimators.selection import _models

    try:
        _models(models)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--models") from None


def register(app: typer.Typer) -> None:
    """Add ``emkit select`` to ``app``."""
    from ._command import add_command

    add_command(app, "select", select)
