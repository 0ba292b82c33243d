"""`densenet-hub train` (saving, pausing, resuming after Ctrl-C, bad data)
and `densenet-hub demo`, through `main([...])`."""

import json
import os
import signal
import threading
import time

import keras
import numpy as np
import PIL.Image
import pytest

from densenet_hub.training import classifier as loading
from densenet_hub.training.compile_notice import COMPILING
from densenet_hub.cli.main import main
from densenet_hub.models import ImageClassifier
from helpers.cli import error_line
from helpers.cli import write_graded_noise_images
from helpers.models import save_tiny_classifier_preset

CLASSES = ["a", "b", "c"]
IMAGES_PER_CLASS = 4


def write_png(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(pixels).save(path)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny classifier preset to fine-tune (its head gets replaced)."""
    return save_tiny_classifier_preset(tmp_path_factory.mktemp("base") / "preset")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Three classes of four 32x32 images: dark, mid-grey and bright noise."""
    return write_graded_noise_images(tmp_path_factory.mktemp("data"), CLASSES, IMAGES_PER_CLASS)


def train_args(data, base, out, *extra):
    return ["train", str(data), "--preset", str(base), "--out", str(out),
            "--batch-size", "4", "--warmup-learning-rate", "1e-2",
            "--learning-rate", "1e-2", *extra]  # fmt: skip


def state(out):
    return json.loads((out.parent / f"{out.name}.checkpoints" / "state.json").read_text())


def test_train_pauses_restarts_resumes_and_saves_a_preset(data, base, tmp_path, capsys):
    out = tmp_path / "model"
    args = train_args(data, base, out, "--warmup-epochs", "1", "--epochs", "2")
    assert main([*args, "--stop-after-epochs", "1"]) == 75
    captured = capsys.readouterr()
    assert "3 classes, 9 training and 3 validation images" in captured.out
    assert "stopped after epoch 1 of 3" in captured.err
    assert state(out)["epochs_done"] == 1 and not out.exists()

    # Other settings cannot resume this checkpoint; --restart starts over.
    changed = train_args(data, base, out, "--warmup-epochs", "1", "--epochs", "2", "--seed", "1")
    assert main(changed) == 1
    assert "made with other settings (seed: 0 then, 1 now" in error_line(capsys)
    assert main([*args, "--restart", "--stop-after-epochs", "2"]) == 75
    captured = capsys.readouterr()
    assert "resuming" not in captured.out
    assert "warm-up with the backbone frozen: epoch 1 to 1 of 3" in captured.out
    assert "fine-tuning the whole model: epoch 2 to 3 of 3" in captured.out
    saved = state(out)
    assert saved["epochs_done"] == 2
    checkpoint = out.parent / "model.checkpoints"
    assert sorted(p.name for p in checkpoint.iterdir()) == sorted(
        {"state.json", saved["weights"], saved["optimizer"], saved["best"]["weights"]}
    )

    # Resumed in the middle of the fine-tuning phase: weights and optimizer
    # come back, and only the last epoch runs.
    assert main(args) == 0
    out_text = capsys.readouterr().out
    assert "resuming from epoch 2 of 3" in out_text
    assert "Epoch 3/3" in out_text and "val_accuracy" in out_text
    assert "Epoch 1/3" not in out_text and "Epoch 2/3" not in out_text
    assert "of 3, validation accuracy" in out_text
    assert json.loads((out / "class_names.json").read_text()) == CLASSES
    assert not checkpoint.exists()

    classifier = ImageClassifier.from_preset(str(out))
    assert classifier.num_classes == 3 and classifier.backbone.trainable
    image = data / "c" / "0.png"
    assert main(["predict", str(out), str(image), "--json", "--top-k", "3"]) == 0
    result = json.loads(capsys.readouterr().out)[0]["predictions"]
    assert sorted(p["label"] for p in result) == CLASSES
    pixels = np.asarray(PIL.Image.open(image).convert("RGB"))
    expected = keras.ops.convert_to_numpy(
        keras.ops.softmax(classifier.predict_on_batch([pixels]), axis=-1)
    )[0]
    assert abs(result[0]["probability"] - expected.max()) < 1e-5


def test_train_resumes_after_ctrl_c(data, base, tmp_path, capsys):
    out = tmp_path / "model"
    state_file = tmp_path / "model.checkpoints" / "state.json"

    def interrupt_after_first_epoch():
        deadline = time.monotonic() + 300
        while not state_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    # Ctrl-C raises KeyboardInterrupt, as in a shell, even in a test worker
    # that set SIGINT up otherwise.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=interrupt_after_first_epoch, daemon=True)
    watcher.start()
    try:
        status = main(train_args(data, base, out, "--warmup-epochs", "0", "--epochs", "100"))
    finally:
        watcher.join()
        signal.signal(signal.SIGINT, previous)
    assert status == 130
    assert "interrupted; the checkpoint of epoch" in capsys.readouterr().err
    epochs_done = state(out)["epochs_done"]
    assert 1 <= epochs_done < 100

    # The number of epochs may change on resumption: asking for the epochs
    # already done, the resumed run only saves the best checkpoint.
    resumed = train_args(data, base, out, "--warmup-epochs", "0", "--epochs", str(epochs_done))
    assert main(resumed) == 0
    out_text = capsys.readouterr().out
    assert f"resuming from epoch {epochs_done} of {epochs_done}" in out_text
    assert "Epoch " not in out_text
    assert f"of {epochs_done}, validation accuracy" in out_text
    assert (out / "task.weights.h5").is_file()


def _compiles_with_xla():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return bool(model.jit_compile)


def test_train_says_once_when_the_first_epoch_compiles(data, base, tmp_path, capsys):
    # Two phases, each compiling its own steps: one line, before the first batch.
    args = train_args(data, base, tmp_path / "model", "--warmup-epochs", "1", "--epochs", "1")
    assert main(args) == 0
    captured = capsys.readouterr()
    expected = 1 if _compiles_with_xla() else 0
    assert captured.err.count(COMPILING) == expected, captured.err
    quiet = train_args(data, base, tmp_path / "quiet", "--warmup-epochs", "0", "--epochs", "1",
                       "--quiet")  # fmt: skip
    assert main(quiet) == 0
    assert COMPILING not in capsys.readouterr().err


def test_train_without_pretrained_weights_skips_the_frozen_warm_up(data, base, tmp_path, capsys):
    out = tmp_path / "model"
    args = train_args(data, base, out, "--no-pretrained", "--warmup-epochs", "2",
                      "--epochs", "1", "--keep-checkpoints")  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "no warm-up with --no-pretrained" in printed and "--warmup-epochs 2 left out" in printed
    assert "warm-up with the backbone frozen" not in printed
    assert "0 warm-up and 1 fine-tuning epoch(s)" in printed
    assert "fine-tuning the whole model: epoch 1 to 1 of 1" in printed
    assert state(out)["epochs_done"] == 1 and state(out)["settings"]["warmup_epochs"] == 0

    # Nothing but a warm-up asked for: refused before any work.
    only_warmup = train_args(data, base, tmp_path / "other", "--no-pretrained", "--epochs", "0")
    assert main(only_warmup) == 1
    assert "--no-pretrained trains the whole model from the first epoch" in error_line(capsys)
    assert not (tmp_path / "other.checkpoints").exists()


def make_folder(root, counts):
    root.mkdir(parents=True)
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            write_png(root / name / f"{i}.png", np.zeros((8, 8, 3), "uint8"))
    return root


@pytest.mark.parametrize(
    "counts, message",
    [
        ({"a": 3, "b": 1}, "holds 1 image(s) but at least 2 are needed"),
        ({"a": 3, "b": 0}, "holds no readable images"),
        ({"a": 3}, "a classifier needs at least two classes"),
        ({}, "has no class sub-folders"),
    ],
)
def test_train_refuses_unusable_data(base, tmp_path, capsys, counts, message):
    data = make_folder(tmp_path / "data", counts)
    assert main(train_args(data, base, tmp_path / "out")) == 1
    line = error_line(capsys)
    assert message in line
    assert not (tmp_path / "out.checkpoints").exists()


def test_train_refuses_a_missing_folder_and_a_full_output(data, base, tmp_path, capsys):
    assert main(train_args(tmp_path / "nowhere", base, tmp_path / "out")) == 1
    assert "does not exist" in error_line(capsys)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(train_args(data, base, full)) == 1
    assert "--overwrite" in error_line(capsys)
    assert (full / "keep.txt").read_text() == "mine"


def test_train_from_an_architecture_name_needs_no_download(tmp_path, monkeypatch, capsys):
    # No weights and no network: the built-in's architecture comes from the
    # presets table, and nothing is looked up in the (empty) hub cache.
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "empty_cache"))
    classifier = loading.classifier_for_training(
        "densenet121_imagenet", num_classes=2, pretrained=False, image_size=(40, 40)
    )
    assert classifier.backbone.stackwise_num_repeats == [6, 12, 24, 16]
    assert classifier.backbone.count_params() == 7_037_504
    assert classifier.preprocessor.image_size == (40, 40)
    assert not (tmp_path / "empty_cache").exists()


# === demo ===


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    status = main(["demo", "--out", str(out), "--images-per-class", "4", "--epochs", "1",
                   "--min-accuracy", "0", "--quiet"])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "accuracy on 10 held-out digits" in captured.out
    for path in ("digits_preset/task.json", "digits_preset/class_names.json",
                 "confusion_matrix.png", "explain"):  # fmt: skip
        assert (out / path).exists(), path
    assert len(list((out / "explain").glob("*.png"))) == 3
    assert main(["demo", "--out", str(out)]) == 1
    assert "--overwrite" in error_line(capsys)


def test_backbone_with_a_fixed_image_shape_trains_at_that_size(data, tmp_path, capsys):
    # A preset without an image converter, whose backbone takes 32x32 only:
    # training used to resize to 224x224 and fail with a shape error.
    from helpers.models import build_tiny_backbone

    backbone = tmp_path / "backbone"
    build_tiny_backbone(image_shape=(32, 32, 3)).save_to_preset(str(backbone))
    out = tmp_path / "model"
    args = train_args(data, backbone, out, "--warmup-epochs", "0", "--epochs", "1")
    assert main(args) == 0, capsys.readouterr().err
    assert "normalisation at 32x32" in capsys.readouterr().err
    assert ImageClassifier.from_preset(str(out)).preprocessor.image_size == (32, 32)

    assert main([*args, "--overwrite", "--restart", "--image-size", "48"]) == 1
    assert "built for 32x32 images" in error_line(capsys)


def _batchnorm_momenta(model):
    return {
        layer.momentum
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.BatchNormalization)
    }


def test_fresh_weights_train_with_short_run_batchnorm_and_pretrained_keep_theirs(base):
    # From scratch, BatchNorm's moving statistics must follow the fast-moving
    # activations within an epoch of a few dozen steps, or validation (which
    # uses them) stays near chance while training accuracy climbs (the
    # demo's log: 0.10-0.28 for 4 epochs). Fine-tuning keeps Keras' default.
    fresh = loading.classifier_for_training(str(base), 3, pretrained=False)
    assert _batchnorm_momenta(fresh) == {0.9}
    pretrained = loading.classifier_for_training(str(base), 3, pretrained=True)
    assert _batchnorm_momenta(pretrained) == {0.99}
