"""`densenet-hub quantize PRESET CALIBRATION OUT`: a preset quantized to int8,
calibrated on the user's own images and checked against float32 on images
it was not calibrated on, saved as a folder that `densenet-hub predict OUT
IMAGES...` runs (with the preset's class names and thresholds)."""

import contextlib

from densenet_hub.base import file_names as names
from densenet_hub.cli import shell
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import find_images
from densenet_hub.cli.shell import read_images
from densenet_hub.cli.shell import skipped_images_as_warnings
from densenet_hub.base.publish import check_output_folder
from densenet_hub.inference import load_backbone
from densenet_hub.inference import load_classifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor
from densenet_hub.presets.resolver import local_folder
from densenet_hub.runtime import QuantizationRefused
from densenet_hub.runtime import RUNTIMES
from densenet_hub.runtime import accelerate
from densenet_hub.runtime.quantization import MIN_CALIBRATION_IMAGES
from densenet_hub.runtime.quantization import MIN_HELD_OUT_IMAGES
from densenet_hub.runtime.quantization import images_needed

DEFAULT_HELD_OUT = 0.2
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
    parser.add_argument(
        "calibration",
        help=f"a folder or glob pattern of your own images (at least {needed}), "
        "like those the model will classify",
    )
    parser.add_argument("out", help="the folder to write the int8 model to")
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
    parser.set_defaults(run=run)


def add_quantization_options(parser):
    """The accuracy guard's and the calibration's options, shared with `export`."""
    group = parser.add_argument_group("int8 calibration")
    group.add_argument(
        "--calibration-size",
        type=shell.positive_int,
        default=300,
        help="the most images to measure activation ranges on (default 300, "
        "at least 32)",
    )
    group.add_argument(
        "--held-out",
        type=shell.fraction,
        default=DEFAULT_HELD_OUT,
        help="the fraction of the images set aside to compare int8 with "
        f"float32 (default {DEFAULT_HELD_OUT}; at least 16 images)",
    )
    group.add_argument(
        "--min-agreement",
        type=shell.unit_interval,
        default=0.99,
        help="refuse the int8 model when its top-1 agreement with float32 on "
        "the held-out images is lower (default 0.99)",
    )
    group.add_argument(
        "--seed", type=shell.non_negative_int, default=0,
        help="the seed of the held-out split (default 0)",
    )  # fmt: skip


def run(args):
    check_output_folder(args.out, args.overwrite)
    images = calibration_images(args.calibration, args.held_out, args.on_error)
    model, labels = load_model_to_quantize(args.preset, args.image_size)
    print(
        f"quantizing {model.name} to int8 with {QUANTIZERS[args.runtime]} on "
        f"{len(images)} images from {args.calibration}"
    )
    with guarded(args.calibration):
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
    print_report(quantized.quantization)
    extra_files = {} if labels is None else labels.files()
    quantized.save(args.out, overwrite=args.overwrite, extra_files=extra_files)
    print(f"wrote {args.out}; classify with: densenet-hub predict {args.out} IMAGES...")
    return 0


def calibration_images(spec, held_out, on_error="skip"):
    """The images (raw pixels) of `spec`, a folder or glob pattern, refused
    before any model is loaded when fewer than `quantize` needs with
    `held_out`."""
    paths = find_images([spec], on_error)
    images, _ = read_images(paths, on_error)
    needed = images_needed(held_out)
    if len(images) < needed:
        raise CliError(
            f"int8 calibration needs at least {needed} images with --held-out "
            f"{held_out} ({MIN_CALIBRATION_IMAGES} to measure activation ranges "
            f"on, {MIN_HELD_OUT_IMAGES} held out to check the int8 model against "
            f"float32), found {len(images)} readable in {spec!r}. Add more of "
            "your own images, like those the model will classify (300 or more "
            "is best)."
        )
    return images


def load_model_to_quantize(preset, image_size=None):
    """`(model, labels)`: a classifier preset's classifier and `ClassLabels`,
    or a backbone preset's backbone with a preprocessor of its image
    converter (so that image files can calibrate it) and `None`."""
    folder = local_folder(preset)
    if folder is not None and not (folder / names.TASK_FILE).is_file():
        backbone, converter = load_backbone(preset, image_size)
        backbone.preprocessor = DenseNetImageClassifierPreprocessor(converter)
        return backbone, None
    return load_classifier(preset, image_size)


@contextlib.contextmanager
def guarded(calibration):
    """Skipped calibration files become warnings; a refused quantization, a
    command-line error with the numbers and the command line's fixes."""
    try:
        with skipped_images_as_warnings():
            yield
    except QuantizationRefused as error:
        raise CliError(
            f"{error} From the command line: add images to {calibration!r}, "
            "lower --min-agreement, or run the float model with `densenet-hub "
            "predict PRESET IMAGES --runtime openvino --precision bfloat16`. "
            "Nothing was written."
        ) from error


def print_report(report):
    """Prints a `QuantizationReport`: how the model was quantized and how
    close it stays to float32."""
    print(f"method: {report.method}")
    print(f"calibration images: {report.calibration_size} (seed {report.seed})")
    print(f"held-out images: {report.held_out_size}")
    print(
        f"{report.measure} with float32: {report.agreement:.4f} "
        f"(minimum {report.min_agreement:g})"
    )
    print(f"largest output change: {report.max_logit_change:.4g}")
    print(f"smallest cosine similarity: {report.cosine_similarity:.4f}")
