"""`densenet-hub predict PRESET IMAGE...`: the top classes of each image, or
for a multi-label classifier its most probable findings, each with its
decision threshold and whether it is called positive."""

import json

import numpy as np

from densenet_hub.cli import arguments
from densenet_hub.cli.console import format_table
from densenet_hub.cli.errors import CliError
from densenet_hub.cli.images import find_images
from densenet_hub.cli.images import skipped_images_as_warnings
from densenet_hub.cli.label_tables import add_label_table_options
from densenet_hub.cli.label_tables import is_table_file
from densenet_hub.cli.label_tables import read_table
from densenet_hub.cli.loading import load_classifier
from densenet_hub.inference import score_files
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
        "probabilities, as a table or as JSON; for a multi-label preset, the "
        "top-k findings with their probabilities, the preset's decision "
        "thresholds and whether each is positive. Images are read and "
        "classified in batches; a progress bar on stderr follows long runs.",
    )
    parser.add_argument("preset", help="classifier preset: built-in name, handle or folder")
    parser.add_argument(
        "images",
        nargs="+",
        help="image files, folders or glob patterns, or one label table "
        "(.csv or split file) whose images to classify",
    )
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
    add_label_table_options(parser, labels=False)
    parser.set_defaults(run=run)


def run(args):
    if len(args.images) == 1 and is_table_file(args.images[0]):
        paths = read_table(args, args.images[0]).paths
    else:
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
    if labels.multi_label or classifier.multi_label:
        rows = _findings(probabilities, labels, args.top_k)
        print(json.dumps(_findings_json(kept, rows), indent=2) if args.json
              else _findings_table(kept, rows))  # fmt: skip
        return 0
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
    bar = ProgressBar(len(paths), "images", enabled=progress)
    try:
        with skipped_images_as_warnings():
            probabilities, rows = score_files(
                classifier, paths, batch_size, on_error, predictor, bar.advance
            )
    finally:
        bar.close()
    return probabilities, [paths[row] for row in rows]


def _findings(probabilities, labels, top_k):
    """Per image, its `top_k` most probable findings as `(name, probability,
    threshold, positive)`; without saved thresholds, positive is `None`."""
    thresholds = labels.thresholds
    result = []
    for scores in probabilities:
        order = np.argsort(-scores, kind="stable")[:top_k]
        result.append([
            (labels.names[i], float(scores[i]),
             None if thresholds is None else thresholds[i],
             None if thresholds is None else bool(scores[i] >= thresholds[i]))
            for i in order
        ])  # fmt: skip
    return result


def _findings_json(paths, rows):
    return [
        {
            "image": str(path),
            "findings": [
                {"finding": name, "probability": probability, "threshold": threshold,
                 "positive": positive}
                for name, probability, threshold, positive in entries
            ],
        }  # fmt: skip
        for path, entries in zip(paths, rows)
    ]


def _findings_table(paths, rows):
    table = []
    for path, entries in zip(paths, rows):
        for rank, (name, probability, threshold, positive) in enumerate(entries, start=1):
            table.append([
                str(path) if rank == 1 else "", name, f"{probability:.4f}",
                "n/a" if threshold is None else f"{threshold:.4f}",
                "n/a" if positive is None else ("yes" if positive else "no"),
            ])  # fmt: skip
    return format_table(["image", "finding", "probability", "threshold", "positive"], table)


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
