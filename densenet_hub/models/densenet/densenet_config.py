"""What a DenseNet backbone config may hold, and its size computed from the
numbers alone: the preset loader checks a file against these before it
builds anything, so a tiny file cannot make it allocate gigabytes."""

from densenet_hub.models.densenet import densenet_layout
from densenet_hub.presets import schema
from densenet_hub.base.validation import DATA_FORMATS

MAX_STACKS = 8
MAX_REPEATS = 256
MAX_WIDTH = 1024
# What KerasHub's DenseNetBackbone does, so what a config without these keys
# means (KerasHub writes none of them; densenet_hub omits them when equal).
KERAS_HUB_DEFAULTS = {
    "stem_filters": densenet_layout.DEFAULT_STEM_FILTERS,
    "stem_padding": densenet_layout.KERAS_HUB_STEM_PADDING,
    "data_format": "channels_last",
}
# A training-time choice (same graph, same weights): not saved in presets.
RUN_SETTINGS = ("memory_efficient",)


def _check_repeats(file, where, value):
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_STACKS
        or not all(schema.is_int(n) and 1 <= n <= MAX_REPEATS for n in value)
    ):
        raise schema.error(
            file,
            where,
            f"a list of 1 to {MAX_STACKS} integers in [1, {MAX_REPEATS}], "
            "e.g. [6, 12, 24, 16]",
            value,
        )
    return list(value)


def _check_image_shape(file, where, value):
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(schema.optional_side(v) for v in value)
    ):
        raise schema.error(
            file,
            where,
            f"3 entries, each null or an integer in [1, {schema.MAX_IMAGE_SIDE}], "
            "e.g. [224, 224, 3]",
            value,
        )
    return tuple(value)


VALIDATORS = {
    **schema.LAYER_VALIDATORS,
    "stackwise_num_repeats": _check_repeats,
    "compression_ratio": schema.fraction,
    "growth_rate": schema.int_in(1, MAX_WIDTH),
    "stem_filters": schema.int_in(1, MAX_WIDTH),
    "stem_padding": schema.choice(*densenet_layout.STEM_PADDINGS),
    "data_format": schema.choice(*DATA_FORMATS, optional=True),
    "memory_efficient": schema.check_bool,
    "image_shape": _check_image_shape,
}


def image_channels(config):
    """Input channels of a backbone config, by its data format."""
    shape = config.get("image_shape", (None, None, 3))
    data_format = config.get("data_format") or "channels_last"
    channels = shape[0] if data_format == "channels_first" else shape[-1]
    # KerasHub's default shape read as channels_first: 3 channels.
    return 3 if channels is None else channels


def backbone_size(config):
    """`(parameter count, output channels)` of a DenseNet backbone config,
    computed from the numbers alone, without building anything.

    Example:
    ```python
    from densenet_hub.models.densenet.densenet_config import backbone_size

    assert backbone_size({"stackwise_num_repeats": [6, 12, 24, 16]}) == (7_037_504, 1024)
    ```
    """
    growth = config.get("growth_rate", densenet_layout.DEFAULT_GROWTH_RATE)
    ratio = config.get("compression_ratio", 0.5)
    channels = config.get("stem_filters", KERAS_HUB_DEFAULTS["stem_filters"])
    kernel = densenet_layout.STEM_KERNEL_SIZE
    count = kernel * kernel * image_channels(config) * channels + 4 * channels
    bottleneck = densenet_layout.BOTTLENECK_FACTOR * growth
    repeats = config["stackwise_num_repeats"]
    for index, num_blocks in enumerate(repeats):
        for _ in range(num_blocks):
            # BN(c), 1x1 conv to 4g, BN(4g), 3x3 conv to g.
            count += 4 * channels + channels * bottleneck + 4 * bottleneck
            count += 9 * bottleneck * growth
            channels += growth
        if index < len(repeats) - 1:
            kept = max(int(channels * ratio), 1)
            count += 4 * channels + channels * kept
            channels = kept
    return count + 4 * channels, channels


def check_config(file, where, config):
    """Refuses a config with an unusable channel count or too many parameters."""
    channels = image_channels(config)
    if not 1 <= channels <= schema.MAX_CHANNELS:
        raise schema.error(
            file,
            schema.join(where, "image_shape"),
            f"a shape with 1 to {schema.MAX_CHANNELS} channels in the "
            f"{config.get('data_format') or 'channels_last'} position",
            config.get("image_shape"),
        )
    schema.check_parameter_count(file, where, backbone_size(config)[0])
