"""A multi-label preset remembers how it was trained: `evaluate` and
`predict` read tables with its findings, their order and its label
policies; a policy given that differs is applied with one warning line; a
finding of the model without labels in the table stays in the report as n/a."""

import json

import keras
import numpy as np
import PIL.Image
import pytest

from densenet_hub.cli.main import main
from densenet_hub.models import ImageClassifier
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.training.classifier import save_classifier
from helpers.models import build_tiny_classifier

# The model's order differs from the table's on purpose.
MODEL_FINDINGS = ["Mass", "Effusion", "Edema"]
TRAINED_WITH = {"uncertainty": "ones", "unmentioned": "zeros", "group_column": None,
                "group_from_path": None, "where": None}  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """12 images, a CheXpert-style table (Effusion with -1 and empty cells,
    no Mass column, an all-empty Edema column) and a preset trained with
    uncertainty=ones, unmentioned=zeros."""
    root = tmp_path_factory.mktemp("preset_reading")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    lines = ["Path,Sex,Effusion,Edema,Cardiomegaly"]
    effusion = ["1", "0", "-1", "", "1", "0", "-1", "1", "0", "", "1", "0"]
    for i, cell in enumerate(effusion):
        pixels = rng.integers(0, 255, (32, 32, 3)).astype("uint8")
        PIL.Image.fromarray(pixels).save(root / "images" / f"{i}.png")
        lines.append(f"images/{i}.png,F,{cell},,{i % 2}")
    (root / "test.csv").write_text("\n".join(lines) + "\n")
    (root / "list.txt").write_text(
        "".join(f"{i}.png {i % 2} 1 0\n" for i in range(12))
    )
    keras.utils.set_random_seed(1)
    labels = ClassLabels(MODEL_FINDINGS, [0.5, 0.4, 0.3], "fixed", {"labels": TRAINED_WITH})
    save_classifier(build_tiny_classifier(num_classes=3, activation="sigmoid"),
                    labels, root / "preset")  # fmt: skip
    return root


def _evaluate(folder, *options):
    return main(["evaluate", str(folder / "preset"), str(folder / "test.csv"), "--json",
                 "--quiet", "--roc", str(folder / "roc.png"), "--overwrite",
                 *options])  # fmt: skip


def test_evaluate_reads_the_table_with_the_presets_policies(folder, capsys):
    assert _evaluate(folder) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "overrides" not in captured.err
    effusion = next(f for f in report["findings"] if f["name"] == "Effusion")
    # -1 counts as positive (ones), empty as negative (zeros): all 12 rows count.
    assert (effusion["positives"], effusion["negatives"]) == (6, 6)


def test_a_policy_given_that_differs_is_applied_with_one_warning(folder, capsys):
    assert _evaluate(folder, "--uncertainty", "zeros") == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "overrides" in line]
    assert warnings == [
        "densenet-hub: warning: --uncertainty zeros overrides the preset's "
        "uncertainty policy 'ones'."
    ]
    effusion = next(f for f in json.loads(captured.out)["findings"] if f["name"] == "Effusion")
    assert (effusion["positives"], effusion["negatives"]) == (4, 8)
    # Given and the same as the preset's: no warning.
    assert _evaluate(folder, "--uncertainty", "ones") == 0
    assert "overrides" not in capsys.readouterr().err


def test_model_findings_without_labels_stay_as_n_a_in_model_order(folder, capsys):
    assert _evaluate(folder) == 0
    report = json.loads(capsys.readouterr().out)
    # Mass has no column, Edema only empty cells (a column with no label is
    # no finding column); Cardiomegaly is no model output.
    assert [f["name"] for f in report["findings"]] == MODEL_FINDINGS
    mass, _, edema = report["findings"]
    assert (mass["positives"], mass["negatives"], mass["auroc"]) == (0, 0, None)
    assert (edema["positives"], edema["negatives"], edema["auroc"]) == (0, 0, None)
    assert report["findings_in_mean"] == 1
    assert main(["evaluate", str(folder / "preset"), str(folder / "test.csv"), "--quiet",
                 "--roc", str(folder / "roc.png"), "--overwrite", "--unmentioned",
                 "ignore"]) == 0  # fmt: skip
    table = capsys.readouterr().out
    assert "n/a: Mass has no usable label here" in table
    assert "n/a: Edema has no usable label here" in table
    assert "Mean (1 of 3 findings)" in table


def test_predict_reads_a_split_file_with_the_presets_findings(folder, capsys):
    # Three values per line, not ChestX-ray14's 14: the preset names them.
    assert main(["predict", str(folder / "preset"), str(folder / "list.txt"), "--json",
                 "--quiet", "--images", str(folder / "images"), "--top-k", "3"]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert [row["image"].rsplit("/", 1)[1] for row in rows] == [f"{i}.png" for i in range(12)]
    classifier = ImageClassifier.from_preset(str(folder / "preset"))
    image = np.asarray(PIL.Image.open(folder / "images" / "0.png"))[None]
    expected = dict(zip(MODEL_FINDINGS, classifier.predict(image, verbose=0)[0]))
    for entry in rows[0]["findings"]:
        assert abs(entry["probability"] - expected[entry["finding"]]) < 1e-5


def test_evaluate_reads_a_split_file_in_the_presets_order(folder, capsys):
    assert main(["evaluate", str(folder / "preset"), str(folder / "list.txt"), "--json",
                 "--quiet", "--images", str(folder / "images"),
                 "--roc", str(folder / "roc.png"), "--overwrite"]) == 0  # fmt: skip
    findings = json.loads(capsys.readouterr().out)["findings"]
    # Values: Mass i % 2, Effusion always 1, Edema always 0.
    assert [(f["name"], f["positives"], f["negatives"]) for f in findings] == [
        ("Mass", 6, 6), ("Effusion", 12, 0), ("Edema", 0, 12)
    ]  # fmt: skip
