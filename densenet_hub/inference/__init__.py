"""Inference on image files: loading a preset with the preprocessing it
needs, the one batch loop over image files (`iterate_batches`), and on it
class probabilities (`score_files`) and feature files (`embed_files`)."""

from densenet_hub.inference.batches import ImageBatch
from densenet_hub.inference.batches import iterate_batches
from densenet_hub.inference.embedding import EmbeddingFiles
from densenet_hub.inference.embedding import embed_files
from densenet_hub.inference.loading import default_preprocessor
from densenet_hub.inference.loading import fixed_image_size
from densenet_hub.inference.loading import load_backbone
from densenet_hub.inference.loading import load_classifier
from densenet_hub.inference.loading import load_model
from densenet_hub.inference.scoring import score_files
from densenet_hub.inference.scoring import to_probabilities
from densenet_hub.inference.scoring import tta_probabilities
from densenet_hub.models.head_activation import head_activation
