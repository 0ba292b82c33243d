"""`densenet-hub demo --multi-label`: one tiny run end to end through
`main([...])` (its mosaics and tables: tests/demos/test_mosaics.py)."""

import re

import pytest

from densenet_hub.cli.main import main
from helpers.cli import error_line


@pytest.mark.slow
def test_demo_multi_label_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    status = main(["demo", "--multi-label", "--out", str(out), "--images-per-class", "16",
                   "--epochs", "1", "--min-auroc", "1", "--quiet"])  # fmt: skip
    captured = capsys.readouterr()
    # One epoch on 120 mosaics is far from a perfect AUROC: the run ends with
    # --min-auroc's failure, after every step and the summary.
    assert status == 1 and "below --min-auroc 1.0" in captured.err, captured.err
    mean = re.search(r"mean AUROC on (\d+) held-out mosaics of \d+ unseen patients: ([\d.]+)",
                     captured.out)  # fmt: skip
    assert mean and int(mean[1]) == 40 and 0 <= float(mean[2]) < 1
    assert "$ densenet-hub train" in captured.out and "'Patient ID'" in captured.out
    for path in ("mosaics/train.csv", "mosaics/test.csv", "mosaics_preset/task.json",
                 "mosaics_preset/multi_label.json", "roc_curves.png", "metrics.json"):  # fmt: skip
        assert (out / path).is_file(), path
    # Each explained mosaic gets a map per digit found (at least its most probable).
    maps = {path.name.rsplit("_digit_", 1)[0] for path in (out / "explain").glob("*_digit_*.png")}
    assert maps == {"test_patient0000_0", "test_patient0001_0", "test_patient0002_0"}
    assert main(["demo", "--multi-label", "--out", str(out)]) == 1
    assert "--overwrite" in error_line(capsys)
