"""Speed figures come from one place, benchmarks/RESULTS.md, so the docs cannot contradict it.

* Every row of the README's "How fast" table links to the RESULTS.md section it quotes,
  and every ratio in the row (``0.06 ×``) is a figure of that section, rounded to the
  digits the README shows.
* A ratio against a peer quoted in docs/*.md (``0.057× scikit-learn``) is a figure of
  RESULTS.md, rounded the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
RATIO = re.compile(r"(\d+\.\d+)\s?×")
NUMBER = re.compile(r"(?<![\d.])\d+\.\d+")
PEERS = ("scikit-learn", "hmmlearn", "flexmix", "mclust", "Mclust", "crowd-kit", "StepMix",
         "R's", "IterativeImputer", "gaussian-hsmm")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def sections(text: str) -> dict[str, str]:
    """Anchor of every ``##``/``###`` heading -> the text up to the next heading of its level."""
    found: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(#{2,3}) (.+)$", line)
        if not match:
            continue
        level = len(match.group(1))
        end = next((j for j in range(i + 1, len(lines))
                    if re.match(rf"^#{{2,{level}}} ", lines[j])), len(lines))
        found[slug(match.group(2))] = "\n".join(lines[i:end])
    return found


def shown_by(value: str, text: str) -> bool:
    """Whether some number of ``text`` rounds to ``value`` at ``value``'s decimals."""
    decimals = len(value.split(".")[1])
    target = float(value)
    return any(abs(round(float(n), decimals) - target) < 10 ** -(decimals + 3)
               for n in NUMBER.findall(text))


def how_fast_rows() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How fast", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines()
            if line.startswith("| ") and not line.startswith(("| task", "| ---"))]


def test_the_readme_has_a_speed_table() -> None:
    assert len(how_fast_rows()) >= 8


@pytest.mark.parametrize("row", how_fast_rows(), ids=lambda row: row[2:50])
def test_each_readme_speed_figure_is_in_the_section_it_links(row: str) -> None:
    links = re.findall(r"\(benchmarks/RESULTS\.md#([\w\-]+)\)", row)
    assert links, f"no link to benchmarks/RESULTS.md in: {row}"
    known = sections(RESULTS)
    quoted = " ".join(known.get(anchor, "") for anchor in links)
    missing = [a for a in links if a not in known]
    assert not missing, f"RESULTS.md has no section {missing}"
    ratios = RATIO.findall(row)
    assert ratios, f"no ratio in: {row}"
    for value in ratios:
        assert shown_by(value, quoted), f"{value} is not a figure of {links}"


def docs_ratios() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((ROOT / "docs").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            for match in RATIO.finditer(line):
                after = line[match.end():match.end() + 40] + " " + (
                    text.splitlines()[number] if number < len(text.splitlines()) else "")
                if any(peer in after[:60] for peer in PEERS):
                    found.append((path.name, number, match.group(1)))
    return found


def test_docs_quote_peer_ratios() -> None:
    assert len(docs_ratios()) >= 2  # the scan sees the pages' figures


@pytest.mark.parametrize(("page", "line", "value"), docs_ratios(),
                         ids=lambda v: str(v))
def test_each_ratio_quoted_in_the_docs_is_a_figure_of_results(page, line, value) -> None:
    assert shown_by(value, RESULTS), f"docs/{page}:{line}: {value}× is not in RESULTS.md"


def test_the_comparison_rounds_as_shown() -> None:
    assert shown_by("0.06", "ratio 0.059 here")
    assert not shown_by("0.06", "ratio 0.066 here")
    assert shown_by("0.025", "| 0.025 |") and not shown_by("0.03", "10.025 and 0.0249")
    assert (slug("Gaussian mixtures: emkit vs scikit-learn")
            == "gaussian-mixtures-emkit-vs-scikit-learn")
