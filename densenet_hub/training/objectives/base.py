"""`Objective`: what single-label and multi-label training share, the
interface `finetune`, `densenet-hub train` and the demo ask."""

import math

import numpy as np

from densenet_hub.inference import score_files
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE


class Objective:
    """The interface `SingleLabelObjective` and `MultiLabelObjective` share;
    its defaults are what a single-label objective does (no thresholds, no
    extra checkpoint settings, nothing more to log).

    Attributes:
        targets: what the batches carry as labels, one row per image.
        weights: `None`, or a weight per (image, finding) entry.
        names: the class (finding) names, in class-index order.
        multi_label: whether the labels are multi-label (a sigmoid head).
        activation: the head's activation a classifier for these labels
            needs (`None`: KerasHub's default).
        monitor: the validation metric (a `fit` log name) a run is judged by.
        monitor_title: that metric in words.
        threshold_rule: how `choose_thresholds` chooses, in words, or `None`.
    """

    weights = None
    multi_label = False
    activation = None
    threshold_rule = None

    def settings(self, train_rows):
        """What a resumed run must share beyond the split's files: a dict."""
        return {}

    def split_lines(self, train_rows, val_rows):
        """Lines describing the split for the log, beyond the image counts."""
        return []

    def split_counts(self, train_rows, val_rows):
        """Per-finding label counts of each side, or `None`."""
        return None

    def positive_weights(self, train_rows):
        """The loss factor of each finding's positive entries, or `None`."""
        return None

    def choose_thresholds(self, classifier, val_data):
        """Decision thresholds chosen on the validation batches, or `None`."""
        return None

    def score_text(self, metrics):
        """The monitored metric of a `fit`-style `metrics` dict, in words."""
        return f"{self.monitor_title} {metrics.get(self.monitor, math.nan):.4f}"

    def evaluate(self, classifier, paths, batch_size=DEFAULT_BATCH_SIZE, on_error="skip",
                 on_batch=None, **report_options):  # fmt: skip
        """Scores the images at `paths` (one per label row, in order) with
        `classifier` and reports this objective's metrics on them.

        Args:
            classifier: an `ImageClassifier` with its preprocessor, whose
                outputs are this objective's classes in order.
            paths: the image file of each label row.
            batch_size, on_error, on_batch: as for
                `densenet_hub.inference.score_files`.
            **report_options: passed on to `report`.

        Returns:
            What `report` returns, for the images that could be read.

        Example:
        ```python
        import tempfile
        import numpy as np
        import PIL.Image
        import densenet_hub
        from densenet_hub.training import SingleLabelObjective

        folder = tempfile.mkdtemp()
        paths = [f"{folder}/{i}.png" for i in range(4)]
        for i, path in enumerate(paths):
            PIL.Image.fromarray(np.full((32, 32, 3), 60 * i, "uint8")).save(path)
        backbone = densenet_hub.models.DenseNetBackbone(
            stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
        )
        converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
        classifier = densenet_hub.models.DenseNetImageClassifier(
            backbone, num_classes=2,
            preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
        )
        report = SingleLabelObjective([0, 0, 1, 1], ["dark", "bright"]).evaluate(classifier, paths)
        assert report.images == 4 and report.class_names == ["dark", "bright"]
        ```
        """
        scores, kept = score_files(classifier, paths, batch_size, on_error, on_batch=on_batch)
        return self.report(scores, kept, **report_options)


def label_rows(rows, targets):
    """`rows` as an int array, or every row of `targets` when `None`."""
    return np.arange(len(targets)) if rows is None else np.asarray(rows, "int64")
