"""`densenet_hub.training`: `finetune` on a tiny classifier and tiny PNG
files (training, pausing and resuming, clear errors) and its parts."""

import pathlib
import warnings

import keras
import numpy as np
import PIL.Image
import pytest

import densenet_hub
from densenet_hub import training
from densenet_hub.data import SkippedImageWarning

README = pathlib.Path(__file__).parents[1] / "README.md"
README_SECTION = "### Fine-tuning and Grad-CAM in Python"
IMAGES_PER_CLASS = 4
SETTINGS = dict(warmup_learning_rate=1e-2, learning_rate=1e-2, augment=(), batch_size=4,
                verbose=0)  # fmt: skip


def tiny_classifier(num_classes=2, seed=3):
    keras.utils.set_random_seed(seed)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    return densenet_hub.models.DenseNetImageClassifier(
        backbone,
        num_classes=num_classes,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two classes of 32x32 noise, dark and bright: `(paths, labels)`."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(5)
    paths, labels = [], []
    for label in range(2):
        for i in range(IMAGES_PER_CLASS):
            pixels = rng.integers(0, 100, size=(32, 32, 3)) + 150 * label
            path = root / f"{label}_{i}.png"
            PIL.Image.fromarray(pixels.astype("uint8")).save(path)
            paths.append(path)
            labels.append(label)
    return paths, np.array(labels)


def weights_of(classifier):
    return [np.array(w) for w in classifier.backbone.get_weights()]


# Loading a checkpoint's weights into a fresh, uncompiled classifier skips
# the optimizer state they hold, as it should.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_finetune_trains_and_ends_on_the_best_epoch(images, tmp_path):
    paths, labels = images
    classifier = tiny_classifier()
    preprocessor = classifier.preprocessor
    backbone_before = weights_of(classifier)
    head_before = classifier.output_dense.get_weights()[0]
    result = training.finetune(
        classifier, paths, labels, tmp_path / "ckpt", warmup_epochs=1, epochs=3, **SETTINGS
    )
    assert (result.epochs_done, result.total_epochs, result.paused) == (4, 4, False)
    losses = result.history["loss"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert not np.allclose(classifier.output_dense.get_weights()[0], head_before)
    # The last epoch, kept in the checkpoint, fine-tuned the backbone too.
    last = tiny_classifier()
    last.load_weights(tmp_path / "ckpt" / "epoch_0004.weights.h5")
    assert any(not np.allclose(a, b) for a, b in zip(backbone_before, weights_of(last)))
    val_losses = result.history["val_loss"]
    assert result.best_epoch == 1 + int(np.argmin(val_losses))
    assert result.best_val_loss == pytest.approx(min(val_losses))
    # The classifier comes back whole, with the best epoch's weights.
    assert result.classifier is classifier and classifier.preprocessor is preprocessor
    assert classifier.backbone.trainable and not classifier.backbone.memory_efficient
    best = tiny_classifier()
    best.load_weights(tmp_path / "ckpt" / f"best_{result.best_epoch:04d}.weights.h5")
    for a, b in zip(weights_of(best), weights_of(classifier)):
        np.testing.assert_array_equal(a, b)
    scores = classifier.predict([np.asarray(PIL.Image.open(paths[-1]))], verbose=0)
    assert scores.shape == (1, 2)


def test_finetune_pauses_and_resumes_at_the_next_epoch(images, tmp_path):
    paths, labels = images
    checkpoint = tmp_path / "ckpt"
    phase = dict(warmup_epochs=0, epochs=2, **SETTINGS)
    first = training.finetune(tiny_classifier(), paths, labels, checkpoint,
                              stop_after_epochs=1, **phase)  # fmt: skip
    assert (first.paused, first.epochs_done, len(first.history["loss"])) == (True, 1, 1)

    # A fresh classifier resumes in the middle of the phase: only the last
    # epoch runs, from the saved weights and optimizer state.
    resumed = training.finetune(tiny_classifier(), paths, labels, checkpoint, **phase)
    assert (resumed.paused, resumed.epochs_done, len(resumed.history["loss"])) == (False, 2, 1)
    assert resumed.best_epoch in (1, 2)

    with pytest.raises(training.CheckpointError, match=r"other settings \(seed: 0 then, 1 now"):
        training.finetune(tiny_classifier(), paths, labels, checkpoint, **{**phase, "seed": 1})
    restarted = training.finetune(tiny_classifier(), paths, labels, checkpoint, restart=True,
                                  **{**phase, "seed": 1, "epochs": 1})  # fmt: skip
    assert (restarted.epochs_done, len(restarted.history["loss"])) == (1, 1)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"labels": [0, 0, 0, 0, 1, 1, 1, 2]}, "integers from 0 to 1 (the classifier has 2"),
        ({"labels": [0] * 8}, "a classifier needs images of at least two classes"),
        ({"labels": [0] * 7 + [1]}, "class 1 has 1 image(s) but every class needs at least 2"),
        ({"labels": [0, 1]}, "one class index per path: 8 paths"),
        ({"epochs": 0, "warmup_epochs": 0}, "`warmup_epochs` and `epochs` are both 0"),
        ({"augment": ["flip", "blur"]}, "unknown augmentation(s) 'blur'"),
        ({"on_error": "ignore"}, "`on_error` must be one of 'skip', 'fail', got 'ignore'"),
        ({"val_split": 1.5}, "`val_split` must be between 0 and 1"),
        ({"preprocessor": None}, "has no preprocessor to read the images with"),
    ],
)
def test_finetune_refuses_bad_arguments_before_training(images, tmp_path, change, message):
    paths, labels = images
    classifier = tiny_classifier()
    if "preprocessor" in change:
        classifier.preprocessor = change.pop("preprocessor")
    labels = change.pop("labels", labels)
    with pytest.raises(ValueError) as caught:
        training.finetune(classifier, paths, labels, tmp_path / "ckpt", **change)
    assert message in str(caught.value)
    assert not (tmp_path / "ckpt").exists()


def test_a_folder_that_is_not_a_checkpoint_is_left_alone(images, tmp_path):
    paths, labels = images
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(training.CheckpointError, match="choose another checkpoint folder"):
        training.finetune(tiny_classifier(), paths, labels, tmp_path, restart=True, **SETTINGS)
    assert (tmp_path / "mine.txt").read_text() == "keep"


def test_stratified_split_keeps_every_class_on_both_sides():
    labels = np.array([0] * 10 + [1] * 2 + [2] * 5)
    train, val = training.stratified_split(labels, val_split=0.2, seed=0)
    assert sorted([*train, *val]) == list(range(len(labels)))
    assert np.bincount(labels[val]).tolist() == [2, 1, 1]
    again = training.stratified_split(labels, val_split=0.2, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((train, val), again))


def test_augmentation_layers_are_stock_keras_layers():
    assert training.augmentation_layers([]) is None
    augment = training.augmentation_layers(training.AUGMENTATIONS, seed=0)
    assert [type(layer).__name__ for layer in augment.layers] == [
        "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown augmentation"):
        training.augmentation_layers("flip")


def test_labelled_batches_skip_a_broken_file_with_a_warning(images, tmp_path):
    paths, labels = images
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    batches = training.LabelledBatches(
        [paths[0], broken, paths[-1]], [0, 1, 1], batch_size=3,
        preprocess=lambda images: np.stack(images) / 255.0, on_error="skip",
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x, y = batches[0]
    assert x.shape == (2, 32, 32, 3) and y.tolist() == [0, 1]
    skipped = [w.message for w in caught if w.category is SkippedImageWarning]
    assert [w.path for w in skipped] == [broken]


def test_the_readme_example_runs(tmp_path, monkeypatch):
    # tests/test_docs.py runs other README sections; this one trains, so it
    # runs here, with the other training tests.
    monkeypatch.chdir(tmp_path)
    body = README.read_text().split(README_SECTION, 1)[1].split("\n### ", 1)[0]
    blocks = [part.split("```")[0] for part in body.split("```python")[1:]]
    assert len(blocks) == 1
    exec(compile(blocks[0], "README", "exec"), {})
