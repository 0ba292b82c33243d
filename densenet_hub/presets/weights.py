"""Strict reading and writing of Keras `.weights.h5` files.

The layout is Keras 3's `save_weights` layout, so KerasHub reads what is
written here and the other way round: each layer of a functional model owns
the group `layers/<snake_case class name>[_<n>]/vars`, numbered per class in
graph order, holding its variables as datasets `0`, `1`, ... in
`layer.weights` order.

Keras' own loader casts dtypes silently, ignores extra variables and lets NaN
through. Here every variable the model expects must be present with the same
shape, a float dtype and finite values, and nothing unexpected may be in the
file (except where the caller allows extras); soft, external and virtual
links and external storage are refused before any data is read. All values
are read and checked before the first one is assigned, so a failed load
leaves the model untouched.

Arrays held in memory (a checkpoint converted on load, never written to a
file) go through the same checks (`read_arrays`), keyed by layer and
variable name (`named_layout`) instead of the file layout.
"""

import contextlib
import io
import math
import re

import h5py
import keras
import ml_dtypes
import numpy as np

from densenet_hub.base import file_names as names
from densenet_hub.presets import files
from densenet_hub.base.json_files import read_json

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
FLOAT_DTYPES = ("float16", "float32", "float64")
MAX_GROUP_DEPTH = 32
MAX_LISTED = 20
MAX_SHARD_MAP_BYTES = 16 << 20


def _snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def weight_layout(model, skip=()):
    """`{dataset path: variable}` of a functional model's `.weights.h5` file.

    Args:
        model: a built functional `keras.Model` of stock layers (a nested
            model counts as one layer and is only valid in `skip`).
        skip: layers whose variables are stored elsewhere (a task's backbone).
    """
    layout = {}
    counters = {}
    for layer in model.layers:
        base = _snake_case(type(layer).__name__)
        count = counters.get(base, 0)
        counters[base] = count + 1
        group = base if count == 0 else f"{base}_{count}"
        if any(layer is skipped for skipped in skip):
            continue
        if isinstance(layer, keras.Model):
            raise TypeError(
                f"weight_layout: the nested model {layer.name!r} has its own "
                "file layout; pass it in `skip` and save it separately."
            )
        for index, variable in enumerate(layer.weights):
            layout[f"layers/{group}/vars/{index}"] = variable
    return layout


def task_weight_layout(task):
    """`weight_layout` of a task's own variables (its head): `task.weights.h5`
    holds everything but the backbone, which has its own file."""
    return weight_layout(task, skip=[task.backbone])


def named_variables(layers):
    """`{"layer/variable": variable}` of `layers`, the names a converter
    maps checkpoint tensors onto (e.g. `conv1_conv/kernel`)."""
    return {
        f"{layer.name}/{variable.name}": variable
        for layer in layers
        for variable in layer.weights
    }


def named_layout(model, skip=()):
    """`named_variables` of a functional model's own layers, as
    `weight_layout` takes them (a nested model only in `skip`).

    Example:
    ```python
    from densenet_hub.models import DenseNetBackbone, DenseNetImageClassifier
    from densenet_hub.presets.weights import named_layout

    backbone = DenseNetBackbone([2, 2], growth_rate=4, image_shape=(32, 32, 3))
    classifier = DenseNetImageClassifier(backbone, num_classes=3)
    assert "conv1_conv/kernel" in named_layout(backbone)
    assert sorted(named_layout(classifier, skip=[backbone])) == [
        "predictions/bias", "predictions/kernel"
    ]
    ```
    """
    layers = [layer for layer in model.layers if not any(layer is s for s in skip)]
    for layer in layers:
        if isinstance(layer, keras.Model):
            raise TypeError(
                f"named_layout: the nested model {layer.name!r} names its "
                "variables itself; pass it in `skip` and take its own layout."
            )
    return named_variables(layers)


def sharded_layouts(layout, max_shard_size):
    """Splits a layout into KerasHub's (Keras') sharded weight files.

    Keras fills `model_00000.weights.h5`, `model_00001.weights.h5`, ... with
    the variables in order, starting a new file when the next variable would
    take the current one past `max_shard_size` GB, and writes
    `model.weights.json`, mapping each variable group
    (`/layers/<group>/vars`) to its file, or to a list of files for a group of
    several variables.

    Args:
        layout: `{dataset path: variable}` from `weight_layout`.
        max_shard_size: the most GB (2**30 bytes) of variables in one file.

    Returns:
        `({shard file name: layout}, the model.weights.json object)`.

    Raises:
        ValueError: one variable alone is larger than `max_shard_size`.
    """
    limit = float(max_shard_size) * 1024**3
    shards = [{}]
    weight_map = {}
    shard_size = total_size = 0
    for key, variable in layout.items():
        size = math.prod(variable.shape) * _target_dtype(variable).itemsize
        if size > limit:
            raise ValueError(
                f"Variable {variable.path} takes {size} bytes, more than "
                f"max_shard_size={max_shard_size} GB ({int(limit)} bytes); a "
                "variable cannot be split across files. Pass a larger "
                "max_shard_size, or None to write one file."
            )
        shard_size += size
        total_size += size
        if shard_size > limit:
            shards.append({})
            shard_size = size
        shards[-1][key] = variable
        name = _shard_name(len(shards) - 1)
        group = "/" + key.rsplit("/", 1)[0]
        if group not in weight_map:
            weight_map[group] = name
        else:
            # Keras turns a group's entry into a list at its second variable.
            listed = weight_map[group] if isinstance(weight_map[group], list) else [weight_map[group]]
            weight_map[group] = listed + ([name] if name not in listed else [])
    named = {_shard_name(index): shard for index, shard in enumerate(shards) if shard}
    return named, {"metadata": {"total_size": float(total_size)}, "weight_map": weight_map}


def _shard_name(index):
    stem = names.SHARDED_WEIGHTS_FILE.split(".")[0]
    return f"{stem}_{index:05}.weights.h5"


def variables_size_in_gb(variables):
    """The bytes of `variables` in their dtypes, in GB (2**30 bytes): what
    KerasHub compares with `max_shard_size` to decide whether to shard."""
    unique = {id(variable): variable for variable in variables}.values()
    total = sum(math.prod(v.shape) * _target_dtype(v).itemsize for v in unique)
    return total / 1024**3


def backbone_weight_files(directory):
    """The backbone's weight files: `model.weights.h5`, or the shards that
    `model.weights.json` lists when the weights are sharded."""
    single = files.existing_file(directory, names.MODEL_WEIGHTS_FILE)
    if single is not None:
        return [single]
    shard_map = files.existing_file(directory, names.SHARDED_WEIGHTS_FILE)
    if shard_map is None:
        return [files.required_file(directory, names.MODEL_WEIGHTS_FILE, "backbone weights")]
    return _shard_files(directory, shard_map)


def _shard_files(directory, shard_map):
    weight_map = read_json(shard_map, MAX_SHARD_MAP_BYTES).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(
            f"{shard_map}: `weight_map` must be a non-empty object mapping "
            f"variable groups to shard files, got {type(weight_map).__name__}. "
            "Re-save the preset."
        )
    names = []
    for value in weight_map.values():
        for name in value if isinstance(value, list) else [value]:
            if name not in names:
                names.append(name)
    shards = []
    for name in names:
        path = files.existing_file(directory, name, source=shard_map.name)
        if path is None or not name.endswith(".weights.h5"):
            raise ValueError(
                f"{shard_map} lists the shard {name!r}, which "
                f"{'is not a .weights.h5 file' if path else 'is missing'} in "
                f"{directory}. Re-download the preset or re-save it."
            )
        shards.append(path)
    return shards


def _describe(path, variable):
    return f"`{path}` ({variable.path})"


def short_listing(items):
    """`items` sorted and comma-separated for an error message, cut after
    `MAX_LISTED` with a count of the rest."""
    items = sorted(items)
    more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def open_weights_file(path):
    """Opens an HDF5 weight file for reading; a file that is empty, cut
    short or not HDF5 is a `ValueError` naming it."""
    with open(path, "rb") as file:
        head = file.read(len(HDF5_SIGNATURE))
    if head != HDF5_SIGNATURE:
        what = "empty" if not head else "not an HDF5 file"
        raise ValueError(
            f"{path} is {what} (no HDF5 signature). The download or save was "
            "cut short or the file is not a weight file; re-download or "
            "re-save the preset."
        )
    try:
        return h5py.File(path, "r")
    except (OSError, RuntimeError) as error:
        raise ValueError(
            f"{path} is not a readable HDF5 weight file ({error}). Re-download "
            "or re-save the preset."
        ) from None


def hard_linked_datasets(h5_file, path):
    """`{dataset path: dataset}` of an open HDF5 file, walking hard links
    only; links and external or virtual storage are a `ValueError` naming
    `path`, the file's name for messages."""
    found = {}
    pending = [("", h5_file, 0)]
    while pending:
        prefix, group, depth = pending.pop()
        if depth > MAX_GROUP_DEPTH:
            raise ValueError(
                f"{path}: groups nest deeper than {MAX_GROUP_DEPTH} levels at "
                f"`{prefix}`; Keras weight files never do. The file is "
                "malformed; re-save the preset."
            )
        for name in group:
            key = f"{prefix}{name}"
            link = group.get(name, getlink=True)
            if type(link) is not h5py.HardLink:
                raise ValueError(
                    f"{path}: `{key}` is an HDF5 {type(link).__name__}; links could "
                    "read data from outside the file and are refused. Re-save "
                    "the weights with Keras or densenet_hub."
                )
            item = group[name]
            if isinstance(item, h5py.Group):
                pending.append((f"{key}/", item, depth + 1))
            elif isinstance(item, h5py.Dataset):
                _check_storage(path, key, item)
                found[key] = item
            else:
                raise ValueError(
                    f"{path}: `{key}` is a {type(item).__name__}, not a group "
                    "or dataset. Re-save the weights."
                )
    return found


def _check_storage(path, key, dataset):
    if dataset.external or dataset.is_virtual:
        kind = "external storage" if dataset.external else "a virtual dataset"
        raise ValueError(
            f"{path}: `{key}` uses {kind}, which reads data from other files "
            "and is refused. Re-save the weights with Keras or densenet_hub."
        )


def _file_dtype(path, key, dataset, variable):
    """The stored dtype name, `"bfloat16"` for Keras' tagged 2-byte blobs."""
    tag = dataset.attrs.get("dtype")
    if isinstance(tag, bytes):
        tag = tag.decode("utf-8", "replace")
    if tag is None and dataset.dtype.kind == "f" and dataset.dtype.name in FLOAT_DTYPES:
        return dataset.dtype.name
    if tag == "bfloat16" and dataset.dtype == np.dtype("V2"):
        return "bfloat16"
    label = f"{dataset.dtype}" + (f" tagged {tag!r}" if tag is not None else "")
    raise _dtype_error(path, key, variable, label)


def _dtype_error(where, key, variable, label):
    return ValueError(
        f"{where}: variable {_describe(key, variable)} is stored as {label}; "
        "only float16, bfloat16, float32 and float64 weights are accepted "
        "(no silent casts from integers, strings or mislabelled data). The "
        "file is corrupt or not a weight file; re-download or re-save it."
    )


def _target_dtype(variable):
    name = keras.backend.standardize_dtype(variable.dtype)
    return np.dtype(ml_dtypes.bfloat16 if name == "bfloat16" else name)


def _check_shape(where, key, shape, variable):
    if tuple(shape) != tuple(variable.shape):
        raise ValueError(
            f"{where}: variable {_describe(key, variable)} has shape "
            f"{tuple(shape)} in the file but the model expects "
            f"{tuple(variable.shape)}. The weights belong to another "
            "architecture: load them with the config they were saved with."
        )


def _read(path, key, dataset, variable):
    _check_shape(path, key, dataset.shape, variable)
    stored = _file_dtype(path, key, dataset, variable)
    value = np.asarray(dataset[()])
    if stored == "bfloat16":
        value = value.view(ml_dtypes.bfloat16)
    return value.astype(_target_dtype(variable))


@contextlib.contextmanager
def _damage_reported(path, where=""):
    """Turns the HDF5 library's errors on a damaged file into a ValueError
    naming the file (and the variable being read)."""
    try:
        yield
    except (OSError, RuntimeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path}{where} cannot be read ({type(error).__name__}: {error}). "
            "The file is damaged; re-download or re-save the preset."
        ) from None


def _is_finite(value):
    return bool(np.all(np.isfinite(value.astype(np.float32))))


def read_weights(paths, layout, allow_extra=False):
    """Reads and checks every variable of `layout` from the files `paths`.

    Args:
        paths: the `.weights.h5` files (several for sharded weights).
        layout: `{dataset path: variable}` from `weight_layout`.
        allow_extra: ignore datasets the layout does not name (KerasHub's
            published task weight files also hold the whole model).

    Returns:
        `{dataset path: numpy array}` in each variable's dtype.
    """
    opened = []
    try:
        found = {}
        for path in paths:
            opened.append(open_weights_file(path))
            with _damage_reported(path):
                datasets = hard_linked_datasets(opened[-1], path)
            for key, dataset in datasets.items():
                if key in found:
                    raise ValueError(
                        f"`{key}` is stored in both {found[key][0]} and {path}. "
                        "Shards must not repeat a variable; re-save the preset."
                    )
                found[key] = (path, dataset)
        _check_names(_names(paths), layout, found, allow_extra)
        values = {}
        for key, variable in layout.items():
            path, dataset = found[key]
            with _damage_reported(path, f": variable {_describe(key, variable)}"):
                values[key] = _read(path, key, dataset, variable)
    finally:
        for h5_file in opened:
            # Closing a damaged file can fail too; the data is read or lost.
            with contextlib.suppress(OSError, RuntimeError):
                h5_file.close()
    _check_finite(_names(paths), layout, values)
    return values


def read_arrays(arrays, layout, source):
    """Checks arrays held in memory as `read_weights` checks a file: every
    variable of `layout` present and nothing else, each with its shape, a
    float dtype and finite values.

    Args:
        arrays: `{key: numpy array}`, keyed as `layout`.
        layout: `{key: variable}`, e.g. from `named_layout`.
        source: what the arrays come from, for messages.

    Returns:
        `{key: numpy array}` in each variable's dtype.

    Example:
    ```python
    import numpy as np
    from densenet_hub.models import DenseNetBackbone
    from densenet_hub.presets.weights import named_layout, read_arrays

    backbone = DenseNetBackbone([2, 2], growth_rate=4, image_shape=(32, 32, 3))
    layout = named_layout(backbone)
    arrays = {key: np.zeros(variable.shape, "float32") for key, variable in layout.items()}
    arrays["conv1_bn/gamma"][0] = np.nan
    try:
        read_arrays(arrays, layout, "converted.safetensors")
    except ValueError as error:
        assert "NaN or infinite values" in str(error) and "conv1_bn/gamma" in str(error)
    ```
    """
    _check_names(source, layout, arrays, allow_extra=False)
    values = {
        key: _array_value(source, key, arrays[key], variable)
        for key, variable in layout.items()
    }
    _check_finite(source, layout, values)
    return values


def _array_value(source, key, array, variable):
    _check_shape(source, key, array.shape, variable)
    if array.dtype.name not in (*FLOAT_DTYPES, "bfloat16"):
        raise _dtype_error(source, key, variable, str(array.dtype))
    return array.astype(_target_dtype(variable))


def _check_finite(where, layout, values):
    bad = [_describe(k, layout[k]) for k, v in values.items() if not _is_finite(v)]
    if bad:
        raise ValueError(
            f"{where}: NaN or infinite values (after conversion to the "
            f"model's dtype) in {len(bad)} variable(s): {short_listing(bad)}. The "
            "weights are broken; re-download or re-train them."
        )


def _names(paths):
    return ", ".join(str(path) for path in paths)


def _check_names(where, layout, found, allow_extra):
    missing = [_describe(key, layout[key]) for key in layout if key not in found]
    unexpected = [] if allow_extra else [key for key in found if key not in layout]
    if missing or unexpected:
        raise ValueError(
            f"{where} do(es) not match the model: {len(missing)} "
            f"missing variable(s) [{short_listing(missing)}] and {len(unexpected)} "
            f"unexpected variable(s) [{short_listing(unexpected)}]. The weights "
            "belong to another architecture: load them with the config they "
            "were saved with."
        )


def assign_weights(layout, values):
    """Assigns the arrays from `read_weights` to the layout's variables."""
    for key, variable in layout.items():
        variable.assign(values[key])


def load_weights(paths, layout, allow_extra=False):
    """`read_weights`, then `assign_weights`."""
    assign_weights(layout, read_weights(paths, layout, allow_extra))


def load_arrays(arrays, layout, source):
    """`read_arrays`, then `assign_weights`."""
    assign_weights(layout, read_arrays(arrays, layout, source))


def weights_file_bytes(layout):
    """The bytes of a Keras `.weights.h5` file holding `{dataset path: variable}`.

    The file is built in memory so that a failing disk write surfaces as a
    plain `OSError` from Python, not inside the HDF5 library.
    """
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5_file:
        for key, variable in layout.items():
            # The backend's tensor, not the Keras variable, whose `__array__`
            # takes no `copy` argument (NumPy 2 warns).
            value = np.asarray(keras.ops.convert_to_numpy(variable.value))
            if value.dtype == ml_dtypes.bfloat16:
                # Keras' convention: raw 2-byte values tagged "bfloat16".
                dataset = h5_file.create_dataset(key, data=value.view("V2"))
                dataset.attrs["dtype"] = "bfloat16"
            else:
                h5_file.create_dataset(key, data=value)
    return buffer.getvalue()
