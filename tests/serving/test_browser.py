"""The web page in a real headless browser (Debian's Chromium, driven by
Selenium): choosing an image shows its top classes and the Grad-CAM
overlay, with no error in the browser's console."""

import os
import pathlib
import shutil
import subprocess

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from serving_helpers import CLIENT_TIMEOUT_S
from serving_helpers import NAMES
from serving_helpers import images
from serving_helpers import png_bytes

INSTALLER = pathlib.Path(__file__).with_name("install_browser.sh")


def _browser_or_skip():
    """The paths of chromium and chromedriver, installed when missing."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.skip("chromium is not installed and this user cannot apt-get install it")
        installed = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True,
                                   timeout=1200)  # fmt: skip
        if installed.returncode != 0:
            pytest.skip(f"installing chromium failed: {installed.stderr[-500:]}")
    return shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.slow
def test_choosing_an_image_shows_classes_and_the_overlay(server, tmp_path):
    chromium, chromedriver = _browser_or_skip()
    photo = tmp_path / "photo.png"
    # The model's own size, which the server warmed up: under JAX another
    # size compiles the preprocessing first, slow on a busy machine.
    photo.write_bytes(png_bytes(images(1, 32, 32, seed=21)[0]))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run", "--window-size=1000,900"):
        options.add_argument(argument)  # fmt: skip
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(chromedriver), options=options)
    try:
        driver.get(server.url + "/")
        assert driver.title == "densenet_hub: tiny"
        driver.find_element(By.ID, "image").send_keys(str(photo))
        wait = WebDriverWait(driver, 3 * CLIENT_TIMEOUT_S)
        shown = expected_conditions.visibility_of_element_located((By.ID, "overlay"))
        try:
            wait.until(shown)
        except TimeoutException:
            status = driver.find_element(By.ID, "status").text
            raise AssertionError(f"no overlay appeared; the page says {status!r}") from None
        header_cells = driver.find_elements(By.CSS_SELECTOR, "#results thead > tr > th")
        headers = [cell.text for cell in header_cells]
        rows = driver.find_elements(By.CSS_SELECTOR, "#results-body tr")
        labels = [row.find_elements(By.TAG_NAME, "td")[1].text for row in rows]
        overlay = driver.find_element(By.ID, "overlay")
        # The picture decodes after it shows; wait for its pixels.
        loaded = wait.until(lambda _: driver.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", overlay
        ))  # fmt: skip
        status = driver.find_element(By.ID, "status").text
        driver.save_screenshot(str(tmp_path / "page.png"))
        console = driver.get_log("browser")
    finally:
        driver.quit()
    assert headers == ["rank", "class", "probability"]
    assert len(labels) == 5 and set(labels) <= set(NAMES)
    assert loaded == 32  # the overlay shows the image at its own size
    assert status == "photo.png: 32x32 pixels, classified."
    assert [entry for entry in console if entry["level"] in ("SEVERE", "WARNING")] == []
