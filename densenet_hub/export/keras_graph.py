"""A Keras functional model as a flat, topologically ordered list of layer
calls, with nested functional models (a classifier's backbone) inlined."""

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class LayerCall:
    """One call of a layer in the flattened graph.

    `inputs` and `outputs` are tensor keys: strings unique in the graph,
    shared by the producer and every consumer of a tensor. The shapes are the
    Keras shapes (in the model's data format, `None` for unknown sizes).
    """

    layer: keras.layers.Layer
    name: str
    inputs: tuple
    outputs: tuple
    input_shapes: tuple
    output_shapes: tuple


@dataclasses.dataclass(frozen=True)
class FlatGraph:
    input_key: str
    input_shape: tuple
    calls: tuple
    output_key: str
    output_shape: tuple


INPUT_KEY = "input"


def flatten(model, owner):
    """The calls of `model` (one input, one output) in execution order.

    Args:
        model: a functional `keras.Model`.
        owner: the name errors start with.
    """
    _check_functional(model, owner, "the model")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"{owner}: the model must have one image input and one output, "
            f"got {len(model.inputs)} input(s) and {len(model.outputs)} "
            "output(s). Export a backbone or an image classifier."
        )
    keys = {id(model.inputs[0]): INPUT_KEY}
    calls = []
    _walk(model, "", keys, calls, owner)
    return FlatGraph(
        input_key=INPUT_KEY,
        input_shape=tuple(model.inputs[0].shape),
        calls=tuple(calls),
        output_key=keys[id(model.outputs[0])],
        output_shape=tuple(model.outputs[0].shape),
    )


def _walk(model, prefix, keys, calls, owner):
    # Keras runs a functional model in this order too (deepest nodes first).
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.is_input:
                continue
            layer = node.operation
            inputs = tuple(keys[id(tensor)] for tensor in node.input_tensors)
            if isinstance(layer, keras.Model):
                _check_functional(layer, owner, f"the nested model {layer.name!r}")
                for inner, key in zip(layer.inputs, inputs):
                    keys[id(inner)] = key
                _walk(layer, f"{prefix}{layer.name}/", keys, calls, owner)
                for outer, inner in zip(node.outputs, layer.outputs):
                    keys[id(outer)] = keys[id(inner)]
                continue
            name = f"{prefix}{layer.name}"
            outputs = tuple(
                name if index == 0 else f"{name}:{index}"
                for index in range(len(node.outputs))
            )
            for tensor, key in zip(node.outputs, outputs):
                keys[id(tensor)] = key
            calls.append(
                LayerCall(
                    layer=layer,
                    name=name,
                    inputs=inputs,
                    outputs=outputs,
                    input_shapes=tuple(tuple(t.shape) for t in node.input_tensors),
                    output_shapes=tuple(tuple(t.shape) for t in node.outputs),
                )
            )


def _check_functional(model, owner, what):
    # Subclassed models have no graph to read; functional ones keep their
    # nodes by depth, as Keras' own graph runner reads them.
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        raise ValueError(
            f"{owner}: {what} ({type(model).__name__}) is not a functional "
            "Keras model, so its layer graph cannot be read. Build it with "
            "keras.Model(inputs, outputs), or use format='saved_model'."
        )
