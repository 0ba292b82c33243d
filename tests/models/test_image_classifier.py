"""ImageClassifier / DenseNetImageClassifier: head, compile defaults,
preprocessing in fit/evaluate/predict, serialization and KerasHub parity.

Compiling a train or predict step is the slow part of these tests (seconds
under JAX and TensorFlow), so the tests that only read a model share one
(`reader`), the tests that train without checking a starting point share
another (`trainee`), and batches keep one shape.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import h5py
import keras
import numpy as np
import pytest

from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier
from helpers.models import build_tiny_preprocessor

import densenet_hub
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.models import ImageClassifier

NUM_CLASSES = 3
IMAGE_SIZE = 32
# Raw images deliberately not the model's size: only the preprocessor makes
# them fit the backbone's (32, 32, 3) input.
RAW_SHAPE = (40, 48, 3)
BATCH_SIZE = 4
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(densenet_hub.__file__)))


def classifier_of_3(**kwargs):
    """A tiny 3-class classifier whose preprocessor scales to [-0.5, 0.5]."""
    kwargs.setdefault("preprocessor", build_tiny_preprocessor(offset=-0.5))
    return build_tiny_classifier(num_classes=NUM_CLASSES, **kwargs)


def raw_images(rng, count):
    return rng.integers(0, 256, size=(count, *RAW_SHAPE), dtype="uint8")


def model_images(rng, count):
    return rng.uniform(size=(count, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def max_abs_diff(a, b):
    return float(np.max(np.abs(to_numpy(a) - to_numpy(b))))


def manual_scores(classifier, images):
    """Preprocess by hand, then call the graph: what `predict` must equal."""
    return to_numpy(classifier(classifier.preprocessor(images)))


def toy_task(rng, count):
    """Dark images are class 0, bright ones class 1: learnable in a few steps."""
    labels = np.arange(count) % 2
    base = np.where(labels == 0, 40, 200)[:, None, None, None]
    noise = rng.integers(-30, 30, size=(count, *RAW_SHAPE))
    return (base + noise).astype("uint8"), labels


@pytest.fixture(scope="module")
def reader():
    """A classifier the tests only predict and evaluate with."""
    keras.utils.set_random_seed(1)
    return classifier_of_3()


@pytest.fixture(scope="module")
def trainee():
    """A classifier the tests train without relying on its starting weights."""
    keras.utils.set_random_seed(2)
    return classifier_of_3(activation="softmax")


@pytest.fixture(scope="module")
def backbone():
    return build_tiny_backbone()


class BatchList(keras.utils.PyDataset):
    """A PyDataset over a list of ready-made batches."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


class IdRecorder(keras.layers.Layer):
    """Runs another preprocessor and records the first pixel of each image,
    which the test sets to the image's id."""

    def __init__(self, preprocessor):
        super().__init__()
        self.preprocessor = preprocessor
        self.seen = []

    def call(self, x, y=None, sample_weight=None):
        self.seen.append(np.asarray(x)[:, 0, 0, 0])
        return self.preprocessor(x, y, sample_weight)


# === Graph and head ===


@pytest.mark.parametrize("pooling", ["avg", "max"])
@pytest.mark.parametrize("activation", [None, "softmax"])
def test_head_computes_pooling_then_dense(rng, backbone, pooling, activation):
    classifier = ImageClassifier(
        backbone, NUM_CLASSES, pooling=pooling, activation=activation
    )
    images = rng.uniform(-1, 1, size=(2, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")

    scores = to_numpy(classifier(images))
    features = to_numpy(backbone(images))
    pool = np.mean if pooling == "avg" else np.max
    pooled = pool(features, axis=(1, 2))
    kernel, bias = (to_numpy(w) for w in classifier.get_layer("predictions").weights)
    logits = pooled @ kernel + bias
    if activation == "softmax":
        expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    else:
        expected = logits

    assert scores.shape == (2, NUM_CLASSES)
    assert scores.dtype == np.float32
    assert max_abs_diff(scores, expected) < 1e-5
    assert [layer.name for layer in classifier.layers] == [
        "input_layer",
        backbone.name,
        "pooler",
        "output_dropout",
        "predictions",
    ]
    pooler_class = {
        "avg": keras.layers.GlobalAveragePooling2D,
        "max": keras.layers.GlobalMaxPooling2D,
    }[pooling]
    assert type(classifier.get_layer("pooler")) is pooler_class


def test_pooling_follows_a_channels_first_backbone(rng):
    backbone = build_tiny_backbone(
        image_shape=(3, IMAGE_SIZE, IMAGE_SIZE), data_format="channels_first"
    )
    classifier = ImageClassifier(backbone, NUM_CLASSES)
    images = rng.uniform(size=(2, 3, IMAGE_SIZE, IMAGE_SIZE)).astype("float32")
    kernel, bias = (to_numpy(w) for w in classifier.get_layer("predictions").weights)

    pooled = to_numpy(backbone(images)).mean(axis=(2, 3))

    assert classifier.get_layer("pooler").data_format == "channels_first"
    assert max_abs_diff(classifier(images), pooled @ kernel + bias) < 1e-5


def test_dropout_acts_only_in_training(rng, backbone):
    classifier = ImageClassifier(backbone, NUM_CLASSES, dropout=0.5)
    images = model_images(rng, 4)
    dropout = classifier.get_layer("output_dropout")
    pooled = to_numpy(classifier.get_layer("pooler")(backbone(images)))
    kernel, bias = (to_numpy(w) for w in classifier.get_layer("predictions").weights)

    inference = classifier(images, training=False)
    dropped = to_numpy(dropout(pooled, training=True))

    assert dropout.rate == 0.5
    assert max_abs_diff(inference, pooled @ kernel + bias) < 1e-5
    # Training-mode dropout zeroes about half the features, doubles the rest.
    kept = dropped != 0
    assert 0.2 < np.mean(~kept) < 0.8
    assert max_abs_diff(dropped[kept], 2 * pooled[kept]) < 1e-5


def test_head_dtype_sets_the_head_policy():
    backbone = build_tiny_backbone(dtype="mixed_bfloat16")
    images = np.ones((2, IMAGE_SIZE, IMAGE_SIZE, 3), dtype="float32")

    default = ImageClassifier(backbone, NUM_CLASSES)
    float_head = ImageClassifier(backbone, NUM_CLASSES, head_dtype="float32")

    assert default.dtype_policy.name == "mixed_bfloat16"
    assert default.get_layer("predictions").dtype_policy.name == "mixed_bfloat16"
    assert keras.backend.standardize_dtype(default(images).dtype) == "bfloat16"
    for name in ("pooler", "output_dropout", "predictions"):
        assert float_head.get_layer(name).dtype_policy.name == "float32"
    assert float_head.get_layer("predictions").kernel.dtype == "float32"
    assert keras.backend.standardize_dtype(float_head(images).dtype) == "float32"


# === Compilation ===


@pytest.mark.parametrize("activation, from_logits", [(None, True), ("softmax", False)])
def test_compiled_at_construction_with_defaults(backbone, activation, from_logits):
    classifier = ImageClassifier(backbone, NUM_CLASSES, activation=activation)

    assert classifier.compiled
    assert isinstance(classifier.optimizer, keras.optimizers.Adam)
    assert np.isclose(float(classifier.optimizer.learning_rate), 5e-5)
    assert isinstance(classifier.loss, keras.losses.SparseCategoricalCrossentropy)
    assert classifier.loss.get_config()["from_logits"] is from_logits
    metrics = classifier.get_compile_config()["metrics"]
    assert [m["class_name"] for m in metrics] == ["SparseCategoricalAccuracy"]


def test_compile_without_arguments_restores_defaults(backbone):
    classifier = ImageClassifier(backbone, NUM_CLASSES)
    classifier.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert isinstance(classifier.optimizer, keras.optimizers.SGD)

    classifier.compile()

    assert isinstance(classifier.optimizer, keras.optimizers.Adam)
    assert isinstance(classifier.loss, keras.losses.SparseCategoricalCrossentropy)
    assert not ImageClassifier(backbone, NUM_CLASSES, compile=False).compiled


# === Preprocessing in predict / evaluate ===


@pytest.mark.parametrize("kind", ["numpy", "backend_tensor", "py_dataset", "generator"])
def test_predict_preprocesses_and_keeps_order(rng, reader, kind):
    images = raw_images(rng, 3 * BATCH_SIZE)
    batches = [images[i : i + BATCH_SIZE] for i in range(0, len(images), BATCH_SIZE)]
    inputs = {
        "numpy": lambda: images,
        "backend_tensor": lambda: keras.ops.convert_to_tensor(images),
        "py_dataset": lambda: BatchList([(batch,) for batch in batches]),
        "generator": lambda: (batch for batch in batches),
    }[kind]()

    scores = reader.predict(inputs, batch_size=BATCH_SIZE, verbose=0)

    assert scores.shape == (len(images), NUM_CLASSES)
    assert max_abs_diff(scores, manual_scores(reader, images)) < 1e-5


def test_predict_and_evaluate_take_a_list_of_differently_sized_images(rng, reader):
    sizes = [(40, 48), (64, 64), (32, 20), (50, 50)] * 2
    images = [rng.integers(0, 256, size=(h, w, 3), dtype="uint8") for h, w in sizes]
    labels = [0, 1, 2, 0, 1, 2, 0, 1]  # a plain list, as people write them
    expected = manual_scores(reader, images)
    expected_accuracy = np.mean(expected.argmax(axis=1) == np.array(labels))

    scores = reader.predict(images, batch_size=BATCH_SIZE, verbose=0)
    results = reader.evaluate(
        images, labels, batch_size=BATCH_SIZE, verbose=0, return_dict=True
    )

    assert max_abs_diff(scores, expected) < 1e-5
    assert abs(results["sparse_categorical_accuracy"] - expected_accuracy) < 1e-6


def test_calling_the_model_does_not_preprocess(rng, reader):
    images = rng.uniform(0, 255, size=(BATCH_SIZE, IMAGE_SIZE, IMAGE_SIZE, 3))
    images = images.astype("float32")
    expected = manual_scores(reader, images)

    assert max_abs_diff(reader(images), expected) > 1e-3
    assert max_abs_diff(reader.predict(images, verbose=0), expected) < 1e-5


def test_evaluate_scores_the_preprocessed_images(rng, reader):
    images = raw_images(rng, 2 * BATCH_SIZE)
    labels = np.arange(len(images)) % NUM_CLASSES
    logits = manual_scores(reader, images)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected_loss = -log_probs[np.arange(len(images)), labels].mean()
    expected_accuracy = np.mean(logits.argmax(axis=1) == labels)

    results = reader.evaluate(
        images, labels, batch_size=BATCH_SIZE, verbose=0, return_dict=True
    )

    assert abs(results["loss"] - expected_loss) < 1e-5
    assert abs(results["sparse_categorical_accuracy"] - expected_accuracy) < 1e-6


def test_predict_and_test_on_batch_preprocess(rng, reader):
    images = raw_images(rng, BATCH_SIZE)
    labels = np.arange(BATCH_SIZE) % NUM_CLASSES
    expected = manual_scores(reader, images)
    expected_loss = reader.evaluate(
        images, labels, batch_size=BATCH_SIZE, verbose=0, return_dict=True
    )["loss"]

    scores = reader.predict_on_batch(images)
    loss = reader.test_on_batch(images, labels, return_dict=True)["loss"]

    assert max_abs_diff(scores, expected) < 1e-5
    assert abs(loss - expected_loss) < 1e-5


def test_setting_preprocessor_to_none_disables_preprocessing(rng, reader):
    images = model_images(rng, BATCH_SIZE)
    preprocessor = reader.preprocessor
    try:
        reader.preprocessor = None
        assert reader.preprocessor is None
        scores = reader.predict(images, verbose=0)
    finally:
        reader.preprocessor = preprocessor
    assert reader.preprocessor is preprocessor
    assert max_abs_diff(scores, reader(images)) < 1e-5


# === Preprocessing in fit ===


@pytest.mark.slow
def test_fit_learns_a_toy_task_from_raw_images(rng):
    images, labels = toy_task(rng, 16)
    classifier = classifier_of_3()
    classifier.compile(optimizer=keras.optimizers.Adam(1e-2))

    before = classifier.evaluate(images, labels, batch_size=16, verbose=0)[0]
    history = classifier.fit(images, labels, batch_size=16, epochs=3, verbose=0)
    after = classifier.evaluate(images, labels, batch_size=16, verbose=0)[0]

    assert len(history.history["loss"]) == 3
    assert after < before - 0.05, (before, after)


def test_fit_takes_py_datasets_generators_and_validation(rng, trainee):
    images, labels = toy_task(rng, 2 * BATCH_SIZE)
    batches = [
        (images[:BATCH_SIZE], labels[:BATCH_SIZE]),
        (images[BATCH_SIZE:], labels[BATCH_SIZE:]),
    ]

    history = trainee.fit(
        BatchList(batches), validation_data=(images, labels), verbose=0
    )
    expected_logs = {"loss", "val_loss", "val_sparse_categorical_accuracy"}
    assert expected_logs <= set(history.history)

    history = trainee.fit((batch for batch in batches), steps_per_epoch=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    history = trainee.fit(
        images, labels, batch_size=BATCH_SIZE, validation_split=0.5, verbose=0
    )
    assert np.isfinite(history.history["val_loss"][0])


def test_fit_shuffles_samples_each_epoch_unless_told_not_to(rng, trainee):
    count = 3 * BATCH_SIZE
    images, labels = toy_task(rng, count)
    ids = np.arange(count, dtype="uint8")
    images[:, 0, 0, 0] = ids
    preprocessor = trainee.preprocessor
    recorder = IdRecorder(preprocessor)
    trainee.preprocessor = recorder
    try:
        trainee.fit(images, labels, batch_size=BATCH_SIZE, shuffle=False, verbose=0)
        # The TensorFlow backend reads extra batches up front to learn their
        # shapes, so only the last epoch's three batches are compared.
        in_order = np.concatenate(recorder.seen[-3:])
        trainee.fit(images, labels, batch_size=BATCH_SIZE, epochs=2, verbose=0)
        first = np.concatenate(recorder.seen[-6:-3])
        second = np.concatenate(recorder.seen[-3:])
    finally:
        trainee.preprocessor = preprocessor

    assert np.array_equal(in_order, ids)
    for order in (first, second):
        assert sorted(order) == list(ids)
    assert not np.array_equal(first, second)


def test_tf_data_is_preprocessed(rng, trainee):
    import tensorflow as tf
    # Float pixels: resizing inside tf.data and eagerly then agree exactly
    # (eagerly, integer images are rounded back to integers after resizing).
    images = rng.uniform(0, 255, size=(2 * BATCH_SIZE, *RAW_SHAPE)).astype("float32")
    labels = np.arange(len(images)) % NUM_CLASSES
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(BATCH_SIZE)
    expected = manual_scores(trainee, images)

    scores = trainee.predict(dataset.map(lambda x, y: x), verbose=0)
    results = trainee.evaluate(dataset, verbose=0, return_dict=True)
    history = trainee.fit(dataset, epochs=1, verbose=0)

    assert scores.shape == (len(images), NUM_CLASSES)
    assert max_abs_diff(scores, expected) < 1e-5
    assert {"loss", "sparse_categorical_accuracy"} <= set(results)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.slow
@pytest.mark.skipif(
    keras.config.backend() == "tensorflow", reason="the TensorFlow backend needs TF"
)
def test_non_tf_data_inputs_work_without_tensorflow(tmp_path):
    # A `tensorflow` package earlier on the path that fails to import, as a
    # missing one does.
    shadow = tmp_path / "tensorflow"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError('No module named tensorflow', name='tensorflow')\n"
    )
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import densenet_hub

        backbone = densenet_hub.models.DenseNetBackbone(
            [1], growth_rate=4, image_shape=(32, 32, 3)
        )
        preprocessor = densenet_hub.models.DenseNetImageClassifierPreprocessor(
            densenet_hub.layers.DenseNetImageConverter(
                image_size=(32, 32), scale=1 / 255
            )
        )
        classifier = densenet_hub.models.DenseNetImageClassifier(
            backbone, 2, preprocessor=preprocessor
        )
        images = np.random.randint(0, 256, (4, 40, 48, 3)).astype("uint8")
        labels = np.array([0, 1, 0, 1])
        classifier.fit(images, labels, batch_size=4, verbose=0)
        print(classifier.predict(images, verbose=0).shape)
        print("tensorflow" in sys.modules)
        """
    )
    python_path = os.pathsep.join(
        [str(tmp_path), PROJECT_ROOT, os.environ.get("PYTHONPATH", "")]
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=dict(
            os.environ, KERAS_BACKEND=keras.config.backend(), PYTHONPATH=python_path
        ),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == ["(4,", "2)", "False"]


# === Bad data ===


def test_labels_beside_a_dataset_are_rejected(rng, reader):
    images = raw_images(rng, BATCH_SIZE)
    with pytest.raises(ValueError, match="`y` must be None when `x` is a BatchList"):
        reader.evaluate(BatchList([(images,)]), np.zeros(BATCH_SIZE), verbose=0)


def test_mismatched_sample_counts_are_rejected(rng, reader):
    with pytest.raises(ValueError, match=r"same number of samples.*\[3, 4\]"):
        reader.evaluate(raw_images(rng, 4), np.zeros(3), verbose=0)


def test_validation_split_needs_arrays(rng, reader):
    batches = (b for b in [(raw_images(rng, 4), np.zeros(4))])
    with pytest.raises(ValueError, match="`validation_split` only works with array"):
        reader.fit(batches, validation_split=0.5, verbose=0)


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)
def test_torch_data_loader_is_rejected_with_advice(rng, reader):
    import torch.utils.data

    loader = torch.utils.data.DataLoader(list(raw_images(rng, 4)), batch_size=2)
    with pytest.raises(TypeError, match="cannot preprocess a torch.*DataLoader"):
        reader.predict(loader, verbose=0)


# === Serialization ===


def test_config_round_trip_gives_identical_outputs(rng):
    classifier = classifier_of_3(pooling="max", activation="softmax", dropout=0.25)
    config = classifier.get_config()
    json.dumps(config)  # preset files store it as JSON

    restored = DenseNetImageClassifier.from_config(config)
    restored.set_weights(classifier.get_weights())
    images = model_images(rng, 2)

    assert set(config) == {
        "backbone",
        "preprocessor",
        "name",
        "trainable",
        "num_classes",
        "pooling",
        "activation",
        "dropout",
        "head_dtype",
    }
    assert type(restored.backbone) is DenseNetBackbone
    assert type(restored.preprocessor) is DenseNetImageClassifierPreprocessor
    assert restored.get_config() == config
    assert max_abs_diff(classifier(images), restored(images)) == 0


def test_callable_activation_and_head_dtype_serialize(backbone):
    classifier = ImageClassifier(
        backbone,
        NUM_CLASSES,
        activation=keras.activations.softmax,
        head_dtype="float32",
    )
    config = classifier.get_config()
    json.dumps(config)
    restored = ImageClassifier.from_config(config)

    assert config["activation"] == "softmax"
    assert restored.get_layer("predictions").dtype_policy.name == "float32"
    assert restored.loss.get_config()["from_logits"] is False


def test_keras_file_round_trip_keeps_outputs_and_training_state(rng, tmp_path, trainee):
    images, labels = toy_task(rng, BATCH_SIZE)
    trainee.train_on_batch(images, labels)  # raw images: preprocessed first
    path = str(tmp_path / "classifier.keras")

    trainee.save(path)
    loaded = keras.saving.load_model(path)

    assert type(loaded) is DenseNetImageClassifier
    assert type(loaded.preprocessor) is DenseNetImageClassifierPreprocessor
    assert loaded.preprocessor.image_size == (IMAGE_SIZE, IMAGE_SIZE)
    assert int(loaded.optimizer.iterations) == int(trainee.optimizer.iterations) > 0
    assert len(loaded.optimizer.variables) == len(trainee.optimizer.variables)
    for ours, theirs in zip(trainee.optimizer.variables, loaded.optimizer.variables):
        assert max_abs_diff(ours, theirs) == 0
    images = model_images(rng, 2)
    assert max_abs_diff(trainee(images), loaded(images)) == 0


def test_keras_file_keeps_a_custom_compile(tmp_path, backbone):
    classifier = ImageClassifier(backbone, NUM_CLASSES, activation="softmax")
    classifier.compile(
        optimizer=keras.optimizers.SGD(0.125, momentum=0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=2),
        metrics=["sparse_top_k_categorical_accuracy"],
    )
    path = str(tmp_path / "custom.keras")

    classifier.save(path)
    loaded = keras.saving.load_model(path)

    assert isinstance(loaded.optimizer, keras.optimizers.SGD)
    assert float(loaded.optimizer.learning_rate) == 0.125
    assert loaded.optimizer.momentum == 0.5
    assert loaded.loss.get_config()["ignore_class"] == 2
    metrics = loaded.get_compile_config()["metrics"]
    assert metrics == ["sparse_top_k_categorical_accuracy"]


def test_generic_image_classifier_round_trips(rng, tmp_path, backbone):
    classifier = ImageClassifier(backbone, NUM_CLASSES, compile=False)
    path = str(tmp_path / "generic.keras")

    classifier.save(path)
    loaded = keras.saving.load_model(path)

    images = model_images(rng, 2)
    assert type(loaded) is ImageClassifier
    assert loaded.preprocessor is None
    assert max_abs_diff(classifier(images), loaded(images)) == 0


# === Invalid arguments ===


POSITIVE_INT = r"`num_classes` must be a positive integer, got "
DROPOUT = r"`dropout` must be a number in \[0, 1\), got "


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"num_classes": 0}, ValueError, POSITIVE_INT + "0"),
        ({"num_classes": 2.5}, ValueError, POSITIVE_INT + "2.5"),
        ({"num_classes": True}, ValueError, POSITIVE_INT + "True"),
        ({"pooling": "mean"}, ValueError, "`pooling` must be one of 'avg', 'max', got 'mean'"),
        ({"dropout": 1.0}, ValueError, DROPOUT + "1.0"),
        ({"dropout": -0.1}, ValueError, DROPOUT + "-0.1"),
        ({"dropout": "0.5"}, ValueError, DROPOUT + "'0.5'"),
        ({"activation": "sofmax"}, ValueError, "`activation` must be None, .*got 'sofmax'"),
        ({"activation": 3}, ValueError, "`activation` must be None, .*got 3"),
        ({"head_dtype": "float33"}, ValueError, "`head_dtype` must be None, .*got 'float33'"),
        (
            {"preprocessor": len},
            TypeError,
            "`preprocessor` must be None or a keras.layers.Layer, got "
            "builtin_function_or_method",
        ),
        ({"pooler": "avg"}, ValueError, r"unknown keyword argument\(s\) `pooler`"),
    ],
)
def test_invalid_arguments_are_rejected(backbone, kwargs, error, pattern):
    arguments = {"backbone": backbone, "num_classes": NUM_CLASSES, **kwargs}
    with pytest.raises(error, match=pattern) as raised:
        DenseNetImageClassifier(**arguments)
    assert "DenseNetImageClassifier" in str(raised.value)


def test_backbone_must_be_a_feature_map_model():
    with pytest.raises(TypeError, match="`backbone` must be a keras.Model .* got str"):
        ImageClassifier("densenet_121", NUM_CLASSES)
    inputs = keras.Input((8, 8, 3))
    pooled = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(ValueError, match=r"4D feature map .* got shape \(None, 3\)"):
        ImageClassifier(pooled, NUM_CLASSES)


# === KerasHub parity ===


def weight_file_paths(path):
    """Every group and dataset path in a weight file, optimizer state aside."""
    names = []
    with h5py.File(path, "r") as file:
        file.visit(names.append)
    return sorted(n for n in names if not n.startswith("optimizer"))


def randomize_normalization(model, rng):
    """Random BatchNorm and bias values, so that a misplaced variable shows."""
    for variable in model.weights:
        name = variable.path.split("/")[-1]
        if name in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, size=variable.shape)
        elif name in ("beta", "moving_mean", "bias"):
            value = rng.normal(0, 0.1, size=variable.shape)
        else:
            continue
        variable.assign(value.astype("float32"))


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_matches_keras_hub_with_the_same_weights(rng, tmp_path, pooling):
    import keras_hub
    ours = DenseNetImageClassifier(
        build_tiny_backbone(stem_padding="same"), NUM_CLASSES, pooling=pooling
    )
    theirs = keras_hub.models.DenseNetImageClassifier(
        keras_hub.models.DenseNetBackbone(
            stackwise_num_repeats=[2, 2],
            growth_rate=4,
            image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        ),
        NUM_CLASSES,
        pooling=pooling,
    )
    randomize_normalization(ours, rng)
    ours_path = str(tmp_path / "ours.weights.h5")
    ours.save_weights(ours_path)
    theirs.load_weights(ours_path)
    theirs_path = str(tmp_path / "theirs.weights.h5")
    theirs.save_weights(theirs_path)
    round_trip = DenseNetImageClassifier(
        build_tiny_backbone(stem_padding="same"), NUM_CLASSES, pooling=pooling
    )
    round_trip.load_weights(theirs_path)
    images = model_images(rng, 2)

    expected = theirs(images)
    assert weight_file_paths(ours_path) == weight_file_paths(theirs_path)
    assert max_abs_diff(ours(images), expected) < 1e-5
    assert max_abs_diff(round_trip(images), expected) < 1e-5
