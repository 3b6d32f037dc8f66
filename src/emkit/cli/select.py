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

from ._common import ColumnsOption, JsonOption, SeedOption, load_data, print_json, warn

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


def _number(value: Any, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _print_report(result: Any, names: list[str], criterion: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 160)
    grid = result.pivot(criterion)
    table = Table("K", *grid.columns,
                  title=f"{criterion.upper()} by model and K (lower is better; "
                  f"mclust prints the negative)")
    best_value = float(result.table[criterion].min())
    for k, row in grid.iterrows():
        cells = []
        for value in row:
            text = _number(value, 2)
            if math.isfinite(value) and math.isclose(value, best_value, abs_tol=1e-9):
                text = f"[bold]{text}[/bold]"
            cells.append(text)
        table.add_row(str(k), *cells)
    console.print(table)
    top = Table("rank", "model", "K", "loglik", "n_parameters", "bic", "aic", "icl",
                title="Best fits")
    for i, row in enumerate(result.ranking().head(5).itertuples(index=False)):
        top.add_row(str(i + 1), row.model, str(row.n_components), _number(row.loglik),
                    str(row.n_parameters), _number(row.bic), _number(row.aic),
                    _number(row.icl))
    console.print(top)
    failed = result.table[result.table["error"].notna()]
    for row in failed.itertuples(index=False):
        console.print(f"failed: {row.model},{row.n_components}: {row.error}")
    best = result.best
    from ..gaussian.constrained import MODEL_DESCRIPTIONS

    console.print(
        f"Best by {criterion.upper()}: {best.model} ({MODEL_DESCRIPTIONS[best.model]}) with "
        f"{best.n_components} components, log-likelihood {best.loglik_:.3f}, "
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
    seed: SeedOption = None,
    prior: Annotated[str | None, typer.Option(
        "--prior", help="mclust's conjugate prior for every fit: 'default' = "
        "priorControl().")] = None,
) -> None:
    """Fit Gaussian mixtures with mclust's covariance models and pick the best."""
    from ..estimators.selection import select_model
    from ..exceptions import ConvergenceWarning  # builds on scikit-learn: not at start-up

    counts = parse_components(k)
    X, names = load_data(data, columns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = select_model(X, n_components=counts, covariance_models=models,
                              criterion=criterion.value, random_state=seed,
                              init_params=init.value, prior=prior)
    for warning in caught:
        warn(str(warning.message))
    figure_path = None
    if plot is not None:
        from ..plot.selection import plot_criterion

        plot.mkdir(parents=True, exist_ok=True)
        figure_path = plot / f"select_{criterion.value}.png"
        fig = plot_criterion(result.table, criterion=criterion.value)
        from ..atomic import atomic_path

        with atomic_path(figure_path) as tmp:
            fig.savefig(tmp, dpi=100)
        import matplotlib.pyplot as plt

        plt.close(fig)
    if save is not None:
        result.best.save(save)
    if as_json:
        best = result.best
        table = result.table.astype(object).where(result.table.notna(), None)
        print_json({
            "criterion": criterion.value,
            "columns": names,
            "n_rows": int(X.shape[0]),
            "best": {"model": best.model, "n_components": int(best.n_components),
                     "loglik": best.loglik_, "n_parameters": best.n_parameters(),
                     "bic": best.bic(X), "aic": best.aic(X), "icl": best.icl(X),
                     "weights": best.weights_, "means": best.means_,
                     "covariances": best.covariances_},
            "table": table.to_dict(orient="records"),
            "plot": figure_path,
            "saved": save,
        })
        return
    _print_report(result, names, criterion.value)
    if figure_path is not None:
        print(f"Wrote {figure_path}", file=sys.stderr)
    if save is not None:
        print(f"Saved the best model to {save}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    """Add ``emkit select`` to ``app``."""
    app.command("select")(select)
