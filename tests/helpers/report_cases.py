"""Inputs of the evaluation report's tests: a CheXpert-style table of
small generated images with the metadata columns subgroups are made of
(sex, age, view position, one sex with no Edema positive), beside a tiny
sigmoid classifier preset with finding names and thresholds; and a class
folder beside a tiny single-label preset. Shared by the report tests and
the browser test."""

import keras
import numpy as np
import PIL.Image
from helpers.models import build_tiny_classifier

from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.training.classifier import save_classifier

FINDINGS = ["Effusion", "Edema", "Mass"]
THRESHOLDS = [0.5, 0.48, 0.52]
ROWS = 48
CLASSES = ["cat", "dog", "fox"]


def write_multilabel_case(root):
    """Writes `root/test.csv` (CheXpert layout: `Path`, `Sex`, `Age`, `AP/PA`,
    the findings with 1, 0, -1 and empty cells), its images under
    `root/train/patientNNNNN/study1/`, and `root/preset`. Every `Sex=U`
    row is negative for Edema, so that subgroup's Edema AUROC is n/a."""
    rng = np.random.default_rng(7)
    lines = ["Path,Sex,Age,AP/PA," + ",".join(FINDINGS)]
    for row in range(ROWS):
        targets = rng.integers(0, 2, len(FINDINGS))
        sex = "FMU"[row % 3]
        if sex == "U":
            targets[1] = 0
        pixels = rng.integers(0, 256, (32, 32, 3), dtype="uint8")
        # The findings brighten stripes, so that the scores depend on them.
        for index, present in enumerate(targets):
            pixels[:, index * 10 : index * 10 + 10] //= 1 if present else 3
        folder = root / "train" / f"patient{row // 2:05d}" / "study1"
        folder.mkdir(parents=True, exist_ok=True)
        PIL.Image.fromarray(pixels).save(folder / f"view{row % 2 + 1}_frontal.png")
        cells = [str(value) for value in targets]
        if row % 11 == 4:
            cells[2] = "-1"
        if row % 13 == 5:
            cells[0] = ""
        age = "" if row == 9 else str(18 + 2 * row)
        position = "AP" if row % 4 else "PA"
        path = f"train/patient{row // 2:05d}/study1/view{row % 2 + 1}_frontal.png"
        lines.append(f"{path},{sex},{age},{position}," + ",".join(cells))
    (root / "test.csv").write_text("\n".join(lines) + "\n")
    keras.utils.set_random_seed(5)
    classifier = build_tiny_classifier(num_classes=len(FINDINGS), activation="sigmoid")
    save_classifier(classifier, ClassLabels(FINDINGS, thresholds=THRESHOLDS), root / "preset")
    return root / "test.csv", root / "preset"


def write_single_label_case(root):
    """Writes a class folder `root/images/<class>/N.png` (4 images per
    class) and a tiny 3-class preset `root/preset` with those names."""
    rng = np.random.default_rng(8)
    for index, name in enumerate(CLASSES):
        (root / "images" / name).mkdir(parents=True)
        for number in range(4):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype="uint8")
            pixels[:, index * 10 : index * 10 + 10] = 255
            PIL.Image.fromarray(pixels).save(root / "images" / name / f"{number}.png")
    keras.utils.set_random_seed(6)
    save_classifier(build_tiny_classifier(num_classes=3), ClassLabels(CLASSES), root / "preset")
    return root / "images", root / "preset"
