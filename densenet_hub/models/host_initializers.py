"""Weight initializers that draw on the host with NumPy.

On JAX each `keras.random` draw of a new shape compiles an XLA program:
DenseNet-121 has 67 distinct kernel shapes, and building it spent about 10 of
its 11 seconds compiling random-number kernels. These initializers give the
distributions of Keras' `GlorotUniform`, `Zeros` and `Ones` from NumPy's
global generator, which `keras.utils.set_random_seed` seeds, so building is
still reproducible and compiles nothing.
"""

import math

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="densenet_hub")
class HostGlorotUniform(keras.initializers.Initializer):
    """Glorot (Xavier) uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).

    Fans follow Keras' rule for dense and convolution kernels: the last axis
    is the output, the one before it the input, and the leading (spatial)
    axes multiply both.

    Example:
    ```python
    from densenet_hub.models.host_initializers import HostGlorotUniform

    kernel = HostGlorotUniform()((3, 3, 8, 16), "float32")
    assert kernel.shape == (3, 3, 8, 16)
    ```
    """

    def __call__(self, shape, dtype=None):
        shape = tuple(int(dim) for dim in shape)
        receptive_field = math.prod(shape[:-2]) if len(shape) > 2 else 1
        fan_in = shape[-2] * receptive_field if len(shape) > 1 else shape[0]
        fan_out = shape[-1] * receptive_field if shape else 1
        limit = math.sqrt(6.0 / max(1.0, fan_in + fan_out))
        values = np.random.uniform(-limit, limit, size=shape)
        return keras.ops.convert_to_tensor(values, dtype=dtype or keras.config.floatx())


@keras.saving.register_keras_serializable(package="densenet_hub")
class HostConstant(keras.initializers.Initializer):
    """Fills with `value` (0 for beta and moving means, 1 for gamma and variances).

    Args:
        value: float, the fill value.
    """

    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        values = np.full(tuple(int(dim) for dim in shape), self.value)
        return keras.ops.convert_to_tensor(values, dtype=dtype or keras.config.floatx())

    def get_config(self):
        return {"value": self.value}
