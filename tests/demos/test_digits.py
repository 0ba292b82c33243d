"""`densenet_hub.demos.digits`: scikit-learn's digits as a class folder of
32x32 images, and the small DenseNet the demo trains."""

import numpy as np
import PIL.Image

from densenet_hub.demos import digit_examples
from densenet_hub.demos import tiny_classifier
from densenet_hub.demos import write_digit_folders


def test_digit_folders_hold_real_digits(tmp_path):
    train_dir, test_dir = write_digit_folders(tmp_path, images_per_class=5, seed=0)
    for digit in range(10):
        assert len(list((train_dir / str(digit)).glob("*.png"))) == 4
        assert len(list((test_dir / str(digit)).glob("*.png"))) == 1
    with PIL.Image.open(next((train_dir / "0").glob("*.png"))) as image:
        pixels = np.asarray(image)
    assert image.size == (32, 32) and pixels.max() > 200 and pixels.min() < 30
    assert [path.parent.name for path in digit_examples(test_dir, 3)] == ["0", "1", "2"]


def test_tiny_classifier_has_keras_hub_padding_and_ten_outputs():
    classifier = tiny_classifier()
    assert classifier.backbone.stem_padding == "same"
    scores = classifier.predict(np.zeros((2, 40, 40, 3), "uint8"), verbose=0)
    assert scores.shape == (2, 10)
