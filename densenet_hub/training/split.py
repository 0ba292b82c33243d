"""The train/validation split of a labelled image set."""

import numpy as np

# Shares closer than this count as equal.
TIE = 1e-9


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


def multilabel_split(targets, val_split=0.2, seed=0, groups=None, weights=None):
    """Row indices `(train, validation)` of a multi-label table, keeping each
    group (patient) on one side and each finding's positives in proportion.

    Images of one patient on both sides leak the patient into validation and
    inflate its scores, so groups are never split. Within that, the split
    aims for `val_split` of every finding's positive entries and of the rows
    in validation: groups are taken in a random order (by `seed`), those
    with the rarest findings first, and each goes to the side that still
    lacks the larger share of its rarest finding (then of rows). Each side
    gets at least one group.

    Args:
        targets: a `[rows, findings]` array of 0 and 1.
        val_split: the fraction kept for validation, between 0 and 1.
        seed: seed of the order groups are placed in.
        groups: the group (e.g. patient id) of each row; by default every
            row is its own group.
        weights: a `[rows, findings]` array; only entries with a weight
            above 0 count as positives (see `LabelTable.weights`).

    Returns:
        Two sorted int arrays of row indices into `targets`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.training import multilabel_split

    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 0]])
    patients = np.array(["a", "a", "b", "c", "d", "e"])
    train, val = multilabel_split(targets, val_split=0.4, groups=patients)
    assert sorted([*train, *val]) == list(range(6))
    assert {0, 1} <= set(train) or {0, 1} <= set(val)  # patient a stays whole
    ```
    """
    owner = "multilabel_split"
    targets = _check_targets(owner, targets)
    if not 0 < val_split < 1:
        raise ValueError(
            f"{owner}: `val_split` must be between 0 and 1, e.g. 0.2, "
            f"got {val_split!r}."
        )
    rows = len(targets)
    positive = (targets == 1) & _counted(owner, targets, weights)
    if groups is None:
        groups = np.arange(rows)
    groups = np.asarray(groups)
    if groups.shape != (rows,):
        raise ValueError(
            f"{owner}: `groups` needs one id per row, shape ({rows},), got "
            f"shape {groups.shape}."
        )
    _, group_of_row = np.unique(groups, return_inverse=True)
    group_of_row = group_of_row.reshape(-1)
    group_count = int(group_of_row.max()) + 1 if rows else 0
    if group_count < 2:
        raise ValueError(
            f"{owner}: {group_count} group(s) in {rows} row(s), but a split "
            "needs at least 2 (one for training and one for validation); add "
            "images of other patients."
        )
    group_positives = np.zeros((group_count, targets.shape[1]), "int64")
    np.add.at(group_positives, group_of_row, positive)
    group_rows = np.bincount(group_of_row, minlength=group_count)
    totals = group_positives.sum(axis=0)
    # A group's rarest finding is the one with the fewest positives overall;
    # groups without positives come last and only balance the rows.
    rarity = np.where(group_positives > 0, totals, np.inf)
    rarest = rarity.argmin(axis=1).tolist()
    fewest = rarity.min(axis=1)
    has_positives = np.isfinite(fewest)
    rng = np.random.default_rng(seed)
    order = rng.permutation(group_count)
    order = order[np.argsort(fewest[order], kind="stable")]
    shares = (1 - val_split, val_split)
    wanted = [(share * totals).tolist() for share in shares]  # [side][finding]
    wanted_rows = [share * rows for share in shares]
    have = np.zeros((2, targets.shape[1]))
    have_rows = [0, 0]
    side_of_group = np.zeros(group_count, "int64")
    for group in order.tolist():
        # The share of its rarest finding (or, on a tie, of rows) each side
        # still lacks; a full tie goes to validation with probability
        # `val_split`.
        lacks = []
        if has_positives[group]:
            finding = rarest[group]
            lacks.append([
                (wanted[side][finding] - have[side, finding]) / wanted[side][finding]
                for side in (0, 1)
            ])
        lacks.append([
            (wanted_rows[side] - have_rows[side]) / wanted_rows[side] for side in (0, 1)
        ])
        lack = next((lack for lack in lacks if abs(lack[0] - lack[1]) > TIE), None)
        if lack is None:
            side = int(rng.random() < val_split)
        else:
            side = int(lack[1] > lack[0])
        side_of_group[group] = side
        have[side] += group_positives[group]
        have_rows[side] += int(group_rows[group])
    side_of_row = side_of_group[group_of_row]
    return np.flatnonzero(side_of_row == 0), np.flatnonzero(side_of_row == 1)


def split_counts(targets, rows, weights=None):
    """Per finding, the positive and negative entries among `rows`.

    Args:
        targets: a `[rows, findings]` array of 0 and 1.
        rows: the row indices to count.
        weights: a `[rows, findings]` array; only entries with a weight
            above 0 count.

    Returns:
        `(positives, negatives)`, two int arrays with one count per finding.

    Example:
    ```python
    import numpy as np
    from densenet_hub.training import split_counts

    targets = np.array([[1, 0], [0, 0], [1, 1]])
    weights = np.array([[1, 0], [1, 1], [1, 1]])
    positives, negatives = split_counts(targets, [0, 1, 2], weights)
    assert positives.tolist() == [2, 1] and negatives.tolist() == [1, 1]
    ```
    """
    targets = _check_targets("split_counts", targets)
    counted = _counted("split_counts", targets, weights)
    rows = np.asarray(rows, "int64")
    targets, counted = targets[rows], counted[rows]
    positives = ((targets == 1) & counted).sum(axis=0)
    negatives = ((targets == 0) & counted).sum(axis=0)
    return positives, negatives


def check_split_findings(targets, train_rows, val_rows, findings, weights=None):
    """Raise `ValueError` unless every finding has positive and negative
    entries in both training and validation.

    A finding without positives (or negatives) on a side cannot be learnt
    there, or has no defined AUROC there.

    Args:
        targets: a `[rows, findings]` array of 0 and 1.
        train_rows: the training row indices.
        val_rows: the validation row indices.
        findings: the finding names, one per column of `targets`.
        weights: a `[rows, findings]` array; only entries with a weight
            above 0 count.

    Example:
    ```python
    import numpy as np
    from densenet_hub.training import check_split_findings

    targets = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    check_split_findings(targets[:, :1], [0, 1], [2, 3], ["Edema"])
    try:
        check_split_findings(targets, [0, 1], [2, 3], ["Edema", "Mass"])
    except ValueError as error:
        assert "'Mass': validation has 0 positive" in str(error)
    ```
    """
    owner = "check_split_findings"
    targets = _check_targets(owner, targets)
    findings = list(findings)
    if len(findings) != targets.shape[1]:
        raise ValueError(
            f"{owner}: `findings` names {len(findings)} finding(s) but "
            f"`targets` has {targets.shape[1]} column(s); name one per column."
        )
    problems = []
    for side, rows in (("training", train_rows), ("validation", val_rows)):
        positives, negatives = split_counts(targets, rows, weights)
        for name, positive, negative in zip(findings, positives, negatives):
            if positive == 0 or negative == 0:
                problems.append(
                    f"{name!r}: {side} has {positive} positive and {negative} "
                    "negative entries"
                )
    if problems:
        raise ValueError(
            "every finding needs positive and negative entries in training and "
            f"in validation, but {'; '.join(problems)}. Add images with (and "
            "without) those findings, try another seed or a larger val_split, "
            "or leave the findings out (`findings=`)."
        )


def _check_targets(owner, targets):
    targets = np.asarray(targets)
    if targets.ndim != 2 or not np.isin(targets, (0, 1)).all():
        raise ValueError(
            f"{owner}: `targets` must be a [rows, findings] array of 0 and 1, "
            f"got shape {targets.shape}"
            + ("." if targets.ndim != 2 else " with other values.")
        )
    return targets


def _counted(owner, targets, weights):
    if weights is None:
        return np.ones(targets.shape, bool)
    weights = np.asarray(weights)
    if weights.shape != targets.shape:
        raise ValueError(
            f"{owner}: `weights` must have the shape of `targets`, "
            f"{targets.shape}, got {weights.shape}."
        )
    return weights > 0
