"""DenseNet depths by name, as `stackwise_num_repeats`."""

DEPTHS = {
    121: [6, 12, 24, 16],
    169: [6, 12, 32, 32],
    201: [6, 12, 48, 32],
    264: [6, 12, 64, 48],
}


def repeats(depth):
    """`stackwise_num_repeats` for DenseNet-`depth`, or a clear error."""
    if depth not in DEPTHS:
        raise ValueError(
            f"bench: depth must be one of {sorted(DEPTHS)}, got {depth!r}."
        )
    return DEPTHS[depth]
