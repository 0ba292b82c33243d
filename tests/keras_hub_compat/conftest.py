"""KerasHub's own DenseNet tests, run against densenet_hub.

KerasHub marks tests that download presets `large` or `extra_large` and skips
them unless asked (`--run_large`). Here the markers are registered and the
tests run by default; the ones that load full-size presets from the hubs get
them from the local stubs (fixtures below). Which keras-hub's harness runs
them is printed in pytest's header.
"""

import importlib.metadata
import pathlib

import pytest
from helpers import full_size

HERE = pathlib.Path(__file__).parent

def pytest_report_header(config):
    version = importlib.metadata.version("keras-hub")
    return f"keras_hub_compat: KerasHub's TestCase from the installed keras-hub {version}"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "large: KerasHub's marker for slow or network tests; runs by default here"
    )
    config.addinivalue_line(
        "markers",
        "extra_large: KerasHub's marker for tests that download every preset; runs by default here",
    )


def pytest_collection_modifyitems(config, items):
    # KerasHub's full-size tests build every preset: out of the quick loop
    # (`-m "not slow"`), in CI.
    for item in items:
        if item.get_closest_marker("large") or item.get_closest_marker("extra_large"):
            item.add_marker(pytest.mark.slow)
    # KerasHub's TestCase derives from tf.test.TestCase, whose deprecated
    # `test_session` context manager pytest collects as a test of every class
    # and TensorFlow then skips ("Not a test."): not a test, so not collected.
    not_tests = [
        item for item in items
        if item.name == "test_session" and str(item.path).startswith(str(HERE))
    ]
    if not_tests:
        config.hook.pytest_deselected(items=not_tests)
        items[:] = [item for item in items if item not in not_tests]


# === Full-size hub files on the stubs ===
#
# Three of KerasHub's tests load every built-in preset or a full-size timm
# repository. They run against the hub stubs (the `kaggle` and `hf`
# fixtures, with the loopback guard on), serving full-size files with random
# weights that `helpers.full_size` generates once per test session. KerasHub's
# `TestCase` is a unittest class, so the tests ask for these fixtures with
# `@pytest.mark.usefixtures(...)`.


@pytest.fixture(scope="session")
def full_size_hub_files():
    """The `helpers.full_size` module: builders of full-size hub files, each
    cached for the session (built on first use)."""
    return full_size


@pytest.fixture
def timm_densenet121_on_hf(hf, full_size_hub_files):
    """`hf://timm/densenet121.tv_in1k` on the Hugging Face stub: full size,
    random weights."""
    architecture = "densenet121"
    hf.add_commit(
        full_size_hub_files.timm_repo_id(architecture),
        full_size_hub_files.timm_repo_files(architecture),
    )
    yield hf
    # The weights came from the stub, not from some other cache.
    assert _downloaded(hf, full_size_hub_files.timm_repo_id(architecture), "model.safetensors")


@pytest.fixture
def all_builtin_presets_on_hubs(kaggle, hf, full_size_hub_files):
    """Every built-in DenseNet preset's first handle served by a stub:
    KerasHub-format presets for 121/169/201 on Kaggle (version 3) and timm's
    densenet161 repository on Hugging Face, full size, random weights. The
    Hugging Face mirrors of the KerasHub presets are left empty, so the
    presets must come from Kaggle."""
    for depth in full_size_hub_files.KERAS_HUB_REPEATS:
        kaggle.add_version(
            full_size_hub_files.kaggle_variation(depth),
            full_size_hub_files.KAGGLE_VERSION,
            full_size_hub_files.keras_hub_preset_files(depth),
        )
    architecture = "densenet161"
    hf.add_commit(
        full_size_hub_files.timm_repo_id(architecture),
        full_size_hub_files.timm_repo_files(architecture),
    )
    yield kaggle, hf
    # Every preset came from its stub, not from some other cache.
    downloads = kaggle.paths("POST").count(KAGGLE_DOWNLOAD)
    assert downloads >= sum(
        len(full_size_hub_files.keras_hub_preset_files(depth))
        for depth in full_size_hub_files.KERAS_HUB_REPEATS
    )
    assert _downloaded(hf, full_size_hub_files.timm_repo_id(architecture), "model.safetensors")


KAGGLE_DOWNLOAD = "/api/v1/models.ModelApiService/DownloadModelInstanceVersion"


def _downloaded(hf, repo_id, filename):
    return any(
        path.startswith(f"/{repo_id}/resolve/") and path.endswith(f"/{filename}")
        for path in hf.paths("GET")
    )
