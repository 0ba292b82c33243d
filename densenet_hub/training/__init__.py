"""Fine-tuning an `ImageClassifier` on labelled image files: the recipe of
`densenet-hub train` (`finetune`), the objectives it trains for
(`SingleLabelObjective`, `MultiLabelObjective`) and its other parts."""

from densenet_hub.training.augmentation import AUGMENTATIONS
from densenet_hub.training.augmentation import augmentation_layers
from densenet_hub.training.batches import LabelledBatches
from densenet_hub.training.checkpoint import CheckpointError
from densenet_hub.training.checkpoint import TrainingCheckpoint
from densenet_hub.training.checkpoint import remove_checkpoint
from densenet_hub.training.compile_notice import CompileNotice
from densenet_hub.distribution import DISTRIBUTION_LAYOUTS
from densenet_hub.distribution import start_distribution
from densenet_hub.training.finetune import FinetuneResult
from densenet_hub.training.finetune import TrainingInterrupted
from densenet_hub.training.finetune import finetune
from densenet_hub.training.history import history_csv
from densenet_hub.training.history import history_files
from densenet_hub.training.losses import MultiLabelBinaryCrossentropy
from densenet_hub.training.losses import balanced_positive_weights
from densenet_hub.training.objectives import MultiLabelObjective
from densenet_hub.training.objectives import Objective
from densenet_hub.training.objectives import SingleLabelObjective
from densenet_hub.training.objectives import objective_for
from densenet_hub.training.split import check_split_findings
from densenet_hub.training.split import multilabel_split
from densenet_hub.training.split import split_counts
from densenet_hub.training.split import stratified_split
