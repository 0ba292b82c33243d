"""What `densenet-hub demo` and `demo --multi-label` share: the digits they
are made of, the small DenseNet they train from scratch, their output
folder, and running their steps as the real commands, printed as the shell
line that does the same."""

import shlex
import shutil

import numpy as np

from densenet_hub.cli.shell import CliError
from densenet_hub.layers import DenseNetImageConverter
from densenet_hub.models import DenseNetBackbone
from densenet_hub.models import DenseNetImageClassifier
from densenet_hub.models import DenseNetImageClassifierPreprocessor

IMAGE_SIZE = 32


def split_digit_scans(images_per_class, rng, test_fraction):
    """scikit-learn's bundled digits (1,797 8x8 scans, no download) and,
    for each digit 0-9, its held-out and its training scan rows, drawn from
    the generator `rng`: `(digits, [(test_rows, train_rows), ...])`."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise CliError(
            "the demo needs scikit-learn for its bundled digits; install it "
            "with `pip install scikit-learn`."
        ) from None
    digits = load_digits()
    splits = []
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(digits.target == digit))[:images_per_class]
        test_count = max(1, round(len(rows) * test_fraction))
        splits.append((rows[:test_count], rows[test_count:]))
    return digits, splits


def tiny_classifier():
    """An untrained 10-class DenseNet small enough to train on 2 CPU cores in
    minutes, with 32x32 inputs scaled to [0, 1].

    Its stem uses KerasHub's "same" padding, so KerasHub loads its presets.
    `train` replaces its head, so it is also the architecture of the
    multi-label demo.
    """
    backbone = DenseNetBackbone(
        stackwise_num_repeats=[2, 2, 2], growth_rate=16, stem_padding="same"
    )
    converter = DenseNetImageConverter(image_size=(IMAGE_SIZE, IMAGE_SIZE), scale=1 / 255)
    return DenseNetImageClassifier(
        backbone,
        num_classes=10,
        preprocessor=DenseNetImageClassifierPreprocessor(converter),
    )


def prepare_output(out, overwrite, outputs):
    """Creates the demo folder `out`; with `overwrite`, first removes the
    `outputs` (names inside `out`) of an earlier demo, and nothing else."""
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {str(out)!r} is a file; pass a folder path.")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise CliError(
                f"the demo folder {str(out)!r} is not empty; pass --overwrite "
                "to replace an earlier demo's outputs, or choose another --out."
            )
        for name in outputs:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def command(parser, *argv):
    """Runs one `densenet-hub` command with `parser`, as the shell would,
    after printing it quoted for the shell."""
    print(f"\n$ densenet-hub {shlex.join(argv)}", flush=True)
    args = parser.parse_args(argv)
    status = args.run(args)
    if status != 0:
        raise CliError(f"the demo's `{argv[0]}` step ended with status {status}.")


def step(message):
    """Prints a step's headline."""
    print(f"\n== {message}", flush=True)
