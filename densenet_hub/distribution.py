"""Training on several devices and processes with Keras' own distribution API.

Nothing here reimplements data or model parallelism: the helpers build a
`keras.distribution` distribution (which runs on JAX through `jax.jit` and
shardings) and set it globally, check the inputs Keras would otherwise reject
with a low-level JAX error, and answer the "who writes the files?" question
of a multi-process run.

Keras 3.15 implements `keras.distribution` for the JAX backend only (its
TensorFlow module is an unfinished prototype and torch has none), so the
functions that distribute raise a clear error on other backends, naming each
backend's native route. The process helpers (`process_index`, `is_chief`,
...) work on every backend and answer for a single process there.

Batch normalisation needs no special handling: the train step is compiled
for the global batch, and XLA computes each BatchNorm's mean and variance
over the whole global batch (inserting the cross-device reduction), so the
statistics and moving averages equal single-device training on that batch.
"""

import contextlib
import os
import re

import keras

from densenet_hub.models.densenet import densenet_layout as layout
from densenet_hub.base.choices import COORDINATOR_ENV
from densenet_hub.base.choices import DISTRIBUTION_LAYOUTS
from densenet_hub.base.choices import KERAS_ADDRESSES_ENV
from densenet_hub.base.choices import KERAS_NUM_PROCESSES_ENV
from densenet_hub.base.choices import KERAS_PROCESS_ID_ENV

BATCH_AXIS = "batch"
MODEL_AXIS = "model"
SIMULATE_DEVICES = (
    "to simulate N CPU devices in one process, start Python with "
    "XLA_FLAGS=--xla_force_host_platform_device_count=N"
)
_ADDRESS = re.compile(r"\[?[A-Za-z0-9_.:-]+\]?:[0-9]{1,5}")
# A DenseNet bottleneck is a 1x1 conv to 4 * growth_rate channels, BatchNorm,
# then a 3x3 conv to growth_rate channels. Splitting those 4 * growth_rate
# channels (the 1x1 kernel's outputs, the BatchNorm's vectors, the 3x3
# kernel's inputs) keeps each device's slice of the bottleneck local from the
# first conv to the second; only the 3x3 conv's output needs a reduction.
# The width is a multiple of 4 for every growth rate, and these kernels hold
# most of DenseNet's weights. Stem, transitions and head stay replicated:
# their widths need not divide the model axis.
_BOTTLENECK = layout.DENSE_LAYER_PATTERN
_, _, _CONV1, _BN2, _, _CONV2 = layout.DENSE_LAYER_SUFFIXES
DENSENET_LAYOUT = {
    _BOTTLENECK + _CONV1 + r"/kernel": (None, None, None, MODEL_AXIS),
    _BOTTLENECK + _BN2 + r"/(gamma|beta|moving_mean|moving_variance)": (MODEL_AXIS,),
    _BOTTLENECK + _CONV2 + r"/kernel": (None, None, MODEL_AXIS, None),
}


class DistributionError(ValueError):
    """A distribution that cannot run as asked (backend, devices, batch).

    Example:
    ```python
    from densenet_hub import distribution

    try:
        distribution.check_global_batch(6, replicas=4)
    except distribution.DistributionError as error:
        assert "the global batch size 6 is not divisible by 4" in str(error)
    ```
    """


def _require_jax(what):
    backend = keras.backend.backend()
    if backend == "jax":
        return
    routes = {
        "torch": "torch's own route is a custom training loop wrapped in "
        "torch.nn.parallel.DistributedDataParallel and launched with torchrun "
        "(the Keras model is a torch.nn.Module)",
        "tensorflow": "TensorFlow's own route is tf.distribute: build and "
        "compile the model inside tf.distribute.MirroredStrategy().scope() "
        "(one host) or MultiWorkerMirroredStrategy (several hosts), then fit",
    }
    route = routes.get(backend, "this backend has no distributed route in Keras")
    raise DistributionError(
        f"{what} needs keras.distribution, which Keras implements for the JAX "
        f"backend only, but KERAS_BACKEND is {backend!r}. Set KERAS_BACKEND=jax, "
        f"or use the native route: {route}."
    )


# === Processes ===


def process_index():
    """This process's index among the processes of the run (0 for one process).

    Example:
    ```python
    from densenet_hub import distribution

    assert (distribution.process_index(), distribution.process_count()) == (0, 1)
    ```
    """
    if keras.backend.backend() != "jax":
        return 0
    import jax

    return jax.process_index()


def process_count():
    """How many processes take part in the run (1 unless `initialize` joined
    several)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count()


def is_chief():
    """Whether this process writes the run's files (checkpoints, presets):
    process 0 does, the others only compute.

    Example:
    ```python
    from densenet_hub import distribution

    if distribution.is_chief():
        print("this process saves the model")
    ```
    """
    return process_index() == 0


def barrier(name):
    """Waits until every process reached the barrier `name` (no-op for one
    process), e.g. until the chief has finished writing a file the others
    read next.

    Args:
        name: the same string on every process, unique per barrier.
    """
    if process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


@contextlib.contextmanager
def unsharded():
    """Suspends the global distribution: variables created inside live on
    this process's default device only.

    For work each process does on its own: random augmentation layers with
    per-process seeds, or saving on process 0 only (Keras makes throwaway
    variables while saving). Under a multi-process distribution, creating a
    variable is a placement that JAX checks to be identical on every
    process, so it waits for all of them.

    Example:
    ```python
    import keras
    from densenet_hub import distribution

    with distribution.unsharded():
        flip = keras.layers.RandomFlip("horizontal", seed=1)
    ```
    """
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def initialize(coordinator_address=None, num_processes=None, process_id=None):
    """Joins a multi-process JAX run (`jax.distributed`), through Keras'
    `keras.distribution.initialize`.

    Call it in every process before any other JAX or Keras work. Each
    argument left `None` comes from the environment:

    - `coordinator_address`: `KERAS_DISTRIBUTION_JOB_ADDRESSES` (Keras; its
      first address is the coordinator's), else `JAX_COORDINATOR_ADDRESS`
      (JAX's own);
    - `num_processes`: `KERAS_DISTRIBUTION_NUM_PROCESSES`;
    - `process_id`: `KERAS_DISTRIBUTION_PROCESS_ID`.

    Whatever is still unset is left to JAX's cluster detection (Slurm, Open
    MPI, Kubernetes, Cloud TPU), which fills it in on those clusters.

    Args:
        coordinator_address: `"host:port"` of process 0, the same in every
            process; process 0 listens on that port.
        num_processes: the number of processes, the same in every process.
        process_id: this process's index, from 0 to `num_processes - 1`.

    Example:
    ```python
    from densenet_hub import distribution

    # Two processes on one machine would each run, with their own id:
    #   distribution.initialize("127.0.0.1:12345", num_processes=2, process_id=0)
    assert distribution.process_count() == 1  # until initialize joins more
    ```
    """
    _require_jax("multi-process training")
    if coordinator_address is None:
        addresses = os.environ.get(KERAS_ADDRESSES_ENV) or os.environ.get(COORDINATOR_ENV)
        coordinator_address = addresses.split(",")[0].strip() if addresses else None
    num_processes = _int_setting(num_processes, "num_processes", KERAS_NUM_PROCESSES_ENV)
    process_id = _int_setting(process_id, "process_id", KERAS_PROCESS_ID_ENV)
    _check_process_settings(coordinator_address, num_processes, process_id)
    try:
        keras.distribution.initialize(coordinator_address, num_processes, process_id)
    except ValueError as error:
        raise DistributionError(
            f"jax.distributed could not start ({error}); pass the coordinator "
            f"address, process count and process id, or set {COORDINATOR_ENV} "
            f"(or {KERAS_ADDRESSES_ENV}), {KERAS_NUM_PROCESSES_ENV} and "
            f"{KERAS_PROCESS_ID_ENV}."
        ) from error


def _int_setting(value, name, env):
    if value is None:
        text = os.environ.get(env)
        if text is None:
            return None
        try:
            value = int(text)
        except ValueError:
            raise DistributionError(
                f"{env}={text!r} is not an integer; set it to the {name}, e.g. {env}=0."
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DistributionError(f"{name} must be an integer, got {value!r}.")
    return value


def _check_process_settings(coordinator_address, num_processes, process_id):
    if coordinator_address is not None and not _ADDRESS.fullmatch(coordinator_address):
        raise DistributionError(
            f"the coordinator address {coordinator_address!r} is not HOST:PORT; "
            "give process 0's address and a free port, e.g. 10.0.0.1:12345."
        )
    if num_processes is not None and num_processes < 1:
        raise DistributionError(f"num_processes must be at least 1, got {num_processes}.")
    if process_id is not None and (
        process_id < 0 or (num_processes is not None and process_id >= num_processes)
    ):
        raise DistributionError(
            f"process_id must be from 0 to num_processes - 1 = "
            f"{(num_processes or 0) - 1}, got {process_id}; number the "
            "processes 0, 1, ... with 0 on the coordinator's host."
        )


# === Distributions ===


def _select_devices(devices):
    """The device names to use: all (`None`), the first `devices` (an int),
    or the given list."""
    available = keras.distribution.list_devices()
    if devices is None:
        return available
    if isinstance(devices, int) and not isinstance(devices, bool):
        if devices < 1:
            raise DistributionError(f"devices must be at least 1, got {devices}.")
        if devices > len(available):
            raise DistributionError(
                f"{devices} devices were asked for but {len(available)} are "
                f"present ({', '.join(available)}); ask for at most "
                f"{len(available)}, or {SIMULATE_DEVICES}."
            )
        return available[:devices]
    devices = list(devices)
    missing = [device for device in devices if device not in available]
    if missing or not devices:
        raise DistributionError(
            f"devices {missing or devices} are not among the present devices "
            f"{available}; pick from those, or {SIMULATE_DEVICES}."
        )
    return devices


def data_parallel(devices=None, auto_shard_dataset=True):
    """Sets (and returns) a `keras.distribution.DataParallel` distribution:
    every device holds the whole model, and each batch is split across them.

    Call it before building the model, so that its variables are placed on
    the devices. `fit`'s batch size is then the global batch; each step's
    gradients, losses and BatchNorm statistics are those of the global batch,
    as on one device. With several processes (`initialize`), each process
    feeds its rows of each global batch (`local_batch_rows`) and passes
    `auto_shard_dataset=False`, or gives `fit` a `tf.data.Dataset` of global
    batches for Keras to shard.

    Args:
        devices: `None` for every device of every process, an int for the
            first that many, or a list of names such as `["cpu:0", "cpu:1"]`.
        auto_shard_dataset: passed to Keras: whether Keras splits a
            `tf.data.Dataset` among processes.

    Returns:
        The `keras.distribution.DataParallel` now set globally.

    Example:
    ```python
    import keras
    from densenet_hub import distribution

    if keras.backend.backend() == "jax":
        layout = distribution.data_parallel(devices=1)
        assert tuple(layout.device_mesh.shape) == (1,)
        keras.distribution.set_distribution(None)
    ```
    """
    _require_jax("data-parallel training")
    chosen = _select_devices(devices)
    layout = keras.distribution.DataParallel(
        devices=chosen, auto_shard_dataset=auto_shard_dataset
    )
    keras.distribution.set_distribution(layout)
    return layout


def densenet_layout_map(device_mesh):
    """A `keras.distribution.LayoutMap` that splits DenseNet's bottlenecks
    over the mesh's `"model"` axis.

    Each dense layer's bottleneck (the 1x1 conv's outputs, the BatchNorm
    between the convs and the 3x3 conv's inputs, 4 * growth_rate channels)
    is split; the rest of the model is replicated. The `"model"` axis size
    must divide 4 * growth_rate.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh` with a `"model"` axis.

    Example:
    ```python
    import keras
    from densenet_hub import distribution

    mesh = keras.distribution.DeviceMesh((1, 1), ["batch", "model"], ["cpu:0"])
    layout_map = distribution.densenet_layout_map(mesh)
    assert tuple(layout_map["stack1_block3_1_conv/kernel"].axes) == (None, None, None, "model")
    assert layout_map["conv1_conv/kernel"] is None  # replicated
    ```
    """
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in DENSENET_LAYOUT.items():
        layout_map[pattern] = axes
    return layout_map


def model_parallel(model_devices=2, devices=None, auto_shard_dataset=True):
    """Sets (and returns) a `keras.distribution.ModelParallel` distribution
    with DenseNet's layout (`densenet_layout_map`): the devices form a
    `(replicas, model_devices)` mesh; the bottleneck weights are split over
    `model_devices` devices, and batches over the replicas.

    Call it before building the model. The global batch size must be a
    multiple of the number of replicas, `len(devices) // model_devices`.

    Args:
        model_devices: devices that share one copy of the model; it must
            divide 4 * growth_rate and the number of devices.
        devices: as in `data_parallel`.
        auto_shard_dataset: as in `data_parallel`.

    Returns:
        The `keras.distribution.ModelParallel` now set globally.

    Example:
    ```python
    import keras
    from densenet_hub import distribution

    if keras.backend.backend() == "jax":
        layout = distribution.model_parallel(model_devices=1, devices=1)
        assert tuple(layout.device_mesh.shape) == (1, 1)
        keras.distribution.set_distribution(None)
    ```
    """
    _require_jax("model-parallel training")
    chosen = _select_devices(devices)
    if isinstance(model_devices, bool) or not isinstance(model_devices, int) or model_devices < 1:
        raise DistributionError(f"model_devices must be a positive integer, got {model_devices!r}.")
    if len(chosen) % model_devices:
        raise DistributionError(
            f"{len(chosen)} devices cannot be split into groups of "
            f"model_devices={model_devices}; use a model_devices that divides "
            f"{len(chosen)}."
        )
    mesh = keras.distribution.DeviceMesh(
        (len(chosen) // model_devices, model_devices), [BATCH_AXIS, MODEL_AXIS], chosen
    )
    layout = _CheckedModelParallel(
        layout_map=densenet_layout_map(mesh),
        batch_dim_name=BATCH_AXIS,
        auto_shard_dataset=auto_shard_dataset,
    )
    keras.distribution.set_distribution(layout)
    return layout


class _CheckedModelParallel(keras.distribution.ModelParallel):
    """Keras' ModelParallel, refusing a split that does not divide a weight
    with a message that names the weight and the fix (JAX's own error names
    neither)."""

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        sizes = dict(zip(self.device_mesh.axis_names, self.device_mesh.shape))
        for dim, axis in zip(variable.shape, layout.axes):
            if axis is not None and dim % sizes[axis]:
                raise DistributionError(
                    f"the weight {variable.path} of shape {tuple(variable.shape)} "
                    f"cannot be split over the {sizes[axis]} devices of the "
                    f"{axis!r} axis ({dim} is not a multiple of {sizes[axis]}); "
                    "use a model_devices that divides 4 * growth_rate."
                )
        return layout


def replica_count(layout=None):
    """How many model copies split each batch under `layout` (default: the
    distribution set now; 1 without one)."""
    layout = layout if layout is not None else keras.distribution.distribution()
    return 1 if layout is None else layout.num_model_replicas


def check_global_batch(batch_size, replicas=None):
    """Refuses a global batch that the data-parallel replicas cannot share
    evenly.

    Args:
        batch_size: the global batch size.
        replicas: the number of replicas (default: `replica_count()` of the
            distribution set now).

    Example:
    ```python
    from densenet_hub import distribution

    distribution.check_global_batch(8, replicas=4)  # fine: 2 rows per replica
    ```
    """
    replicas = replica_count() if replicas is None else replicas
    if batch_size % replicas:
        lower = batch_size - batch_size % replicas
        raise DistributionError(
            f"the global batch size {batch_size} is not divisible by {replicas} "
            f"data-parallel replicas; use a multiple of {replicas}, e.g. "
            f"{lower or replicas} or {lower + replicas}."
        )


def local_batch_rows(global_batch_size):
    """The rows of each global batch that this process feeds to `fit`.

    In a multi-process run every process calls `fit` with its own rows of
    the same global batches, in process order; JAX assembles them into the
    global batch. Each process must hold whole replicas (true for data
    parallelism, and for `model_parallel` when `model_devices` divides the
    devices of one process).

    Args:
        global_batch_size: the rows of one global batch.

    Returns:
        A `slice` into the global batch (all rows for one process).

    Example:
    ```python
    import numpy as np
    from densenet_hub import distribution

    batch = np.arange(8)
    assert list(batch[distribution.local_batch_rows(len(batch))]) == list(range(8))  # one process
    ```
    """
    count = process_count()
    if replica_count() % count:
        raise DistributionError(
            f"{replica_count()} model replicas cannot be shared by {count} "
            "processes: each process must hold whole replicas; use a "
            "model_devices that divides the devices of one process."
        )
    if global_batch_size % count:
        raise DistributionError(
            f"a global batch of {global_batch_size} rows cannot be split among "
            f"{count} processes; use a multiple of {count}."
        )
    share = global_batch_size // count
    start = process_index() * share
    return slice(start, start + share)


# === Setting up a training run, before the model is built ===
# (Keras places variables on the devices as it creates them.)

PROCESS_ENVS = (
    KERAS_ADDRESSES_ENV,
    COORDINATOR_ENV,
    KERAS_NUM_PROCESSES_ENV,
    KERAS_PROCESS_ID_ENV,
)


def start_distribution(
    batch_size,
    devices=None,
    layout=None,
    model_devices=2,
    coordinator_address=None,
    num_processes=None,
    process_id=None,
):
    """Joins the other processes and sets Keras' distribution for training.

    Call it before building the classifier that `finetune` trains. Nothing
    is set up (and `None` returned) for one device in one process: no
    `devices`, no `layout`, and neither process arguments nor the
    environment variables above (JAX backend only
    otherwise).

    Args:
        batch_size: the global batch size; it must split evenly over the
            model copies.
        devices: the devices to train on (default: one; with several
            processes, all devices of every process, the only choice).
        layout: `"data_parallel"` (the default when training on several
            devices) or `"model_parallel"`.
        model_devices: with `"model_parallel"`: devices sharing one model copy.
        coordinator_address, num_processes, process_id: a multi-process run,
            as `densenet_hub.initialize` takes them.

    Returns:
        The `keras.Distribution` now set, or `None`.

    Example:
    ```python
    from densenet_hub.training import start_distribution

    assert start_distribution(batch_size=32) is None  # one device, nothing to set
    ```
    """
    if layout not in (None, *DISTRIBUTION_LAYOUTS):
        raise ValueError(
            f"start_distribution: `layout` must be one of "
            f"{', '.join(map(repr, DISTRIBUTION_LAYOUTS))} or None, got {layout!r}."
        )
    process_options = (coordinator_address, num_processes, process_id)
    if any(option is not None for option in process_options) or any(
        os.environ.get(name) for name in PROCESS_ENVS
    ):
        initialize(*process_options)
    several_processes = process_count() > 1
    if devices is None and layout is None and not several_processes:
        return None
    if several_processes:
        present = len(keras.distribution.list_devices())
        if devices not in (None, present):
            raise ValueError(
                f"devices={devices} with {process_count()} processes "
                f"(--devices on the command line): a multi-process run trains "
                f"on every device of every process ({present}); leave it out."
            )
        devices = None
    if layout == "model_parallel":
        chosen = model_parallel(model_devices, devices, auto_shard_dataset=False)
    else:
        chosen = data_parallel(devices, auto_shard_dataset=False)
    check_global_batch(batch_size)
    if several_processes:
        # Raises now, before any model is built, if a process would hold
        # part of a model copy.
        local_batch_rows(batch_size)
    return chosen
