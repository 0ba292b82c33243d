"""Random image augmentation for fine-tuning, with stock Keras layers."""

import keras

from densenet_hub.base.choices import AUGMENTATIONS


def augmentation_layers(names=AUGMENTATIONS, seed=None):
    """A `keras.Sequential` of stock random layers, or `None` for none.

    The layers are mild, so that a medical or photographic image keeps its
    meaning: a horizontal flip, rotations up to 18 degrees (0.05 of a turn),
    zooms and shifts up to 10%.

    Args:
        names: a sequence of names from `AUGMENTATIONS`
            (`"flip"`, `"rotate"`, `"zoom"`, `"translate"`); empty for none.
        seed: seed of the layers' random draws.

    Example:
    ```python
    import numpy as np
    from densenet_hub.training import augmentation_layers

    augment = augmentation_layers(["flip", "zoom"], seed=0)
    images = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype("float32")
    assert tuple(augment(images, training=True).shape) == (2, 16, 16, 3)
    ```
    """
    unknown = [names] if isinstance(names, str) else [
        name for name in names if name not in AUGMENTATIONS
    ]
    if unknown:
        raise ValueError(
            f"augmentation_layers: unknown augmentation(s) "
            f"{', '.join(map(repr, unknown))}; pass a list of names "
            f"from {', '.join(map(repr, AUGMENTATIONS))}, or [] for none."
        )
    makers = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", seed=seed),
        "rotate": lambda: keras.layers.RandomRotation(0.05, seed=seed),
        "zoom": lambda: keras.layers.RandomZoom(0.1, seed=seed),
        "translate": lambda: keras.layers.RandomTranslation(0.1, 0.1, seed=seed),
    }
    if not names:
        return None
    return keras.Sequential([makers[name]() for name in names], name="augmentation")
