"""`densenet-hub export PRESET OUT --format FORMAT`: a preset written as ONNX,
OpenVINO IR, TensorFlow SavedModel or LiteRT for inference runtimes."""

from densenet_hub.cli import arguments
from densenet_hub.cli.errors import CliError
from densenet_hub.cli.loading import load_classifier
from densenet_hub.export.export import FORMATS
from densenet_hub.export.export import export_model
from densenet_hub.models import Backbone
from densenet_hub.preset_file_names import TASK_FILE
from densenet_hub.presets.resolver import local_folder


def register(subparsers):
    """Adds the `export` command to `subparsers`."""
    parser = subparsers.add_parser(
        "export",
        help="write a preset as ONNX, OpenVINO, SavedModel or LiteRT",
        description="Writes a classifier or backbone preset for an inference "
        "runtime. onnx and openvino work on every Keras backend; saved_model "
        "needs the TensorFlow or JAX backend, litert the TensorFlow backend. "
        "A classifier's export takes raw pixels (0-255, float32) already "
        "resized and cropped to the preset's image size, and applies the "
        "normalisation itself; with --no-preprocessing it takes normalised "
        "images, as a backbone's export always does.",
    )
    parser.add_argument("preset", help="classifier or backbone preset")
    parser.add_argument(
        "out", help="the file (.onnx, .tflite) or folder (openvino, saved_model) to write"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="onnx", help="the export format (default onnx)"
    )
    parser.add_argument(
        "--no-preprocessing",
        dest="preprocessing",
        action="store_const",
        const=False,
        default=None,
        help="leave the normalisation out: the export takes normalised images "
        "(always so for a backbone preset, which has no normalisation)",
    )
    arguments.add_image_size_option(
        parser, help_text="the input size, SIZE or HEIGHTxWIDTH, instead of the preset's"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.set_defaults(run=run)


def run(args):
    model = _load_model(args)
    path = export_model(
        model,
        args.out,
        format=args.format,
        include_preprocessing=args.preprocessing,
        overwrite=args.overwrite,
    )
    print(f"wrote {path}: {args.format} export of {type(model).__name__}")
    return 0


def _load_model(args):
    folder = local_folder(args.preset)
    if folder is not None and not (folder / TASK_FILE).is_file():
        if args.image_size is not None:
            raise CliError(
                "--image-size applies to a classifier's preprocessing; a "
                "backbone's export takes any image size. Drop --image-size."
            )
        return Backbone.from_preset(args.preset)
    classifier, _ = load_classifier(args.preset, args.image_size)
    return classifier
