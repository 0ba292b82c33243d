"""Layers, named as in `keras_hub.layers`."""
