"""`densenet-hub bench inference`'s int8 rows: our graph quantized by NNCF
(OpenVINO) and by ONNX Runtime, calibrated on noise of the benchmarked size,
timed against OpenVINO's default and ONNX Runtime's float32 in one run."""

import nncf  # noqa: F401
import numpy as np
import onnxruntime  # noqa: F401
import openvino  # noqa: F401
import pytest

from densenet_hub.profiling import inference
from densenet_hub.profiling import peers


def _cosine(a, b):
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_an_int8_row_runs_our_quantized_graph_close_to_float32(runtime):
    run = inference.build_one(f"densenet_hub+{runtime}-int8", 121, 32)
    float32 = inference.build_one(f"densenet_hub+{runtime}", 121, 32)
    images = peers.random_batch(4, 32)
    outputs, expected = run(images), float32(images)
    assert outputs.shape == expected.shape == (4, 1, 1, 1024)
    # int8, not float32 again: the outputs move, but keep their direction.
    assert 0 < np.abs(outputs - expected).max()
    assert np.all(_cosine(outputs, expected) > 0.99)


def test_int8_rows_are_candidates_by_default():
    assert {"densenet_hub+openvino-int8", "densenet_hub+onnxruntime-int8"} <= set(
        inference.CANDIDATES
    )


@pytest.mark.slow
def test_the_int8_row_is_timed_against_openvino_default_and_onnxruntime_in_one_run():
    lines = []
    int8 = "densenet_hub+openvino-int8"
    names = ["densenet_hub", int8, "onnxruntime-default", "openvino-default"]
    rows = inference.run([121], [32], [2], names, rounds=2, min_seconds=0.05, print_fn=lines.append)
    assert [row["candidate"] for row in rows] == names
    assert all(row["images_per_second"] > 0 for row in rows)
    speed = {row["candidate"]: row["images_per_second"] for row in rows}
    # Compared with Keras' row on the same seeded weights: int8 moves the
    # features, where the float32 ONNX Runtime peer stays within 1e-4.
    assert rows[1]["max_abs_diff"] > 1e-4 and rows[2]["max_abs_diff"] < 1e-4
    line = next(line for line in lines if line.startswith(int8))
    assert "x onnxruntime-default" in lines[lines.index(line) - 2]
    ratios = [float(value) for value in line.split()[3:5]]
    assert ratios == pytest.approx(
        [speed[int8] / speed["onnxruntime-default"], speed[int8] / speed["openvino-default"]],
        abs=0.006,
    )
