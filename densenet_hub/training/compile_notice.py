"""A line saying that the first epoch is compiling: with XLA (always on JAX)
the first training step compiles for seconds to minutes while nothing else
shows, and a run looks stuck."""

import sys

import keras

COMPILING = "compiling the first epoch (XLA; this takes a while the first time)..."


class CompileNotice(keras.callbacks.Callback):
    """Writes `COMPILING` once, before the first training batch, when the
    model compiles its steps with XLA (`model.jit_compile`); nothing when it
    runs them as they come (the torch backend, TensorFlow on a CPU).

    One notice per instance: pass the same one to every `fit` of a run (as
    `finetune(..., callbacks=[CompileNotice()])` does), and later phases,
    which compile again but faster, stay quiet.

    Args:
        stream: where to write; stderr by default, so that stdout keeps
            only results.

    Example:
    ```python
    import io
    import numpy as np
    import keras
    from densenet_hub.training import CompileNotice

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", jit_compile=False)
    stream = io.StringIO()
    notice = CompileNotice(stream)
    model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=2, callbacks=[notice], verbose=0)
    assert stream.getvalue() == ""  # nothing compiled with XLA
    ```
    """

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self.shown = False

    def on_train_batch_begin(self, batch, logs=None):
        if self.shown:
            return
        self.shown = True
        if getattr(self.model, "jit_compile", False):
            print(COMPILING, file=self.stream or sys.stderr, flush=True)
