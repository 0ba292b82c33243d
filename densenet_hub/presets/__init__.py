"""Presets: built-in names, loading from and saving to preset folders.

The public entry points are the `from_preset`, `save_to_preset` and `presets`
members that `PresetMixin` gives the model and preprocessing classes, and
`inspect(preset)`, which says what a preset is (kind, folder, class labels)
before anything is built.
"""


def __getattr__(name):
    # `inspect` looks presets up through the hub clients, which `import
    # densenet_hub` (it imports this package) must not load.
    if name in ("inspect", "PresetInfo"):
        from densenet_hub.presets import inspection

        return getattr(inspection, name)
    raise AttributeError(f"module 'densenet_hub.presets' has no attribute {name!r}")
