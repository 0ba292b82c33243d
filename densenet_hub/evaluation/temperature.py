"""Temperature scaling (Guo et al., 2017): a classifier's logits divided by a
temperature T fitted on held-out labels by minimising the negative log
likelihood (NLL). T > 1 softens an over-confident model, T < 1 sharpens an
under-confident one; the ranking, so AUROC and accuracy, never changes.

A multi-label (sigmoid) head gets one T per finding, a softmax head one T
for all classes. The fit works from probabilities (the logits are
recovered: `log(p / (1 - p))` for a sigmoid, `log p` for a softmax, which
differs from the logits by a constant the softmax ignores) and searches
`log T` in `[log 0.05, log 20]` by golden-section search, so no optimiser
package is needed: the NLL is convex in `1 / T`, so it has one minimum
there.

The fitted temperatures are saved in a preset (`temperature.json`, see
`densenet_hub.presets.class_labels`), and loading the preset for inference
divides the head's weights by them, so every prediction uses them.
"""

import dataclasses
import math

import numpy as np

from densenet_hub.evaluation.calibration import reliability_curves
from densenet_hub.evaluation.inputs import checked_matrices

LOG_T_RANGE = (math.log(0.05), math.log(20.0))
# Golden-section steps: the bracket shrinks by 0.618 per step, to well
# under 1e-6 in log T.
SEARCH_STEPS = 60
EPSILON = 1e-7


@dataclasses.dataclass
class TemperatureFit:
    """Fitted temperatures and what they did on the data they were fitted on.

    Attributes:
        temperatures: one per finding (multi-label) or a one-element list
            (softmax).
        nll_before: the mean NLL per entry (image for softmax) at T = 1.
        nll_after: the same at the fitted temperatures.
        ece_before: the mean expected calibration error over the findings
            (multi-label) or of the top class's confidence (softmax), at T = 1.
        ece_after: the same after scaling.
        images: how many images the fit used.

    Example:
    ```python
    from densenet_hub.evaluation.temperature import TemperatureFit

    fit = TemperatureFit([1.8], 0.61, 0.55, 0.12, 0.03, 500)
    assert "T = Edema 1.800" in fit.text(["Edema"])
    ```
    """

    temperatures: list
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    images: int

    def text(self, names=None):
        """Two lines for the command line: the temperatures (named by
        `names` when given, one per temperature), then NLL and ECE before
        and after."""
        if names is not None and len(names) == len(self.temperatures):
            values = ", ".join(f"{n} {t:.3f}" for n, t in zip(names, self.temperatures))
        else:
            values = ", ".join(f"{t:.3f}" for t in self.temperatures)
        return (
            f"temperature scaling fitted on {self.images} images: T = {values}\n"
            f"NLL {self.nll_before:.4f} -> {self.nll_after:.4f}; "
            f"ECE {self.ece_before:.4f} -> {self.ece_after:.4f}"
        )


def fit_temperature(probabilities, targets, weights=None, multi_label=True):
    """Fits temperature scaling to held-out labels.

    Args:
        probabilities: the model's probabilities, `(images, findings)` for a
            sigmoid head, `(images, classes)` for a softmax one.
        targets: multi-label: 0/1 of the same shape; softmax: each image's
            class index, shape `(images,)`.
        weights: multi-label only: `None` or a mask of the same shape (an
            entry counts where its weight is above 0, e.g. a table's
            `weights` under the "ignore" policy).
        multi_label: one T per finding (sigmoid) or one T (softmax).

    Returns:
        A `TemperatureFit`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation.temperature import fit_temperature

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (2000, 1))
    targets = rng.random((2000, 1)) < 1 / (1 + np.exp(-logits))
    overconfident = 1 / (1 + np.exp(-3 * logits))  # logits 3x too large
    fit = fit_temperature(overconfident, targets)
    assert abs(fit.temperatures[0] - 3) < 0.3 and fit.nll_after < fit.nll_before
    ```
    """
    probabilities = np.asarray(probabilities, "float64")
    if multi_label:
        targets, probabilities, mask = checked_matrices(
            "fit_temperature", targets, probabilities, weights
        )
        return _fit_sigmoid(np.clip(probabilities, 0, 1), targets.astype("float64"), mask)
    return _fit_softmax(probabilities, np.asarray(targets))


def scaled_probabilities(probabilities, temperatures, multi_label=True):
    """`probabilities` as the model would give them with its logits divided
    by `temperatures` (one per column, or one for a softmax).

    Example:
    ```python
    import numpy as np
    from densenet_hub.evaluation.temperature import scaled_probabilities

    scaled = scaled_probabilities(np.array([[0.9]]), [2.0])
    assert abs(scaled[0, 0] - 0.75) < 1e-6  # sigmoid(log(9) / 2) = 3 / 4
    ```
    """
    probabilities = np.asarray(probabilities, "float64")
    if multi_label:
        return _sigmoid(_logits(probabilities) / np.asarray(temperatures, "float64"))
    return _softmax(_log(probabilities) / float(temperatures[0]))


def _fit_sigmoid(probabilities, targets, mask):
    logits = _logits(probabilities)
    temperatures = []
    for column in range(logits.shape[1]):
        rows = mask[:, column]
        z, y = logits[rows, column], targets[rows, column]
        if z.size == 0 or y.min() == y.max():
            # No positive or no negative: the NLL falls as T -> 0 or grows,
            # without a finite best; leave the finding as it is.
            temperatures.append(1.0)
            continue
        temperatures.append(_search(lambda t: _sigmoid_nll(z / t, y)))
    temperatures = np.array(temperatures)
    scaled = _sigmoid(logits / temperatures)

    def mean_nll(values):
        return float(np.mean([_sigmoid_nll(_logits(values[mask[:, c], c]), targets[mask[:, c], c])
                              for c in range(values.shape[1]) if mask[:, c].any()]))  # fmt: skip

    def mean_ece(values):
        curves = reliability_curves(targets, values, [str(c) for c in range(values.shape[1])],
                                    mask)  # fmt: skip
        errors = [curve.expected_calibration_error for curve in curves]
        return float(np.nanmean(errors)) if errors else math.nan

    return TemperatureFit(
        temperatures.tolist(), mean_nll(probabilities), mean_nll(scaled),
        mean_ece(probabilities), mean_ece(scaled), int(probabilities.shape[0]),
    )  # fmt: skip


def _fit_softmax(probabilities, targets):
    if probabilities.ndim != 2 or targets.shape != (probabilities.shape[0],):
        raise ValueError(
            f"fit_temperature: a softmax fit takes probabilities of shape (images, "
            f"classes) and one class index per image, got {probabilities.shape} and "
            f"{targets.shape}."
        )
    log_p = _log(probabilities)
    targets = targets.astype("int64")
    temperature = _search(lambda t: _softmax_nll(log_p / t, targets))
    scaled = _softmax(log_p / temperature)
    return TemperatureFit(
        [temperature], _softmax_nll(log_p, targets), _softmax_nll(log_p / temperature, targets),
        _top_class_ece(probabilities, targets), _top_class_ece(scaled, targets),
        int(probabilities.shape[0]),
    )  # fmt: skip


def _search(nll_of):
    """The T in `LOG_T_RANGE` minimising `nll_of(T)`: golden-section search
    on log T."""
    ratio = (math.sqrt(5) - 1) / 2
    low, high = LOG_T_RANGE
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll_of(math.exp(a)), nll_of(math.exp(b))
    for _ in range(SEARCH_STEPS):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll_of(math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll_of(math.exp(b))
    return float(math.exp((low + high) / 2))


def _sigmoid_nll(z, y):
    # log(1 + exp(-z)) for positives, log(1 + exp(z)) for negatives, stably.
    return float(np.mean(np.logaddexp(0, np.where(y > 0, -z, z))))


def _softmax_nll(scaled_log_p, targets):
    shifted = scaled_log_p - scaled_log_p.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_norm - shifted[np.arange(len(targets)), targets]))


def _top_class_ece(probabilities, targets, bins=15):
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == targets
    which = np.minimum((confidence * bins).astype("int64"), bins - 1)
    error = 0.0
    for index in range(bins):
        chosen = which == index
        if chosen.any():
            error += chosen.mean() * abs(confidence[chosen].mean() - correct[chosen].mean())
    return float(error)


def _logits(probabilities):
    p = np.clip(probabilities, EPSILON, 1 - EPSILON)
    return np.log(p) - np.log1p(-p)


def _log(probabilities):
    return np.log(np.clip(probabilities, EPSILON, 1))


def _sigmoid(z):
    return 0.5 * (1 + np.tanh(z / 2))


def _softmax(z):
    shifted = np.exp(z - z.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
