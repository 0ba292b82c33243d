"""The `densenet-hub` entry point: parses the command line and runs a command.

A user mistake (a bad path, an unknown preset, an unreadable image, a preset
that fails its checks, a missing optional package) ends with one message on
stderr (one line, wrapped to the width of a terminal) and exit status 1,
never a traceback; `--debug` shows the traceback. Usage errors exit with 2,
an interruption with 130.

`--help` (of the program and of every command), `--version` and a usage
error import neither Keras nor a backend, so they answer at once and work
without any backend installed: the commands import the library when they
run, and the parsers' choices and defaults come from
`densenet_hub.base.choices`. The backend is chosen after parsing.
"""

import argparse
import os
import sys

from densenet_hub.base.backend import INSTALL_FIX
from densenet_hub.base.backend import PREFERENCE
from densenet_hub.base.backend import NoKerasBackendError
from densenet_hub.base.backend import choose_backend
from densenet_hub.base.optional import MissingOptionalPackageError
from densenet_hub.cli.shell import PROGRAM
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import in_flag_words
from densenet_hub.cli.shell import print_error
from densenet_hub.cli.shell import warnings_as_lines
from densenet_hub.version import __version__

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
# The library reports bad files, configs and presets, and missing optional
# packages, with these; anything else is a bug and keeps its traceback.
USER_ERRORS = (CliError, ValueError, OSError, MissingOptionalPackageError)


def build_parser():
    """The argument parser with every command."""
    from densenet_hub.cli.commands import COMMANDS

    parser = _program_parser()
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    # Commands that run other commands (the demo) parse them with this parser.
    parser.set_defaults(parser=parser)
    return parser


def _program_parser():
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="DenseNet image models from the shell: list and inspect "
        "presets, classify, embed, fine-tune, evaluate and explain images. "
        "Start with `densenet-hub demo`, which runs offline.",
        epilog=f"The commands run on a Keras backend, one of {', '.join(PREFERENCE)} "
        f"(KERAS_BACKEND chooses; without one: {INSTALL_FIX}).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks for errors"
    )
    return parser


def _option_strings(parser):
    """Every `--option` of `parser` and its commands."""
    options = set()
    for action in parser._actions:
        options.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                options |= _option_strings(command)
    return options


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
    if choose_backend() is None:
        print_error(NoKerasBackendError())
        return EXIT_ERROR
    try:
        with warnings_as_lines():
            return args.run(args)
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as error:
        if args.debug:
            raise
        # Library errors name Python arguments; the user typed flags.
        print_error(in_flag_words(error, _option_strings(parser)))
        return EXIT_ERROR


def entry_point():
    """The console script: exits with `main`'s status."""
    # Keras imports TensorFlow, when installed, even under other backends
    # (to serialise configs), and its C++ start-up logs would bury the
    # command's own messages on stderr. A value the user set is kept.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
