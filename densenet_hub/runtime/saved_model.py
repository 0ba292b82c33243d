"""The folder an `AcceleratedModel` is saved to, written atomically and read
back without running anything from it.

Files: the engine's model (`model.onnx` for ONNX Runtime; the OpenVINO IR
`model.xml` + `model.bin`), `accelerated.json` (runtime, precision, input
and output, the head's activation, the quantization report, the densenet_hub version) and, when
the model has a preprocessor, its preset files in `preprocessor/`
(`preprocessor.json`, `image_converter.json`: KerasHub's format, read back
through the presets loader's allow-list and schema checks); optionally the
Keras model it was made from, as a preset in `keras_preset/` (Grad-CAM needs
the Keras graph's gradients, which no engine gives). No pickle.
"""

import json
import pathlib

from packaging.version import InvalidVersion
from packaging.version import Version

from densenet_hub.base import file_names as names
from densenet_hub.base.json_files import read_json
from densenet_hub.models.image_classifier_preprocessor import ImageClassifierPreprocessor
from densenet_hub.presets import files
from densenet_hub.presets.saver import save_preset
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file
from densenet_hub.runtime.engines import ENGINES
from densenet_hub.runtime.engines import PRECISIONS
from densenet_hub.runtime.quantization import QuantizationReport
from densenet_hub.version import __version__

SETTINGS_FILE = names.ACCELERATED_FILE
PREPROCESSOR_FOLDER = "preprocessor"
KERAS_PRESET_FOLDER = "keras_preset"
FORMAT = "densenet_hub.accelerated"
FORMAT_VERSION = 1
OUTPUT_KINDS = ("predictions", "features")
DATA_FORMATS = ("channels_last", "channels_first")


def write_folder(
    folder, overwrite, engine, settings, preprocessor, extra_files=None, keras_preset=None
):
    """Writes the engine's files, `accelerated.json` (`settings` plus the
    format's own keys), the preprocessor's preset files and `extra_files`
    (`{file name: bytes}`) to `folder`, and `keras_preset` (a Keras model,
    or `None`) as a preset in `folder/keras_preset/` with `extra_files` too:
    they name the same classes."""
    extra_files = _checked_extra_files(extra_files or {}, engine)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "densenet_hub_version": __version__,
        **settings,
        "preprocessor": None if preprocessor is None else PREPROCESSOR_FOLDER,
    }
    with published(pathlib.Path(folder), overwrite) as staging:
        staging.mkdir()
        engine.save(staging)
        if preprocessor is not None:
            save_preset(preprocessor, staging / PREPROCESSOR_FOLDER)
        write_file(staging / SETTINGS_FILE, json.dumps(document, indent=4).encode("utf-8"))
        for name, data in extra_files.items():
            write_file(staging / name, data)
        if keras_preset is not None:
            save_preset(keras_preset, staging / KERAS_PRESET_FOLDER, extra_files=extra_files)


def _checked_extra_files(extra_files, engine):
    own = {SETTINGS_FILE, PREPROCESSOR_FOLDER, KERAS_PRESET_FOLDER, *engine.files}
    for name, data in extra_files.items():
        files.preset_file(pathlib.Path("."), name, "`extra_files`")
        if name in own:
            raise ValueError(
                f"`extra_files` names {name!r}, a file AcceleratedModel.save "
                f"writes itself ({', '.join(sorted(own))}); rename it."
            )
        if not isinstance(data, bytes):
            raise TypeError(
                f"`extra_files[{name!r}]` must be bytes, got {type(data).__name__}."
            )
    return extra_files


def read_folder(folder, threads=None):
    """`(engine, settings, preprocessor)` from a folder `write_folder` wrote.

    Raises:
        ValueError: a missing, damaged or unexpected file, named with the fix.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise ValueError(
            f"{folder} is not a folder. Pass the folder AcceleratedModel.save "
            f"wrote."
        )
    settings_path = _required(folder, SETTINGS_FILE)
    settings = _checked_settings(read_json(settings_path), settings_path)
    engine_cls = ENGINES[settings["runtime"]]
    for name in engine_cls.files:
        _required(folder, name)
    try:
        engine = engine_cls.load(folder, settings["precision"], threads)
    except Exception as error:  # the engines' own errors name no file
        raise ValueError(
            f"{folder}: {settings['runtime']} could not read "
            f"{' + '.join(engine_cls.files)}: {error}. The files are damaged; "
            f"save the model again."
        ) from error
    preprocessor = None
    if settings["preprocessor"] is not None:
        location = files.preset_file(folder, settings["preprocessor"], SETTINGS_FILE)
        if not location.is_dir():
            raise ValueError(
                f"{folder}: {SETTINGS_FILE} names the preprocessor folder "
                f"{settings['preprocessor']!r}, which is missing. Save the model "
                f"again."
            )
        preprocessor = ImageClassifierPreprocessor.from_preset(location)
    return engine, settings, preprocessor


def _required(folder, name):
    path = files.existing_file(folder, name)
    if path is None:
        raise ValueError(
            f"{folder} has no {name}; an accelerated model's folder holds "
            f"{SETTINGS_FILE} and its engine's model files. Pass the folder "
            f"AcceleratedModel.save wrote, or save the model again."
        )
    return path


def _checked_settings(settings, path):
    expected = {
        "format": str,
        "format_version": int,
        "densenet_hub_version": str,
        "name": str,
        "runtime": str,
        "precision": str,
        "data_format": str,
        "input_shape": list,
        "output": str,
        "preprocessor": (str, type(None)),
        "quantization": (dict, type(None)),
    }
    missing = sorted(set(expected) - set(settings))
    if missing:
        raise ValueError(
            f"{path} lacks the keys {missing}; it was not written by "
            f"AcceleratedModel.save, or is damaged. Save the model again."
        )
    for key, kind in expected.items():
        if isinstance(settings[key], bool) or not isinstance(settings[key], kind):
            raise ValueError(
                f"{path}: `{key}` has the wrong type ({settings[key]!r}). Save "
                f"the model again."
            )
    if settings["format"] != FORMAT or settings["format_version"] != FORMAT_VERSION:
        raise ValueError(
            f"{path} is format {settings['format']!r} version "
            f"{settings['format_version']}; this densenet_hub reads "
            f"{FORMAT!r} version {FORMAT_VERSION}. Upgrade densenet_hub or "
            f"save the model again."
        )
    # Folders written before the head's activation was recorded read as logits.
    settings.setdefault("activation", None)
    if not isinstance(settings["activation"], (str, type(None))):
        raise ValueError(
            f"{path}: `activation` must be an activation name or null, got "
            f"{settings['activation']!r}. Save the model again."
        )
    _check_version(path, settings["densenet_hub_version"])
    for key, choices in (
        ("runtime", tuple(ENGINES)),
        ("precision", PRECISIONS),
        ("data_format", DATA_FORMATS),
        ("output", OUTPUT_KINDS),
    ):
        if settings[key] not in choices:
            raise ValueError(
                f"{path}: `{key}` must be one of {', '.join(map(repr, choices))}, "
                f"got {settings[key]!r}. Save the model again."
            )
    if settings["quantization"] is not None:
        settings["quantization"] = QuantizationReport.from_dict(settings["quantization"], path)
    elif settings["precision"] == "int8":
        raise ValueError(
            f"{path}: an int8 model must record its `quantization`; the file "
            f"is damaged. Save the model again."
        )
    return settings


def _check_version(path, saved):
    try:
        newer = Version(saved) > Version(__version__)
    except InvalidVersion:
        raise ValueError(
            f"{path}: `densenet_hub_version` is {saved!r}, not a version. Save "
            f"the model again."
        ) from None
    if newer:
        raise ValueError(
            f"{path} was saved by densenet_hub {saved}, newer than this "
            f"{__version__}. Upgrade densenet_hub (pip install -U densenet-hub)."
        )
