"""`densenet-hub quantize PRESET OUT --calibration IMAGES`: a preset quantized
to int8, calibrated on the user's own images and checked against float32 on
images it was not calibrated on, saved as a folder that `densenet-hub predict
OUT IMAGES...` runs (with the preset's class names and thresholds)."""

import argparse
import sys

from densenet_hub.base.choices import DEFAULT_HELD_OUT
from densenet_hub.base.choices import RUNTIMES
from densenet_hub.base.choices import images_needed
from densenet_hub.base.publish import check_output_folder
from densenet_hub.cli import shell
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import add_quantization_options
from densenet_hub.cli.shell import print_quantization_report
from densenet_hub.cli.shell import quantization_errors

QUANTIZERS = {"openvino": "NNCF", "onnxruntime": "ONNX Runtime's static quantization"}


def register(subparsers):
    """Adds the `quantize` command to `subparsers`."""
    needed = images_needed(DEFAULT_HELD_OUT)
    parser = subparsers.add_parser(
        "quantize",
        help="quantize a preset to int8, calibrated on your images",
        description="Quantizes a classifier (or backbone) preset to int8 for "
        "fast CPU inference: the activation ranges are measured on your own "
        "images, a part of them (--held-out) is set aside, and the int8 "
        "model's top-1 agreement with float32 on that part must reach "
        "--min-agreement (for a backbone: the smallest cosine similarity of "
        "the feature maps), else nothing is written and the exit status is "
        f"1. Needs at least {needed} images with the default --held-out "
        f"{DEFAULT_HELD_OUT}; 300 or more is best. Classify with `densenet-hub "
        "predict OUT IMAGES...`.",
    )
    parser.add_argument(
        "preset", help="classifier or backbone preset: built-in name, handle or folder"
    )
    parser.add_argument("out", help="the folder to write the int8 model to")
    # The former spelling `quantize PRESET CALIBRATION OUT` (see `_calibration_and_out`).
    parser.add_argument("former_out", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument(
        "--calibration",
        metavar="DIR",
        default=None,
        help=f"required: a folder or glob pattern of your own images (at least "
        f"{needed}), like those the model will classify (as for `densenet-hub "
        "export --precision int8`)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="openvino",
        help="openvino (default: NNCF, the faster int8) or onnxruntime "
        "(ONNX Runtime's static quantization)",
    )
    add_quantization_options(parser)
    shell.add_image_size_option(parser)
    shell.add_on_error_option(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument(
        "--keep-keras",
        action="store_true",
        help="also keep the float32 Keras preset in OUT/keras_preset/, which "
        "`densenet-hub explain OUT` needs for Grad-CAM (the int8 engine computes "
        "no gradients); about the size of the preset's weights",
    )
    parser.set_defaults(run=run)


def _calibration_and_out(args):
    """`(calibration, out)` from `OUT --calibration IMAGES`, or from the former
    `CALIBRATION OUT` (with a note saying the new spelling)."""
    if args.former_out is None:
        if args.calibration is None:
            raise CliError(
                "quantize needs --calibration DIR: a folder or glob pattern of your own "
                f"images, at least {images_needed(args.held_out)} with --held-out "
                f"{args.held_out}, like those the model will classify: `densenet-hub "
                f"quantize {args.preset} {args.out} --calibration DIR`."
            )
        return args.calibration, args.out
    if args.calibration is not None:
        raise CliError(
            f"quantize got calibration images twice: --calibration {args.calibration} "
            f"and the former positional {args.out}; give them once: `densenet-hub "
            f"quantize {args.preset} {args.former_out} --calibration DIR`."
        )
    print(
        f"note: `quantize PRESET CALIBRATION OUT` is deprecated; use `densenet-hub "
        f"quantize {args.preset} {args.former_out} --calibration {args.out}`",
        file=sys.stderr,
    )
    return args.out, args.former_out


def run(args):
    # Argument mistakes are answered before Keras and the backend load.
    calibration, out = _calibration_and_out(args)
    check_output_folder(out, args.overwrite)
    from densenet_hub.inference import load_model
    from densenet_hub.models import Backbone
    from densenet_hub.runtime import accelerate
    from densenet_hub.runtime.quantization import calibration_images

    with quantization_errors(calibration):
        # Read first: too few images are refused before a model is loaded.
        images, _ = calibration_images(calibration, args.held_out, args.on_error)
        model, labels = load_model(args.preset, args.image_size)
        if args.keep_keras and isinstance(model, Backbone):
            raise CliError(
                f"--keep-keras keeps a classifier for `densenet-hub explain`, and "
                f"{args.preset} is a backbone preset, which explain cannot use; "
                "leave --keep-keras out."
            )
        print(
            f"quantizing {model.name} to int8 with {QUANTIZERS[args.runtime]} on "
            f"{len(images)} images from {calibration}"
        )
        quantized = accelerate(
            model,
            runtime=args.runtime,
            precision="int8",
            calibration=images,
            calibration_size=args.calibration_size,
            seed=args.seed,
            held_out=args.held_out,
            min_agreement=args.min_agreement,
        )
    print_quantization_report(quantized.quantization)
    extra_files = {} if labels is None else labels.files()
    keras_preset = model if args.keep_keras else None
    quantized.save(out, overwrite=args.overwrite, extra_files=extra_files, keras_preset=keras_preset)
    print(f"wrote {out}; classify with: densenet-hub predict {out} IMAGES...")
    if args.keep_keras:
        print(f"kept the float32 Keras preset for explain in {out}/keras_preset")
    return 0
