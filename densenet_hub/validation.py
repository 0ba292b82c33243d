"""Argument checks shared by the models: each error names the argument, the
value received, what is allowed and how to fix it."""

import difflib


def reject_unknown_kwargs(owner, kwargs, allowed):
    """Raise `ValueError` for keyword arguments `owner` does not accept."""
    unknown = sorted(set(kwargs) - set(allowed))
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            hints.append(f"`{key}` (did you mean `{close[0]}`?)")
        else:
            hints.append(f"`{key}`")
    raise ValueError(
        f"{owner} got unknown keyword argument(s) {', '.join(hints)}. "
        f"Accepted keyword arguments besides the named ones: "
        f"{', '.join(allowed)}."
    )


def check_positive_int(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{owner}: `{name}` must be a positive integer, got {value!r}."
        )
    return value


def check_choice(owner, name, value, choices):
    if value not in choices:
        raise ValueError(
            f"{owner}: `{name}` must be one of {', '.join(map(repr, choices))}, "
            f"got {value!r}."
        )
    return value
