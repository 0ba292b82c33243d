"""The evaluation report in a real headless browser (Debian's Chromium,
driven by Selenium): every picture loads, the console has no error, the
page is not blank, and the numbers it shows equal scikit-learn's on the
per-image predictions `evaluate --predictions` wrote in the same run."""

import csv
import json

import numpy as np
import PIL.Image
import pytest
from helpers.browser import headless_chrome
from helpers.report_cases import FINDINGS
from helpers.report_cases import write_multilabel_case
from selenium.webdriver.common.by import By
from sklearn.metrics import average_precision_score
from sklearn.metrics import roc_auc_score

from densenet_hub.cli.main import main

# A blank or failed page is one flat colour; a rendered report has text,
# tables and curves.
MIN_PIXEL_STD = 10.0


@pytest.mark.slow
def test_report_renders_in_chromium_with_scikit_learn_numbers(tmp_path):
    driver = headless_chrome(window="1200,2400")  # skips before any work without a browser
    try:
        table, preset = write_multilabel_case(tmp_path)
        status = main([
            "evaluate", str(preset), str(table), "--quiet", "--roc", str(tmp_path / "roc.png"),
            "--predictions", str(tmp_path / "predictions.csv"),
            "--report", str(tmp_path / "report.html"), "--subgroups", "Sex,Age",
            "--bootstrap", "100",
        ])  # fmt: skip
        assert status == 0
        driver.get((tmp_path / "report.html").as_uri())
        images = driver.find_elements(By.TAG_NAME, "img")
        widths = [driver.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", image
        ) for image in images]  # fmt: skip
        cells = driver.find_elements(By.CSS_SELECTOR, "#metrics td[data-value]")
        shown = {
            (cell.get_attribute("data-metric"), cell.get_attribute("data-owner")): (
                float(cell.get_attribute("data-value")), cell.text
            )
            for cell in cells
        }
        driver.save_screenshot(str(tmp_path / "page.png"))
        console = driver.get_log("browser")
    finally:
        driver.quit()
    assert len(images) >= 4 and all(width and width > 0 for width in widths), widths
    assert [entry for entry in console if entry["level"] == "SEVERE"] == []
    pixels = np.asarray(PIL.Image.open(tmp_path / "page.png").convert("L"), "float64")
    assert pixels.std() > MIN_PIXEL_STD
    with open(tmp_path / "predictions.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    document = json.loads((tmp_path / "report.json").read_text())
    for index, name in enumerate(FINDINGS):
        kept = [row for row in rows if row[f"{name} weight"] == "1"]
        truth = [int(row[f"{name} label"]) for row in kept]
        score = [float(row[f"{name} probability"]) for row in kept]
        expectations = {"auroc": roc_auc_score(truth, score),
                        "average_precision": average_precision_score(truth, score)}  # fmt: skip
        for metric, expected in expectations.items():
            value, text = shown[(metric, name)]
            assert abs(value - expected) <= 1e-9
            assert text == f"{expected:.4f}"
            assert abs(document["metrics"]["findings"][index][metric] - expected) <= 1e-9
