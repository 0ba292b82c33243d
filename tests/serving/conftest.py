"""Fixtures of the serving tests: tiny classifiers saved as presets, and the
first one served by uvicorn in a background thread on 127.0.0.1."""

import pytest
from helpers.models import build_tiny_classifier
from serving_helpers import FINDINGS
from serving_helpers import NAMES
from serving_helpers import THRESHOLDS

from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.serving import ServerThread
from densenet_hub.serving import load_served_model
from densenet_hub.training.classifier import save_classifier


@pytest.fixture(scope="session")
def preset(tmp_path_factory):
    """A 5-class tiny classifier preset with class names."""
    folder = tmp_path_factory.mktemp("serving") / "tiny"
    save_classifier(build_tiny_classifier(), ClassLabels(NAMES), folder)
    return folder


@pytest.fixture(scope="session")
def multi_label_preset(tmp_path_factory):
    """A 3-finding sigmoid tiny classifier preset with thresholds."""
    folder = tmp_path_factory.mktemp("serving") / "findings"
    classifier = build_tiny_classifier(num_classes=3, activation="sigmoid")
    save_classifier(classifier, ClassLabels(FINDINGS, thresholds=THRESHOLDS), folder)
    return folder


@pytest.fixture(scope="session")
def served(preset):
    """The preset's `ServedModel`, shared by the servers of the tests."""
    return load_served_model(preset)


@pytest.fixture(scope="session")
def server(served):
    """The preset served with the default limits."""
    with ServerThread(served) as running:
        yield running
