"""The real public chest X-ray tables as they are: CheXpert's `train.csv`
(and a `valid.csv` made of its rows) and NIH ChestX-ray14's
`Data_Entry_2017_v2020.csv`, from the torchxrayvision wheel
(tests/helpers/real_tables.py). Every count is checked against pandas
reading the same file directly; the last test trains and evaluates from the
shell on a few hundred real rows with small generated images."""

import argparse
import json

import keras
import numpy as np
import pandas as pd
import PIL.Image
import pytest

from densenet_hub.cli.main import main
from densenet_hub.cli.shell import add_label_table_options
from densenet_hub.cli.shell import read_table
from densenet_hub.cli.shell import table_settings
from densenet_hub.data import CHESTXRAY14_FINDINGS
from densenet_hub.data import read_label_table
from densenet_hub.training import multilabel_split
from helpers import real_tables
from helpers.models import build_tiny_classifier

CHEXPERT_FINDINGS = [
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity",
    "Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax",
    "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices",
]  # fmt: skip
COMPETITION_FINDINGS = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]
POLICIES = ["ignore", "ones", "zeros"]
PATIENT = r"patient\d+"


@pytest.fixture(scope="module")
def chexpert():
    return real_tables.chexpert_train()


@pytest.fixture(scope="module")
def chexpert_frame(chexpert):
    return pd.read_csv(chexpert)


@pytest.fixture(scope="module")
def nih():
    return real_tables.nih_data_entry()


@pytest.fixture(scope="module")
def nih_frame(nih):
    return pd.read_csv(nih)


def expected_counts(frame, findings, uncertainty, unmentioned):
    """Per finding, positives and negatives that count, from pandas: 1.0
    and 0.0 count as written, -1.0 and empty cells as their policy says."""
    positives, negatives = [], []
    for name in findings:
        cells = frame[name]
        counts = {
            "1": int((cells == 1).sum()),
            "0": int((cells == 0).sum()),
            "uncertain": int((cells == -1).sum()),
            "empty": int(cells.isna().sum()),
        }
        positive, negative = counts["1"], counts["0"]
        for kind, policy in (("uncertain", uncertainty), ("empty", unmentioned)):
            if policy == "ones":
                positive += counts[kind]
            elif policy == "zeros":
                negative += counts[kind]
        positives.append(positive)
        negatives.append(negative)
    return positives, negatives


def test_chexpert_reads_its_14_observations_as_findings(chexpert, chexpert_frame):
    table = read_label_table(chexpert, check_files=False)
    assert table.layout == "columns"
    assert table.findings == CHEXPERT_FINDINGS
    assert len(table) == len(chexpert_frame) == real_tables.CHEXPERT_ROWS
    assert table.paths[0] == chexpert.parent / chexpert_frame["Path"][0]
    assert table.uncertain.sum(axis=0).tolist() == [
        int((chexpert_frame[name] == -1).sum()) for name in CHEXPERT_FINDINGS
    ]
    assert table.unmentioned.sum(axis=0).tolist() == [
        int(chexpert_frame[name].isna().sum()) for name in CHEXPERT_FINDINGS
    ]


@pytest.mark.parametrize("uncertainty", POLICIES)
@pytest.mark.parametrize("unmentioned", POLICIES)
def test_chexpert_policy_counts_equal_pandas(chexpert, chexpert_frame, uncertainty, unmentioned):
    table = read_label_table(
        chexpert, uncertainty=uncertainty, unmentioned=unmentioned, check_files=False
    )
    positives, negatives = expected_counts(
        chexpert_frame, CHEXPERT_FINDINGS, uncertainty, unmentioned
    )
    assert table.positives().tolist() == positives
    assert table.negatives().tolist() == negatives


def test_chexpert_frontal_filter_and_competition_findings(chexpert, chexpert_frame):
    table = read_label_table(
        chexpert,
        findings=COMPETITION_FINDINGS,
        where=["Frontal/Lateral=Frontal"],
        uncertainty="ones",
        unmentioned="zeros",
        check_files=False,
    )
    frontal = chexpert_frame[chexpert_frame["Frontal/Lateral"] == "Frontal"]
    assert len(chexpert_frame) - len(frontal) == 32_387  # the lateral views
    assert len(table) == len(frontal)
    assert table.findings == COMPETITION_FINDINGS
    assert all("frontal" in path.name for path in table.paths[:1000])
    positives, negatives = expected_counts(frontal, COMPETITION_FINDINGS, "ones", "zeros")
    assert table.positives().tolist() == positives
    assert table.negatives().tolist() == negatives


def test_chexpert_numeric_filters_equal_pandas(chexpert, chexpert_frame):
    table = read_label_table(
        chexpert, where=["Age>=18", "Age<90", "Sex!=Male", "AP/PA=PA"], check_files=False
    )
    frame = chexpert_frame
    kept = (frame["Age"] >= 18) & (frame["Age"] < 90)
    kept &= (frame["Sex"] != "Male") & (frame["AP/PA"] == "PA")
    assert len(table) == int(kept.sum())
    positives, _ = expected_counts(frame[kept], CHEXPERT_FINDINGS, "ignore", "ignore")
    assert table.positives().tolist() == positives


def test_chexpert_patient_from_path_splits_patients_apart(chexpert, chexpert_frame):
    table = read_label_table(
        chexpert,
        findings=COMPETITION_FINDINGS,
        where=["Frontal/Lateral=Frontal"],
        group_from_path=PATIENT,
        uncertainty="ones",
        unmentioned="zeros",
        check_files=False,
    )
    frontal = chexpert_frame[chexpert_frame["Frontal/Lateral"] == "Frontal"]
    patients = frontal["Path"].str.extract(f"({PATIENT})", expand=False)
    assert table.groups.tolist() == patients.tolist()
    train, val = multilabel_split(
        table.targets, val_split=0.2, seed=0, groups=table.groups, weights=table.weights
    )
    assert sorted([*train, *val]) == list(range(len(table)))
    assert not set(table.groups[train]) & set(table.groups[val])
    assert 0.15 < len(val) / len(table) < 0.25


def test_chexpert_valid_csv_layout(chexpert, tmp_path):
    # valid.csv has train.csv's columns, images under valid/, and only 1.0
    # and 0.0 (radiologists' labels, none uncertain or missing).
    lines = chexpert.read_text().splitlines()[:235]
    rows = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[0] = cells[0].replace("/train/", "/valid/")
        cells[5:] = ["1.0" if cell == "1.0" else "0.0" for cell in cells[5:]]
        rows.append(",".join(cells))
    valid = tmp_path / "valid.csv"
    valid.write_text("\n".join(rows) + "\n")
    table = read_label_table(valid, group_from_path=PATIENT, check_files=False)
    frame = pd.read_csv(valid)
    assert table.findings == CHEXPERT_FINDINGS and len(table) == 234
    assert not table.uncertain.any() and not table.unmentioned.any()
    assert table.weights.all()
    positives = [int((frame[name] == 1).sum()) for name in CHEXPERT_FINDINGS]
    assert table.positives().tolist() == positives
    assert "/valid/" in str(table.paths[0])


def test_chexpert_copy_with_a_bad_cell_or_a_repeated_row(chexpert, tmp_path):
    lines = chexpert.read_text().splitlines()[:1001]
    copy = tmp_path / "train.csv"
    bad = lines.copy()
    cells = bad[500].split(",")
    cells[CHEXPERT_FINDINGS.index("Edema") + 5] = "2"
    bad[500] = ",".join(cells)
    copy.write_text("\n".join(bad) + "\n")
    # Before: Edema silently left the findings.
    with pytest.raises(ValueError, match=r"line 501, column 'Edema': '2' is not a label"):
        read_label_table(copy, check_files=False)
    copy.write_text("\n".join(lines + [lines[10]]) + "\n")
    # Before: accepted, the image counted twice.
    with pytest.raises(ValueError, match=r"lines 11 and 1002: both rows name the image"):
        read_label_table(copy, check_files=False)


def test_nih_finding_labels_equal_pandas(nih, nih_frame):
    table = read_label_table(nih, check_files=False)
    assert table.layout == "finding_labels"
    assert table.findings == list(CHESTXRAY14_FINDINGS)
    assert len(table) == len(nih_frame) == real_tables.NIH_ROWS
    names = nih_frame["Finding Labels"].str.split("|")
    positives = [
        int(names.apply(lambda row, name=name: name in row).sum()) for name in CHESTXRAY14_FINDINGS
    ]
    assert table.positives().tolist() == positives
    assert table.negatives().tolist() == [len(nih_frame) - count for count in positives]
    assert table.weights.all() and not table.uncertain.any()
    no_finding = int((nih_frame["Finding Labels"] == "No Finding").sum())
    assert int((table.targets.sum(axis=1) == 0).sum()) == no_finding
    with_no_finding = read_label_table(
        nih, findings=[*CHESTXRAY14_FINDINGS, "No Finding"], check_files=False
    )
    assert with_no_finding.positives().tolist() == [*positives, no_finding]


def test_nih_filters_and_patients(nih, nih_frame):
    table = read_label_table(
        nih,
        where=["View Position=PA", "Patient Age<=100"],
        group_column="Patient ID",
        check_files=False,
    )
    kept = (nih_frame["View Position"] == "PA") & (nih_frame["Patient Age"] <= 100)
    assert len(table) == int(kept.sum())
    assert table.groups.tolist() == nih_frame.loc[kept, "Patient ID"].astype(str).tolist()
    # The file name starts with the patient: the same grouping.
    by_name = read_label_table(nih, group_from_path=r"^(\d+)_", check_files=False)
    assert [int(group) for group in by_name.groups] == nih_frame["Patient ID"].tolist()


@pytest.fixture(scope="module")
def chexpert_sample(chexpert, tmp_path_factory):
    """The first 300 rows of the real table in `CheXpert-v1.0-small/`, with
    small generated images at its paths (which start with that folder, so
    the images sit beside it, as in the dataset's archive)."""
    root = tmp_path_factory.mktemp("chexpert")
    table = root / "CheXpert-v1.0-small" / "train.csv"
    table.parent.mkdir()
    table.write_text("\n".join(chexpert.read_text().splitlines()[:301]) + "\n")
    rng = np.random.default_rng(0)
    for cell in pd.read_csv(table)["Path"]:
        path = root / cell
        path.parent.mkdir(parents=True, exist_ok=True)
        PIL.Image.fromarray(rng.integers(0, 255, (32, 32), dtype="uint8")).save(path)
    return table


def test_shell_table_options_filter_and_group(chexpert_sample, capsys):
    parser = argparse.ArgumentParser()
    add_label_table_options(parser, groups=True)
    args = parser.parse_args([
        "--images", str(chexpert_sample.parents[1]), "--where", "Frontal/Lateral=Frontal",
        "--where", "Age<=60", "--group-from-path", PATIENT, "--findings", "Edema,Atelectasis",
    ])  # fmt: skip
    table = read_table(args, chexpert_sample)
    frame = pd.read_csv(chexpert_sample)
    kept = (frame["Frontal/Lateral"] == "Frontal") & (frame["Age"] <= 60)
    assert 0 < len(table) == int(kept.sum()) and table.findings == ["Edema", "Atelectasis"]
    assert table.groups.tolist() == frame.loc[kept, "Path"].str.extract(f"({PATIENT})")[0].tolist()
    settings = table_settings(args)
    assert settings["where"] == ["Frontal/Lateral=Frontal", "Age<=60"]
    assert settings["group_from_path"] == PATIENT
    status = main([
        "train", str(chexpert_sample), "--preset", "x", "--out", "y", "--group-column",
        "Patient ID", "--group-from-path", PATIENT,
    ])  # fmt: skip
    assert status == 2
    assert "--group-from-path: not allowed with argument --group-column" in capsys.readouterr().err


@pytest.mark.slow
def test_train_and_evaluate_from_the_shell_on_real_chexpert_rows(chexpert_sample, tmp_path, capsys):
    table = chexpert_sample
    keras.utils.set_random_seed(3)
    build_tiny_classifier(num_classes=2).save_to_preset(str(tmp_path / "base"))
    options = [
        "--images", str(table.parents[1]), "--where", "Frontal/Lateral=Frontal",
        "--findings", ",".join(COMPETITION_FINDINGS), "--uncertainty", "ones",
        "--unmentioned", "zeros",
    ]  # fmt: skip
    status = main([
        "train", str(table), "--preset", str(tmp_path / "base"), "--out", str(tmp_path / "model"),
        "--group-from-path", PATIENT, "--no-pretrained", "--quiet", "--warmup-epochs", "0",
        "--epochs", "1", "--batch-size", "16", "--augment", "none", *options,
    ])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    capsys.readouterr()
    status = main([
        "evaluate", str(tmp_path / "model"), str(table), "--json", "--quiet",
        "--roc", str(tmp_path / "roc.png"), *options,
    ])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    frontal = int(pd.read_csv(table)["Frontal/Lateral"].eq("Frontal").sum())
    assert [finding["name"] for finding in report["findings"]] == COMPETITION_FINDINGS
    # U-Ones and unmentioned as zeros: every frontal row counts for each finding.
    for finding in report["findings"]:
        assert finding["positives"] + finding["negatives"] == frontal
