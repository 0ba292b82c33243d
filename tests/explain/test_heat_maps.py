"""`densenet_hub.explain.grad_cam` on a tiny classifier, under the active
Keras backend: shapes, range, class choice, and that the map lights up
where the image content that drives the class score is."""

import keras
import numpy as np
import pytest

import densenet_hub
from densenet_hub.explain import grad_cam

SIDE = 32
# The tiny backbone's output has one cell per 8x8 pixels.
CELL = 8


def tiny_classifier(num_classes=3):
    keras.utils.set_random_seed(7)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(SIDE, SIDE, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(SIDE, SIDE), scale=1 / 255)
    return densenet_hub.models.DenseNetImageClassifier(
        backbone,
        num_classes=num_classes,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )


def test_one_map_per_image_in_the_unit_range(rng):
    classifier = tiny_classifier()
    images = rng.integers(0, 256, size=(3, SIDE, SIDE, 3), dtype="uint8")
    for class_index in (None, 1, [0, 1, 2]):
        heat = grad_cam(classifier, images, class_index)
        assert heat.shape == (3, SIDE // CELL, SIDE // CELL) and heat.dtype == np.float64
        assert heat.min() >= 0 and heat.max() <= 1
        assert all(np.isclose(m.max(), 1) or m.max() == 0 for m in heat)
    # A class per image gives each image the map of its own class alone.
    per_image = grad_cam(classifier, images, [2, 0, 1])
    for row, class_index in enumerate([2, 0, 1]):
        alone = grad_cam(classifier, images[row : row + 1], class_index)[0]
        np.testing.assert_allclose(per_image[row], alone, atol=1e-5)
    # By default each image is explained for its top class.
    top = np.argmax(classifier.predict(images, verbose=0), axis=-1)
    np.testing.assert_allclose(grad_cam(classifier, images), grad_cam(classifier, images, top),
                               atol=1e-6)  # fmt: skip
    # Preprocessed inputs give the same maps.
    x = classifier.preprocessor(images)
    np.testing.assert_allclose(grad_cam(classifier, x, 1, preprocessed=True),
                               grad_cam(classifier, images, 1), atol=1e-6)  # fmt: skip


@pytest.mark.parametrize("row, column", [(0, 0), (2, 1), (3, 2)])
def test_the_map_peaks_where_the_class_evidence_is(row, column):
    # A grey image with one bright square. The class-0 weights point from
    # the plain feature vector to the square's, so the class score grows
    # with the square's features alone: the map must peak on its cell.
    classifier = tiny_classifier()
    image = np.full((SIDE, SIDE, 3), 40, "uint8")
    image[row * CELL : (row + 1) * CELL, column * CELL : (column + 1) * CELL] = 250
    features = keras.ops.convert_to_numpy(
        classifier.backbone(classifier.preprocessor([image]), training=False)
    )[0]
    square = features[row, column]
    elsewhere = np.delete(features.reshape(-1, features.shape[-1]), row * 4 + column, axis=0)
    kernel = np.zeros((features.shape[-1], 3), "float32")
    kernel[:, 0] = square - elsewhere.mean(axis=0)
    classifier.output_dense.kernel.assign(kernel)

    heat = grad_cam(classifier, [image], class_index=0)[0]
    assert np.unravel_index(np.argmax(heat), heat.shape) == (row, column)
    assert heat[row, column] == 1.0
    # The opposite evidence: the square's cell is where the map is zero.
    classifier.output_dense.kernel.assign(-kernel)
    assert grad_cam(classifier, [image], class_index=0)[0][row, column] == 0.0


@pytest.mark.parametrize(
    "class_index, message",
    [(3, "an int from 0 to 2"), ([0, 1], "one such int per image (1)"), (0.5, "got 0.5")],
)
def test_a_bad_class_index_is_refused(rng, class_index, message):
    image = rng.integers(0, 256, size=(SIDE, SIDE, 3), dtype="uint8")
    with pytest.raises(ValueError) as caught:
        grad_cam(tiny_classifier(), [image], class_index)
    assert message in str(caught.value)


def test_grad_cam_of_a_pooled_dense_head_is_the_class_activation_map(rng):
    # Through global average pooling and a dense layer the gradient of a
    # class score is that class's dense weights, so Grad-CAM reduces to
    # relu(features . w_c), scaled to a peak of 1.
    classifier = tiny_classifier()
    x = classifier.preprocessor(rng.integers(0, 256, size=(1, SIDE, SIDE, 3), dtype="uint8"))
    features = keras.ops.convert_to_numpy(classifier.backbone(x))[0]
    # The features are post-ReLU, so a positive column scores positive
    # everywhere and a negative one nowhere (an all-zero map).
    magnitudes = np.random.default_rng(0).uniform(0.1, 1.0, size=(44, 3))
    kernel = magnitudes * np.array([1.0, -1.0, 1.0])
    kernel[::2, 2] *= -1
    classifier.output_dense.kernel.assign(kernel)
    for class_index in range(3):
        expected = np.maximum(features @ kernel[:, class_index], 0)
        assert (expected.max() > 0) == (class_index == 0) or class_index == 2
        if expected.max() > 0:
            expected = expected / expected.max()
        heat = grad_cam(classifier, x, class_index, preprocessed=True)[0]
        assert heat.shape == (SIDE // CELL, SIDE // CELL)
        assert np.max(np.abs(heat - expected)) < 1e-5


def test_the_map_weighs_the_logits_whatever_the_head_activation(rng):
    # The same weights under a softmax or sigmoid head give the logits
    # head's maps: the gradient of a softmax output shrinks with confidence
    # and mixes in the other classes.
    images = rng.integers(0, 256, size=(3, SIDE, SIDE, 3), dtype="uint8")
    logits = tiny_classifier()
    kernel = logits.output_dense.kernel
    kernel.assign(keras.ops.convert_to_numpy(kernel) * 40)
    expected = grad_cam(logits, images, [0, 1, 2])
    for activation in ("softmax", "sigmoid"):
        classifier = tiny_classifier()
        classifier.set_weights(logits.get_weights())
        classifier.output_dense.activation = keras.activations.get(activation)
        np.testing.assert_allclose(grad_cam(classifier, images, [0, 1, 2]), expected, atol=1e-5)


def test_a_coarse_final_map_gives_way_to_a_finer_level(rng):
    # Three blocks at 32x32 end on 2x2 cells: too coarse to point at a part
    # of the image, so the last level with 4x4 cells is used.
    keras.utils.set_random_seed(3)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2, 2], growth_rate=4, image_shape=(SIDE, SIDE, 3)
    )
    classifier = densenet_hub.models.DenseNetImageClassifier(backbone, num_classes=3)
    images = rng.uniform(0, 1, size=(2, SIDE, SIDE, 3)).astype("float32")
    assert grad_cam(classifier, images, 1, preprocessed=True).shape == (2, 4, 4)
    np.testing.assert_array_equal(grad_cam(classifier, images, 1, preprocessed=True),
                                  grad_cam(classifier, images, 1, True, level="P3"))  # fmt: skip
    assert grad_cam(classifier, images, 1, True, level="output").shape == (2, 2, 2)
    assert grad_cam(classifier, images, 1, True, level="P2").shape == (2, 8, 8)
    with pytest.raises(ValueError, match="unknown `level` 'P9'; this backbone has 'output'"):
        grad_cam(classifier, images, 1, True, level="P9")
