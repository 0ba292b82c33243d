"""What the image-upload route answers: an image's top classes, or its
findings with their thresholds, and the Grad-CAM picture, as JSON."""

import base64
import io

import numpy as np
import PIL.Image

from densenet_hub.explain.pictures import overlay_pixels
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
    """A PNG of `heat` (in [0, 1], any resolution) laid over `view` (an RGB
    image, uint8 or float levels 0-255) as the command line's pictures draw
    it (`densenet_hub.explain.pictures.overlay_pixels`): the colour bar's
    colours at a fixed `opacity` over the image in grey, so that a pixel's
    colour tells its heat; as a `data:image/png;base64,...` URL for a web
    page, shrunk to at most `max_side` pixels a side.

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
    _, overlay = overlay_pixels(np.asarray(view), heat, opacity)
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.round(overlay * 255).astype("uint8")).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
