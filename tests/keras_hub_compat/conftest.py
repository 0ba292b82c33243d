"""KerasHub's own DenseNet tests, run against densenet_hub.

KerasHub marks tests that download presets `large` or `extra_large` and skips
them unless asked (`--run_large`). Here the markers are registered and the
tests run by default; the ones that need the real published weights or
full-size hub checkpoints skip themselves with the reason (see the test file).
"""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "large: KerasHub's marker for slow or network tests; runs by default here"
    )
    config.addinivalue_line(
        "markers",
        "extra_large: KerasHub's marker for tests that download every preset; runs by default here",
    )
