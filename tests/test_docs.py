"""Every code block in README.md and docs/*.md runs, so the docs cannot rot.

* ```python blocks of one file run in order in one namespace, in a fresh
  temporary working directory (a block may use what an earlier one defined or
  wrote). ```python no-run marks a block that must not run (avoid it).
* ```console blocks: each line ``$ emkit ...`` runs the command in-process
  (same working directory) and must exit with 0.
* a ```text block right after a python or console block (nothing but blank lines
  between) is that block's output: what the block prints must match it.
* a comment on a top-level ``print(...)`` line that starts like a printed value (a
  number, a bracket, a quote, True/False/None/nan) is what that line prints; text
  after a ``": "`` outside brackets is an explanation. A comment starting with a word
  ("about ...", "close to ...") is prose and not compared.

"Match" compares tokens, ignoring whitespace (numpy pads arrays by their widths):
words and symbols must be equal, integers equal, and a number with a decimal point
or an exponent equal to within one unit of the last digit shown (the printed
precision; one unit absorbs a rounding that falls the other way on another platform).
"""

from __future__ import annotations

import ast
import contextlib
import io
import math
import re
import shlex
import tokenize
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """(kind, code, line number) for each runnable block of ``path``, in order.

    ``kind`` is "python", "console" or "output" (a ```text block right after one of
    the other two).
    """
    text = path.read_text(encoding="utf-8")
    found: list[tuple[str, str, int]] = []
    previous_end, previous_ran = 0, False
    for match in FENCE.finditer(text):
        info = match.group(1).strip().split()
        line = text.count("\n", 0, match.start()) + 1
        follows = previous_ran and not text[previous_end:match.start()].strip()
        previous_end, previous_ran = match.end(), False
        if info[:1] == ["python"] and "no-run" not in info:
            found.append(("python", match.group(2), line))
            previous_ran = True
        elif info[:1] == ["console"]:
            found.append(("console", match.group(2), line))
            previous_ran = True
        elif info[:1] == ["text"] and follows:
            found.append(("output", match.group(2), line))
    return found


NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
TOKEN = re.compile(rf"(?P<num>{NUMBER})|(?P<word>[^\W\d]\w*)|(?P<sym>\S)")
VALUE_START = re.compile(rf"(?:{NUMBER}|[\[({{'\"]|(?:True|False|None|nan)\b)")


def _tokens(text: str) -> list[tuple[str, str]]:
    return [(m.lastgroup or "", m.group()) for m in TOKEN.finditer(text)]


def _last_digit_unit(number: str) -> float:
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def mismatch(shown: str, printed: str) -> str | None:
    """Why ``printed`` does not match ``shown`` (see the module docstring), or None."""
    want, got = _tokens(shown), _tokens(printed)
    if len(want) != len(got):
        return f"{len(got)} tokens printed, {len(want)} shown"
    for (kind_w, w), (kind_g, g) in zip(want, got, strict=True):
        if kind_w != kind_g:
            return f"{g!r} printed where {w!r} is shown"
        if kind_w != "num":
            if w != g:
                return f"{g!r} printed where {w!r} is shown"
            continue
        if not any(c in w + g for c in ".eE"):
            if int(w) != int(g):
                return f"{g} printed where {w} is shown"
            continue
        unit = max(_last_digit_unit(w), _last_digit_unit(g))
        if not math.isclose(float(w), float(g), rel_tol=0, abs_tol=unit * (1 + 1e-9)):
            return f"{g} printed where {w} is shown (beyond one unit of the last digit)"
    return None


def value_comments(code: str) -> dict[int, str]:
    """{line in the block: shown value} of the value comments on ``print(...)`` lines."""
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string[1:].strip()
    values = {}
    for node in ast.parse(code).body:
        is_print = (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Name) and node.value.func.id == "print")
        comment = comments.get(node.lineno) if is_print else None
        if comment and VALUE_START.match(comment):
            depth, end = 0, len(comment)
            for i, c in enumerate(comment):
                depth += (c in "[({") - (c in "])}")
                if depth == 0 and comment.startswith(": ", i):
                    end = i
                    break
            values[node.lineno] = comment[:end].strip()
    return values


def run_page(path: Path) -> list[str]:
    """Run every block of ``path`` in the current directory; the output mismatches."""
    from emkit.cli import main

    problems: list[str] = []
    namespace: dict = {"__name__": "__docs__"}
    printed = ""
    for kind, code, line in blocks(path):
        where = f"{path.name}:{line}"
        if kind == "output":
            why = mismatch(code, printed)
            if why:
                problems.append(f"{where}: the block above prints\n{printed}\n({why})")
            continue
        out = io.StringIO()
        if kind == "python":
            shown = value_comments(code)
            for node in ast.parse(code).body:
                module = ast.Module(body=[node], type_ignores=[])
                one = io.StringIO()
                with contextlib.redirect_stdout(one):
                    exec(compile(module, where, "exec"), namespace)
                out.write(one.getvalue())
                if node.lineno in shown:
                    why = mismatch(shown[node.lineno], one.getvalue())
                    if why:
                        problems.append(f"{path.name}:{line + node.lineno}: prints "
                                        f"{one.getvalue().strip()!r}, the comment shows "
                                        f"{shown[node.lineno]!r} ({why})")
        else:
            for command in code.splitlines():
                if command.startswith("$ emkit "):
                    argv = shlex.split(command[len("$ emkit "):])
                    with contextlib.redirect_stdout(out):
                        status = main(argv)
                    assert status == 0, f"{where}: `{command[2:]}` failed"
        printed = out.getvalue()
    return problems


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
                    "```console\n$ emkit --help\n```\n```sh\nrm -rf /\n```\n"
                    "```python\nprint(a)\n```\n\n```text\n1\n```\nprose\n```text\n2\n```\n")
    assert [(k, c) for k, c, _ in blocks(page)] == [
        ("python", "a = 1\n"), ("console", "$ emkit --help\n"), ("python", "print(a)\n"),
        ("output", "1\n")]


def test_the_comparer_catches_wrong_output_and_accepts_the_printed_precision(tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    code = ("import numpy as np\nx = np.array([[2.0374, 54.4843], [4.29, 79.974]])\n"
            "print(x.round(3))\nprint(round(1 / 3, 4), 9, True)  # 0.3333 9 True: a note\n"
            "print('about')  # about 3\n")
    right = "[[ 2.037 54.484]\n [ 4.29  79.974]]\n0.3333 9 True\nabout\n"
    page.write_text(f"```python\n{code}```\n\n```text\n{right}```\n")
    assert run_page(page) == []
    # one unit of the last digit either way is the printed precision; two is not
    assert mismatch("0.3334", "0.3333") is None and mismatch("0.3335", "0.3333")
    assert mismatch("1.1890e+01", "1.1891e+01") is None and mismatch("1.19e+01", "1.17e+01")
    assert mismatch("[5569 657]", "[5569  657]") is None and mismatch("5569 657", "5570 657")
    assert mismatch("Means: [0.26]", "Means [0.26]")  # a missing symbol
    assert mismatch("Weights", "weights")
    for wrong in (right.replace("79.974", "79.99"), right.replace("54.484", "54.486"),
                  right.replace("True", "False"), right + "extra\n"):
        page.write_text(f"```python\n{code}```\n\n```text\n{wrong}```\n")
        problems = run_page(page)
        assert len(problems) == 1 and "page.md:9: the block above prints" in problems[0]
    page.write_text(f"```python\n{code.replace('# 0.3333', '# 0.3336')}```\n")
    problems = run_page(page)
    assert len(problems) == 1 and "page.md:5: prints '0.3333 9 True'" in problems[0]
    assert value_comments("print(1)  # about 1\nprint(2)  # [2]: two\nx = 3  # 3\n") == {
        2: "[2]"}


@pytest.mark.parametrize("path", [p for p in FILES if blocks(p)],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_code_blocks_run_and_print_what_the_page_shows(path, tmp_path, monkeypatch, capsys):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    try:
        problems = run_page(path)
    finally:
        plt.close("all")
    capsys.readouterr()
    assert not problems, "\n\n".join(problems)
