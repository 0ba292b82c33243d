"""Measuring a classifier on labelled images, and drawing the results.

- `labelled_files`: `evaluate_folder` / `evaluate_images` (single-label, a
  folder of class sub-folders) and `evaluate_table` (multi-label, a label
  table) run a classifier over image files and return a report.
- `single_label`: accuracy, top-k accuracy, per-class precision and recall
  and the confusion matrix (`single_label_report`, `SingleLabelReport`).
- `multi_label`: per-finding AUROC and average precision with bootstrap
  intervals (`bootstrap`), sensitivity and specificity at thresholds
  (`multilabel_report`, `MultiLabelReport`); `thresholds` chooses the
  thresholds on validation data.
- `calibration`: reliability curves and the expected calibration error.
- `plots`: the confusion matrix, ROC and precision-recall curves and the
  reliability diagram as PNG files.
- `predictions`: each image's labels, weights, probabilities and decisions
  (or true and predicted class) as a CSV file.
- `subgroups`: per-finding AUROC by the values of table columns (sex, view,
  age in bins), with counts.
- `report`: the whole evaluation as one self-contained HTML file and JSON.

The multi-label metrics need scikit-learn and the pictures matplotlib,
optional packages: `pip install 'densenet-hub[medical]'` installs both.
"""

from densenet_hub.evaluation.calibration import ReliabilityCurve
from densenet_hub.evaluation.calibration import reliability_curves
from densenet_hub.evaluation.labelled_files import evaluate_folder
from densenet_hub.evaluation.labelled_files import evaluate_images
from densenet_hub.evaluation.labelled_files import evaluate_table
from densenet_hub.evaluation.multi_label import FindingMetrics
from densenet_hub.evaluation.multi_label import MultiLabelReport
from densenet_hub.evaluation.multi_label import multilabel_report
from densenet_hub.evaluation.plots import draw_confusion_matrix
from densenet_hub.evaluation.plots import draw_pr_curves
from densenet_hub.evaluation.plots import draw_reliability_diagram
from densenet_hub.evaluation.plots import draw_roc_curves
from densenet_hub.evaluation.single_label import ClassMetrics
from densenet_hub.evaluation.single_label import SingleLabelReport
from densenet_hub.evaluation.single_label import single_label_report
from densenet_hub.evaluation.thresholds import THRESHOLD_RULES
from densenet_hub.evaluation.thresholds import choose_thresholds
