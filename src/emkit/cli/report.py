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
"""

from __future__ import annotations

import shlex
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from ._common import ColumnsOption, SeedOption, load_data, warn
from ._outcome import check_save_path

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
) -> None:
    """Fit a Gaussian mixture and write an HTML page that shows EM step by step."""
    from ..engine import observe
    from ..exceptions import ConvergenceWarning
    from ..report import write_html
    from ..trace import StepRecorder
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
    X, names = load_data(data, columns)
    recorder = StepRecorder()
    selection = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if select:
            from ..estimators.selection import select_model

            selection = select_model(X, n_components=counts, random_state=seed)
            best = selection.best
            with observe(recorder):  # the chosen model's run, to show step by step
                model = type(best)(**best.get_params()).fit(X)
        else:
            from ..estimators.gaussian_mixture import GaussianMixture

            with observe(recorder):
                model = GaussianMixture(counts[0], covariance_type=covariance_type,
                                        random_state=seed).fit(X)
        errors = None
        if bootstrap is not None:
            result = model.bootstrap(X, bootstrap, random_state=seed, kind=bootstrap_kind)
            errors = {"weights": result.weights_se, "means": result.means_se,
                      "covariances": result.covariances_se}
    messages = [str(w.message) for w in caught]
    for message in messages:
        warn(message)
    import pandas as pd

    frame = pd.DataFrame(X, columns=names) if names is not None else X
    path = write_html(model, frame, recorder.best_run(), output, selection=selection,
                      warnings=messages, command=shlex.join(["emkit", *sys.argv[1:]]),
                      data_name=Path(data).name if data != "-" else "stdin",
                      max_points=max_points, standard_errors=errors)
    extra = "" if bootstrap is None else f", {bootstrap} bootstrap refits"
    typer.echo(f"Wrote {path} ({len(recorder.best_run())} steps, "
               f"{len(X)} rows{extra})")


def register(app: typer.Typer) -> None:
    """Add ``emkit report`` to ``app``."""
    from ._command import add_command

    add_command(app, "report", report)
