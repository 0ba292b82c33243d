"""Test-time augmentation against a direct NumPy computation: the views cut
by hand, the model applied to each, the probabilities averaged."""

import json

import keras
import numpy as np
import PIL.Image
import pytest

from densenet_hub.inference import score_files
from densenet_hub.inference import tta_probabilities
from densenet_hub.inference.augmentation import ten_crop_size
from densenet_hub.inference.augmentation import ten_crops
from helpers.models import build_tiny_classifier

RNG = np.random.default_rng(7)


@pytest.fixture(scope="module")
def classifier():
    # 32x32 inputs scaled by 1/255 (the tiny preprocessor).
    return build_tiny_classifier(num_classes=3, activation="sigmoid")


def _model(classifier, inputs):
    """The network on already preprocessed inputs."""
    return keras.ops.convert_to_numpy(classifier(np.asarray(inputs, "float32"), training=False))


def test_ten_crop_equals_the_crops_cut_by_hand(classifier):
    # 37x37 images: already ten_crop_size((32, 32)), so the resize keeps
    # them, and (37 - 32) / 2 rounds the centre crop's corner to 2.
    assert ten_crop_size((32, 32)) == (37, 37)
    images = [RNG.integers(0, 256, (37, 37, 3)).astype("uint8") for _ in range(2)]
    expected = []
    for image in images:
        x = image.astype("float32") / 255
        views = []
        for view in (x, x[:, ::-1]):
            for top, left in ((0, 0), (0, 5), (5, 0), (5, 5), (2, 2)):
                views.append(view[top : top + 32, left : left + 32])
        expected.append(_model(classifier, views).mean(axis=0))
    got = tta_probabilities(classifier, images, tta="ten-crop")
    assert np.abs(got - np.array(expected)).max() < 1e-5


def test_flip_and_none_equal_the_model_on_each_view(classifier):
    images = [RNG.integers(0, 256, (32, 32, 3)).astype("uint8") for _ in range(3)]
    x = np.stack(images).astype("float32") / 255
    plain, mirrored = _model(classifier, x), _model(classifier, x[:, :, ::-1])
    assert np.abs(tta_probabilities(classifier, images) - plain).max() < 1e-5
    flipped = tta_probabilities(classifier, images, tta="flip")
    assert np.abs(flipped - (plain + mirrored) / 2).max() < 1e-5
    # A real change, so that the comparison above can fail.
    assert np.abs(plain - mirrored).max() > 1e-4


def test_score_files_averages_the_views(classifier, tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        PIL.Image.fromarray(RNG.integers(0, 256, (50, 60, 3)).astype("uint8")).save(paths[-1])
    images = [np.asarray(PIL.Image.open(path)) for path in paths]
    for tta in ("flip", "ten-crop"):
        scored, kept = score_files(classifier, paths, batch_size=2, tta=tta)
        assert kept == [0, 1, 2]
        direct = tta_probabilities(classifier, images, tta=tta)
        assert np.abs(scored - direct).max() < 1e-5
    with pytest.raises(ValueError, match="tta"):
        score_files(classifier, paths, tta="five-crop")


def test_ten_crops_are_torchvisions():
    images = np.arange(2 * 5 * 6).reshape(2, 5, 6, 1)
    crops = ten_crops(images, (3, 3))
    assert crops.shape == (10, 2, 3, 3, 1)
    image = images[1, :, :, 0]
    # torchvision's centre crop: int(round((5 - 3) / 2)) = 1, int(round(1.5)) = 2.
    assert (crops[4, 1, :, :, 0] == image[1:4, 2:5]).all()
    assert (crops[3, 1, :, :, 0] == image[2:5, 3:6]).all()
    mirrored = image[:, ::-1]
    assert (crops[9, 1, :, :, 0] == mirrored[1:4, 2:5]).all()
    with pytest.raises(ValueError, match="do not fit"):
        ten_crops(images, (6, 6))


def test_predict_and_evaluate_from_the_shell_use_the_views(classifier, tmp_path, capsys):
    from sklearn.metrics import roc_auc_score

    from densenet_hub.cli.main import main
    from densenet_hub.presets.class_labels import ClassLabels
    from densenet_hub.training.classifier import save_classifier

    names = ["Edema", "Effusion", "Mass"]
    save_classifier(classifier, ClassLabels(names, [0.5] * 3), tmp_path / "preset")
    targets = np.array([[i % 2, (i // 2) % 2, int(i in (1, 4))] for i in range(6)])
    lines = ["Path," + ",".join(names)]
    images = []
    for i, target in enumerate(targets):
        images.append(RNG.integers(0, 256, (40, 44, 3)).astype("uint8"))
        PIL.Image.fromarray(images[-1]).save(tmp_path / f"{i}.png")
        lines.append(f"{i}.png," + ",".join(map(str, target)))
    (tmp_path / "test.csv").write_text("\n".join(lines) + "\n")
    direct = tta_probabilities(classifier, images, tta="ten-crop")

    assert main(["predict", str(tmp_path / "preset"), str(tmp_path / "0.png"), "--json",
                 "--quiet", "--top-k", "3", "--tta", "ten-crop"]) == 0  # fmt: skip
    for entry in json.loads(capsys.readouterr().out)[0]["findings"]:
        assert abs(entry["probability"] - direct[0, names.index(entry["finding"])]) < 1e-5
    assert main(["evaluate", str(tmp_path / "preset"), str(tmp_path / "test.csv"), "--json",
                 "--quiet", "--tta", "ten-crop", "--roc", str(tmp_path / "roc.png")]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    for index, finding in enumerate(report["findings"]):
        expected = roc_auc_score(targets[:, index], direct[:, index])
        assert abs(finding["auroc"] - expected) < 1e-6
