"""Conversion tables: one row per source tensor, naming the Keras variable it
becomes and the transform on the way, and their strict application to a model.

A table is checked in full before any variable changes: every required source
tensor present, no source tensor left unused, every target variable set, each
shape equal and each value finite. Any failure raises and leaves the model as
it was. Without a model (`mapped_values`, for a checkpoint converted in memory
and built later by the preset loader) the table yields the arrays by target
name, checked for all but shapes and unset variables, which the loader's
weight checks cover.
"""

import collections

import numpy as np

from densenet_hub.presets.weights import named_variables
from densenet_hub.presets.weights import short_listing


class MappingRow(collections.namedtuple("MappingRow", ["source", "target", "transform"])):
    """One line of a conversion table: a source tensor and the variable it sets.

    Args:
        source: the tensor's key in the source checkpoint.
        target: `"layer_name/variable_name"` in the Keras model, or `None` for
            a tensor that is read but deliberately not used (then it may also
            be absent from the checkpoint).
        transform: function from the source array to the Keras array; its
            name says what it does, e.g. `oihw_to_hwio`.

    Example:
    ```python
    from densenet_hub.convert.mapping import MappingRow, oihw_to_hwio

    row = MappingRow("features.conv0.weight", "conv1_conv/kernel", oihw_to_hwio)
    assert row.transform.__name__ == "oihw_to_hwio"
    ```
    """

    __slots__ = ()


def as_is(array):
    """Same layout in both frameworks (BatchNorm vectors, biases)."""
    return array


def oihw_to_hwio(array):
    """Conv kernel: torch (out, in, height, width) -> Keras (height, width, in, out)."""
    return np.transpose(array, (2, 3, 1, 0))


def out_in_to_in_out(array):
    """Dense kernel: torch Linear (out, in) -> Keras Dense (in, out)."""
    return np.transpose(array)


def apply_mapping(rows, tensors, layers, source):
    """Set every variable of `layers` from `tensors` as `rows` prescribe.

    Args:
        rows: iterable of `MappingRow`.
        tensors: dict of source key -> numpy array.
        layers: iterable of Keras layers whose variables must all be set.
        source: what the tensors came from (a file name), for messages.

    Raises:
        ValueError: keys missing from or unexpected in `tensors`, a variable
            no row sets, a non-float tensor, a shape mismatch or a non-finite
            value. Nothing is assigned then.
    """
    rows = list(rows)
    _check_keys(rows, tensors, source)
    variables = named_variables(layers)
    values = {}
    for row in rows:
        if row.target is not None:
            _check_target(row, variables, source)
            value = _transformed(row, tensors[row.source], source)
            _check_shape(row, tensors[row.source], value, variables, source)
            values[row.target] = value
    unset = sorted(set(variables) - set(values))
    if unset:
        raise ValueError(
            f"{source}: no source tensor sets these model variables: "
            f"{short_listing(unset)}. The checkpoint does not hold a complete DenseNet."
        )
    _check_finite(rows, values, source)
    for target, value in values.items():
        variables[target].assign(value)


def mapped_values(rows, tensors, source):
    """The arrays `rows` make of `tensors`, by target name, for a model not
    built yet.

    Args:
        rows: iterable of `MappingRow`.
        tensors: dict of source key -> numpy array.
        source: what the tensors came from (a file name), for messages.

    Returns:
        `{"layer/variable": float32 array}`.

    Raises:
        ValueError: keys missing from or unexpected in `tensors`, a
            non-float tensor or a non-finite value.

    Example:
    ```python
    import numpy as np
    from densenet_hub.convert.mapping import MappingRow, mapped_values, oihw_to_hwio

    rows = [MappingRow("features.conv0.weight", "conv1_conv/kernel", oihw_to_hwio)]
    tensors = {"features.conv0.weight": np.ones((8, 3, 7, 7), "float32")}
    assert mapped_values(rows, tensors, "tiny")["conv1_conv/kernel"].shape == (7, 7, 3, 8)
    ```
    """
    rows = list(rows)
    _check_keys(rows, tensors, source)
    values = {
        row.target: _transformed(row, tensors[row.source], source)
        for row in rows
        if row.target is not None
    }
    _check_finite(rows, values, source)
    return values


def _check_keys(rows, tensors, source):
    expected = {row.source for row in rows}
    missing = [
        row.source for row in rows if row.target is not None and row.source not in tensors
    ]
    unexpected = set(tensors) - expected
    problems = [
        f"{label} keys ({len(keys)}): {short_listing(keys)}."
        for label, keys in (("Missing", missing), ("Unexpected", unexpected))
        if keys
    ]
    if problems:
        raise ValueError(
            f"{source} does not match the DenseNet architecture inferred from "
            f"its tensors. {' '.join(problems)} Every tensor must map onto a "
            f"model variable and every variable must be set; the file holds "
            f"another network or a damaged checkpoint."
        )


def _check_target(row, variables, source):
    if row.target not in variables:
        raise ValueError(
            f"{source}: the table maps {row.source!r} to {row.target!r}, which "
            f"the model does not have."
        )


def _transformed(row, array, source):
    """The float32 value `row` makes of `array`."""
    if array.dtype.kind != "f":
        raise ValueError(
            f"{source}: tensor {row.source!r} has dtype {array.dtype}, expected "
            f"a floating dtype for {row.target!r}. The file is not a weight checkpoint."
        )
    return row.transform(array).astype(np.float32, copy=False)


def _check_shape(row, array, value, variables, source):
    expected_shape = tuple(variables[row.target].shape)
    if value.shape != expected_shape:
        raise ValueError(
            f"{source}: tensor {row.source!r} has shape {array.shape}, which "
            f"{row.transform.__name__} turns into {value.shape}, but "
            f"{row.target!r} needs {expected_shape}. The checkpoint's "
            f"architecture differs from the inferred one at this layer."
        )


def _check_finite(rows, values, source):
    bad = [
        f"{row.source} -> {row.target}"
        for row in rows
        if row.target is not None and not np.isfinite(values[row.target]).all()
    ]
    if bad:
        raise ValueError(
            f"{source}: NaN or Inf values in {short_listing(bad)}. A usable "
            f"checkpoint has finite weights; re-export it from a healthy model."
        )

