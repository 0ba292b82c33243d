"""The preset weight-file writer: Keras' own `.weights.h5` layout, value for value."""

import h5py
from helpers.weights import max_abs_diff

from densenet_hub.presets import weights


def test_weight_files_match_keras_save_weights(tmp_path, tiny_classifier):
    """Our writer gives Keras' own `.weights.h5` layout, value for value."""
    classifier = tiny_classifier
    classifier.backbone.save_weights(tmp_path / "keras.weights.h5")
    (tmp_path / "ours.weights.h5").write_bytes(
        weights.weights_file_bytes(weights.weight_layout(classifier.backbone))
    )
    classifier.save_weights(tmp_path / "task_keras.weights.h5")
    head = weights.weight_layout(classifier, skip=[classifier.backbone])

    def datasets(path):
        found = {}
        with h5py.File(path) as file:
            file.visititems(
                lambda name, item: found.__setitem__(name, item[()])
                if isinstance(item, h5py.Dataset)
                else None
            )
        return found

    keras_file, ours = datasets(tmp_path / "keras.weights.h5"), datasets(tmp_path / "ours.weights.h5")
    assert sorted(keras_file) == sorted(ours)
    assert max(max_abs_diff(keras_file[k], ours[k]) for k in ours) == 0.0
    assert sorted(head) == ["layers/dense/vars/0", "layers/dense/vars/1"]
    task_file = datasets(tmp_path / "task_keras.weights.h5")
    assert max_abs_diff(task_file["layers/dense/vars/0"], head["layers/dense/vars/0"]) == 0.0
