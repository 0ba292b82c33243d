"""Folders of other formats that `from_preset` converts on the fly, such as a
timm checkpoint repository (`hf://timm/densenet121.tv_in1k`).

A converter package registers each format it reads with `register_source`;
the loader, which knows no converter, asks `find_source` for a folder that is
not a preset and has it converted in memory into a
`presets.contents.ConvertedPreset`: nothing is written, and the loader
builds the model once, from the converted configs.
"""

import dataclasses

_SOURCES = []


@dataclasses.dataclass(frozen=True)
class CheckpointSource:
    """A folder format that converts into a preset.

    Args:
        name: the format's name, e.g. `"timm"`.
        matches: `folder -> bool`, whether a folder holds this format.
        convert: `folder -> ConvertedPreset` (`presets.contents`), the
            configs and weight arrays of the preset the folder converts to.
    """

    name: str
    matches: object
    convert: object


def register_source(name, matches, convert):
    """Adds a format `from_preset` converts (see `CheckpointSource`)."""
    if any(source.name == name for source in _SOURCES):
        raise ValueError(f"A checkpoint source named {name!r} is already registered.")
    _SOURCES.append(CheckpointSource(name, matches, convert))


def find_source(folder):
    """The registered `CheckpointSource` whose format `folder` holds, else `None`."""
    for source in _SOURCES:
        if source.matches(folder):
            return source
    return None
