"""The documentation site (docs/ and the API reference from the docstrings) builds without a
warning: a broken link, a page missing from the navigation, or a docstring whose parameters do
not match the signature fails the strict build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mkdocs_strict_build_has_no_warning(tmp_path: Path) -> None:
    pytest.importorskip("mkdocstrings")
    site = tmp_path / "site"
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert run.returncode == 0 and not warnings, "\n".join(warnings) or run.stderr[-3000:]
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("estimators.gaussian_mixture.GaussianMixture", "estimators.hsmm.HSMM",
                 "estimators.hmm_input_driven.InputDrivenHMM", "estimators.selection.select_model",
                 "estimators.dawid_skene.DawidSkene", "engine.loop.em",
                 "estimators.gaussian_mixture.GaussianMixture.fit"):
        assert f'id="emkit.{name}"' in api, name
    # the numpy-style sections become tables, and the shapes in them survive
    assert "n_samples" in api and "Parameters" in api
    pages = {p.parent.name for p in site.glob("*/index.html")}
    docs = {p.stem for p in (ROOT / "docs").glob("*.md") if p.stem != "index"}
    assert docs <= pages, sorted(docs - pages)
