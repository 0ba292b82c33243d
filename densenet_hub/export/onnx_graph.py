"""`to_onnx`: a Keras DenseNet backbone or image classifier as a lean ONNX
graph, written node by node with `onnx.helper`, on any Keras backend."""

import math

import keras
import numpy as np

from densenet_hub.export.keras_graph import flatten
from densenet_hub.base.optional import import_package
from densenet_hub.version import __version__

DEFAULT_OPSET = 17
# Softmax with an `axis` over one dimension and Pad with tensor pads.
MIN_OPSET = 13
INPUT_NAME = "images"
FEATURES_NAME = "features"
PREDICTIONS_NAME = "predictions"
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
ELEMENTWISE_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
SUPPORTED_ACTIVATIONS = ("linear", "softmax", *ELEMENTWISE_ACTIVATIONS)
OWNER = "to_onnx"


def to_onnx(model, include_preprocessing=False, opset=None):
    """Builds an ONNX graph that computes what `model` computes at inference.

    The graph is written directly from the Keras layer graph (no TensorFlow,
    no torch), so it works on every Keras backend. It runs in NCHW inside:
    the input is transposed once; each BatchNormalization right after a
    Conv2D is folded into the convolution's weights and bias (exact up to
    float32 rounding), the other BatchNormalizations stay ONNX
    BatchNormalization nodes; `ZeroPadding2D` layers become the explicit pads of the
    convolution or max-pool that follows (zero padding equals max-pool's
    -inf padding there because the input comes from a ReLU). Dropout is
    dropped. Weights are stored in float32; models with a `bfloat16` or
    `mixed_bfloat16` policy are cast to float32, so the graph computes in
    full precision and differs from the Keras model by bfloat16's rounding.

    The graph's input is named `"images"`: float32, layout NHWC
    `(batch, height, width, channels)` whatever the model's data format,
    batch size dynamic, height and width those of the model's `image_shape`
    (dynamic where `None`). The output is `"predictions"` (`(batch,
    num_classes)`, after the head's activation) for a classifier or
    `"features"` (the NHWC feature map) for a backbone.

    With `include_preprocessing=True` the graph also applies the
    classifier's image converter's `x * scale + offset`, so the input is the
    raw pixels as float32 (0-255 for 8-bit images), already resized (and
    centre-cropped) to the converter's `image_size`, which then fixes the
    input's height and width. Resizing and cropping stay outside the graph:
    do them as the converter does (e.g. torchvision's resize-256 and
    centre-crop-224 for `crop_pct=0.875`).

    Supported layers: InputLayer, ZeroPadding2D, Conv2D, BatchNormalization,
    Activation and ReLU (relu, sigmoid, tanh, softmax, linear),
    MaxPooling2D, AveragePooling2D, Concatenate, GlobalAveragePooling2D,
    GlobalMaxPooling2D, Dense, Dropout, and nested functional models. Any
    other layer raises a `ValueError` naming it.

    Args:
        model: a functional Keras model with one image input and one
            output, e.g. a `DenseNetBackbone` or `DenseNetImageClassifier`.
        include_preprocessing: whether to put the classifier's image
            converter's scale and offset into the graph. Needs a
            `preprocessor` with an `image_converter`.
        opset: the ONNX opset, from 13 to the installed `onnx`'s newest;
            `None` for 17.

    Returns:
        An `onnx.ModelProto`, checked with `onnx.checker`. Save it with
        `onnx.save(proto, "model.onnx")`; its `metadata_props` record the
        input contract.

    Example:
    ```python
    import numpy as np
    import onnxruntime
    import densenet_hub
    from densenet_hub.export.onnx_graph import to_onnx

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    classifier = densenet_hub.models.DenseNetImageClassifier(backbone, num_classes=3)
    proto = to_onnx(classifier)
    session = onnxruntime.InferenceSession(proto.SerializeToString())
    images = np.random.uniform(size=(2, 32, 32, 3)).astype("float32")
    (predictions,) = session.run(None, {"images": images})
    expected = classifier.predict(images, verbose=0)
    assert np.abs(predictions - expected).max() < 1e-4
    ```
    """
    onnx = import_package("onnx", "onnx", "Exporting to ONNX")
    opset = _check_opset(opset, onnx)
    graph = flatten(model, OWNER)
    if len(graph.input_shape) != 4:
        raise ValueError(
            f"{OWNER}: the model's input must be a batch of images of rank 4, "
            f"got shape {graph.input_shape}. Export a model with an image "
            "input such as a DenseNetBackbone."
        )
    data_format = _data_format(graph)
    converter = _image_converter(model) if include_preprocessing else None
    writer = _GraphWriter(onnx, graph, data_format)
    input_shape = writer.write_input(converter)
    writer.write_layers()
    output_name = writer.write_output()
    proto = writer.model_proto(input_shape, output_name, opset, converter is not None)
    onnx.checker.check_model(proto)
    return proto


class _GraphWriter:
    """Writes ONNX nodes for the flattened Keras graph, NCHW inside."""

    def __init__(self, onnx, graph, data_format):
        self.onnx = onnx
        self.graph = graph
        self.channels_last = data_format == "channels_last"
        self.nodes = []
        self.initializers = []
        self.used_names = {INPUT_NAME, FEATURES_NAME, PREDICTIONS_NAME}
        # Tensor key -> ONNX name of its value.
        self.values = {}
        # Tensor key -> (padded key, (top, bottom, left, right), pad name) for
        # ZeroPadding2D outputs not written yet: the next conv or max-pool
        # takes the pads as its own.
        self.pending_pads = {}
        self.nonnegative = set()
        self.folded = set()
        self.consumers = {}
        for index, call in enumerate(graph.calls):
            for key in call.inputs:
                self.consumers.setdefault(key, []).append(index)
        self.consumers.setdefault(graph.output_key, []).append(None)

    # === Graph input and output ===

    def write_input(self, converter):
        shape = self.graph.input_shape
        height, width, channels = (
            shape[1:] if self.channels_last else (shape[2], shape[3], shape[1])
        )
        x = self.node("Transpose", [INPUT_NAME], "images_nchw", perm=NHWC_TO_NCHW)
        if converter is not None:
            height, width = _preprocessing_size(converter, height, width)
            x = self.rescale(x, converter, channels)
        self.values[self.graph.input_key] = x
        return [
            "batch",
            "height" if height is None else height,
            "width" if width is None else width,
            channels,
        ]

    def rescale(self, x, converter, channels):
        steps = (("scale", converter.scale, "Mul"), ("offset", converter.offset, "Add"))
        for argument, value, op_type in steps:
            if value is None:
                continue
            if isinstance(value, list) and len(value) != channels:
                raise ValueError(
                    f"{OWNER}: the image converter's per-channel `{argument}` "
                    f"has {len(value)} values but the model takes {channels} "
                    "channels. Give the converter one value per channel."
                )
            constant = np.asarray(value, dtype="float32")
            if constant.ndim:
                constant = constant.reshape(-1, 1, 1)
            name = f"preprocessing/{argument}"
            x = self.node(op_type, [x, self.constant(name, constant)], name)
        return x

    def write_output(self):
        key = self.graph.output_key
        value = self.value(key)
        if len(self.graph.output_shape) == 4:
            return self.node("Transpose", [value], FEATURES_NAME, perm=NCHW_TO_NHWC)
        producer = next((n for n in self.nodes if value in n.output), None)
        if producer is None:
            return self.node("Identity", [value], PREDICTIONS_NAME)
        for node in self.nodes:
            node.input[:] = [PREDICTIONS_NAME if n == value else n for n in node.input]
        producer.output[:] = [PREDICTIONS_NAME]
        return PREDICTIONS_NAME

    def model_proto(self, input_shape, output_name, opset, preprocessing):
        helper = self.onnx.helper
        float32 = self.onnx.TensorProto.FLOAT
        output_shape = list(self.graph.output_shape)
        if len(output_shape) == 4 and not self.channels_last:
            output_shape = [output_shape[i] for i in NCHW_TO_NHWC]
        output_shape = ["batch"] + output_shape[1:]
        graph = helper.make_graph(
            self.nodes,
            "densenet_hub",
            [helper.make_tensor_value_info(INPUT_NAME, float32, input_shape)],
            [helper.make_tensor_value_info(output_name, float32, output_shape)],
            initializer=self.initializers,
        )
        opset_ids = [helper.make_opsetid("", opset)]
        proto = helper.make_model(
            graph,
            opset_imports=opset_ids,
            producer_name="densenet_hub",
            producer_version=__version__,
            # The oldest IR that holds this opset, for older runtimes.
            ir_version=helper.find_min_ir_version_for(opset_ids),
        )
        contract = {
            "input_layout": "NHWC",
            "input_dtype": "float32",
            "preprocessing_included": str(preprocessing).lower(),
        }
        helper.set_model_props(proto, contract)
        return proto

    # === Layers ===

    def write_layers(self):
        handlers = {
            keras.layers.ZeroPadding2D: self.zero_padding,
            keras.layers.Conv2D: self.conv,
            keras.layers.BatchNormalization: self.batch_norm,
            keras.layers.Activation: self.activation_layer,
            keras.layers.ReLU: self.relu_layer,
            keras.layers.MaxPooling2D: self.max_pool,
            keras.layers.AveragePooling2D: self.average_pool,
            keras.layers.Concatenate: self.concatenate,
            keras.layers.GlobalAveragePooling2D: self.global_pool,
            keras.layers.GlobalMaxPooling2D: self.global_pool,
            keras.layers.Dense: self.dense,
            keras.layers.Dropout: self.identity,
        }
        for index, call in enumerate(self.graph.calls):
            if index in self.folded:
                continue
            handler = handlers.get(type(call.layer))
            if handler is None:
                raise ValueError(
                    f"{OWNER}: layer {call.name!r} of class "
                    f"{type(call.layer).__name__} has no ONNX translation here. "
                    f"Supported: {', '.join(sorted(k.__name__ for k in handlers))} "
                    "and nested functional models. Use format='saved_model' "
                    "(TensorFlow backend) for other layers."
                )
            _check_not_quantized(call)
            handler(index, call)

    def zero_padding(self, index, call):
        (top, bottom), (left, right) = call.layer.padding
        source = call.inputs[0]
        if source in self.pending_pads:
            source, (t, b, l, r), _ = self.pending_pads[source]
            top, bottom, left, right = top + t, bottom + b, left + l, right + r
        self.pending_pads[call.outputs[0]] = (source, (top, bottom, left, right), call.name)
        if source in self.nonnegative:
            self.nonnegative.add(call.outputs[0])

    def conv(self, index, call):
        layer = call.layer
        weight = _float64(layer.kernel).transpose(3, 2, 0, 1)
        bias = _float64(layer.bias) if layer.use_bias else None
        activation = _activation_name(call)
        batch_norm = self.foldable_batch_norm(index, call, activation)
        if batch_norm is not None:
            scale, shift = _batch_norm_affine(batch_norm.layer)
            weight = weight * scale[:, None, None, None]
            bias = shift if bias is None else bias * scale + shift
            self.folded.add(self.consumers[call.outputs[0]][0])
        attributes = {
            "kernel_shape": list(layer.kernel_size),
            "strides": list(layer.strides),
            "dilations": list(layer.dilation_rate),
            "group": layer.groups,
        }
        source, attributes_pads = self.padded_source(
            call, layer.padding, layer.kernel_size, layer.strides, layer.dilation_rate,
            fold_pads=True,
        )
        attributes.update(attributes_pads)
        inputs = [source, self.constant(f"{call.name}/weight", weight)]
        if bias is not None:
            inputs.append(self.constant(f"{call.name}/bias", bias))
        x = self.node("Conv", inputs, call.name, **attributes)
        x = self.apply_activation(x, call, activation)
        self.set_value(call.outputs[0], x, nonnegative=activation == "relu")
        if batch_norm is not None:
            self.set_value(batch_norm.outputs[0], x)

    def foldable_batch_norm(self, index, call, activation):
        """The BatchNormalization call that alone reads this conv's output."""
        consumers = self.consumers.get(call.outputs[0], [])
        if activation != "linear" or len(consumers) != 1 or consumers[0] is None:
            return None
        follower = self.graph.calls[consumers[0]]
        if type(follower.layer) is not keras.layers.BatchNormalization:
            return None
        if self.axis(follower.layer.axis, 4) != 1:
            return None
        return follower

    def batch_norm(self, index, call):
        # One BatchNormalization node runs faster in ONNX Runtime than the
        # equivalent Mul and Add: 1.1-1.3x for DenseNet-121, measured by
        # benchmarks/bench_onnx_graph.py.
        layer = call.layer
        rank = len(call.input_shapes[0])
        if self.axis(layer.axis, rank) != 1:
            raise ValueError(
                f"{OWNER}: BatchNormalization layer {call.name!r} normalizes "
                f"axis {layer.axis} of a rank-{rank} tensor; only the channel "
                "axis is translated. Use format='saved_model' for this model."
            )
        channels = call.input_shapes[0][layer.axis]
        gamma = _float64(layer.gamma) if layer.scale else np.ones(channels)
        beta = _float64(layer.beta) if layer.center else np.zeros(channels)
        parameters = (
            ("gamma", gamma),
            ("beta", beta),
            ("moving_mean", _float64(layer.moving_mean)),
            ("moving_variance", _float64(layer.moving_variance)),
        )
        inputs = [self.value(call.inputs[0])] + [
            self.constant(f"{call.name}/{name}", array) for name, array in parameters
        ]
        x = self.node("BatchNormalization", inputs, call.name, epsilon=layer.epsilon)
        self.set_value(call.outputs[0], x)

    def activation_layer(self, index, call):
        activation = _activation_name(call)
        x = self.apply_activation(self.value(call.inputs[0]), call, activation)
        self.set_value(call.outputs[0], x, nonnegative=activation == "relu")

    def relu_layer(self, index, call):
        layer = call.layer
        if layer.max_value is not None or layer.negative_slope or layer.threshold:
            raise ValueError(
                f"{OWNER}: ReLU layer {call.name!r} has max_value="
                f"{layer.max_value}, negative_slope={layer.negative_slope}, "
                f"threshold={layer.threshold}; only the plain ReLU (None, 0, 0) "
                "is translated. Use format='saved_model' for this model."
            )
        x = self.node("Relu", [self.value(call.inputs[0])], call.name)
        self.set_value(call.outputs[0], x, nonnegative=True)

    def max_pool(self, index, call):
        self.pool(call, "MaxPool", fold_pads=call.inputs[0] in self.nonnegative)

    def average_pool(self, index, call):
        # Average pooling would count folded zeros differently: a Pad node
        # keeps them as Keras does.
        self.pool(call, "AveragePool", fold_pads=False)

    def pool(self, call, op_type, fold_pads):
        layer = call.layer
        source, attributes = self.padded_source(
            call, layer.padding, layer.pool_size, layer.strides, (1, 1), fold_pads
        )
        x = self.node(
            op_type,
            [source],
            call.name,
            kernel_shape=list(layer.pool_size),
            strides=list(layer.strides),
            **attributes,
        )
        self.set_value(
            call.outputs[0], x, nonnegative=call.inputs[0] in self.nonnegative
        )

    def concatenate(self, index, call):
        axis = self.axis(call.layer.axis, len(call.output_shapes[0]))
        inputs = [self.value(key) for key in call.inputs]
        x = self.node("Concat", inputs, call.name, axis=axis)
        nonnegative = all(key in self.nonnegative for key in call.inputs)
        self.set_value(call.outputs[0], x, nonnegative=nonnegative)

    def global_pool(self, index, call):
        average = type(call.layer) is keras.layers.GlobalAveragePooling2D
        op_type = "GlobalAveragePool" if average else "GlobalMaxPool"
        x = self.value(call.inputs[0])
        if call.layer.keepdims:
            x = self.node(op_type, [x], call.name)
        else:
            x = self.node(op_type, [x], f"{call.name}/pool")
            x = self.node("Flatten", [x], call.name, axis=1)
        self.set_value(call.outputs[0], x)

    def dense(self, index, call):
        layer = call.layer
        if len(call.input_shapes[0]) != 2:
            raise ValueError(
                f"{OWNER}: Dense layer {call.name!r} reads a tensor of shape "
                f"{call.input_shapes[0]}; only rank-2 inputs (batch, features) "
                "are translated. Pool or flatten before the Dense layer, or "
                "use format='saved_model'."
            )
        inputs = [
            self.value(call.inputs[0]),
            self.constant(f"{call.name}/weight", _float64(layer.kernel)),
        ]
        if layer.use_bias:
            inputs.append(self.constant(f"{call.name}/bias", _float64(layer.bias)))
        activation = _activation_name(call)
        x = self.node("Gemm", inputs, call.name)
        x = self.apply_activation(x, call, activation)
        self.set_value(call.outputs[0], x, nonnegative=activation == "relu")

    def identity(self, index, call):
        source, target = call.inputs[0], call.outputs[0]
        if source in self.pending_pads:
            self.pending_pads[target] = self.pending_pads[source]
        else:
            self.values[target] = self.values[source]
        if source in self.nonnegative:
            self.nonnegative.add(target)

    # === Helpers ===

    def apply_activation(self, x, call, activation):
        if activation == "linear":
            return x
        name = f"{call.name}/{activation}"
        if activation == "softmax":
            axis = self.axis(-1, len(call.output_shapes[0]))
            return self.node("Softmax", [x], name, axis=axis)
        return self.node(ELEMENTWISE_ACTIVATIONS[activation], [x], name)

    def padded_source(self, call, padding, kernel, strides, dilations, fold_pads):
        """The input's ONNX name and the pad attributes of a conv or pool.

        Pending ZeroPadding2D pads are taken over when `fold_pads`, else
        written as a Pad node first. "same" padding becomes explicit pads
        where the input size is known (or does not matter: stride 1), else
        ONNX's `auto_pad="SAME_UPPER"`, which pads as Keras does.
        """
        key = call.inputs[0]
        extra = (0, 0, 0, 0)
        if fold_pads and key in self.pending_pads:
            key, extra, _ = self.pending_pads[key]
        pads = extra
        if padding.lower() == "same":
            size = _spatial_size(call.input_shapes[0], self.channels_last)
            same = [
                _same_pads(size[i], kernel[i], strides[i], dilations[i]) for i in (0, 1)
            ]
            if None in same:
                if extra != (0, 0, 0, 0):
                    key = call.inputs[0]
                return self.value(key), {"auto_pad": "SAME_UPPER"}
            pads = (
                extra[0] + same[0][0],
                extra[1] + same[0][1],
                extra[2] + same[1][0],
                extra[3] + same[1][1],
            )
        top, bottom, left, right = pads
        return self.value(key), {"pads": [top, left, bottom, right]}

    def value(self, key):
        """The ONNX name of a tensor, writing a pending Pad node if needed."""
        if key in self.pending_pads:
            source, (top, bottom, left, right), name = self.pending_pads.pop(key)
            pads = np.asarray([0, 0, top, left, 0, 0, bottom, right], dtype="int64")
            self.values[key] = self.node(
                "Pad", [self.value(source), self.constant(f"{name}/pads", pads)], name
            )
        return self.values[key]

    def set_value(self, key, name, nonnegative=False):
        self.values[key] = name
        if nonnegative:
            self.nonnegative.add(key)

    def axis(self, axis, rank):
        """A Keras axis of a rank-`rank` tensor as the axis of the NCHW graph."""
        axis = axis % rank
        if rank == 4 and self.channels_last:
            return NHWC_TO_NCHW.index(axis)
        return axis

    def unique(self, name):
        candidate, counter = name, 1
        while candidate in self.used_names:
            counter += 1
            candidate = f"{name}_{counter}"
        self.used_names.add(candidate)
        return candidate

    def node(self, op_type, inputs, name, **attributes):
        output = self.unique(name)
        self.nodes.append(
            self.onnx.helper.make_node(op_type, inputs, [output], name=output, **attributes)
        )
        return output

    def constant(self, name, array):
        name = self.unique(name)
        if array.dtype == np.float64:
            array = array.astype("float32")
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name


def _check_opset(opset, onnx):
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, int) or not (
        MIN_OPSET <= opset <= newest
    ):
        raise ValueError(
            f"{OWNER}: `opset` must be an integer from {MIN_OPSET} to {newest} "
            f"(the installed onnx's newest), got {opset!r}. Pass None for "
            f"{DEFAULT_OPSET}."
        )
    return opset


def _data_format(graph):
    formats = {
        call.layer.data_format
        for call in graph.calls
        if getattr(call.layer, "data_format", None) is not None
    }
    if len(formats) > 1:
        raise ValueError(
            f"{OWNER}: the model mixes data formats {sorted(formats)}; one "
            "layout is needed for the graph. Build every layer with the same "
            "data_format."
        )
    return formats.pop() if formats else keras.config.image_data_format()


def _image_converter(model):
    preprocessor = getattr(model, "preprocessor", None)
    converter = getattr(preprocessor, "image_converter", None)
    if converter is None or not hasattr(converter, "scale"):
        raise ValueError(
            f"{OWNER}: include_preprocessing=True needs a model whose "
            "`preprocessor` has an `image_converter` (e.g. a classifier "
            f"from a preset), but {type(model).__name__} has preprocessor "
            f"{type(preprocessor).__name__ if preprocessor is not None else None}"
            f"{' without an image converter' if preprocessor is not None else ''}"
            ". Pass include_preprocessing=False and scale the images yourself."
        )
    return converter


def _preprocessing_size(converter, height, width):
    """The graph input's height and width: the converter's `image_size`."""
    if converter.image_size is None:
        return height, width
    size = tuple(converter.image_size)
    if (height, width) != (None, None) and (height, width) != size:
        raise ValueError(
            f"{OWNER}: the image converter resizes to image_size={size} but "
            f"the model's input is {height}x{width}. Give the converter the "
            "model's image size, or build the model with image_shape=(None, "
            "None, 3)."
        )
    return size


def _check_not_quantized(call):
    mode = getattr(call.layer.dtype_policy, "quantization_mode", None)
    if mode is not None:
        raise ValueError(
            f"{OWNER}: layer {call.name!r} ({type(call.layer).__name__}) is "
            f"quantized ({mode}); only float layers are translated. Export "
            "the float model, or use format='saved_model'."
        )


def _activation_name(call):
    activation = call.layer.activation
    # By identity, not keras.activations.serialize: that imports TensorFlow
    # (when installed) on every backend, 3 s of start-up.
    name = next(
        (
            candidate
            for candidate in SUPPORTED_ACTIVATIONS
            if activation is getattr(keras.activations, candidate, None)
        ),
        None,
    )
    if name not in SUPPORTED_ACTIVATIONS:
        raise ValueError(
            f"{OWNER}: layer {call.name!r} ({type(call.layer).__name__}) has "
            f"activation {getattr(activation, '__name__', activation)!r}; only "
            f"{', '.join(SUPPORTED_ACTIVATIONS)} are translated. Use "
            "format='saved_model' for this model."
        )
    return name


def _batch_norm_affine(layer):
    """Inference-time BatchNormalization as `x * scale + shift`, in float64."""
    inverse_std = 1.0 / np.sqrt(_float64(layer.moving_variance) + layer.epsilon)
    scale = inverse_std * (_float64(layer.gamma) if layer.scale else 1.0)
    shift = -_float64(layer.moving_mean) * scale
    if layer.center:
        shift = shift + _float64(layer.beta)
    return scale, shift


def _float64(variable):
    # Through float32 first: NumPy cannot convert every backend's bfloat16.
    array = keras.ops.convert_to_numpy(keras.ops.cast(variable, "float32"))
    return np.asarray(array, dtype="float64")


def _spatial_size(shape, channels_last):
    return tuple(shape[1:3]) if channels_last else tuple(shape[2:4])


def _same_pads(size, kernel, stride, dilation):
    """(before, after) pads of Keras' "same" padding, TensorFlow's rule;
    `None` when they depend on an unknown input size."""
    effective = (kernel - 1) * dilation + 1
    if stride == 1:
        total = effective - 1
    elif size is None:
        return None
    else:
        total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2
