"""What a classifier preset says about its classes, in files beside
KerasHub's (which KerasHub ignores): `class_names.json`, the class names in
class-index order, and for a multi-label classifier `multi_label.json`, its
findings with the decision threshold of each and the rule that chose them.
`temperature.json` holds fitted temperature scaling (one temperature per
finding, or one for a softmax head), which loading for inference divides
the head's logits by.

Presets without `class_names.json` show ImageNet names for a 1000-class head
and `class_<index>` otherwise.
"""

import dataclasses
import math
import pathlib
import warnings

from densenet_hub.base import file_names as names
from densenet_hub.base.json_files import json_bytes
from densenet_hub.base.json_files import read_json
from densenet_hub.imagenet import IMAGENET_CLASSES
from densenet_hub.presets.resolver import local_folder

MAX_LABEL_FILE_BYTES = 16 << 20
MULTI_LABEL_FORMAT = 1
TEMPERATURE_FILE = "temperature.json"
TEMPERATURE_FORMAT = 1


class LabelFileWarning(UserWarning):
    """A class-label file of a preset that does not fit its model, ignored."""


@dataclasses.dataclass
class ClassLabels:
    """The class names of a classifier and, when multi-label, its thresholds.

    Attributes:
        names: one name per class (finding), in class-index order.
        thresholds: `None` (single-label), or one decision threshold per
            finding: a probability at or above it counts as positive.
        threshold_rule: how the thresholds were chosen, in words.
        details: more JSON-able facts recorded with the thresholds, such as
            the uncertainty policies of the training labels.
        temperatures: `None`, or the fitted temperature scaling: one
            temperature per class (multi-label) or one (softmax).

    Example:
    ```python
    import tempfile
    from densenet_hub.presets.class_labels import ClassLabels, read_class_labels

    labels = ClassLabels(["Effusion", "Edema"], thresholds=[0.31, 0.12],
                         threshold_rule="Youden's J on the validation split")
    folder = tempfile.mkdtemp()
    for name, data in labels.files().items():
        with open(f"{folder}/{name}", "wb") as file:
            file.write(data)
    assert read_class_labels(folder, num_classes=2, multi_label=True) == labels
    ```
    """

    names: list
    thresholds: list = None
    threshold_rule: str = None
    details: dict = None
    temperatures: list = None

    def __post_init__(self):
        self.names = [str(name) for name in self.names]
        if self.thresholds is not None:
            self.thresholds = [float(value) for value in self.thresholds]
            _check_thresholds(self.names, self.thresholds, "ClassLabels")

    @property
    def multi_label(self):
        return self.thresholds is not None

    def ranked_findings(self, probabilities, top_k=None):
        """One image's findings, most probable first, each with its decision.

        Args:
            probabilities: the image's `(num_classes,)` probabilities.
            top_k: how many to list; `None` for all.

        Returns:
            A list of `{"index", "finding", "probability", "threshold",
            "positive"}`: positive means at or above the threshold; both are
            `None` without saved thresholds.

        Example:
        ```python
        from densenet_hub.presets.class_labels import ClassLabels

        labels = ClassLabels(["Edema", "Effusion"], thresholds=[0.5, 0.2])
        ranked = labels.ranked_findings([0.1, 0.3], top_k=1)
        assert ranked == [{"index": 1, "finding": "Effusion", "probability": 0.3,
                           "threshold": 0.2, "positive": True}]
        ```
        """
        thresholds = self.thresholds or [None] * len(probabilities)
        decisions = self.decisions(probabilities)
        return [
            {
                "index": int(index),
                "finding": self.names[index],
                "probability": float(probabilities[index]),
                "threshold": thresholds[index],
                "positive": None if decisions is None else bool(decisions[index]),
            }
            for index in most_probable_first(probabilities, top_k)
        ]

    def decisions(self, probabilities):
        """Which findings are positive, for any number of images at once
        (`at_or_above` with the saved thresholds).

        Args:
            probabilities: `(..., num_classes)` probabilities, e.g. one
                image's or a batch's.

        Returns:
            A bool array of the same shape, or `None` without saved
            thresholds.

        Example:
        ```python
        from densenet_hub.presets.class_labels import ClassLabels

        labels = ClassLabels(["Edema", "Effusion"], thresholds=[0.5, 0.2])
        assert labels.decisions([[0.5, 0.1], [0.4, 0.3]]).tolist() == [
            [True, False], [False, True]
        ]
        assert ClassLabels(["Edema"]).decisions([0.9]) is None
        ```
        """
        return None if self.thresholds is None else at_or_above(probabilities, self.thresholds)

    @property
    def label_reading(self):
        """How the training table's labels were read, as `train` records it
        (`{"uncertainty": ..., "unmentioned": ..., "where": ...}`), or `{}`
        for a preset that does not say."""
        reading = (self.details or {}).get("labels")
        return dict(reading) if isinstance(reading, dict) else {}

    def label_policies(self, uncertainty=None, unmentioned=None):
        """The label policies to read an evaluation table with: the given
        ones, else the preset's, else `"ignore"`.

        Args:
            uncertainty: the policy asked for -1 entries, or `None` for the
                preset's.
            unmentioned: the same for empty entries.

        Returns:
            `(policies, overridden)`: `{"uncertainty": ..., "unmentioned":
            ...}` and a `(name, given, saved)` triple for each policy given
            that differs from the one the preset was trained with.

        Example:
        ```python
        from densenet_hub.presets.class_labels import ClassLabels

        labels = ClassLabels(["Edema"], thresholds=[0.5],
                             details={"labels": {"uncertainty": "ones", "unmentioned": "zeros"}})
        policies, overridden = labels.label_policies(uncertainty="zeros")
        assert policies == {"uncertainty": "zeros", "unmentioned": "zeros"}
        assert overridden == [("uncertainty", "zeros", "ones")]
        ```
        """
        saved = self.label_reading
        policies, overridden = {}, []
        for name, given in (("uncertainty", uncertainty), ("unmentioned", unmentioned)):
            recorded = saved.get(name)
            policies[name] = given or recorded or "ignore"
            if given is not None and recorded is not None and given != recorded:
                overridden.append((name, given, recorded))
        return policies, overridden

    def files(self):
        """`{file name: bytes}` to save beside the preset (`extra_files`)."""
        files = {names.CLASS_NAMES_FILE: json_bytes(self.names)}
        if self.multi_label:
            files[names.MULTI_LABEL_FILE] = json_bytes(
                {
                    "format": MULTI_LABEL_FORMAT,
                    "findings": self.names,
                    "thresholds": dict(zip(self.names, self.thresholds)),
                    "threshold_rule": self.threshold_rule,
                    "details": self.details or {},
                }
            )
        if self.temperatures is not None:
            files[TEMPERATURE_FILE] = temperature_bytes(self.temperatures)
        return files


def most_probable_first(probabilities, top_k=None):
    """The class indices of `(..., num_classes)` probabilities, most probable
    first along the last axis (equal ones in index order), `top_k` of them
    (`None` for all): how findings and top classes are listed everywhere.

    Example:
    ```python
    from densenet_hub.presets.class_labels import most_probable_first

    assert most_probable_first([0.2, 0.7, 0.2]).tolist() == [1, 0, 2]
    assert most_probable_first([[0.2, 0.7], [0.9, 0.1]], top_k=1).tolist() == [[1], [0]]
    ```
    """
    import numpy as np

    return np.argsort(-np.asarray(probabilities), axis=-1, kind="stable")[..., :top_k]


def at_or_above(probabilities, thresholds):
    """The findings rule: a finding is positive when its probability is at or
    above its threshold. The comparison is exact, a float32 probability
    against the threshold as saved (rounding the threshold to float32 would
    call positive a probability just under it), so every command and route
    decides alike.

    Args:
        probabilities: `(..., num_classes)` probabilities; NaN is never
            positive.
        thresholds: one threshold per class.

    Returns:
        A bool array shaped as `probabilities`.

    Example:
    ```python
    import numpy as np
    from densenet_hub.presets.class_labels import at_or_above

    assert at_or_above([0.3, 0.3], [0.3, 0.31]).tolist() == [True, False]
    # 0.3 + 1e-12 is 0.3 in float32, yet above the float32 0.3.
    assert not at_or_above(np.float32([0.3]), [float(np.float32(0.3)) + 1e-12])[0]
    ```
    """
    import numpy as np

    return np.asarray(probabilities, "float64") >= np.asarray(thresholds, "float64")


def class_labels_of(preset, num_classes, multi_label=False):
    """The `ClassLabels` of a classifier preset (a folder, a built-in name or
    a cached handle) whose head has `num_classes` classes; see
    `read_class_labels`."""
    return read_class_labels(local_folder(preset), num_classes, multi_label)


def read_class_labels(folder, num_classes, multi_label=False):
    """Reads the class-label files of a preset folder.

    A file that does not fit the model (not JSON, another number of names,
    thresholds outside [0, 1]) is ignored with a `LabelFileWarning`, since
    the model itself still works.

    Args:
        folder: the preset folder, or `None` for a preset with none.
        num_classes: the classifier's number of classes.
        multi_label: whether its head is multi-label; only then are
            thresholds read.

    Returns:
        `ClassLabels`; a multi-label preset without thresholds has
        `thresholds=None`.
    """
    folder = None if folder is None else pathlib.Path(folder)
    labels = None
    if folder is not None and (folder / names.CLASS_NAMES_FILE).is_file():
        labels = _read_json(
            folder / names.CLASS_NAMES_FILE,
            _names_problem(num_classes),
            "showing class indices instead",
        )
    if labels is None:
        labels = default_class_names(num_classes)
    result = ClassLabels(labels)
    path = None if folder is None else folder / names.MULTI_LABEL_FILE
    if multi_label and path is not None and path.is_file():
        record = _read_json(
            path, _multi_label_problem(result.names), "no decision thresholds are used"
        )
        if record is not None:
            result.thresholds = [float(record["thresholds"][name]) for name in result.names]
            result.threshold_rule = record.get("threshold_rule")
            result.details = record.get("details") or None
    path = None if folder is None else folder / TEMPERATURE_FILE
    if path is not None and path.is_file():
        # One per finding, or one for every class (a softmax head's).
        record = _read_json(
            path, _temperature_problem({1, num_classes}), "probabilities are not rescaled"
        )
        if record is not None:
            result.temperatures = [float(value) for value in record["temperatures"]]
    return result


def temperature_bytes(temperatures, fit=None):
    """The `temperature.json` of `temperatures` (and the facts of their
    `fit`, a JSON-able dict, e.g. the NLL and ECE before and after).

    Example:
    ```python
    import json
    from densenet_hub.presets.class_labels import temperature_bytes

    record = json.loads(temperature_bytes([1.5], {"images": 10}))
    assert record["temperatures"] == [1.5] and record["fit"] == {"images": 10}
    ```
    """
    return json_bytes(
        {"format": TEMPERATURE_FORMAT, "temperatures": [float(t) for t in temperatures],
         "fit": fit or {}}
    )  # fmt: skip


def save_temperatures(folder, temperatures, fit=None):
    """Writes `temperature.json` into the preset folder `folder`, atomically
    (replacing an earlier one); loading the preset for inference then
    divides the head's logits by `temperatures`.

    Example:
    ```python
    import tempfile
    from densenet_hub.presets.class_labels import read_class_labels, save_temperatures

    folder = tempfile.mkdtemp()
    save_temperatures(folder, [1.5, 0.8])
    assert read_class_labels(folder, 2, multi_label=True).temperatures == [1.5, 0.8]
    ```
    """
    from densenet_hub.base.publish import published
    from densenet_hub.base.publish import write_file

    problem = _temperature_problem({len(temperatures)})(
        {"format": TEMPERATURE_FORMAT, "temperatures": list(temperatures)}
    )
    if problem is not None:
        raise ValueError(f"save_temperatures: {problem}.")
    with published(pathlib.Path(folder) / TEMPERATURE_FILE, overwrite=True) as staging:
        write_file(staging, temperature_bytes(temperatures, fit))


def class_names_from(text):
    """Class names from a command-line value: `chestxray14` (ChestX-ray14's
    14 findings in CheXNet's output order), a file (a JSON list, or one name
    per line), or names joined by commas.

    Example:
    ```python
    from densenet_hub.presets.class_labels import class_names_from

    assert class_names_from("Edema, Effusion") == ["Edema", "Effusion"]
    assert class_names_from("chestxray14")[:2] == ["Atelectasis", "Cardiomegaly"]
    ```
    """
    from densenet_hub.data.label_tables import CHESTXRAY14_FINDINGS

    if text.strip().lower() == "chestxray14":
        return list(CHESTXRAY14_FINDINGS)
    values = _file_values(text, "class names")
    if values is None:
        values = [name.strip() for name in text.split(",")]
    if not all(isinstance(name, str) and name.strip() for name in values):
        raise ValueError(
            f"class names {text!r}: every name must be non-empty text; give "
            "names joined by commas, a file with one per line or a JSON list, "
            "or 'chestxray14'."
        )
    names = [name.strip() for name in values]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"class names {text!r}: {', '.join(repeated)} given twice; name each class once."
        )
    return names


def thresholds_from(text):
    """Decision thresholds from a command-line value: a file (a JSON list,
    or one number per line) or numbers joined by commas.

    Example:
    ```python
    from densenet_hub.presets.class_labels import thresholds_from

    assert thresholds_from("0.5,0.25") == [0.5, 0.25]
    ```
    """
    values = _file_values(text, "thresholds")
    if values is None:
        values = [value.strip() for value in text.split(",")]
    try:
        return [float(value) for value in values]
    except (TypeError, ValueError):
        raise ValueError(
            f"thresholds {text!r}: expected numbers in [0, 1] joined by "
            "commas, or a file with one per line or a JSON list."
        ) from None


def _file_values(text, what):
    """The values listed in the file `text` names, or `None` when it names no file."""
    path = pathlib.Path(text).expanduser()
    if not path.is_file():
        return None
    if path.suffix.lower() == ".json":
        values = read_json(path, MAX_LABEL_FILE_BYTES, any_value=True, fix=None)
        if not isinstance(values, list):
            raise ValueError(
                f"{path}: {what} must be a JSON list, got {type(values).__name__}."
            )
        return values
    with open(path, "rb") as file:
        data = file.read(MAX_LABEL_FILE_BYTES + 1)
    if len(data) > MAX_LABEL_FILE_BYTES:
        raise ValueError(f"{path}: over {MAX_LABEL_FILE_BYTES} bytes; is it a list of {what}?")
    return [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]


def default_class_names(num_classes):
    """ImageNet's names for a 1000-class head, else `class_<index>`."""
    if num_classes == len(IMAGENET_CLASSES):
        return list(IMAGENET_CLASSES)
    return [f"class_{index}" for index in range(num_classes)]


def _read_json(path, problem_of, consequence):
    """The JSON value in `path`, or `None` (with a warning) when it does not fit."""
    try:
        value = read_json(path, MAX_LABEL_FILE_BYTES, any_value=True, fix=None)
    except ValueError as error:
        message = f"{error} Ignoring it: {consequence}."
    else:
        problem = problem_of(value)
        if problem is None:
            return value
        message = f"ignoring {path}: {problem}; {consequence}."
    warnings.warn(LabelFileWarning(message), stacklevel=3)
    return None


def _names_problem(num_classes):
    def problem(value):
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            return "it is not a list of strings"
        if len(value) != num_classes:
            return f"it has {len(value)} names for {num_classes} classes"
        return None

    return problem


def _temperature_problem(counts):
    def problem(record):
        if not isinstance(record, dict) or record.get("format") != TEMPERATURE_FORMAT:
            return f"it is not a format-{TEMPERATURE_FORMAT} temperature record"
        values = record.get("temperatures")
        if not isinstance(values, list) or len(values) not in counts or not values:
            shown = " or ".join(map(str, sorted(counts)))
            return f"it does not hold {shown} temperature(s)"
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0
            ):
                return f"temperature {value!r} is not a positive number"
        return None

    return problem


def _multi_label_problem(class_names):
    def problem(record):
        if not isinstance(record, dict) or record.get("format") != MULTI_LABEL_FORMAT:
            return f"it is not a format-{MULTI_LABEL_FORMAT} multi-label record"
        if record.get("findings") != class_names:
            return f"its findings {record.get('findings')!r} are not the class names {class_names!r}"
        thresholds = record.get("thresholds")
        if not isinstance(thresholds, dict) or sorted(thresholds) != sorted(class_names):
            return "its thresholds do not name each finding once"
        try:
            _check_thresholds(
                class_names, [thresholds[name] for name in class_names], names.MULTI_LABEL_FILE
            )
        except (TypeError, ValueError) as error:
            return str(error)
        return None

    return problem


def _check_thresholds(class_names, thresholds, owner):
    if len(thresholds) != len(class_names):
        raise ValueError(
            f"{owner}: {len(thresholds)} thresholds for {len(class_names)} "
            "findings; give one per finding."
        )
    for name, value in zip(class_names, thresholds):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and 0 <= value <= 1
        ):
            raise ValueError(
                f"{owner}: the threshold of {name!r} must be a probability in "
                f"[0, 1], got {value!r}."
            )
