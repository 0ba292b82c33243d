"""`densenet-hub export PRESET OUT --format FORMAT`: a preset written as ONNX,
OpenVINO IR, TensorFlow SavedModel or LiteRT for inference runtimes; with
`--precision int8 --calibration DIR`, quantized (ONNX: ONNX Runtime's static
quantization; OpenVINO: NNCF) under `quantize`'s accuracy guard."""

from densenet_hub.base.choices import DEFAULT_HELD_OUT
from densenet_hub.base.choices import EXPORT_FORMATS
from densenet_hub.base.choices import EXPORT_PRECISIONS
from densenet_hub.base.choices import INT8_RUNTIMES
from densenet_hub.base.choices import images_needed
from densenet_hub.base.publish import check_target
from densenet_hub.cli import shell
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import add_quantization_options
from densenet_hub.cli.shell import print_quantization_report
from densenet_hub.cli.shell import quantization_errors


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
        "--format", choices=EXPORT_FORMATS, default="onnx", help="the export format (default onnx)"
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
    shell.add_image_size_option(
        parser, help_text="the input size, SIZE or HEIGHTxWIDTH, instead of the preset's"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument(
        "--precision",
        choices=EXPORT_PRECISIONS,
        default="float32",
        help="float32 (default), or int8 (onnx: ONNX Runtime's static "
        "quantization; openvino: NNCF), which needs --calibration; the input "
        "contract stays the same",
    )
    parser.add_argument(
        "--calibration",
        metavar="DIR",
        default=None,
        help="int8: a folder or glob pattern of your own images, at least "
        f"{images_needed(DEFAULT_HELD_OUT)} (as for "
        "`densenet-hub quantize`)",
    )
    add_quantization_options(parser)
    parser.set_defaults(run=run)


def run(args):
    from densenet_hub.export.export import checked_path
    from densenet_hub.inference import load_classifier
    from densenet_hub.models import Backbone
    from densenet_hub.presets.inspection import inspect
    from densenet_hub.runtime import export_model

    if args.precision == "int8":
        _check_int8_options(args)
    elif args.calibration is not None:
        raise CliError(
            "--calibration is for --precision int8; drop it, or add --precision int8."
        )
    # Before the preset is read (or downloaded) and converted.
    check_target(checked_path(args.out, args.format), args.overwrite)
    preset = inspect(args.preset)
    if args.image_size is not None and preset.kind == "backbone":
        raise CliError(
            "--image-size applies to a classifier's preprocessing; a "
            "backbone's export takes any image size. Drop --image-size."
        )
    if args.precision == "int8":
        return _export_int8(args, preset)
    if preset.kind == "backbone":
        model = Backbone.from_preset(preset.to_load)
    else:
        model, _ = load_classifier(preset, args.image_size)
    exported = export_model(
        model,
        args.out,
        format=args.format,
        include_preprocessing=args.preprocessing,
        overwrite=args.overwrite,
    )
    print(f"wrote {exported.path}: {args.format} export of {type(model).__name__}")
    return 0


def _check_int8_options(args):
    """Refuses, before any work, int8 options that do not go together."""
    from densenet_hub.runtime import quantization

    if args.format not in INT8_RUNTIMES:
        raise CliError(
            f"--precision int8 writes --format {' or '.join(INT8_RUNTIMES)}, got "
            f"--format {args.format}; pick one of those."
        )
    if args.calibration is None:
        raise CliError(
            "--precision int8 needs --calibration DIR: a folder of your own "
            f"images, at least {images_needed(args.held_out)} with "
            f"--held-out {args.held_out}, like those the model will see."
        )
    quantization.check_arguments(
        args.calibration_size, args.seed, args.held_out, args.min_agreement
    )


def _export_int8(args, preset):
    """The preset's graph, as exported, quantized on the calibration images
    and written when it passes the accuracy guard."""
    from densenet_hub.inference import load_model
    from densenet_hub.runtime import export_model
    from densenet_hub.runtime.quantization import calibration_images

    with quantization_errors(args.calibration):
        images, _ = calibration_images(args.calibration, args.held_out)
        model, _ = load_model(preset, args.image_size)
        exported = export_model(
            model,
            args.out,
            format=args.format,
            precision="int8",
            include_preprocessing=args.preprocessing,
            overwrite=args.overwrite,
            calibration=images,
            calibration_size=args.calibration_size,
            seed=args.seed,
            held_out=args.held_out,
            min_agreement=args.min_agreement,
        )
    print_quantization_report(exported.quantization)
    print(f"wrote {args.out}: int8 {args.format} export of {type(model).__name__}")
    return 0
