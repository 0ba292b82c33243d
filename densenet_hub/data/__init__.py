"""Reading image files: decoding them to arrays and finding the images of
files, folders, glob patterns and class-per-folder datasets."""

from densenet_hub.data.images import IMAGE_SUFFIXES
from densenet_hub.data.images import ON_ERROR_CHOICES
from densenet_hub.data.images import SkippedImageWarning
from densenet_hub.data.images import find_images
from densenet_hub.data.images import find_labelled_images
from densenet_hub.data.images import read_image
from densenet_hub.data.images import read_images
