"""`densenet-hub train DATA --preset PRESET --out OUT_PRESET`: fine-tunes
a classifier on a folder with one sub-folder of images per class, or a
multi-label classifier (one sigmoid per finding) on a label table.

The run: a stratified train/validation split, augmentation with stock Keras
layers, a warm-up that trains only the new head on a frozen backbone (none
with `--no-pretrained`: a random backbone has no features to protect), then
fine-tuning of the whole model, with a checkpoint after every epoch and early
stopping on the validation loss. On the first batch it says when XLA
compiles the first epoch, which can take minutes. Running the same command again after an
interruption resumes from the last checkpoint. The best epoch's model is
saved as a preset folder (KerasHub's files plus `class_names.json`, and for
a multi-label classifier `multi_label.json` with the decision thresholds
chosen on the validation split and the label policies and row filters used;
`history.csv`, one row per epoch with its loss, metrics and learning rate,
and with matplotlib its curves as `history.png`) that `predict`, `evaluate` and
`from_preset` load.

The recipe is `densenet_hub.training.finetune`, trained for the data's
objective (`SingleLabelObjective` for a class folder, `MultiLabelObjective`
for a table); this module parses the options, builds the classifier, prints
and saves. With `--devices`,
`--distribution` or a multi-process setting (JAX backend), training runs
through `densenet_hub.distribution` (Keras' distribution API):
`--batch-size` is the global batch, and only process 0 prints, writes the
checkpoints and saves the preset.
"""

import argparse
import pathlib
import sys

from densenet_hub.base.choices import AUGMENTATIONS
from densenet_hub.base.choices import COORDINATOR_ENV
from densenet_hub.base.choices import DISTRIBUTION_LAYOUTS
from densenet_hub.base.choices import KERAS_ADDRESSES_ENV
from densenet_hub.base.choices import KERAS_NUM_PROCESSES_ENV
from densenet_hub.base.choices import KERAS_PROCESS_ID_ENV
from densenet_hub.base.publish import check_output_folder
from densenet_hub.cli import shell
from densenet_hub.cli.shell import DATA_HELP
from densenet_hub.cli.shell import PROGRAM
from densenet_hub.cli.shell import CliError
from densenet_hub.cli.shell import add_label_table_options
from densenet_hub.cli.shell import find_labelled_images
from densenet_hub.cli.shell import is_label_table
from densenet_hub.cli.shell import read_table
from densenet_hub.cli.shell import skipped_images_as_warnings
from densenet_hub.cli.shell import table_settings

# EX_TEMPFAIL: the run stopped before the end on purpose; running the same
# command again continues it.
EXIT_PAUSED = 75
EXIT_INTERRUPTED = 130
# Options a resumed run must share with the run that made its checkpoint,
# beyond `finetune`'s own settings; the others (--epochs, --patience,
# --stop-after-epochs, ...) may change.
MODEL_SETTINGS = ("preset", "no_pretrained", "image_size")
# The fixes of a `training.CheckpointError`, in the command's words.
CHECKPOINT_REMEDIES = {
    "restart": "pass --restart to start over",
    "resume_or_restart": "rerun with the same settings to resume, or pass --restart to start over",
    "other_folder": "choose another --checkpoint-dir",
}


def register(subparsers):
    """Adds the `train` command to `subparsers`."""
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a classifier on an image folder or a multi-label table",
        description="Fine-tunes a classifier on DATA: a folder with one "
        "sub-folder of images per class, or a multi-label table (chest X-ray "
        "style: one sigmoid per finding, entry-weighted binary cross-entropy, "
        "AUROC, per-finding thresholds chosen on the validation split by "
        "Youden's J). Frozen-backbone warm-up, then full fine-tuning, with "
        "checkpoints, early stopping and augmentation; saves the best model "
        "as a preset. Rerun the same command to resume an interrupted run.",
    )
    parser.add_argument("data_dir", metavar="DATA", help=DATA_HELP)
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
        type=shell.fraction,
        default=0.2,
        help="fraction of each class kept for validation (default 0.2)",
    )
    parser.add_argument(
        "--warmup-epochs",
        type=shell.non_negative_int,
        default=1,
        help="epochs training only the new head (default 1; none with --no-pretrained)",
    )
    parser.add_argument(
        "--epochs",
        type=shell.non_negative_int,
        default=5,
        help="epochs fine-tuning the whole model after the warm-up (default 5)",
    )
    parser.add_argument(
        "--warmup-learning-rate",
        type=shell.positive_float,
        default=1e-3,
        help="initial Adam learning rate of the warm-up, decayed along a "
        "cosine (default 1e-3)",
    )
    parser.add_argument(
        "--learning-rate",
        type=shell.positive_float,
        default=1e-4,
        help="initial Adam learning rate of the fine-tuning, decayed along a "
        "cosine (default 1e-4)",
    )
    parser.add_argument(
        "--patience",
        type=shell.positive_int,
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
        type=shell.non_negative_int,
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
        type=shell.positive_int,
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
    shell.add_batch_options(parser)
    add_label_table_options(parser, groups=True)
    parser.add_argument(
        "--positive-weights",
        choices=("none", "balanced"),
        default="none",
        help="multi-label tables: balanced weighs each finding's positive "
        "labels by negatives / positives of the training split, for rare "
        "findings (default none)",
    )
    _add_distribution_options(parser)
    parser.set_defaults(run=run)


def _add_distribution_options(parser):
    group = parser.add_argument_group(
        "several devices and machines (JAX backend; --batch-size is the global batch)"
    )
    group.add_argument(
        "--devices",
        type=shell.positive_int,
        default=None,
        help="devices to train on (default: one; with several processes, all "
        "of every process). Simulate N CPU devices with "
        "XLA_FLAGS=--xla_force_host_platform_device_count=N",
    )
    group.add_argument(
        "--distribution",
        choices=DISTRIBUTION_LAYOUTS,
        default=None,
        help="data_parallel (default when training on several devices): a "
        "model copy per device, the batch split among them; model_parallel: "
        "the dense layers' bottlenecks split over --model-devices devices",
    )
    group.add_argument(
        "--model-devices",
        type=shell.positive_int,
        default=2,
        help="with model_parallel: devices sharing one model copy; must divide "
        "4 x the growth rate and the devices of each process (default 2)",
    )
    group.add_argument(
        "--coordinator-address",
        default=None,
        help="multi-process runs: HOST:PORT of process 0, the same for every "
        f"process (default: ${KERAS_ADDRESSES_ENV} or ${COORDINATOR_ENV})",
    )
    group.add_argument(
        "--num-processes",
        type=shell.positive_int,
        default=None,
        help=f"multi-process runs: the number of processes (default: "
        f"${KERAS_NUM_PROCESSES_ENV})",
    )
    group.add_argument(
        "--process-id",
        type=shell.non_negative_int,
        default=None,
        help=f"multi-process runs: this process's index, 0 on the coordinator's "
        f"host (default: ${KERAS_PROCESS_ID_ENV})",
    )


def run(args):
    """Trains as `args` says; returns the exit status."""
    import keras

    previous = keras.distribution.distribution()
    try:
        return _run(args)
    finally:
        # The command's distribution must not outlive it when `main` runs
        # in-process.
        keras.distribution.set_distribution(previous)


def _run(args):
    import keras

    from densenet_hub import training
    from densenet_hub.training.classifier import classifier_for_training

    warmup_epochs = _warmup_epochs(args)
    check_output_folder(args.out, args.overwrite)
    settings = {key: getattr(args, key) for key in MODEL_SETTINGS}
    paths, objective, reading = _training_data(args, settings)
    _start_distribution(args)
    # Seeds the new head's (or, without pretrained weights, every layer's)
    # initial weights, so that a run can be repeated.
    keras.utils.set_random_seed(args.seed)
    if warmup_epochs < args.warmup_epochs and not args.quiet:
        print(
            f"no warm-up with --no-pretrained: the backbone is random, so the whole "
            f"model trains from the first epoch (--warmup-epochs {args.warmup_epochs} "
            "left out)"
        )
    classifier = classifier_for_training(
        args.preset, len(objective.names), not args.no_pretrained, args.image_size,
        objective.names, multi_label=objective.multi_label,
    )  # fmt: skip
    try:
        with skipped_images_as_warnings():
            result = training.finetune(
                classifier,
                paths,
                objective,
                args.checkpoint_dir or f"{args.out.rstrip('/')}.checkpoints",
                epochs=args.epochs,
                warmup_epochs=warmup_epochs,
                learning_rate=args.learning_rate,
                warmup_learning_rate=args.warmup_learning_rate,
                val_split=args.val_split,
                patience=args.patience,
                augment=args.augment,
                batch_size=args.batch_size,
                seed=args.seed,
                restart=args.restart,
                stop_after_epochs=args.stop_after_epochs,
                memory_efficient=args.memory_efficient,
                on_error=args.on_error,
                checkpoint_settings={**settings, "class_names": objective.names},
                verbose=_verbosity(args.quiet),
                callbacks=None if args.quiet else [training.CompileNotice()],
            )
    except training.TrainingInterrupted as interruption:
        _report_interruption(interruption)
        return EXIT_INTERRUPTED
    except training.CheckpointError as error:
        raise CliError(f"{error.problem}; {CHECKPOINT_REMEDIES[error.remedy]}.") from None
    if result.paused:
        print(
            f"{PROGRAM}: stopped after epoch {result.epochs_done} of "
            f"{result.total_epochs} as asked (--stop-after-epochs); the checkpoint is "
            f"in {result.checkpoint_dir}. Run the same command again to continue.",
            file=sys.stderr,
        )
        return EXIT_PAUSED
    _save_best(args, result, objective.class_labels(result, reading))
    return 0


def _warmup_epochs(args):
    """The warm-up epochs to train: none on a random backbone (`--no-pretrained`),
    whose features a head-only warm-up cannot protect; a frozen random
    backbone leaves the head at chance."""
    if args.warmup_epochs + args.epochs == 0:
        raise CliError("--warmup-epochs and --epochs are both 0; train for at least one epoch.")
    if not args.no_pretrained:
        return args.warmup_epochs
    if args.epochs == 0:
        raise CliError(
            "--no-pretrained trains the whole model from the first epoch (a "
            "head-only warm-up on a random backbone learns nothing), but --epochs "
            "is 0; pass --epochs 1 or more."
        )
    return 0


def _training_data(args, settings):
    """`(paths, objective, reading)` of DATA: a class folder's images and
    classes, or a label table's images and findings; `reading` records how
    a table's labels were read. Adds a table's reading options to
    `settings`."""
    from densenet_hub import training

    if not is_label_table(args.data_dir):
        _refuse_table_options(args)
        paths, labels, class_names = _labelled_images(pathlib.Path(args.data_dir), args.on_error)
        return paths, training.SingleLabelObjective(labels, class_names), None
    table = read_table(args, args.data_dir, args.group_column)
    positive_weights = None if args.positive_weights == "none" else args.positive_weights
    settings.update(table_settings(args), group_column=args.group_column)
    # Saved in the preset: `evaluate` reads tables with the same policies,
    # and the filters and groups say which rows trained it.
    recorded = ("uncertainty", "unmentioned", "group_column", "group_from_path", "where")
    reading = {key: settings[key] for key in recorded}
    return table.paths, training.MultiLabelObjective.from_table(table, positive_weights), reading


def _refuse_table_options(args):
    """Label-table options make no sense with a class folder: say so rather
    than ignore them."""
    given = [
        option
        for option, name, default in (
            ("--group-column", "group_column", None), ("--findings", "findings", None),
            ("--images", "images_root", None), ("--path-column", "path_column", None),
            ("--positive-weights", "positive_weights", "none"),
        )
        if getattr(args, name) != default
    ]  # fmt: skip
    if given:
        raise CliError(
            f"{', '.join(given)} apply to a multi-label table, but "
            f"{args.data_dir!r} is a folder (one sub-folder per class); pass a "
            "table file, or drop these options."
        )


def _start_distribution(args):
    """Sets the distribution of `--devices` and the process options, before
    any model is built."""
    from densenet_hub import distribution
    from densenet_hub import training

    layout = training.start_distribution(
        args.batch_size,
        devices=args.devices,
        layout=args.distribution,
        model_devices=args.model_devices,
        coordinator_address=args.coordinator_address,
        num_processes=args.num_processes,
        process_id=args.process_id,
    )
    if not distribution.is_chief():
        args.quiet = True
    if layout is None or args.quiet:
        return
    print(
        f"training on {layout.device_mesh.devices.size} devices "
        f"({args.distribution or 'data_parallel'}, "
        f"{distribution.process_count()} process(es)); global batch "
        f"{args.batch_size}, {args.batch_size // distribution.replica_count()} "
        "per model copy"
    )


def _labelled_images(data_dir, on_error):
    paths, labels, class_names = find_labelled_images(data_dir, on_error, min_per_class=2)
    if len(class_names) < 2:
        raise CliError(
            f"{str(data_dir)!r} has one class folder ({class_names[0]!r}); a "
            "classifier needs at least two classes."
        )
    return paths, labels, class_names


def _report_interruption(interruption):
    if interruption.epochs_done:
        saved = (
            f"the checkpoint of epoch {interruption.epochs_done} is in "
            f"{interruption.checkpoint_dir}"
        )
    else:
        saved = "no epoch had finished, so there is no checkpoint yet"
    print(
        f"{PROGRAM}: interrupted; {saved}. Run the same command again to resume.",
        file=sys.stderr,
    )


def _save_best(args, result, labels):
    from densenet_hub import distribution
    from densenet_hub import training
    from densenet_hub.training.classifier import save_classifier

    if not distribution.is_chief():
        return
    history = training.history_files(result.epochs)
    with distribution.unsharded():
        save_classifier(result.classifier, labels, args.out, args.overwrite, history)
    print(
        f"saved {args.out}: best epoch {result.best_epoch} of {result.epochs_done}, "
        f"{result.objective.score_text(result.best_val_metrics)}, "
        f"validation loss {result.best_val_loss:.4f}"
    )
    if labels.multi_label:
        thresholds = ", ".join(
            f"{name} {value:.3f}" for name, value in zip(labels.names, labels.thresholds)
        )
        print(f"decision thresholds ({result.threshold_rule}): {thresholds}")
    if training.history.HISTORY_PNG in history:
        print(f"training history: {args.out}/history.csv and history.png")
    else:
        print(
            f"training history: {args.out}/history.csv (no history.png: matplotlib is not "
            "installed; pip install 'densenet-hub[plots]')"
        )
    if not args.keep_checkpoints:
        training.remove_checkpoint(result.checkpoint_dir)


def _verbosity(quiet):
    """Keras' progress bar on a terminal, one line per epoch in a log."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


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
