"""Batches of labelled image files for `fit` and `evaluate`, read from disk
as they are needed."""

import keras
import numpy as np

from densenet_hub.data.images import read_images


class LabelledBatches(keras.utils.PyDataset):
    """`(images, labels)` batches decoded from files, preprocessed and, for
    training, augmented; `(images, labels, weights)` when the batches carry
    sample weights (`cover_every_row`, or multi-label entry weights).

    Only one batch of images is in memory at a time. The model receives the
    preprocessor's output, so the task's own preprocessor must be switched
    off (`task.preprocessor = None`) while it reads these batches.

    Args:
        paths: image file paths.
        labels: an int array of class indices, one per path, or for a
            multi-label task a `(paths, classes)` array of 0/1 targets.
        label_weights: `None`, or for multi-label targets their
            `(paths, classes)` weights (0 leaves an entry out of the loss
            and the weighted metrics); batches then carry them as sample
            weights.
        batch_size: images per batch.
        preprocess: a layer or function from a list of images (uint8, or
            float32 levels in [0, 255]) to a batch tensor, e.g. a
            classifier's preprocessor.
        augment: `None`, or a layer applied with `training=True` after
            preprocessing.
        shuffle: reshuffle the order every epoch.
        seed: seed of the shuffling.
        on_error: `"skip"` drops an image that fails to decode from its
            batch (with a `densenet_hub.data.SkippedImageWarning`); `"fail"`
            raises.
        replicas: the data-parallel replicas of a multi-device run. Every
            replica needs the same number of rows, so a batch is cut to a
            multiple of `replicas` (only the last batch can lose rows: fewer
            than `replicas`, different ones each shuffled epoch), unless
            `cover_every_row`.
        cover_every_row: for evaluation: pad the last batch to a multiple of
            `replicas` instead, with copies of its first row, and give every
            batch sample weights (0 for the padding), so that the loss and
            weighted metrics cover every image once and equal the
            one-device result. Batches are then `(images, labels, weights)`.
        local_rows: `None`, or a function from a global batch size to the
            slice of it this process reads in a multi-process run, such as
            `densenet_hub.distribution.local_batch_rows`.

    Example:
    ```python
    import tempfile
    import numpy as np
    import PIL.Image
    from densenet_hub.training import LabelledBatches

    folder = tempfile.mkdtemp()
    paths = []
    for i in range(3):
        paths.append(f"{folder}/{i}.png")
        PIL.Image.fromarray(np.full((8, 8, 3), 40 * i, "uint8")).save(paths[-1])
    batches = LabelledBatches(
        paths, np.array([0, 1, 1]), batch_size=2,
        preprocess=lambda images: np.stack(images) / 255.0,
    )
    x, y = batches[0]
    assert len(batches) == 2 and x.shape == (2, 8, 8, 3) and list(y) == [0, 1]
    ```
    """

    def __init__(
        self,
        paths,
        labels,
        batch_size,
        preprocess,
        augment=None,
        shuffle=False,
        seed=0,
        on_error="fail",
        replicas=1,
        local_rows=None,
        cover_every_row=False,
        label_weights=None,
    ):
        super().__init__()
        self.paths = list(paths)
        labels = np.asarray(labels)
        self.labels = labels.astype("float32" if labels.ndim == 2 else "int64")
        self.label_weights = (
            None if label_weights is None else np.asarray(label_weights, dtype="float32")
        )
        self.batch_size = batch_size
        self.preprocess = preprocess
        self.augment = augment
        self.shuffle = shuffle
        self.on_error = on_error
        self.replicas = replicas
        self.local_rows = local_rows
        self.cover_every_row = cover_every_row
        # Keras averages a batch's weighted loss over all its rows, padding
        # included, then weights batches by their row count: real rows
        # weighing (rows + padding) / rows make both averages the true mean.
        rows = len(self.paths)
        self._real_row_weight = (rows + self._padding(rows)) / max(rows, 1)
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.paths))
        self._reshuffle()

    def __len__(self):
        full, rest = divmod(len(self.paths), self.batch_size)
        return full + (rest >= (1 if self.cover_every_row else self.replicas))

    def _padding(self, rows):
        """Rows of padding that bring a batch of `rows` to a multiple of the replicas."""
        return -rows % self.replicas if self.cover_every_row else 0

    def __getitem__(self, index):
        indices = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        weights = np.full(len(indices), self._real_row_weight, "float32")
        if self.cover_every_row:
            padding = self._padding(len(indices))
            indices = np.concatenate([indices, np.repeat(indices[:1], padding)])
            weights = np.concatenate([weights, np.zeros(padding, "float32")])
        else:
            indices = indices[: len(indices) - len(indices) % self.replicas]
        if self.local_rows is not None:
            rows = self.local_rows(len(indices))
            indices, weights = indices[rows], weights[rows]
        batch_paths = [self.paths[i] for i in indices]
        images, kept = read_images(batch_paths, self.on_error)
        if self.replicas > 1 and len(images) < len(batch_paths):
            raise ValueError(
                f"{len(batch_paths) - len(images)} image(s) of a batch could not "
                "be decoded; a multi-device run needs every batch whole, so "
                "remove the files named in the warnings and rerun (the checkpoint resumes)."
            )
        if not images:
            raise ValueError(
                f"no image of a training batch could be decoded "
                f"({', '.join(map(str, batch_paths[:3]))}, ...); check the files."
            )
        kept = set(kept)
        rows = [row for row, path in enumerate(batch_paths) if path in kept]
        x = self.preprocess(images)
        if self.augment is not None:
            x = self.augment(x, training=True)
        x, labels = keras.ops.convert_to_numpy(x), self.labels[indices[rows]]
        weights = weights[rows]
        if self.label_weights is not None:
            return x, labels, weights[:, None] * self.label_weights[indices[rows]]
        return (x, labels, weights) if self.cover_every_row else (x, labels)

    def on_epoch_end(self):
        self._reshuffle()

    def _reshuffle(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.paths))
