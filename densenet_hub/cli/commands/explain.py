"""`densenet-hub explain PRESET IMAGE --out heat.png`: a Grad-CAM heat map of
where the classifier looks, from `densenet_hub.explain.explain_image`, laid
over the image as the model sees it, beside the image, with the class and its
probability. For a multi-label preset, by default one picture per finding
called positive at the preset's thresholds.
"""

import pathlib

from densenet_hub.cli import shell
from densenet_hub.cli.shell import CliError


def register(subparsers):
    """Adds the `explain` command to `subparsers`."""
    parser = subparsers.add_parser(
        "explain",
        help="write a Grad-CAM heat map of an image",
        description="Writes a PNG with the image as the model sees it "
        "(centre-cropped when the preset crops) and, beside it, a Grad-CAM "
        "heat map of the predicted class, or of --class, laid over it, with a "
        "colour bar and the class's probability. For a multi-label preset "
        "without --class: one PNG per finding at or above its saved "
        "threshold (OUT with _FINDING before the suffix), or of the most "
        "probable finding when none is. Needs matplotlib (pip install "
        "'densenet-hub[plots]').",
    )
    parser.add_argument("preset", help="classifier preset: built-in name, handle or folder")
    parser.add_argument("image", help="an image file")
    parser.add_argument("--out", required=True, help="the PNG file to write")
    parser.add_argument(
        "--class",
        dest="class_name",
        default=None,
        help="explain this class or finding (name or index) instead of the "
        "predicted one(s)",
    )
    parser.add_argument(
        "--opacity",
        type=shell.unit_interval,
        default=0.5,
        help="opacity of the heat map over the image, 0 to 1 (default 0.5)",
    )
    shell.add_image_size_option(parser)
    parser.set_defaults(run=run)


def run(args):
    from densenet_hub.data.images import read_image
    from densenet_hub.explain import draw_explanation
    from densenet_hub.explain import explain_image
    from densenet_hub.inference import load_classifier

    image = read_image(args.image)
    classifier, labels = load_classifier(args.preset, args.image_size)
    class_names = labels.names
    if args.class_name is None:
        explanations = explain_image(classifier, image, thresholds=labels.thresholds)
    else:
        class_index = _class_index(args.class_name, class_names)
        explanations = explain_image(classifier, image, class_index)
    for explanation in explanations:
        index, probability = explanation.class_index, explanation.probability
        out = args.out
        if args.class_name is None and labels.multi_label:
            out = _finding_path(args.out, class_names[index])
        draw_explanation(
            out, explanation.image, explanation.heat, class_names[index], probability,
            args.opacity,
        )  # fmt: skip
        print(
            f"{args.image}: class {class_names[index]!r} (index {index}, probability "
            f"{probability:.4f}); heat map written to {out}"
        )
    return 0


def _finding_path(out, finding):
    out = pathlib.Path(out)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in finding)
    return out.with_name(f"{out.stem}_{safe}{out.suffix or '.png'}")


def _class_index(requested, class_names):
    """The output `--class` names, by name or index."""
    if requested in class_names:
        return class_names.index(requested)
    if requested.isdigit() and int(requested) < len(class_names):
        return int(requested)
    close = [name for name in class_names if requested.lower() in name.lower()][:5]
    hint = f" Close names: {', '.join(map(repr, close))}." if close else ""
    raise CliError(
        f"--class {requested!r} is neither a class name of the preset nor an "
        f"index below {len(class_names)}.{hint}"
    )
