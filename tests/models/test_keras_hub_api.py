"""KerasHub's `Backbone` / `Task` API on densenet_hub's generic classes:
`token_embedding`, the LoRA and Transformers-export methods (which say why
they are unavailable), task weight files read and written both ways with the
installed keras_hub, and `fit` / `evaluate` with a Python list of labels."""

import keras
import keras_hub
import numpy as np
import pytest

from helpers.models import TINY_CONFIG
from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier

from densenet_hub.models import Task


def head_weights(task):
    return [keras.ops.convert_to_numpy(w) for w in task.get_layer("predictions").weights]


def test_backbone_has_no_token_embedding_but_it_can_be_set(tiny_backbone):
    assert tiny_backbone.token_embedding is None
    embedding = keras.layers.Embedding(10, 4)
    tiny_backbone.token_embedding = embedding
    assert tiny_backbone.token_embedding is embedding


@pytest.mark.parametrize(
    "method, args",
    [
        ("default_lora_layer_names", ()),
        ("enable_lora", (4,)),
        ("save_lora_weights", ("x.lora.h5",)),
        ("load_lora_weights", ("x.lora.h5",)),
        ("export_to_transformers", ("out",)),
    ],
)
def test_unavailable_keras_hub_methods_say_why(tiny_backbone, method, args):
    with pytest.raises(NotImplementedError, match=rf"\.{method} is not available: "):
        getattr(tiny_backbone, method)(*args)


def test_task_weights_round_trip_without_the_backbone(tmp_path):
    backbone = build_tiny_backbone()
    source = build_tiny_classifier(backbone, preprocessor=None)
    target = build_tiny_classifier(backbone, preprocessor=None)
    path = tmp_path / "task.weights.h5"

    assert source.has_task_weights()
    source.save_task_weights(path)
    target.load_task_weights(str(path))

    for saved, loaded in zip(head_weights(source), head_weights(target)):
        np.testing.assert_array_equal(saved, loaded)
    source.save_task_weights(path)  # replaces the file, as KerasHub does


def test_task_weight_file_names_must_end_in_weights_h5(tiny_classifier, tmp_path):
    for method in (tiny_classifier.save_task_weights, tiny_classifier.load_task_weights):
        with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`, got 'head\.h5'"):
            method(tmp_path / "head.h5")
    assert not (tmp_path / "head.h5").exists()


def test_a_task_without_a_head_has_no_task_weights(tiny_backbone, tmp_path):
    task = Task(tiny_backbone.input, tiny_backbone.output, backbone=tiny_backbone)

    assert not task.has_task_weights()
    with pytest.raises(ValueError, match="has no variables outside its backbone"):
        task.save_task_weights(tmp_path / "t.weights.h5")


def keras_hub_classifier(num_classes=5):
    backbone = keras_hub.models.DenseNetBackbone(**TINY_CONFIG)
    return keras_hub.models.DenseNetImageClassifier(backbone, num_classes=num_classes)


def test_keras_hub_reads_our_task_weights_and_we_read_theirs(tmp_path):
    ours = build_tiny_classifier(preprocessor=None)
    theirs = keras_hub_classifier()

    ours.save_task_weights(tmp_path / "ours.weights.h5")
    theirs.load_task_weights(str(tmp_path / "ours.weights.h5"))
    for a, b in zip(head_weights(ours), head_weights(theirs)):
        np.testing.assert_array_equal(a, b)

    theirs = keras_hub_classifier()
    theirs.save_task_weights(str(tmp_path / "theirs.weights.h5"))
    ours.load_task_weights(tmp_path / "theirs.weights.h5")
    for a, b in zip(head_weights(theirs), head_weights(ours)):
        np.testing.assert_array_equal(a, b)


def test_fit_and_evaluate_take_a_list_of_labels_without_a_preprocessor(rng):
    # Keras alone refuses a list ("Unrecognized data type"); KerasHub takes it.
    images = rng.uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    labels = [0, 3, 1, 4]
    classifier = build_tiny_classifier(preprocessor=None)

    history = classifier.fit(
        images, labels, batch_size=2, epochs=1, verbose=0, validation_data=(images, labels)
    )
    results = classifier.evaluate(images, labels, batch_size=2, verbose=0, return_dict=True)

    assert np.isfinite(history.history["loss"][0])
    assert np.isfinite(history.history["val_loss"][0])
    assert np.isfinite(results["loss"])
