"""The data and the model of `densenet-hub demo`, offline: scikit-learn's
bundled handwritten digits as a labelled image folder (`digits`) or as
multi-label mosaics with CheXpert-style tables (`mosaics`), the small
DenseNet the demo trains from scratch, and the demo's output folder."""

from densenet_hub.demos.digits import IMAGE_SIZE
from densenet_hub.demos.digits import digit_examples
from densenet_hub.demos.digits import split_digit_scans
from densenet_hub.demos.digits import tiny_classifier
from densenet_hub.demos.digits import write_digit_folders
from densenet_hub.demos.mosaics import FINDINGS
from densenet_hub.demos.mosaics import GROUP_COLUMN
from densenet_hub.demos.mosaics import MosaicSplit
from densenet_hub.demos.mosaics import write_mosaic_tables
from densenet_hub.demos.output_folder import prepare_demo_folder
