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


def _table_errors(html, caption_start):
    """The ± values of the table whose caption starts with ``caption_start``, by row."""
    match = re.search(r"<table[^>]*>\s*<caption>" + re.escape(caption_start)
                      + r".*?</table>", html, flags=re.S)
    assert match, caption_start
    rows = re.findall(r"<tr>(.*?)</tr>", match.group(0), flags=re.S)
    out = []
    for row in rows:
        errors = [float(v) for v in re.findall(r"± ([-+0-9.e]+)", row)]
        if errors:
            out.append(errors)
    return np.array(out)


@pytest.mark.parametrize("kind", ["nonparametric", "weighted"])
def test_report_bootstrap_standard_errors(capsys, faithful_csv, tmp_path, kind):
    out = tmp_path / "boot.html"
    argv = ["report", str(faithful_csv), "-k", "2", "-o", str(out), "--bootstrap", "30",
            "--bootstrap-kind", kind]
    assert main(argv) == 0
    stdout, _ = capsys.readouterr()
    assert "30 bootstrap refits" in stdout
    html = out.read_text(encoding="utf-8")
    assert "± bootstrap standard error" in html
    errors = _table_errors(html, "Weights and means")  # rows: weight, then the means
    X = emkit.datasets.load_faithful().to_numpy(float)
    model = emkit.GaussianMixture(2, random_state=0).fit(X)
    result = model.bootstrap(X, 30, random_state=0, kind=kind)
    # the page shows the library's standard errors (2 significant digits)
    want = np.column_stack([result.weights_se, result.means_se])
    np.testing.assert_allclose(errors, want, rtol=0.051)
    # and they are what a closed form gives for two well-separated components:
    # sd of a weight sqrt(w (1 - w) / n), of a mean sqrt(var_k / (n w_k)), within
    # the spread of a 30-replicate estimate of a standard deviation (~13%)
    n = len(X)
    w = model.weights_
    np.testing.assert_allclose(errors[:, 0], np.sqrt(w * (1 - w) / n), rtol=0.45)
    var = np.diagonal(model.covariances_, axis1=1, axis2=2)
    np.testing.assert_allclose(errors[:, 1:], np.sqrt(var / (n * w[:, None])), rtol=0.45)
    # the covariance tables carry errors too
    assert _table_errors(html, "Covariance of component 1").shape == (2, 2)


@pytest.mark.parametrize(("args", "words"), [
    (["--bootstrap", "1"], "--bootstrap"),
    (["--bootstrap", "5", "--bootstrap-kind", "parametric"], "--bootstrap-kind"),
])
def test_report_bootstrap_refusals(capsys, faithful_csv, tmp_path, args, words):
    argv = ["report", str(faithful_csv), "-k", "2", "-o", str(tmp_path / "x.html"), *args]
    assert main(argv) == 2
    _, err = capsys.readouterr()
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.glob("*.html"))


def test_report_bootstrap_of_a_selected_model(capsys, faithful_csv, tmp_path):
    # --select picks an MclustMixture; its bootstrap fills the same tables
    out = tmp_path / "select_boot.html"
    argv = ["report", str(faithful_csv), "-k", "2..3", "--select", "-o", str(out),
            "--bootstrap", "5"]
    assert main(argv) == 0
    capsys.readouterr()
    html = out.read_text(encoding="utf-8")
    errors = _table_errors(html, "Weights and means")
    assert errors.shape[1] == 3 and np.all(errors > 0)
