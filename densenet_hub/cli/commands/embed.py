"""`densenet-hub embed PRESET IMAGES --out features.npy`: feature vectors for
retrieval and clustering.

Features are written batch by batch into a preallocated memory-mapped `.npy`
file, so memory use stays flat however many images there are. Row `i`
belongs to the `i`-th image listed in the JSON file written beside it.
"""

import json
import os
import pathlib
import tempfile

import keras
import numpy as np

from densenet_hub.cli import shell
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import find_images
from densenet_hub.cli.shell import read_images
from densenet_hub.inference import load_backbone
from densenet_hub.cli.shell import ProgressBar

FINAL_LEVEL = "output"
POOLERS = {
    "avg": keras.layers.GlobalAveragePooling2D,
    "max": keras.layers.GlobalMaxPooling2D,
}
POOLING_CHOICES = (*POOLERS, "none")


def register(subparsers):
    """Adds the `embed` command to `subparsers`."""
    parser = subparsers.add_parser(
        "embed",
        help="write image features to a .npy file",
        description="Writes one feature vector per image to a .npy file (and "
        "the image list to a .json file beside it): the backbone's final "
        "features, or a pyramid level (P2, P3, ...), average-pooled by "
        "default. Images that pass the header check but then fail to decode "
        "get a row of NaN and are listed as unreadable.",
    )
    parser.add_argument("preset", help="backbone or classifier preset")
    parser.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("--out", required=True, help="the .npy file to write")
    parser.add_argument(
        "--level",
        default=FINAL_LEVEL,
        help="'output' (the final features, default) or a pyramid level such as P3",
    )
    parser.add_argument(
        "--pooling",
        choices=POOLING_CHOICES,
        default="avg",
        help="global pooling of the feature map (default avg); 'none' keeps the map",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    shell.add_batch_options(parser)
    parser.set_defaults(run=run)


def run(args):
    out = pathlib.Path(args.out)
    index_path = out.with_suffix(".json")
    _check_output(out, index_path, args.overwrite)
    paths = find_images(args.images, args.on_error)
    backbone, converter = load_backbone(args.preset, args.image_size)
    extractor = _feature_model(backbone, args.level, args.pooling)
    shape = _feature_shape(extractor, converter, backbone, args.pooling)
    unreadable = _write_features(
        out, extractor, converter, paths, shape, args.batch_size, args.on_error, not args.quiet
    )
    index = {
        "preset": args.preset,
        "level": args.level,
        "pooling": args.pooling,
        "shape": [len(paths), *shape],
        "images": [str(path) for path in paths],
        "unreadable": [str(path) for path in unreadable],
    }
    index_path.write_text(json.dumps(index, indent=2), encoding="utf-8")
    print(
        f"wrote {out}: {len(paths)} x {' x '.join(map(str, shape))} float32 "
        f"features ({args.level}, pooling {args.pooling}); image list in {index_path}"
    )
    return 0


def _check_output(out, index_path, overwrite):
    for path in (out, index_path):
        if path.exists() and not overwrite:
            raise CliError(
                f"{str(path)!r} exists; pass --overwrite to replace it, or "
                "choose another --out."
            )
    if not out.parent.is_dir():
        raise CliError(
            f"the folder of --out {str(out)!r} does not exist; create it first."
        )


def _feature_model(backbone, level, pooling):
    if level == FINAL_LEVEL:
        features = backbone.output
    elif level in backbone.pyramid_outputs:
        features = backbone.pyramid_outputs[level]
    else:
        raise CliError(
            f"unknown --level {level!r}; this backbone has "
            f"{', '.join([FINAL_LEVEL, *backbone.pyramid_outputs])}."
        )
    if pooling != "none":
        features = POOLERS[pooling](data_format=backbone.data_format)(features)
    return keras.Model(backbone.input, features)


def _feature_shape(extractor, converter, backbone, pooling):
    """The shape of one image's features (a pooled vector needs no size)."""
    size = converter.image_size
    if size is None and pooling == "none":
        raise CliError(
            "--pooling none needs a fixed input size, but the preset's image "
            "converter keeps each image's size; pass --image-size."
        )
    height, width = size or (None, None)
    if backbone.data_format == "channels_first":
        input_shape = (1, backbone.input.shape[1], height, width)
    else:
        input_shape = (1, height, width, backbone.input.shape[-1])
    return tuple(extractor.compute_output_shape(input_shape)[1:])


def _write_features(out, extractor, converter, paths, shape, batch_size, on_error, progress):
    """Streams the features into `out` (written to a temporary file first);
    returns the paths that failed to decode."""
    handle, partial = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".npy", dir=out.parent)
    os.close(handle)
    try:
        features = np.lib.format.open_memmap(
            partial, mode="w+", dtype="float32", shape=(len(paths), *shape)
        )
        unreadable = _fill(features, extractor, converter, paths, batch_size, on_error, progress)
        features.flush()
        del features
        os.replace(partial, out)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return unreadable


def _fill(features, extractor, converter, paths, batch_size, on_error, progress):
    bar = ProgressBar(len(paths), "images", enabled=progress)
    unreadable = []
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        images, kept = read_images(batch, on_error)
        kept = set(kept)
        rows = np.asarray([start + i for i, path in enumerate(batch) if path in kept])
        if images:
            features[rows] = keras.ops.convert_to_numpy(
                extractor.predict_on_batch(converter(images))
            )
        for i, path in enumerate(batch):
            if path not in kept:
                features[start + i] = np.nan
                unreadable.append(path)
        bar.advance(len(batch))
    bar.close()
    return unreadable
