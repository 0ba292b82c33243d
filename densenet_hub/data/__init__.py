"""Reading image files: decoding them to arrays and finding the images of
files, folders, glob patterns and class-per-folder datasets."""

from densenet_hub.data.dicom import DICOM_SUFFIXES
from densenet_hub.data.dicom import is_dicom
from densenet_hub.data.dicom import read_dicom
from densenet_hub.data.image_paths import ImagePaths
from densenet_hub.data.images import IMAGE_SUFFIXES
from densenet_hub.data.images import ON_ERROR_CHOICES
from densenet_hub.data.images import SkippedImageWarning
from densenet_hub.data.images import find_images
from densenet_hub.data.images import find_labelled_images
from densenet_hub.data.images import read_image
from densenet_hub.data.images import read_images
from densenet_hub.data.label_tables import CHESTXRAY14_FINDINGS
from densenet_hub.data.label_tables import UNCERTAINTY_POLICIES
from densenet_hub.data.label_tables import LabelTable
from densenet_hub.data.label_tables import read_label_table
