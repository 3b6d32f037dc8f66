"""How the sub-commands are added: reader options, shared option names, old spellings.

:func:`add_command` registers a command function on a Typer app with
:class:`EmkitCommand`, which accepts the old spelling of a renamed option (for
example ``--covariance`` for ``--covariance-type``, ``--n-iter`` for
``--max-iter``) without showing it in ``--help``; with ``reads_data`` the
command also gets the reader options (:func:`emkit.cli._reading.reader_options`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand

from ._reading import reader_options

__all__ = ["ALIASES", "EmkitCommand", "add_command"]

#: Another spelling -> the names it stands for, the first the command has wins:
#: old spellings of renamed options, and the count of components or states, which
#: every command takes as -k whatever its long name.
ALIASES: dict[str, tuple[str, ...]] = {
    "--covariance": ("--covariance-type",),
    "--n-iter": ("--max-iter",),
    "--k": ("--n-components", "--states"),
    "--n-components": ("--k", "--states"),
    "--states": ("--k", "--n-components"),
}


class EmkitCommand(TyperCommand):
    """A Typer command that reads the hidden old spellings in :data:`ALIASES`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        names = {opt for param in self.params for opt in getattr(param, "opts", [])}
        rewritten = []
        for position, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[position:])
                break
            head, eq, tail = arg.partition("=")
            if head in ALIASES and head not in names:
                target = next((t for t in ALIASES[head] if t in names), None)
                if target is not None:
                    arg = target + eq + tail
            rewritten.append(arg)
        return list(super().parse_args(ctx, rewritten))


def add_command(app: typer.Typer, name: str, func: Callable[..., Any], *,
                reads_data: bool = True) -> None:
    """Add ``func`` to ``app`` as ``name`` (with the reader options when ``reads_data``)."""
    app.command(name, cls=EmkitCommand)(reader_options(func) if reads_data else func)
