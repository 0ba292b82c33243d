"""`batch_predict` and `batch_embed` on the local engine: the Parquet rows
against `score_files` / `embed_files` on the same files, the error column,
the manifest's guard against another job's output, and the inputs a job
takes (folder, pattern, list, label table)."""

import json

import numpy as np
import PIL.Image
import pyarrow as pa
import pyarrow.parquet
import pytest

from densenet_hub.batch import batch_embed
from densenet_hub.batch import batch_predict
from densenet_hub.batch import read_output
from densenet_hub.data import SkippedImageWarning
from densenet_hub.inference import embed_files
from densenet_hub.inference import score_files
from densenet_hub.presets.class_labels import ClassLabels
from helpers.models import build_tiny_classifier

COUNT = 9


@pytest.fixture
def images(tmp_path):
    """`COUNT` PNGs of different sizes, a broken one in the middle."""
    rng = np.random.default_rng(3)
    folder = tmp_path / "images"
    folder.mkdir()
    paths = []
    for index in range(COUNT):
        if index == 4:
            path = folder / "04_broken.png"
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
        else:
            path = folder / f"{index:02d}.png"
            size = (30 + index, 40 - index, 3)
            PIL.Image.fromarray(rng.integers(0, 256, size, dtype="uint8")).save(path)
        paths.append(path)
    return paths


def _readable(paths):
    return [path for path in paths if "broken" not in path.name]


def test_top_k_rows_equal_score_files(tiny_classifier, images, tmp_path):
    result = batch_predict(
        tiny_classifier, images, tmp_path / "out", top_k=3, batch_size=2, shard_size=4
    )
    table = read_output(result.output)
    with pytest.warns(SkippedImageWarning):
        expected, kept = score_files(tiny_classifier, images, batch_size=2)

    assert (result.rows, result.errors, result.written, result.skipped) == (COUNT, 1, 3, 0)
    assert table.column_names == ["path", "classes", "probabilities", "error"]
    assert table.schema.field("probabilities").type == pa.list_(pa.float32())
    assert table.column("path").to_pylist() == [str(path) for path in images]
    rows = table.to_pylist()
    assert rows[4]["classes"] is None and rows[4]["probabilities"] is None
    assert "cannot read the image" in rows[4]["error"] and "04_broken.png" in rows[4]["error"]
    for probabilities, row in zip(expected, kept):
        order = np.argsort(-probabilities, kind="stable")[:3]
        assert rows[row]["classes"] == [f"class_{index}" for index in order]
        assert np.abs(np.asarray(rows[row]["probabilities"]) - probabilities[order]).max() < 1e-6
        assert rows[row]["error"] is None
    manifest = json.loads((result.output / "_manifest.json").read_text())
    assert manifest["complete"] and manifest["errors"] == 1 and manifest["shards"] == 3
    assert manifest["settings"]["top_k"] == 3 and manifest["settings"]["batch_size"] == 2
    assert sorted(path.name for path in result.output.iterdir()) == [
        "_manifest.json", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"
    ]  # fmt: skip
    # The folder reads as one dataset in input order, the manifest left out.
    assert pa.parquet.read_table(result.output).equals(table)


def test_multi_label_preset_has_a_column_per_finding_and_its_decision(images, tmp_path):
    classifier = build_tiny_classifier(num_classes=3, activation="sigmoid")
    with pytest.warns(SkippedImageWarning):
        expected, kept = score_files(classifier, images, batch_size=4)
    # Each finding's median as its threshold: both decisions occur.
    thresholds = np.median(expected, axis=0).astype("float32")
    preset = tmp_path / "preset"
    classifier.save_to_preset(str(preset))
    names = ["Edema", "Pleural Effusion", "Atelectasis"]
    for name, data in ClassLabels(names, thresholds.tolist()).files().items():
        (preset / name).write_bytes(data)

    result = batch_predict(str(preset), images, tmp_path / "out", batch_size=4)
    table = read_output(result.output)

    assert table.column_names == [
        "path", "Edema", "Edema positive", "Pleural Effusion", "Pleural Effusion positive",
        "Atelectasis", "Atelectasis positive", "error",
    ]  # fmt: skip
    assert table.schema.field("Edema").type == pa.float32()
    assert table.schema.field("Edema positive").type == pa.bool_()
    rows = table.to_pylist()
    scores = np.asarray([[rows[row][name] for name in names] for row in kept])
    decisions = np.asarray([[rows[row][name + " positive"] for name in names] for row in kept])
    assert np.abs(scores - expected).max() < 1e-6
    assert np.array_equal(decisions, expected >= thresholds)
    assert decisions.any(axis=0).all() and (~decisions).any(axis=0).all()
    assert rows[4]["Edema"] is None and rows[4]["Edema positive"] is None and rows[4]["error"]


def test_embeddings_equal_embed_files(tiny_classifier, images, tmp_path):
    result = batch_embed(tiny_classifier, images, tmp_path / "out", batch_size=3, level="P2",
                         pooling="max")  # fmt: skip
    table = read_output(result.output)
    with pytest.warns(SkippedImageWarning):
        written = embed_files(
            tiny_classifier.backbone, tiny_classifier.preprocessor.image_converter, images,
            tmp_path / "features.npy", level="P2", pooling="max", batch_size=3,
        )  # fmt: skip
    expected = np.load(written.features)

    assert table.schema.field("embedding").type == pa.list_(pa.float32(), expected.shape[1])
    column = table.column("embedding")
    assert column.null_count == 1 and column[4].as_py() is None
    values = np.asarray([row if row is not None else [np.nan] * expected.shape[1]
                         for row in column.to_pylist()], "float32")  # fmt: skip
    keep = [row for row in range(COUNT) if row != 4]
    assert np.abs(values[keep] - expected[keep]).max() < 1e-6


def test_onnxruntime_rows_match_keras(tiny_classifier, images, tmp_path):
    keras_rows = read_output(
        batch_predict(tiny_classifier, images, tmp_path / "keras", batch_size=4).output
    ).to_pylist()
    fast_rows = read_output(
        batch_predict(tiny_classifier, images, tmp_path / "fast", batch_size=4,
                      runtime="onnxruntime").output  # fmt: skip
    ).to_pylist()
    for mine, theirs in zip(fast_rows, keras_rows):
        assert mine["error"] == theirs["error"]
        if mine["error"] is None:
            assert np.abs(np.subtract(mine["probabilities"], theirs["probabilities"])).max() < 1e-4


def test_a_rerun_resumes_only_the_same_job(tiny_classifier, images, tmp_path):
    out = tmp_path / "out"
    first = batch_predict(tiny_classifier, images, out, batch_size=2, shard_size=4)
    again = batch_predict(tiny_classifier, images, out, batch_size=2, shard_size=4)
    assert (again.written, again.skipped, again.errors) == (0, 3, 1)
    assert read_output(out).equals(read_output(first.output))

    with pytest.raises(FileExistsError, match=r"another batch job \(differing: settings.top_k\)"):
        batch_predict(tiny_classifier, images, out, batch_size=2, shard_size=4, top_k=2)
    with pytest.raises(FileExistsError, match="differing: rows, shards, inputs_sha256"):
        batch_predict(tiny_classifier, images[:-1], out, batch_size=2, shard_size=4)
    replaced = batch_predict(tiny_classifier, images[:-1], out, batch_size=2, shard_size=4,
                             top_k=2, overwrite=True)  # fmt: skip
    assert replaced.written == 2 and read_output(out).num_rows == COUNT - 1
    assert sorted(path.name for path in out.iterdir())[-1] == "part-00001.parquet"


def test_a_folder_that_is_not_a_batch_output_is_refused(tiny_classifier, images, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not a batch output folder"):
        batch_predict(tiny_classifier, images, tmp_path / "other")
    with pytest.raises(ValueError, match="`address` '127.0.0.1:6379' is for engine='ray'"):
        batch_predict(tiny_classifier, images, tmp_path / "out", address="127.0.0.1:6379")
    with pytest.raises(ValueError, match="engine"):
        batch_predict(tiny_classifier, images, tmp_path / "out", engine="spark")


def test_inputs_as_folder_pattern_and_label_table(tiny_classifier, images, tmp_path):
    readable = _readable(images)
    folder = images[0].parent
    with pytest.warns(SkippedImageWarning):
        by_folder = batch_predict(tiny_classifier, folder, tmp_path / "folder")
    with pytest.warns(SkippedImageWarning):
        by_pattern = batch_predict(tiny_classifier, str(folder / "0*.png"), tmp_path / "glob")
    table = tmp_path / "labels.csv"
    table.write_text(
        "Path,Edema\n" + "".join(f"images/{path.name},1\n" for path in readable[::-1])
    )
    by_table = batch_predict(tiny_classifier, table, tmp_path / "table")

    # A header the folder search cannot read leaves the file out; a listed
    # file that cannot be read keeps its row (above).
    assert read_output(by_folder.output).column("path").to_pylist() == list(map(str, readable))
    assert read_output(by_pattern.output).equals(read_output(by_folder.output))
    assert read_output(by_table.output).column("path").to_pylist() == list(map(str, readable[::-1]))
    assert by_folder.errors == by_table.errors == 0
