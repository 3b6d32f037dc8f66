"""Start-up: what ``import emkit`` and the ``emkit`` command import, checked in fresh interpreters.

Each check runs a new Python process and reads its ``sys.modules``, so a heavy
module (scikit-learn, pandas, SciPy, numba, ...) that creeps back into a start-up
path fails here. No timings are asserted.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import typer

from emkit.cli import COMMAND_MODULES, COMMANDS

HEAVY = ("sklearn", "pandas", "scipy", "numba", "matplotlib", "dask", "pydantic", "typer",
         "rich", "PIL")

_PROBE = """
import io, json, sys
from contextlib import redirect_stdout
run = {run!r}
if run is None:
    import importlib
    for name in {imports!r}:
        importlib.import_module(name)
else:
    from emkit.cli import main
    with redirect_stdout(io.StringIO()):
        for args in run:
            main(args)
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}
                        or m.startswith('emkit.cli.'))))
"""


def loaded_after(*, imports: tuple[str, ...] = (), run: list[list[str]] | None = None) -> set[str]:
    """The modules of interest in ``sys.modules`` of a fresh interpreter after the given work."""
    code = _PROBE.format(run=run, imports=imports, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules if not m.startswith("emkit.")}


def test_import_emkit_loads_nothing_heavy():
    assert roots(loaded_after(imports=("emkit",))) == set()


def test_the_e_step_side_never_imports_scikit_learn_or_pandas():
    modules = ("emkit.engine", "emkit.models.mixture.gaussian", "emkit.gaussian.kernels")
    assert not roots(loaded_after(imports=modules)) & {"sklearn", "pandas", "typer", "rich"}


def test_help_loads_no_fitting_library_and_no_command_module():
    loaded = loaded_after(run=[["--help"]])
    assert not roots(loaded) & {"sklearn", "pandas", "scipy", "numba", "matplotlib", "dask",
                                "pydantic", "PIL"}
    assert {m for m in loaded if m.startswith("emkit.cli.")} == {"emkit.cli._listing"}


def test_version_loads_no_command_module():
    loaded = loaded_after(run=[["--version"]])
    assert {m for m in loaded if m.startswith("emkit.cli.")} == {"emkit.cli._listing"}
    assert not roots(loaded) & {"sklearn", "pandas", "scipy", "numba", "rich", "pydantic"}


def test_a_command_imports_only_its_own_module():
    loaded = loaded_after(run=[["predict", "--help"]])
    commands = {m.removeprefix("emkit.cli.") for m in loaded} & set(COMMAND_MODULES)
    assert commands == {"fit"}
    assert not roots(loaded) & {"sklearn", "pandas", "scipy", "numba", "matplotlib", "dask"}


def test_commands_table_says_which_module_registers_each_command():
    registered: dict[str, str] = {}
    for module in COMMAND_MODULES:
        one = typer.Typer()
        importlib.import_module(f"emkit.cli.{module}").register(one)
        names = [c.name for c in one.registered_commands] + [g.name for g in one.registered_groups]
        assert names, module
        registered.update({str(name): module for name in names})
    assert registered == COMMANDS
    assert set(COMMANDS.values()) == set(COMMAND_MODULES)


_HELPS = """
import contextlib, io, sys
from emkit.cli import _register_commands, app, main

def shown(call):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = call()
    return [code, out.getvalue(), err.getvalue()]

def real(args):
    try:
        app(args=args, prog_name="emkit", standalone_mode=False)
    except Exception as exc:
        return type(exc).__name__ + ": " + exc.format_message()
    return 0

runs = {runs!r}
quick = [shown(lambda: main(list(args))) for args in runs]
for args in {first!r}:
    shown(lambda: main(list(args)))
_register_commands()
full = [shown(lambda: real(list(args))) for args in runs]
print(json.dumps([quick, full]))
"""


def helps(first: list[list[str]], columns: int) -> tuple[list, list]:
    """The help of the placeholders and of the real commands, in one fresh interpreter."""
    runs = [["--help"], [], ["--version"], ["fitt"]]
    code = "import json\n" + _HELPS.format(runs=runs, first=first)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "COLUMNS": str(columns)}).stdout
    quick, full = json.loads(out.splitlines()[-1])
    return quick, full


def test_help_without_the_commands_equals_the_help_of_the_real_commands():
    for columns, first in ((80, []), (52, [["hmm", "--help"], ["select", "--help"]])):
        quick, full = helps(first, columns)
        assert quick[0][1] == full[0][1] == quick[1][1], (  # --help, and bare emkit
            "emkit.cli._listing.SUMMARIES must hold the first paragraph of each command's help")
        assert "Usage: emkit [OPTIONS] COMMAND" in quick[0][1]
        assert quick[2][1] == full[2][1] and quick[2][1].startswith("emkit ")  # --version
        assert "No such command 'fitt'. Did you mean 'fit'?" in quick[3][2]
        assert "No such command 'fitt'. Did you mean 'fit'?" in full[3][0]


def test_summaries_are_the_commands_in_help_order():
    from emkit.cli._listing import GROUPS, SUMMARIES

    assert list(SUMMARIES) == list(COMMANDS)
    hmm = importlib.import_module("emkit.cli.hmm")
    one = typer.Typer()
    hmm.register(one)
    assert GROUPS == {g.name for g in one.registered_groups}


def test_the_command_line_process_skips_the_last_full_garbage_collection():
    # main() as the console script runs it: the objects left are frozen before the exit
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('FROZEN', gc.get_freeze_count() > 0))\n"
            "sys.argv = ['emkit', '--version']\n"
            "from emkit.cli import main\nmain()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout.startswith("emkit ") and done.stdout.rstrip().endswith("FROZEN True")
