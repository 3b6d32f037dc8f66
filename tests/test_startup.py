"""Start-up: what ``import emkit`` and the ``emkit`` command import, checked in fresh interpreters.

Each check runs a new Python process and reads its ``sys.modules``, so a heavy
module (scikit-learn, pandas, SciPy, numba, ...) that creeps back into a start-up
path fails here. No timings are asserted.
"""

from __future__ import annotations

import importlib
import json
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


def test_help_loads_no_fitting_library():
    loaded = loaded_after(run=[["--help"]])
    assert not roots(loaded) & {"sklearn", "pandas", "scipy", "numba", "matplotlib", "dask",
                                "pydantic", "PIL"}


def test_version_loads_no_command_module():
    loaded = loaded_after(run=[["--version"]])
    assert not {m for m in loaded if m.startswith("emkit.cli.")}
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


def test_help_lists_commands_in_the_same_order_whichever_ran_first():
    # each in a fresh interpreter: the help alone, and after two single commands
    code = ("import sys\nfrom emkit.cli import main\n"
            "for args in {runs!r}:\n    main(args)\n")
    outputs = []
    for runs in ([["--help"]], [["hmm", "--help"], ["select", "--help"], ["--help"]]):
        out = subprocess.run([sys.executable, "-c", code.format(runs=runs)],
                             capture_output=True, text=True, check=True).stdout
        outputs.append(out[out.rindex("Usage: emkit [OPTIONS]"):])
    assert outputs[0] == outputs[1]
    listed = [line.split()[1] for line in outputs[0].splitlines()
              if line.startswith("│ ") and line.split()[1] in COMMANDS]
    assert listed == list(COMMANDS)
