"""The file names of a preset folder (KerasHub's layout) and of a timm
checkpoint folder: the hub clients fetch them, the presets package reads and
writes them."""

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
MODEL_WEIGHTS_FILE = "model.weights.h5"
SHARDED_WEIGHTS_FILE = "model.weights.json"
TASK_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"
PREPROCESSOR_FILE = "preprocessor.json"
IMAGE_CONVERTER_FILE = "image_converter.json"
# A timm checkpoint folder (converted on load) holds `config.json` and this.
TIMM_WEIGHTS_FILE = "model.safetensors"
# Beside KerasHub's files (KerasHub ignores them): a classifier's class
# names, and a multi-label classifier's findings and decision thresholds.
CLASS_NAMES_FILE = "class_names.json"
MULTI_LABEL_FILE = "multi_label.json"
# The settings of a folder `densenet_hub.runtime.AcceleratedModel.save` wrote
# (an int8 model from `densenet-hub quantize`): what tells it from a preset.
ACCELERATED_FILE = "accelerated.json"
