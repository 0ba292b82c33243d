"""The train/validation split of a labelled image set."""

import numpy as np


def stratified_split(labels, val_split=0.2, seed=0):
    """Row indices `(train, validation)`, splitting each class separately.

    Every class keeps at least one row on each side, so each needs two.

    Args:
        labels: an int array of class indices, one per image.
        val_split: the fraction of each class kept for validation,
            between 0 and 1 (rounded, and at least one row).
        seed: seed of the random choice of validation rows.

    Returns:
        Two sorted int arrays of row indices into `labels`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.training import stratified_split

    train, val = stratified_split(np.array([0, 0, 0, 1, 1, 1]), val_split=0.3)
    assert (len(train), len(val)) == (4, 2)  # one validation row per class
    ```
    """
    labels = np.asarray(labels)
    if not 0 < val_split < 1:
        raise ValueError(
            f"stratified_split: `val_split` must be between 0 and 1, e.g. 0.2, "
            f"got {val_split!r}."
        )
    classes, counts = np.unique(labels, return_counts=True)
    if labels.size and counts.min() < 2:
        raise ValueError(
            f"stratified_split: class {classes[counts.argmin()]} has "
            f"{counts.min()} image(s) but every class needs at least 2 (one "
            "for training and one for validation); add images of that class."
        )
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in classes:
        rows = rng.permutation(np.flatnonzero(labels == label))
        count = min(max(1, round(len(rows) * val_split)), len(rows) - 1)
        val.extend(rows[:count])
        train.extend(rows[count:])
    return np.sort(np.asarray(train, "int64")), np.sort(np.asarray(val, "int64"))
