"""``emkit report``: fit a Gaussian mixture and write one self-contained HTML page of it.

The page (:func:`emkit.report.write_html`) shows EM step by step: a slider and a
play button over the iterations with the clusters and their ellipses moving and
the log-likelihood rising, the fitted parameters, convergence diagnostics and
warnings, and provenance (data hash, emkit version, this command). With
``--select`` the number of components and the covariance model are chosen by BIC
over ``-k`` (a range such as ``1..6``) and the page adds the BIC/ICL grid. With
``--bootstrap N`` the parameter tables show standard errors from ``N`` bootstrap
refits of the model (``model.bootstrap``; ``--bootstrap-kind weighted`` for the
weighted-likelihood bootstrap), seeded by ``--seed``.

As every command: a progress line on a terminal (``--quiet`` hides it and the
warning lines), ``--json`` prints one JSON document, and Ctrl-C stops after the
running EM step with exit 130, reports the best log-likelihood reached and writes
no page.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    ColumnsOption,
    JsonOption,
    QuietOption,
    SeedOption,
    load_data,
    print_json,
)
from ._outcome import check_save_path
from ._watch import loading, watch_fit

__all__ = ["report", "register"]


def report(
    data: Annotated[str, typer.Argument(help="CSV/TSV/Parquet file, or - for stdin.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="PATH", help="The HTML file to write.")] = Path("report.html"),
    k: Annotated[str, typer.Option(
        "--k", "-k", help="Number of components (with --select: counts or a range, "
        "e.g. 1..6).")] = "2",
    covariance_type: Annotated[str, typer.Option(
        "--covariance-type", help="full, tied, diag or spherical.")] = "full",
    select: Annotated[bool, typer.Option(
        "--select", help="Choose K and mclust's covariance model by BIC over --k.")] = False,
    columns: ColumnsOption = None,
    max_points: Annotated[int, typer.Option(
        "--max-points", min=10, help="Most points drawn (a larger table is subsampled "
        "and the page says so).")] = 2000,
    seed: SeedOption = 0,
    bootstrap: Annotated[int | None, typer.Option(
        "--bootstrap", min=2, metavar="N", help="Show bootstrap standard errors of the "
        "weights, means and covariances from N refits.")] = None,
    bootstrap_kind: Annotated[str, typer.Option(
        "--bootstrap-kind", help="nonparametric (resample rows) or weighted "
        "(weighted-likelihood bootstrap).")] = "nonparametric",
    json_: JsonOption = False,
    quiet: QuietOption = False,
) -> int:
    """Fit a Gaussian mixture and write an HTML page that shows EM step by step."""
    from ..report import write_html
    from .select import parse_components

    if output.suffix.lower() not in (".html", ".htm"):
        raise typer.BadParameter(f"the report is HTML: give a .html path, not {output}",
                                 param_hint="--output")
    if bootstrap_kind not in ("nonparametric", "weighted"):
        raise typer.BadParameter(f"nonparametric or weighted, not {bootstrap_kind!r}",
                                 param_hint="--bootstrap-kind")
    counts = parse_components(k)
    if not select and len(counts) != 1:
        raise typer.BadParameter("give one count, or --select for a range", param_hint="--k")
    check_save_path(output, "--output")
    with loading(data, quiet):
        X, names = load_data(data, columns)
    selection = None
    messages: list[str] = []
    if select:
        from ..estimators.selection import select_model

        with watch_fit(quiet=quiet, abandon=True, label="select", n_rows=len(X)) as grid:
            selection = select_model(X, n_components=counts, random_state=seed)
        messages += grid.warnings
        if grid.interrupted:
            return _interrupted(None, float(selection.table["loglik"].max()), json_)
        best = selection.best
        with watch_fit(quiet=quiet, label="EM (chosen model)", n_rows=len(X)) as watch:
            model = type(best)(**best.get_params()).fit(X)  # its run, to show step by step
    else:
        from ..estimators.gaussian_mixture import GaussianMixture

        with watch_fit(quiet=quiet, label="EM", n_rows=len(X)) as watch:
            model = GaussianMixture(counts[0], covariance_type=covariance_type,
                                    random_state=seed).fit(X)
    messages += [m for m in watch.warnings if m not in messages]
    if watch.interrupted:
        return _interrupted(model, float(model.score(X)) * len(X), json_)
    errors = None
    if bootstrap is not None:
        result = model.bootstrap(X, bootstrap, random_state=seed, kind=bootstrap_kind)
        errors = {"weights": result.weights_se, "means": result.means_se,
                  "covariances": result.covariances_se}
    import pandas as pd

    frame = pd.DataFrame(X, columns=names) if names is not None else X
    path = write_html(model, frame, watch.recorder.best_run(), output, selection=selection,
                      warnings=messages, command=shlex.join(["emkit", *sys.argv[1:]]),
                      data_name=Path(data).name if data != "-" else "stdin",
                      max_points=max_points, standard_errors=errors)
    steps = len(watch.recorder.best_run())
    if json_:
        print_json({"output": str(path), "interrupted": False, "n_rows": len(X),
                    "steps": steps, "n_components": int(model.n_components),
                    "model": getattr(model, "model", covariance_type),
                    "loglik": float(model.score(X)) * len(X),
                    "bootstrap": bootstrap, "warnings": messages})
    elif not quiet:
        extra = "" if bootstrap is None else f", {bootstrap} bootstrap refits"
        typer.echo(f"Wrote {path} ({steps} steps, {len(X)} rows{extra})")
    return EXIT_OK


def _interrupted(model: Any, loglik: float, as_json: bool) -> int:
    """Ctrl-C: say so with the best log-likelihood reached; no page is written."""
    if as_json:
        print_json({"output": None, "interrupted": True, "loglik": loglik,
                    "n_components": None if model is None else int(model.n_components)})
    else:
        print(f"Interrupted (Ctrl-C): no report written; best log-likelihood so far "
              f"{loglik:.6g}", file=sys.stderr)
    return EXIT_INTERRUPTED


def register(app: typer.Typer) -> None:
    """Add ``emkit report`` to ``app``."""
    from ._command import add_command

    add_command(app, "report", report)
