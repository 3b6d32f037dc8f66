"""Every code block in README.md and docs/*.md runs, so the docs cannot rot.

* ```python blocks of one file run in order in one namespace, in a fresh
  temporary working directory (a block may use what an earlier one defined or
  wrote). ```python no-run marks a block that must not run (avoid it).
* ```console blocks: each line ``$ emkit ...`` runs the command in-process
  (same working directory) and must exit with 0.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """(kind, code, line number) for each runnable block of ``path``, in order."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        info = match.group(1).strip().split()
        line = text.count("\n", 0, match.start()) + 1
        if info[:1] == ["python"] and "no-run" not in info:
            found.append(("python", match.group(2), line))
        elif info[:1] == ["console"]:
            found.append(("console", match.group(2), line))
    return found


def test_docs_exist_and_have_code():
    names = {p.name for p in FILES}
    for name in ("README.md", "index.md", "engine.md", "cli.md", "gaussian_mixture.md",
                 "persistence.md"):
        assert name in names
    assert blocks(ROOT / "README.md")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index("make run") < readme.index("```python")
    assert "make test" in readme.split("```python")[0]


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path):
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_extraction_finds_blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("x\n```python\na = 1\n```\n```python no-run\nboom()\n```\n"
                    "```console\n$ emkit --help\n```\n```sh\nrm -rf /\n```\n")
    assert [(k, c) for k, c, _ in blocks(page)] == [("python", "a = 1\n"),
                                                   ("console", "$ emkit --help\n")]


@pytest.mark.parametrize("path", [p for p in FILES if blocks(p)],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_code_blocks_run(path, tmp_path, monkeypatch, capsys):
    import matplotlib.pyplot as plt

    from emkit.cli import main

    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    try:
        for kind, code, line in blocks(path):
            where = f"{path.name}:{line}"
            if kind == "python":
                exec(compile(code, where, "exec"), namespace)
                continue
            for command in code.splitlines():
                if command.startswith("$ emkit "):
                    argv = shlex.split(command[len("$ emkit "):])
                    assert main(argv) == 0, f"{where}: `{command[2:]}` failed"
    finally:
        plt.close("all")
    capsys.readouterr()
