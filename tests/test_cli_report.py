"""``emkit report``: the page of the fit the library makes, and its refusals."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import emkit
from emkit.cli import main


@pytest.fixture(scope="module")
def faithful_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "faithful.csv"
    emkit.datasets.load_faithful().to_csv(path, index=False)
    return path


def _page_data(path):
    html = path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="emkit-data">(.*?)</script>',
                      html, flags=re.S)
    assert match, "the page carries its data inline"
    return html, json.loads(match.group(1))


def test_report_is_the_library_fit_and_self_contained(capsys, faithful_csv, tmp_path):
    out = tmp_path / "page.html"
    assert main(["report", str(faithful_csv), "-k", "2", "-o", str(out)]) == 0
    stdout, err = capsys.readouterr()
    assert "Wrote" in stdout and err == ""
    html, data = _page_data(out)
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']https?:", html)
    model = emkit.GaussianMixture(2, random_state=0).fit(emkit.datasets.load_faithful())
    text = json.dumps(data)
    # the fitted means appear on the page (rounded as the page shows them)
    for value in np.asarray(model.means_).ravel():
        assert f"{value:.3f}"[:5] in text


def test_report_with_selection(capsys, faithful_csv, tmp_path):
    out = tmp_path / "select.html"
    assert main(["report", str(faithful_csv), "-k", "1..3", "--select", "-o", str(out)]) == 0
    capsys.readouterr()
    html = out.read_text(encoding="utf-8")
    assert "BIC" in html and "ICL" in html


@pytest.mark.parametrize(("args", "code", "words"), [
    (["-o", "{d}/missing/x.html"], 1, "does not exist"),
    (["-o", "{d}/x.txt"], 2, ".html"),
    (["-k", "1..3", "-o", "{d}/x.html"], 2, "--select"),
])
def test_report_refusals_are_one_line(capsys, faithful_csv, tmp_path, args, code, words):
    argv = ["report", str(faithful_csv), *[a.format(d=tmp_path) for a in args]]
    assert main(argv) == code
    _, err = capsys.readouterr()
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.glob("*.html"))
