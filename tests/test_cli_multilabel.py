"""Multi-label work from the shell: `train`, `evaluate`, `predict` and
`explain` on label tables, and a CheXNet-style checkpoint evaluated and
fine-tuned further from a ChestX-ray14-style table, through `main([...])`."""

import importlib.util
import json

import keras
import numpy as np
import PIL.Image
import pytest

from densenet_hub.cli.main import main
from densenet_hub.data import CHESTXRAY14_FINDINGS
from densenet_hub.models import ImageClassifier
from densenet_hub.presets.class_labels import read_class_labels
from helpers.cli import error_line
from helpers.models import build_tiny_classifier
from helpers.paths import GOLDEN

FINDINGS = ["Effusion", "Edema", "Mass"]
QUICK = ["--warmup-epochs", "1", "--epochs", "1", "--batch-size", "4", "--augment", "none"]


def _image(target):
    image = np.zeros((32, 32, 3), "uint8")
    for index, present in enumerate(target):
        if present:
            image[:, index * 10 : index * 10 + 10] = 230
    return image


def _write_images(folder, count):
    targets = np.array([[i % 2, (i // 2) % 2, (i // 4) % 2] for i in range(count)])
    (folder / "images").mkdir(parents=True)
    for i, target in enumerate(targets):
        PIL.Image.fromarray(_image(target)).save(folder / "images" / f"{i:03d}.png")
    return targets


@pytest.fixture(scope="module")
def chexpert_table(tmp_path_factory):
    """A CheXpert-style table: `Path`, metadata, one column per finding
    with 1/0/-1/empty, and two images per patient."""
    folder = tmp_path_factory.mktemp("chexpert")
    targets = _write_images(folder, 24)
    lines = ["Path,Sex,Age," + ",".join(FINDINGS) + ",Patient ID"]
    for i, target in enumerate(targets):
        cells = [str(value) for value in target]
        if i == 3:
            cells[0] = "-1"
        if i == 6:
            cells[2] = ""
        lines.append(f"images/{i:03d}.png,F,{40 + i},{','.join(cells)},p{i // 2}")
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def trained(chexpert_table):
    keras.utils.set_random_seed(3)
    build_tiny_classifier(num_classes=2).save_to_preset(str(chexpert_table / "base"))
    out = chexpert_table / "multi"
    status = main([
        "train", str(chexpert_table / "train.csv"), "--preset", str(chexpert_table / "base"),
        "--out", str(out), "--group-column", "Patient ID", "--positive-weights", "balanced",
        "--no-pretrained", "--quiet", *QUICK,
    ])  # fmt: skip
    assert status == 0
    return out


def test_train_on_a_table_saves_findings_and_thresholds(trained, capsys):
    labels = read_class_labels(trained, 3, multi_label=True)
    assert labels.names == FINDINGS and len(labels.thresholds) == 3
    record = json.loads((trained / "multi_label.json").read_text())
    assert "Youden" in record["threshold_rule"]
    assert record["details"]["labels"] == {
        "uncertainty": "ignore", "unmentioned": "ignore", "group_column": "Patient ID",
        "group_from_path": None, "where": None,
    }  # fmt: skip
    assert set(record["details"]["split_counts"]) == set(FINDINGS)
    # --no-pretrained leaves out the warm-up: one epoch of history.
    history = (trained / "history.csv").read_text().splitlines()
    columns = history[0].split(",")
    assert columns[0] == "epoch" and columns[-1] == "learning_rate" and len(history) == 2
    assert {"loss", "val_loss", "val_auroc"} <= set(columns)
    assert ImageClassifier.from_preset(str(trained)).multi_label
    capsys.readouterr()
    assert main(["info", str(trained)]) == 0
    printed = capsys.readouterr().out
    assert "multi-label decision thresholds (per finding" in printed
    assert f"  Edema: {labels.thresholds[1]:.4f}" in printed


def test_evaluate_a_table_matches_scikit_learn(trained, chexpert_table, tmp_path, capsys):
    from sklearn import metrics as sklearn_metrics
    roc, metrics = tmp_path / "roc.png", tmp_path / "metrics.json"
    status = main([
        "evaluate", str(trained), str(chexpert_table / "train.csv"), "--roc", str(roc),
        "--metrics-json", str(metrics), "--json", "--quiet",
    ])  # fmt: skip
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(metrics.read_text()) == printed
    assert PIL.Image.open(roc).format == "PNG"
    classifier = ImageClassifier.from_preset(str(trained))
    paths = sorted((chexpert_table / "images").glob("*.png"))
    scores = classifier.predict(np.stack([np.asarray(PIL.Image.open(p)) for p in paths]), verbose=0)
    targets = np.array([[i % 2, (i // 2) % 2, (i // 4) % 2] for i in range(24)])
    for index, finding in enumerate(printed["findings"]):
        # Row 3's uncertain Effusion and row 6's unmentioned Mass are ignored.
        rows = [r for r in range(24) if (r, index) not in ((3, 0), (6, 2))]
        expected = sklearn_metrics.roc_auc_score(targets[rows, index], scores[rows, index])
        assert finding["name"] == FINDINGS[index]
        assert abs(finding["auroc"] - expected) < 1e-6


def test_uncertainty_policy_changes_what_is_evaluated(trained, chexpert_table, tmp_path, capsys):
    counts = {}
    for policy in ("ignore", "ones", "zeros"):
        assert main([
            "evaluate", str(trained), str(chexpert_table / "train.csv"), "--json", "--quiet",
            "--uncertainty", policy, "--roc", str(tmp_path / f"{policy}.png"),
        ]) == 0  # fmt: skip
        effusion = json.loads(capsys.readouterr().out)["findings"][0]
        counts[policy] = (effusion["positives"], effusion["negatives"])
    # Row 3's Effusion is -1: left out, positive or negative.
    assert counts == {"ignore": (11, 12), "ones": (12, 12), "zeros": (11, 13)}


def test_predict_and_explain_findings(trained, chexpert_table, tmp_path, capsys):
    assert main(["predict", str(trained), str(chexpert_table / "train.csv"), "--json",
                 "--quiet", "--top-k", "3"]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 24
    labels = read_class_labels(trained, 3, multi_label=True)
    for entry in rows[0]["findings"]:
        threshold = labels.thresholds[FINDINGS.index(entry["finding"])]
        assert entry["threshold"] == threshold
        assert entry["positive"] == (entry["probability"] >= threshold)
    image = chexpert_table / "images" / "007.png"
    assert main(["explain", str(trained), str(image), "--out", str(tmp_path / "why.png")]) == 0
    written = sorted(path.name for path in tmp_path.glob("why_*.png"))
    assert written and all(name[4:-4] in FINDINGS for name in written)
    assert main(["explain", str(trained), str(image), "--class", "Edema",
                 "--out", str(tmp_path / "edema.png")]) == 0  # fmt: skip
    assert (tmp_path / "edema.png").is_file()


def test_table_options_with_a_class_folder_are_refused(tmp_path, capsys):
    (tmp_path / "data" / "a").mkdir(parents=True)
    status = main(["train", str(tmp_path / "data"), "--preset", "x", "--out",
                   str(tmp_path / "out"), "--group-column", "Patient ID"])  # fmt: skip
    assert status == 1
    assert "--group-column apply to a multi-label table" in error_line(capsys)


requires_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="reading a pickled checkpoint needs torch (pip install torch)",
)


@requires_torch
def test_chexnet_style_checkpoint_evaluated_and_finetuned_from_a_chestxray14_table(
    tmp_path, capsys
):
    """The golden CheXNet-style checkpoint (DataParallel prefix, legacy
    keys, 5 sigmoid outputs) from the shell alone: convert, evaluate on a
    ChestX-ray14-style table, fine-tune further keeping its head."""
    findings = list(CHESTXRAY14_FINDINGS[:5])
    converted = tmp_path / "chexnet"
    assert main(["convert", str(GOLDEN / "chexnet_style_legacy.pth"), str(converted),
                 "--activation", "sigmoid"]) == 0  # fmt: skip
    rng = np.random.default_rng(0)
    (tmp_path / "images_001" / "images").mkdir(parents=True)
    lines = ["Image Index,Finding Labels,Follow-up #,Patient ID"]
    for i in range(20):
        present = [name for j, name in enumerate(findings) if (i >> j) & 1 or (i + j) % 5 == 0]
        pixels = rng.integers(0, 256, (40, 40), dtype="uint8")
        PIL.Image.fromarray(pixels).save(tmp_path / "images_001" / "images" / f"{i:08d}_000.png")
        lines.append(f"{i:08d}_000.png,{'|'.join(present) or 'No Finding'},0,{i // 2}")
    (tmp_path / "Data_Entry.csv").write_text("\n".join(lines) + "\n")
    table = ["--findings", ",".join(findings), "--image-size", "32"]
    capsys.readouterr()
    assert main(["evaluate", str(converted), str(tmp_path / "Data_Entry.csv"), *table,
                 "--json", "--quiet", "--roc", str(tmp_path / "roc.png")]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "no class names" in captured.err
    report = json.loads(captured.out)
    assert [f["name"] for f in report["findings"]] == findings
    assert 0 <= report["mean_auroc"] <= 1

    before = ImageClassifier.from_preset(str(converted)).output_dense.get_weights()
    assert main(["train", str(tmp_path / "Data_Entry.csv"), "--preset", str(converted),
                 "--out", str(tmp_path / "tuned"), "--group-column", "Patient ID",
                 *table, "--quiet", "--warmup-epochs", "0", "--epochs", "1",
                 "--batch-size", "4", "--augment", "none",
                 "--learning-rate", "1e-9"]) == 0  # fmt: skip
    assert "continuing the preset's 5-class head" in capsys.readouterr().out
    tuned = ImageClassifier.from_preset(str(tmp_path / "tuned"))
    after = tuned.output_dense.get_weights()
    # A learning rate of 1e-9 leaves the converted head where it was.
    assert all(np.abs(a - b).max() < 1e-5 for a, b in zip(after, before))
    assert read_class_labels(tmp_path / "tuned", 5, multi_label=True).names == findings
