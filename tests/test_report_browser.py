"""The report page in a real headless browser: its figures render with a size, and nothing a
subset name, an example id or a model name smuggled in runs or becomes an element.

Debian's chromium and chromium-driver through selenium, as tests/test_leaderboard_browser.py;
skipped with the reason when they are missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.data.schema import PreferenceExample
from rmbench.evals.analysis import attach_lengths
from rmbench.evals.suites import Suite
from tests.test_leaderboard import PROMPT, XSS, write_record
from tests.test_leaderboard_browser import IMG

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


def hostile_record(folder: Path) -> Path:
    """An RM-Bench-shaped subset named <script>, ids carrying <img onerror>, a model named <img>."""
    styles = {"styles": ["concise", "detailed_plain", "detailed_markdown"]}
    examples = [PreferenceExample(f"{IMG}{i}", XSS, PROMPT, ["a", "bb", "ccc"], ["x", "yyyy", "z"], dict(styles))
                for i in range(12)]
    chosen = [[3.0 - (i % 3), 2.0, 1.0 + i / 4] for i in range(12)]
    rejected = [[0.5, 2.5 - (i % 2), 1.5] for i in range(12)]
    path = write_record(folder, IMG, examples, chosen, rejected, Suite(name="custom"))
    scores = folder / "scores.jsonl"
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    attach_lengths(rows, examples)  # as `rmbench eval` stores them
    scores.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_report_renders_figures_and_runs_nothing_injected(browser, tmp_path: Path):
    hostile_record(tmp_path / "record")
    page = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", str(tmp_path / "record"), "--out", str(page)])
    assert result.exit_code == 0, result.output

    browser.get(page.as_uri())
    assert browser.title.startswith("rmbench report")  # the <img onerror> never rewrote it
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - the <script> never ran
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert browser.find_elements(By.CSS_SELECTOR, "img") == []  # no element injected by a name or an id
    body = browser.find_element(By.TAG_NAME, "body").text
    assert XSS in body and IMG in body  # shown literally, as text

    figures = {f.get_attribute("data-figure"): f for f in browser.find_elements(By.CSS_SELECTOR, "svg.figure")}
    assert {"scores", "length-bias", "reliability", "histogram", "heat-map"} <= set(figures)
    for name, figure in figures.items():
        assert figure.size["width"] > 100 and figure.size["height"] > 50, name
    assert len(figures["heat-map"].find_elements(By.CSS_SELECTOR, "rect.cell")) == 9
    assert figures["scores"].find_elements(By.CSS_SELECTOR, "rect.bar")
    assert browser.get_screenshot_as_png()[:8] == b"\x89PNG\r\n\x1a\n"
