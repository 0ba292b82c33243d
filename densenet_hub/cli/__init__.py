"""The `densenet-hub` command: list, inspect, predict, embed, train,
evaluate and explain with DenseNet presets, and an offline demo.

Run `densenet-hub --help` (or `python -m densenet_hub --help`). From Python,
`densenet_hub.cli.main.main(["predict", preset, "photo.jpg"])` runs a command
and returns its exit status.
"""
