"""`convert --class-names/--thresholds`: a converted CheXNet-style head
saved with finding names (and thresholds) that `predict` prints."""

import json

import numpy as np
import PIL.Image
import pytest

from densenet_hub.cli.main import main
from densenet_hub.data import CHESTXRAY14_FINDINGS
from densenet_hub.presets.class_labels import class_names_from
from densenet_hub.presets.class_labels import read_class_labels
from densenet_hub.presets.class_labels import thresholds_from
from helpers.cli import error_line
from helpers.paths import GOLDEN

CHECKPOINT = str(GOLDEN / "chexnet_style_legacy.pth")  # 5 outputs
NAMES = list(CHESTXRAY14_FINDINGS[:5])


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "x.png"
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), "uint8")).save(path)
    return path


def test_named_outputs_and_thresholds_are_saved_and_predict_prints_them(tmp_path, image, capsys):
    out = tmp_path / "named"
    assert main(["convert", CHECKPOINT, str(out), "--activation", "sigmoid", "--class-names",
                 ",".join(NAMES), "--thresholds", "0.5,0.4,0.3,0.2,0.1"]) == 0  # fmt: skip
    assert "named Atelectasis, Cardiomegaly, Effusion, ..." in capsys.readouterr().out
    labels = read_class_labels(out, 5, multi_label=True)
    assert labels.names == NAMES and labels.thresholds == [0.5, 0.4, 0.3, 0.2, 0.1]
    assert main(["predict", str(out), str(image), "--json", "--top-k", "5"]) == 0
    findings = json.loads(capsys.readouterr().out)[0]["findings"]
    assert sorted(entry["finding"] for entry in findings) == sorted(NAMES)
    for entry in findings:
        assert entry["threshold"] == labels.thresholds[NAMES.index(entry["finding"])]


def test_names_from_a_file_without_thresholds(tmp_path, image, capsys):
    names_file = tmp_path / "names.txt"
    names_file.write_text("\n".join(NAMES) + "\n")
    out = tmp_path / "named"
    assert main(["convert", CHECKPOINT, str(out), "--class-names", str(names_file)]) == 0
    assert json.loads((out / "class_names.json").read_text()) == NAMES
    assert not (out / "multi_label.json").exists()
    capsys.readouterr()
    assert main(["predict", str(out), str(image), "--json", "--top-k", "2"]) == 0
    labels = [p["label"] for p in json.loads(capsys.readouterr().out)[0]["predictions"]]
    assert len(labels) == 2 and set(labels) <= set(NAMES)


def test_a_count_mismatch_names_both_numbers_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "named"
    assert main(["convert", CHECKPOINT, str(out), "--class-names", "chestxray14"]) == 1
    line = error_line(capsys)
    assert "14 class names for a head with 5 outputs" in line
    assert not out.exists()
    assert main(["convert", CHECKPOINT, str(out), "--class-names", ",".join(NAMES),
                 "--thresholds", "0.5,0.5"]) == 1  # fmt: skip
    assert "2 thresholds for 5 findings" in error_line(capsys)
    assert not out.exists()


def test_the_one_word_names_and_the_parsers():
    assert class_names_from("chestxray14") == list(CHESTXRAY14_FINDINGS)
    assert CHESTXRAY14_FINDINGS[0] == "Atelectasis" and CHESTXRAY14_FINDINGS[-1] == "Hernia"
    assert thresholds_from("0.5, 0.25") == [0.5, 0.25]
    with pytest.raises(ValueError, match="given twice"):
        class_names_from("Edema,Edema")
    with pytest.raises(ValueError, match="expected numbers"):
        thresholds_from("0.5,high")
