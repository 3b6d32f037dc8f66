"""The command list of ``emkit --help``, shown without importing the commands.

When the command line names no command (``emkit``, ``emkit --help``,
``emkit --version``, a mistyped command), no command can run, so the root app is
given one placeholder per command carrying the summary that Typer shows for it
(the first paragraph of its help). Typer then renders the help, the version and
"No such command ... Did you mean ...?" exactly as with the real commands, without
importing their modules (and NumPy, the readers and the estimators behind them).
tests/test_startup.py checks that this help equals the help of the real commands.
"""

from __future__ import annotations

import typer

__all__ = ["SUMMARIES", "GROUPS", "add_placeholders"]

#: Each command -> the first paragraph of its help, in help order.
SUMMARIES: dict[str, str] = {
    "fit": "Fit a Gaussian mixture with K components and print its parameters.",
    "predict": "Label each row of DATA with the most likely component of a saved model.",
    "demo": "Watch EM work on bundled data: Old Faithful step by step, then the teacher's "
            "gradebook\n(or, with `speech`, recognize spoken digits with hidden Markov models).",
    "impute": "Fill missing values with their conditional expectations under a normal fitted "
              "by EM.",
    "select": "Fit Gaussian mixtures with mclust's covariance models and pick the best.",
    "segment": "Segment IMAGE into K colour regions; write the segmented image and colour "
               "table.",
    "regress": "Fit a mixture of K regressions of the --y column on the --x columns.",
    "survival": "Fit a mixture of K survival distributions to right-censored times.",
    "report": "Fit a Gaussian mixture and write an HTML page that shows EM step by step.",
    "hmm": "Hidden Markov models: fit sequences, choose the number of states, decode hidden "
           "states.",
}

#: The commands that are groups of sub-commands (listed after the others, as Typer does).
GROUPS: frozenset[str] = frozenset({"hmm"})


def _placeholder() -> None:
    """Never run: a command line that names a command gets the real one."""
    raise RuntimeError("a command placeholder was run")  # pragma: no cover


def add_placeholders(app: typer.Typer) -> typer.Typer:
    """Add a placeholder for every command of :data:`SUMMARIES` to ``app``; returns ``app``."""
    for name, summary in SUMMARIES.items():
        if name in GROUPS:
            group = typer.Typer()
            group.command("placeholder")(_placeholder)
            app.add_typer(group, name=name, help=summary)
        else:
            app.command(name, help=summary)(_placeholder)
    return app
