"""`densenet-hub explain PRESET IMAGE --out heat.png`: a Grad-CAM heat map of
where the classifier looks (Selvaraju et al., "Grad-CAM", ICCV 2017).

The map is computed on the final feature map of the last dense block (after
its closing BatchNorm and ReLU, the backbone's output): each channel is
weighted by the mean gradient of the class score with respect to it, the
weighted sum is passed through a ReLU and scaled to [0, 1]. The gradient is
taken with the active Keras backend's own autodiff.
"""

import keras
import numpy as np
import PIL.Image

from densenet_hub.cli import arguments
from densenet_hub.cli.drawing import heat_overlay
from densenet_hub.cli.errors import CliError
from densenet_hub.cli.images import read_image
from densenet_hub.cli.loading import load_classifier
from densenet_hub.cli.loading import to_probabilities

MIN_SIDE = 256


def register(subparsers):
    """Adds the `explain` command to `subparsers`."""
    parser = subparsers.add_parser(
        "explain",
        help="write a Grad-CAM heat map of an image",
        description="Writes the image (as the model sees it, centre-cropped "
        "when the preset crops; small images enlarged to 256 pixels) with a "
        "Grad-CAM heat map of the predicted class, or of --class, laid over it.",
    )
    parser.add_argument("preset", help="classifier preset: built-in name, handle or folder")
    parser.add_argument("image", help="an image file")
    parser.add_argument("--out", required=True, help="the PNG file to write")
    parser.add_argument(
        "--class",
        dest="class_name",
        default=None,
        help="explain this class (name or index) instead of the predicted one",
    )
    parser.add_argument(
        "--opacity",
        type=arguments.unit_interval,
        default=0.5,
        help="opacity of the heat map over the image, 0 to 1 (default 0.5)",
    )
    arguments.add_image_size_option(parser)
    parser.set_defaults(run=run)


def run(args):
    image = read_image(args.image)
    classifier, class_names = load_classifier(args.preset, args.image_size)
    x = classifier.preprocessor([image])
    probabilities = to_probabilities(classifier, classifier(x, training=False))[0]
    index = _class_index(args.class_name, class_names, probabilities)
    heat = grad_cam(classifier, x, index)
    view = _enlarged(_model_view(image, classifier.preprocessor.image_converter))
    heat_overlay(view, heat, args.opacity).save(args.out, format="PNG")
    print(
        f"{args.image}: class {class_names[index]!r} (index {index}, probability "
        f"{probabilities[index]:.4f}); heat map written to {args.out}"
    )
    return 0


def grad_cam(classifier, x, class_index):
    """The Grad-CAM map of one preprocessed image `x` (batch of 1) for
    `class_index`, as a `(height, width)` array in [0, 1] at the resolution
    of the backbone's output."""
    features = classifier.backbone(x, training=False)
    channels_first = getattr(classifier.backbone, "data_format", None) == "channels_first"
    spatial_axes, channel_axis = ((2, 3), 1) if channels_first else ((1, 2), -1)

    def class_score(feature_map):
        pooled = classifier.pooler(feature_map)
        return classifier.output_dense(pooled)[0, class_index]

    gradients = _gradient(class_score, features)
    weights = keras.ops.mean(gradients, axis=spatial_axes, keepdims=True)
    cam = keras.ops.relu(keras.ops.sum(weights * features, axis=channel_axis))[0]
    cam = keras.ops.convert_to_numpy(cam).astype("float64")
    peak = cam.max()
    return cam / peak if peak > 0 else cam


def _gradient(function, x):
    """d function(x) / dx with the active backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.grad(function)(x)
    if backend == "torch":
        x = x.detach().requires_grad_(True)
        function(x).backward()
        return x.grad
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            score = function(x)
        return tape.gradient(score, x)
    raise CliError(
        f"explain needs the jax, torch or tensorflow Keras backend, got "
        f"{backend!r}; set KERAS_BACKEND to one of them."
    )


def _class_index(requested, class_names, probabilities):
    if requested is None:
        return int(np.argmax(probabilities))
    if requested in class_names:
        return class_names.index(requested)
    if requested.isdigit() and int(requested) < len(class_names):
        return int(requested)
    close = [name for name in class_names if requested.lower() in name.lower()][:5]
    hint = f" Close names: {', '.join(map(repr, close))}." if close else ""
    raise CliError(
        f"--class {requested!r} is neither a class name of the preset nor an "
        f"index below {len(class_names)}.{hint}"
    )


def _model_view(image, converter):
    """The part of `image` the model sees: its centred window with the
    converter's aspect ratio when the converter crops, else all of it."""
    if converter is None or converter.image_size is None or not converter.crop_to_aspect_ratio:
        return image
    target_height, target_width = converter.image_size
    height, width = image.shape[:2]
    crop_height = min(height, round(width * target_height / target_width))
    crop_width = min(width, round(height * target_width / target_height))
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return image[top : top + crop_height, left : left + crop_width]



def _enlarged(image):
    """`image`, scaled up so its shorter side has at least `MIN_SIDE` pixels:
    the heat map of a small image would otherwise be hard to see."""
    height, width = image.shape[:2]
    factor = MIN_SIDE / min(height, width)
    if factor <= 1:
        return image
    size = (round(width * factor), round(height * factor))
    return np.asarray(PIL.Image.fromarray(image).resize(size, PIL.Image.BICUBIC))
