"""The error type of the command line: a user mistake, reported in one line."""


class CliError(Exception):
    """A mistake the user can fix: `main` prints the message on one line of
    stderr and exits with status 1, without a traceback.

    Args:
        message: what is wrong, with the value received and the fix.

    Example:
    ```python
    from densenet_hub.cli.errors import CliError

    try:
        raise CliError("no images found in 'photos/'; add .png or .jpg files")
    except CliError as error:
        assert "no images found in 'photos/'" in str(error)
    ```
    """
