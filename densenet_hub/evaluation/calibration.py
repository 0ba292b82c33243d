"""Calibration of a multi-label classifier's probabilities: per finding, a
reliability curve (how often the finding is present among the images given
a probability near p; a calibrated model lies on the diagonal) and the
expected calibration error.

Bins are `bins` equal-width intervals of [0, 1]: bin k holds the
probabilities in `(k / bins, (k + 1) / bins]`, the first also 0, as
`sklearn.calibration.calibration_curve(..., strategy="uniform")` bins them.
"""

import dataclasses

import numpy as np

from densenet_hub.evaluation.inputs import checked_findings
from densenet_hub.evaluation.inputs import checked_matrices

DEFAULT_BINS = 10


@dataclasses.dataclass
class ReliabilityCurve:
    """One finding's reliability curve over its entries with weight above 0.

    Attributes:
        name: the finding.
        mean_probabilities: each bin's mean probability, NaN for an empty
            bin; shape `(bins,)`.
        positive_fractions: each bin's share of entries with target 1, NaN
            for an empty bin.
        counts: each bin's entries (int64).

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import reliability_curves

    (curve,) = reliability_curves([[0], [1], [1], [1]], [[0.1], [0.2], [0.7], [0.9]],
                                  ["Edema"], bins=2)
    assert curve.counts.tolist() == [2, 2]
    assert curve.positive_fractions.tolist() == [0.5, 1.0]
    assert np.allclose(curve.mean_probabilities, [0.15, 0.8])
    ```
    """

    name: str
    mean_probabilities: np.ndarray
    positive_fractions: np.ndarray
    counts: np.ndarray

    @property
    def expected_calibration_error(self):
        """The mean gap between a bin's share of positives and its mean
        probability, weighted by the bin's entries; NaN without entries.

        Example:
        ```python
        from densenet_hub.evaluation import reliability_curves

        (curve,) = reliability_curves([[0], [1], [1], [1]], [[0.1], [0.2], [0.7], [0.9]],
                                      ["Edema"], bins=2)
        # Bin 1: 2 entries, |0.5 - 0.15|; bin 2: 2 entries, |1.0 - 0.8|.
        assert abs(curve.expected_calibration_error - (0.35 + 0.2) / 2) < 1e-12
        ```
        """
        total = self.counts.sum()
        if not total:
            return float("nan")
        filled = self.counts > 0
        gaps = np.abs(self.positive_fractions[filled] - self.mean_probabilities[filled])
        return float(np.sum(self.counts[filled] * gaps) / total)


def reliability_curves(targets, probabilities, findings, weights=None, bins=DEFAULT_BINS):
    """Each finding's reliability curve: its entries binned by probability,
    with each bin's mean probability and share of positives.

    Args:
        targets: 0/1 labels, shape `(images, findings)`.
        probabilities: the model's probabilities, same shape, in [0, 1] (a
            sigmoid head's outputs; pass logits through a sigmoid first).
        findings: the findings' names, one per column.
        weights: None (every entry counts) or an array of the same shape:
            an entry takes part only where its weight is above 0.
        bins: the number of equal-width bins.

    Returns:
        A `ReliabilityCurve` per finding, in the columns' order.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation import reliability_curves

    rng = np.random.default_rng(0)
    probabilities = rng.random((2000, 2))
    targets = rng.random((2000, 2)) < probabilities  # calibrated by construction
    curves = reliability_curves(targets, probabilities, ["Edema", "Effusion"])
    assert all(curve.expected_calibration_error < 0.05 for curve in curves)
    ```
    """
    owner = "reliability_curves"
    targets, probabilities, mask = checked_matrices(owner, targets, probabilities, weights)
    findings = checked_findings(owner, findings, probabilities.shape[1])
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(
            f"{owner}: `bins` must be a whole number above 0 (e.g. 10), got {bins!r}."
        )
    outside = mask & ((probabilities < 0) | (probabilities > 1))
    if outside.any():
        row, column = np.argwhere(outside)[0]
        raise ValueError(
            f"{owner}: `probabilities` must lie in [0, 1], got "
            f"{probabilities[row, column]} at row {row}, column {column} "
            f"({int(outside.sum())} such entries). Logits? Pass them through a "
            "sigmoid first."
        )
    inner_edges = np.linspace(0, 1, bins + 1)[1:-1]
    curves = []
    for column, name in enumerate(findings):
        rows = mask[:, column]
        probability, truth = probabilities[rows, column], targets[rows, column]
        # side="left": a probability on an edge belongs to the lower bin.
        which = np.searchsorted(inner_edges, probability)
        counts = np.bincount(which, minlength=bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.bincount(which, weights=probability, minlength=bins) / counts
            fractions = np.bincount(which, weights=truth, minlength=bins) / counts
        curves.append(ReliabilityCurve(name, means, fractions, counts.astype("int64")))
    return curves
