"""Setting up a multi-device or multi-process training run, before the model
is built (Keras places variables on the devices as it creates them)."""

import os

import keras

from densenet_hub import distribution

DISTRIBUTION_LAYOUTS = ("data_parallel", "model_parallel")
PROCESS_ENVS = (
    distribution.KERAS_ADDRESSES_ENV,
    distribution.COORDINATOR_ENV,
    distribution.KERAS_NUM_PROCESSES_ENV,
    distribution.KERAS_PROCESS_ID_ENV,
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
    environment variables of `densenet_hub.distribution` (JAX backend only
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
            as `densenet_hub.distribution.initialize` takes them.

    Returns:
        The `keras.distribution.Distribution` now set, or `None`.

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
        distribution.initialize(*process_options)
    several_processes = distribution.process_count() > 1
    if devices is None and layout is None and not several_processes:
        return None
    if several_processes:
        present = len(keras.distribution.list_devices())
        if devices not in (None, present):
            raise ValueError(
                f"devices={devices} with {distribution.process_count()} processes "
                f"(--devices on the command line): a multi-process run trains "
                f"on every device of every process ({present}); leave it out."
            )
        devices = None
    if layout == "model_parallel":
        chosen = distribution.model_parallel(model_devices, devices, auto_shard_dataset=False)
    else:
        chosen = distribution.data_parallel(devices, auto_shard_dataset=False)
    distribution.check_global_batch(batch_size)
    if several_processes:
        # Raises now, before any model is built, if a process would hold
        # part of a model copy.
        distribution.local_batch_rows(batch_size)
    return chosen
