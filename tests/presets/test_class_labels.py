"""Class-label files are read by the one strict JSON reader: a file it
refuses is ignored with a warning naming the file and what is shown instead;
they are written as the preset's other JSON files are."""

import json

import pytest

from densenet_hub.presets import class_labels
from densenet_hub.presets.class_labels import ClassLabels
from densenet_hub.presets.class_labels import LabelFileWarning
from densenet_hub.presets.class_labels import read_class_labels


def test_label_files_are_written_as_indented_json():
    files = ClassLabels(["a", "b"], [0.25, 0.5], "rule").files()

    assert files["class_names.json"] == json.dumps(["a", "b"], indent=4).encode()
    record = json.loads(files["multi_label.json"])
    assert record["thresholds"] == {"a": 0.25, "b": 0.5}


@pytest.mark.parametrize(
    "data, match",
    [
        (b'["a", "b"', "is not valid JSON"),
        (b'\xef\xbb\xbf["a", "b"]', "byte-order mark"),
        (b'["a", NaN]', "non-standard constant NaN"),
    ],
)
def test_a_class_names_file_the_reader_refuses_is_ignored(tmp_path, data, match):
    path = tmp_path / "class_names.json"
    path.write_bytes(data)

    with pytest.warns(LabelFileWarning, match=match) as caught:
        labels = read_class_labels(tmp_path, 2)

    assert labels.names == ["class_0", "class_1"]
    message = str(caught[0].message)
    assert message.startswith(str(path))
    assert message.endswith("Ignoring it: showing class indices instead.")


def test_an_oversized_label_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(class_labels, "MAX_LABEL_FILE_BYTES", 8)
    (tmp_path / "class_names.json").write_text('["a", "b"]')

    with pytest.warns(LabelFileWarning, match="over the 8-byte limit"):
        assert read_class_labels(tmp_path, 2).names == ["class_0", "class_1"]


def test_a_multi_label_record_with_a_duplicate_key_keeps_no_thresholds(tmp_path):
    for name, data in ClassLabels(["a", "b"], [0.25, 0.5], "rule").files().items():
        (tmp_path / name).write_bytes(data)
    record = (tmp_path / "multi_label.json").read_text()
    (tmp_path / "multi_label.json").write_text(record.replace('"format": 1', '"format": 1, "format": 1'))

    with pytest.warns(LabelFileWarning, match="duplicate key 'format'.*no decision thresholds"):
        labels = read_class_labels(tmp_path, 2, multi_label=True)

    assert labels.names == ["a", "b"] and labels.thresholds is None
