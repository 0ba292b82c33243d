"""Percentile bootstrap intervals of each finding's AUROC, every resample
computed at once with numpy (scikit-learn would take one call per resample
and finding)."""

import numpy as np

# Bootstrap resamples are processed in groups of about this many counts, so
# that memory stays small for large evaluation sets (25,596 test images in
# ChestX-ray14).
BOOTSTRAP_CHUNK_ENTRIES = 1 << 22


def auroc_intervals(targets, scores, mask, bootstrap, confidence, seed):
    """The percentile interval of each finding's AUROC over `bootstrap`
    resamples of the rows (None where no resample had both classes), drawn
    and cut as `multilabel_report` states.

    Args:
        targets, scores, mask: as `checked_matrices` returns them: 0/1
            targets, finite scores and the entries taking part, each of
            shape `(images, findings)`.
        bootstrap: the resamples.
        confidence: the intervals' level, between 0 and 1.
        seed: the seed of `numpy.random.default_rng`.
    """
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
