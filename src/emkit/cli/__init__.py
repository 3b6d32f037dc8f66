"""The ``emkit`` command.

Each sub-command lives in its own module of this package with a
``register(app)`` function; :data:`COMMAND_MODULES` lists them in help order and
:data:`COMMANDS` says which module registers each command, so that running one
command imports only its own module (the help imports them all).

Exit codes: 0 success; 1 the data, a file or the fit failed (one line on stderr
says why); 2 a usage error (unknown option, bad value); 130 interrupted (Ctrl-C).
``--debug`` anywhere on the command line shows the full traceback instead.

The top layer: may import anything in emkit; nothing in emkit imports it.
"""

from __future__ import annotations

import importlib
import sys

import typer

__all__ = ["app", "main", "COMMAND_MODULES", "COMMANDS", "CLIError"]

COMMAND_MODULES: tuple[str, ...] = ("fit", "demo", "impute", "select", "segment", "hmm",
                                     "regress", "survival", "report")

#: Each command, as typed, -> the module of :data:`COMMAND_MODULES` that registers it,
#: in help order (tests check this against what each module's ``register`` adds).
COMMANDS: dict[str, str] = {
    "fit": "fit", "predict": "fit", "demo": "demo", "impute": "impute", "select": "select",
    "segment": "segment", "regress": "regress", "survival": "survival", "report": "report",
    "hmm": "hmm",
}

def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("emkit")
        except PackageNotFoundError:  # a source tree that is not installed
            number = "unknown"
        typer.echo(f"emkit {number}")
        raise typer.Exit(0)


def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                 help="Print emkit's version and exit."),
) -> None:
    """Expectation-Maximization from the command line: fit, trace and plot EM."""


def _new_app() -> typer.Typer:
    """The root app (its help, ``--version``), with no commands yet."""
    root = typer.Typer(
        name="emkit",
        help="Expectation-Maximization from the command line: fit, trace and plot EM.\n\n"
        "Exit codes: 0 success; 1 the data, a file or the fit failed (one line on stderr "
        "says why); 2 a usage error (unknown option, bad value); 130 interrupted by Ctrl-C "
        "(a fit then reports its best parameters so far). Add --debug to see a traceback.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.callback()(_root)
    return root


#: The root app with the commands :func:`main` has run so far (all after ``_register_commands()``).
app = _new_app()


def _interrupt_inside(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by Ctrl-C (a compiled function interrupted mid-call)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False


class CLIError(Exception):
    """An error to show the user as one line, with exit code 1."""


def _register_commands(args: list[str] | None = None) -> None:
    """Register the command that ``args`` runs on :data:`app`, or every command.

    Only the invoked command's module is imported; the commands stay in help order
    whichever were registered first.
    """
    done: set[str] = app.__dict__.setdefault("_emkit_registered", set())
    first = args[0] if args else None
    wanted = (COMMANDS[first],) if first in COMMANDS else COMMAND_MODULES
    for name in wanted:
        if name not in done:
            importlib.import_module(f"emkit.cli.{name}").register(app)
            done.add(name)
    order = list(COMMANDS)
    app.registered_commands.sort(
        key=lambda info: order.index(info.name) if info.name in order else len(order))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns (and exits with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    if args and args[0] in COMMANDS:
        if argv is None:  # the emkit program: its own process, so its own sys.modules
            from ._deferred import defer_imports

            defer_imports()
        _register_commands(args)
        target = app
    else:  # no command runs (the help, --version, a usage error): their summaries suffice
        from ._listing import add_placeholders

        target = add_placeholders(_new_app())
    if not args:  # bare `emkit`: the help, as `emkit --help` shows it
        args = ["--help"]
    try:
        result = target(args=args, prog_name="emkit", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == 130:  # Ctrl-C: typer returns 130; a fit returns it after its report
            print("emkit: interrupted", file=sys.stderr)
    except typer.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        print("emkit: interrupted", file=sys.stderr)
        code = 130
    except (CLIError, ValueError, OSError, ArithmeticError) as exc:
        if debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"emkit: error: {message}", file=sys.stderr)
        code = 1
    except Exception as exc:
        # Usage errors come from the click copy that typer ships; they carry
        # ``show()`` and ``exit_code`` whichever copy it is.
        if debug:
            raise
        if _interrupt_inside(exc):  # e.g. a SystemError from a compiled function
            print("emkit: interrupted", file=sys.stderr)
            code = 130
        elif hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "emkit"
            message = " ".join(exc.format_message().split())
            print(f"emkit: error: {message} (see '{where} --help')", file=sys.stderr)
            code = exc.exit_code
        else:
            message = " ".join(str(exc).split())
            print(f"emkit: error: {type(exc).__name__}: {message} (rerun with --debug "
                  "for the traceback)", file=sys.stderr)
            code = 1
    if argv is None:
        _before_exit()
        sys.exit(code)
    return code


def _before_exit() -> None:
    """Spare the process the interpreter's last full garbage collection.

    Once SciPy, pandas, scikit-learn and numba are loaded it walks millions of
    objects and took 0.24-0.47 s of a 2 s ``emkit fit`` (0.04-0.08 s after this):
    the young generations, where a command's own garbage is, are collected and the
    rest is frozen (``gc.freeze``), so the exit skips it. atexit handlers still run.
    """
    import gc

    gc.collect(1)
    gc.freeze()
