"""`densenet-hub export PRESET OUT --format FORMAT`: a preset written as ONNX,
OpenVINO IR, TensorFlow SavedModel or LiteRT for inference runtimes; with
`--precision int8 --calibration DIR`, quantized (ONNX: ONNX Runtime's static
quantization; OpenVINO: NNCF) under `quantize`'s accuracy guard."""

import pathlib

import keras
import numpy as np

from densenet_hub.cli import shell
from densenet_hub.cli.shell import CliError
from densenet_hub.inference import load_classifier
from densenet_hub.cli.commands.quantize import DEFAULT_HELD_OUT
from densenet_hub.cli.commands.quantize import add_quantization_options
from densenet_hub.cli.commands.quantize import calibration_images
from densenet_hub.cli.commands.quantize import guarded
from densenet_hub.cli.commands.quantize import load_model_to_quantize
from densenet_hub.cli.commands.quantize import print_report
from densenet_hub.export.export import FILE_SUFFIXES
from densenet_hub.export.export import FORMATS
from densenet_hub.export.export import export_model
from densenet_hub.export.onnx_graph import to_onnx
from densenet_hub.models import Backbone
from densenet_hub.base.file_names import TASK_FILE
from densenet_hub.presets.resolver import local_folder
from densenet_hub.base.publish import check_target
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file
from densenet_hub.runtime import quantization
from densenet_hub.runtime.engines import ENGINES

# The int8 formats and the runtime whose quantizer writes each.
INT8_RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino"}


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
    shell.add_image_size_option(
        parser, help_text="the input size, SIZE or HEIGHTxWIDTH, instead of the preset's"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument(
        "--precision",
        choices=("float32", "int8"),
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
        f"{quantization.images_needed(DEFAULT_HELD_OUT)} (as for `densenet-hub "
        "quantize`)",
    )
    add_quantization_options(parser)
    parser.set_defaults(run=run)


def run(args):
    if args.precision == "int8":
        return _export_int8(args)
    if args.calibration is not None:
        raise CliError(
            "--calibration is for --precision int8; drop it, or add --precision int8."
        )
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
    _check_image_size(args)
    if _is_backbone_preset(args.preset):
        return Backbone.from_preset(args.preset)
    classifier, _ = load_classifier(args.preset, args.image_size)
    return classifier


def _is_backbone_preset(preset):
    folder = local_folder(preset)
    return folder is not None and not (folder / TASK_FILE).is_file()


def _check_image_size(args):
    if args.image_size is not None and _is_backbone_preset(args.preset):
        raise CliError(
            "--image-size applies to a classifier's preprocessing; a "
            "backbone's export takes any image size. Drop --image-size."
        )


def _export_int8(args):
    """Quantizes the preset's graph, as exported, and writes it when the
    int8 model passes the accuracy guard."""
    runtime = INT8_RUNTIMES.get(args.format)
    if runtime is None:
        raise CliError(
            f"--precision int8 writes --format onnx or openvino, got --format "
            f"{args.format}; pick one of those."
        )
    if args.calibration is None:
        raise CliError(
            "--precision int8 needs --calibration DIR: a folder of your own "
            f"images, at least {quantization.images_needed(args.held_out)} with "
            f"--held-out {args.held_out}, like those the model will see."
        )
    suffix = FILE_SUFFIXES.get(args.format)
    if suffix is not None and not args.out.endswith(suffix):
        raise CliError(
            f"a {args.format} export is one file whose name ends with {suffix!r}, "
            f"got OUT {args.out!r}; pass e.g. {args.out + suffix!r}."
        )
    check_target(pathlib.Path(args.out), args.overwrite)
    images = calibration_images(args.calibration, args.held_out)
    quantization.check_arguments(
        args.calibration_size, args.seed, args.held_out, args.min_agreement
    )
    _check_image_size(args)
    model, _ = load_model_to_quantize(args.preset, args.image_size)
    include_preprocessing = args.preprocessing
    if include_preprocessing is None:
        include_preprocessing = not isinstance(model, Backbone)
    graph = to_onnx(model, include_preprocessing)
    reference = ENGINES[runtime](graph)
    with guarded(args.calibration):
        engine, report = quantization.quantize(
            graph,
            runtime,
            _graph_input(model.preprocessor.image_converter, include_preprocessing),
            reference.run,
            True,
            images,
            args.calibration_size,
            args.seed,
            args.held_out,
            args.min_agreement,
        )
    print_report(report)
    with published(args.out, args.overwrite) as staging:
        if args.format == "onnx":
            write_file(staging, engine.model_bytes)
        else:
            staging.mkdir()
            engine.save(staging)
    print(f"wrote {args.out}: int8 {args.format} export of {type(model).__name__}")
    return 0


def _graph_input(converter, include_preprocessing):
    """The exported graph's input for a batch of raw images: resized (and
    cropped) as `converter` does, and also rescaled unless the graph does
    that itself; float32, NHWC whatever the model's data format."""
    if include_preprocessing:
        config = {**converter.get_config(), "scale": None, "offset": None}
        converter = type(converter).from_config(config)
    channels_first = converter.data_format == "channels_first"

    def prepare(images):
        batch = np.asarray(keras.ops.convert_to_numpy(converter(images)), dtype="float32")
        return np.ascontiguousarray(np.moveaxis(batch, 1, -1) if channels_first else batch)

    return prepare
