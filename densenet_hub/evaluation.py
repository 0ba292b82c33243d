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
package: `pip install 'densenet-hub[medical]'`.
"""

import dataclasses
import json
import math

import numpy as np

from densenet_hub.inference import score_files
from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional
from densenet_hub.base.publish import published
from densenet_hub.base.publish import write_file

# youden: the point of the ROC curve maximising Youden's J = sensitivity +
# specificity - 1, which weighs a missed finding and a false alarm alike
# whatever the finding's prevalence. f1: the threshold maximising F1, the
# harmonic mean of precision and sensitivity, which keeps false alarms few
# for a rare finding (CheXNet compares itself to radiologists by F1).
THRESHOLD_RULES = ("youden", "f1")
SKLEARN_FIX = extra_fix("medical")
# Bootstrap resamples are processed in groups of about this many counts, so
# that memory stays small for large evaluation sets (25,596 test images in
# ChestX-ray14).
BOOTSTRAP_CHUNK_ENTRIES = 1 << 22


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
            if math.isnan(finding.auroc):
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
        data = json.dumps(self.to_json(), indent=4, allow_nan=False).encode("utf-8")
        with published(path, overwrite) as staging:
            write_file(staging, data + b"\n")


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
    targets, scores, mask = _checked(owner, targets, scores, weights)
    findings = _checked_findings(owner, findings, scores.shape[1])
    if thresholds is not None:
        thresholds = _checked_thresholds(owner, thresholds, scores.shape[1])
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(
            f"{owner}: `bootstrap` must be a whole number of resamples, 0 for "
            f"none (e.g. 1000), got {bootstrap!r}."
        )
    if not 0 < confidence < 1:
        raise ValueError(
            f"{owner}: `confidence` must be between 0 and 1 (e.g. 0.95), got {confidence!r}."
        )
    metrics = import_optional("sklearn.metrics", SKLEARN_FIX, "Evaluating AUROC")
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
        if thresholds is not None:
            predicted = score >= thresholds[column]
            result.threshold = float(thresholds[column])
            result.sensitivity = _share(predicted[truth == 1])
            result.specificity = _share(~predicted[truth == 0])
        results.append(result)
    if bootstrap:
        intervals = _bootstrap_intervals(targets, scores, mask, bootstrap, confidence, seed)
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


def choose_thresholds(targets, scores, weights=None, rule="youden", findings=None):
    """One operating threshold per finding, chosen on (validation) data by
    `rule`; scores at or above a threshold count as positive.

    Each threshold is one of the finding's own scores (over its entries with
    weight above 0), a point of `sklearn.metrics.roc_curve`: `youden` takes
    the one maximising sensitivity + specificity - 1, `f1` the one
    maximising F1 = 2 TP / (2 TP + FP + FN). Ties, compared exactly on the
    counts, go to the highest threshold (fewer positive calls). When with
    `youden` no threshold beats calling every image negative (J = 0), that
    is the choice: the threshold is the next float above the finding's
    highest score.

    Choose thresholds on a validation set and report them on the test set:
    chosen on the test set itself, sensitivity and specificity are biased
    upwards.

    Args:
        targets: 0/1 labels, shape `(images, findings)`.
        scores: the model's finite scores, same shape.
        weights: None (every entry counts) or an array of the same shape:
            an entry takes part only where its weight is above 0.
        rule: one of `THRESHOLD_RULES`: "youden" or "f1".
        findings: the findings' names, for error messages (default
            "finding 0", "finding 1", ...).

    Returns:
        A float64 array of one threshold per finding.

    Raises:
        ValueError: a finding has no positive or no negative entry, so no
            threshold can be chosen for it (the message names it).

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import choose_thresholds

    targets = np.array([[0], [0], [1], [0], [1], [1]])
    scores = np.array([[0.1], [0.3], [0.35], [0.6], [0.7], [0.9]])
    # J = 2/3 at 0.7 (2 of 3 positives found, no false alarm) and at 0.35
    # (3 of 3 found, 1 of 3 negatives called): ties go to the higher one.
    assert choose_thresholds(targets, scores).tolist() == [0.7]
    # F1 = 6/7 at 0.35 (precision 3/4, sensitivity 1), 4/5 at 0.7.
    assert choose_thresholds(targets, scores, rule="f1").tolist() == [0.35]
    ```
    """
    owner = "choose_thresholds"
    if rule not in THRESHOLD_RULES:
        raise ValueError(
            f"{owner}: `rule` must be one of {', '.join(map(repr, THRESHOLD_RULES))}, "
            f"got {rule!r}."
        )
    targets, scores, mask = _checked(owner, targets, scores, weights)
    if findings is None:
        findings = [f"finding {column}" for column in range(scores.shape[1])]
    findings = _checked_findings(owner, findings, scores.shape[1])
    metrics = import_optional("sklearn.metrics", SKLEARN_FIX, "Choosing thresholds")
    thresholds = np.empty(scores.shape[1])
    for column, name in enumerate(findings):
        rows = mask[:, column]
        truth, score = targets[rows, column], scores[rows, column]
        positives = int(truth.sum())
        if positives == 0 or positives == truth.size:
            missing = "positive" if positives == 0 else "negative"
            raise ValueError(
                f"{owner}: {name} has no {missing} entry among its {truth.size} "
                f"entries with weight > 0, so no threshold can be chosen for it. "
                "Choose thresholds on a set with both, or set this one by hand."
            )
        fpr, tpr, candidates = metrics.roc_curve(truth, score, drop_intermediate=False)
        # Counts, not rates, so that ties are exact: in floats 1 - 1/3 and
        # 2/3 - 0 differ, and the tie rule would depend on rounding.
        negatives = truth.size - positives
        found, false_alarms = np.rint(tpr * positives), np.rint(fpr * negatives)
        if rule == "youden":
            merit = found * negatives - false_alarms * positives
        else:
            merit = 2 * found / (found + false_alarms + positives)
        # roc_curve lists thresholds from the highest: the first maximum is
        # the highest threshold among ties.
        best = candidates[np.argmax(merit)]
        # roc_curve's first threshold is inf ("no image positive").
        thresholds[column] = best if np.isfinite(best) else np.nextafter(score.max(), np.inf)
    return thresholds


def _bootstrap_intervals(targets, scores, mask, bootstrap, confidence, seed):
    """The percentile interval of each finding's AUROC over `bootstrap`
    resamples of the rows (None where no resample had both classes)."""
    images, columns = scores.shape
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, images, size=images) for _ in range(bootstrap)]
    # The AUROC of a resample only needs how often each row was drawn.
    setups = [_auroc_setup(targets[:, c], scores[:, c], mask[:, c]) for c in range(columns)]
    values = [[] for _ in range(columns)]
    chunk = max(1, BOOTSTRAP_CHUNK_ENTRIES // images)
    for start in range(0, bootstrap, chunk):
        group = np.stack(draws[start : start + chunk])
        offsets = np.arange(len(group))[:, None] * images
        counts = np.bincount((group + offsets).ravel(), minlength=group.size)
        counts = counts.reshape(len(group), images).astype("float64")
        for column, setup in enumerate(setups):
            if setup is not None:
                values[column].append(_weighted_auroc(counts, *setup))
    low, high = 50 * (1 - confidence), 50 * (1 + confidence)
    intervals = []
    for column in range(columns):
        found = np.concatenate(values[column]) if values[column] else np.empty(0)
        found = found[~np.isnan(found)]
        if found.size:
            intervals.append(tuple(float(v) for v in np.percentile(found, [low, high])))
        else:
            intervals.append(None)
    return intervals


def _auroc_setup(truth, score, rows):
    """What `_weighted_auroc` needs of one finding, computed once: its
    positive rows, its negative rows sorted by score, and for each positive
    where its score falls among the sorted negatives."""
    positive = np.flatnonzero(rows & (truth == 1))
    negative = np.flatnonzero(rows & (truth == 0))
    if not positive.size or not negative.size:
        return None
    negative = negative[np.argsort(score[negative], kind="stable")]
    ordered = score[negative]
    below = np.searchsorted(ordered, score[positive], side="left")
    up_to = np.searchsorted(ordered, score[positive], side="right")
    return positive, negative, below, up_to


def _weighted_auroc(counts, positive, negative, below, up_to):
    """The AUROC of each resample (a row of `counts`, how often each image
    was drawn), by the Mann-Whitney statistic: the share of (positive,
    negative) pairs ranked right, ties counting a half. NaN for resamples
    without a positive or a negative."""
    positives = counts[:, positive]
    cumulative = np.zeros((len(counts), negative.size + 1))
    np.cumsum(counts[:, negative], axis=1, out=cumulative[:, 1:])
    lower = cumulative[:, below]
    tied = cumulative[:, up_to] - lower
    pairs = positives.sum(axis=1) * cumulative[:, -1]
    right = (positives * (lower + 0.5 * tied)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, right / pairs, np.nan)


def _checked(owner, targets, scores, weights):
    """`(targets, scores, mask)` as float64, float64 and bool arrays of one
    shape `(images, findings)`, or a `ValueError` naming what is wrong."""
    scores = _matrix(owner, "scores", scores)
    targets = _matrix(owner, "targets", targets)
    if targets.shape != scores.shape:
        raise ValueError(
            f"{owner}: `targets` and `scores` must have one shape (images, "
            f"findings), got targets {targets.shape} and scores {scores.shape}."
        )
    if not scores.shape[0]:
        raise ValueError(f"{owner}: got no images (0 rows); pass at least one.")
    if weights is None:
        mask = np.ones(scores.shape, bool)
    else:
        weights = _matrix(owner, "weights", weights)
        if weights.shape != scores.shape:
            raise ValueError(
                f"{owner}: `weights` must have the shape of `targets` and `scores`, "
                f"{scores.shape}, got {weights.shape}."
            )
        if np.isnan(weights).any():
            raise ValueError(
                f"{owner}: `weights` holds NaN; use 0 for entries to leave out."
            )
        mask = weights > 0
    bad = ~np.isfinite(scores)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"{owner}: `scores` must be finite, got {scores[row, column]} at row "
            f"{row}, column {column} ({int(bad.sum())} such entries). Check the "
            "model's outputs (a diverged model gives NaN)."
        )
    bad = mask & (targets != 0) & (targets != 1)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"{owner}: `targets` must be 0 or 1 where the weight is above 0, got "
            f"{targets[row, column]} at row {row}, column {column} "
            f"({int(bad.sum())} such entries). Map uncertain labels to 0 or 1, "
            "or give them weight 0 to leave them out."
        )
    return np.where(mask, targets, 0), scores, mask


def _matrix(owner, name, value):
    try:
        array = np.asarray(value, dtype="float64")
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{owner}: `{name}` must be a numeric array of shape (images, "
            f"findings), got {type(value).__name__} ({error})."
        ) from None
    if array.ndim != 2:
        raise ValueError(
            f"{owner}: `{name}` must have shape (images, findings), got shape "
            f"{array.shape}. For a single finding use `{name}.reshape(-1, 1)`."
        )
    return array


def _checked_findings(owner, findings, columns):
    if isinstance(findings, str):
        findings = [findings]
    findings = [str(name) for name in findings]
    if len(findings) != columns:
        raise ValueError(
            f"{owner}: `findings` must name each of the {columns} columns, got "
            f"{len(findings)} names."
        )
    repeated = sorted({name for name in findings if findings.count(name) > 1})
    if repeated:
        raise ValueError(f"{owner}: `findings` names {', '.join(repeated)} more than once.")
    return findings


def _checked_thresholds(owner, thresholds, columns):
    try:
        array = np.asarray(thresholds, dtype="float64")
    except (TypeError, ValueError):
        array = None
    if array is None or array.shape != (columns,) or not np.isfinite(array).all():
        raise ValueError(
            f"{owner}: `thresholds` must be {columns} finite numbers, one per "
            f"finding (e.g. from choose_thresholds), got {thresholds!r}."
        )
    return array


def _share(flags):
    return float(flags.mean()) if flags.size else math.nan


def _plain(value):
    return None if value is None or math.isnan(value) else float(value)


def _number(value):
    return "" if value is None else "n/a" if math.isnan(value) else f"{value:.4f}"


def _interval(interval):
    return "" if interval is None else f"{interval[0]:.4f}-{interval[1]:.4f}"


def evaluate_table(
    classifier, table, class_names=None, thresholds=None, batch_size=32, on_error="skip",
    bootstrap=0, confidence=0.95, seed=0, predictor=None, on_batch=None,
):  # fmt: skip
    """Runs a multi-label classifier over a label table's images and reports
    its metrics on the table's findings.

    Args:
        classifier: an `ImageClassifier` with a preprocessor and a sigmoid
            head (or logits: AUROC and AP only depend on the ranking).
        table: a `densenet_hub.data.LabelTable`, e.g. from
            `read_label_table("test.csv", uncertainty="ignore")`.
        class_names: the classifier's output names; each finding of the
            table is matched to the output of that name. `None` (a head
            without names, such as a converted CheXNet checkpoint): the
            table's findings are the outputs in order, and their counts
            must agree.
        thresholds: `None` or one decision threshold per classifier output
            (e.g. a preset's `ClassLabels.thresholds`).
        batch_size, on_error, predictor, on_batch: as for
            `densenet_hub.inference.score_files`.
        bootstrap, confidence, seed: as for `multilabel_report`.

    Returns:
        `(report, probabilities, kept)`: the `MultiLabelReport`, the
        `(len(kept), len(table.findings))` probabilities of the table's
        findings and the table rows that could be read.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.evaluation import evaluate_table

    folder = tempfile.mkdtemp()
    lines = ["Path,Effusion,Edema"]
    for i, cells in enumerate(["1,0", "0,1", "1,-1", "0,0"]):
        pixels = np.full((32, 32, 3), 50 * i, "uint8")
        PIL.Image.fromarray(pixels).save(f"{folder}/{i}.png")
        lines.append(f"{i}.png,{cells}")
    with open(f"{folder}/test.csv", "w") as file:
        file.write("\\n".join(lines) + "\\n")
    table = densenet_hub.data.read_label_table(f"{folder}/test.csv")
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=2, activation="sigmoid",
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    report, probabilities, kept = evaluate_table(classifier, table, ["Effusion", "Edema"])
    assert [f.name for f in report.findings] == ["Effusion", "Edema"]
    assert report.findings[1].positives == 1  # the uncertain -1 is ignored
    ```
    """
    columns = _output_columns(table.findings, class_names, classifier.num_classes)
    probabilities, kept = score_files(
        classifier, table.paths, batch_size, on_error, predictor, on_batch
    )
    probabilities = probabilities[:, columns]
    report = multilabel_report(
        table.targets[kept],
        probabilities,
        table.findings,
        weights=table.weights[kept],
        thresholds=None if thresholds is None else [thresholds[c] for c in columns],
        bootstrap=bootstrap,
        confidence=confidence,
        seed=seed,
    )
    return report, probabilities, kept


def _output_columns(findings, class_names, num_classes):
    """The classifier output of each finding of a table."""
    if class_names is None:
        if len(findings) != num_classes:
            raise ValueError(
                f"the table has {len(findings)} findings but the classifier "
                f"{num_classes} unnamed outputs; name its outputs (class_names) "
                "or choose as many findings, in the outputs' order."
            )
        return list(range(num_classes))
    position = {name: index for index, name in enumerate(class_names)}
    unknown = [name for name in findings if name not in position]
    if unknown:
        raise ValueError(
            f"finding(s) {', '.join(map(repr, unknown[:10]))} of the table are "
            f"not outputs of the classifier, whose classes are "
            f"{', '.join(map(repr, class_names[:20]))}; choose the table's "
            "findings (--findings) among them."
        )
    return [position[name] for name in findings]
