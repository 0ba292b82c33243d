"""`densenet-hub predict PRESET IMAGE...`: the top classes of each image, or
for a multi-label classifier its most probable findings, each with its
decision threshold and whether it is called positive.

PRESET may also be a folder `densenet-hub quantize` wrote (or
`AcceleratedModel.save`): its int8 model then runs on its engine, with the
class names and thresholds saved beside it."""

import json

from densenet_hub.base.choices import DEFAULT_HELD_OUT
from densenet_hub.base.choices import PRECISIONS
from densenet_hub.base.choices import RUNTIMES
from densenet_hub.base.choices import images_needed
from densenet_hub.cli import shell
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import add_label_table_options
from densenet_hub.cli.shell import find_images
from densenet_hub.cli.shell import format_table
from densenet_hub.cli.shell import image_progress
from densenet_hub.cli.shell import is_table_file
from densenet_hub.cli.shell import read_table


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
    parser.add_argument(
        "preset",
        help="classifier preset (built-in name, handle or folder), or a "
        "folder written by `densenet-hub quantize`",
    )
    parser.add_argument(
        "images",
        nargs="+",
        help="image files, folders or glob patterns, or one label table "
        "(.csv or split file) whose images to classify",
    )
    parser.add_argument(
        "--top-k", type=shell.positive_int, default=5, help="classes per image (default 5)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--runtime",
        choices=("keras", *RUNTIMES),
        default=None,
        help="run the network in Keras (default for a preset) or export it "
        "once and run it on ONNX Runtime or OpenVINO (about twice as fast on a "
        "CPU; same results within 1e-4 in float32); a quantized folder runs on "
        "the runtime it was quantized for",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="float32 (default for a preset); bfloat16 needs --runtime "
        "openvino and a CPU with bfloat16 instructions; int8 needs a folder "
        "written by `densenet-hub quantize PRESET OUT --calibration DIR`, passed "
        "as PRESET",
    )
    shell.add_batch_options(parser)
    shell.add_tta_option(parser)
    add_label_table_options(parser, labels=False)
    shell.add_batch_output_options(parser)
    parser.set_defaults(run=run)


def run(args):
    if args.output is not None:
        return _to_parquet(args)
    from densenet_hub.imagenet import decode_predictions
    from densenet_hub.inference import load_classifier
    from densenet_hub.inference import score_files
    from densenet_hub.presets.inspection import inspect

    table = len(args.images) == 1 and is_table_file(args.images[0])
    paths = None if table else find_images(args.images, args.on_error)
    preset = inspect(args.preset)
    if preset.kind == "accelerated":
        classifier = predictor = _load_accelerated_classifier(args, preset.folder)
        labels = None
    else:
        classifier, labels = load_classifier(preset, args.image_size)
        predictor = _predictor(classifier, args.preset, args.runtime, args.precision)
    if table:
        paths = _table_paths(args, args.images[0], labels)
    with image_progress(len(paths), args.quiet) as on_batch:
        probabilities, kept_rows = score_files(
            classifier, paths, args.batch_size, args.on_error, predictor, on_batch, args.tta
        )
    kept = [paths[row] for row in kept_rows]
    if labels is None:
        # The folder records no class count; its outputs give it.
        labels = preset.class_labels(probabilities.shape[1], classifier.multi_label)
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


def _to_parquet(args):
    """`--output`: the rows as a resumable Parquet dataset (`batch_predict`)."""
    from densenet_hub.batch import batch_predict

    if args.json:
        raise CliError(
            f"--json prints the predictions on stdout, but --output {args.output} writes "
            "them to a Parquet dataset; drop --json, or drop --output to print them."
        )
    if args.tta != "none":
        raise CliError(
            f"--tta {args.tta} is not available with --output (batch jobs score each "
            "image once); drop --tta, or drop --output to print averaged probabilities."
        )
    if len(args.images) == 1 and is_table_file(args.images[0]):
        inputs = args.images[0]
    else:
        inputs = find_images(args.images, args.on_error)
    with shell.job_progress(args.quiet) as on_batch:
        result = batch_predict(
            args.preset, inputs, args.output, engine=args.engine,
            runtime=None if args.runtime == "keras" else args.runtime,
            precision=args.precision or "float32", batch_size=args.batch_size,
            top_k=args.top_k, image_size=args.image_size, shard_size=args.shard_size,
            address=args.address, workers=args.workers, overwrite=args.overwrite,
            on_batch=on_batch, images=args.images_root, path_column=args.path_column,
            where=args.where,
        )  # fmt: skip
    shell.print_batch_result(result)
    return 0


def _table_paths(args, path, labels):
    """The images of a label table; a split file's values are read as the
    preset's named findings (any number of them), else as ChestX-ray14's 14."""
    from densenet_hub.cli.shell import is_split_file
    from densenet_hub.presets.class_labels import default_class_names

    named = labels is not None and labels.names != default_class_names(len(labels.names))
    findings = labels.names if named and is_split_file(path) else None
    return read_table(args, path, findings=findings).paths


def _predictor(classifier, preset, runtime, precision):
    """What runs a preset's classifier: Keras, or its accelerated form."""
    runtime = runtime or "keras"
    precision = precision or "float32"
    if precision == "int8":
        raise CliError(
            f"--precision int8 needs a model quantized on your own images: run "
            f"`densenet-hub quantize {preset} OUT --calibration DIR` once (at "
            f"least {images_needed(DEFAULT_HELD_OUT)} images like those you "
            f"classify), then `densenet-hub predict OUT IMAGES...`."
        )
    if runtime != "keras":
        from densenet_hub.runtime import accelerate

        return accelerate(classifier, runtime=runtime, precision=precision)
    if precision != "float32":
        raise CliError(
            f"--precision {precision} needs --runtime openvino; Keras runs "
            "the preset in its saved precision."
        )
    return classifier


def _load_accelerated_classifier(args, folder):
    """The `AcceleratedModel` in `folder` (`args.preset`), checked against
    the options, which it fixes itself."""
    from densenet_hub.runtime import load_accelerated

    model = load_accelerated(folder)
    fixed = {"--runtime": (args.runtime, model.runtime),
             "--precision": (args.precision, model.precision)}  # fmt: skip
    for option, (given, saved) in fixed.items():
        if given is not None and given != saved:
            raise CliError(
                f"{args.preset} holds an accelerated {model.precision} model for "
                f"{model.runtime}, but {option} {given} was given; drop {option}, "
                f"or quantize again with `densenet-hub quantize`."
            )
    if args.image_size is not None:
        raise CliError(
            f"{args.preset} resizes images as it was saved; drop --image-size, or "
            "quantize again with `densenet-hub quantize ... --image-size`."
        )
    if model.output != "predictions" or model.preprocessor is None:
        held = "a backbone's feature model" if model.output != "predictions" else (
            "a model without preprocessing, which cannot read image files"
        )
        raise CliError(
            f"{args.preset} holds {held}; predict needs a classifier with its "
            "preprocessing: quantize a classifier preset with `densenet-hub "
            "quantize PRESET OUT --calibration DIR`."
        )
    return model


def _findings(probabilities, labels, top_k):
    """Per image, its `top_k` most probable findings as `(name, probability,
    threshold, positive)`; without saved thresholds, positive is `None`."""
    return [
        [(found["finding"], found["probability"], found["threshold"], found["positive"])
         for found in labels.ranked_findings(scores, top_k)]
        for scores in probabilities
    ]  # fmt: skip


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
