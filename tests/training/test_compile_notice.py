"""`CompileNotice`: one line before the first training batch of a model
that compiles with XLA, and none otherwise."""

import io
import types

from densenet_hub.training import CompileNotice
from densenet_hub.training.compile_notice import COMPILING


def _batches(notice, jit_compile, count=3):
    notice.set_model(types.SimpleNamespace(jit_compile=jit_compile))
    for batch in range(count):
        notice.on_train_batch_begin(batch)


def test_one_line_before_the_first_batch_of_a_compiled_model():
    stream = io.StringIO()
    notice = CompileNotice(stream)
    _batches(notice, jit_compile=True)
    # A second `fit` of the run (the next phase) compiles again, faster.
    _batches(notice, jit_compile=True)
    assert stream.getvalue() == COMPILING + "\n"


def test_nothing_for_a_model_that_runs_its_steps_as_they_come():
    stream = io.StringIO()
    _batches(CompileNotice(stream), jit_compile=False)
    assert stream.getvalue() == ""
