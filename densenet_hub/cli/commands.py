"""The table of `densenet-hub` commands, in the order `--help` lists them."""

from densenet_hub.cli import bench
from densenet_hub.cli import convert
from densenet_hub.cli import demo
from densenet_hub.cli import embed
from densenet_hub.cli import evaluate
from densenet_hub.cli import explain
from densenet_hub.cli import export
from densenet_hub.cli import info
from densenet_hub.cli import predict
from densenet_hub.cli import quantize
from densenet_hub.cli import train

COMMANDS = (info, predict, embed, train, evaluate, explain, convert, export, quantize, bench, demo)
