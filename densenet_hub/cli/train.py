"""`densenet-hub train DATA_DIR --preset PRESET --out OUT_PRESET`: fine-tunes
a classifier on a folder with one sub-folder of images per class.

The run: a stratified train/validation split, augmentation with stock Keras
layers, a warm-up that trains only the new head on a frozen backbone, then
fine-tuning of the whole model, with a checkpoint after every epoch and early
stopping on the validation loss. Running the same command again after an
interruption resumes from the last checkpoint. The best epoch's model is
saved as a preset folder (KerasHub's files plus `class_names.json`) that
`predict`, `evaluate` and `from_preset` load.

With `--devices`, `--distribution` or a multi-process setting (JAX backend),
training runs through `densenet_hub.distribution` (Keras' distribution API):
`--batch-size` is the global batch, and only process 0 prints, writes the
checkpoints and saves the preset.
"""

import argparse
import collections
import os
import pathlib
import sys

import keras
import numpy as np

from densenet_hub import distribution
from densenet_hub.cli import arguments
from densenet_hub.cli.batches import LabelledBatches
from densenet_hub.cli.checkpoint import TrainingCheckpoint
from densenet_hub.cli.checkpoint import remove_checkpoint
from densenet_hub.cli.console import PROGRAM
from densenet_hub.cli.errors import CliError
from densenet_hub.cli.images import find_labelled_images
from densenet_hub.cli.loading import check_output_folder
from densenet_hub.cli.loading import classifier_for_training
from densenet_hub.cli.loading import save_classifier

# EX_TEMPFAIL: the run stopped before the end on purpose; running the same
# command again continues it.
EXIT_PAUSED = 75
EXIT_INTERRUPTED = 130
AUGMENTATIONS = ("flip", "rotate", "zoom", "translate")
DISTRIBUTIONS = ("data_parallel", "model_parallel")
PROCESS_ENVS = (
    distribution.KERAS_ADDRESSES_ENV,
    distribution.COORDINATOR_ENV,
    distribution.KERAS_NUM_PROCESSES_ENV,
    distribution.KERAS_PROCESS_ID_ENV,
)
# Options a resumed run must share with the run that made its checkpoint;
# the others (--epochs, --patience, --stop-after-epochs, ...) may change.
SETTINGS = (
    "preset",
    "no_pretrained",
    "image_size",
    "val_split",
    "warmup_epochs",
    "warmup_learning_rate",
    "learning_rate",
    "augment",
    "seed",
    "batch_size",
)


def register(subparsers):
    """Adds the `train` command to `subparsers`."""
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a classifier on an image folder",
        description="Fine-tunes a classifier on DATA_DIR (one sub-folder of "
        "images per class): frozen-backbone warm-up, then full fine-tuning, "
        "with checkpoints, early stopping and augmentation; saves the best "
        "model as a preset. Rerun the same command to resume an interrupted "
        "run.",
    )
    parser.add_argument("data_dir", help="folder with one sub-folder of images per class")
    parser.add_argument(
        "--preset",
        required=True,
        help="starting point: built-in name, handle or preset folder",
    )
    parser.add_argument("--out", required=True, help="the preset folder to write")
    parser.add_argument(
        "--no-pretrained",
        action="store_true",
        help="start from fresh weights (the preset gives only the architecture; "
        "a built-in name then needs no download)",
    )
    parser.add_argument(
        "--val-split",
        type=arguments.fraction,
        default=0.2,
        help="fraction of each class kept for validation (default 0.2)",
    )
    parser.add_argument(
        "--warmup-epochs",
        type=arguments.non_negative_int,
        default=1,
        help="epochs training only the new head (default 1)",
    )
    parser.add_argument(
        "--epochs",
        type=arguments.non_negative_int,
        default=5,
        help="epochs fine-tuning the whole model after the warm-up (default 5)",
    )
    parser.add_argument(
        "--warmup-learning-rate",
        type=arguments.positive_float,
        default=1e-3,
        help="initial Adam learning rate of the warm-up, decayed along a "
        "cosine (default 1e-3)",
    )
    parser.add_argument(
        "--learning-rate",
        type=arguments.positive_float,
        default=1e-4,
        help="initial Adam learning rate of the fine-tuning, decayed along a "
        "cosine (default 1e-4)",
    )
    parser.add_argument(
        "--patience",
        type=arguments.positive_int,
        default=3,
        help="fine-tuning epochs without a better validation loss before "
        "stopping early (default 3)",
    )
    parser.add_argument(
        "--augment",
        type=_augmentations,
        default=AUGMENTATIONS,
        help=f"comma-separated augmentations from {','.join(AUGMENTATIONS)}, "
        "or 'none' (default: all)",
    )
    parser.add_argument(
        "--seed",
        type=arguments.non_negative_int,
        default=0,
        help="seed of the split, the shuffling and the augmentation (default 0)",
    )
    parser.add_argument(
        "--checkpoint-dir",
        default=None,
        help="where checkpoints go (default: OUT.checkpoints beside --out)",
    )
    parser.add_argument(
        "--restart", action="store_true", help="discard an existing checkpoint"
    )
    parser.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep the checkpoint folder after saving the preset",
    )
    parser.add_argument(
        "--stop-after-epochs",
        type=arguments.positive_int,
        default=None,
        help=f"stop after this many epochs of this run, with exit status "
        f"{EXIT_PAUSED}; rerun the same command to continue (for time-limited jobs)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--memory-efficient",
        action="store_true",
        help="keep only each dense block's feature maps and recompute the rest "
        "in the backward pass: less training memory for some extra time (same results)",
    )
    arguments.add_batch_options(parser)
    _add_distribution_options(parser)
    parser.set_defaults(run=run)


def _add_distribution_options(parser):
    group = parser.add_argument_group(
        "several devices and machines (JAX backend; --batch-size is the global batch)"
    )
    group.add_argument(
        "--devices",
        type=arguments.positive_int,
        default=None,
        help="devices to train on (default: one; with several processes, all "
        "of every process). Simulate N CPU devices with "
        "XLA_FLAGS=--xla_force_host_platform_device_count=N",
    )
    group.add_argument(
        "--distribution",
        choices=DISTRIBUTIONS,
        default=None,
        help="data_parallel (default when training on several devices): a "
        "model copy per device, the batch split among them; model_parallel: "
        "the dense layers' bottlenecks split over --model-devices devices",
    )
    group.add_argument(
        "--model-devices",
        type=arguments.positive_int,
        default=2,
        help="with model_parallel: devices sharing one model copy; must divide "
        "4 x the growth rate and the devices of each process (default 2)",
    )
    group.add_argument(
        "--coordinator-address",
        default=None,
        help="multi-process runs: HOST:PORT of process 0, the same for every "
        f"process (default: ${distribution.KERAS_ADDRESSES_ENV} or "
        f"${distribution.COORDINATOR_ENV})",
    )
    group.add_argument(
        "--num-processes",
        type=arguments.positive_int,
        default=None,
        help=f"multi-process runs: the number of processes (default: "
        f"${distribution.KERAS_NUM_PROCESSES_ENV})",
    )
    group.add_argument(
        "--process-id",
        type=arguments.non_negative_int,
        default=None,
        help=f"multi-process runs: this process's index, 0 on the coordinator's "
        f"host (default: ${distribution.KERAS_PROCESS_ID_ENV})",
    )


def run(args):
    """Trains as `args` says; returns the exit status."""
    previous = keras.distribution.distribution()
    try:
        return _run(args)
    finally:
        # The command's distribution must not outlive it when `main` runs
        # in-process.
        keras.distribution.set_distribution(previous)


def _run(args):
    total_epochs = args.warmup_epochs + args.epochs
    if total_epochs == 0:
        raise CliError("--warmup-epochs and --epochs are both 0; train for at least one epoch.")
    check_output_folder(args.out, args.overwrite)
    data_dir = pathlib.Path(args.data_dir)
    paths, labels, class_names = _labelled_images(data_dir, args.on_error)
    train_rows, val_rows = stratified_split(labels, args.val_split, args.seed)
    _start_distribution(args)
    _check_split_for_replicas(train_rows, val_rows)
    checkpoint = _open_checkpoint(
        args, _settings(args, data_dir, paths, class_names, train_rows, val_rows)
    )
    # Seeds the new head's (or, without pretrained weights, every layer's)
    # initial weights, so that a run can be repeated.
    keras.utils.set_random_seed(args.seed)
    classifier = classifier_for_training(
        args.preset, len(class_names), not args.no_pretrained, args.image_size
    )
    _report_start(args, checkpoint, class_names, train_rows, val_rows, total_epochs)
    preprocessor = classifier.preprocessor
    # The batches arrive preprocessed (and augmented), as `fit` then needs.
    classifier.preprocessor = None
    # A setting of this run only: the saved preset stays KerasHub's.
    classifier.backbone.memory_efficient = args.memory_efficient
    try:
        _train(args, classifier, preprocessor, checkpoint, paths, labels, train_rows, val_rows)
    except KeyboardInterrupt:
        _report_interruption(checkpoint)
        return EXIT_INTERRUPTED
    finally:
        classifier.preprocessor = preprocessor
        classifier.backbone.memory_efficient = False
    unfinished = checkpoint.epochs_done < total_epochs and not checkpoint.stopped_early
    if checkpoint.paused and unfinished:
        print(
            f"{PROGRAM}: stopped after epoch {checkpoint.epochs_done} of "
            f"{total_epochs} as asked (--stop-after-epochs); the checkpoint is "
            f"in {checkpoint.directory}. Run the same command again to continue.",
            file=sys.stderr,
        )
        return EXIT_PAUSED
    _save_best(args, classifier, checkpoint, class_names)
    return 0


def _start_distribution(args):
    """Joins the other processes and sets the distribution, before any model
    is built (Keras places variables on the devices as it creates them)."""
    process_options = (args.coordinator_address, args.num_processes, args.process_id)
    if any(option is not None for option in process_options) or any(
        os.environ.get(name) for name in PROCESS_ENVS
    ):
        distribution.initialize(*process_options)
    several_processes = distribution.process_count() > 1
    if args.devices is None and args.distribution is None and not several_processes:
        return
    devices = args.devices
    if several_processes:
        present = len(keras.distribution.list_devices())
        if devices not in (None, present):
            raise CliError(
                f"--devices {devices} with {distribution.process_count()} processes: "
                f"a multi-process run trains on every device of every process "
                f"({present}); leave --devices out."
            )
        devices = None
    if args.distribution == "model_parallel":
        layout = distribution.model_parallel(
            args.model_devices, devices, auto_shard_dataset=False
        )
    else:
        layout = distribution.data_parallel(devices, auto_shard_dataset=False)
    distribution.check_global_batch(args.batch_size)
    if several_processes:
        # Raises now, before any model is built, if a process would hold
        # part of a model copy.
        distribution.local_batch_rows(args.batch_size)
    if not distribution.is_chief():
        args.quiet = True
    if not args.quiet:
        print(
            f"training on {layout.device_mesh.devices.size} devices "
            f"({args.distribution or 'data_parallel'}, "
            f"{distribution.process_count()} process(es)); global batch "
            f"{args.batch_size}, {args.batch_size // distribution.replica_count()} "
            "per model copy"
        )


def _check_split_for_replicas(train_rows, val_rows):
    """Every device needs rows of every batch: at least one row per replica
    on each side of the split."""
    replicas = distribution.replica_count()
    for name, rows in (("training", train_rows), ("validation", val_rows)):
        if len(rows) < replicas:
            raise CliError(
                f"{len(rows)} {name} image(s) cannot fill a batch for {replicas} "
                f"model copies; add images, raise --val-split, or use fewer --devices."
            )


def _labelled_images(data_dir, on_error):
    paths, labels, class_names = find_labelled_images(data_dir, on_error, min_per_class=2)
    if len(class_names) < 2:
        raise CliError(
            f"{str(data_dir)!r} has one class folder ({class_names[0]!r}); a "
            "classifier needs at least two classes."
        )
    return paths, labels, class_names


def _open_checkpoint(args, settings):
    directory = pathlib.Path(args.checkpoint_dir or f"{args.out.rstrip('/')}.checkpoints")
    if args.restart:
        if distribution.is_chief():
            remove_checkpoint(directory)
        # No process may read the old checkpoint once the chief removes it.
        distribution.barrier(f"densenet-hub restart {directory}")
    return TrainingCheckpoint(
        directory,
        settings,
        patience=args.patience,
        patience_from_epoch=args.warmup_epochs,
        stop_after_epochs=args.stop_after_epochs,
        writer=distribution.is_chief(),
    )


def _report_interruption(checkpoint):
    if checkpoint.epochs_done:
        saved = f"the checkpoint of epoch {checkpoint.epochs_done} is in {checkpoint.directory}"
    else:
        saved = "no epoch had finished, so there is no checkpoint yet"
    print(
        f"{PROGRAM}: interrupted; {saved}. Run the same command again to resume.",
        file=sys.stderr,
    )


def _save_best(args, classifier, checkpoint, class_names):
    checkpoint.restore_best(classifier)
    if not distribution.is_chief():
        return
    with distribution.unsharded():
        save_classifier(classifier, class_names, args.out, args.overwrite)
    best = checkpoint.best
    print(
        f"saved {args.out}: best epoch {best['epoch']} of {checkpoint.epochs_done}, "
        f"validation accuracy {best['val_accuracy']:.4f}, validation loss "
        f"{best['val_loss']:.4f}"
    )
    if not args.keep_checkpoints:
        remove_checkpoint(checkpoint.directory)


def stratified_split(labels, val_fraction, seed):
    """Row indices `(train, validation)`, splitting each class separately.

    Every class keeps at least one image on each side, so each needs two.
    """
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        count = min(max(1, round(len(rows) * val_fraction)), len(rows) - 1)
        val.extend(rows[:count])
        train.extend(rows[count:])
    return np.sort(train), np.sort(val)


def augmentation_layers(names, seed):
    """A `keras.Sequential` of stock random layers, or `None` for none."""
    makers = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", seed=seed),
        "rotate": lambda: keras.layers.RandomRotation(0.05, seed=seed),
        "zoom": lambda: keras.layers.RandomZoom(0.1, seed=seed),
        "translate": lambda: keras.layers.RandomTranslation(0.1, 0.1, seed=seed),
    }
    if not names:
        return None
    return keras.Sequential([makers[name]() for name in names], name="augmentation")


def _train(args, classifier, preprocessor, checkpoint, paths, labels, train_rows, val_rows):
    replicas = distribution.replica_count()
    local_rows = distribution.local_batch_rows if distribution.process_count() > 1 else None
    # Each process augments its own rows on its own, with its own random
    # stream, so its layers stay out of the distribution.
    with distribution.unsharded():
        augment = augmentation_layers(args.augment, args.seed + distribution.process_index())

    def batches(rows, training):
        return LabelledBatches(
            [paths[i] for i in rows],
            labels[rows],
            args.batch_size,
            preprocessor,
            augment=augment if training else None,
            shuffle=training,
            seed=(args.seed, checkpoint.epochs_done),
            on_error=args.on_error,
            replicas=replicas,
            local_rows=local_rows,
        )

    train_data, val_data = batches(train_rows, True), batches(val_rows, False)
    checkpoint.restore_latest(classifier)
    for phase in _phases(args):
        if checkpoint.epochs_done >= phase.end or checkpoint.stopped_early:
            continue
        _run_phase(args, phase, classifier, checkpoint, train_data, val_data)
        if checkpoint.paused:
            return
    classifier.backbone.trainable = True


_Phase = collections.namedtuple(
    "_Phase", ["title", "start", "end", "backbone_trainable", "learning_rate"]
)


def _phases(args):
    total = args.warmup_epochs + args.epochs
    return (
        _Phase("warm-up with the backbone frozen", 0, args.warmup_epochs, False,
               args.warmup_learning_rate),
        _Phase("fine-tuning the whole model", args.warmup_epochs, total, True,
               args.learning_rate),
    )  # fmt: skip


def _run_phase(args, phase, classifier, checkpoint, train_data, val_data):
    done = checkpoint.epochs_done
    if not args.quiet:
        total = args.warmup_epochs + args.epochs
        print(f"{phase.title}: epoch {done + 1} to {phase.end} of {total}", flush=True)
    classifier.backbone.trainable = phase.backbone_trainable
    # The rate decays along a cosine to zero at the phase's last epoch; the
    # schedule follows the optimizer's step count, which a resumed run
    # restores.
    schedule = keras.optimizers.schedules.CosineDecay(
        phase.learning_rate, decay_steps=(phase.end - phase.start) * len(train_data)
    )
    classifier.compile(
        optimizer=keras.optimizers.Adam(schedule),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    if done > phase.start:
        checkpoint.restore_optimizer(classifier.optimizer, classifier.trainable_variables)
    classifier.fit(
        train_data,
        validation_data=val_data,
        initial_epoch=done,
        epochs=phase.end,
        callbacks=[checkpoint],
        verbose=_verbosity(args.quiet),
    )


def _verbosity(quiet):
    """Keras' progress bar on a terminal, one line per epoch in a log."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


def _settings(args, data_dir, paths, class_names, train_rows, val_rows):
    """What a resumed run must share with the run that made the checkpoint."""
    def relative(rows):
        return [paths[i].relative_to(data_dir).as_posix() for i in rows]

    options = {key: getattr(args, key) for key in SETTINGS}
    return {
        **options,
        "data_dir": str(data_dir.resolve()),
        "class_names": class_names,
        "train_files": relative(train_rows),
        "validation_files": relative(val_rows),
    }


def _report_start(args, checkpoint, class_names, train_rows, val_rows, total_epochs):
    if args.quiet:
        return
    print(
        f"{len(class_names)} classes, {len(train_rows)} training and "
        f"{len(val_rows)} validation images; {args.warmup_epochs} warm-up and "
        f"{args.epochs} fine-tuning epoch(s)"
    )
    replicas = distribution.replica_count()
    val_left_out = (len(val_rows) % args.batch_size) % replicas
    train_left_out = (len(train_rows) % args.batch_size) % replicas
    if val_left_out or train_left_out:
        print(
            f"each batch is cut to a multiple of the {replicas} model copies: "
            f"training leaves out {train_left_out} image(s) per epoch (different "
            f"ones each epoch), validation uses {len(val_rows) - val_left_out} "
            f"of {len(val_rows)} images"
        )
    if checkpoint.epochs_done:
        print(
            f"resuming from epoch {checkpoint.epochs_done} of {total_epochs} "
            f"(checkpoint {checkpoint.directory})"
        )


def _augmentations(text):
    if text == "none":
        return ()
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown augmentation(s) {', '.join(unknown) or repr(text)}; "
            f"choose from {','.join(AUGMENTATIONS)} or 'none'"
        )
    return names
