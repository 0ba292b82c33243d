"""ONNX Runtime speed of `to_onnx`'s DenseNet-121 graph, and of the same graph
with its standalone BatchNormalization nodes written as Mul + Add instead.

Random weights (BatchNorm statistics included), 224x224, float32. The two
graphs run alternately, `--rounds` times each, so both see the same machine
load; the script prints images/s per batch size (median, min-max) and the
ratio of the medians.

    KERAS_BACKEND=jax python benchmarks/bench_onnx_graph.py --threads 2
"""

import argparse
import time

import numpy as np
import onnx
import onnxruntime
from onnx import helper
from onnx import numpy_helper

import densenet_hub
from densenet_hub.export import to_onnx
from densenet_hub.models.densenet.densenet_layout import DEPTHS


def densenet121():
    backbone = densenet_hub.models.DenseNetBackbone(
        **DEPTHS[121].config(), image_shape=(224, 224, 3)
    )
    classifier = densenet_hub.models.DenseNetImageClassifier(backbone, num_classes=1000)
    rng = np.random.default_rng(0)
    for variable in classifier.weights:
        if "moving_variance" in variable.path:
            variable.assign(rng.uniform(0.5, 2.0, variable.shape))
        elif "moving_mean" in variable.path or "beta" in variable.path:
            variable.assign(rng.normal(0.0, 0.1, variable.shape))
    return classifier


def with_mul_add(proto):
    """`proto` with every BatchNormalization node as `x * scale + shift`."""
    result = onnx.ModelProto()
    result.CopyFrom(proto)
    arrays = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    nodes = []
    for node in result.graph.node:
        if node.op_type != "BatchNormalization":
            nodes.append(node)
            continue
        gamma, beta, mean, variance = (arrays[name] for name in node.input[1:])
        epsilon = next(a.f for a in node.attribute if a.name == "epsilon")
        scale = gamma / np.sqrt(variance + epsilon)
        shift = beta - mean * scale
        names = [f"{node.name}/mul_scale", f"{node.name}/add_shift"]
        for name, value in zip(names, (scale, shift)):
            result.graph.initializer.append(
                numpy_helper.from_array(value.reshape(-1, 1, 1).astype("float32"), name)
            )
        product = f"{node.name}/product"
        nodes.append(helper.make_node("Mul", [node.input[0], names[0]], [product]))
        nodes.append(helper.make_node("Add", [product, names[1]], list(node.output)))
    del result.graph.node[:]
    result.graph.node.extend(nodes)
    onnx.checker.check_model(result)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="0: ONNX Runtime's default")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    classifier = densenet121()
    start = time.perf_counter()
    graph = to_onnx(classifier)
    print(f"to_onnx: {time.perf_counter() - start:.1f} s, {len(graph.graph.node)} nodes")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.log_severity_level = 3
    sessions = {
        name: onnxruntime.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        for name, proto in (("exported", graph), ("bn_as_mul_add", with_mul_add(graph)))
    }
    images = np.random.default_rng(1).uniform(0, 1, (16, 224, 224, 3)).astype("float32")
    reference = classifier.predict(images[:2], verbose=0)
    for name, session in sessions.items():
        diff = np.abs(session.run(None, {"images": images[:2]})[0] - reference).max()
        print(f"{name}: max |diff| vs Keras {diff:.2e}")

    speeds = {}
    for _ in range(args.rounds):
        for name, session in sessions.items():
            for batch, calls in ((1, 8), (16, 1)):
                feed = {"images": images[:batch]}
                session.run(None, feed)
                start = time.perf_counter()
                for _ in range(calls):
                    session.run(None, feed)
                speeds.setdefault((batch, name), []).append(
                    batch * calls / (time.perf_counter() - start)
                )
    for batch in (1, 16):
        medians = {}
        for name in sessions:
            values = speeds[(batch, name)]
            medians[name] = np.median(values)
            print(
                f"batch {batch:2d} {name:14s} {medians[name]:5.1f} img/s "
                f"(min {min(values):.1f}, max {max(values):.1f})"
            )
        ratio = medians["exported"] / medians["bn_as_mul_add"]
        print(f"batch {batch:2d} exported / bn_as_mul_add: {ratio:.2f}")


if __name__ == "__main__":
    main()
