"""The web page in a real headless browser (Debian's Chromium, driven by
Selenium): choosing an image shows its top classes and the Grad-CAM
overlay, with no error in the browser's console."""

import pytest
from helpers.browser import headless_chrome
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from serving_helpers import CLIENT_TIMEOUT_S
from serving_helpers import NAMES
from serving_helpers import images
from serving_helpers import png_bytes


@pytest.mark.slow
def test_choosing_an_image_shows_classes_and_the_overlay(server, tmp_path):
    photo = tmp_path / "photo.png"
    # The model's own size, which the server warmed up: under JAX another
    # size compiles the preprocessing first, slow on a busy machine.
    photo.write_bytes(png_bytes(images(1, 32, 32, seed=21)[0]))
    driver = headless_chrome()
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
