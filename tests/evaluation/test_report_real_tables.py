"""Subgroups on the real public chest X-ray tables (from the torchxrayvision
wheel, tests/helpers/real_tables.py): NIH's `Patient Gender`, `View
Position` and `Patient Age`, CheXpert's `Sex`, `Age` and `AP/PA` with the
frontal filter. The cells follow the filtered rows exactly as pandas reads
them, and the subgroup AUROCs equal scikit-learn's on the same subsets."""

import numpy as np
import pandas as pd
import pytest
from helpers import real_tables
from sklearn.metrics import roc_auc_score

from densenet_hub.data import read_label_table
from densenet_hub.evaluation.subgroups import subgroup_aurocs
from densenet_hub.evaluation.subgroups import table_columns


@pytest.mark.slow
def test_nih_subgroups_follow_the_pa_rows_and_equal_scikit_learn():
    source = real_tables.nih_data_entry()
    table = read_label_table(source, where=["View Position=PA"], check_files=False)
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    frame = frame[frame["View Position"] == "PA"]
    cells = table_columns(table, ["Patient Gender", "Patient Age", "View Position"])
    assert cells["Patient Gender"] == frame["Patient Gender"].tolist()
    assert cells["Patient Age"] == frame["Patient Age"].tolist()
    assert set(cells["View Position"]) == {"PA"}
    rng = np.random.default_rng(0)
    scores = table.targets * 0.4 + rng.random(table.targets.shape)
    rows = subgroup_aurocs(table.targets, scores, table.findings,
                           {"Patient Gender": cells["Patient Gender"]}, table.weights)  # fmt: skip
    assert {row.value for row in rows} == {"F", "M"}
    for row in rows:
        column = table.findings.index(row.finding)
        subset = (frame["Patient Gender"] == row.value).to_numpy()
        truth = table.targets[subset, column]
        assert (row.positives, row.negatives) == (truth.sum(), (truth == 0).sum())
        assert abs(row.auroc - roc_auc_score(truth, scores[subset, column])) < 1e-12


@pytest.mark.slow
def test_chexpert_frontal_subgroups_by_sex_and_age_decade():
    source = real_tables.chexpert_train()
    table = read_label_table(source, where=["Frontal/Lateral=Frontal"], check_files=False,
                             findings=["Edema", "Pleural Effusion"])  # fmt: skip
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    frame = frame[frame["Frontal/Lateral"] == "Frontal"]
    cells = table_columns(table, ["Sex", "Age", "AP/PA"])
    assert cells == {name: frame[name].tolist() for name in ("Sex", "Age", "AP/PA")}
    scores = np.random.default_rng(1).random(table.targets.shape)
    rows = subgroup_aurocs(table.targets, scores, table.findings, {"Age": cells["Age"]},
                           table.weights)  # fmt: skip
    ages = frame["Age"].astype(int).to_numpy()
    decades = {row.value for row in rows}
    assert decades == {f"{low}-{low + 10}" for low in np.unique(ages // 10 * 10)}
    for row in rows:
        low = int(row.value.split("-")[0])
        members = (ages >= low) & (ages < low + 10)
        assert row.images == members.sum()
        column = table.findings.index(row.finding)
        counted = members & (table.weights[:, column] > 0)
        truth = table.targets[counted, column]
        if row.reason is None:
            assert abs(row.auroc - roc_auc_score(truth, scores[counted, column])) < 1e-12
        else:
            assert np.unique(truth).size < 2
