"""Patient-level multi-label splits and the per-finding checks on them."""

import numpy as np
import pytest

from densenet_hub.training import check_split_findings
from densenet_hub.training import multilabel_split
from densenet_hub.training import split_counts

PREVALENCES = (0.02, 0.05, 0.1, 0.2, 0.4)


def random_table(seed, rows, patients):
    """Targets with rare and common findings, patients of 1 to many images."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((rows, len(PREVALENCES))) < PREVALENCES).astype("float32")
    groups = rng.integers(0, patients, size=rows)
    return targets, groups


@pytest.mark.parametrize("seed", range(5))
def test_groups_are_never_split_and_rows_are_partitioned(seed):
    targets, groups = random_table(seed, rows=int(60 + 40 * seed), patients=20 + 5 * seed)
    train, val = multilabel_split(targets, val_split=0.25, seed=seed, groups=groups)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(targets)))
    assert not set(groups[train]) & set(groups[val])
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


@pytest.mark.parametrize("val_split", [0.1, 0.2, 0.5])
def test_each_findings_positives_are_split_near_val_split(val_split):
    targets, groups = random_table(0, rows=3000, patients=1000)
    train, val = multilabel_split(targets, val_split=val_split, seed=0, groups=groups)
    val_positives, _ = split_counts(targets, val)
    fractions = val_positives / targets.sum(axis=0)
    # The rarest finding has about 60 positives: one image moves 1/60.
    np.testing.assert_allclose(fractions, val_split, atol=0.01)
    assert abs(len(val) / len(targets) - val_split) < 0.02


def test_stratification_beats_a_random_group_split_on_rare_findings():
    targets, groups = random_table(1, rows=1500, patients=500)
    total = targets.sum(axis=0)
    worst = []
    for seed in range(5):
        _, val = multilabel_split(targets, val_split=0.2, seed=seed, groups=groups)
        worst.append(np.abs(targets[val].sum(axis=0) / total - 0.2).max())
        rng = np.random.default_rng(seed)
        random_val = np.isin(groups, rng.permutation(500)[:100])
        worst.append(-np.abs(targets[random_val].sum(axis=0) / total - 0.2).max())
    stratified, random = np.array(worst[0::2]), -np.array(worst[1::2])
    assert stratified.max() < 0.03 < random.mean()


def test_the_split_depends_only_on_the_seed():
    targets, groups = random_table(2, rows=200, patients=60)
    first = multilabel_split(targets, 0.2, seed=3, groups=groups)
    again = multilabel_split(targets.copy(), 0.2, seed=3, groups=groups.copy())
    other = multilabel_split(targets, 0.2, seed=4, groups=groups)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[1], other[1])


def test_without_groups_each_row_is_its_own_group():
    targets, _ = random_table(3, rows=500, patients=1)
    train, val = multilabel_split(targets, val_split=0.2, seed=0)
    assert len(val) == 100 and len(train) == 400
    # Single rows can be placed one by one: each finding is off by at most
    # one positive from its exact share.
    off = split_counts(targets, val)[0] - 0.2 * targets.sum(axis=0)
    assert np.abs(off).max() <= 1, off


@pytest.mark.parametrize("seed", range(4))
def test_two_groups_give_one_to_each_side(seed):
    targets = np.array([[1, 0], [1, 1], [0, 0]])
    train, val = multilabel_split(targets, val_split=0.1, seed=seed, groups=["a", "a", "b"])
    assert sorted([train.tolist(), val.tolist()]) == [[0, 1], [2]]


def test_only_weighted_positives_are_stratified():
    # Finding 0 has 50 counted positives and 450 ignored ones: the counted
    # ones alone must be split 80/20.
    rng = np.random.default_rng(0)
    targets = np.zeros((1000, 1), "float32")
    targets[:500] = 1
    weights = np.ones_like(targets)
    weights[50:500] = 0
    order = rng.permutation(1000)
    targets, weights = targets[order], weights[order]
    _, val = multilabel_split(targets, val_split=0.2, seed=0, weights=weights)
    assert split_counts(targets, val, weights)[0].tolist() == [10]


def test_split_counts_counts_weighted_entries_only():
    targets = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 1]])
    weights = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [1, 1, 1]])
    positives, negatives = split_counts(targets, [0, 1, 3], weights)
    assert positives.tolist() == [1, 1, 1] and negatives.tolist() == [2, 1, 0]
    positives, negatives = split_counts(targets, [2, 3])
    assert positives.tolist() == [1, 2, 1] and negatives.tolist() == [1, 0, 1]


def test_check_split_findings_names_every_missing_finding():
    targets = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 1, 1]])
    check_split_findings(targets[:, :1], [0, 1], [2, 3], ["Edema"])
    with pytest.raises(ValueError) as error:
        check_split_findings(targets, [0, 1], [2, 3], ["Edema", "Mass", "Hernia"])
    message = str(error.value)
    assert "'Mass': training has 2 positive and 0 negative entries" in message
    assert "'Hernia': validation has 1 positive and 1 negative" not in message
    assert "Edema" not in message
    assert "try another seed or a larger val_split" in message
    weights = np.ones_like(targets)
    weights[2, 0] = 0  # validation's only positive Edema entry is ignored
    with pytest.raises(ValueError, match=r"'Edema': validation has 0 positive and 1 negative"):
        check_split_findings(targets[:, :1], [0, 1], [2, 3], ["Edema"], weights[:, :1])


def test_errors():
    targets = np.array([[1, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match=r"`val_split` must be between 0 and 1"):
        multilabel_split(targets, val_split=1.0)
    with pytest.raises(ValueError, match=r"1 group\(s\) in 3 row\(s\), but a split needs at least 2"):
        multilabel_split(targets, groups=["p", "p", "p"])
    with pytest.raises(ValueError, match=r"`groups` needs one id per row, shape \(3,\)"):
        multilabel_split(targets, groups=["p", "q"])
    with pytest.raises(ValueError, match=r"`targets` must be a \[rows, findings\] array"):
        multilabel_split(np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"of 0 and 1, got shape \(3, 2\) with other values"):
        multilabel_split(targets * 0.5)
    with pytest.raises(ValueError, match=r"`weights` must have the shape of `targets`"):
        split_counts(targets, [0], weights=np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"`findings` names 1 finding\(s\) but `targets` has 2"):
        check_split_findings(targets, [0], [1, 2], ["Edema"])
