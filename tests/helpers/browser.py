"""Debian's headless Chromium driven by Selenium, for the tests that open a
page in a real browser (the serving page, the evaluation report). Chromium
and chromedriver are installed by `tests/serving/install_browser.sh` when
missing and this user may apt-get; otherwise the test is skipped."""

import os
import pathlib
import shutil
import subprocess

import pytest
from selenium import webdriver

INSTALLER = pathlib.Path(__file__).parents[1] / "serving" / "install_browser.sh"
INSTALL_TIMEOUT_S = 1200


def browser_or_skip():
    """The paths of chromium and chromedriver, installed when missing."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.skip("chromium is not installed and this user cannot apt-get install it")
        installed = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True,
                                   timeout=INSTALL_TIMEOUT_S)  # fmt: skip
        if installed.returncode != 0:
            pytest.skip(f"installing chromium failed: {installed.stderr[-500:]}")
    return shutil.which("chromium"), shutil.which("chromedriver")


def headless_chrome(window="1000,900"):
    """A headless Chrome WebDriver that records the browser's console."""
    chromium, chromedriver = browser_or_skip()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run", f"--window-size={window}"):
        options.add_argument(argument)  # fmt: skip
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=webdriver.ChromeService(chromedriver), options=options)
