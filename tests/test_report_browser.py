"""The HTML report in a real headless browser (Debian's chromium through selenium).

The page loads with no console errors, moving the slider changes the figure, the
play button moves the step, and a screenshot is not blank. Without chromium,
chromedriver or selenium the tests skip, and the end of the run says so loudly
(``.ci/run`` installs them, so CI runs these for real).
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1100,1400")


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[dev]')"
    if CHROMIUM is None or DRIVER is None:
        return "chromium or chromedriver is not installed (apt-get install chromium " \
               "chromium-driver)"
    return None


class _LoudSkip:
    """Says at the end of the run that the browser tests did not run."""

    def __init__(self, reason: str):
        self.reason = reason

    def pytest_terminal_summary(self, terminalreporter) -> None:  # type: ignore[no-untyped-def]
        terminalreporter.write_sep("!", "HTML report browser tests SKIPPED", red=True,
                                   bold=True)
        terminalreporter.write_line(f"  not run: {self.reason}; the report page was not "
                                    "checked in a browser")


@pytest.fixture(scope="module")
def browser(request):
    reason = _missing()
    if reason is not None:
        config = request.config
        if not config.pluginmanager.has_plugin("emkit-report-loud-skip"):
            config.pluginmanager.register(_LoudSkip(reason), "emkit-report-loud-skip")
        pytest.skip(f"BROWSER TEST SKIPPED: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="emkit-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _report(tmp_path: Path, kind: str) -> Path:
    import emkit
    from emkit.engine import observe
    from emkit.report import write_html
    from emkit.trace import StepRecorder

    recorder = StepRecorder()
    if kind == "mixture":
        X = emkit.datasets.load_faithful()
        with observe(recorder):
            model = emkit.GaussianMixture(3, tol=1e-6, max_iter=300, random_state=0).fit(X)
        return write_html(model, X, recorder.best_run(), tmp_path / "mixture.html")
    rng = np.random.default_rng(0)
    states = np.repeat([0, 1, 0, 1], [100, 80, 120, 60])
    Y = rng.normal(np.where(states == 0, 0.0, 3.0), 1.0)[:, None]
    with observe(recorder):
        model = emkit.GaussianHMM(2, n_iter=50, random_state=0).fit(Y)
    return write_html(model, Y, recorder.best_run(), tmp_path / "hmm.html")


def _severe(driver) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{e['level']}: {e['message']}" for e in driver.get_log("browser")
            if e["level"] in ("SEVERE", "WARNING")]


def _figure(driver) -> str:  # type: ignore[no-untyped-def]
    return driver.find_element("id", "figure").get_attribute("innerHTML")


@pytest.mark.parametrize("kind", ["mixture", "hmm"])
def test_page_loads_slider_changes_figure_screenshot_not_blank(browser, tmp_path, kind):
    from PIL import Image
    from selenium.webdriver.common.keys import Keys

    page = _report(tmp_path, kind)
    browser.get(page.resolve().as_uri())
    assert browser.title.startswith("emkit report")
    assert _severe(browser) == []
    slider = browser.find_element("id", "step")
    last = int(slider.get_attribute("max"))
    assert last >= 3
    assert browser.find_element("id", "figure").get_attribute("data-step") == str(last)
    at_end = _figure(browser)
    label_end = browser.find_element("id", "step-label").text
    marker_end = browser.find_element("id", "current-step").get_attribute("cx")
    slider.send_keys(Keys.HOME)  # the keyboard moves a range input as a user would
    assert browser.find_element("id", "figure").get_attribute("data-step") == "0"
    assert _figure(browser) != at_end
    assert browser.find_element("id", "step-label").text != label_end
    assert browser.find_element("id", "current-step").get_attribute("cx") != marker_end
    slider.send_keys(Keys.ARROW_RIGHT)
    assert browser.find_element("id", "figure").get_attribute("data-step") == "1"
    browser.find_element("id", "play").click()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and \
            browser.find_element("id", "figure").get_attribute("data-step") in ("0", "1"):
        time.sleep(0.05)
    assert int(browser.find_element("id", "figure").get_attribute("data-step")) > 1
    assert _severe(browser) == []
    shot = Image.open(io.BytesIO(browser.find_element("id", "figure").screenshot_as_png))
    pixels = np.asarray(shot.convert("L"), dtype=float)
    assert pixels.std() > 5.0  # not one flat colour
    dark = np.mean(pixels < 200)
    assert 0.005 < dark < 0.9
