"""What the image-upload route answers: an image's top classes, or its
findings with their thresholds, and the Grad-CAM picture, as JSON."""

import base64
import io

import numpy as np
import PIL.Image

from densenet_hub.explain.pictures import LUMA
from densenet_hub.imagenet import decode_predictions


def classification(probabilities, labels, top_k=None, multi_label=None):
    """The JSON-able result of one image.

    Args:
        probabilities: the image's `(num_classes,)` probabilities.
        labels: the model's `ClassLabels`.
        top_k: the most classes (findings) to list; `None` for 5 classes of
            a single-label model and every finding of a multi-label one.
        multi_label: whether the model is multi-label (a sigmoid head);
            default `labels.multi_label` (whether thresholds were saved).

    Returns:
        Single-label: `{"kind": "single_label", "predictions": [{"rank",
        "index", "label", "probability"}]}`, most probable first.
        Multi-label: `{"kind": "multi_label", "findings": [{"index",
        "finding", "probability", "threshold", "positive"}]}`, most probable
        first; `threshold` and `positive` are `None` when the model has no
        saved thresholds.

    Example:
    ```python
    import numpy as np
    from densenet_hub.presets.class_labels import ClassLabels
    from densenet_hub.serving.results import classification

    labels = ClassLabels(["Edema", "Effusion"], thresholds=[0.5, 0.2])
    result = classification(np.array([0.1, 0.3]), labels)
    assert [f["finding"] for f in result["findings"]] == ["Effusion", "Edema"]
    assert [f["positive"] for f in result["findings"]] == [True, False]
    ```
    """
    probabilities = np.asarray(probabilities, dtype="float64")
    if not (labels.multi_label if multi_label is None else multi_label):
        top = decode_predictions(probabilities[None], top=top_k or 5, class_names=labels.names)[0]
        return {
            "kind": "single_label",
            "predictions": [
                {"rank": rank, "index": index, "label": label, "probability": score}
                for rank, (index, label, score) in enumerate(top, start=1)
            ],
        }
    return {"kind": "multi_label", "findings": labels.ranked_findings(probabilities, top_k)}


def overlay_png(view, heat, opacity=0.5, max_side=512):
    """A PNG of `heat` (in [0, 1], any resolution) in a blue-to-red colour
    ramp laid over `view` (an RGB image, uint8 or float levels 0-255) in grey
    with `opacity`, as a `data:image/png;base64,...` URL for a web page;
    shrunk to at most `max_side` pixels a side. Over grey, as the command
    line's pictures draw it, a pixel's colour tells its heat: the image's own
    colours would shift the ramp's.

    Example:
    ```python
    import numpy as np
    from densenet_hub.serving.results import overlay_png

    url = overlay_png(np.zeros((32, 32, 3), "uint8"), np.eye(4))
    assert url.startswith("data:image/png;base64,")
    ```
    """
    view = PIL.Image.fromarray(np.clip(np.round(view), 0, 255).astype("uint8"))
    view.thumbnail((max_side, max_side))
    width, height = view.size
    view = np.asarray(view)
    heat_image = PIL.Image.fromarray(np.asarray(heat, dtype="float32"), mode="F")
    heat = np.asarray(heat_image.resize((width, height), PIL.Image.BILINEAR))
    colours = _ramp(np.clip(heat, 0, 1))
    grey = (view.astype("float32") @ np.asarray(LUMA, "float32"))[..., None]
    blended = (1 - opacity) * grey + opacity * colours
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.clip(np.round(blended), 0, 255).astype("uint8")).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _ramp(values):
    """Blue (0) through cyan, yellow to red (1), 0-255 RGB: the "jet" ramp the
    command line's pictures use, drawn without matplotlib."""
    channels = [np.clip(1.5 - np.abs(4 * values - centre), 0, 1) for centre in (3, 2, 1)]
    return 255 * np.stack(channels, axis=-1)
