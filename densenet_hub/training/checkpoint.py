"""Training checkpoints: saved after every epoch, so that an interrupted run
resumes where it stopped, with early stopping whose state survives the
interruption."""

import json
import math
import os
import pathlib
import re
import shutil
import warnings

import keras
import numpy as np

from densenet_hub import distribution
from densenet_hub.base.json_files import read_json
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file

STATE_FILE = "state.json"
STATE_FORMAT = 1
# The only files a checkpoint folder's clean-up may delete.
CHECKPOINT_FILE = re.compile(r"(epoch|best)_[0-9]{4,}\.(weights\.h5|optimizer\.npz)")
# How to get past a `CheckpointError`, by its `remedy`, in the words of the
# Python API; the command line words them its own way.
REMEDIES = {
    "restart": "pass restart=True to start over",
    "resume_or_restart": "resume with the same settings, or pass restart=True to start over",
    "other_folder": "choose another checkpoint folder",
}


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be resumed or cleaned up.

    Args:
        problem: what is wrong, naming the folder.
        remedy: a key of `REMEDIES`: how to get past it.

    Example:
    ```python
    from densenet_hub.training import CheckpointError

    error = CheckpointError("the checkpoint in ckpt/ cannot be read", "restart")
    assert str(error) == (
        "the checkpoint in ckpt/ cannot be read; pass restart=True to start over."
    )
    ```
    """

    def __init__(self, problem, remedy):
        super().__init__(f"{problem}; {REMEDIES[remedy]}.")
        self.problem = problem
        self.remedy = remedy


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves the model and optimizer after each epoch and stops early.

    The folder holds `state.json` and the weight and optimizer files it
    names. Each epoch's files are written under new names before
    `state.json` is atomically replaced (`densenet_hub.base.publish`), so a
    crash at any moment leaves a consistent checkpoint: the previous one or
    the new one. Files the state no longer names are then deleted.

    Early stopping watches `val_loss`: after `patience` epochs without a new
    best (counted only once `patience_from_epoch` epochs are done, i.e. not
    during the frozen-backbone warm-up), training stops. The best epoch's
    weights are kept for `restore_best`.

    Args:
        directory: the checkpoint folder.
        settings: a JSON-able dict of the settings a resumed run must share.
        patience: epochs without improvement before stopping.
        patience_from_epoch: epochs done before patience starts counting.
        stop_after_epochs: `None`, or stop (resumably) after this many epochs
            of this run.
        writer: whether this process writes the files. In a multi-process
            run only process 0 does; every process keeps the same state
            (the logs it sees are global), so all stop at the same epoch.

    Example:
    ```python
    import tempfile
    import numpy as np
    import keras
    from densenet_hub.training import TrainingCheckpoint

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((8, 2)), np.zeros((8, 1))
    folder = tempfile.mkdtemp()
    checkpoint = TrainingCheckpoint(folder, {"lr": 0.01}, patience=2)
    model.fit(x, y, validation_data=(x, y), epochs=3, callbacks=[checkpoint], verbose=0)
    resumed = TrainingCheckpoint(folder, {"lr": 0.01}, patience=2)
    assert resumed.epochs_done == 3
    ```
    """

    def __init__(
        self,
        directory,
        settings,
        patience,
        patience_from_epoch=0,
        stop_after_epochs=None,
        writer=True,
    ):
        super().__init__()
        self.directory = pathlib.Path(directory)
        self.settings = json.loads(json.dumps(settings))
        self.patience = patience
        self.patience_from_epoch = patience_from_epoch
        self.stop_after_epochs = stop_after_epochs
        self.writer = writer
        self.epochs_this_run = 0
        self.paused = False
        self.state = self._load_or_start()

    @property
    def epochs_done(self):
        return self.state["epochs_done"]

    @property
    def stopped_early(self):
        return self.state["stopped_early"]

    @property
    def epochs(self):
        """One dict per epoch trained, earlier runs of a resumed one
        included: `epoch` (1-based), the epoch's Keras logs (`loss`,
        `val_loss`, ...) and `learning_rate`, the optimizer's at the
        epoch's end."""
        return list(self.state.get("epochs", []))

    @property
    def best(self):
        """`{"epoch", "val_loss", "val_accuracy", "weights"}` or `None`."""
        return self.state["best"]

    def restore_latest(self, model):
        """Loads the latest epoch's weights into `model`, if there are any."""
        if self.state["weights"] is not None:
            _load_model_weights(model, self.directory / self.state["weights"])

    def restore_optimizer(self, optimizer, variables):
        """Loads the saved optimizer state, building `optimizer` for `variables`."""
        optimizer.build(variables)
        with np.load(self.directory / self.state["optimizer"]) as data:
            store = {key: data[key] for key in data.files}
        if len(store) != len(optimizer.variables):
            raise CheckpointError(
                f"the optimizer state in {self.directory} has {len(store)} "
                f"variables but this model's optimizer has "
                f"{len(optimizer.variables)}",
                "restart",
            )
        optimizer.load_own_variables(store)

    def restore_best(self, model):
        """Loads the best epoch's weights into `model`."""
        _load_model_weights(model, self.directory / self.best["weights"])

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        epochs_done = epoch + 1
        stem = f"epoch_{epochs_done:04d}"
        weights = f"{stem}.weights.h5"
        optimizer = f"{stem}.optimizer.npz"
        if self.writer:
            # Saving makes throwaway Keras variables; under a multi-process
            # distribution creating one would wait for the other processes.
            with distribution.unsharded():
                self.model.save_weights(self.directory / weights)
                store = {}
                self.model.optimizer.save_own_variables(store)
                np.savez(self.directory / optimizer, **store)

        state = dict(self.state, epochs_done=epochs_done, weights=weights, optimizer=optimizer)
        # The whole run's history, resumed runs included: each epoch's logs
        # and the learning rate at its end (as Keras' LearningRateScheduler
        # logs it: the schedule's value after the epoch's last step).
        record = {"epoch": epochs_done, **{name: float(value) for name, value in logs.items()},
                  "learning_rate": _learning_rate(self.model.optimizer)}  # fmt: skip
        state["epochs"] = [*self.state.get("epochs", []), record]
        self._track_best(state, epochs_done, logs, weights)
        self._write_state(state)
        # The other processes may read these files next (restore_best).
        distribution.barrier(f"densenet-hub checkpoint {self.directory} {epochs_done}")
        self.epochs_this_run += 1
        if state["stopped_early"]:
            self.model.stop_training = True
        elif self.stop_after_epochs is not None and self.epochs_this_run >= self.stop_after_epochs:
            self.paused = True
            self.model.stop_training = True

    def _track_best(self, state, epochs_done, logs, weights):
        val_loss = float(logs.get("val_loss", math.inf))
        best = state["best"]
        if best is None or val_loss < best["val_loss"]:
            best_weights = f"best_{epochs_done:04d}.weights.h5"
            if self.writer:
                _link_or_copy(self.directory / weights, self.directory / best_weights)
            state["best"] = {
                "epoch": epochs_done,
                "val_loss": val_loss,
                "val_accuracy": float(logs.get("val_accuracy", math.nan)),
                "val_metrics": {
                    name: float(value)
                    for name, value in logs.items()
                    if name.startswith("val_") and name != "val_loss"
                },
                "weights": best_weights,
            }
            state["wait"] = 0
        elif epochs_done > self.patience_from_epoch:
            state["wait"] += 1
            state["stopped_early"] = state["wait"] >= self.patience

    def _write_state(self, state):
        self.state = state
        if not self.writer:
            return
        with published(self.directory / STATE_FILE, overwrite=True) as staging:
            write_file(staging, json.dumps(state, indent=2).encode("utf-8"))
        self._remove_unnamed_files()

    def _remove_unnamed_files(self):
        named = {self.state["weights"], self.state["optimizer"]}
        if self.state["best"] is not None:
            named.add(self.state["best"]["weights"])
        for path in self.directory.iterdir():
            if CHECKPOINT_FILE.fullmatch(path.name) and path.name not in named:
                path.unlink()

    def _load_or_start(self):
        path = self.directory / STATE_FILE
        if not path.is_file():
            if self.directory.exists() and any(self.directory.iterdir()):
                raise CheckpointError(
                    f"the checkpoint folder {str(self.directory)!r} exists but "
                    f"holds no {STATE_FILE}",
                    "other_folder",
                )
            if self.writer:
                self.directory.mkdir(parents=True, exist_ok=True)
            return {
                "format": STATE_FORMAT,
                "settings": self.settings,
                "epochs_done": 0,
                "weights": None,
                "optimizer": None,
                "best": None,
                "wait": 0,
                "stopped_early": False,
            }
        try:
            # No size cap: the state lists every image of the split. NaN
            # stands for a metric a run does not have (a multi-label run's
            # accuracy).
            state = read_json(path, None, allow_non_finite=True, fix=None)
            saved_settings = state["settings"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CheckpointError(
                f"the checkpoint {path} cannot be read ({error})", "restart"
            ) from None
        self._check_settings(saved_settings)
        return state

    def _check_settings(self, saved):
        differences = [
            f"{key}: {saved.get(key)!r} then, {value!r} now"
            for key, value in self.settings.items()
            if saved.get(key) != value
        ]
        if differences:
            shown = "; ".join(text[:200] for text in differences[:3])
            raise CheckpointError(
                f"the checkpoint in {self.directory} was made with other "
                f"settings ({shown})",
                "resume_or_restart",
            )


def _learning_rate(optimizer):
    """The optimizer's current learning rate (its schedule's value at the
    step count), as a float."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _load_model_weights(model, path):
    # Keras also writes a compiled model's optimizer into its weight files and
    # warns when it cannot load it into an optimizer not built yet. The
    # optimizer of each phase is restored separately (`restore_optimizer`),
    # so that warning is expected here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)


def _link_or_copy(source, target):
    try:
        os.link(source, target)
    except OSError:
        # Some file systems (and FAT-formatted drives) have no hard links.
        shutil.copyfile(source, target)


def remove_checkpoint(directory):
    """Deletes a checkpoint folder; refuses a folder that is not one.

    Args:
        directory: the checkpoint folder; nothing happens if it is absent.

    Raises:
        CheckpointError: when `directory` holds no `state.json`.

    Example:
    ```python
    import tempfile
    from densenet_hub.training import remove_checkpoint

    remove_checkpoint(f"{tempfile.mkdtemp()}/never_written")  # absent: nothing to do
    ```
    """
    directory = pathlib.Path(directory)
    if not directory.exists():
        return
    if not (directory / STATE_FILE).is_file():
        raise CheckpointError(
            f"{str(directory)!r} is not a training checkpoint (no {STATE_FILE}) "
            "and was left untouched",
            "other_folder",
        )
    for path in directory.iterdir():
        if path.name == STATE_FILE or CHECKPOINT_FILE.fullmatch(path.name):
            path.unlink()
    if not any(directory.iterdir()):
        directory.rmdir()
