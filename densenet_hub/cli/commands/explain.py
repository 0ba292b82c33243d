"""`densenet-hub explain PRESET IMAGE --out heat.png`: a Grad-CAM heat map of
where the classifier looks, computed by `densenet_hub.explain.grad_cam`, laid
over the image as the model sees it, beside the image, with the class and its
probability. For a multi-label preset, by default one picture per finding
called positive at the preset's thresholds.
"""

import pathlib

import numpy as np

from densenet_hub import explain
from densenet_hub.cli import shell
from densenet_hub.cli.drawing import save_explanation
from densenet_hub.cli.shell import CliError
from densenet_hub.inference import load_classifier
from densenet_hub.inference import to_probabilities
from densenet_hub.data.images import read_image


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
    image = read_image(args.image)
    classifier, labels = load_classifier(args.preset, args.image_size)
    class_names = labels.names
    x = classifier.preprocessor([image])
    probabilities = to_probabilities(classifier, classifier(x, training=False))[0]
    if args.class_name is None and labels.multi_label:
        indices = _positive_findings(probabilities, labels.thresholds)
        outs = [_finding_path(args.out, class_names[index]) for index in indices]
    else:
        indices = [_class_index(args.class_name, class_names, probabilities)]
        outs = [args.out]
    view = _model_view(image, classifier.preprocessor.image_converter)
    for index, out in zip(indices, outs):
        heat = explain.grad_cam(classifier, x, index, preprocessed=True)[0]
        save_explanation(
            out, view, heat, class_names[index], float(probabilities[index]), args.opacity
        )
        print(
            f"{args.image}: class {class_names[index]!r} (index {index}, probability "
            f"{probabilities[index]:.4f}); heat map written to {out}"
        )
    return 0


def _positive_findings(probabilities, thresholds):
    """The findings at or above their thresholds, most probable first; the
    most probable one when none is."""
    order = np.argsort(-probabilities, kind="stable")
    positive = [int(i) for i in order if probabilities[i] >= thresholds[i]]
    return positive or [int(order[0])]


def _finding_path(out, finding):
    out = pathlib.Path(out)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in finding)
    return out.with_name(f"{out.stem}_{safe}{out.suffix or '.png'}")


def _class_index(requested, class_names, probabilities):
    if requested is None:
        return int(np.argmax(probabilities))
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


def _model_view(image, converter):
    """The part of `image` the model sees: its centred window with the
    converter's aspect ratio when the converter crops, else all of it."""
    if converter is None or converter.image_size is None or not converter.crop_to_aspect_ratio:
        return image
    target_height, target_width = converter.image_size
    height, width = image.shape[:2]
    crop_height = min(height, round(width * target_height / target_width))
    crop_width = min(width, round(height * target_width / target_height))
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return image[top : top + crop_height, left : left + crop_width]
