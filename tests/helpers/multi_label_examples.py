"""Example targets, scores and weights of a multi-label classifier, for the
tests of `densenet_hub.evaluation`."""

import numpy as np

FINDINGS = ["Atelectasis", "Cardiomegaly", "Effusion"]


def masked_example():
    """Eight images, three findings; weight 0 marks uncertain labels
    (target -1, as CheXpert writes them), which must not be read."""
    targets = np.array(
        [[1, 0, 1], [0, 0, -1], [1, 1, 0], [0, 1, 1], [1, -1, 0], [0, 0, 1], [1, 1, 0], [0, 0, 1]]
    )
    scores = np.array(
        [
            [0.9, 0.2, 0.7], [0.4, 0.1, 0.9], [0.35, 0.8, 0.2], [0.5, 0.6, 0.6],
            [0.7, 0.95, 0.3], [0.2, 0.3, 0.5], [0.8, 0.4, 0.4], [0.6, 0.5, 0.1],
        ]
    )  # fmt: skip
    weights = (targets >= 0).astype("float32")
    weights[0, 0] = 0  # A certain label left out too: it must drop out of the metrics.
    return targets, scores, weights


def synthetic(rng, images, findings=3, separation=1.0):
    """Random 0/1 targets and sigmoid scores that rank positives higher by
    `separation` on average."""
    targets = rng.integers(0, 2, (images, findings))
    scores = 1 / (1 + np.exp(-(separation * targets + rng.normal(size=(images, findings)))))
    return targets, scores
