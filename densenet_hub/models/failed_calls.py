"""Keeping a model usable after a `fit`, `evaluate` or `predict` call fails.

On JAX, Keras runs these loops statelessly: it detaches every variable's
value from the model (to save memory) and attaches the new values when the
loop ends. A batch that raises inside the loop (a wrong channel count, say)
ends it before the values come back, and every later call then fails with
`TypeError: 'NoneType' object is not callable` from a variable. The other
backends keep values on the variables and need nothing.
"""

import contextlib
import functools

import keras


@contextlib.contextmanager
def values_kept_on_error(model):
    """Runs the body; if it raises, gives `model` back its variable values:
    the loop's latest state where Keras holds one (the steps a failed `fit`
    already took), else the values from before the call.

    Example:
    ```python
    import numpy as np
    import keras
    from densenet_hub.models.failed_calls import values_kept_on_error

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    try:
        with values_kept_on_error(model):
            model.predict(np.zeros((1, 5)), verbose=0)  # wrong width: raises
    except ValueError:
        pass
    assert model.predict(np.zeros((1, 4)), verbose=0).shape == (1, 2)
    ```
    """
    if keras.backend.backend() != "jax":
        yield
        return
    # References only: JAX arrays are immutable, so nothing is copied.
    before = [(variable, variable._value) for variable in _state_variables(model)]
    try:
        yield
    except BaseException:
        if getattr(model, "_jax_state", None):
            model.jax_state_sync()
        for variable, value in before:
            if variable._value is None:
                variable._value = value
        model._jax_state = None
        raise


def _state_variables(model):
    optimizer = getattr(model, "optimizer", None)
    optimizer_variables = optimizer.variables if optimizer is not None else []
    return [*model.variables, *optimizer_variables, *model.metrics_variables]


def keeps_values_on_error(method):
    """Decorates a model method (`fit`, `evaluate`, `predict`) so that a
    failed call leaves the model usable (see `values_kept_on_error`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with values_kept_on_error(self):
            return method(self, *args, **kwargs)

    return wrapper
