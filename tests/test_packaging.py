"""The project's release basics: one version everywhere, a licence that matches the metadata,
a changelog entry for the version, and a wheel that installs apart from the source tree and works.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import emkit

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_one_version_in_metadata_package_and_changelog() -> None:
    version = PYPROJECT["project"]["version"]
    assert emkit.__version__ == version
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (\S+)", changelog, flags=re.MULTILINE)
    assert version in headings, f"CHANGELOG.md has no '## {version}' heading"
    assert headings[0] == "Releasing" and headings[1] == "Unreleased"


def test_licence_file_matches_the_declared_licence() -> None:
    assert PYPROJECT["project"]["license"] == "BSD-3-Clause"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 3-Clause License")
    # the three clauses and the disclaimer of the BSD 3-clause text
    assert "Neither the name of the copyright holder" in text
    assert 'PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"' in text


SMOKE = r"""
import json, sys, tempfile, pathlib
import numpy as np
import emkit
from emkit.datasets import load_faithful
where = pathlib.Path(emkit.__file__).resolve()
X = np.asarray(load_faithful(), dtype=float)
gm = emkit.GaussianMixture(n_components=3, covariance_type="full", random_state=0).fit(X)
path = pathlib.Path(tempfile.mkdtemp()) / "faithful.emkit"
gm.save(path)
back = emkit.load(path)
print(json.dumps({"file": str(where), "version": emkit.__version__,
                  "same": bool(np.allclose(back.means_, gm.means_)),
                  "loglik": float(gm.score(X)),
                  "typed": (where.parent / "py.typed").is_file()}))
"""


@pytest.mark.slow
def test_wheel_builds_installs_apart_and_fits(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels),
         str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("emkit-*.whl")
    version = PYPROJECT["project"]["version"]
    assert wheel.name.startswith(f"emkit-{version}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for data in ("emkit/py.typed", "emkit/datasets/faithful.csv",
                 "emkit/datasets/spoken_digits.npz"):
        assert data in names, f"{data} missing from the wheel"
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)

    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
         str(wheel)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run([sys.executable, "-c", SMOKE], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    import json

    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(target), report["file"]
    assert report["version"] == version and report["same"] and report["typed"]
    # Old Faithful, three full-covariance components: mclust's EEE/VVV region of the log-likelihood
    assert -1130 < report["loglik"] * 272 < -1120

    cli = subprocess.run([str(target / "bin" / "emkit"), "--help"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=600)
    assert cli.returncode == 0 and "fit" in cli.stdout, cli.stderr[-2000:]
