"""Plain builders and utilities shared by the test modules.

`tests/` is on `sys.path` during a run (pytest inserts the folder of the
root `conftest.py`), so any test module, in any sub-folder, can write
`from helpers.models import build_tiny_backbone`. Fixtures built on these live in
`tests/conftest.py`.
"""
