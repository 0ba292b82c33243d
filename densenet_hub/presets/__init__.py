"""Presets: built-in names, loading from and saving to preset folders.

The public entry points are the `from_preset`, `save_to_preset` and `presets`
members that `PresetMixin` gives the model and preprocessing classes.
"""
