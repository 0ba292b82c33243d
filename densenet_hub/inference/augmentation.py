"""Test-time augmentation: a classifier's probabilities averaged over views
of each image.

- `"none"`: the image as the preset's preprocessing makes it.
- `"flip"`: the image and its mirror image (left and right swapped).
- `"ten-crop"`: as torchvision's `TenCrop`: the image is resized larger than
  the model's input (by the preset's `crop_pct`, else by 256/224, the
  CheXNet reimplementation's 256 for 224), and the model sees the four
  corner crops and the centre crop of the input's size, and the same five
  crops of the mirrored image.

`densenet_hub.inference.scoring.tta_probabilities` runs the model on the
views and averages their probabilities (after the head's sigmoid or
softmax, not logits, as the CheXNet reimplementation does).
"""

import keras
import numpy as np

# The CheXNet reimplementation resizes to 256 and crops 224.
TEN_CROP_RATIO = 256 / 224


def ten_crop_size(image_size, crop_pct=None):
    """`(height, width)` an image is resized to before its ten crops of
    `image_size`: `image_size / crop_pct` when the preset crops, else
    256/224 of it (224 -> 256), rounded.

    Example:
    ```python
    from densenet_hub.inference.augmentation import ten_crop_size

    assert ten_crop_size((224, 224)) == (256, 256)
    assert ten_crop_size((224, 224), crop_pct=0.95) == (236, 236)
    ```
    """
    ratio = 1 / crop_pct if crop_pct else TEN_CROP_RATIO
    return tuple(int(round(side * ratio)) for side in image_size)


def ten_crops(images, crop_size):
    """The ten crops of each image in a `(batch, height, width, channels)`
    array, as torchvision's `TenCrop`: top-left, top-right, bottom-left,
    bottom-right, centre, then the same of the mirrored images.

    Returns:
        A `(10, batch, crop_height, crop_width, channels)` array.

    Example:
    ```python
    import numpy as np
    from densenet_hub.inference.augmentation import ten_crops

    images = np.arange(16).reshape(1, 4, 4, 1)
    crops = ten_crops(images, (2, 2))
    assert crops.shape == (10, 1, 2, 2, 1)
    assert crops[1, 0, :, :, 0].tolist() == [[2, 3], [6, 7]]  # top-right
    assert crops[5, 0, :, :, 0].tolist() == [[3, 2], [7, 6]]  # top-left of the mirror
    ```
    """
    height, width = images.shape[1:3]
    crop_height, crop_width = crop_size
    if crop_height > height or crop_width > width:
        raise ValueError(
            f"ten_crops: crops of {crop_height}x{crop_width} do not fit images of "
            f"{height}x{width}; resize the images larger first."
        )
    top = int(round((height - crop_height) / 2.0))
    left = int(round((width - crop_width) / 2.0))
    corners = [(0, 0), (0, width - crop_width), (height - crop_height, 0),
               (height - crop_height, width - crop_width), (top, left)]  # fmt: skip
    crops = []
    for view in (images, images[:, :, ::-1]):
        for y, x in corners:
            crops.append(view[:, y : y + crop_height, x : x + crop_width])
    return np.stack(crops)


def ten_crop_inputs(converter, images):
    """The ten crops of each raw image, preprocessed as `converter` (an
    `ImageConverter` with an `image_size`) would at the larger
    `ten_crop_size`: resized, scaled and offset, then cropped.

    Args:
        converter: the classifier's `ImageConverter`
            (`classifier.preprocessor.image_converter`).
        images: raw images, e.g. `(height, width, 3)` uint8 arrays of any size.

    Returns:
        A `(10, len(images), height, width, channels)` array of model inputs.

    Example:
    ```python
    import numpy as np
    import densenet_hub
    from densenet_hub.inference.augmentation import ten_crop_inputs

    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    image = np.full((37, 37, 3), 255, "uint8")  # already 37x37: the resize keeps it
    crops = ten_crop_inputs(converter, [image])
    assert crops.shape == (10, 1, 32, 32, 3) and np.allclose(crops, 1.0)
    ```
    """
    if converter.image_size is None:
        raise ValueError(
            "ten_crop_inputs: ten-crop needs the classifier's input size, but its "
            "image converter does not resize; give the preset an image size."
        )
    if converter.data_format != "channels_last":
        raise ValueError(
            "ten_crop_inputs: ten-crop reads channels_last images; set "
            "keras.config.set_image_data_format('channels_last')."
        )
    config = converter.get_config()
    config.update(image_size=ten_crop_size(converter.image_size, converter.crop_pct),
                  crop_pct=None)  # fmt: skip
    larger = type(converter).from_config(config)
    # Scale and offset act on each pixel, so cropping after them is the same
    # as before.
    resized = keras.ops.convert_to_numpy(larger(list(images)))
    return ten_crops(resized, converter.image_size)
