"""`densenet-hub explain PRESET IMAGE --out heat.png`: a Grad-CAM heat map of
where the classifier looks, from `densenet_hub.explain.explain_image`: the
image as the model sees it, the heat map with its colour bar, and the heat
laid over the image, with the class and its probability. For a multi-label
preset, by default one picture per finding called positive at the preset's
thresholds. Given a folder or several images, one contact sheet of them all
(`densenet_hub.explain.draw_contact_sheet`). PRESET may be a folder
`densenet-hub quantize --keep-keras` wrote, which keeps the Keras classifier
beside it (`densenet_hub.runtime.model_folders.explainable_preset`).
"""

import pathlib

from densenet_hub.base.publish import check_target
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
        "probable finding when none is. Given a folder or several images: "
        "one PNG, a contact sheet with a heat map over each image and its "
        "name, class (or most probable finding) and probability under it. "
        "Needs matplotlib (pip install 'densenet-hub[plots]').",
    )
    parser.add_argument(
        "preset",
        help="classifier preset (built-in name, handle or folder), or a folder "
        "`densenet-hub quantize --keep-keras` wrote, which keeps the classifier's "
        "preset in keras_preset/ (Grad-CAM needs the Keras model's gradients)",
    )
    parser.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="an image file; or a folder, glob patterns or several files for "
        "one contact sheet",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="the PNG file to write; a multi-label preset without --class writes "
        "one per finding shown, named OUT with _FINDING before the suffix "
        "(why.png: why_Effusion.png, ...), and prints each name",
    )
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
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace PNG files that exist; without it an existing one stops explain "
        "before anything is drawn",
    )
    shell.add_image_size_option(parser)
    shell.add_on_error_option(parser)
    parser.set_defaults(run=run)


def run(args):
    from densenet_hub.data.images import read_image
    from densenet_hub.explain import draw_explanation
    from densenet_hub.explain import explain_image
    from densenet_hub.inference import load_classifier
    from densenet_hub.runtime.model_folders import explainable_preset

    preset, note = explainable_preset(args.preset)
    if note is not None:
        shell.warn(note)
    if len(args.images) > 1 or not pathlib.Path(args.images[0]).is_file():
        return _contact_sheet(args, preset)
    image_path = args.images[0]
    image = read_image(image_path)
    classifier, labels = load_classifier(preset, args.image_size)
    class_names = labels.names
    per_finding = args.class_name is None and labels.multi_label
    class_index = None if args.class_name is None else _class_index(args.class_name, class_names)
    if not per_finding:
        check_target(args.out, args.overwrite)
    if class_index is None:
        explanations = explain_image(classifier, image, thresholds=labels.thresholds)
    else:
        explanations = explain_image(classifier, image, class_index)
    outs = [
        _finding_path(args.out, class_names[explanation.class_index]) if per_finding else args.out
        for explanation in explanations
    ]
    for out in outs:
        check_target(out, args.overwrite)
    for explanation, out in zip(explanations, outs):
        index, probability = explanation.class_index, explanation.probability
        draw_explanation(
            out, explanation.image, explanation.heat, class_names[index], probability,
            args.opacity,
        )  # fmt: skip
        print(
            f"{image_path}: class {class_names[index]!r} (index {index}, probability "
            f"{probability:.4f}); heat map written to {out}"
        )
    return 0


def _contact_sheet(args, preset):
    """One PNG of every image's explanation: `--class`, else its most
    probable class or finding."""
    from densenet_hub.explain import draw_contact_sheet
    from densenet_hub.explain import explain_files
    from densenet_hub.inference import load_classifier

    paths = shell.find_images(args.images, args.on_error)
    check_target(args.out, args.overwrite)
    classifier, labels = load_classifier(preset, args.image_size)
    names = labels.names
    wanted = None if args.class_name is None else _class_index(args.class_name, names)
    explained = explain_files(classifier, paths, wanted, args.on_error)
    entries = []
    for path, explanation in explained:
        name, probability = names[explanation.class_index], explanation.probability
        entries.append((explanation.image, explanation.heat,
                        f"{pathlib.Path(path).name}\n{name} {probability:.1%}"))  # fmt: skip
        print(f"{path}: class {name!r} (probability {probability:.4f})")
    draw_contact_sheet(args.out, entries, args.opacity)
    print(f"contact sheet of {len(entries)} image(s) written to {args.out}")
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
