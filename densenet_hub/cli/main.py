"""The `densenet-hub` entry point: parses the command line and runs a command.

A user mistake (a bad path, an unknown preset, an unreadable image, a preset
that fails its checks) ends with one line on stderr and exit status 1, never
a traceback; `--debug` shows the traceback. Usage errors exit with 2, an
interruption with 130.
"""

import argparse
import os
import sys

from densenet_hub.cli import bench
from densenet_hub.cli import convert
from densenet_hub.cli import demo
from densenet_hub.cli import embed
from densenet_hub.cli import evaluate
from densenet_hub.cli import explain
from densenet_hub.cli import export
from densenet_hub.cli import info
from densenet_hub.cli import predict
from densenet_hub.cli import train
from densenet_hub.cli.console import PROGRAM
from densenet_hub.cli.console import one_line
from densenet_hub.cli.errors import CliError
from densenet_hub.hub.errors import MissingHubClientError
from densenet_hub.version import __version__

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
# The library reports bad files, configs and presets with these; anything
# else is a bug and keeps its traceback.
USER_ERRORS = (CliError, ValueError, OSError, MissingHubClientError)
COMMANDS = (info, predict, embed, train, evaluate, explain, convert, export, bench, demo)


def build_parser():
    """The argument parser with every command."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="DenseNet image models from the shell: list and inspect "
        "presets, classify, embed, fine-tune, evaluate and explain images. "
        "Start with `densenet-hub demo`, which runs offline.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks for errors"
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    # Commands that run other commands (the demo) parse them with this parser.
    parser.set_defaults(parser=parser)
    return parser


def main(argv=None):
    """Runs `densenet-hub` with `argv` (default `sys.argv[1:]`).

    Returns:
        The exit status: 0 on success, 1 for an error, 2 for a usage error,
        130 when interrupted (other values are documented by the command).

    Example:
    ```python
    from densenet_hub.cli.main import main

    status = main(["presets"])
    assert status == 0
    ```
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:
        return exit.code
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as error:
        if args.debug:
            raise
        print(f"{PROGRAM}: error: {one_line(error)}", file=sys.stderr)
        return EXIT_ERROR


def entry_point():
    """The console script: exits with `main`'s status."""
    # Keras imports TensorFlow, when installed, even under other backends
    # (to serialise configs), and its C++ start-up logs would bury the
    # command's own messages on stderr. A value the user set is kept.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
