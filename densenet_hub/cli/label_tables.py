"""The label-table options of `train`, `evaluate` and `predict`: where a
command takes a folder with one sub-folder per class, it also takes a
multi-label table (`densenet_hub.data.read_label_table`)."""

import pathlib

from densenet_hub.data.label_tables import UNCERTAINTY_POLICIES
from densenet_hub.data.label_tables import read_label_table

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


def add_label_table_options(parser, labels=True, groups=False):
    """The options that say how to read a label table: where its images are
    and, with `labels`, which findings and policies (`groups`: the patient
    column too)."""
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
    if not labels:
        return
    group.add_argument(
        "--findings",
        type=_names,
        default=None,
        help="comma-separated findings to use, in this order (default: every "
        "finding column; ChestX-ray14's 14 in CheXNet's order)",
    )
    group.add_argument(
        "--uncertainty",
        choices=UNCERTAINTY_POLICIES,
        default="ignore",
        help="what an uncertain label (-1) counts as: ignore (default: left "
        "out of that finding's loss and metrics), ones (positive) or zeros "
        "(negative), CheXpert's U-Ignore, U-Ones and U-Zeros",
    )
    group.add_argument(
        "--unmentioned",
        choices=UNCERTAINTY_POLICIES,
        default="ignore",
        help="what an empty cell (finding not mentioned) counts as: ignore "
        "(default), ones or zeros (as most CheXpert work does)",
    )
    if groups:
        group.add_argument(
            "--group-column",
            default=None,
            help="keep all images with the same value in this column (e.g. "
            "'Patient ID') on one side of the train/validation split",
        )


def read_table(args, path, group_column=None):
    """The `LabelTable` at `path`, read as `args`' options say."""
    return read_label_table(
        path,
        images=args.images_root,
        findings=getattr(args, "findings", None),
        path_column=args.path_column,
        group_column=group_column,
        uncertainty=getattr(args, "uncertainty", "ignore"),
        unmentioned=getattr(args, "unmentioned", "ignore"),
    )


def table_settings(args):
    """The options a run's checkpoint and saved preset record."""
    return {
        "findings": args.findings,
        "path_column": args.path_column,
        "uncertainty": args.uncertainty,
        "unmentioned": args.unmentioned,
    }


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()]
