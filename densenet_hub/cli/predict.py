"""`densenet-hub predict PRESET IMAGE...`: the top classes of each image."""

import json

import numpy as np

from densenet_hub.cli import arguments
from densenet_hub.cli.console import format_table
from densenet_hub.cli.errors import CliError
from densenet_hub.cli.images import find_images
from densenet_hub.cli.images import read_images
from densenet_hub.cli.loading import load_classifier
from densenet_hub.cli.loading import to_probabilities
from densenet_hub.cli.progress import ProgressBar
from densenet_hub.imagenet import decode_predictions
from densenet_hub.runtime import PRECISIONS
from densenet_hub.runtime import RUNTIMES
from densenet_hub.runtime import accelerate


def register(subparsers):
    """Adds the `predict` command to `subparsers`."""
    parser = subparsers.add_parser(
        "predict",
        help="classify images with a classifier preset",
        description="Prints the top-k classes of each image with their "
        "probabilities, as a table or as JSON. Images are read and classified "
        "in batches; a progress bar on stderr follows long runs.",
    )
    parser.add_argument("preset", help="classifier preset: built-in name, handle or folder")
    parser.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument(
        "--top-k", type=arguments.positive_int, default=5, help="classes per image (default 5)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--runtime",
        choices=("keras", *RUNTIMES),
        default="keras",
        help="run the network in Keras (default) or export it once and run it "
        "on ONNX Runtime or OpenVINO (about twice as fast on a CPU; same "
        "results within 1e-4 in float32)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="bfloat16 needs --runtime openvino and a CPU with bfloat16 "
        "instructions (default float32)",
    )
    arguments.add_batch_options(parser)
    parser.set_defaults(run=run)


def run(args):
    paths = find_images(args.images, args.on_error)
    classifier, labels = load_classifier(args.preset, args.image_size)
    if args.runtime != "keras":
        predictor = accelerate(classifier, runtime=args.runtime, precision=args.precision)
    elif args.precision != "float32":
        raise CliError(
            f"--precision {args.precision} needs --runtime openvino; Keras runs "
            "the preset in its saved precision."
        )
    else:
        predictor = classifier
    probabilities, kept = classify_files(
        classifier, paths, args.batch_size, args.on_error, not args.quiet, predictor
    )
    top = decode_predictions(probabilities, top=args.top_k, class_names=labels.names)
    if args.json:
        print(json.dumps(_as_json(kept, top), indent=2))
    else:
        print(_as_table(kept, top))
    return 0


def classify_files(
    classifier, paths, batch_size, on_error="skip", progress=True, predictor=None
):
    """Class probabilities of the images at `paths`, read batch by batch.

    `predictor` (default: the classifier itself) runs each batch, e.g. an
    `AcceleratedModel` of the classifier.

    Returns:
        `(probabilities, kept_paths)`: a `(len(kept_paths), num_classes)`
        array and the paths that could be read, in order.
    """
    predictor = predictor or classifier
    bar = ProgressBar(len(paths), "images", enabled=progress)
    batches, kept = [], []
    for start in range(0, len(paths), batch_size):
        images, batch_paths = read_images(paths[start : start + batch_size], on_error)
        if images:
            scores = predictor.predict_on_batch(images)
            batches.append(to_probabilities(classifier, scores))
            kept.extend(batch_paths)
        bar.advance(len(batch_paths))
    bar.close()
    if not batches:
        raise CliError(
            f"none of the {len(paths)} image(s) could be decoded; see the "
            "warnings above."
        )
    return np.concatenate(batches), kept


def _as_json(paths, top):
    return [
        {
            "image": str(path),
            "predictions": [
                {"rank": rank, "index": index, "label": label, "probability": score}
                for rank, (index, label, score) in enumerate(entries, start=1)
            ],
        }
        for path, entries in zip(paths, top)
    ]


def _as_table(paths, top):
    rows = []
    for path, entries in zip(paths, top):
        for rank, (_, label, score) in enumerate(entries, start=1):
            rows.append([str(path) if rank == 1 else "", rank, label, f"{score:.4f}"])
    return format_table(["image", "rank", "label", "probability"], rows)
