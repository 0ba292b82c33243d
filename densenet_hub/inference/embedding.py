"""Feature vectors of image files for retrieval and clustering, written as a
`.npy` file with a JSON index of the images beside it.

The features are written batch by batch into a memory-mapped `.npy` file,
so memory use stays flat however many images there are; both files are
published atomically (`densenet_hub.base.publish`).
"""

import dataclasses
import json
import pathlib

import keras
import numpy as np

from densenet_hub.base.publish import check_target
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file
from densenet_hub.inference.batches import iterate_batches
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE
from densenet_hub.base.choices import FINAL_LEVEL
from densenet_hub.base.choices import POOLING_CHOICES

POOLERS = {
    "avg": keras.layers.GlobalAveragePooling2D,
    "max": keras.layers.GlobalMaxPooling2D,
}
INDEX_SUFFIX = ".json"


@dataclasses.dataclass(frozen=True)
class EmbeddingFiles:
    """What `embed_files` wrote.

    Attributes:
        features: the `.npy` file: float32, one row per image path, in
            order; a row of NaN for a file that could not be read.
        index: the JSON file beside it: `preset`, `level`, `pooling`,
            `shape`, `images` (every path, row by row) and `unreadable`.
        shape: the shape of `features`, `(images, *one image's features)`.
        unreadable: the paths whose rows are NaN.
    """

    features: pathlib.Path
    index: pathlib.Path
    shape: tuple
    unreadable: list


def embed_files(
    backbone, image_converter, paths, out, *, level=FINAL_LEVEL, pooling="avg",
    batch_size=DEFAULT_BATCH_SIZE, on_error="skip", overwrite=False, on_batch=None,
    preset=None,
):  # fmt: skip
    """Writes one feature vector (or map) per image file to `out`, a `.npy`
    file, and the list of images to the `.json` file beside it.

    Images are read and run batch by batch (`iterate_batches`: a path listed
    twice gets two rows); everything is checked before the first image is
    read, and each file is written beside its target and renamed into
    place, so a failure leaves no partial file.

    Args:
        backbone: a backbone such as `DenseNetBackbone`.
        image_converter: the `ImageConverter` that turns raw images into the
            backbone's input (e.g. `densenet_hub.inference.load_backbone`'s).
        paths: image file paths.
        out: the `.npy` file to write; the index goes to `out` with the
            suffix `.json`. Its folder must exist.
        level: `"output"` (the backbone's final features) or a pyramid level
            of `backbone.pyramid_outputs`, such as `"P3"`.
        pooling: `"avg"`, `"max"` (global pooling of the feature map) or
            `"none"` (the map itself, which needs a converter with a fixed
            `image_size`).
        batch_size: images per batch.
        on_error: `"skip"` writes a row of NaN for a file that cannot be
            read (with a `SkippedImageWarning`); `"fail"` raises.
        overwrite: replace existing files.
        on_batch: `None`, or a function called with the number of paths of
            each batch once it is done (a progress bar).
        preset: the preset name recorded in the index, or `None`.

    Returns:
        `EmbeddingFiles`.

    Raises:
        FileExistsError: `out` or its index exists and `overwrite` is False.
        ValueError: an unknown `level`, or `pooling="none"` without a fixed
            image size.

    Example:
    ```python
    import json
    import pathlib
    import tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.inference import embed_files

    folder = pathlib.Path(tempfile.mkdtemp())
    PIL.Image.fromarray(np.zeros((40, 48, 3), "uint8")).save(folder / "a.png")
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(None, None, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    written = embed_files(backbone, converter, [folder / "a.png"], folder / "features.npy")
    assert np.load(written.features).shape == written.shape == (1, 44)
    assert json.loads(written.index.read_text())["images"] == [str(folder / "a.png")]
    ```
    """
    out = pathlib.Path(out)
    index = out.with_suffix(INDEX_SUFFIX)
    _check_outputs(out, index, overwrite)
    extractor = feature_model(backbone, level, pooling)
    shape = (len(paths), *_feature_shape(extractor, backbone, image_converter, pooling))
    with published(out, overwrite) as staging:
        features = np.lib.format.open_memmap(staging, mode="w+", dtype="float32", shape=shape)
        unreadable = _fill(
            features, extractor, image_converter, paths, batch_size, on_error, on_batch
        )
        features.flush()
        del features
    document = {
        "preset": None if preset is None else str(preset),
        "level": level,
        "pooling": pooling,
        "shape": list(shape),
        "images": [str(path) for path in paths],
        "unreadable": [str(path) for path in unreadable],
    }
    with published(index, overwrite) as staging:
        write_file(staging, json.dumps(document, indent=2).encode("utf-8"))
    return EmbeddingFiles(out, index, shape, unreadable)


def _check_outputs(out, index, overwrite):
    if out == index:
        raise ValueError(
            f"embed_files: `out` {str(out)!r} ends with {INDEX_SUFFIX}, the "
            f"suffix of the image list written beside it; name it e.g. "
            f"{str(out.with_suffix('.npy'))!r}."
        )
    for path in (out, index):
        check_target(path, overwrite)
    if not out.parent.is_dir():
        raise FileNotFoundError(
            f"the folder of {str(out)!r} does not exist; create it first, or "
            "choose another output path."
        )


def feature_model(backbone, level=FINAL_LEVEL, pooling="avg"):
    """A Keras model from `backbone`'s input to the features of `level`,
    pooled as `pooling` says (see `embed_files`)."""
    if level == FINAL_LEVEL:
        features = backbone.output
    elif level in backbone.pyramid_outputs:
        features = backbone.pyramid_outputs[level]
    else:
        raise ValueError(
            f"unknown --level {level!r} (`level`); this backbone has "
            f"{', '.join([FINAL_LEVEL, *backbone.pyramid_outputs])}."
        )
    if pooling not in POOLING_CHOICES:
        raise ValueError(
            f"`pooling` must be one of {', '.join(map(repr, POOLING_CHOICES))}, "
            f"got {pooling!r}."
        )
    if pooling != "none":
        features = POOLERS[pooling](data_format=backbone.data_format)(features)
    return keras.Model(backbone.input, features)


def _feature_shape(extractor, backbone, image_converter, pooling):
    """The shape of one image's features (a pooled vector needs no fixed
    image size; a feature map does)."""
    size = image_converter.image_size
    if size is None and pooling == "none":
        raise ValueError(
            "pooling 'none' (--pooling none) needs a fixed input size, but the "
            "image converter keeps each image's size; give it an image_size "
            "(--image-size)."
        )
    height, width = size or (None, None)
    if backbone.data_format == "channels_first":
        input_shape = (1, backbone.input.shape[1], height, width)
    else:
        input_shape = (1, height, width, backbone.input.shape[-1])
    return tuple(extractor.compute_output_shape(input_shape)[1:])


def _fill(features, extractor, image_converter, paths, batch_size, on_error, on_batch):
    """Writes each batch's rows of `features`; returns the unreadable paths."""
    unreadable = []
    for batch in iterate_batches(paths, batch_size, on_error):
        if batch.images:
            features[batch.rows] = keras.ops.convert_to_numpy(
                extractor.predict_on_batch(image_converter(batch.images))
            )
        features[batch.skipped] = np.nan
        unreadable.extend(paths[row] for row in batch.skipped)
        if on_batch is not None:
            on_batch(batch.size)
    return unreadable
