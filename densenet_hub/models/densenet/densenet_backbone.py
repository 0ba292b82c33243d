"""DenseNet backbone (Huang et al., "Densely Connected Convolutional Networks", CVPR 2017)."""

import math

import keras

from densenet_hub.models.backbone import Backbone
from densenet_hub.models.compiler_memory import release_after_long_compiles
from densenet_hub.models.densenet import densenet_config
from densenet_hub.models.densenet import densenet_layout as layout
from densenet_hub.models.densenet import memory_efficient as memory_efficient_pass
from densenet_hub.models.host_initializers import HostConstant
from densenet_hub.models.host_initializers import HostGlorotUniform
from densenet_hub.presets.registry import preset_class
from densenet_hub.base.validation import check_choice
from densenet_hub.base.validation import check_positive_int
from densenet_hub.base.validation import reject_unknown_kwargs
from densenet_hub.base.validation import DATA_FORMATS
from densenet_hub.base.validation import LAYER_KWARGS

DEFAULT_IMAGE_SHAPE = (None, None, 3)
KERAS_HUB_MODULE = "keras_hub.src.models.densenet.densenet_backbone"


@keras.saving.register_keras_serializable(package="densenet_hub")
@preset_class(
    kind="backbone",
    keras_hub_module=KERAS_HUB_MODULE,
    validators=densenet_config.VALIDATORS,
    required=("stackwise_num_repeats",),
    check=densenet_config.check_config,
    size=densenet_config.backbone_size,
    keras_hub_defaults=densenet_config.KERAS_HUB_DEFAULTS,
    run_settings=densenet_config.RUN_SETTINGS,
    former_modules=("densenet_hub.models.densenet_backbone",),
)
class DenseNetBackbone(Backbone):
    """DenseNet feature extractor, layer for layer compatible with KerasHub.

    The graph, the layer names and their creation order are those of
    `keras_hub.models.DenseNetBackbone`, so a KerasHub `model.weights.h5`
    loads into this model and the other way round. The output is the final
    BatchNorm + ReLU feature map (no pooling); `pyramid_outputs` maps
    `"P2"`..`"P{L+1}"` to the raw output of each dense block.

    Stem padding: `stem_padding="same"` (the default) is KerasHub's
    architecture, Keras' "same" padding, asymmetric on even input sizes (it
    pads (2, 3) and (0, 1) at 224), so a model built from arguments equals
    KerasHub's. The torch models the public weights come from (torchvision,
    timm) pad the 7x7/2 stem convolution by 3 and the 3x3/2 max-pool by 1 on
    every side: `stem_padding="symmetric"` does the same and reproduces their
    outputs. Whatever loads torch-trained weights sets it (the built-in
    presets, `hf://timm/...`, every converter); see `densenet_layout`. On odd
    input sizes both choices give identical outputs.

    Memory-efficient training (Pleiss et al., "Memory-Efficient
    Implementation of DenseNets", 2017): with `memory_efficient=True`, a
    training call (`training=True`, e.g. in `fit`) keeps only each dense
    block's feature pieces and recomputes the rest in the backward pass
    (each dense layer's concatenation -> BatchNorm -> ReLU -> 1x1 convolution
    -> BatchNorm -> ReLU, the stem and the transitions), so training
    activation memory grows linearly rather than quadratically with depth,
    for roughly one extra forward pass of those parts per step. Outputs,
    gradients and BatchNorm moving statistics equal the normal pass'; the
    layers, weights and saved graph are the same, and inference runs the
    normal graph. It applies to calls of this model, not to new models built
    from its layers such as `keras.Model(backbone.inputs,
    backbone.pyramid_outputs)`. Off by default.

    On JAX, building a DenseNetBackbone also makes the process hand the
    memory XLA's compiler frees back to the system after each long compile
    (`densenet_hub.models.compiler_memory`).

    Args:
        stackwise_num_repeats: list of ints, the number of conv blocks in each
            dense block, e.g. `[6, 12, 24, 16]` for DenseNet-121. Any number
            of dense blocks (at least one).
        image_shape: input shape without the batch axis, in the model's data
            format. Spatial sizes may be `None`. With `channels_first` the
            default `(None, None, 3)` is read as `(3, None, None)`.
        compression_ratio: float in (0, 1], the fraction of channels a
            transition block keeps.
        growth_rate: int, the channels each conv block adds.
        stem_filters: int, the width of the stem convolution; 64 for
            DenseNet-121/169/201, 96 for DenseNet-161.
        stem_padding: `"symmetric"` or `"same"`, see above.
        data_format: `"channels_last"`, `"channels_first"` or `None` for
            `keras.config.image_data_format()`.
        memory_efficient: bool, recompute activations in the backward pass
            to save training memory, see above.
        dtype: a dtype or dtype policy for every layer, e.g. `"bfloat16"` or
            `"mixed_bfloat16"`.
        **kwargs: `name` and `trainable`.

    Example:
    ```python
    import numpy as np
    import densenet_hub

    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    features = backbone.predict(np.ones((1, 32, 32, 3)), verbose=0)
    assert features.shape == (1, 4, 4, 44)
    ```
    """

    def __init__(
        self,
        stackwise_num_repeats,
        image_shape=DEFAULT_IMAGE_SHAPE,
        compression_ratio=0.5,
        growth_rate=32,
        stem_filters=64,
        stem_padding=layout.DEFAULT_STEM_PADDING,
        data_format=None,
        memory_efficient=False,
        dtype=None,
        **kwargs,
    ):
        owner = type(self).__name__
        reject_unknown_kwargs(self, kwargs, LAYER_KWARGS)
        stackwise_num_repeats = _check_repeats(owner, stackwise_num_repeats)
        check_positive_int(owner, "growth_rate", growth_rate)
        check_positive_int(owner, "stem_filters", stem_filters)
        compression_ratio = _check_compression(owner, compression_ratio)
        check_choice(owner, "stem_padding", stem_padding, layout.STEM_PADDINGS)
        data_format = data_format or keras.config.image_data_format()
        check_choice(owner, "data_format", data_format, DATA_FORMATS)
        _check_memory_efficient(owner, memory_efficient)
        image_shape = _check_image_shape(
            owner, image_shape, data_format, len(stackwise_num_repeats)
        )
        channel_axis = -1 if data_format == "channels_last" else 1

        # === Layers, created in KerasHub's order ===
        image_input = keras.layers.Input(shape=image_shape)
        conv_kwargs = {
            "use_bias": False,
            "data_format": data_format,
            "dtype": dtype,
            "kernel_initializer": HostGlorotUniform(),
        }
        bn_kwargs = {
            "axis": channel_axis,
            "epsilon": layout.BN_EPSILON,
            "dtype": dtype,
            "beta_initializer": HostConstant(0.0),
            "gamma_initializer": HostConstant(1.0),
            "moving_mean_initializer": HostConstant(0.0),
            "moving_variance_initializer": HostConstant(1.0),
        }

        x = image_input
        torch_padding = stem_padding == layout.TORCH_STEM_PADDING
        if torch_padding:
            x = keras.layers.ZeroPadding2D(
                3, data_format=data_format, dtype=dtype, name=layout.STEM_CONV_PAD
            )(x)
        x = keras.layers.Conv2D(
            stem_filters,
            layout.STEM_KERNEL_SIZE,
            strides=2,
            padding="valid" if torch_padding else "same",
            name=layout.STEM_CONV,
            **conv_kwargs,
        )(x)
        x = keras.layers.BatchNormalization(name=layout.STEM_BN, **bn_kwargs)(x)
        x = keras.layers.Activation("relu", dtype=dtype, name=layout.STEM_RELU)(x)
        if torch_padding:
            # Zeros equal torch's -inf padding here: the input is post-ReLU.
            x = keras.layers.ZeroPadding2D(
                1, data_format=data_format, dtype=dtype, name=layout.STEM_POOL_PAD
            )(x)
        x = keras.layers.MaxPooling2D(
            3,
            strides=2,
            padding="valid" if torch_padding else "same",
            data_format=data_format,
            dtype=dtype,
            name=layout.STEM_POOL,
        )(x)

        pyramid_outputs = {}
        num_stacks = len(stackwise_num_repeats)
        for stack_index, num_repeats in enumerate(stackwise_num_repeats, start=1):
            for block_index in range(1, num_repeats + 1):
                x = _conv_block(
                    x,
                    growth_rate,
                    layout.dense_layer(stack_index, block_index),
                    conv_kwargs,
                    bn_kwargs,
                )
            pyramid_outputs[f"P{stack_index + 1}"] = x
            if stack_index < num_stacks:
                x = _transition_block(
                    x,
                    compression_ratio,
                    layout.transition(stack_index),
                    channel_axis,
                    conv_kwargs,
                    bn_kwargs,
                )
        x = keras.layers.BatchNormalization(name=layout.FINAL_BN, **bn_kwargs)(x)
        x = keras.layers.Activation("relu", dtype=dtype, name=layout.FINAL_RELU)(x)

        super().__init__(inputs=image_input, outputs=x, dtype=dtype, **kwargs)

        # === Config ===
        self.stackwise_num_repeats = stackwise_num_repeats
        self.image_shape = image_shape
        self.compression_ratio = compression_ratio
        self.growth_rate = growth_rate
        self.stem_filters = stem_filters
        self.stem_padding = stem_padding
        self.data_format = data_format
        self.memory_efficient = memory_efficient
        self._pyramid_outputs = pyramid_outputs
        release_after_long_compiles()

    def call(self, inputs, training=None, mask=None, **kwargs):
        if self.memory_efficient and training:
            (image,) = self._standardize_inputs(inputs)
            return memory_efficient_pass.forward(self, image, training)[0]
        return super().call(inputs, training=training, mask=mask, **kwargs)

    @property
    def pyramid_outputs(self):
        """Dict `"P2"`..`"P{L+1}"` -> the symbolic output of each dense block."""
        # A plain copy: Keras wraps dict attributes in a tracked dict, which
        # JAX rejects as the output structure of `keras.Model(inputs, ...)`.
        return dict(self._pyramid_outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                # A copy: Keras wraps list attributes in a tracked list that
                # belongs to the model, and a config must not alias it.
                "stackwise_num_repeats": list(self.stackwise_num_repeats),
                "image_shape": self.image_shape,
                "compression_ratio": self.compression_ratio,
                "growth_rate": self.growth_rate,
                "stem_filters": self.stem_filters,
                "stem_padding": self.stem_padding,
                "data_format": self.data_format,
                "memory_efficient": self.memory_efficient,
            }
        )
        return config


def _conv_block(x, growth_rate, name, conv_kwargs, bn_kwargs):
    """BN-ReLU-Conv(1x1)-BN-ReLU-Conv(3x3), concatenated onto its input."""
    channel_axis = bn_kwargs["axis"]
    dtype = bn_kwargs["dtype"]
    bn1, relu1, conv1, bn2, relu2, conv2 = (
        name + suffix for suffix in layout.DENSE_LAYER_SUFFIXES
    )
    y = keras.layers.BatchNormalization(name=bn1, **bn_kwargs)(x)
    y = keras.layers.Activation("relu", dtype=dtype, name=relu1)(y)
    y = keras.layers.Conv2D(
        layout.BOTTLENECK_FACTOR * growth_rate, 1, name=conv1, **conv_kwargs
    )(y)
    y = keras.layers.BatchNormalization(name=bn2, **bn_kwargs)(y)
    y = keras.layers.Activation("relu", dtype=dtype, name=relu2)(y)
    y = keras.layers.Conv2D(growth_rate, 3, padding="same", name=conv2, **conv_kwargs)(y)
    return keras.layers.Concatenate(
        axis=channel_axis, dtype=dtype, name=name + layout.CONCAT_SUFFIX
    )([x, y])


def _transition_block(x, compression_ratio, name, channel_axis, conv_kwargs, bn_kwargs):
    """BN-ReLU-Conv(1x1) that keeps a fraction of the channels, then 2x2 average pool."""
    dtype = bn_kwargs["dtype"]
    bn, relu, conv, pool = (name + suffix for suffix in layout.TRANSITION_SUFFIXES)
    filters = int(x.shape[channel_axis] * compression_ratio)
    x = keras.layers.BatchNormalization(name=bn, **bn_kwargs)(x)
    x = keras.layers.Activation("relu", dtype=dtype, name=relu)(x)
    x = keras.layers.Conv2D(max(filters, 1), 1, name=conv, **conv_kwargs)(x)
    return keras.layers.AveragePooling2D(
        2, strides=2, data_format=conv_kwargs["data_format"], dtype=dtype, name=pool
    )(x)


def _check_repeats(owner, stackwise_num_repeats):
    if isinstance(stackwise_num_repeats, (str, bytes)) or not hasattr(
        stackwise_num_repeats, "__len__"
    ):
        raise ValueError(
            f"{owner}: `stackwise_num_repeats` must be a non-empty list of "
            f"positive integers such as [6, 12, 24, 16], got {stackwise_num_repeats!r}."
        )
    repeats = list(stackwise_num_repeats)
    if not repeats or any(
        isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in repeats
    ):
        raise ValueError(
            f"{owner}: `stackwise_num_repeats` must be a non-empty list of "
            f"positive integers such as [6, 12, 24, 16], got {stackwise_num_repeats!r}."
        )
    return repeats


def _check_memory_efficient(owner, memory_efficient):
    if not isinstance(memory_efficient, bool):
        raise ValueError(
            f"{owner}: `memory_efficient` must be True or False, got "
            f"{memory_efficient!r}."
        )


def _check_compression(owner, compression_ratio):
    if (
        isinstance(compression_ratio, bool)
        or not isinstance(compression_ratio, (int, float))
        or not 0 < compression_ratio <= 1
    ):
        raise ValueError(
            f"{owner}: `compression_ratio` must be a number in (0, 1], got "
            f"{compression_ratio!r}. DenseNet-BC uses 0.5."
        )
    return float(compression_ratio)


def _spatial_size_after(size, num_stacks):
    """Spatial size of the final feature map for an input side of `size`."""
    size = math.ceil(size / 2)  # stem convolution, stride 2
    size = math.ceil(size / 2)  # stem max-pool, stride 2
    for _ in range(num_stacks - 1):
        size //= 2  # transition average pool, 2x2 "valid"
    return size


def _min_input_size(num_stacks):
    size = 1
    while _spatial_size_after(size, num_stacks) < 1:
        size += 1
    return size


def _check_image_shape(owner, image_shape, data_format, num_stacks):
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = None
    if shape is None or len(shape) != 3:
        raise ValueError(
            f"{owner}: `image_shape` must have 3 entries (height, width, "
            f"channels) without the batch axis, got {image_shape!r}. "
            f"Example: (224, 224, 3) or (None, None, 3)."
        )
    if data_format == "channels_first" and shape == DEFAULT_IMAGE_SHAPE:
        shape = (3, None, None)
    if data_format == "channels_last":
        spatial, channels, order = shape[:2], shape[2], "(height, width, channels)"
    else:
        spatial, channels, order = shape[1:], shape[0], "(channels, height, width)"
    for dim in shape:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)):
            raise ValueError(
                f"{owner}: `image_shape` entries must be positive integers or "
                f"None, got {image_shape!r}."
            )
    if channels is None or channels <= 0:
        raise ValueError(
            f"{owner}: `image_shape` must give a positive channel count in "
            f"{order} order for {data_format}, got {image_shape!r}."
        )
    min_size = _min_input_size(num_stacks)
    for dim in spatial:
        if dim is not None and dim < min_size:
            raise ValueError(
                f"{owner}: `image_shape` {image_shape!r} has a spatial size of "
                f"{dim}, too small for {num_stacks} dense block(s): the "
                f"downsampling needs at least {min_size} pixels per side "
                f"(order {order} for {data_format}). Use a larger image_shape "
                f"or None for a variable size."
            )
    return shape
