"""`densenet-hub presets` and `densenet-hub info PRESET`."""

import json

from densenet_hub.base import file_names as names
from densenet_hub.cli.shell import PROGRAM
from densenet_hub.cli.shell import format_table


def register(subparsers):
    """Adds the `presets` and `info` commands to `subparsers`."""
    presets = subparsers.add_parser(
        "presets",
        help="list the built-in presets",
        description="Lists the built-in presets as a table of name, alias, "
        "parameters and cached (whether the files are in the local cache, "
        "checked offline). --json adds each one's description, download handle "
        "and cache folder; `densenet-hub info NAME` shows them for one.",
    )
    presets.add_argument("--json", action="store_true", help="print JSON instead of a table")
    presets.set_defaults(run=run_presets)

    info = subparsers.add_parser(
        "info",
        help="describe a preset or an accelerated (int8) folder",
        description="Describes a preset: its config, parameter count, input "
        "size, files and where they are. A built-in preset that is not cached "
        "is described from the built-in table, without downloading it, "
        "unless --verify is given. A folder written by `densenet-hub "
        "quantize` is described by its runtime, precision, input size, classes "
        "and quantization report.",
    )
    info.add_argument("preset", help="built-in name, kaggle:// or hf:// handle, or folder")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument(
        "--verify",
        action="store_true",
        help="check every file of the download (downloading it if needed) "
        "against the sha256 recorded when it was downloaded; fails naming "
        "the file and both digests if one differs",
    )
    info.set_defaults(run=run_info)


def run_presets(args):
    from densenet_hub.models import ImageClassifier
    from densenet_hub.presets.resolver import local_folder

    rows = []
    for name, listing in ImageClassifier.presets.items():
        folder = local_folder(name)
        rows.append(
            {
                "name": name,
                "aliases": listing["metadata"]["aliases"],
                "parameters": listing["metadata"]["params"],
                "description": listing["metadata"]["description"],
                "handle": listing["kaggle_handle"],
                "cached": None if folder is None else str(folder),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    # Descriptions and handles would make rows of about 200 columns; the
    # table keeps what tells presets apart, and `info` shows the rest.
    table = [
        [
            row["name"],
            ", ".join(row["aliases"]),
            f"{row['parameters']:,}",
            "yes" if row["cached"] else "no",
        ]
        for row in rows
    ]
    print(format_table(["name", "alias", "parameters", "cached"], table))
    print(f"\nDescription, weights and download source: {PROGRAM} info NAME")
    return 0


def run_info(args):
    from densenet_hub.presets.inspection import inspect
    from densenet_hub.presets.loader import verify_preset

    verified = verify_preset(args.preset) if args.verify else None
    found = inspect(args.preset, download=False)
    if found.kind == "accelerated":
        from densenet_hub.runtime.model_folders import describe_folder

        details = describe_folder(found.folder)
    elif found.folder is None and found.builtin is not None:
        details = _builtin_details(args.preset, found.builtin)
    else:
        # A handle that is not cached yet is downloaded.
        details = _loaded_details(found if found.folder else inspect(args.preset))
    if verified is not None:
        details["verified_sha256"] = verified
    if args.json:
        print(json.dumps(details, indent=2))
    elif found.kind == "accelerated":
        _print_folder_details(details)
    else:
        _print_details(details)
    return 0


def _print_folder_details(details):
    """An accelerated folder's description (`describe_folder`) as text."""
    size = details["input_size"]
    size_text = "each image's own" if size is None else f"{size[0]}x{size[1]}"
    if not details["preprocessing"]:
        size_text = None  # the engine's input shape says it
    shape = ", ".join("any" if side is None else str(side) for side in details["input_shape"])
    rows = [
        ("folder", details["folder"]),
        ("model", f"{details['name']}, accelerated: {details['precision']} on {details['runtime']}"),
        ("output", details["output"]),
        ("engine input", f"({shape}), {details['data_format']}"),
        ("input size", size_text),
        ("scale", details["scale"]),
        ("offset", details["offset"]),
        ("head", details.get("activation")),
        ("classes", details.get("num_classes")),
    ]
    for label, value in rows:
        if value is not None:
            print(f"{label}: {value}")
    if not details["preprocessing"]:
        print("preprocessing: none (the engine takes preprocessed arrays)")
    if "class_names" in details:
        names = details["class_names"]
        print(f"class names: {', '.join(names[:10])}{', ...' if len(names) > 10 else ''}")
    if "thresholds" in details:
        print(f"multi-label decision thresholds ({details['threshold_rule']}):")
        for name, value in details["thresholds"].items():
            print(f"  {name}: {value:.4f}")
    report = details["quantization"]
    if report is not None:
        print("quantization:")
        for key, value in report.items():
            print(f"  {key}: {value}")
    keras_preset = details["keras_preset"]
    print(f"Keras preset beside it (for explain): {keras_preset or 'none'}")
    print("files:")
    for name, size in details["files"].items():
        print(f"  {name}  {size:,} bytes")


def _builtin_details(preset, builtin):
    return {
        "preset": preset,
        "folder": None,
        "cached": False,
        "note": "not in the local cache; the first use downloads it from "
        f"{' or else '.join(builtin.handles)}.",
        "description": builtin.description,
        "backbone_parameters": builtin.parameter_count,
        "config": {**builtin.config, **builtin.overrides},
    }


def _loaded_details(found):
    from densenet_hub.models import Backbone
    from densenet_hub.models import ImageClassifier
    from densenet_hub.preprocessing import ImageConverter

    backbone = Backbone.from_preset(found.to_load)
    folder = found.folder
    details = {
        "preset": found.preset,
        "folder": str(folder.resolve()),
        "cached": True,
        "backbone": type(backbone).__name__,
        "config": _public_config(backbone.get_config()),
        "backbone_parameters": backbone.count_params(),
    }
    if found.kind == "classifier":
        classifier = ImageClassifier.from_preset(found.to_load)
        details["task"] = type(classifier).__name__
        details["num_classes"] = classifier.num_classes
        details["parameters"] = classifier.count_params()
        labels = found.class_labels(classifier.num_classes, classifier.multi_label)
        details["class_names"] = labels.names
        details["multi_label"] = classifier.multi_label
        if labels.multi_label:
            details["thresholds"] = dict(zip(labels.names, labels.thresholds))
            details["threshold_rule"] = labels.threshold_rule
    if (folder / names.IMAGE_CONVERTER_FILE).is_file():
        converter = ImageConverter.from_preset(found.to_load)
        details["input_size"] = converter.image_size
        details["scale"] = converter.scale
        details["offset"] = converter.offset
    details["files"] = {
        path.name: path.stat().st_size for path in sorted(folder.iterdir()) if path.is_file()
    }
    return details


def _public_config(config):
    """The backbone's config as a user reads it: without Keras' bookkeeping,
    and the dtype policy by name (`float32`, `mixed_bfloat16`) rather than
    Keras' serialised dict."""
    import keras

    public = {key: value for key, value in config.items() if key not in ("name", "trainable")}
    if "dtype" in public:
        public["dtype"] = keras.dtype_policies.get(public["dtype"]).name
    return public


def _print_details(details):
    labels = {
        "preset": "preset",
        "folder": "folder",
        "note": "note",
        "description": "description",
        "backbone": "backbone",
        "task": "task",
        "num_classes": "classes",
        "backbone_parameters": "backbone parameters",
        "parameters": "parameters with head",
        "input_size": "input size",
        "scale": "scale",
        "offset": "offset",
    }
    for key, label in labels.items():
        if key in details and details[key] is not None:
            value = details[key]
            if key.endswith("parameters"):
                value = f"{value:,}"
            elif key == "input_size":
                value = f"{value[0]}x{value[1]}"
            print(f"{label}: {value}")
    print("config:")
    for key, value in details["config"].items():
        print(f"  {key}: {value}")
    if "class_names" in details:
        names = details["class_names"]
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        print(f"class names: {shown}")
    if "thresholds" in details:
        print(f"multi-label decision thresholds ({details['threshold_rule']}):")
        for name, value in details["thresholds"].items():
            print(f"  {name}: {value:.4f}")
    if "files" in details:
        print("files:")
        for name, size in details["files"].items():
            print(f"  {name}  {size:,} bytes")
    if "verified_sha256" in details:
        print("verified against the sha256 recorded at download:")
        for name, digest in details["verified_sha256"].items():
            print(f"  {name}  {digest}")
