"""`to_onnx` and `export_model`: every format run in its own runtime and
compared with Keras on tiny models, the graph's BatchNorm folding and pad
folding, preprocessing, errors and atomic writes."""

import os

import keras
import numpy as np
import onnxruntime
import pytest

import densenet_hub
from densenet_hub.training import classifier as loading
from densenet_hub.cli.main import main
from densenet_hub.export import export_model
from densenet_hub.export import to_onnx
from densenet_hub.base.openvino import import_openvino
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.base.openvino import signal_stack_kept
from helpers.cli import error_line
from helpers.weights import forward
from helpers.weights import max_abs_diff
from helpers.weights import randomize_weights
from helpers.models import build_tiny_backbone
from helpers.models import build_tiny_classifier
from helpers.models import build_tiny_preprocessor

TOLERANCE = 1e-4
BACKEND = keras.backend.backend()
# Per-channel ImageNet-style normalisation, so a swapped channel shows.
SCALE = [1 / (255 * 0.229), 1 / (255 * 0.224), 1 / (255 * 0.225)]
OFFSET = [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]


def random_backbone(
    stem_padding="symmetric", data_format="channels_last", size=32, dtype=None
):
    """A tiny backbone with random, distinct weights (see `randomize_weights`);
    `size=None` makes it size-agnostic."""
    shape = (size, size, 3) if data_format == "channels_last" else (3, size, size)
    backbone = build_tiny_backbone(
        image_shape=shape if size else (None, None, 3),
        stem_padding=stem_padding,
        data_format=data_format,
        dtype=dtype,
    )
    randomize_weights(backbone, seed=1)
    return backbone


def random_classifier(backbone=None, with_preprocessor=True, **kwargs):
    """A tiny 5-class classifier on `backbone` (default `random_backbone()`),
    with per-channel normalisation unless `with_preprocessor` is false."""
    backbone = backbone or random_backbone()
    preprocessor = None
    if with_preprocessor:
        preprocessor = build_tiny_preprocessor(
            scale=SCALE, offset=OFFSET, data_format=backbone.data_format
        )
    return build_tiny_classifier(backbone, preprocessor=preprocessor, **kwargs)


@pytest.fixture(scope="module")
def raw_classifier():
    """`(classifier, raw uint8 pixels, classifier.predict(pixels))` for a
    classifier with per-channel normalisation and a size-agnostic backbone."""
    keras.utils.set_random_seed(5)
    classifier = random_classifier(random_backbone(size=None))
    images = pixels(np.random.default_rng(4))
    return classifier, images, classifier.predict(images, verbose=0)


def run_onnx(proto_or_path, images):
    source = proto_or_path
    if not isinstance(source, (str, os.PathLike)):
        source = source.SerializeToString()
    else:
        source = str(source)
    session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"images": images})
    return output


def nhwc(array):
    return np.transpose(array, (0, 2, 3, 1))


def nchw(array):
    return np.transpose(array, (0, 3, 1, 2))


def op_count(proto, op_type):
    return sum(node.op_type == op_type for node in proto.graph.node)


def pixels(rng, size=(32, 32), batch=2):
    return rng.integers(0, 256, size=(batch, *size, 3)).astype("uint8")


# === The ONNX graph against Keras ===


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("stem_padding", ["symmetric", "same"])
def test_onnx_matches_keras_for_backbone_and_classifier(stem_padding, data_format, rng):
    backbone = random_backbone(stem_padding, data_format)
    classifier = random_classifier(backbone, with_preprocessor=False)
    images = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    keras_images = images if data_format == "channels_last" else nchw(images)

    features = forward(backbone, keras_images)
    if data_format == "channels_first":
        features = nhwc(features)
    onnx_features = run_onnx(to_onnx(backbone), images)
    assert onnx_features.shape == (2, 4, 4, 44)
    assert np.abs(features).max() > 0.5  # the comparison is not between zeros
    assert max_abs_diff(onnx_features, features) < TOLERANCE

    logits = forward(classifier, keras_images)
    assert max_abs_diff(run_onnx(to_onnx(classifier), images), logits) < TOLERANCE


def test_onnx_with_dynamic_image_size_matches_keras(rng):
    backbone = random_backbone("same", size=None)
    proto = to_onnx(backbone)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", "height", "width", 3]
    # Odd and even sides, with stride-2 "same" padding resolved at run time.
    images = rng.normal(size=(1, 37, 42, 3)).astype("float32")
    assert max_abs_diff(run_onnx(proto, images), forward(backbone, images)) < TOLERANCE


def test_onnx_max_pooling_dropout_and_sigmoid_head(rng):
    classifier = random_classifier(
        with_preprocessor=False, pooling="max", dropout=0.5, activation="sigmoid"
    )
    proto = to_onnx(classifier)
    assert op_count(proto, "GlobalMaxPool") == 1 and op_count(proto, "Sigmoid") == 1
    assert op_count(proto, "Dropout") == 0
    images = rng.normal(size=(3, 32, 32, 3)).astype("float32")
    assert max_abs_diff(run_onnx(proto, images), forward(classifier, images)) < TOLERANCE


def test_softmax_head_output_is_named_predictions(rng):
    classifier = random_classifier(with_preprocessor=False, activation="softmax")
    proto = to_onnx(classifier, opset=13)
    assert [o.name for o in proto.graph.output] == ["predictions"]
    assert proto.opset_import[0].version == 13
    images = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    output = run_onnx(proto, images)
    np.testing.assert_allclose(output.sum(axis=1), 1.0, atol=1e-5)
    assert max_abs_diff(output, forward(classifier, images)) < TOLERANCE


# === Graph structure: folding ===


def test_batch_norms_after_convs_are_folded_and_the_others_kept():
    backbone = random_backbone()
    proto = to_onnx(backbone)
    batch_norms = [
        layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    # conv1_bn and each conv block's second BN follow a Conv2D; the BNs that
    # open a block, a transition or the final bn read a concatenation.
    follows_conv = [layer for layer in batch_norms if layer.name.endswith(("conv1_bn", "_2_bn"))]
    assert (len(batch_norms), len(follows_conv)) == (11, 5)
    assert op_count(proto, "BatchNormalization") == len(batch_norms) - len(follows_conv)
    assert op_count(proto, "Conv") == 10
    # ZeroPadding2D became the stem conv's and max-pool's own pads.
    assert op_count(proto, "Pad") == 0
    assert op_count(proto, "Transpose") == 2  # NHWC in, NHWC features out


def test_conv_output_read_twice_keeps_its_batch_norm(rng):
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    normalized = keras.layers.BatchNormalization()(conv)
    outputs = keras.layers.Concatenate()([conv, normalized])
    model = keras.Model(inputs, outputs)
    randomize_weights(model, seed=2)
    proto = to_onnx(model)
    # Folding would change `conv` for the concatenation as well.
    assert op_count(proto, "BatchNormalization") == 1
    images = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    assert max_abs_diff(run_onnx(proto, images), forward(model, images)) < TOLERANCE


def test_folded_batch_norm_equals_keras_conv_then_batch_norm(rng):
    inputs = keras.Input((9, 9, 3))
    x = keras.layers.Conv2D(6, 3, strides=2, use_bias=True)(inputs)
    outputs = keras.layers.BatchNormalization(epsilon=1e-3)(x)
    model = keras.Model(inputs, outputs)
    randomize_weights(model, seed=3)
    model.layers[1].bias.assign(rng.normal(size=6))
    proto = to_onnx(model)
    assert op_count(proto, "BatchNormalization") == 0 and op_count(proto, "Conv") == 1
    images = rng.normal(size=(2, 9, 9, 3)).astype("float32")
    assert max_abs_diff(run_onnx(proto, images), forward(model, images)) < 1e-5


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_zero_padding_before_max_pool_is_folded_only_after_a_relu(activation, rng):
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Activation(activation)(inputs)
    x = keras.layers.ZeroPadding2D(1)(x)
    outputs = keras.layers.MaxPooling2D(3, strides=2)(x)
    model = keras.Model(inputs, outputs)
    proto = to_onnx(model)
    # -inf padding equals zero padding only for non-negative inputs.
    assert op_count(proto, "Pad") == (0 if activation == "relu" else 1)
    images = -np.abs(rng.normal(size=(2, 6, 6, 2))).astype("float32")
    images[:, 2:4, 2:4] *= -1
    assert max_abs_diff(run_onnx(proto, images), forward(model, images)) < 1e-6


def test_zero_padding_before_average_pool_stays_a_pad_node(rng):
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.ZeroPadding2D(((1, 0), (0, 2)))(inputs)
    outputs = keras.layers.AveragePooling2D(2, padding="same")(x)
    model = keras.Model(inputs, outputs)
    proto = to_onnx(model)
    assert op_count(proto, "Pad") == 1
    images = rng.normal(size=(2, 6, 6, 2)).astype("float32")
    assert max_abs_diff(run_onnx(proto, images), forward(model, images)) < 1e-6


def test_bfloat16_model_is_exported_in_float32(rng):
    backbone = random_backbone(dtype="bfloat16")
    proto = to_onnx(backbone)
    float_types = {init.data_type for init in proto.graph.initializer if len(init.dims) > 1}
    assert float_types == {1}  # TensorProto.FLOAT
    # The same (bfloat16-representable) weights in a float32 model.
    reference = densenet_hub.models.DenseNetBackbone.from_config(
        {**backbone.get_config(), "dtype": "float32"}
    )
    reference.set_weights(
        [keras.ops.convert_to_numpy(keras.ops.cast(w, "float32")) for w in backbone.weights]
    )
    images = rng.normal(size=(1, 32, 32, 3)).astype("float32")
    assert max_abs_diff(run_onnx(proto, images), forward(reference, images)) < TOLERANCE


# === Preprocessing in the graph ===


def test_onnx_with_preprocessing_matches_predict_on_raw_pixels(raw_classifier):
    classifier, images, expected = raw_classifier
    proto = to_onnx(classifier, include_preprocessing=True)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    # The converter's image_size fixes the input size.
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 32, 32, 3]
    assert op_count(proto, "Mul") == 1 and op_count(proto, "Add") == 1
    contract = {prop.key: prop.value for prop in proto.metadata_props}
    assert contract["preprocessing_included"] == "true"
    assert contract["input_layout"] == "NHWC"
    assert max_abs_diff(run_onnx(proto, images.astype("float32")), expected) < TOLERANCE


def test_preprocessing_needs_a_preprocessor():
    with pytest.raises(ValueError, match="include_preprocessing=False"):
        to_onnx(random_backbone(), include_preprocessing=True)


def test_backbone_exports_with_the_default_arguments(tmp_path):
    # A backbone has no preprocessing to include, so the default leaves it out.
    path = export_model(random_backbone(), tmp_path / "backbone.onnx")
    session = onnxruntime.InferenceSession(str(path))
    # The input is what the backbone itself takes: nothing was added before it.
    assert [node.name for node in session.get_inputs()] == ["images"]
    assert len(session.get_outputs()) == 1


def test_classifier_without_preprocessor_still_needs_one(tmp_path):
    classifier = build_tiny_classifier()
    classifier.preprocessor = None
    with pytest.raises(ValueError, match="include_preprocessing=False"):
        export_model(classifier, tmp_path / "classifier.onnx")


# === Errors ===


def test_unsupported_layer_is_named_with_the_alternative():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    outputs = keras.layers.LayerNormalization(name="odd_norm")(x)
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match=r"'odd_norm' of class LayerNormalization.*saved_model"):
        to_onnx(model)


def test_unsupported_activation_and_bad_opset_are_refused():
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2D(4, 3, activation="gelu", name="gelu_conv")(inputs)
    with pytest.raises(ValueError, match="'gelu_conv'.*gelu"):
        to_onnx(keras.Model(inputs, outputs))
    with pytest.raises(ValueError, match="`opset` must be an integer from 13"):
        to_onnx(random_backbone(), opset=9)


def test_subclassed_model_is_refused():
    class Doubler(keras.Model):
        def call(self, x):
            return x * 2

    with pytest.raises(ValueError, match="not a functional Keras model"):
        to_onnx(Doubler())


# === export_model: every format in its runtime ===


def test_export_onnx_file_matches_predict(tmp_path, raw_classifier):
    classifier, images, expected = raw_classifier
    path = export_model(classifier, tmp_path / "model.onnx")
    assert max_abs_diff(run_onnx(path, images.astype("float32")), expected) < TOLERANCE


def test_export_openvino_matches_predict_in_float32(tmp_path, raw_classifier):
    classifier, images, expected = raw_classifier
    folder = export_model(classifier, tmp_path / "ov", format="openvino")
    # A plain import would send OpenVINO's usage telemetry from a fork.
    openvino = import_openvino("the test")
    assert sorted(p.name for p in folder.iterdir()) == ["model.bin", "model.xml"]
    # CPUs with bfloat16 units otherwise run the graph in bfloat16.
    with signal_stack_kept():  # else a later Ctrl-C test of this worker crashes
        core = openvino.Core()
        compiled = core.compile_model(
            core.read_model(folder / "model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
        )
        output = compiled(images.astype("float32"))[compiled.output(0)]
    assert max_abs_diff(output, expected) < TOLERANCE


@pytest.mark.skipif(BACKEND == "torch", reason="see test_keras_formats_name_the_backend")
def test_export_saved_model_matches_predict(tmp_path, raw_classifier):
    import tensorflow as tf

    classifier, images, expected = raw_classifier
    folder = export_model(classifier, tmp_path / "saved", format="saved_model")
    # Held in a name: TensorFlow frees the functions with the loaded object.
    loaded = tf.saved_model.load(str(folder))
    output = loaded.serve(images.astype("float32")).numpy()
    assert max_abs_diff(output, expected) < TOLERANCE


@pytest.mark.skipif(BACKEND != "tensorflow", reason="see test_keras_formats_name_the_backend")
def test_export_litert_matches_predict(tmp_path, raw_classifier):
    import tensorflow as tf

    classifier, images, expected = raw_classifier
    path = export_model(classifier, tmp_path / "model.tflite", format="litert")
    interpreter = tf.lite.Interpreter(model_path=str(path))
    source = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(source, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(source, images.astype("float32"))
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert max_abs_diff(output, expected) < TOLERANCE


def test_keras_formats_name_the_backend(tmp_path):
    supported = {"saved_model": ("tensorflow", "jax"), "litert": ("tensorflow",)}
    for format, backends in supported.items():
        if BACKEND in backends:
            continue
        target = tmp_path / ("model.tflite" if format == "litert" else "saved")
        with pytest.raises(ValueError, match=f"not available with the {BACKEND}.*KERAS_BACKEND"):
            export_model(random_classifier(), target, format=format)
        assert not target.exists()


# === export_model: arguments and atomic writes ===


def test_bad_format_and_suffix_are_refused(tmp_path):
    with pytest.raises(ValueError, match="`format` must be one of"):
        export_model(random_classifier(), tmp_path / "m", format="tflite")
    with pytest.raises(ValueError, match="ends with '.onnx'.*m.onnx"):
        export_model(random_classifier(), tmp_path / "m.bin")


def test_failed_export_leaves_nothing_and_keeps_the_old_file(tmp_path):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.LayerNormalization()(inputs))
    with pytest.raises(ValueError, match="LayerNormalization"):
        export_model(model, tmp_path / "model.onnx", include_preprocessing=False)
    assert list(tmp_path.iterdir()) == []

    old = tmp_path / "model.onnx"
    old.write_bytes(b"previous export")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_model(random_classifier(), old)
    with pytest.raises(ValueError, match="LayerNormalization"):
        export_model(model, old, include_preprocessing=False, overwrite=True)
    assert old.read_bytes() == b"previous export"
    assert list(tmp_path.iterdir()) == [old]

    export_model(random_classifier(), old, overwrite=True)
    assert list(tmp_path.iterdir()) == [old]
    assert old.read_bytes() != b"previous export"


# === CLI ===


def test_cli_exports_a_classifier_preset(tmp_path, raw_classifier, capsys):
    classifier, images, expected = raw_classifier
    preset = tmp_path / "tiny"
    loading.save_classifier(classifier, ClassLabels(["a", "b", "c", "d", "e"]), preset)
    out = tmp_path / "tiny.onnx"
    assert main(["export", str(preset), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert max_abs_diff(run_onnx(out, images.astype("float32")), expected) < TOLERANCE

    backbone_preset = tmp_path / "backbone"
    classifier.backbone.save_to_preset(str(backbone_preset))
    backbone_out = tmp_path / "b.onnx"
    # A backbone has no normalisation to include: it exports as it is.
    assert main(["export", str(backbone_preset), str(backbone_out)]) == 0
    assert main(["export", str(backbone_preset), str(backbone_out), "--no-preprocessing",
                 "--overwrite"]) == 0  # fmt: skip
    assert main(["export", str(preset), str(out)]) == 1
    assert "overwrite" in error_line(capsys)
