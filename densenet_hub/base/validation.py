"""Argument checks shared by the models: each error names the argument, the
value received, what is allowed and how to fix it."""

import difflib
import inspect

# Keyword arguments every Keras layer and model takes, passed through.
LAYER_KWARGS = ("name", "trainable", "dtype")
# Those of a task, whose dtype follows its backbone's.
TASK_KWARGS = ("name", "trainable")
DATA_FORMATS = ("channels_last", "channels_first")


def reject_unknown_kwargs(instance, kwargs, allowed):
    """Raise `ValueError` for keyword arguments `instance`'s class does not accept.

    The suggestions come from the constructor's named arguments too, so a
    misspelt `growth=` points at `growth_rate`.
    """
    unknown = sorted(set(kwargs) - set(allowed))
    if not unknown:
        return
    owner = type(instance).__name__
    named = [
        name
        for name in inspect.signature(type(instance).__init__).parameters
        if name not in ("self", "args", "kwargs")
    ]
    accepted = named + [name for name in allowed if name not in named]
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.5)
        if close:
            hints.append(f"`{key}` (did you mean `{close[0]}`?)")
        else:
            hints.append(f"`{key}`")
    raise ValueError(
        f"{owner} got unknown keyword argument(s) {', '.join(hints)}. "
        f"Accepted arguments: {', '.join(accepted)}."
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
