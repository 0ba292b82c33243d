"""DenseNet depths the benchmarks build, as `stackwise_num_repeats`: those
with the backbone's default widths, which KerasHub builds too."""

from densenet_hub.models.densenet import densenet_layout

DEPTHS = {
    depth: list(spec.stackwise_num_repeats)
    for depth, spec in densenet_layout.DEPTHS.items()
    if spec.default_widths
}


def repeats(depth):
    """`stackwise_num_repeats` for DenseNet-`depth`, or a clear error."""
    if depth not in DEPTHS:
        raise ValueError(
            f"bench: depth must be one of {sorted(DEPTHS)}, got {depth!r}."
        )
    return DEPTHS[depth]
