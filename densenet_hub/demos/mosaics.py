"""Multi-label data as chest X-ray studies have it, made offline from
scikit-learn's bundled digits: mosaics of several digits with CheXpert-style
tables.

Each mosaic is a 2x2 grid holding two to four handwritten digits (the other
cells blank); its findings are the digits present, ten 0/1 labels as a
CheXpert `train.csv` records them. A synthetic patient is a few source
scans: all of a patient's mosaics reuse those scans, so a split by mosaic
would leak a patient's digits into validation, as a split by image leaked
patients in early ChestX-ray14 work. Some training labels are marked
uncertain (-1) or left empty (not mentioned), as CheXpert's report labeller
leaves them. The test mosaics come from scans no training mosaic uses, and
their labels are all certain, like CheXpert's radiologist-labelled
validation set.
"""

import csv
import dataclasses
import pathlib

import numpy as np
import PIL.Image

from densenet_hub.demos.digits import IMAGE_SIZE
from densenet_hub.demos.digits import digit_picture
from densenet_hub.demos.digits import split_digit_scans

FINDINGS = tuple(f"digit_{digit}" for digit in range(10))
PATH_COLUMN = "Path"
GROUP_COLUMN = "Patient ID"
GRID = 2
CELL_SIZE = IMAGE_SIZE // GRID
DIGITS_PER_MOSAIC = (2, 4)  # at least, at most
SCANS_PER_PATIENT = 5
MOSAICS_PER_PATIENT = 5
TEST_FRACTION = 0.25
# Of the training labels: entries marked -1, and entries of absent digits
# left empty (a report that does not mention a finding rarely shows it).
UNCERTAIN_RATE = 0.05
UNMENTIONED_RATE = 0.05
UNCERTAIN, UNMENTIONED = "-1", ""


@dataclasses.dataclass
class MosaicSplit:
    """One side of the mosaics `write_mosaic_tables` wrote.

    Attributes:
        table: its CheXpert-style CSV.
        truth: `(mosaics, 10)` int 0/1 array, the digits each mosaic really
            holds, in the table's row order.
        patients: the patient id of each mosaic.
        sources: the rows of `sklearn.datasets.load_digits()` each mosaic is
            made of.
        uncertain: how many entries the table marks uncertain (-1).
        unmentioned: how many it leaves empty.
    """

    table: pathlib.Path
    truth: np.ndarray
    patients: list
    sources: list
    uncertain: int = 0
    unmentioned: int = 0

    def first_mosaics(self, count):
        """The first mosaic of each of the first `count` patients."""
        patients = list(dict.fromkeys(self.patients))[:count]
        return [self.table.parent / self.table.stem / f"{patient}_0.png" for patient in patients]


def write_mosaic_tables(folder, images_per_class=None, seed=0):
    """Writes digit mosaics as 32x32 grayscale PNGs under `folder`/`train`
    and `folder`/`test`, and their CheXpert-style tables `train.csv` and
    `test.csv` (columns `Path`, `digit_0` to `digit_9`, `Patient ID`).

    The scans are split first (a quarter of each digit's for testing), so no
    test mosaic holds a scan a training mosaic holds. Only `train.csv` marks
    labels uncertain or leaves them empty.

    Args:
        folder: where to write; created if absent.
        images_per_class: use at most this many source scans of each digit
            (default: all 1,797, about 180 per digit).
        seed: seed of every random choice.

    Returns:
        `(train, test)`, two `MosaicSplit`s.

    Example:
    ```python
    import tempfile
    from densenet_hub.demos import write_mosaic_tables

    train, test = write_mosaic_tables(tempfile.mkdtemp(), images_per_class=8)
    assert train.table.name == "train.csv" and len(test.truth) > 0
    train_scans = {scan for scans in train.sources for scan in scans}
    assert train_scans.isdisjoint(scan for scans in test.sources for scan in scans)
    ```
    """
    rng = np.random.default_rng(seed)
    digits, splits = split_digit_scans(images_per_class, rng, TEST_FRACTION)
    test_scans = [row for test_rows, _ in splits for row in test_rows]
    train_scans = [row for _, train_rows in splits for row in train_rows]
    folder = pathlib.Path(folder)
    return (
        _write_split(folder, "train", np.asarray(train_scans), digits, rng, marks=True),
        _write_split(folder, "test", np.asarray(test_scans), digits, rng, marks=False),
    )


def _write_split(folder, split, scans, digits, rng, marks):
    """Writes one split's mosaics and table."""
    (folder / split).mkdir(parents=True, exist_ok=True)
    scans = rng.permutation(scans)
    patients = [scans[start:start + SCANS_PER_PATIENT]
                for start in range(0, len(scans), SCANS_PER_PATIENT)]  # fmt: skip
    # A last patient too small for a mosaic joins the one before.
    if len(patients) > 1 and len(patients[-1]) < DIGITS_PER_MOSAIC[0]:
        patients[-2] = np.concatenate(patients[-2:])
        patients.pop()
    result = MosaicSplit(folder / f"{split}.csv", [], [], [])
    rows = []
    for number, patient_scans in enumerate(patients):
        patient = f"{split}_patient{number:04d}"
        for mosaic in range(MOSAICS_PER_PATIENT):
            most = min(DIGITS_PER_MOSAIC[1], len(patient_scans))
            chosen = rng.choice(patient_scans, size=rng.integers(DIGITS_PER_MOSAIC[0], most + 1),
                                replace=False)  # fmt: skip
            name = f"{split}/{patient}_{mosaic}.png"
            _mosaic(digits.images[chosen], rng.permutation(GRID * GRID)).save(folder / name)
            present = np.zeros(len(FINDINGS), "int64")
            present[digits.target[chosen]] = 1
            cells = _marked(present, rng) if marks else [str(value) for value in present]
            rows.append([name, *cells, patient])
            result.truth.append(present)
            result.patients.append(patient)
            result.sources.append(chosen.tolist())
            result.uncertain += cells.count(UNCERTAIN)
            result.unmentioned += cells.count(UNMENTIONED)
    with open(result.table, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([PATH_COLUMN, *FINDINGS, GROUP_COLUMN])
        writer.writerows(rows)
    result.truth = np.asarray(result.truth)
    return result


def _marked(present, rng):
    """A training row's cells: some uncertain, some absent digits unmentioned."""
    cells = [str(value) for value in present]
    draws = rng.random((2, len(present)))
    for index, value in enumerate(present):
        if draws[0, index] < UNCERTAIN_RATE:
            cells[index] = UNCERTAIN
        elif not value and draws[1, index] < UNMENTIONED_RATE:
            cells[index] = UNMENTIONED
    return cells


def _mosaic(scans, cells):
    """A grayscale mosaic with each 8x8 scan enlarged into a grid cell (the
    first `len(scans)` of `cells`); the other cells stay black."""
    mosaic = PIL.Image.new("L", (IMAGE_SIZE, IMAGE_SIZE))
    for grey_levels, cell in zip(scans, cells):
        row, column = divmod(int(cell), GRID)
        mosaic.paste(digit_picture(grey_levels, CELL_SIZE), (column * CELL_SIZE, row * CELL_SIZE))
    return mosaic
