"""Memory-efficient training pass of `DenseNetBackbone` (Pleiss et al., 2017).

In a dense block, layer `l` normalises the concatenation of every earlier
output. Kept for the backward pass, those concatenations and their
BatchNorm/ReLU outputs grow quadratically with depth. Here each dense layer
instead keeps the list of feature pieces `[x0, y1, ..., y_{l-1}]` and runs
concatenation -> BatchNorm -> ReLU -> 1x1 convolution under `keras.remat`
(`jax.checkpoint`, `torch.utils.checkpoint`, `tf.recompute_grad`), so only
the pieces and the 1x1 output are stored and the rest is recomputed in the
backward pass.

The pass runs the backbone's own layer objects by name, so weights, layer
names and the saved graph are untouched. A BatchNormalization layer's
training call assigns its moving statistics, which must not happen inside
the recomputed function (JAX would leak tracers, torch would update twice):
the function computes the batch statistics and returns them, and the moving
averages are updated outside it with the same formula as
`keras.layers.BatchNormalization`.
"""

import keras
from keras import ops


def forward(backbone, image, training):
    """Runs `backbone` on `image` with recomputed bottlenecks.

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
    from densenet_hub.models.memory_efficient import forward

    backbone = DenseNetBackbone([2, 2], growth_rate=4, image_shape=(32, 32, 3))
    features, pyramid = forward(backbone, np.ones((2, 32, 32, 3), "float32"), True)
    assert tuple(features.shape) == (2, 4, 4, 44) and sorted(pyramid) == ["P2", "P3"]
    ```
    """
    layers = {layer.name: layer for layer in backbone.layers}
    x = image
    for name in _stem_layer_names(backbone.stem_padding):
        x = layers[name](x, training=training)
    pyramid = {}
    num_stacks = len(backbone.stackwise_num_repeats)
    for stack_index, num_repeats in enumerate(backbone.stackwise_num_repeats, start=1):
        pieces = [x]
        for block_index in range(1, num_repeats + 1):
            name = f"stack{stack_index}_block{block_index}"
            y = _bottleneck(layers, name, pieces, training)
            for suffix in ("_2_bn", "_2_relu", "_2_conv"):
                y = layers[name + suffix](y, training=training)
            pieces.append(y)
        # The one concatenation a block materialises: its output.
        x = ops.concatenate(pieces, axis=layers[f"{name}_concat"].axis)
        pyramid[f"P{stack_index + 1}"] = x
        if stack_index < num_stacks:
            for suffix in ("_bn", "_relu", "_conv", "_pool"):
                x = layers[f"transition{stack_index}{suffix}"](x, training=training)
    x = layers["bn"](x, training=training)
    return layers["relu"](x, training=training), pyramid


def _stem_layer_names(stem_padding):
    if stem_padding == "symmetric":
        return ("conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad", "pool1")
    return ("conv1_conv", "conv1_bn", "conv1_relu", "pool1")


def _bottleneck(layers, name, pieces, training):
    """`{name}_1_conv(relu(bn(concat(pieces))))`, recomputed in the backward pass."""
    bn = layers[f"{name}_1_bn"]
    conv = layers[f"{name}_1_conv"]
    parts = _BottleneckParts(bn, layers[f"{name}_1_relu"], conv, len(pieces))
    # Read as tensors here: TensorFlow's recompute_grad counts a variable
    # passed in (rather than a tensor read from it) twice in the gradient.
    # The kernel is autocast as Conv2D does under a mixed policy.
    weights = [
        _read(bn.gamma),
        _read(bn.beta),
        ops.cast(conv.kernel, conv.compute_dtype),
    ]
    if training and bn.trainable:
        y, mean, variance = _recomputed(parts.with_batch_statistics)(*pieces, *weights)
        _update_moving_statistics(bn, mean, variance)
        return y
    moving = [_read(bn.moving_mean), _read(bn.moving_variance)]
    return _recomputed(parts.with_moving_statistics)(*pieces, *weights, *moving)


def _recomputed(function):
    """`function`, recomputed in the backward pass instead of keeping its
    intermediates."""
    if keras.backend.backend() == "jax":
        return _jax_recomputed(function)
    return keras.remat(function)


def _jax_recomputed(function):
    """`jax.checkpoint` alone saves nothing on XLA:CPU: its recomputation
    depends only on the saved inputs, so the compiler merges it with the
    forward computation and keeps the intermediates after all (same buffer
    sizes with and without it). Here the backward pass recomputes from inputs
    plus a zero read from the incoming cotangent, which it cannot do before
    that cotangent exists. (A non-finite cotangent makes the zero NaN; such a
    gradient is non-finite throughout anyway, as BatchNorm mixes every
    position of a channel.)"""
    import jax

    @jax.custom_vjp
    def recomputed(*args):
        return function(*args)

    def forward_pass(*args):
        return function(*args), args

    def backward_pass(args, cotangents):
        first = jax.tree_util.tree_leaves(cotangents)[0]
        zero = ops.ravel(first)[0] * 0
        args = [arg + ops.cast(zero, arg.dtype) for arg in args]
        return jax.vjp(function, *args)[1](cotangents)

    recomputed.defvjp(forward_pass, backward_pass)
    return recomputed


def _read(variable):
    return ops.cast(variable, variable.dtype)


class _BottleneckParts:
    """The recomputed function of one dense layer, with its tensors as
    explicit arguments (no variable is read inside it, which
    `tf.recompute_grad` and `jax.checkpoint` require)."""

    def __init__(self, bn, relu, conv, num_pieces):
        self.bn = bn
        self.relu = relu
        self.conv = conv
        self.num_pieces = num_pieces

    def with_batch_statistics(self, *tensors):
        pieces, (gamma, beta, kernel) = self._split(tensors)
        x = self._concatenate(pieces)
        axes = [axis for axis in range(len(x.shape)) if axis != self.bn.axis % len(x.shape)]
        mean, variance = ops.moments(x, axes=axes, synchronized=self.bn.synchronized)
        y = self._normalise_relu_conv(x, mean, variance, gamma, beta, kernel)
        return y, mean, variance

    def with_moving_statistics(self, *tensors):
        pieces, (gamma, beta, kernel, moving_mean, moving_variance) = self._split(tensors)
        x = self._concatenate(pieces)
        mean = ops.cast(moving_mean, x.dtype)
        variance = ops.cast(moving_variance, x.dtype)
        return self._normalise_relu_conv(x, mean, variance, gamma, beta, kernel)

    def _split(self, tensors):
        return tensors[: self.num_pieces], tensors[self.num_pieces :]

    def _concatenate(self, pieces):
        x = ops.concatenate(list(pieces), axis=self.bn.axis)
        # BatchNormalization's own promotion, from the backend dtype (on
        # torch that gives float32 even for float64 inputs, as in the layer).
        return ops.cast(x, keras.backend.result_type(x.dtype, "float32"))

    def _normalise_relu_conv(self, x, mean, variance, gamma, beta, kernel):
        y = ops.batch_normalization(
            x=x,
            mean=mean,
            variance=variance,
            axis=self.bn.axis,
            offset=ops.cast(beta, x.dtype),
            scale=ops.cast(gamma, x.dtype),
            epsilon=self.bn.epsilon,
        )
        y = ops.cast(y, self.bn.compute_dtype)
        y = ops.cast(self.relu.activation(y), self.conv.compute_dtype)
        return self.conv.convolution_op(y, kernel)


def _update_moving_statistics(bn, mean, variance):
    """`keras.layers.BatchNormalization`'s update, outside the recomputation."""
    momentum = bn.momentum
    moving_mean = ops.cast(bn.moving_mean, mean.dtype)
    moving_variance = ops.cast(bn.moving_variance, variance.dtype)
    bn.moving_mean.assign(moving_mean * momentum + mean * (1.0 - momentum))
    bn.moving_variance.assign(moving_variance * momentum + variance * (1.0 - momentum))
