"""Top-1 agreement of the bfloat16 inference path with float32, on a trained model.

Takes a classifier preset and an image folder (one sub-folder per class, as
`densenet-hub train` reads), runs every image through Keras in float32 and
through `densenet_hub.runtime.accelerate(..., runtime="openvino",
precision="bfloat16")`, and prints how often the top-1 classes agree, each
path's accuracy, and the largest logit difference.

    KERAS_BACKEND=jax densenet-hub demo --out demo_out
    KERAS_BACKEND=jax python benchmarks/bench_bfloat16_agreement.py \
        demo_out/digits_preset demo_out/digits
"""

import argparse
import pathlib

import numpy as np
import PIL.Image

from densenet_hub.models import ImageClassifier
from densenet_hub.runtime import accelerate


def load_folder(folder, image_size):
    """All images under `folder/<class>/`, resized to `image_size`, with labels."""
    paths = sorted(pathlib.Path(folder).rglob("*.png"))
    class_names = sorted({path.parent.name for path in paths})
    images, labels = [], []
    for path in paths:
        picture = PIL.Image.open(path).convert("RGB").resize(image_size[::-1])
        images.append(np.asarray(picture))
        labels.append(class_names.index(path.parent.name))
    return np.stack(images), np.array(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", help="a trained classifier preset folder")
    parser.add_argument("images", help="a folder with one sub-folder of images per class")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    classifier = ImageClassifier.from_preset(args.preset)
    size = tuple(classifier.preprocessor.image_size)
    images, labels = load_folder(args.images, size)
    full = classifier.predict(images, batch_size=args.batch_size, verbose=0)
    half = accelerate(classifier, runtime="openvino", precision="bfloat16").predict(
        images, batch_size=args.batch_size
    )
    agreement = np.mean(full.argmax(-1) == half.argmax(-1))
    print(f"{len(images)} images, {classifier.num_classes} classes, preset {args.preset}")
    print(f"top-1 agreement bfloat16 vs float32: {agreement:.4f}")
    print(f"accuracy float32 (Keras): {np.mean(full.argmax(-1) == labels):.4f}")
    print(f"accuracy bfloat16 (OpenVINO): {np.mean(half.argmax(-1) == labels):.4f}")
    print(f"max |logit difference|: {np.abs(full - half).max():.4f} (logit range {np.ptp(full):.2f})")


if __name__ == "__main__":
    main()
