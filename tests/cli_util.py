"""Helpers shared by the CLI test modules."""


def error_line(capsys):
    """The one `densenet-hub: error:` line a failed command printed, with no traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("densenet-hub: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]
