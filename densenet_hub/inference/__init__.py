"""Inference on image files: loading a preset with the preprocessing it
needs, and running a classifier over files batch by batch."""

from densenet_hub.inference.loading import default_preprocessor
from densenet_hub.inference.loading import fixed_image_size
from densenet_hub.inference.loading import load_backbone
from densenet_hub.inference.loading import load_classifier
from densenet_hub.inference.scoring import score_files
from densenet_hub.inference.scoring import to_probabilities
