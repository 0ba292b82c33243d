"""The evaluation report's cost beside the evaluation itself: on the real
CheXpert `train.csv` (frontal rows, the 14 findings; from the
torchxrayvision wheel via tests/helpers/real_tables.py, or the file given)
with scores drawn at random around the real labels (no images are read),
the time of each part `evaluate --predictions --subgroups --report` adds:
the subgroup cells matched to the rows, the subgroup AUROCs, the
per-image CSV, the HTML and JSON report without Grad-CAM, and then one
Grad-CAM picture on a randomly initialised DenseNet-121 at 224x224 (the
report draws `--report-examples` x 2 x findings of them).

    KERAS_BACKEND=jax python benchmarks/bench_report.py
    KERAS_BACKEND=jax python benchmarks/bench_report.py --table train.csv --gradcam 3
"""

import argparse
import pathlib
import sys
import tempfile
import time

import numpy as np

TESTS = pathlib.Path(__file__).resolve().parents[1] / "tests"


def timed(label, function, results):
    start = time.perf_counter()
    value = function()
    results[label] = time.perf_counter() - start
    print(f"{label}: {results[label]:.2f} s", flush=True)
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=None, help="a CheXpert train.csv (default: the wheel's)")
    parser.add_argument("--gradcam", type=int, default=2, help="Grad-CAM pictures to time")
    args = parser.parse_args()
    if args.table is None:
        sys.path.insert(0, str(TESTS))
        from helpers import real_tables

        args.table = real_tables.chexpert_train()
    from densenet_hub.data import read_label_table
    from densenet_hub.evaluation import multilabel_report
    from densenet_hub.evaluation import predictions
    from densenet_hub.evaluation import report
    from densenet_hub.evaluation import subgroups

    results = {}
    table = timed("read the table (frontal rows)", lambda: read_label_table(
        args.table, where=["Frontal/Lateral=Frontal"], check_files=False
    ), results)  # fmt: skip
    rng = np.random.default_rng(0)
    scores = 1 / (1 + np.exp(-(1.5 * table.targets + rng.normal(size=table.targets.shape))))
    paths = [str(path) for path in table.paths]
    metrics = timed("metrics with 1000 bootstrap resamples (evaluate without the report)",
                    lambda: multilabel_report(table.targets, scores, table.findings,
                                              table.weights, bootstrap=1000), results)  # fmt: skip
    cells = timed("subgroup cells (Sex, Age, AP/PA)",
                  lambda: subgroups.table_columns(table, ["Sex", "Age", "AP/PA"]), results)
    rows = timed("subgroup AUROCs", lambda: subgroups.subgroup_aurocs(
        table.targets, scores, table.findings, cells, table.weights), results)  # fmt: skip
    folder = pathlib.Path(tempfile.mkdtemp())
    timed("per-image CSV", lambda: predictions.write_multilabel_predictions(
        folder / "predictions.csv", paths, table.findings, table.targets, scores,
        table.weights), results)  # fmt: skip
    timed("HTML and JSON report, no Grad-CAM", lambda: report.write_multi_label_report(
        metrics, paths, table.targets, scores, table.weights, {"preset": "random scores"},
        html_path=folder / "report.html", json_path=folder / "report.json", subgroups=rows,
    ), results)  # fmt: skip
    print(f"{len(table)} rows, {len(table.findings)} findings, {len(rows)} subgroup rows; "
          f"report.html {(folder / 'report.html').stat().st_size / 2**20:.2f} MiB, "
          f"predictions.csv {(folder / 'predictions.csv').stat().st_size / 2**20:.1f} MiB")
    if args.gradcam:
        import PIL.Image

        import densenet_hub

        backbone = densenet_hub.models.DenseNetBackbone(
            stackwise_num_repeats=[6, 12, 24, 16], image_shape=(224, 224, 3)
        )
        converter = densenet_hub.layers.DenseNetImageConverter(image_size=(224, 224))
        classifier = densenet_hub.models.DenseNetImageClassifier(
            backbone, num_classes=14, activation="sigmoid",
            preprocessor=densenet_hub.models.DenseNetImageClassifierPreprocessor(converter),
        )  # fmt: skip
        image = folder / "x.png"
        PIL.Image.fromarray(rng.integers(0, 256, (320, 320, 3), dtype="uint8")).save(image)
        timed("first Grad-CAM picture (compiles)", lambda: report.grad_cam_pictures(
            classifier, [image], [(0, 0, "a")]), results)  # fmt: skip
        wanted = [(0, index % 14, "a") for index in range(args.gradcam)]
        timed(f"{args.gradcam} more Grad-CAM pictures", lambda: report.grad_cam_pictures(
            classifier, [image], wanted), results)  # fmt: skip


if __name__ == "__main__":
    main()
