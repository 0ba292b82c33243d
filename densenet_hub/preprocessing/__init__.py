"""Model-independent image preprocessing: `ImageConverter` and the
evaluation transforms (torchvision's, timm's, keras.applications') that
configure it."""

from densenet_hub.preprocessing.image_converter import ImageConverter
from densenet_hub.preprocessing.eval_transform import EvalTransform
