"""Evaluating a classifier on labelled image files: a folder with one
sub-folder per class (single-label) or a label table (multi-label). Each
function runs the classifier over the files batch by batch
(`densenet_hub.inference.score_files`) and returns the report of
`single_label` or `multi_label`."""

import warnings

import numpy as np

from densenet_hub.data.images import find_labelled_images
from densenet_hub.evaluation.multi_label import multilabel_report
from densenet_hub.evaluation.single_label import TOP_K
from densenet_hub.evaluation.single_label import single_label_report
from densenet_hub.inference import score_files
from densenet_hub.models.task_data import DEFAULT_BATCH_SIZE
from densenet_hub.presets.class_labels import default_class_names


def evaluate_folder(
    classifier, folder, output_names=None, top_k=TOP_K, batch_size=DEFAULT_BATCH_SIZE,
    on_error="skip", predictor=None, on_batch=None, tta="none",
):  # fmt: skip
    """Runs a single-label classifier over a folder with one sub-folder of
    images per class, and reports its metrics.

    Args:
        classifier: an `ImageClassifier` with its preprocessor.
        folder: the folder, e.g. `test/` holding `test/cat/1.png`; each
            sub-folder is a class, matched to the classifier's output of
            that name (see `evaluate_images`).
        output_names, top_k, batch_size, on_error, predictor, on_batch, tta:
            as for `evaluate_images`; `on_error` also applies to finding the
            images (`densenet_hub.data.find_labelled_images`).

    Returns:
        A `SingleLabelReport` whose classes are the sub-folders, in sorted
        order.

    Example:
    ```python
    import pathlib, tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.evaluation import evaluate_folder

    folder = pathlib.Path(tempfile.mkdtemp())
    for name in ("cat", "dog"):
        (folder / name).mkdir()
        for i in range(2):
            pixels = np.full((32, 32, 3), 100 * i, "uint8")
            PIL.Image.fromarray(pixels).save(folder / name / f"{i}.png")
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    report = evaluate_folder(classifier, folder, ["cat", "dog", "bird"])
    assert report.images == 4 and report.class_names == ["cat", "dog"]
    print(report.table())
    ```
    """
    paths, labels, class_names = find_labelled_images(folder, on_error)
    return evaluate_images(
        classifier, paths, labels, class_names, output_names, top_k=top_k,
        batch_size=batch_size, on_error=on_error, predictor=predictor, on_batch=on_batch,
        tta=tta,
    )  # fmt: skip


def evaluate_images(
    classifier, paths, labels, class_names, output_names=None, top_k=TOP_K,
    batch_size=DEFAULT_BATCH_SIZE, on_error="skip", predictor=None, on_batch=None, tta="none",
):  # fmt: skip
    """Runs a single-label classifier over labelled image files and reports
    its metrics.

    Each class is matched to the classifier's output of the same name. When
    the outputs are unnamed (`output_names` None or `class_0`, `class_1`,
    ...), the classes are outputs 0, 1, ... in the given order, with a
    warning.

    Args:
        classifier: an `ImageClassifier` with its preprocessor.
        paths: image file paths.
        labels: each image's class, an index into `class_names`.
        class_names: the evaluated classes' names.
        output_names: the classifier's output names (e.g. a preset's
            `ClassLabels.names`), or None.
        top_k: the k of the top-k accuracy.
        batch_size, on_error, predictor, on_batch, tta: as for
            `densenet_hub.inference.score_files`.

    Returns:
        A `SingleLabelReport` over the images that could be read.

    Raises:
        ValueError: a class is none of the named outputs, or there are more
            classes than unnamed outputs.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.evaluation import evaluate_images

    folder = tempfile.mkdtemp()
    paths = [f"{folder}/{i}.png" for i in range(3)]
    for i, path in enumerate(paths):
        PIL.Image.fromarray(np.full((32, 32, 3), 100 * i, "uint8")).save(path)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=2,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    report = evaluate_images(classifier, paths, [0, 1, 1], ["dark", "bright"], ["dark", "bright"])
    assert report.images == 3 and report.confusion_matrix.sum() == 3
    ```
    """
    return evaluate_images_scored(
        classifier, paths, labels, class_names, output_names, top_k=top_k,
        batch_size=batch_size, on_error=on_error, predictor=predictor, on_batch=on_batch,
        tta=tta,
    )[0]  # fmt: skip


def evaluate_images_scored(
    classifier, paths, labels, class_names, output_names=None, top_k=TOP_K,
    batch_size=DEFAULT_BATCH_SIZE, on_error="skip", predictor=None, on_batch=None, tta="none",
):  # fmt: skip
    """`evaluate_images`, also returning what the report was computed from,
    for per-image output (`densenet_hub.evaluation.predictions`) and the
    HTML report.

    Args:
        classifier, paths, labels, class_names, output_names, top_k,
            batch_size, on_error, predictor, on_batch, tta: as for
            `evaluate_images`.

    Returns:
        `(report, probabilities, kept, outputs)`: the `SingleLabelReport`,
        the `(len(kept), classifier outputs)` probabilities, the indices of
        the images that could be read, and the classifier output of each
        class of `class_names`.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.evaluation.labelled_files import evaluate_images_scored

    folder = tempfile.mkdtemp()
    paths = [f"{folder}/{i}.png" for i in range(2)]
    for i, path in enumerate(paths):
        PIL.Image.fromarray(np.full((32, 32, 3), 100 * i, "uint8")).save(path)
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=3,
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    report, probabilities, kept, outputs = evaluate_images_scored(
        classifier, paths, [0, 1], ["b", "a"], ["a", "b", "c"]
    )
    assert probabilities.shape == (2, 3) and list(kept) == [0, 1] and list(outputs) == [1, 0]
    ```
    """
    if output_names is None:
        output_names = default_class_names(classifier.num_classes)
    outputs = _class_outputs(list(class_names), list(output_names))
    probabilities, kept = score_files(
        classifier, paths, batch_size, on_error, predictor, on_batch, tta
    )
    report = single_label_report(
        np.asarray(labels)[kept], probabilities, class_names, outputs, top_k
    )
    return report, probabilities, kept, outputs


def evaluate_table(
    classifier, table, class_names=None, thresholds=None, batch_size=DEFAULT_BATCH_SIZE,
    on_error="skip", bootstrap=0, confidence=0.95, seed=0, predictor=None, on_batch=None,
    tta="none",
):  # fmt: skip
    """Runs a multi-label classifier over a label table's images and reports
    its metrics on the table's findings.

    Args:
        classifier: an `ImageClassifier` with a preprocessor and a sigmoid
            head (or logits: AUROC and AP only depend on the ranking).
        table: a `densenet_hub.data.LabelTable`, e.g. from
            `read_label_table("test.csv", uncertainty="ignore")`.
        class_names: the classifier's output names; each finding of the
            table is matched to the output of that name. `None` (a head
            without names, such as a converted CheXNet checkpoint): the
            table's findings are the outputs in order, and their counts
            must agree.
        thresholds: `None` or one decision threshold per classifier output
            (e.g. a preset's `ClassLabels.thresholds`).
        batch_size, on_error, predictor, on_batch, tta: as for
            `densenet_hub.inference.score_files`.
        bootstrap, confidence, seed: as for `multilabel_report`.

    Returns:
        `(report, probabilities, kept)`: the `MultiLabelReport`, the
        `(len(kept), len(table.findings))` probabilities of the table's
        findings and the table rows that could be read.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    import densenet_hub
    from densenet_hub.evaluation import evaluate_table

    folder = tempfile.mkdtemp()
    lines = ["Path,Effusion,Edema"]
    for i, cells in enumerate(["1,0", "0,1", "1,-1", "0,0"]):
        pixels = np.full((32, 32, 3), 50 * i, "uint8")
        PIL.Image.fromarray(pixels).save(f"{folder}/{i}.png")
        lines.append(f"{i}.png,{cells}")
    with open(f"{folder}/test.csv", "w") as file:
        file.write("\\n".join(lines) + "\\n")
    table = densenet_hub.data.read_label_table(f"{folder}/test.csv")
    backbone = densenet_hub.models.DenseNetBackbone(
        stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)
    )
    converter = densenet_hub.layers.DenseNetImageConverter(image_size=(32, 32), scale=1 / 255)
    classifier = densenet_hub.models.DenseNetImageClassifier(
        backbone, num_classes=2, activation="sigmoid",
        preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
    )
    report, probabilities, kept = evaluate_table(classifier, table, ["Effusion", "Edema"])
    assert [f.name for f in report.findings] == ["Effusion", "Edema"]
    assert report.findings[1].positives == 1  # the uncertain -1 is ignored
    ```
    """
    columns = _output_columns(table.findings, class_names, classifier.num_classes)
    probabilities, kept = score_files(
        classifier, table.paths, batch_size, on_error, predictor, on_batch, tta
    )
    probabilities = probabilities[:, columns]
    report = multilabel_report(
        table.targets[kept],
        probabilities,
        table.findings,
        weights=table.weights[kept],
        thresholds=None if thresholds is None else [thresholds[c] for c in columns],
        bootstrap=bootstrap,
        confidence=confidence,
        seed=seed,
    )
    return report, probabilities, kept


def _output_columns(findings, class_names, num_classes):
    """The classifier output of each finding of a table."""
    if class_names is None:
        if len(findings) != num_classes:
            raise ValueError(
                f"the table has {len(findings)} findings but the classifier "
                f"{num_classes} unnamed outputs; name its outputs (class_names) "
                "or choose as many findings, in the outputs' order."
            )
        return list(range(num_classes))
    position = {name: index for index, name in enumerate(class_names)}
    unknown = [name for name in findings if name not in position]
    if unknown:
        raise ValueError(
            f"finding(s) {', '.join(map(repr, unknown[:10]))} of the table are "
            f"not outputs of the classifier, whose classes are "
            f"{', '.join(map(repr, class_names[:20]))}; choose the table's "
            "findings (--findings) among them."
        )
    return [position[name] for name in findings]


def _class_outputs(class_names, output_names):
    """The classifier output of each evaluated class, matched by name; by
    order, with a warning, when the outputs are unnamed."""
    position = {name: index for index, name in enumerate(output_names)}
    unknown = [name for name in class_names if name not in position]
    if not unknown:
        return np.asarray([position[name] for name in class_names])
    generic = output_names == [f"class_{i}" for i in range(len(output_names))]
    if generic and len(class_names) <= len(output_names):
        warnings.warn(
            "the preset stores no class names; matching the class folders to "
            "class indices 0, 1, ... in sorted order."
        )
        return np.arange(len(class_names))
    shown = ", ".join(map(repr, output_names[:10])) + (", ..." if len(output_names) > 10 else "")
    raise ValueError(
        f"class folder(s) {', '.join(map(repr, unknown[:10]))} are not classes of "
        f"the preset, which has {len(output_names)} classes ({shown}); name the "
        "sub-folders after the preset's classes."
    )
