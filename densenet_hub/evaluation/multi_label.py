"""Per-finding metrics of a multi-label classifier, as chest X-ray papers
report them (CheXNet, CheXpert): AUROC and average precision per finding
with their means, bootstrap confidence intervals for AUROC, and sensitivity
and specificity at chosen operating thresholds.

`targets`, `scores` and `weights` are arrays of shape `(images, findings)`:
targets are 0 or 1, scores are the model's per-finding probabilities (any
finite numbers ranking the images work: logits give the same AUROC), and
an entry takes part in the metrics only where its weight is above 0. This
is the "ignore" policy for uncertain or unmentioned labels (CheXpert's
U-Ignore): the entry is left out of that finding's metrics, while the
image still counts for the other findings. Weights are a mask, not sample
weights: their size above 0 does not matter, and targets at masked entries
are never read (they may be -1 or NaN).

The numbers come from scikit-learn (`sklearn.metrics`), an optional
package: `pip install 'densenet-hub[medical]'`; the bootstrap intervals from
`densenet_hub.evaluation.bootstrap`.
"""

import dataclasses
import math

import numpy as np

from densenet_hub.base.publish import publish_json
from densenet_hub.evaluation.bootstrap import auroc_intervals
from densenet_hub.evaluation.inputs import checked_findings
from densenet_hub.evaluation.inputs import checked_matrices
from densenet_hub.evaluation.inputs import checked_thresholds
from densenet_hub.evaluation.inputs import import_sklearn


@dataclasses.dataclass
class FindingMetrics:
    """One finding's metrics over its entries with weight above 0.

    Attributes:
        name: the finding.
        positives: the entries with target 1 (and weight above 0).
        negatives: the entries with target 0 (and weight above 0).
        auroc: the area under the ROC curve (`sklearn.metrics.roc_auc_score`),
            NaN without a positive or without a negative entry.
        average_precision: `sklearn.metrics.average_precision_score`, the
            area under the precision-recall curve as a step function; NaN
            like `auroc`.
        threshold: the operating threshold (scores at or above it count as
            positive), or None when the report was made without thresholds.
        sensitivity: the share of positives at or above `threshold` (None
            without a threshold; NaN without a positive entry).
        specificity: the share of negatives below `threshold` (None without
            a threshold; NaN without a negative entry).
        auroc_ci: `(low, high)`, the percentile bootstrap interval of the
            AUROC, or None (no bootstrap, or AUROC undefined).
        roc: the ROC curve's points `(false_positive_rates,
            true_positive_rates)` from `sklearn.metrics.roc_curve`, for
            drawing; None when AUROC is undefined. Not part of the JSON.
        precision_recall: the precision-recall curve's points `(precisions,
            recalls)` from `sklearn.metrics.precision_recall_curve`, for
            drawing; None when AUROC is undefined. Not part of the JSON.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import multilabel_report

    report = multilabel_report(
        np.array([[0], [1], [1]]), np.array([[0.2], [0.9], [0.4]]), ["Edema"]
    )
    edema = report.findings[0]
    assert (edema.name, edema.positives, edema.negatives, edema.auroc) == ("Edema", 2, 1, 1.0)
    ```
    """

    name: str
    positives: int
    negatives: int
    auroc: float
    average_precision: float
    threshold: float | None = None
    sensitivity: float | None = None
    specificity: float | None = None
    auroc_ci: tuple[float, float] | None = None
    roc: tuple[np.ndarray, np.ndarray] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    precision_recall: tuple[np.ndarray, np.ndarray] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )

    def to_json(self):
        """The metrics as a JSON-able dict: plain floats, NaN as None, no
        ROC points.

        Example:
        ```python
        import math
        from densenet_hub.evaluation import FindingMetrics

        metrics = FindingMetrics("Hernia", 0, 10, math.nan, math.nan)
        assert metrics.to_json()["auroc"] is None
        ```
        """
        return {
            "name": self.name,
            "positives": int(self.positives),
            "negatives": int(self.negatives),
            "auroc": _plain(self.auroc),
            "average_precision": _plain(self.average_precision),
            "threshold": _plain(self.threshold),
            "sensitivity": _plain(self.sensitivity),
            "specificity": _plain(self.specificity),
            "auroc_ci": None if self.auroc_ci is None else [_plain(v) for v in self.auroc_ci],
        }


@dataclasses.dataclass
class MultiLabelReport:
    """Every finding's metrics and their means, as `multilabel_report`
    makes them.

    Attributes:
        findings: a `FindingMetrics` per finding, in the columns' order.
        mean_auroc: the mean AUROC over the findings where it is defined
            (with a positive and a negative entry); NaN if there is none.
        mean_average_precision: the mean average precision over the same
            findings.
        images: the rows (images) evaluated.
        bootstrap: the bootstrap resamples of the AUROC intervals (0: none).
        confidence: the intervals' confidence level, e.g. 0.95.
        seed: the seed of the bootstrap's `numpy.random.Generator`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import multilabel_report

    targets = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    scores = np.array([[0.1, 0.8], [0.7, 0.3], [0.6, 0.4], [0.2, 0.5]])
    report = multilabel_report(targets, scores, ["Edema", "Effusion"])
    assert report.mean_auroc == 0.875  # Edema 1.0, Effusion 0.75
    assert "Effusion" in report.table()
    ```
    """

    findings: list
    mean_auroc: float
    mean_average_precision: float
    images: int
    bootstrap: int = 0
    confidence: float = 0.95
    seed: int | None = 0

    def table(self):
        """The metrics as an aligned text table, as papers print them: one
        row per finding, the mean row, and footnotes on what was left out.

        Example:
        ```python
        import numpy as np
        from densenet_hub.evaluation import multilabel_report

        targets = np.array([[0, 0], [1, 0], [1, 0], [0, 0]])
        scores = np.array([[0.1, 0.8], [0.7, 0.3], [0.6, 0.4], [0.2, 0.5]])
        table = multilabel_report(targets, scores, ["Edema", "Hernia"]).table()
        assert "Mean (1 of 2 findings)" in table and "n/a" in table
        ```
        """
        with_ci = self.bootstrap > 0
        with_thresholds = any(f.threshold is not None for f in self.findings)
        header = ["Finding", "Positives", "Negatives", "AUROC"]
        if with_ci:
            header.append(f"{self.confidence:.0%} CI")
        header.append("AP")
        if with_thresholds:
            header += ["Threshold", "Sensitivity", "Specificity"]
        rows = []
        for finding in self.findings:
            row = [finding.name, str(finding.positives), str(finding.negatives)]
            row.append(_number(finding.auroc))
            if with_ci:
                row.append(_interval(finding.auroc_ci))
            row.append(_number(finding.average_precision))
            if with_thresholds:
                row += [
                    _number(finding.threshold),
                    _number(finding.sensitivity),
                    _number(finding.specificity),
                ]
            rows.append(row)
        defined = [f for f in self.findings if not math.isnan(f.auroc)]
        mean = [f"Mean ({len(defined)} of {len(self.findings)} findings)", "", ""]
        mean.append(_number(self.mean_auroc))
        if with_ci:
            mean.append("")
        mean.append(_number(self.mean_average_precision))
        if with_thresholds:
            mean += ["", "", ""]
        widths = [max(len(row[i]) for row in [header, *rows, mean]) for i in range(len(header))]

        def line(cells):
            # The name column is left-aligned, the numbers right-aligned.
            return "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths))
            ).rstrip()

        rule = "-" * len(line(header))
        lines = [line(header), rule, *map(line, rows), rule, line(mean)]
        lines.append(
            f"{self.images} images; each finding over its entries with weight > 0."
        )
        for finding in self.findings:
            if math.isnan(finding.auroc) and finding.positives + finding.negatives == 0:
                lines.append(
                    f"n/a: {finding.name} has no usable label here (no column, or "
                    "every entry empty or left out by the label policies); it is "
                    "left out of the mean."
                )
            elif math.isnan(finding.auroc):
                missing = "positive" if finding.positives == 0 else "negative"
                lines.append(
                    f"n/a: {finding.name} has no {missing} entry, so its AUROC and AP "
                    "are undefined; it is left out of the mean."
                )
        if with_ci:
            lines.append(
                f"CI: percentile bootstrap over {self.bootstrap} resamples of the "
                f"images (seed {self.seed}); resamples lacking a finding's positives "
                "or negatives are skipped for that finding."
            )
        if with_thresholds:
            lines.append("Sensitivity and specificity count scores >= threshold as positive.")
        return "\n".join(lines)

    def to_json(self):
        """The report as a plain JSON-able dict: floats, NaN as None, no ROC
        points.

        Example:
        ```python
        import json
        import numpy as np
        from densenet_hub.evaluation import multilabel_report

        report = multilabel_report(np.array([[0], [1]]), np.array([[0.3], [0.6]]), ["Mass"])
        document = json.loads(json.dumps(report.to_json(), allow_nan=False))
        assert document["findings"][0]["auroc"] == 1.0
        ```
        """
        return {
            "images": int(self.images),
            "mean_auroc": _plain(self.mean_auroc),
            "mean_average_precision": _plain(self.mean_average_precision),
            "findings_in_mean": sum(not math.isnan(f.auroc) for f in self.findings),
            "bootstrap": int(self.bootstrap),
            "confidence": float(self.confidence),
            "seed": self.seed,
            "findings": [finding.to_json() for finding in self.findings],
        }

    def save_json(self, path, overwrite=False):
        """Writes `to_json()` to `path`, atomically (the file is complete or
        absent, never half-written).

        Args:
            path: the JSON file to write.
            overwrite: replace an existing file at `path`.

        Example:
        ```python
        import json, pathlib, tempfile
        import numpy as np
        from densenet_hub.evaluation import multilabel_report

        report = multilabel_report(np.array([[0], [1]]), np.array([[0.3], [0.6]]), ["Mass"])
        path = pathlib.Path(tempfile.mkdtemp()) / "metrics.json"
        report.save_json(path)
        assert json.loads(path.read_text())["mean_auroc"] == 1.0
        ```
        """
        publish_json(path, self.to_json(), overwrite)


def multilabel_report(
    targets, scores, findings, weights=None, thresholds=None, bootstrap=0,
    confidence=0.95, seed=0,
):  # fmt: skip
    """Per-finding AUROC and average precision, their means, and optionally
    bootstrap intervals and sensitivity/specificity at thresholds.

    A finding without a positive or without a negative entry (a rare one in
    a small evaluation set) gets NaN AUROC and AP, noted in the table, and
    is left out of the means.

    The AUROC intervals resample the images (rows) with replacement: resample
    k is `rng.integers(0, images, size=images)`, drawn in turn from
    `numpy.random.default_rng(seed)`, and each image keeps all its findings,
    so the findings' correlation is preserved. For each finding the AUROC of
    every resample with at least one positive and one negative entry is
    computed (the others are skipped: the interval is conditional on the
    finding being present, and for a very rare one rests on fewer
    resamples), and the interval is the
    `(1 - confidence) / 2` and `(1 + confidence) / 2` percentiles of those
    (`numpy.percentile`, linear). The resamples' AUROCs are computed together
    with numpy: 1000 resamples of 1000 images with 14 findings take about
    0.2 s on one CPU core, of ChestX-ray14's 25,596 test images about 3 s.

    Args:
        targets: 0/1 labels, shape `(images, findings)`.
        scores: the model's finite scores, same shape.
        findings: the findings' names, one per column.
        weights: None (every entry counts) or an array of the same shape:
            an entry takes part only where its weight is above 0.
        thresholds: None, or one threshold per finding (e.g. from
            `choose_thresholds` on a validation set) at which sensitivity
            and specificity are reported, scores at or above it positive.
        bootstrap: the resamples for the AUROC intervals; 0 for none.
        confidence: the intervals' level, between 0 and 1.
        seed: the seed of the resampling.

    Returns:
        A `MultiLabelReport`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import multilabel_report

    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, (200, 3))
    scores = targets * 0.3 + rng.random((200, 3))
    weights = np.ones((200, 3))
    weights[:20, 2] = 0  # uncertain labels, left out
    report = multilabel_report(
        targets, scores, ["Atelectasis", "Edema", "Effusion"], weights,
        thresholds=[0.6, 0.6, 0.6], bootstrap=100,
    )
    low, high = report.findings[0].auroc_ci
    assert low < report.findings[0].auroc < high
    assert report.findings[2].positives + report.findings[2].negatives == 180
    ```
    """
    owner = "multilabel_report"
    targets, scores, mask = checked_matrices(owner, targets, scores, weights)
    findings = checked_findings(owner, findings, scores.shape[1])
    if thresholds is not None:
        thresholds = checked_thresholds(owner, thresholds, scores.shape[1])
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(
            f"{owner}: `bootstrap` must be a whole number of resamples, 0 for "
            f"none (e.g. 1000), got {bootstrap!r}."
        )
    if not 0 < confidence < 1:
        raise ValueError(
            f"{owner}: `confidence` must be between 0 and 1 (e.g. 0.95), got {confidence!r}."
        )
    metrics = import_sklearn("sklearn.metrics", "Evaluating AUROC")
    results = []
    for column, name in enumerate(findings):
        rows = mask[:, column]
        truth, score = targets[rows, column], scores[rows, column]
        positives = int(truth.sum())
        negatives = truth.size - positives
        defined = positives > 0 and negatives > 0
        result = FindingMetrics(
            name, positives, negatives,
            float(metrics.roc_auc_score(truth, score)) if defined else math.nan,
            float(metrics.average_precision_score(truth, score)) if defined else math.nan,
        )  # fmt: skip
        if defined:
            fpr, tpr, _ = metrics.roc_curve(truth, score)
            result.roc = (fpr, tpr)
            precision, recall, _ = metrics.precision_recall_curve(truth, score)
            result.precision_recall = (precision, recall)
        if thresholds is not None:
            predicted = score >= thresholds[column]
            result.threshold = float(thresholds[column])
            result.sensitivity = _share(predicted[truth == 1])
            result.specificity = _share(~predicted[truth == 0])
        results.append(result)
    if bootstrap:
        intervals = auroc_intervals(targets, scores, mask, bootstrap, confidence, seed)
        for result, interval in zip(results, intervals):
            if not math.isnan(result.auroc):
                result.auroc_ci = interval
    defined = [result for result in results if not math.isnan(result.auroc)]
    return MultiLabelReport(
        findings=results,
        mean_auroc=float(np.mean([r.auroc for r in defined])) if defined else math.nan,
        mean_average_precision=(
            float(np.mean([r.average_precision for r in defined])) if defined else math.nan
        ),
        images=scores.shape[0],
        bootstrap=int(bootstrap),
        confidence=float(confidence),
        seed=seed,
    )


def _share(flags):
    return float(flags.mean()) if flags.size else math.nan


def _plain(value):
    return None if value is None or math.isnan(value) else float(value)


def _number(value):
    return "" if value is None else "n/a" if math.isnan(value) else f"{value:.4f}"


def _interval(interval):
    return "" if interval is None else f"{interval[0]:.4f}-{interval[1]:.4f}"
