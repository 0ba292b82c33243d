"""`densenet-hub convert SOURCE OUT_PRESET`: a torchvision, timm or
keras.applications DenseNet checkpoint turned into a preset folder."""

from densenet_hub.base.choices import SOURCE_FORMATS
from densenet_hub.base.publish import check_output_folder


def register(subparsers):
    """Adds the `convert` command to `subparsers`."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a torchvision, timm or Keras checkpoint into a preset",
        description="Converts a DenseNet checkpoint (a torchvision or timm "
        ".pth/.safetensors state dict, a timm Hugging Face folder, or a "
        "keras.applications .h5 file) into a preset folder. The architecture "
        "is read from the tensors; pickled .pth files are loaded with "
        "torch's weights-only loader.",
    )
    parser.add_argument("source", help="checkpoint file or timm folder")
    parser.add_argument("out_preset", help="the preset folder to write")
    parser.add_argument(
        "--format",
        dest="source_format",
        choices=SOURCE_FORMATS,
        default=None,
        help="the checkpoint's origin (default: detected from the file)",
    )
    parser.add_argument(
        "--activation",
        default=None,
        help="the head's activation, e.g. sigmoid for a multi-label head "
        "(default: the source's own)",
    )
    parser.add_argument(
        "--class-names",
        metavar="NAMES",
        default=None,
        help="name the head's outputs, saved in the preset so that predict and "
        "evaluate print them: 'chestxray14' (ChestX-ray14's 14 findings in "
        "CheXNet's order), a file (one name per line, or a JSON list) or "
        "names joined by commas; one per output",
    )
    parser.add_argument(
        "--thresholds",
        metavar="VALUES",
        default=None,
        help="with --class-names: one decision threshold per class (a "
        "multi-label head's), as a file or numbers joined by commas",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing preset")
    parser.set_defaults(run=run)


def run(args):
    from densenet_hub.convert.conversion import convert
    from densenet_hub.models.backbone import Backbone
    from densenet_hub.models.image_classifier import ImageClassifier
    from densenet_hub.presets.class_labels import class_names_from
    from densenet_hub.presets.class_labels import thresholds_from
    from densenet_hub.presets.inspection import inspect

    class_names = None if args.class_names is None else class_names_from(args.class_names)
    thresholds = None if args.thresholds is None else thresholds_from(args.thresholds)
    # Before reading the checkpoint, which can take a while for a large one.
    check_output_folder(args.out_preset, args.overwrite)
    out = convert(
        args.source,
        args.out_preset,
        source_format=args.source_format,
        activation=args.activation,
        overwrite=args.overwrite,
        class_names=class_names,
        thresholds=thresholds,
    )
    written = inspect(str(out))
    if written.kind == "classifier":
        classifier = ImageClassifier.from_preset(written.to_load)
        kind = f"{type(classifier).__name__} with {classifier.num_classes} classes"
    else:
        kind = type(Backbone.from_preset(written.to_load)).__name__
    named = "" if class_names is None else f", named {', '.join(class_names[:3])}" + (
        ", ..." if len(class_names) > 3 else ""
    )
    print(f"wrote {out}: {kind}{named}")
    return 0
