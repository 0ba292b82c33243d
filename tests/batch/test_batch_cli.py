"""`densenet-hub predict/embed ... --output FOLDER`: the commands hand the
job to `batch_predict` / `batch_embed`, print where the rows went, resume a
rerun, and refuse option mixes that mean nothing."""

import numpy as np
import PIL.Image
import pytest

from densenet_hub.batch import read_output
from densenet_hub.cli.main import main


@pytest.fixture
def folder(tmp_path, tiny_classifier):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(1)
    for index in range(5):
        PIL.Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype="uint8")).save(
            images / f"{index}.png"
        )
    tiny_classifier.save_to_preset(str(tmp_path / "preset"))
    return tmp_path


def test_predict_output_writes_and_resumes_parquet(folder, capsys):
    command = ["predict", str(folder / "preset"), str(folder / "images"), "--output",
               str(folder / "preds"), "--batch-size", "2", "--shard-size", "2", "--top-k", "2",
               "--quiet"]  # fmt: skip
    assert main(command) == 0
    first = capsys.readouterr().out
    assert main(command) == 0
    again = capsys.readouterr().out

    assert first.strip() == (
        f"wrote {folder / 'preds'}: 5 rows in 3 Parquet shard(s), 0 unreadable file(s) "
        "(see the `error` column)"
    )
    assert again.strip().endswith("; 3 shard(s) kept from an earlier run")
    table = read_output(folder / "preds")
    assert table.num_rows == 5 and all(len(row) == 2 for row in table.column("classes").to_pylist())


def test_embed_output_and_the_refused_mixes(folder, capsys):
    assert main(["embed", str(folder / "preset"), str(folder / "images"), "--output",
                 str(folder / "features"), "--pooling", "max", "--quiet"]) == 0  # fmt: skip
    assert read_output(folder / "features").column("embedding").type.list_size == 44

    assert main(["embed", str(folder / "preset"), str(folder / "images")]) == 1
    assert "give exactly one of the two" in capsys.readouterr().err
    assert main(["predict", str(folder / "preset"), str(folder / "images"), "--output",
                 str(folder / "p"), "--tta", "flip"]) == 1  # fmt: skip
    assert "--tta flip is not available with --output" in capsys.readouterr().err
