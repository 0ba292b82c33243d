"""Memory-efficient training pass of `DenseNetBackbone` (Pleiss et al., 2017).

In a dense block, layer `l` normalises the concatenation of every earlier
output. Kept for the backward pass, those concatenations and their
BatchNorm/ReLU outputs grow quadratically with depth. Here only the feature
pieces `[x0, y1, ..., yL]` of each block are kept (linear in depth); the rest
is recomputed in the backward pass, one segment at a time:

- each dense layer: concatenation -> BatchNorm -> ReLU -> 1x1 convolution ->
  BatchNorm -> ReLU (and, on JAX, the 3x3 convolution, whose forward result
  the gradient does not need, so XLA drops it);
- the stem, each transition and the final BatchNorm/ReLU, from their inputs.

On torch and TensorFlow each segment runs under `keras.remat`
(`torch.utils.checkpoint`, `tf.recompute_grad`); the 3x3 convolution stays
outside, as eager recomputation would run it again.

XLA:CPU needs more than `jax.checkpoint`: it removes optimisation barriers
before scheduling, merges a recomputation that depends only on saved values
with the forward pass (keeping what was to be freed), and schedules work off
the critical path (weight gradients, the index arrays of max pooling's
gradient) early or late at its convenience, holding their inputs. So on JAX
each dense block is one `custom_vjp` whose backward pass walks the layers in
reverse, recomputing layer `l` from the pieces plus a zero read from layer
`l`'s incoming gradient and from layer `l+1`'s weight gradients (data
dependencies XLA must respect), and adds each input gradient into one
block-wide gradient buffer. The stem's max pooling gets its own gradient (the
same first-maximum rule as XLA's select-and-scatter, without index arrays).

The pass runs the backbone's own layer objects by name, so weights, layer
names and the saved graph are untouched. A BatchNormalization layer's
training call assigns its moving statistics, which must not happen inside
recomputed code (JAX would leak tracers, torch would update twice): each
segment computes its batch statistics and returns them, and the moving
averages are updated outside with `keras.layers.BatchNormalization`'s formula.
"""

import keras
from keras import ops

from densenet_hub.models.densenet import densenet_layout as layout


def forward(backbone, image, training):
    """Runs `backbone` on `image` with recomputed segments.

    Args:
        backbone: a built `DenseNetBackbone`.
        image: the input batch, a backend tensor.
        training: the Keras training flag.

    Returns:
        `(features, pyramid)`: the backbone's output and a dict `"P2"`..
        `"P{L+1}"` of each dense block's output, both equal to the graph's.

    Example:
    ```python
    import numpy as np
    from densenet_hub.models import DenseNetBackbone
    from densenet_hub.models.densenet.memory_efficient import forward

    backbone = DenseNetBackbone([2, 2], growth_rate=4, image_shape=(32, 32, 3))
    features, pyramid = forward(backbone, np.ones((2, 32, 32, 3), "float32"), True)
    assert tuple(features.shape) == (2, 4, 4, 44) and sorted(pyramid) == ["P2", "P3"]
    ```
    """
    layers = {layer.name: layer for layer in backbone.layers}
    axis = -1 if backbone.data_format == "channels_last" else 1
    dense_block = _jax_dense_block if keras.backend.backend() == "jax" else _remat_dense_block

    def run(names, pieces):
        return _run_segment([layers[name] for name in names], pieces, axis, training)

    x = run(layout.stem_layers(backbone.stem_padding), [image])
    pyramid = {}
    num_stacks = len(backbone.stackwise_num_repeats)
    for stack_index, num_repeats in enumerate(backbone.stackwise_num_repeats, start=1):
        names = [layout.dense_layer(stack_index, b) for b in range(1, num_repeats + 1)]
        dense_layers = [
            [layers[name + suffix] for suffix in layout.DENSE_LAYER_SUFFIXES] for name in names
        ]
        pieces = dense_block(dense_layers, x, axis, training)
        # Unused in training (the classifier reads only the features), so
        # never materialised there.
        pyramid[f"P{stack_index + 1}"] = ops.concatenate(pieces, axis=axis)
        if stack_index < num_stacks:
            name = layout.transition(stack_index)
            x = run([name + suffix for suffix in layout.TRANSITION_SUFFIXES], pieces)
    return run([layout.FINAL_BN, layout.FINAL_RELU], pieces), pyramid


def _run_segment(layers, pieces, axis, training):
    """`layers` applied to the concatenated `pieces`, recomputed in the
    backward pass; updates the moving statistics."""
    segment = _Segment(layers, len(pieces), axis, training)
    recomputed = _jax_recomputed if keras.backend.backend() == "jax" else keras.remat
    outputs = recomputed(segment)(*pieces, *segment.weights())
    segment.update_moving_statistics(outputs[1:])
    return outputs[0]


def _remat_dense_block(dense_layers, x0, axis, training):
    pieces = [x0]
    for layers in dense_layers:
        bottleneck, conv = layers[:-1], layers[-1]
        pieces.append(conv(_run_segment(bottleneck, pieces, axis, training)))
    return pieces


def _jax_recomputed(function):
    """`function`, recomputed in the backward pass from its inputs plus a
    zero read from the incoming gradient, which XLA cannot compute before
    that gradient exists. (A non-finite gradient makes the zero NaN; such a
    gradient is non-finite throughout anyway, as BatchNorm mixes every
    position of a channel.)"""
    import jax

    @jax.custom_vjp
    def recomputed(*args):
        return function(*args)

    def forward_pass(*args):
        return function(*args), args

    def backward_pass(args, cotangents):
        zero = _zero_from([jax.tree_util.tree_leaves(cotangents)[0]])
        args = [arg + ops.cast(zero, arg.dtype) for arg in args]
        return jax.vjp(function, *args)[1](cotangents)

    recomputed.defvjp(forward_pass, backward_pass)
    return recomputed


def _zero_from(tensors):
    """A scalar zero that XLA can only compute once `tensors` exist."""
    zero = 0.0
    for tensor in tensors:
        zero = zero + ops.ravel(tensor)[0] * 0
    return zero


def _jax_dense_block(dense_layers, x0, axis, training):
    """The dense block as one `custom_vjp` keeping only its pieces."""
    import jax
    from jax import lax

    segments = [_Segment(layers, 1, axis, training) for layers in dense_layers]
    weights = [segment.weights() for segment in segments]
    channel_axis = axis % len(x0.shape)
    growth = dense_layers[0][-1].filters
    widths = [x0.shape[channel_axis] + growth * index for index in range(len(segments))]

    def run(x0, weights):
        pieces, statistics = [x0], []
        for segment, segment_weights in zip(segments, weights):
            y, *layer_statistics = segment(_concatenate(pieces, axis), *segment_weights)
            pieces.append(y)
            statistics.append(layer_statistics)
        return pieces, statistics

    @jax.custom_vjp
    def block(x0, weights):
        return run(x0, weights)

    def forward_pass(x0, weights):
        pieces, statistics = run(x0, weights)
        return (pieces, statistics), (pieces, weights)

    def backward_pass(saved, cotangents):
        pieces, weights = saved
        piece_gradients, statistic_gradients = cotangents
        # One buffer for the gradient of the block's full concatenation:
        # every layer adds its input gradient into the leading channels.
        gradient = ops.concatenate(piece_gradients, axis=axis)
        weight_gradients = [None] * len(segments)
        for index in reversed(range(len(segments))):
            width = widths[index]
            output_gradient = lax.slice_in_dim(gradient, width, width + growth, axis=channel_axis)
            after = weight_gradients[index + 1] if index + 1 < len(segments) else []
            zero = _zero_from([output_gradient, *after])
            shifted = [p + ops.cast(zero, p.dtype) for p in pieces[: index + 1]]
            inputs = _concatenate(shifted, axis)
            _, pullback = jax.vjp(segments[index], inputs, *weights[index])
            input_gradient, *weight_gradients[index] = pullback(
                (output_gradient, *statistic_gradients[index])
            )
            leading = lax.slice_in_dim(gradient, 0, width, axis=channel_axis)
            gradient = lax.dynamic_update_slice_in_dim(
                gradient, leading + input_gradient, 0, axis=channel_axis
            )
        return lax.slice_in_dim(gradient, 0, widths[0], axis=channel_axis), weight_gradients

    block.defvjp(forward_pass, backward_pass)
    pieces, statistics = block(x0, weights)
    for segment, layer_statistics in zip(segments, statistics):
        segment.update_moving_statistics(layer_statistics)
    return pieces


def _concatenate(pieces, axis):
    return pieces[0] if len(pieces) == 1 else ops.concatenate(list(pieces), axis=axis)


def _read(variable):
    return ops.cast(variable, variable.dtype)


class _Segment:
    """Layers applied to concatenated pieces, with every weight an explicit
    argument (no variable is read inside, which `tf.recompute_grad` and
    `jax.custom_vjp` require). Called as `segment(*pieces, *weights)`, it
    returns `(output, mean_1, variance_1, ...)` with the batch statistics of
    each BatchNormalization that uses them."""

    def __init__(self, layers, num_pieces, axis, training):
        self.layers = layers
        self.num_pieces = num_pieces
        self.axis = axis
        # Keras' rule: a frozen BatchNormalization uses its moving statistics.
        self.batch_statistics_layers = [
            layer
            for layer in layers
            if isinstance(layer, keras.layers.BatchNormalization) and training and layer.trainable
        ]

    def weights(self):
        # Read as tensors here: TensorFlow's recompute_grad counts a variable
        # passed in (rather than a tensor read from it) twice in the gradient.
        # Kernels are autocast as Conv2D does under a mixed policy.
        tensors = []
        for layer in self.layers:
            if isinstance(layer, keras.layers.Conv2D):
                tensors.append(ops.cast(layer.kernel, layer.compute_dtype))
            elif isinstance(layer, keras.layers.BatchNormalization):
                tensors += [_read(layer.gamma), _read(layer.beta)]
                if layer not in self.batch_statistics_layers:
                    tensors += [_read(layer.moving_mean), _read(layer.moving_variance)]
        return tensors

    def __call__(self, *tensors):
        pieces, weights = tensors[: self.num_pieces], list(tensors[self.num_pieces :])
        x = _concatenate(pieces, self.axis)
        statistics = []
        for layer in self.layers:
            if isinstance(layer, keras.layers.Conv2D):
                x = layer.convolution_op(ops.cast(x, layer.compute_dtype), weights.pop(0))
            elif isinstance(layer, keras.layers.BatchNormalization):
                x, layer_statistics = self._normalise(layer, x, weights)
                statistics += layer_statistics
            elif isinstance(layer, keras.layers.MaxPooling2D) and keras.backend.backend() == "jax":
                x = _jax_max_pool(layer, x)
            else:
                x = layer(x)
        return (x, *statistics)

    def _normalise(self, layer, x, weights):
        # BatchNormalization's own promotion, from the backend dtype (on
        # torch that gives float32 even for float64 inputs, as in the layer).
        x = ops.cast(x, keras.backend.result_type(x.dtype, "float32"))
        gamma, beta = weights.pop(0), weights.pop(0)
        if layer in self.batch_statistics_layers:
            axes = [a for a in range(len(x.shape)) if a != layer.axis % len(x.shape)]
            mean, variance = ops.moments(x, axes=axes, synchronized=layer.synchronized)
            statistics = [mean, variance]
        else:
            mean = ops.cast(weights.pop(0), x.dtype)
            variance = ops.cast(weights.pop(0), x.dtype)
            statistics = []
        y = ops.batch_normalization(
            x=x,
            mean=mean,
            variance=variance,
            axis=layer.axis,
            offset=ops.cast(beta, x.dtype),
            scale=ops.cast(gamma, x.dtype),
            epsilon=layer.epsilon,
        )
        return ops.cast(y, layer.compute_dtype), statistics

    def update_moving_statistics(self, statistics):
        """`keras.layers.BatchNormalization`'s update, outside the recomputation."""
        for index, layer in enumerate(self.batch_statistics_layers):
            mean, variance = statistics[2 * index], statistics[2 * index + 1]
            momentum = layer.momentum
            moving_mean = ops.cast(layer.moving_mean, mean.dtype)
            moving_variance = ops.cast(layer.moving_variance, variance.dtype)
            layer.moving_mean.assign(moving_mean * momentum + mean * (1.0 - momentum))
            layer.moving_variance.assign(
                moving_variance * momentum + variance * (1.0 - momentum)
            )


def _jax_max_pool(layer, x):
    """`layer(x)` with a gradient computed from strided window slices: each
    output's gradient goes to the first input of its window (row-major) equal
    to the maximum, as XLA's select-and-scatter does, without the int32 index
    arrays of the padded input that XLA:CPU builds for it."""
    import jax
    from jax import lax

    spatial = (1, 2) if layer.data_format == "channels_last" else (2, 3)
    pool_size, strides = tuple(layer.pool_size), tuple(layer.strides)

    def pad_amounts(shape):
        pads = [(0, 0)] * 4
        if layer.padding == "same":
            for axis, window, stride in zip(spatial, pool_size, strides):
                size = shape[axis]
                total = max((-(-size // stride) - 1) * stride + window - size, 0)
                pads[axis] = (total // 2, total - total // 2)
        return pads

    @jax.custom_vjp
    def pool(x):
        return layer(x)

    def forward_pass(x):
        y = layer(x)
        return y, (x, y)

    def backward_pass(saved, output_gradient):
        x, y = saved
        pads = pad_amounts(x.shape)
        padded = lax.pad(x, ops.cast(-float("inf"), x.dtype), [(lo, hi, 0) for lo, hi in pads])
        taken = ops.zeros(y.shape, "bool")
        gradient = ops.zeros(padded.shape, output_gradient.dtype)
        zero = ops.zeros((), output_gradient.dtype)
        for offset in _window_offsets(pool_size):
            start, limit, step, placement = [0] * 4, list(padded.shape), [1] * 4, [(0, 0, 0)] * 4
            for axis, shift, stride in zip(spatial, offset, strides):
                span = (y.shape[axis] - 1) * stride + 1
                start[axis], limit[axis], step[axis] = shift, shift + span, stride
                placement[axis] = (shift, padded.shape[axis] - shift - span, stride - 1)
            chosen = ops.logical_and(
                ops.equal(lax.slice(padded, start, limit, step), y), ops.logical_not(taken)
            )
            taken = ops.logical_or(taken, chosen)
            contribution = ops.where(chosen, output_gradient, zero)
            gradient = gradient + lax.pad(contribution, zero, placement)
        starts = [lo for lo, _ in pads]
        return (lax.slice(gradient, starts, [s + n for s, n in zip(starts, x.shape)]),)

    pool.defvjp(forward_pass, backward_pass)
    return pool(x)


def _window_offsets(pool_size):
    return [(i, j) for i in range(pool_size[0]) for j in range(pool_size[1])]
