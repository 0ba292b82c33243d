"""A missing optional package is one line with its pip command, in every
command: here `predict --runtime openvino` without openvino, which printed a
traceback before."""

import sys

from helpers.cli import error_line
from helpers.models import save_tiny_classifier_preset

from densenet_hub.cli.main import main
from helpers.cli import write_graded_noise_images


def test_predict_without_openvino_says_which_pip_command(tmp_path, monkeypatch, capsys):
    preset = save_tiny_classifier_preset(tmp_path / "preset")
    images = write_graded_noise_images(tmp_path / "images", ["a"], 1)
    monkeypatch.setitem(sys.modules, "openvino", None)  # what "not installed" looks like
    status = main(["predict", str(preset), str(images / "a"), "--runtime", "openvino"])
    assert status == 1
    line = error_line(capsys)
    assert "`openvino`" in line and "pip install 'densenet-hub[openvino]'" in line
