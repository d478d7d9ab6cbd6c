from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from tests import tiny

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _threads():
    # Two cores shared with whatever else runs: one thread keeps tiny models fast and stable.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    # One cache per test session, never the user's: a GGUF is converted once for all tests.
    previous = os.environ.get("RMBENCH_CACHE")
    os.environ["RMBENCH_CACHE"] = str(tmp_path_factory.mktemp("rmbench-cache"))
    yield
    if previous is None:
        os.environ.pop("RMBENCH_CACHE", None)
    else:
        os.environ["RMBENCH_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny_rm(tmp_path_factory) -> Path:
    return tiny.save_classifier(tmp_path_factory.mktemp("tiny-rm"))


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    return tiny.save_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the repo on CI machines)")
    return SHARED_DATA


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


PAIRS = [
    {"prompt": "what is two plus two?", "chosen": "four.", "rejected": "five."},
    {"prompt": "write a short poem about the sea", "chosen": "the sea is blue and deep", "rejected": "no."},
    {"prompt": "the capital of france?", "chosen": "paris", "rejected": "the capital of france is london"},
    {"prompt": "please help", "chosen": "here is a python function that adds numbers", "rejected": "i cannot help"},
]


@pytest.fixture
def browser():
    """Debian's chromium through selenium, the driver's path given so nothing is downloaded
    (.ci/run installs chromium and chromium-driver); skipped with the reason when absent."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; "
                    ".ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
