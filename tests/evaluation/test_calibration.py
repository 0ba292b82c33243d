"""`densenet_hub.evaluation.reliability_curves`: the non-empty bins equal
scikit-learn's `calibration_curve` on each finding's weighted entries, edges
fall in the lower bin as there, the expected calibration error by hand, and
bad input named."""

import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from densenet_hub.evaluation import reliability_curves

FINDINGS = ["Atelectasis", "Edema", "Effusion"]


@pytest.mark.parametrize("bins", [5, 10, 15])
def test_bins_are_scikit_learns_calibration_curve_on_the_weighted_entries(rng, bins):
    probabilities = rng.random((500, 3)) ** 2  # Crowded low bins, sparse high ones.
    targets = (rng.random((500, 3)) < np.sqrt(probabilities)).astype(int)
    weights = rng.random((500, 3)) > 0.25
    curves = reliability_curves(targets, probabilities, FINDINGS, weights, bins=bins)
    for column, curve in enumerate(curves):
        keep = weights[:, column]
        truth, probability = targets[keep, column], probabilities[keep, column]
        positive_fractions, mean_probabilities = calibration_curve(
            truth, probability, n_bins=bins, strategy="uniform"
        )
        filled = curve.counts > 0
        assert curve.name == FINDINGS[column] and curve.counts.sum() == keep.sum()
        np.testing.assert_allclose(curve.positive_fractions[filled], positive_fractions,
                                   atol=1e-12)  # fmt: skip
        np.testing.assert_allclose(curve.mean_probabilities[filled], mean_probabilities,
                                   atol=1e-12)  # fmt: skip
        assert np.isnan(curve.positive_fractions[~filled]).all()
        assert np.isnan(curve.mean_probabilities[~filled]).all()


def test_a_probability_on_an_edge_falls_in_the_lower_bin_as_in_scikit_learn():
    probabilities = np.array([[0.0], [0.25], [0.5], [0.5000001], [0.75], [1.0]])
    targets = np.array([[0], [1], [0], [1], [1], [1]])
    (curve,) = reliability_curves(targets, probabilities, ["Mass"], bins=4)
    assert curve.counts.tolist() == [2, 1, 2, 1]
    expected, _ = calibration_curve(targets[:, 0], probabilities[:, 0], n_bins=4)
    np.testing.assert_allclose(curve.positive_fractions, expected)


def test_expected_calibration_error_by_hand():
    probabilities = np.array([[0.1], [0.2], [0.3], [0.8], [0.9]])
    targets = np.array([[0], [0], [1], [1], [0]])
    (curve,) = reliability_curves(targets, probabilities, ["Mass"], bins=2)
    # Bin 1: 3 entries, mean 0.2, share 1/3; bin 2: 2 entries, mean 0.85, share 1/2.
    expected = (3 * abs(1 / 3 - 0.2) + 2 * abs(0.5 - 0.85)) / 5
    assert curve.expected_calibration_error == pytest.approx(expected, abs=1e-12)


def test_a_finding_without_entries_has_empty_bins():
    probabilities = np.array([[0.2, 0.3], [0.7, 0.8]])
    weights = np.array([[1, 0], [1, 0]])
    _, empty = reliability_curves(np.zeros((2, 2)), probabilities, ["a", "b"], weights)
    assert empty.counts.tolist() == [0] * 10
    assert math.isnan(empty.expected_calibration_error)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(probabilities=[[1.5], [0.2]]), r"must lie in \[0, 1\], got 1.5 at row 0.*sigmoid"),
        (dict(bins=0), "`bins` must be a whole number above 0"),
        (dict(findings=["a", "b"]), "must name each of the 1 columns, got 2 names"),
        (dict(targets=[[2], [0]]), "`targets` must be 0 or 1"),
    ],
)
def test_bad_input_names_the_argument_and_the_values(change, message):
    arguments = dict(targets=[[1], [0]], probabilities=[[0.9], [0.2]], findings=["a"])
    with pytest.raises(ValueError, match=message):
        reliability_curves(**{**arguments, **change})


def test_probabilities_outside_the_unit_interval_are_fine_where_masked():
    (curve,) = reliability_curves([[1], [0]], [[7.0], [0.2]], ["a"], weights=[[0], [1]])
    assert curve.counts.sum() == 1
