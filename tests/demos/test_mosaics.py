"""`densenet_hub.demos.mosaics`: digit mosaics with CheXpert-style tables,
synthetic patients and uncertain labels, for `densenet-hub demo --multi-label`."""

import csv

import numpy as np
import pytest
from sklearn.datasets import load_digits

from densenet_hub.data import read_image
from densenet_hub.data import read_label_table
from densenet_hub.demos.mosaics import CELL_SIZE
from densenet_hub.demos.mosaics import FINDINGS
from densenet_hub.demos.mosaics import GROUP_COLUMN
from densenet_hub.demos.mosaics import write_mosaic_tables

SCANS_PER_DIGIT = 12


@pytest.fixture(scope="module")
def mosaics(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mosaics")
    return folder, *write_mosaic_tables(folder, images_per_class=SCANS_PER_DIGIT, seed=3)


def _rows(table):
    with open(table, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_labels_are_the_digits_of_the_scans_in_each_mosaic(mosaics):
    _, train, test = mosaics
    target = load_digits().target
    for split in (train, test):
        assert len(split.truth) == len(split.sources) == len(split.patients) > 0
        for truth, sources in zip(split.truth, split.sources):
            assert 2 <= len(sources) <= 4
            assert set(np.flatnonzero(truth)) == set(target[sources])
    # A quarter of each digit's 12 scans (3) are test scans, 9 training ones.
    test_scans = sorted({scan for sources in test.sources for scan in sources})
    assert sorted(target[test_scans]) == sorted(list(range(10)) * 3)


def test_tables_hold_the_truth_with_uncertain_and_unmentioned_marks_in_training_only(mosaics):
    folder, train, test = mosaics
    for split in (train, test):
        rows = _rows(split.table)
        assert list(rows[0]) == ["Path", *FINDINGS, GROUP_COLUMN]
        cells = np.array([[row[name] for name in FINDINGS] for row in rows])
        truth = split.truth.astype(str)
        marked = cells != truth
        assert set(cells[marked]) <= {"-1", ""}
        assert not (cells[truth == "1"] == "").any()  # only absent digits go unmentioned
        assert [row[GROUP_COLUMN] for row in rows] == split.patients
        assert ((cells == "-1").sum(), (cells == "").sum()) == (split.uncertain, split.unmentioned)
    assert train.uncertain > 0 and train.unmentioned > 0
    assert test.uncertain == test.unmentioned == 0

    table = read_label_table(train.table, group_column=GROUP_COLUMN, uncertainty="ignore")
    assert table.findings == list(FINDINGS)
    assert int(table.uncertain.sum()) == train.uncertain
    assert int((table.weights == 0).sum()) == train.uncertain + train.unmentioned
    assert (table.targets[table.weights > 0] == train.truth[table.weights > 0]).all()
    assert table.paths[0] == folder / _rows(train.table)[0]["Path"]


def test_mosaics_sharing_a_scan_belong_to_one_patient_and_test_scans_are_unseen(mosaics):
    _, train, test = mosaics
    patient_of_scan = {}
    for split in (train, test):
        for patient, sources in zip(split.patients, split.sources):
            for scan in sources:
                assert patient_of_scan.setdefault(scan, patient) == patient
    train_scans = {scan for sources in train.sources for scan in sources}
    assert train_scans.isdisjoint(scan for sources in test.sources for scan in sources)
    # Patients reuse their scans: far fewer scans than scan uses.
    assert len(train_scans) < sum(map(len, train.sources)) / 2
    assert len(set(train.patients)) > 1


def test_mosaic_images_show_one_digit_per_filled_cell(mosaics):
    folder, train, _ = mosaics
    for row, sources in zip(_rows(train.table)[:10], train.sources):
        pixels = read_image(folder / row["Path"])
        assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8
        cells = pixels[..., 0].reshape(2, CELL_SIZE, 2, CELL_SIZE).max(axis=(1, 3))
        assert (cells > 100).sum() == len(sources) and (cells == 0).sum() == 4 - len(sources)


def test_first_mosaics_are_one_per_patient(mosaics):
    _, _, test = mosaics
    examples = test.first_mosaics(2)
    assert [path.name for path in examples] == ["test_patient0000_0.png", "test_patient0001_0.png"]
    assert all(path.is_file() for path in examples)
