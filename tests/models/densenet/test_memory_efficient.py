"""`DenseNetBackbone(memory_efficient=True)`: the recomputing training pass
gives the normal pass' outputs, gradients, BatchNorm statistics and `fit`
results, and really recomputes (checked on the backend's own autodiff)."""

import collections
import json

import keras
import numpy as np
import pytest
from keras import ops

from helpers.models import TINY_CONFIG

import densenet_hub
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models.densenet import memory_efficient

BACKEND = keras.backend.backend()
# Float32 gradients of the two passes differ by rounding only: the sums run
# in another order (on torch the concatenations also have another memory
# layout). Relative to each gradient's largest entry; seen up to about 5e-5
# on torch, 8e-5 on TensorFlow and 1.2e-4 on JAX (compiled); a wrong
# gradient (doubled, zero, a missed BatchNorm path) is off by order 1.
FLOAT32_RELATIVE = 5e-4
# In float64 (JAX, TensorFlow) the passes agree to the last bits: seen 0
# on JAX (op by op) and 4e-14 on TensorFlow. Keras' torch BatchNorm computes float64
# inputs in float32, so torch has no float64 check.
FLOAT64_RELATIVE = 1e-12
# Training-mode outputs: the same rounding, through BatchNorm (torch: max
# absolute difference about 4e-5 on outputs of size 1).
OUTPUT_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def _pair(**overrides):
    """A normal and a memory-efficient backbone with the same random weights
    and random BatchNorm statistics."""
    config = {**TINY_CONFIG, **overrides}
    normal = DenseNetBackbone(**config)
    efficient = DenseNetBackbone(**config, memory_efficient=True)
    rng = np.random.default_rng(7)
    values = []
    for weight in normal.weights:
        if weight.path.endswith("moving_variance"):
            values.append(rng.uniform(0.5, 2.0, weight.shape))
        else:
            values.append(rng.normal(0.0, 0.5, weight.shape))
    values = [v.astype(normal.weights[0].dtype) for v in values]
    normal.set_weights(values)
    efficient.set_weights(values)
    return normal, efficient


def _images(dtype="float32", batch=4):
    return np.random.default_rng(3).normal(size=(batch, 32, 32, 3)).astype(dtype)


def _loss(features):
    # Weighted so that every output position matters differently.
    shape = tuple(features.shape)
    weights = np.linspace(1.0, 2.0, int(np.prod(shape))).reshape(shape)
    return ops.sum(ops.square(features) * ops.cast(weights, features.dtype))


def _training_step(model, images, compiled=True):
    """`(gradients of every trainable variable, non-trainable values after)`
    for one training-mode call, with the backend's own autodiff (on JAX
    compiled by XLA, or op by op)."""
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss(values):
            features, updated = model.stateless_call(
                values, non_trainable, images, training=True
            )
            return _loss(features), updated

        gradient = jax.grad(loss, has_aux=True)
        gradients, updated = (jax.jit(gradient) if compiled else gradient)(trainable)
        return [np.asarray(g) for g in gradients], [np.asarray(v) for v in updated]
    if BACKEND == "torch":
        import torch

        loss = _loss(model(images, training=True))
        gradients = torch.autograd.grad(loss, [v.value for v in model.trainable_variables])
        return [g.detach().cpu().numpy() for g in gradients], [
            np.array(ops.convert_to_numpy(v), copy=True) for v in model.non_trainable_variables
        ]
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = _loss(model(images, training=True))
    gradients = tape.gradient(loss, [v.value for v in model.trainable_variables])
    return [g.numpy() for g in gradients], [v.numpy() for v in model.non_trainable_variables]


def _relative_differences(expected, actual):
    return [
        float(np.max(np.abs(e - a)) / np.max(np.abs(e))) for e, a in zip(expected, actual)
    ]


def _values(variables):
    # Copies: on torch's CPU tensors `convert_to_numpy` shares memory.
    return [np.array(ops.convert_to_numpy(v), copy=True) for v in variables]


def _assert_same_step(normal, efficient, images, tolerance, compiled=True):
    initial = _values(normal.non_trainable_variables)
    gradients, statistics = _training_step(normal, images, compiled)
    efficient_gradients, efficient_statistics = _training_step(efficient, images, compiled)
    assert len(gradients) == len(efficient_gradients) == len(normal.trainable_variables)
    assert all(np.all(np.isfinite(g)) and np.any(g != 0) for g in efficient_gradients)
    differences = _relative_differences(gradients, efficient_gradients)
    worst = int(np.argmax(differences))
    assert differences[worst] <= tolerance, (
        f"{normal.trainable_variables[worst].path}: relative gradient "
        f"difference {differences[worst]:.3g} > {tolerance:g}"
    )
    # Every BatchNorm's moving statistics moved, and identically.
    assert all(np.any(s != i) for s, i in zip(statistics, initial))
    for expected, actual in zip(statistics, efficient_statistics):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    return differences


@pytest.mark.parametrize(
    "overrides",
    [{}, {"stem_padding": "same"}, {"data_format": "channels_first", "image_shape": (3, 32, 32)}],
    ids=["symmetric", "same", "channels_first"],
)
def test_gradients_and_statistics_equal_the_normal_pass(overrides):
    if BACKEND == "tensorflow" and "data_format" in overrides:
        pytest.skip("TensorFlow's CPU convolutions and pooling take channels_last only")
    normal, efficient = _pair(**overrides)
    images = _images()
    if "data_format" in overrides:
        images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    differences = _assert_same_step(normal, efficient, images, FLOAT32_RELATIVE)
    print(f"{BACKEND} float32: max relative gradient difference {max(differences):.3g}")


@pytest.mark.slow
@pytest.mark.skipif(BACKEND == "torch", reason="Keras' torch BatchNorm runs float64 in float32")
def test_gradients_agree_to_float64_precision():
    if BACKEND == "jax":
        import jax

        # Op by op: XLA's fused float64 reductions sum in another order
        # per program (relative differences about 1e-8 when compiled).
        with jax.enable_x64(True):
            normal, efficient = _pair(dtype="float64")
            differences = _assert_same_step(
                normal, efficient, _images("float64"), FLOAT64_RELATIVE, compiled=False
            )
    else:
        normal, efficient = _pair(dtype="float64")
        differences = _assert_same_step(normal, efficient, _images("float64"), FLOAT64_RELATIVE)
    print(f"{BACKEND} float64: max relative gradient difference {max(differences):.3g}")


def test_a_frozen_backbone_uses_moving_statistics_and_still_matches():
    normal, efficient = _pair()
    images = _images()
    for model in (normal, efficient):
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    before = _values(efficient.weights)
    np.testing.assert_allclose(
        ops.convert_to_numpy(efficient(images, training=True)),
        ops.convert_to_numpy(normal(images, training=True)),
        **OUTPUT_TOLERANCE,
    )
    # No moving statistic changed.
    for old, new in zip(before, efficient.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(new), old)


def test_training_outputs_and_pyramid_equal_the_graph():
    normal, efficient = _pair()
    images = _images()
    pyramid_model = keras.Model(normal.input, normal.pyramid_outputs)
    expected = {k: ops.convert_to_numpy(v) for k, v in pyramid_model(images, training=True).items()}
    features, pyramid = memory_efficient.forward(efficient, ops.convert_to_tensor(images), True)
    assert sorted(pyramid) == ["P2", "P3"]
    for key in pyramid:
        np.testing.assert_allclose(
            ops.convert_to_numpy(pyramid[key]), expected[key], **OUTPUT_TOLERANCE
        )
    expected_features = ops.convert_to_numpy(normal(images, training=True))
    for actual in (features, efficient(images, training=True)):
        np.testing.assert_allclose(
            ops.convert_to_numpy(actual), expected_features, **OUTPUT_TOLERANCE
        )


def test_inference_runs_the_normal_graph_unchanged():
    normal, efficient = _pair()
    images = _images()
    np.testing.assert_array_equal(
        ops.convert_to_numpy(efficient(images, training=False)),
        ops.convert_to_numpy(normal(images, training=False)),
    )
    np.testing.assert_array_equal(
        efficient.predict(images, verbose=0), normal.predict(images, verbose=0)
    )


def test_fit_for_two_steps_gives_the_same_weights():
    images = _images(batch=8)
    labels = np.arange(8) % 3
    initial, trained = [], []
    for flag in (False, True):
        keras.utils.set_random_seed(11)
        classifier = DenseNetImageClassifier(
            DenseNetBackbone(**TINY_CONFIG, memory_efficient=flag), num_classes=3
        )
        classifier.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        initial.append(_values(classifier.weights))
        classifier.fit(images, labels, batch_size=4, epochs=1, verbose=0, shuffle=False)
        trained.append(_values(classifier.weights))
    for start, expected, actual in zip(initial[0], *trained):
        assert np.any(expected != start)  # every weight and statistic moved
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=2e-5)
    for a, b in zip(*initial):
        np.testing.assert_array_equal(a, b)


def _count_layer_calls(model, monkeypatch):
    """A Counter of layer name -> how often that layer's public `call` ran.

    Wraps `call` on each of the model's Keras layer objects (instances, not
    classes). Segments run their Conv2D and BatchNormalization layers through
    the variables they take as arguments, so the layers whose `call` runs are
    the ReLUs, paddings and poolings inside the segments, and (outside JAX's
    fused dense block) each dense layer's last convolution, which is not
    recomputed."""
    calls = collections.Counter()
    for layer in model.layers:

        def counting(*args, _call=layer.call, _name=layer.name, **kwargs):
            calls[_name] += 1
            return _call(*args, **kwargs)

        monkeypatch.setattr(layer, "call", counting)
    return calls


def test_the_backward_pass_runs_each_segment_again(monkeypatch):
    _, efficient = _pair()
    images = _images()
    calls = _count_layer_calls(efficient, monkeypatch)
    efficient(images, training=True)
    forward_calls = dict(calls)
    calls.clear()
    _training_step(efficient, images)
    dense_layers = [f"stack{s}_block{b}" for s in (1, 2) for b in (1, 2)]
    # One ReLU per segment: the stem, each dense layer's bottleneck (two
    # ReLUs), the transition and the final BatchNorm + ReLU.
    segment_relus = [
        "conv1_relu",
        *(name + suffix for name in dense_layers for suffix in ("_1_relu", "_2_relu")),
        "transition1_relu",
        "relu",
    ]
    not_recomputed = {name + "_2_conv" for name in dense_layers} if BACKEND != "jax" else set()
    assert set(segment_relus) <= set(forward_calls)
    assert forward_calls == dict.fromkeys(forward_calls, 1)
    # Forward, then the recomputation (traced once each on JAX); the dense
    # layers' last convolutions are outside the segments and run once.
    assert dict(calls) == {
        name: 1 if name in not_recomputed else 2 for name in forward_calls
    }


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "jax", reason="XLA's buffer assignment is JAX's")
def test_jax_training_memory_grows_linearly_with_depth():
    """XLA's own peak-memory figure for a gradient, at two depths: with
    recomputation the added layers must cost about what their feature maps
    take, not the normal pass' quadratic growth. Guards against XLA merging
    the recomputation back into the forward pass or hoisting it."""
    import jax

    def temp_bytes(num_repeats, flag):
        model = DenseNetBackbone(
            [num_repeats, 2], growth_rate=8, image_shape=(32, 32, 3), memory_efficient=flag
        )
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        images = np.zeros((8, 32, 32, 3), "float32")

        def loss(values):
            features, updated = model.stateless_call(values, non_trainable, images, training=True)
            return _loss(features), updated

        compiled = jax.jit(jax.grad(loss, has_aux=True)).lower(trainable).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    growth = {flag: temp_bytes(16, flag) - temp_bytes(8, flag) for flag in (False, True)}
    # 8 more layers: 8 x 8 channels of 8x8 maps, batch 8, float32 = 0.13 MB
    # of pieces (plus the widest layer's recomputation, where it sets the
    # peak); seen 0.13 MB against 6.8 MB for the normal pass.
    assert growth[True] < 0.15 * growth[False], growth


def test_config_round_trip_and_bad_value():
    model = DenseNetBackbone(**TINY_CONFIG, memory_efficient=True)
    config = json.loads(json.dumps(model.get_config()))
    assert config["memory_efficient"] is True
    assert DenseNetBackbone.from_config(config).memory_efficient is True
    assert DenseNetBackbone(**TINY_CONFIG).get_config()["memory_efficient"] is False
    with pytest.raises(ValueError, match="memory_efficient.*True or False.*'yes'"):
        DenseNetBackbone(**TINY_CONFIG, memory_efficient="yes")


def test_presets_never_save_the_flag_and_stay_keras_hub(tmp_path):
    # A training-time choice: the graph and weights are the same either way.
    # "same" stem padding: a backbone KerasHub can express.
    backbone = DenseNetBackbone(**TINY_CONFIG, stem_padding="same")
    backbone.save_to_preset(tmp_path / "plain")
    saved = json.loads((tmp_path / "plain" / "config.json").read_text())
    assert "memory_efficient" not in saved["config"]
    assert saved["registered_name"] == "keras_hub>DenseNetBackbone"
    loaded = DenseNetBackbone.from_preset(tmp_path / "plain", memory_efficient=True)
    assert loaded.memory_efficient is True
    assert DenseNetBackbone.from_preset(tmp_path / "plain").memory_efficient is False

    classifier = DenseNetImageClassifier(
        DenseNetBackbone(**TINY_CONFIG, stem_padding="same"), num_classes=3
    )
    classifier.save_to_preset(tmp_path / "task")
    task = densenet_hub.models.ImageClassifier.from_preset(
        tmp_path / "task", memory_efficient=True
    )
    assert task.backbone.memory_efficient is True
    images = _images()
    np.testing.assert_array_equal(
        ops.convert_to_numpy(task(images, training=False)),
        ops.convert_to_numpy(classifier(images, training=False)),
    )

    DenseNetBackbone(**TINY_CONFIG, stem_padding="same", memory_efficient=True).save_to_preset(
        tmp_path / "efficient"
    )
    saved = json.loads((tmp_path / "efficient" / "config.json").read_text())
    metadata = json.loads((tmp_path / "efficient" / "metadata.json").read_text())
    assert "memory_efficient" not in saved["config"]
    assert metadata["keras_hub_compatible"] is True
    assert DenseNetBackbone.from_preset(tmp_path / "efficient").memory_efficient is False


def test_an_older_preset_with_the_flag_loads_it_and_a_non_bool_is_refused(tmp_path):
    DenseNetBackbone(**TINY_CONFIG, memory_efficient=True).save_to_preset(tmp_path / "p")
    path = tmp_path / "p" / "config.json"
    saved = json.loads(path.read_text())
    # Older densenet_hub versions saved the flag (with their own class names).
    saved["config"]["memory_efficient"] = True
    path.write_text(json.dumps(saved))
    assert DenseNetBackbone.from_preset(tmp_path / "p").memory_efficient is True
    saved["config"]["memory_efficient"] = "yes"
    path.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="memory_efficient.*true or false"):
        DenseNetBackbone.from_preset(tmp_path / "p")
