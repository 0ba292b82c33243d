"""`finetune`: the fine-tuning recipe of `densenet-hub train`, for a built
`ImageClassifier` and labelled image files.

The run: the objective's train/validation split (see `objectives`: stratified
by class, or for a multi-label classifier one that keeps each patient's
images on one side), augmentation with stock Keras layers, a warm-up that
trains only the head on a frozen backbone, then fine-tuning of the whole
model, with a checkpoint after every epoch and early stopping on the
validation loss. Calling `finetune` again with the same settings and
checkpoint folder after an interruption resumes from the last checkpoint.
Under a `keras.distribution` (see `start_distribution`) every process calls
it alike; only process 0 writes the checkpoints.
"""

import collections
import dataclasses
import os
import pathlib

import keras

from densenet_hub import distribution
from densenet_hub.data.images import ON_ERROR_CHOICES
from densenet_hub.training.augmentation import AUGMENTATIONS
from densenet_hub.training.augmentation import augmentation_layers
from densenet_hub.training.batches import LabelledBatches
from densenet_hub.training.checkpoint import TrainingCheckpoint
from densenet_hub.training.checkpoint import remove_checkpoint
from densenet_hub.training.objectives import objective_for
from densenet_hub.base.validation import check_choice
from densenet_hub.base.validation import check_positive_int


@dataclasses.dataclass
class FinetuneResult:
    """What `finetune` did (its example shows one).

    Attributes:
        classifier: the classifier trained, with the best epoch's weights
            unless the run `paused`.
        epochs_done: epochs trained so far, this call and earlier ones.
        total_epochs: `warmup_epochs + epochs`.
        best_epoch: the epoch with the lowest validation loss (1-based).
        best_val_loss: its validation loss.
        best_val_accuracy: its validation accuracy (NaN for a multi-label
            classifier).
        best_val_metrics: all its validation metrics by name, e.g.
            `{"val_auroc": 0.93}` for a multi-label classifier.
        paused: `stop_after_epochs` stopped the run before the end; call
            `finetune` again to continue.
        stopped_early: the validation loss stopped improving (`patience`).
        history: the metrics (`loss`, `accuracy`, `val_loss`,
            `val_accuracy`) of each epoch trained by this call.
        epochs: one dict per epoch of the whole run (a resumed run's earlier
            epochs included): `epoch`, its Keras logs and `learning_rate`;
            `densenet_hub.training.history` writes them as a CSV table.
        checkpoint_dir: the checkpoint folder.
        thresholds: multi-label only: the decision threshold of each finding,
            chosen on the validation split by `threshold_rule`; else `None`.
        threshold_rule: how the thresholds were chosen, in words.
        split_counts: multi-label only: `{finding: {"train": [positives,
            negatives], "validation": [...]}}` over entries of weight > 0.
        positive_weights: multi-label only: the factor of each finding's
            positive entries in the loss, or `None` (all 1).
        objective: the `SingleLabelObjective` or `MultiLabelObjective` the
            run trained with (its `class_labels(result)` is what a preset of
            the classifier records).
    """

    classifier: object
    epochs_done: int
    total_epochs: int
    best_epoch: int
    best_val_loss: float
    best_val_accuracy: float
    paused: bool
    stopped_early: bool
    history: dict
    checkpoint_dir: pathlib.Path
    best_val_metrics: dict = dataclasses.field(default_factory=dict)
    thresholds: list = None
    threshold_rule: str = None
    split_counts: dict = None
    positive_weights: list = None
    objective: object = None
    epochs: list = dataclasses.field(default_factory=list)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `finetune`; the last finished epoch is in the checkpoint.

    A `KeyboardInterrupt`, so that code catching Ctrl-C still catches it.

    Args:
        epochs_done: the epochs the checkpoint holds (0: none finished).
        checkpoint_dir: the checkpoint folder.

    Example:
    ```python
    from densenet_hub.training import TrainingInterrupted

    try:
        raise TrainingInterrupted(3, "checkpoints")
    except KeyboardInterrupt as stop:
        assert (stop.epochs_done, stop.checkpoint_dir) == (3, "checkpoints")
    ```
    """

    def __init__(self, epochs_done, checkpoint_dir):
        super().__init__(
            f"training interrupted after {epochs_done} finished epoch(s); "
            f"call finetune again with the same settings to resume from {checkpoint_dir}"
        )
        self.epochs_done = epochs_done
        self.checkpoint_dir = checkpoint_dir


_Phase = collections.namedtuple(
    "_Phase", ["title", "start", "end", "backbone_trainable", "learning_rate"]
)


def finetune(
    classifier,
    paths,
    labels,
    checkpoint_dir,
    *,
    epochs=5,
    warmup_epochs=1,
    learning_rate=1e-4,
    warmup_learning_rate=1e-3,
    val_split=0.2,
    patience=3,
    augment=AUGMENTATIONS,
    batch_size=32,
    seed=0,
    restart=False,
    stop_after_epochs=None,
    memory_efficient=False,
    on_error="skip",
    checkpoint_settings=None,
    verbose="auto",
    label_weights=None,
    groups=None,
    positive_weights=None,
    findings=None,
    callbacks=None,
):
    """Fine-tunes `classifier` on labelled image files, resumably.

    The head trains alone on the frozen backbone for `warmup_epochs`, then the
    whole model for `epochs`, each phase with Adam and a learning rate decayed
    along a cosine to zero. Every epoch is checkpointed in `checkpoint_dir`;
    calling again with the same settings resumes there (`epochs`, `patience`
    and `stop_after_epochs` may change). At the end the best epoch's weights
    (lowest validation loss) are loaded into `classifier`.

    The classifier is trained in place. Its preprocessor reads the images
    (it is switched off inside `fit` while the batches arrive preprocessed,
    and put back afterwards).

    Args:
        classifier: a built `ImageClassifier` with its preprocessor, e.g.
            `ImageClassifier.from_preset(preset, num_classes=n)`.
        paths: image file paths.
        labels: what to learn, one row per path: an int class index per
            path, from 0 to `classifier.num_classes - 1` (every class present
            needs at least two images, one for validation); or for a
            multi-label classifier (`activation="sigmoid"`) a `(paths,
            num_classes)` array of 0/1 targets, e.g.
            `densenet_hub.data.read_label_table(...).targets`: the loss is
            then `MultiLabelBinaryCrossentropy`, the validation metric
            AUROC, and the result holds per-finding decision thresholds
            chosen on the validation split. Or the objective itself, a
            `SingleLabelObjective` or `MultiLabelObjective` holding them.
        checkpoint_dir: the checkpoint folder, created if absent.
        epochs: epochs fine-tuning the whole model after the warm-up.
        warmup_epochs: epochs training only the head.
        learning_rate: initial learning rate of the fine-tuning.
        warmup_learning_rate: initial learning rate of the warm-up.
        val_split: fraction of each class kept for validation.
        patience: fine-tuning epochs without a better validation loss before
            stopping early.
        augment: names from `AUGMENTATIONS`, or `()` for no augmentation.
        batch_size: images per batch (the global batch under a distribution).
        seed: seed of the split, the shuffling and the augmentation.
        restart: discard an existing checkpoint instead of resuming it.
        stop_after_epochs: `None`, or pause after this many epochs of this
            call (`result.paused`); call again to continue.
        memory_efficient: recompute each dense block's inner feature maps in
            the backward pass (less memory, same results) during this run.
        on_error: `"skip"` leaves images that fail to decode out of their
            batch (with a `densenet_hub.data.SkippedImageWarning`); `"fail"`
            raises.
        checkpoint_settings: a JSON-able dict of more settings a resumed
            run must share, such as where the classifier came from.
        verbose: Keras' `fit` verbosity (`"auto"`, 0, 1 or 2); above 0 this
            also prints the split and each phase. Processes other than 0 of
            a multi-process run are silent.
        label_weights, groups, positive_weights, findings: multi-label
            targets only, as for `MultiLabelObjective`: a weight per (image,
            finding) entry (0 leaves it out of the loss and metrics), a
            group (patient) id per image kept on one side of the split,
            `"balanced"` or one loss factor per finding for its positive
            entries, and the finding names.
        callbacks: more Keras callbacks for every `fit` of the run, e.g.
            `CompileNotice()`.

    Returns:
        A `FinetuneResult`.

    Raises:
        ValueError: for a bad argument, a checkpoint made with other
            settings (`CheckpointError`), or a split too small for the model
            copies of the distribution.
        TrainingInterrupted: a `KeyboardInterrupt`, on Ctrl-C.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    import keras
    import densenet_hub

    folder = tempfile.mkdtemp()
    paths, labels = [], []
    for label in range(2):
        for i in range(3):
            paths.append(f"{folder}/{label}_{i}.png")
            pixels = np.full((32, 32, 3), 60 + 120 * label, "uint8")
            PIL.Image.fromarray(pixels).save(paths[-1])
            labels.append(label)

    keras.utils.set_random_seed(0)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone,
        num_classes=2,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    result = densenet_hub.training.finetune(
        classifier, paths, labels, f"{folder}/checkpoints",
        warmup_epochs=1, epochs=1, batch_size=2, verbose=0,
    )
    assert result.epochs_done == 2 and result.best_epoch in (1, 2)
    ```
    """
    objective = objective_for(labels, label_weights, groups, positive_weights, findings)
    objective.check(classifier, len(paths))
    total_epochs = _check_arguments(classifier, epochs, warmup_epochs, batch_size, patience,
                                    stop_after_epochs, on_error)  # fmt: skip
    paths = [pathlib.Path(path) for path in paths]
    train_rows, val_rows = objective.split(val_split, seed)
    distribution.check_global_batch(batch_size)
    _check_split_for_replicas(train_rows, val_rows)
    # Each process augments its own rows on its own, with its own random
    # stream, so its layers stay out of the distribution.
    with distribution.unsharded():
        augmentation = augmentation_layers(augment, seed + distribution.process_index())
    if not distribution.is_chief():
        verbose = 0
    recipe = {
        "val_split": val_split,
        "warmup_epochs": warmup_epochs,
        "warmup_learning_rate": warmup_learning_rate,
        "learning_rate": learning_rate,
        "augment": list(augment),
        "seed": seed,
        "batch_size": batch_size,
    }
    settings = {
        **(checkpoint_settings or {}),
        **recipe,
        **objective.settings(train_rows),
        **_file_settings(paths, train_rows, val_rows),
    }
    checkpoint = _open_checkpoint(
        checkpoint_dir, settings, restart, patience, warmup_epochs, stop_after_epochs
    )
    if verbose != 0:
        _report_start(checkpoint, objective, train_rows, val_rows, warmup_epochs, epochs,
                      batch_size)  # fmt: skip
    compile_arguments = objective.compile_arguments(train_rows)
    preprocessor = classifier.preprocessor
    was_memory_efficient = classifier.backbone.memory_efficient
    # The batches arrive preprocessed (and augmented), as `fit` then needs.
    classifier.preprocessor = None
    # A setting of this run only: what gets saved afterwards stays as it was.
    classifier.backbone.memory_efficient = memory_efficient
    history = collections.defaultdict(list)
    try:
        batches = _batch_maker(paths, objective, preprocessor, augmentation, batch_size, seed,
                               on_error, checkpoint)  # fmt: skip
        train_data, val_data = batches(train_rows, True), batches(val_rows, False)
        checkpoint.restore_latest(classifier)
        for phase in _phases(warmup_epochs, epochs, warmup_learning_rate, learning_rate):
            if checkpoint.epochs_done >= phase.end or checkpoint.stopped_early:
                continue
            _run_phase(phase, classifier, checkpoint, train_data, val_data, total_epochs,
                       verbose, history, compile_arguments, callbacks)  # fmt: skip
            if checkpoint.paused:
                break
    except KeyboardInterrupt as interruption:
        raise TrainingInterrupted(checkpoint.epochs_done, checkpoint.directory) from interruption
    finally:
        classifier.preprocessor = preprocessor
        classifier.backbone.memory_efficient = was_memory_efficient
    unfinished = checkpoint.epochs_done < total_epochs and not checkpoint.stopped_early
    paused = checkpoint.paused and unfinished
    thresholds = None
    if not paused:
        classifier.backbone.trainable = True
        checkpoint.restore_best(classifier)
        thresholds = objective.choose_thresholds(classifier, val_data)
    best = checkpoint.best
    return FinetuneResult(
        classifier=classifier,
        epochs_done=checkpoint.epochs_done,
        total_epochs=total_epochs,
        best_epoch=best["epoch"],
        best_val_loss=best["val_loss"],
        best_val_accuracy=best["val_accuracy"],
        paused=paused,
        stopped_early=checkpoint.stopped_early,
        history=dict(history),
        checkpoint_dir=checkpoint.directory,
        best_val_metrics=dict(best.get("val_metrics", {})),
        thresholds=thresholds,
        threshold_rule=objective.threshold_rule,
        split_counts=objective.split_counts(train_rows, val_rows),
        positive_weights=objective.positive_weights(train_rows),
        objective=objective,
        epochs=checkpoint.epochs,
    )


def _check_arguments(classifier, epochs, warmup_epochs, batch_size, patience,
                     stop_after_epochs, on_error):  # fmt: skip
    """Refuses a recipe that cannot train; returns the total epochs."""
    for name, value in (("epochs", epochs), ("warmup_epochs", warmup_epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"finetune: `{name}` must be an integer >= 0, got {value!r}.")
    if epochs + warmup_epochs == 0:
        raise ValueError(
            "finetune: `warmup_epochs` and `epochs` are both 0; train for at "
            "least one epoch."
        )
    check_positive_int("finetune", "batch_size", batch_size)
    check_positive_int("finetune", "patience", patience)
    if stop_after_epochs is not None:
        check_positive_int("finetune", "stop_after_epochs", stop_after_epochs)
    check_choice("finetune", "on_error", on_error, ON_ERROR_CHOICES)
    if getattr(classifier, "preprocessor", None) is None:
        raise ValueError(
            f"finetune: the classifier ({type(classifier).__name__}) has no "
            "preprocessor to read the images with; build it with one, e.g. "
            "`ImageClassifier.from_preset(preset, num_classes=n)`."
        )
    return warmup_epochs + epochs


def _check_split_for_replicas(train_rows, val_rows):
    """Every device needs rows of every batch: at least one row per replica
    on each side of the split."""
    replicas = distribution.replica_count()
    for name, rows in (("training", train_rows), ("validation", val_rows)):
        if len(rows) < replicas:
            raise ValueError(
                f"{len(rows)} {name} image(s) cannot fill a batch for {replicas} "
                f"model copies; add images, raise the validation split, or use "
                "fewer devices."
            )


def _file_settings(paths, train_rows, val_rows):
    """The split, as files relative to the images' common folder, so that a
    run started from another working directory still resumes."""
    # Absolute but with links kept: the names stay those the caller chose.
    resolved = [pathlib.Path(os.path.abspath(path)) for path in paths]
    root = pathlib.Path(os.path.commonpath(resolved))
    if len(resolved) == 1 or root in resolved:
        root = root.parent

    def relative(rows):
        return [resolved[i].relative_to(root).as_posix() for i in rows]

    return {
        "data_dir": str(root),
        "train_files": relative(train_rows),
        "validation_files": relative(val_rows),
    }


def _open_checkpoint(directory, settings, restart, patience, warmup_epochs, stop_after_epochs):
    directory = pathlib.Path(directory)
    if restart:
        if distribution.is_chief():
            remove_checkpoint(directory)
        # No process may read the old checkpoint once the chief removes it.
        distribution.barrier(f"densenet-hub restart {directory}")
    return TrainingCheckpoint(
        directory,
        settings,
        patience=patience,
        patience_from_epoch=warmup_epochs,
        stop_after_epochs=stop_after_epochs,
        writer=distribution.is_chief(),
    )


def _batch_maker(paths, objective, preprocessor, augmentation, batch_size, seed, on_error,
                 checkpoint):  # fmt: skip
    replicas = distribution.replica_count()
    local_rows = distribution.local_batch_rows if distribution.process_count() > 1 else None

    def batches(rows, training):
        return LabelledBatches(
            [paths[i] for i in rows],
            objective.targets[rows],
            batch_size,
            preprocessor,
            augment=augmentation if training else None,
            shuffle=training,
            seed=(seed, checkpoint.epochs_done),
            on_error=on_error,
            replicas=replicas,
            local_rows=local_rows,
            cover_every_row=not training,
            label_weights=None if objective.weights is None else objective.weights[rows],
        )

    return batches


def _phases(warmup_epochs, epochs, warmup_learning_rate, learning_rate):
    total = warmup_epochs + epochs
    return (
        _Phase("warm-up with the backbone frozen", 0, warmup_epochs, False,
               warmup_learning_rate),
        _Phase("fine-tuning the whole model", warmup_epochs, total, True, learning_rate),
    )  # fmt: skip


def _run_phase(phase, classifier, checkpoint, train_data, val_data, total_epochs, verbose,
               history, compile_arguments, callbacks):  # fmt: skip
    done = checkpoint.epochs_done
    if verbose != 0:
        print(f"{phase.title}: epoch {done + 1} to {phase.end} of {total_epochs}", flush=True)
    classifier.backbone.trainable = phase.backbone_trainable
    # The rate decays along a cosine to zero at the phase's last epoch; the
    # schedule follows the optimizer's step count, which a resumed run
    # restores.
    schedule = keras.optimizers.schedules.CosineDecay(
        phase.learning_rate, decay_steps=(phase.end - phase.start) * len(train_data)
    )
    classifier.compile(optimizer=keras.optimizers.Adam(schedule), **compile_arguments)
    if done > phase.start:
        checkpoint.restore_optimizer(classifier.optimizer, classifier.trainable_variables)
    fitted = classifier.fit(
        train_data,
        validation_data=val_data,
        initial_epoch=done,
        epochs=phase.end,
        callbacks=[checkpoint, *(callbacks or ())],
        verbose=verbose,
    )
    for name, values in fitted.history.items():
        history[name].extend(float(value) for value in values)


def _report_start(checkpoint, objective, train_rows, val_rows, warmup_epochs, epochs,
                  batch_size):  # fmt: skip
    print(
        f"{objective.label_count()}, {len(train_rows)} training and "
        f"{len(val_rows)} validation images; {warmup_epochs} warm-up and "
        f"{epochs} fine-tuning epoch(s)"
    )
    for line in objective.split_lines(train_rows, val_rows):
        print(line)
    replicas = distribution.replica_count()
    train_left_out = (len(train_rows) % batch_size) % replicas
    if train_left_out:
        print(
            f"each training batch is cut to a multiple of the {replicas} model "
            f"copies: training leaves out {train_left_out} image(s) per epoch "
            "(different ones each epoch); validation uses every image"
        )
    if checkpoint.epochs_done:
        print(
            f"resuming from epoch {checkpoint.epochs_done} of "
            f"{warmup_epochs + epochs} (checkpoint {checkpoint.directory})"
        )
