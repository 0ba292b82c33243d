"""The inputs every metric of `densenet_hub.evaluation` takes, checked
once here, and scikit-learn, the optional package that computes them.

`targets`, `scores` and `weights` are arrays of shape `(images, findings)`:
targets are 0 or 1, scores are the model's per-finding scores, and an entry
takes part in the metrics only where its weight is above 0. `owner` is the
public function's name, which every error message starts with.
"""

import numpy as np

from densenet_hub.base.optional import extra_fix
from densenet_hub.base.optional import import_optional

SKLEARN_FIX = extra_fix("medical")


def import_sklearn(module, purpose):
    """scikit-learn's `module` (e.g. `"sklearn.metrics"`), or a
    `MissingOptionalPackageError` naming `purpose` and the pip command."""
    return import_optional(module, SKLEARN_FIX, purpose)


def checked_matrices(owner, targets, scores, weights):
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


def checked_findings(owner, findings, columns):
    """`findings` as a list of distinct names, one per column, or a
    `ValueError` saying what is wrong."""
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


def checked_thresholds(owner, thresholds, columns):
    """`thresholds` as a float64 array of one finite threshold per column,
    or a `ValueError` saying what is wrong."""
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
