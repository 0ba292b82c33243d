"""What the commands share, in one module: the error type of a user
mistake, printing (errors, warnings, tables), argument types and options,
the progress bar, image finding with skipped files as warning lines, and
the label-table options. No command imports another command; each imports
this module and the library."""

import argparse
import contextlib
import pathlib
import re
import shutil
import sys
import textwrap
import time
import warnings

# The library is imported inside the functions that use it: `--help`,
# `--version` and a usage error build every parser from this module and
# end without importing NumPy, Keras or a backend.
from densenet_hub.base import choices
from densenet_hub.base.choices import ON_ERROR_CHOICES
from densenet_hub.base.choices import UNCERTAINTY_POLICIES
from densenet_hub.base.text import format_table  # noqa: F401 (the commands' table printer)


# === The error type of the command line: a user mistake, reported in one line (errors) ===
class CliError(Exception):
    """A mistake the user can fix: `main` prints the message on one line of
    stderr and exits with status 1, without a traceback.

    Args:
        message: what is wrong, with the value received and the fix.

    Example:
    ```python
    from densenet_hub.cli.shell import CliError

    try:
        raise CliError("no images found in 'photos/'; add .png or .jpg files")
    except CliError as error:
        assert "no images found in 'photos/'" in str(error)
    ```
    """


# === Printing for the command line: errors and warnings on stderr, and (console) ===
PROGRAM = "densenet-hub"
MAX_NAMED = 10


def warn(message):
    """Prints `message` as one warning line on stderr."""
    print(f"{PROGRAM}: warning: {one_line(message)}", file=sys.stderr)


def print_error(error):
    """Prints `error` as the command's error message on stderr: one line for
    scripts and logs (a line per line break the library put in, e.g. one per
    preset source tried), wrapped to the width of a terminal for people."""
    lines = [one_line(line) for line in str(error).splitlines() if line.strip()] or [""]
    lines[0] = f"{PROGRAM}: error: {lines[0]}"
    if sys.stderr.isatty():
        width = shutil.get_terminal_size().columns
        lines = [textwrap.fill(line, width=width, subsequent_indent="    ") for line in lines]
    print("\n  ".join(lines), file=sys.stderr)


def in_flag_words(message, options):
    """`message` (a library error's) with the Python argument names that are
    also command-line `options` in the shell's words: `on_error='skip'`
    becomes `--on-error skip` and `` `on_error` `` becomes `` `--on-error` ``.

    Example:
    ```python
    from densenet_hub.cli.shell import in_flag_words

    text = "`calibration` is for precision='int8' only"
    assert in_flag_words(text, {"--calibration", "--precision"}) == (
        "`--calibration` is for --precision int8 only"
    )
    ```
    """

    def flag(name):
        option = "--" + name.replace("_", "-")
        return option if option in options else None

    def assignment(match):
        option = flag(match.group(1))
        value = match.group(2).strip("'\"")
        if option is None:
            return match.group(0)
        # A switch: `overwrite=True` is typed `--overwrite`.
        return option if value == "True" else f"{option} {value}"

    def quoted(match):
        option = flag(match.group(1))
        return f"`{option}`" if option else match.group(0)

    message = re.sub(r"\b([a-z][a-z0-9_]*)=('[^']*'|\"[^\"]*\"|[\w.]+)", assignment, str(message))
    message = re.sub(r"`([a-z][a-z0-9_]*)`", quoted, message)
    # Messages that already name the flag in brackets: "--overwrite (--overwrite)".
    return re.sub(r"(--[a-z0-9-]+) \(\1\)", r"\1", message)


def one_line(text):
    """`text` with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(str(text).split())


# === Argument types and options shared by several commands (arguments) ===
DEFAULT_BATCH_SIZE = 32
_IMAGE_SIZE = re.compile(r"([1-9][0-9]{0,4})(?:x([1-9][0-9]{0,4}))?")


def _number_type(convert, accepts, expected):
    """An argparse type: `convert(text)`, kept if `accepts(value)`."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_int = _number_type(int, lambda v: v >= 1, "a positive integer")
non_negative_int = _number_type(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number_type(
    float, lambda v: 0 < v < float("inf"), "a positive number"
)
fraction = _number_type(
    float, lambda v: 0 < v < 1, "a fraction between 0 and 1, e.g. 0.2"
)
unit_interval = _number_type(float, lambda v: 0 <= v <= 1, "a number from 0 to 1")


def image_size(text):
    """An argparse type: `224` or `224x160` (height x width)."""
    match = _IMAGE_SIZE.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected SIZE or HEIGHTxWIDTH in pixels, e.g. 224 or 224x160, got {text!r}"
        )
    height = int(match.group(1))
    return (height, int(match.group(2) or height))


def add_batch_options(parser):
    """`--batch-size`, `--image-size`, `--on-error` and `--quiet`."""
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        help=f"images per batch (default {DEFAULT_BATCH_SIZE})",
    )
    add_image_size_option(parser)
    add_on_error_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_tta_option(parser):
    """`--tta`: the views of each image whose probabilities are averaged."""
    from densenet_hub.base.choices import TTA_CHOICES

    parser.add_argument(
        "--tta",
        choices=TTA_CHOICES,
        default="none",
        help="test-time augmentation: average the probabilities of each image "
        "and its mirror image (flip), or of torchvision's ten crops (the four "
        "corners and the centre of the image resized 256/224 larger, and of its "
        "mirror image, as the CheXNet reimplementation evaluates) (default none)",
    )


def add_image_size_option(
    parser, help_text="resize to SIZE or HEIGHTxWIDTH instead of the preset's size"
):
    parser.add_argument("--image-size", type=image_size, default=None, help=help_text)


def add_on_error_option(parser):
    parser.add_argument(
        "--on-error",
        choices=ON_ERROR_CHOICES,
        default="skip",
        help="for unreadable or non-image files: skip them with a warning "
        "(default) or fail",
    )


# === A progress bar on stderr, so that stdout keeps only the results (progress) ===
BAR_WIDTH = 30


class ProgressBar:
    """Counts items done out of a total, on stderr.

    On a terminal the bar redraws in place; otherwise (a log file, a pipe)
    only the final line is written, so logs do not fill up with redraws.
    Nothing is shown for runs of a single step.

    Args:
        total: the number of items.
        label: a word for the items, e.g. `"images"`.
        enabled: `False` to show nothing (`--quiet`).
        stream: where to write; stderr by default.

    Example:
    ```python
    from densenet_hub.cli.shell import ProgressBar

    bar = ProgressBar(total=64, label="images")
    for _ in range(4):
        bar.advance(16)
    bar.close()
    ```
    """

    def __init__(self, total, label, enabled=True, stream=None):
        self.total = total
        self.label = label
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interactive = self.stream.isatty()
        self.started = time.monotonic()
        self.steps = 0

    def advance(self, count):
        """Records `count` more items done."""
        self.done += count
        self.steps += 1
        if self.enabled and self.interactive:
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def close(self):
        """Writes the final line (when more than one step was shown)."""
        if not self.enabled or self.steps <= 1:
            return
        prefix = "\r" if self.interactive else ""
        self.stream.write(prefix + self._line() + "\n")
        self.stream.flush()

    def _line(self):
        fraction = self.done / self.total if self.total else 1.0
        filled = round(BAR_WIDTH * fraction)
        elapsed = time.monotonic() - self.started
        return (
            f"[{'=' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{self.done}/{self.total} {self.label} {elapsed:.1f}s"
        )


@contextlib.contextmanager
def image_progress(count, quiet=False):
    """Yields a progress bar's `advance` over `count` images, for a library
    function's `on_batch`, with the images skipped meanwhile shown as
    warning lines; the bar's last line is written when the block ends.

    Example:
    ```python
    from densenet_hub.cli.shell import image_progress

    with image_progress(64, quiet=True) as on_batch:
        for _ in range(4):
            on_batch(16)
    ```
    """
    bar = ProgressBar(count, "images", enabled=not quiet)
    try:
        with skipped_images_as_warnings():
            yield bar.advance
    finally:
        bar.close()



class RateProgressBar(ProgressBar):
    """A `ProgressBar` that also shows items per second and the time left.

    Example:
    ```python
    from densenet_hub.cli.shell import RateProgressBar

    bar = RateProgressBar(total=64, label="images")
    bar.advance(16)
    assert "images/s" in bar._line() and "left" in bar._line()
    ```
    """

    def _line(self):
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        return f"{super()._line()} {rate:.1f} {self.label}/s, {left:.0f}s left"


@contextlib.contextmanager
def job_progress(quiet=False):
    """Yields an `on_batch(done, total)` for `densenet_hub.batch`'s jobs: a
    bar with images/s and the time left, made on the first call (the job
    knows its total, the rows a rerun has left, only once it has started).

    Example:
    ```python
    from densenet_hub.cli.shell import job_progress

    with job_progress(quiet=True) as on_batch:
        for done in (16, 32):
            on_batch(done, 32)
    ```
    """
    bar = None

    def on_batch(done, total):
        nonlocal bar
        if bar is None:
            bar = RateProgressBar(total, "images", enabled=not quiet)
        bar.advance(done - bar.done)

    try:
        yield on_batch
    finally:
        if bar is not None:
            bar.close()


def add_batch_output_options(parser, overwrite=True):
    """`--output FOLDER` (a resumable Parquet dataset), `--engine`,
    `--address`, `--workers`, `--shard-size`, and with `overwrite` an
    `--overwrite` of its own."""
    from densenet_hub.base.choices import BATCH_ENGINES

    group = parser.add_argument_group(
        "batch output (Parquet)",
        "With --output, the rows go to a Parquet dataset instead: FOLDER/part-*.parquet "
        "and FOLDER/_manifest.json, one row per image with an `error` column for files "
        "that cannot be decoded. Running the same command again after a crash or "
        "Ctrl-C resumes it: finished shards are kept, the others written.",
    )
    group.add_argument(
        "--output", metavar="FOLDER", default=None,
        help="write a resumable Parquet dataset to FOLDER (created if absent)",
    )  # fmt: skip
    group.add_argument(
        "--engine", choices=BATCH_ENGINES, default="local",
        help="local: this process, files decoded by a thread pool while the network "
        "runs (default); ray: Ray Data actors, each holding one model (needs "
        "`pip install 'densenet-hub[ray]'`)",
    )  # fmt: skip
    group.add_argument(
        "--address", default=None,
        help="--engine ray: a running Ray cluster to join ('auto' or HOST:PORT); "
        "default: start Ray on this machine for the job",
    )  # fmt: skip
    group.add_argument(
        "--workers", type=positive_int, default=None,
        help="decoding threads (local, default one per CPU) or Ray actors (ray, "
        "default one per CPU of the cluster)",
    )  # fmt: skip
    group.add_argument(
        "--shard-size", type=positive_int, default=None,
        help="rows per Parquet file (default 16 batches): what a crash can lose, "
        "and the unit of work of a Ray actor",
    )  # fmt: skip
    if overwrite:
        group.add_argument(
            "--overwrite", action="store_true",
            help="replace another job's output in --output (a rerun of the same job "
            "resumes without it)",
        )  # fmt: skip


def print_batch_result(result):
    """One line on stdout: where the rows went, how many, the unreadable."""
    resumed = f"; {result.skipped} shard(s) kept from an earlier run" if result.skipped else ""
    print(
        f"wrote {result.output}: {result.rows} rows in {result.written + result.skipped} "
        f"Parquet shard(s), {result.errors} unreadable file(s) (see the `error` "
        f"column){resumed}"
    )

# === The image finders of `densenet_hub.data` for the commands: a bad file (images) ===
@contextlib.contextmanager
def warnings_as_lines():
    """Prints each distinct warning raised inside once, as a
    `densenet-hub: warning:` line on stderr: the library warns with Python
    warnings, and the shell shows them in its own words, not with a
    file name and line number.

    Example:
    ```python
    import warnings
    from densenet_hub.cli.shell import warnings_as_lines

    with warnings_as_lines():
        for _ in range(3):  # stderr, once: densenet-hub: warning: no preprocessor
            warnings.warn("no preprocessor")
    ```
    """
    shown = set()

    def show(message, category, *args, **kwargs):
        # By text alone: the same words under two categories read as a repeat.
        if str(message) not in shown:
            shown.add(str(message))
            warn(message)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def skipped_images_as_warnings():
    """Prints each `SkippedImageWarning` raised inside as a warning line, the
    first `MAX_NAMED` as they come, then how many more there were.

    Example:
    ```python
    import warnings
    from densenet_hub.cli.shell import skipped_images_as_warnings
    from densenet_hub.data import SkippedImageWarning

    with skipped_images_as_warnings():
        # stderr: densenet-hub: warning: skipped notes.txt: not an image file
        warnings.warn(SkippedImageWarning("notes.txt", "not an image file"))
    ```
    """
    from densenet_hub.data.images import SkippedImageWarning

    skipped = 0

    def show(message, category, *args, **kwargs):
        nonlocal skipped
        if not issubclass(category, SkippedImageWarning):
            return shown_before(message, category, *args, **kwargs)
        skipped += 1
        if skipped <= MAX_NAMED:
            warn(message)

    with warnings.catch_warnings():
        warnings.simplefilter("always", SkippedImageWarning)
        shown_before = warnings.showwarning
        warnings.showwarning = show
        try:
            yield
        finally:
            if skipped > MAX_NAMED:
                warn(f"skipped {skipped - MAX_NAMED} more unreadable file(s)")


def _warning_on_skips(name):
    def wrapper(*args, **kwargs):
        from densenet_hub.data import images

        with skipped_images_as_warnings():
            return getattr(images, name)(*args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = f"`densenet_hub.data.{name}`, each skipped file a warning line."
    return wrapper


find_images = _warning_on_skips("find_images")
find_labelled_images = _warning_on_skips("find_labelled_images")
read_images = _warning_on_skips("read_images")


# === The label-table options of `train`, `evaluate` and `predict`: where a (label_tables) ===
DATA_HELP = (
    "a folder with one sub-folder of images per class, or a multi-label "
    "table: a CSV with an image path column and one 1/0/-1/empty column per "
    "finding (CheXpert), a CSV with a `Finding Labels` column (ChestX-ray14), "
    "or a split file of lines 'IMAGE 0 1 0 ...'"
)


TABLE_SUFFIXES = (".csv", ".txt", ".tsv")


def is_label_table(path):
    """Whether the command's data argument names a table rather than a folder."""
    return pathlib.Path(path).is_file()


def is_table_file(path):
    """Whether an argument that may also name images names a label table."""
    return is_label_table(path) and pathlib.Path(path).suffix.lower() in TABLE_SUFFIXES


def add_label_table_options(parser, labels=True, groups=False, preset_policies=False):
    """The options that say how to read a label table: where its images are,
    which rows to keep and, with `labels`, which findings and policies
    (`groups`: where the patient is too). With `preset_policies` the
    policies default to `None`: the preset's, as its training recorded them."""
    group = parser.add_argument_group("label tables")
    group.add_argument(
        "--images",
        dest="images_root",
        metavar="FOLDER",
        default=None,
        help="the folder image paths in the table are relative to (default: "
        "the table's folder); bare file names are also found in its sub-folders",
    )
    group.add_argument(
        "--path-column",
        default=None,
        help="the image path column (default: Path, path, Image Index, image "
        "or filename, the first present)",
    )
    group.add_argument(
        "--where",
        action="append",
        metavar="CONDITION",
        default=None,
        help="keep only the rows where CONDITION holds; repeat to require "
        "several: COLUMN=VALUE or COLUMN!=VALUE compare text (e.g. "
        "'Frontal/Lateral=Frontal'), COLUMN<NUMBER, <=, > and >= compare "
        "numbers (e.g. 'Patient Age<=100')",
    )
    if not labels:
        return
    group.add_argument(
        "--findings",
        type=_names,
        default=None,
        help="comma-separated findings to use, in this order (default: every "
        "finding column; ChestX-ray14's 14 in CheXNet's order)",
    )
    default = "the preset's policy, else ignore" if preset_policies else "ignore"
    group.add_argument(
        "--uncertainty",
        choices=UNCERTAINTY_POLICIES,
        default=None if preset_policies else "ignore",
        help="what an uncertain label (-1) counts as: ignore (left out of "
        "that finding's loss and metrics), ones (positive) or zeros "
        f"(negative), CheXpert's U-Ignore, U-Ones and U-Zeros (default: {default})",
    )
    group.add_argument(
        "--unmentioned",
        choices=UNCERTAINTY_POLICIES,
        default=None if preset_policies else "ignore",
        help="what an empty cell (finding not mentioned) counts as: ignore, "
        f"ones or zeros (as most CheXpert work does) (default: {default})",
    )
    if groups:
        patient = group.add_mutually_exclusive_group()
        patient.add_argument(
            "--group-column",
            default=None,
            help="keep all images with the same value in this column (e.g. "
            "'Patient ID') on one side of the train/validation split",
        )
        patient.add_argument(
            "--group-from-path",
            metavar="REGEX",
            default=None,
            help="the same, with the group found in each image path by a "
            r"regular expression (its first group if it has one), e.g. 'patient\d+' "
            "for CheXpert, whose patient is only in the path",
        )


def read_table(args, path, group_column=None, findings=None):
    """The `LabelTable` at `path`, read as `args`' options say (`findings`,
    when given, instead of `--findings`)."""
    from densenet_hub.data.label_tables import read_label_table

    return read_label_table(
        path,
        images=args.images_root,
        findings=findings or getattr(args, "findings", None),
        path_column=args.path_column,
        group_column=group_column,
        group_from_path=getattr(args, "group_from_path", None),
        where=args.where,
        uncertainty=getattr(args, "uncertainty", "ignore"),
        unmentioned=getattr(args, "unmentioned", "ignore"),
    )


def is_split_file(path):
    """Whether the label table at `path` is a split file (no CSV header):
    its values are named only by the model that reads it."""
    from densenet_hub.data.table_files import first_line
    from densenet_hub.data.table_files import read_table_bytes

    return "," not in first_line(read_table_bytes(path))


def read_table_for_model(args, path, model_findings):
    """`(table, missing)`: the label table at `path` read for a classifier
    whose outputs are `model_findings` (`None`: unnamed), and the findings
    of the model it holds no labels for (no column, or every cell empty).

    Unless `--findings` chooses, the table's findings are the model's, in
    the model's order: a split file's values are read as the model's
    findings, and a CSV's other finding columns are left out.
    """
    if model_findings is None or getattr(args, "findings", None) is not None:
        return read_table(args, path), []
    if is_split_file(path):
        return read_table(args, path, findings=model_findings), []
    table = read_table(args, path)
    present = [name for name in model_findings if name in table.findings]
    if not present:
        raise CliError(
            f"{path} labels none of the preset's findings ({', '.join(model_findings)}); "
            f"its findings are {', '.join(table.findings)}. Choose the findings to "
            "evaluate with --findings."
        )
    missing = [name for name in model_findings if name not in table.findings]
    return table.select(present), missing


def table_settings(args):
    """The options a run's checkpoint and saved preset record."""
    return {
        "findings": args.findings,
        "path_column": args.path_column,
        "uncertainty": args.uncertainty,
        "unmentioned": args.unmentioned,
        "where": args.where,
        "group_from_path": args.group_from_path,
    }


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()]


# === int8: the calibration options of `quantize` and `export`, their report and refusals ===


def add_quantization_options(parser):
    """The calibration's and the accuracy guard's options, with the
    library's defaults."""
    group = parser.add_argument_group("int8 calibration")
    group.add_argument(
        "--calibration-size",
        type=positive_int,
        default=choices.DEFAULT_CALIBRATION_SIZE,
        help="the most images to measure activation ranges on (default "
        f"{choices.DEFAULT_CALIBRATION_SIZE}, at least "
        f"{choices.MIN_CALIBRATION_IMAGES})",
    )
    group.add_argument(
        "--held-out",
        type=fraction,
        default=choices.DEFAULT_HELD_OUT,
        help="the fraction of the images set aside to compare int8 with "
        f"float32 (default {choices.DEFAULT_HELD_OUT}; at least "
        f"{choices.MIN_HELD_OUT_IMAGES} images)",
    )
    group.add_argument(
        "--min-agreement",
        type=unit_interval,
        default=choices.DEFAULT_MIN_AGREEMENT,
        help="refuse the int8 model when its top-1 agreement with float32 on "
        f"the held-out images is lower (default {choices.DEFAULT_MIN_AGREEMENT})",
    )
    group.add_argument(
        "--seed", type=non_negative_int, default=choices.DEFAULT_SEED,
        help=f"the seed of the held-out split (default {choices.DEFAULT_SEED})",
    )  # fmt: skip


@contextlib.contextmanager
def quantization_errors(calibration):
    """Skipped calibration files become warning lines; too few images and a
    refused int8 model, errors in the command line's words with its fixes."""
    from densenet_hub.runtime import quantization

    try:
        with skipped_images_as_warnings():
            yield
    except quantization.TooFewCalibrationImages as error:
        raise CliError(
            f"int8 calibration needs at least {error.needed} images with --held-out "
            f"{error.held_out} ({quantization.MIN_CALIBRATION_IMAGES} to measure "
            f"activation ranges on, {quantization.MIN_HELD_OUT_IMAGES} held out to "
            f"check the int8 model against float32), found {error.found} readable "
            f"in {calibration!r}. Add more of your own images, like those the "
            "model will classify (300 or more is best)."
        ) from error
    except quantization.QuantizationRefused as error:
        raise CliError(
            f"{error} From the command line: add images to {calibration!r}, "
            "lower --min-agreement, or run the float model with `densenet-hub "
            "predict PRESET IMAGES --runtime openvino --precision bfloat16`. "
            "Nothing was written."
        ) from error


def print_quantization_report(report):
    """Prints a `QuantizationReport`: how the model was quantized and how
    close it stays to float32."""
    print(f"method: {report.method}")
    print(f"calibration images: {report.calibration_size} (seed {report.seed})")
    print(f"held-out images: {report.held_out_size}")
    print(
        f"{report.measure} with float32: {report.agreement:.4f} "
        f"(minimum {report.min_agreement:g})"
    )
    print(f"largest output change: {report.max_logit_change:.4g}")
    print(f"smallest cosine similarity: {report.cosine_similarity:.4f}")
