"""Converters from torchvision, timm and keras.applications DenseNet
checkpoints to densenet_hub models and presets.

`convert(source, out_preset_dir)` writes a preset; `load_checkpoint(source)`
returns the model. See `torch_mapping` and `keras_applications` for the
conversion tables.
"""

from densenet_hub.convert.conversion import convert
from densenet_hub.convert.conversion import load_checkpoint
from densenet_hub.convert.offline import save_offline_copy
from densenet_hub.preprocessing.eval_transform import EvalTransform
from densenet_hub.convert.torch_state_dict import load_torch_state_dict
