"""What a classifier learns from its labels, as one small interface
(`base.Objective`) with two implementations, so that `finetune`,
`densenet-hub train` and the demo ask an objective instead of branching on
single-label vs multi-label:
- `single_label.SingleLabelObjective`: one class per image (a softmax or
  logits head), sparse categorical cross-entropy, accuracy, a split
  stratified by class;
- `multi_label.MultiLabelObjective`: a 0/1 target per (image, finding) (a
  sigmoid head, as in CheXNet), an entry-weighted binary cross-entropy,
  mean AUROC, a split that keeps each patient's images on one side, and
  decision thresholds chosen on the validation split.

An objective holds the labels of a set of images and answers:
- `check(classifier, count)`: do the labels fit this classifier and these
  `count` images?
- `split(val_split, seed)`: the training and validation rows;
- `compile_arguments(train_rows)`: the loss and metrics for `compile`;
- `monitor` and `monitor_title`: the validation metric a run is judged by;
- `choose_thresholds(classifier, val_data)`: decision thresholds from the
  validation batches (`None` for single-label);
- `settings(train_rows)`, `label_count()`, `split_lines(...)`,
  `split_counts(...)`, `positive_weights(...)`: what a checkpoint records
  and the log shows;
- `class_labels(result)`: the `ClassLabels` saved with the preset;
- `evaluate(classifier, paths)` / `report(scores, rows)`: the metrics of
  held-out images.
"""

import numpy as np

from densenet_hub.training.objectives.base import Objective
from densenet_hub.training.objectives.multi_label import MultiLabelObjective
from densenet_hub.training.objectives.single_label import SingleLabelObjective

# The arguments of `finetune` that only multi-label targets take.
MULTI_LABEL_ARGUMENTS = ("label_weights", "groups", "positive_weights", "findings")


def objective_for(labels, label_weights=None, groups=None, positive_weights=None,
                  findings=None):  # fmt: skip
    """The objective of `finetune`'s `labels`: an objective as it is, a
    2-D 0/1 array as a `MultiLabelObjective` (with the other arguments),
    anything else as a `SingleLabelObjective`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.training import MultiLabelObjective, objective_for

    assert isinstance(objective_for(np.eye(3, dtype=int)), MultiLabelObjective)
    assert objective_for([0, 1, 1]).monitor == "val_accuracy"
    ```
    """
    extra = {
        name: value
        for name, value in zip(MULTI_LABEL_ARGUMENTS, (label_weights, groups,
                                                       positive_weights, findings))
        if value is not None
    }  # fmt: skip
    if isinstance(labels, Objective):
        if extra:
            raise ValueError(
                f"{', '.join(extra)} given beside an objective; pass them to "
                f"{type(labels).__name__}(...) instead."
            )
        return labels
    if np.ndim(labels) == 2:
        return MultiLabelObjective(labels, findings=findings, **{
            name: extra.get(name) for name in ("label_weights", "groups", "positive_weights")
        })  # fmt: skip
    if extra:
        raise ValueError(
            f"{', '.join(extra)} apply to multi-label targets, but `labels` holds "
            "one class index per image; give an (images, findings) array of 0/1 "
            "targets, or leave them out."
        )
    return SingleLabelObjective(labels)
