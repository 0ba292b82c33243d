"""Temperature scaling: fitted on synthetic over-confident outputs, T > 1
and the NLL falls; the fit is the NLL's minimum; a preset saved with it
gives the scaled probabilities when loaded; `evaluate --fit-temperature`
saves it from the shell."""

import json
import math

import numpy as np
import PIL.Image
import pytest

from densenet_hub.evaluation.temperature import fit_temperature
from densenet_hub.evaluation.temperature import scaled_probabilities
from densenet_hub.inference import load_classifier
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.presets.class_labels import read_class_labels
from densenet_hub.presets.class_labels import save_temperatures
from densenet_hub.training.classifier import save_classifier
from helpers.models import build_tiny_classifier

RNG = np.random.default_rng(3)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _nll(p, y):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_over_confident_sigmoid_outputs_get_t_above_one_and_a_lower_nll():
    logits = RNG.normal(0, 1.5, (4000, 2))
    targets = (RNG.random((4000, 2)) < _sigmoid(logits)).astype("float64")
    # Finding 0 three times over-confident, finding 1 half as confident.
    outputs = _sigmoid(logits * np.array([3.0, 0.5]))
    fit = fit_temperature(outputs, targets)
    assert abs(fit.temperatures[0] - 3) < 0.3 and abs(fit.temperatures[1] - 0.5) < 0.06
    assert fit.nll_after < fit.nll_before and fit.ece_after < fit.ece_before
    # The fitted T is the NLL's minimum: T 5% off either way is worse.
    for column, t in enumerate(fit.temperatures):
        y = targets[:, column]
        z = np.log(outputs[:, column]) - np.log1p(-outputs[:, column])
        best = _nll(_sigmoid(z / t), y)
        assert best <= _nll(_sigmoid(z / (t * 1.05)), y)
        assert best <= _nll(_sigmoid(z / (t / 1.05)), y)
    # Masked entries are left out of the fit.
    weights = np.ones_like(targets)
    weights[:2000, 0] = 0
    masked = fit_temperature(outputs, targets, weights)
    alone = fit_temperature(outputs[2000:, :1], targets[2000:, :1])
    assert masked.temperatures[0] == pytest.approx(alone.temperatures[0], rel=1e-6)


def test_a_softmax_fit_has_one_temperature():
    logits = RNG.normal(0, 2, (3000, 4))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    classes = np.array([RNG.choice(4, p=row) for row in probabilities])
    sharp = np.exp(2.5 * logits)
    sharp /= sharp.sum(axis=1, keepdims=True)
    fit = fit_temperature(sharp, classes, multi_label=False)
    assert len(fit.temperatures) == 1 and abs(fit.temperatures[0] - 2.5) < 0.25
    assert fit.nll_after < fit.nll_before
    scaled = scaled_probabilities(sharp, fit.temperatures, multi_label=False)
    assert np.abs(scaled.sum(axis=1) - 1).max() < 1e-9
    assert (scaled.argmax(axis=1) == sharp.argmax(axis=1)).all()


def test_a_saved_preset_applies_its_temperatures_when_loaded(tmp_path):
    classifier = build_tiny_classifier(num_classes=2, activation="sigmoid")
    save_classifier(classifier, ClassLabels(["Edema", "Mass"], [0.5, 0.5]), tmp_path / "p")
    images = RNG.integers(0, 256, (4, 32, 32, 3)).astype("uint8")
    before = np.asarray(load_classifier(str(tmp_path / "p"))[0].predict(images, verbose=0))
    save_temperatures(tmp_path / "p", [2.0, 0.5], {"images": 4})
    loaded, labels = load_classifier(str(tmp_path / "p"))
    assert labels.temperatures == [2.0, 0.5]
    after = np.asarray(loaded.predict(images, verbose=0))
    expected = scaled_probabilities(before, [2.0, 0.5])
    assert np.abs(after - expected).max() < 1e-5
    # A file that does not fit the head is ignored with a warning.
    (tmp_path / "p" / "temperature.json").write_text('{"format": 1, "temperatures": [1, 2, 3]}')
    with pytest.warns(UserWarning, match="temperature"):
        assert read_class_labels(tmp_path / "p", 2, multi_label=True).temperatures is None


def test_evaluate_fit_temperature_saves_it(tmp_path, capsys):
    from densenet_hub.cli.main import main

    classifier = build_tiny_classifier(num_classes=2, activation="sigmoid")
    save_classifier(classifier, ClassLabels(["Edema", "Mass"], [0.5, 0.5]), tmp_path / "p")
    lines = ["Path,Edema,Mass"]
    for i in range(16):
        PIL.Image.fromarray(RNG.integers(0, 256, (32, 32, 3)).astype("uint8")).save(
            tmp_path / f"{i}.png"
        )
        lines.append(f"{i}.png,{i % 2},{int(i % 3 == 0)}")
    (tmp_path / "val.csv").write_text("\n".join(lines) + "\n")
    assert main(["evaluate", str(tmp_path / "p"), str(tmp_path / "val.csv"), "--quiet",
                 "--fit-temperature", "--roc", str(tmp_path / "roc.png")]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "temperature scaling fitted on 16 images: T = Edema" in printed
    record = json.loads((tmp_path / "p" / "temperature.json").read_text())
    assert len(record["temperatures"]) == 2 and record["fit"]["images"] == 16
    assert record["fit"]["nll_after"] <= record["fit"]["nll_before"]
    assert all(math.isfinite(t) and t > 0 for t in record["temperatures"])


def test_evaluate_fit_temperature_on_a_class_folder_fits_one(tmp_path, capsys):
    from densenet_hub.cli.main import main

    classifier = build_tiny_classifier(num_classes=3)
    save_classifier(classifier, ClassLabels(["cat", "dog", "owl"]), tmp_path / "p")
    for name in ("cat", "dog"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            pixels = RNG.integers(0, 256, (32, 32, 3)).astype("uint8")
            PIL.Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    assert main(["evaluate", str(tmp_path / "p"), str(tmp_path / "data"), "--quiet",
                 "--fit-temperature", "--confusion-matrix", str(tmp_path / "cm.png")]) == 0  # fmt: skip
    assert "temperature scaling fitted on 8 images: T = " in capsys.readouterr().out
    record = json.loads((tmp_path / "p" / "temperature.json").read_text())
    assert len(record["temperatures"]) == 1
    assert record["fit"]["nll_after"] <= record["fit"]["nll_before"]
    assert load_classifier(str(tmp_path / "p"))[1].temperatures == record["temperatures"]
    # Not a folder: refused before anything runs.
    assert main(["evaluate", "densenet_121_imagenet", str(tmp_path / "data"),
                 "--fit-temperature"]) == 1  # fmt: skip
    assert "--fit-temperature saves into the preset folder" in capsys.readouterr().err
