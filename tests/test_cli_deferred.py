"""emkit.cli._deferred: scipy.stats loads on first use in the emkit process, and only there.

Each check that changes ``sys.modules`` runs in a fresh interpreter, so this test
process keeps its own modules.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from emkit import cli
from emkit.cli._deferred import DeferredModule, defer_imports

FAITHFUL = Path(cli.__file__).parent.parent / "datasets" / "faithful.csv"


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_real_module_answers_the_first_use_and_takes_the_stand_ins_place():
    out = _run("""
        import sys
        from emkit.cli._deferred import defer_imports
        print(defer_imports())
        import scipy.stats
        print(type(sys.modules["scipy.stats"]).__name__)
        from scipy.stats import norm
        import scipy
        print(round(norm.cdf(1.0), 6), type(scipy.stats).__name__,
              type(sys.modules["scipy.stats"]).__name__, scipy.stats.norm is norm)
    """)
    assert out.split("\n")[:3] == ["['scipy.stats']", "DeferredModule",
                                   "0.841345 module module True"]


def test_importing_a_submodule_loads_the_package_first():
    out = _run("""
        import sys
        from emkit.cli._deferred import defer_imports
        defer_imports()
        import scipy.stats.contingency
        import scipy.stats
        print(type(sys.modules["scipy.stats"]).__name__, hasattr(scipy.stats, "chi2"))
    """)
    assert out.strip() == "module True"


def test_emkit_fit_never_loads_scipy_stats(tmp_path):
    saved = tmp_path / "model.json"
    out = _run(f"""
        import atexit, sys
        atexit.register(lambda: print("stats:", type(sys.modules["scipy.stats"]).__name__))
        sys.argv = ["emkit", "fit", {str(FAITHFUL)!r}, "-k", "3", "--save", {str(saved)!r}]
        from emkit.cli import main
        main()
    """)
    assert saved.exists()
    assert out.strip().splitlines()[-1] == "stats: DeferredModule"


def test_a_module_already_loaded_is_left_alone():
    import scipy.stats

    assert defer_imports(("scipy.stats",)) == []
    assert sys.modules["scipy.stats"] is scipy.stats


def test_a_module_that_does_not_exist_is_skipped():
    assert defer_imports(("emkit.no_such_module_here",)) == []
    assert "emkit.no_such_module_here" not in sys.modules


def test_main_called_as_a_function_changes_no_modules():
    cli.main(["--version"])
    assert not any(isinstance(m, DeferredModule) for m in list(sys.modules.values()))
