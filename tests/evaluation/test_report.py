"""The evaluation report and its parts: the per-image CSV, the expected
calibration error, subgroup AUROC, and `evaluate --predictions --report
--subgroups` from the shell, every number checked against scikit-learn or
a direct numpy computation."""

import csv
import html.parser
import json
import math

import numpy as np
import pytest
from helpers.cli import error_line
from helpers.multi_label_examples import masked_example
from helpers.multi_label_examples import synthetic
from helpers.report_cases import CLASSES
from helpers.report_cases import FINDINGS
from helpers.report_cases import THRESHOLDS
from helpers.report_cases import write_multilabel_case
from helpers.report_cases import write_single_label_case
from sklearn.metrics import average_precision_score
from sklearn.metrics import roc_auc_score

from densenet_hub.cli.main import main
from densenet_hub.data import read_label_table
from densenet_hub.evaluation import multilabel_report
from densenet_hub.evaluation import reliability_curves
from densenet_hub.evaluation.predictions import write_multilabel_predictions
from densenet_hub.evaluation.report import CALIBRATION_BINS
from densenet_hub.evaluation.report import confident_mistakes
from densenet_hub.evaluation.report import multi_label_document
from densenet_hub.evaluation.report import write_multi_label_report
from densenet_hub.evaluation.subgroups import parse_bins
from densenet_hub.evaluation.subgroups import subgroup_aurocs
from densenet_hub.evaluation.subgroups import table_columns


def _read_predictions(path, findings):
    """targets, weights, probabilities and decisions from a predictions CSV."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    shape = (len(rows), len(findings))
    targets, weights, probabilities = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    decisions = np.zeros(shape)
    for r, row in enumerate(rows):
        for c, name in enumerate(findings):
            weights[r, c] = float(row[f"{name} weight"])
            targets[r, c] = float(row[f"{name} label"] or "nan")
            probabilities[r, c] = float(row[f"{name} probability"])
            decisions[r, c] = float(row[f"{name} decision"] or "nan")
    return [row["path"] for row in rows], targets, weights, probabilities, decisions


def test_predictions_csv_holds_exact_probabilities_labels_and_decisions(tmp_path):
    targets, scores, weights = masked_example()
    scores = scores + 1e-9 * np.arange(scores.size).reshape(scores.shape)  # beyond 4 decimals
    path = tmp_path / "predictions.csv"
    write_multilabel_predictions(path, [f"{i}.png" for i in range(8)], ["A", "B", "C"],
                                 targets, scores, weights, [0.5, 0.45, 0.55])  # fmt: skip
    paths, read_targets, read_weights, read_scores, decisions = _read_predictions(
        path, ["A", "B", "C"]
    )
    assert paths == [f"{i}.png" for i in range(8)]
    assert np.array_equal(read_scores, scores)  # bit for bit
    assert np.array_equal(read_weights, weights > 0)
    counted = weights > 0
    assert np.array_equal(read_targets[counted], targets[counted])
    assert np.isnan(read_targets[~counted]).all()  # a label left out is written empty
    assert np.array_equal(decisions, scores >= np.array([0.5, 0.45, 0.55]))


def test_predictions_csv_is_refused_when_the_shapes_disagree(tmp_path):
    with pytest.raises(ValueError, match="one path per row of the probabilities \\(2\\), got 3"):
        write_multilabel_predictions(tmp_path / "p.csv", ["a", "b", "c"], ["A"], [[0], [1]],
                                     [[0.1], [0.9]])  # fmt: skip
    assert not (tmp_path / "p.csv").exists()


def _direct_ece(truth, probability, bins):
    """ECE as Guo et al. define it, written out: bins (k/B, (k+1)/B], the
    first with 0; sum over bins of |accuracy - confidence| * n_bin / n."""
    total = 0.0
    for k in range(bins):
        low, high = k / bins, (k + 1) / bins
        inside = (probability > low) & (probability <= high)
        if k == 0:
            inside |= probability == 0
        if inside.any():
            total += inside.sum() * abs(truth[inside].mean() - probability[inside].mean())
    return total / probability.size


def test_expected_calibration_error_equals_a_direct_numpy_computation(rng):
    probabilities = rng.random((997, 3))
    probabilities[:5, 0] = [0.0, 1.0, 1 / 15, 2 / 15, 0.5]  # on bin edges
    targets = (rng.random((997, 3)) < probabilities**1.5).astype(int)
    weights = (rng.random((997, 3)) > 0.1).astype(float)
    curves = reliability_curves(targets, probabilities, FINDINGS, weights, CALIBRATION_BINS)
    for column, curve in enumerate(curves):
        kept = weights[:, column] > 0
        expected = _direct_ece(targets[kept, column], probabilities[kept, column], 15)
        assert abs(curve.expected_calibration_error - expected) < 1e-12
        assert expected > 0.02  # the powered targets are miscalibrated: not a trivial 0
    report = multilabel_report(targets, probabilities, FINDINGS, weights)
    document = multi_label_document(report, ["x"] * 997, targets, probabilities, weights, {})
    assert document["calibration"]["bins"] == 15
    assert [f["ece"] for f in document["calibration"]["findings"]] == [
        c.expected_calibration_error for c in curves
    ]


def test_subgroup_aurocs_equal_scikit_learn_on_each_subset(rng):
    targets, scores = synthetic(rng, 300)
    weights = (rng.random((300, 3)) > 0.15).astype(float)
    sex = rng.choice(["F", "M", "U"], 300)
    targets[sex == "U", 1] = 0  # no Edema positive among U
    ages = rng.integers(1, 95, 300).astype(str)
    ages[:7] = ""
    rows = subgroup_aurocs(targets, scores, FINDINGS, {"Sex": sex, "Age": ages}, weights,
                           bins=parse_bins("0,40,60,80,200"))  # fmt: skip
    groups = {(row.column, row.value) for row in rows}
    assert groups == {("Sex", "F"), ("Sex", "M"), ("Sex", "U"), ("Age", "0-40"),
                      ("Age", "40-60"), ("Age", "60-80"), ("Age", "80-200"), ("Age", "(empty)")}
    numbers = np.array([float(a) if a else np.nan for a in ages])
    members = {
        "F": sex == "F", "M": sex == "M", "U": sex == "U", "(empty)": np.isnan(numbers),
        "0-40": numbers < 40, "40-60": (numbers >= 40) & (numbers < 60),
        "60-80": (numbers >= 60) & (numbers < 80), "80-200": numbers >= 80,
    }  # fmt: skip
    checked = 0
    for row in rows:
        column = FINDINGS.index(row.finding)
        subset = members[row.value] & (weights[:, column] > 0)
        truth = targets[subset, column]
        assert (row.images, row.positives, row.negatives) == (
            members[row.value].sum(), truth.sum(), (truth == 0).sum()
        )
        if row.value == "U" and row.finding == "Edema":
            assert math.isnan(row.auroc) and row.reason == "no positive"
            continue
        assert abs(row.auroc - roc_auc_score(truth, scores[subset, column])) < 1e-12
        checked += 1
    assert checked == len(rows) - 1


def test_subgroup_bins_are_checked():
    with pytest.raises(ValueError, match="at least two increasing numbers.*got '0,60,40'"):
        parse_bins("0,60,40")


def test_table_columns_follow_the_filtered_rows_and_bare_names(tmp_path):
    (tmp_path / "images_001" / "images").mkdir(parents=True)
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / "images_001" / "images" / name).write_bytes(b"")
    (tmp_path / "Data_Entry.csv").write_text(
        "Image Index,Finding Labels,Patient Gender,View Position,Patient Age\n"
        "a.png,Mass,F,PA,61\nb.png,No Finding,M,AP,40\nc.png,Edema|Mass,M,PA,\n"
    )
    table = read_label_table(tmp_path / "Data_Entry.csv", findings=["Mass", "Edema"],
                             where=["View Position=PA"])  # fmt: skip
    assert table_columns(table, ["Patient Gender", "Patient Age"]) == {
        "Patient Gender": ["F", "M"], "Patient Age": ["61", ""]
    }
    with pytest.raises(ValueError, match="no column 'Sex'.*'Patient Gender'"):
        table_columns(table, ["Sex"])


def test_confident_mistakes_rank_by_probability():
    targets = np.array([[0, 1], [0, 1], [1, 0], [0, 0]])
    probabilities = np.array([[0.6, 0.1], [0.95, 0.3], [0.2, 0.7], [0.4, 0.9]])
    found = confident_mistakes(targets, probabilities, np.ones((4, 2)), [0.5, 0.5], per_kind=1)
    assert found == [(0, 1, "false positive"), (0, 2, "false negative"),
                     (1, 3, "false positive"), (1, 0, "false negative")]  # fmt: skip


class _Page(html.parser.HTMLParser):
    """The parts of a report page the tests read: cells with data-value,
    image sources, and any reference outside the page."""

    def __init__(self):
        super().__init__()
        self.values, self.sources, self.outside = {}, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-value" in attrs and "data-metric" in attrs:
            self.values[(attrs["data-metric"], attrs["data-owner"])] = float(attrs["data-value"])
        if tag == "img":
            self.sources.append(attrs["src"])
        if tag == "script" or (tag == "link" and attrs.get("href") != "data:,"):
            self.outside.append((tag, attrs))
        for name in ("src", "href"):
            if name in attrs and not attrs[name].startswith("data:"):
                self.outside.append((tag, attrs))


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    table, preset = write_multilabel_case(root)
    status = main([
        "evaluate", str(preset), str(table), "--quiet", "--roc", str(root / "roc.png"),
        "--predictions", str(root / "predictions.csv"), "--report", str(root / "report.html"),
        "--subgroups", "Sex,Age,AP/PA", "--age-bins", "0,40,60,200", "--bootstrap", "200",
        "--where", "AP/PA!=LL",
    ])  # fmt: skip
    assert status == 0
    return root


@pytest.mark.slow
def test_report_numbers_equal_scikit_learn_on_the_predictions_csv(multilabel_run):
    root = multilabel_run
    _, targets, weights, probabilities, decisions = _read_predictions(
        root / "predictions.csv", FINDINGS
    )
    document = json.loads((root / "report.json").read_text())
    page = _Page()
    page.feed((root / "report.html").read_text())
    aurocs = []
    for column, finding in enumerate(document["metrics"]["findings"]):
        kept = weights[:, column] > 0
        truth, score = targets[kept, column], probabilities[kept, column]
        auroc = roc_auc_score(truth, score)
        aurocs.append(auroc)
        assert abs(finding["auroc"] - auroc) < 1e-12
        assert abs(page.values[("auroc", finding["name"])] - auroc) < 1e-12
        ap = average_precision_score(truth, score)
        assert abs(finding["average_precision"] - ap) < 1e-12
        assert abs(page.values[("average_precision", finding["name"])] - ap) < 1e-12
        assert finding["threshold"] == pytest.approx(THRESHOLDS[column])
        sensitivity = decisions[kept, column][truth == 1].mean()
        assert abs(finding["sensitivity"] - sensitivity) < 1e-12
        low, high = finding["auroc_ci"]
        assert low <= auroc <= high
    assert abs(document["metrics"]["mean_auroc"] - np.mean(aurocs)) < 1e-12
    assert document["metrics"]["bootstrap"] == 200
    assert document["context"]["settings"]["where"] == ["AP/PA!=LL"]
    assert len(document["context"]["table_sha256"]) == 64
    assert document["context"]["versions"]["backend"] in ("jax", "torch", "tensorflow")


@pytest.mark.slow
def test_report_subgroups_in_the_json_equal_scikit_learn(multilabel_run):
    root = multilabel_run
    _, targets, weights, probabilities, _ = _read_predictions(root / "predictions.csv", FINDINGS)
    sex = ["FMU"[row % 3] for row in range(48)]
    document = json.loads((root / "report.json").read_text())
    sex_rows = [row for row in document["subgroups"] if row["column"] == "Sex"]
    assert len(sex_rows) == 9
    for row in sex_rows:
        column = FINDINGS.index(row["finding"])
        subset = np.array([s == row["value"] for s in sex]) & (weights[:, column] > 0)
        if row["value"] == "U" and row["finding"] == "Edema":
            assert row["auroc"] is None and row["reason"] == "no positive"
            continue
        expected = roc_auc_score(targets[subset, column], probabilities[subset, column])
        assert abs(row["auroc"] - expected) < 1e-12
    ages = {row["value"] for row in document["subgroups"] if row["column"] == "Age"}
    assert ages == {"0-40", "40-60", "60-200", "(empty)"}


@pytest.mark.slow
def test_report_page_is_self_contained_with_its_pictures(multilabel_run):
    root = multilabel_run
    page = _Page()
    page.feed((root / "report.html").read_text())
    document = json.loads((root / "report.json").read_text())
    assert page.outside == []
    assert all(source.startswith("data:image/png;base64,") for source in page.sources)
    # ROC, PR, reliability, and a Grad-CAM picture per example.
    assert len(page.sources) == 3 + len(document["examples"])
    kinds = {(example["finding"], example["kind"]) for example in document["examples"]}
    assert len(document["examples"]) >= 3 and len(kinds) >= 3


@pytest.mark.slow
def test_single_label_predictions_and_report_list_the_misclassified(tmp_path):
    folder, preset = write_single_label_case(tmp_path)
    status = main([
        "evaluate", str(preset), str(folder), "--quiet",
        "--confusion-matrix", str(tmp_path / "confusion.png"),
        "--predictions", str(tmp_path / "predictions.csv"),
        "--report", str(tmp_path / "report.html"), "--report-examples", "1",
    ])  # fmt: skip
    assert status == 0
    with open(tmp_path / "predictions.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 12 and {row["true class"] for row in rows} == set(CLASSES)
    for row in rows:
        assert row["correct"] == str(int(row["true class"] == row["predicted class"]))
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["metrics"]["accuracy"] == np.mean([row["correct"] == "1" for row in rows])
    wrong = sorted((row for row in rows if row["correct"] == "0"),
                   key=lambda row: -float(row["probability"]))  # fmt: skip
    assert [m["path"] for m in document["misclassified"]] == [row["path"] for row in wrong]
    assert len(wrong) > 0
    assert np.sum(document["metrics"]["confusion_matrix"]) == 12
    page = _Page()
    page.feed((tmp_path / "report.html").read_text())
    assert page.outside == [] and len(page.sources) == 2  # confusion matrix + 1 Grad-CAM


def test_subgroup_options_are_refused_before_any_scoring(tmp_path, capsys):
    (tmp_path / "images" / "cat").mkdir(parents=True)
    missing_preset = str(tmp_path / "no_preset")
    assert main(["evaluate", missing_preset, str(tmp_path / "images"),
                 "--subgroups", "Sex"]) != 0  # fmt: skip
    assert "--subgroups needs a label table" in error_line(capsys)
    (tmp_path / "test.csv").write_text("Path,Edema\na.png,1\n")
    assert main(["evaluate", missing_preset, str(tmp_path / "test.csv"), "--subgroups", "Sex",
                 "--age-bins", "40,0"]) != 0  # fmt: skip
    assert "--age-bins: bins: bin edges must be at least two increasing" in error_line(capsys)


@pytest.mark.slow
def test_an_accelerated_model_gets_a_report_without_grad_cam(tmp_path):
    from helpers.models import build_tiny_classifier

    import densenet_hub

    accelerated = densenet_hub.runtime.accelerate(
        build_tiny_classifier(num_classes=3, activation="sigmoid")
    )
    targets, scores, weights = masked_example()
    report = multilabel_report(targets, scores, FINDINGS, weights)
    with pytest.warns(UserWarning, match="no Grad-CAM pictures: the evaluated model is a"):
        document = write_multi_label_report(
            report, [f"{i}.png" for i in range(8)], targets, scores, weights, {},
            html_path=tmp_path / "report.html", classifier=accelerated,
        )  # fmt: skip
    assert document["examples"] == []
    page = _Page()
    page.feed((tmp_path / "report.html").read_text())
    assert len(page.sources) == 3  # the curves only


@pytest.mark.slow
def test_json_output_stays_one_document_with_the_report_files(tmp_path, capsys):
    folder, preset = write_single_label_case(tmp_path)
    status = main([
        "evaluate", str(preset), str(folder), "--quiet", "--json",
        "--confusion-matrix", str(tmp_path / "confusion.png"),
        "--predictions", str(tmp_path / "predictions.csv"),
        "--report-json", str(tmp_path / "numbers.json"),
    ])  # fmt: skip
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((tmp_path / "numbers.json").read_text())
    assert printed["accuracy"] == written["metrics"]["accuracy"]
    assert not (tmp_path / "numbers.html").exists()  # --report-json alone writes no page
