"""``emkit demo``: EM on bundled data, step by step."""

from __future__ import annotations

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from ..engine import em
from ..models.textbook import LINKAGE_COUNTS, GeneticLinkage


def demo() -> None:
    """Run EM on bundled data and show every step."""
    console = Console()
    console.print(
        "[bold]Genetic linkage[/bold] (Dempster, Laird & Rubin 1977): counts "
        f"{LINKAGE_COUNTS.astype(int).tolist()}, first guess theta = 0.5"
    )
    table = Table("iteration", "theta", "log-likelihood", "gain")
    result = em(GeneticLinkage(), LINKAGE_COUNTS, 0.5, tol=1e-12)
    for step in result.steps:
        table.add_row(str(step.iteration), f"{step.params:.10f}", f"{step.loglik:.10f}",
                      f"{step.gain:.3e}")
    console.print(table)
    console.print(f"theta = {np.round(result.params, 7)} after {result.n_iter} iterations, "
                  f"converged: {result.converged}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
