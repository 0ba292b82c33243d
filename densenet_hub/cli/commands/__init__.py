"""The table of `densenet-hub` commands, in the order `--help` lists them."""

from densenet_hub.cli.commands import bench
from densenet_hub.cli.commands import convert
from densenet_hub.cli.commands import demo
from densenet_hub.cli.commands import download
from densenet_hub.cli.commands import embed
from densenet_hub.cli.commands import evaluate
from densenet_hub.cli.commands import explain
from densenet_hub.cli.commands import export
from densenet_hub.cli.commands import info
from densenet_hub.cli.commands import predict
from densenet_hub.cli.commands import quantize
from densenet_hub.cli.commands import serve
from densenet_hub.cli.commands import train

COMMANDS = (
    info, download, predict, embed, train, evaluate, explain, convert, export, quantize, serve,
    bench, demo,
)  # fmt: skip
