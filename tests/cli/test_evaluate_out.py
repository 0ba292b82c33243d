"""`densenet-hub evaluate --out DIR`: every file evaluate writes goes into
DIR (created if missing) when named relatively, absolute paths stay as
given, an existing output anywhere stops the run before any work unless
--overwrite, each path is printed (on stderr under --json, whose stdout is
the document --metrics-json writes), and two outputs cannot share a path."""

import json

import numpy as np
import PIL.Image
import pytest
from helpers.cli import error_line
from helpers.report_cases import write_multilabel_case
from helpers.report_cases import write_single_label_case

from densenet_hub.cli.main import main


@pytest.fixture(scope="module")
def table_case(tmp_path_factory):
    return write_multilabel_case(tmp_path_factory.mktemp("table"))


@pytest.fixture(scope="module")
def folder_case(tmp_path_factory):
    return write_single_label_case(tmp_path_factory.mktemp("folder"))


def _listing(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_a_table_evaluation_writes_into_out(table_case, tmp_path, monkeypatch, capsys):
    table, preset = table_case
    monkeypatch.chdir(tmp_path)
    elsewhere = tmp_path / "elsewhere" / "rows.csv"
    args = ["evaluate", str(preset), str(table), "--quiet", "--out", "runs/first",
            "--metrics-json", "metrics.json", "--report", "report.html", "--report-examples",
            "0", "--bootstrap", "20", "--predictions", str(elsewhere)]  # fmt: skip
    assert main(args) == 0
    out = tmp_path / "runs" / "first"
    assert _listing(out) == ["metrics.json", "report.html", "report.json", "roc_curves.png"]
    assert _listing(tmp_path / "elsewhere") == ["rows.csv"]
    assert PIL.Image.open(out / "roc_curves.png").format == "PNG"
    printed = capsys.readouterr().out
    for line in ("  ROC curves: runs/first/roc_curves.png",
                 "  metrics (JSON): runs/first/metrics.json",
                 f"  per-image predictions (CSV): {elsewhere}",
                 "  report (HTML): runs/first/report.html",
                 "  report numbers (JSON): runs/first/report.json"):  # fmt: skip
        assert line in printed.splitlines()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 48 and metrics["bootstrap"] == 20
    assert json.loads((out / "report.json").read_text())["metrics"]["mean_auroc"] == pytest.approx(
        metrics["mean_auroc"]
    )

    # Only the last file evaluate would write is left: the run still stops
    # before any work, and writes none of the others.
    for name in ("metrics.json", "report.html", "roc_curves.png"):
        (out / name).unlink()
    elsewhere.unlink()
    (out / "report.json").write_text("earlier")
    assert main(args) == 1
    line = error_line(capsys)
    assert "write runs/first/report.json:" in line and "--overwrite" in line
    assert _listing(out) == ["report.json"] and (out / "report.json").read_text() == "earlier"
    assert not elsewhere.exists()

    assert main([*args, "--overwrite", "--json"]) == 0
    captured = capsys.readouterr()
    # stdout is the metrics document alone, the one --metrics-json wrote;
    # the paths go to stderr.
    assert json.loads(captured.out) == json.loads((out / "metrics.json").read_text())
    assert "  ROC curves: runs/first/roc_curves.png" in captured.err.splitlines()
    assert json.loads((out / "report.json").read_text())["metrics"]["images"] == 48


def test_a_folder_evaluation_defaults_to_the_current_folder(
    folder_case, tmp_path, monkeypatch, capsys
):
    images, preset = folder_case
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(preset), str(images), "--quiet", "--json",
                 "--metrics-json", "metrics.json"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert _listing(tmp_path) == ["confusion_matrix.png", "metrics.json"]
    printed = json.loads(captured.out)
    assert printed == json.loads((tmp_path / "metrics.json").read_text())
    assert printed["images"] == 12 and set(printed["classes"]) == {"cat", "dog", "fox"}
    assert "  confusion matrix: confusion_matrix.png" in captured.err.splitlines()

    # A relative name with folders lands inside --out with them; an absolute
    # --confusion-matrix stays where given.
    out = tmp_path / "nested" / "out"
    absolute = tmp_path / "pictures" / "matrix.png"
    assert main(["evaluate", str(preset), str(images), "--quiet", "--out", str(out),
                 "--metrics-json", "numbers/metrics.json", "--confusion-matrix",
                 str(absolute)]) == 0  # fmt: skip
    assert _listing(out) == ["numbers/metrics.json"]
    assert PIL.Image.open(absolute).format == "PNG"
    printed = capsys.readouterr().out.splitlines()
    assert f"  confusion matrix: {absolute}" in printed
    assert f"  metrics (JSON): {out / 'numbers' / 'metrics.json'}" in printed
    accuracy = json.loads((out / "numbers" / "metrics.json").read_text())["accuracy"]
    assert 0 <= accuracy <= 1 and accuracy * 12 == pytest.approx(np.round(accuracy * 12))


def test_two_outputs_on_one_path_are_refused_before_any_work(folder_case, tmp_path, capsys):
    images, preset = folder_case
    out = tmp_path / "out"
    # --report r.html puts its numbers in r.json, the name --metrics-json gives.
    assert main(["evaluate", str(preset), str(images), "--quiet", "--out", str(out),
                 "--report", "r.html", "--metrics-json", "r.json"]) == 1  # fmt: skip
    line = error_line(capsys)
    assert f"--metrics-json and --report-json both name {out / 'r.json'}" in line
    assert not out.exists()
