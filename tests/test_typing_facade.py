"""``import emkit`` is lazy at run time, yet type checkers and IDEs see the real classes.

The facade's ``TYPE_CHECKING`` block must name exactly the lazily loaded names, each from the
module that defines it, and mypy must resolve ``emkit.GaussianMixture`` to the class, not ``Any``.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

import emkit

INIT = Path(emkit.__file__)


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    (block,) = [node for node in tree.body if isinstance(node, ast.If)
                and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"]
    seen: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names:
            assert alias.asname == alias.name, f"{alias.name} needs 'as {alias.name}' to re-export"
            seen[alias.name] = f"emkit.{node.module}" if node.module else f"emkit.{alias.name}"
    return seen


def test_type_checking_block_names_every_lazy_name_from_its_module() -> None:
    seen = _type_checking_imports()
    expected = dict(emkit._LAZY)
    expected.update({name: f"emkit.{name}" for name in emkit._SUBMODULES if name != "engine"})
    assert seen == expected


@pytest.mark.slow
def test_mypy_sees_the_estimator_classes(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent("""
        import emkit
        from emkit import GaussianMixture, HMM
        reveal_type(GaussianMixture)
        reveal_type(emkit.select_model)
        reveal_type(HMM(emkit.distributions.Poisson(), 2).fit)
        reveal_type(emkit.datasets)
        GaussianMixture(n_componentz=3)
    """), encoding="utf-8")
    out, _err, status = api.run([str(probe), "--cache-dir", str(tmp_path / "cache"),
                                "--follow-imports", "silent", "--no-error-summary",
                                "--python-version", "3.10"])
    lines = out.splitlines()
    assert lines[0].endswith('-> emkit.estimators.gaussian_mixture.GaussianMixture"'), out
    assert "n_components: int" in lines[0], out
    assert lines[1].endswith('-> emkit.estimators.selection.SelectionResult"'), out
    assert lines[2].endswith('-> emkit.estimators.hmm_base.BaseHMM"'), out
    assert "types.ModuleType" in lines[3] or "emkit.datasets" in lines[3], out
    # a misspelt keyword is caught, which only a real signature allows
    assert any('Unexpected keyword argument "n_componentz"' in line for line in lines), out
    assert status == 1
