"""The HTML leaderboard in a real headless browser: it renders the ranking, sorts when a
column heading is clicked, runs no script a model name smuggled in, and can be captured.

Uses Debian's chromium and chromium-driver (installed by .ci/run) through selenium with the
driver's path given explicitly, so nothing is downloaded. Skipped with the reason when they
are missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from tests.test_leaderboard import XSS, pairwise_record

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

IMG = '<img src=x onerror="document.title=\'pwned\'">'


def entries(driver) -> list[str]:
    return [cell.get_attribute("data-value") for cell in driver.find_elements(By.CSS_SELECTOR, "#table-0 td.entry")]


def click_heading(driver, name: str) -> None:
    for button in driver.find_elements(By.CSS_SELECTOR, "#table-0 thead th button"):
        if button.text == name:
            button.click()
            return
    raise AssertionError(f"no column heading {name!r}")


def test_page_ranks_sorts_and_renders_in_chromium(browser, tmp_path: Path):
    records = tmp_path / "records"
    pairwise_record(records / "strong", "strong", [i % 10 != 0 for i in range(100)])
    pairwise_record(records / "xss", XSS, [i < 70 for i in range(100)])
    pairwise_record(records / "img", IMG, [i < 55 for i in range(100)])
    pairwise_record(records / "random", "baseline:random", [i % 2 == 0 for i in range(100)], kind="baseline")
    page = tmp_path / "leaderboard.html"
    result = CliRunner().invoke(app, ["leaderboard", str(records), "--out", str(page), "--resamples", "200"])
    assert result.exit_code == 0, result.output

    browser.get(page.as_uri())
    ranking = ["strong", XSS, IMG, "baseline:random"]
    assert entries(browser) == ranking
    text = browser.find_element(By.TAG_NAME, "body").text
    positions = [text.index(label) for label in ("strong", XSS, "baseline:random")]
    assert positions == sorted(positions)  # names shown literally, in rank order
    assert browser.title.startswith("rmbench leaderboard")  # the <img onerror> never ran
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - the <script> never ran either

    click_heading(browser, "Entry")
    assert entries(browser) == [IMG, XSS, "baseline:random", "strong"]  # A-Z
    click_heading(browser, "Score")  # a figure sorts best first on the first click
    assert entries(browser) == ranking
    click_heading(browser, "Score")
    assert entries(browser) == ranking[::-1]
    heading = browser.find_element(By.XPATH, "//table[@id='table-0']//th[.//button[text()='Score']]")
    assert heading.get_attribute("aria-sort") == "ascending"

    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
