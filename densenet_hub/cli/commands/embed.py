"""`densenet-hub embed PRESET IMAGES --out features.npy`: feature vectors for
retrieval and clustering.

The features come from `densenet_hub.inference.embed_files` (for the int8
folder of a backbone, `densenet_hub.runtime.model_folders.embed_folder_files`):
row `i` of the `.npy` file belongs to the `i`-th image listed in the JSON
file beside it.
"""

import pathlib

from densenet_hub.base.choices import FINAL_LEVEL
from densenet_hub.base.choices import POOLING_CHOICES
from densenet_hub.base.publish import check_target
from densenet_hub.cli import shell
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import find_images
from densenet_hub.cli.shell import image_progress


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
    parser.add_argument(
        "preset",
        help="backbone or classifier preset, or a folder `densenet-hub quantize` "
        "wrote from a backbone preset (its int8 features)",
    )
    parser.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument(
        "--out",
        default=None,
        help="the .npy file to write (with a .json image list beside it); or give "
        "--output FOLDER for a resumable Parquet dataset instead, one of the two",
    )
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
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out or --output"
    )
    shell.add_batch_options(parser)
    shell.add_batch_output_options(parser, overwrite=False)
    parser.set_defaults(run=run)


def run(args):
    if (args.out is None) == (args.output is None):
        raise CliError(
            "embed writes either a .npy file (--out features.npy) or a Parquet dataset "
            "(--output FOLDER); give exactly one of the two."
        )
    if args.output is not None:
        return _to_parquet(args)
    from densenet_hub.inference.embedding import INDEX_SUFFIX
    from densenet_hub.runtime.model_folders import load_embedder

    # Before the model is loaded; embed_files checks again before writing.
    for path in (args.out, pathlib.Path(args.out).with_suffix(INDEX_SUFFIX)):
        check_target(path, args.overwrite)
    paths = find_images(args.images, args.on_error)
    embed = load_embedder(args.preset, args.image_size)
    with image_progress(len(paths), args.quiet) as on_batch:
        written = embed(
            paths, args.out, level=args.level, pooling=args.pooling,
            batch_size=args.batch_size, on_error=args.on_error, overwrite=args.overwrite,
            on_batch=on_batch, preset=args.preset,
        )  # fmt: skip
    print(
        f"wrote {written.features}: {' x '.join(map(str, written.shape))} float32 "
        f"features ({args.level}, pooling {args.pooling}); image list in {written.index}"
    )
    return 0


def _to_parquet(args):
    """`--output`: the features as a resumable Parquet dataset (`batch_embed`)."""
    from densenet_hub.batch import batch_embed

    inputs = find_images(args.images, args.on_error)
    with shell.job_progress(args.quiet) as on_batch:
        result = batch_embed(
            args.preset, inputs, args.output, level=args.level, pooling=args.pooling,
            engine=args.engine, batch_size=args.batch_size, image_size=args.image_size,
            shard_size=args.shard_size, address=args.address, workers=args.workers,
            overwrite=args.overwrite, on_batch=on_batch,
        )  # fmt: skip
    shell.print_batch_result(result)
    return 0
