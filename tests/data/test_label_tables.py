"""Multi-label tables in the CheXpert, ChestX-ray14 and split-file layouts,
read from real files next to real PNG images."""

import pathlib
import re

import numpy as np
import PIL.Image
import pytest

from densenet_hub.data import CHESTXRAY14_FINDINGS
from densenet_hub.data import read_label_table

CHEXPERT_HEADER = "Path,Sex,Age,Frontal/Lateral,AP/PA,Edema,Cardiomegaly,Atelectasis\n"
# One row per kind of cell: 1.0, 0.0, -1.0 and empty, in every column.
CHEXPERT_ROWS = (
    "p1/study1/view1_frontal.png,Female,68,Frontal,AP,1.0,0.0,-1.0\n"
    "p1/study2/view1_frontal.png,Female,68,Frontal,AP,-1.0,,1\n"
    "p2/study1/view1_frontal.png,Male,45,Lateral,,0,1.0,\n"
    "p3/study1/view1_frontal.png,Male,30,Frontal,PA,,-1,0.0\n"
)
# The entries as 1 (positive), 0 (negative), U (uncertain), E (empty).
CHEXPERT_ENTRIES = [
    ["1", "0", "U"],
    ["U", "E", "1"],
    ["0", "1", "E"],
    ["E", "U", "0"],
]


def save_png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(np.zeros((4, 4), "uint8")).save(path)
    return path


def write_chexpert(folder):
    for line in CHEXPERT_ROWS.splitlines():
        save_png(folder / line.split(",")[0])
    table = folder / "train.csv"
    table.write_text(CHEXPERT_HEADER + CHEXPERT_ROWS)
    return table


def expected(policy_uncertain, policy_empty):
    """Targets and weights of CHEXPERT_ENTRIES, written out by hand from
    the policies: ones -> (1, 1), zeros -> (0, 1), ignore -> (0, 0)."""
    entry = {"ones": (1, 1), "zeros": (0, 1), "ignore": (0, 0)}
    known = {"1": (1, 1), "0": (0, 1)}
    pairs = [
        [
            known.get(cell)
            or entry[policy_uncertain if cell == "U" else policy_empty]
            for cell in row
        ]
        for row in CHEXPERT_ENTRIES
    ]
    pairs = np.array(pairs, "float32")
    return pairs[..., 0], pairs[..., 1]


def test_columns_layout_leaves_metadata_out_and_resolves_paths(tmp_path):
    table = read_label_table(write_chexpert(tmp_path))
    assert table.layout == "columns"
    assert table.findings == ["Edema", "Cardiomegaly", "Atelectasis"]
    assert table.paths == [
        tmp_path / "p1/study1/view1_frontal.png",
        tmp_path / "p1/study2/view1_frontal.png",
        tmp_path / "p2/study1/view1_frontal.png",
        tmp_path / "p3/study1/view1_frontal.png",
    ]
    assert table.groups is None and len(table) == 4
    assert table.source == tmp_path / "train.csv"
    codes = np.array(CHEXPERT_ENTRIES)
    np.testing.assert_array_equal(table.uncertain, codes == "U")
    np.testing.assert_array_equal(table.unmentioned, codes == "E")


@pytest.mark.parametrize("uncertainty", ["ignore", "ones", "zeros"])
@pytest.mark.parametrize("unmentioned", ["ignore", "ones", "zeros"])
def test_policies_give_targets_and_weights_entry_by_entry(
    tmp_path, uncertainty, unmentioned
):
    table = read_label_table(
        write_chexpert(tmp_path), uncertainty=uncertainty, unmentioned=unmentioned
    )
    targets, weights = expected(uncertainty, unmentioned)
    assert table.targets.dtype == table.weights.dtype == np.float32
    np.testing.assert_array_equal(table.targets, targets)
    np.testing.assert_array_equal(table.weights, weights)


def test_default_policies_ignore_both_kinds(tmp_path):
    table = read_label_table(write_chexpert(tmp_path))
    np.testing.assert_array_equal(
        table.targets, [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0]]
    )
    np.testing.assert_array_equal(
        table.weights, [[1, 1, 0], [0, 0, 1], [1, 1, 0], [0, 0, 1]]
    )
    assert table.positives().tolist() == [1, 1, 1]
    assert table.negatives().tolist() == [1, 1, 1]
    part = table.subset([3, 0])
    assert part.paths == [table.paths[3], table.paths[0]]
    np.testing.assert_array_equal(part.weights, table.weights[[3, 0]])
    np.testing.assert_array_equal(part.uncertain, table.uncertain[[3, 0]])


def test_findings_select_columns_in_the_given_order(tmp_path):
    table = read_label_table(
        write_chexpert(tmp_path), findings=["Atelectasis", "Edema"], uncertainty="ones"
    )
    assert table.findings == ["Atelectasis", "Edema"]
    np.testing.assert_array_equal(table.targets, [[1, 1], [1, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(table.weights, [[1, 1], [1, 1], [0, 1], [1, 0]])


def test_unknown_finding_column_names_it_and_lists_the_header(tmp_path):
    with pytest.raises(ValueError) as error:
        read_label_table(write_chexpert(tmp_path), findings=["Edema", "Pneumonia"])
    message = str(error.value)
    assert "no column 'Pneumonia' (named by `findings`)" in message
    assert "'Path', 'Sex', 'Age', 'Frontal/Lateral', 'AP/PA', 'Edema'" in message


def test_metadata_column_named_as_a_finding_names_the_cell(tmp_path):
    with pytest.raises(ValueError, match=r"line 2, column 'Sex': 'Female' is not a label"):
        read_label_table(write_chexpert(tmp_path), findings=["Sex"])


def test_bad_cell_in_a_finding_column_names_file_line_column_and_value(tmp_path):
    table = tmp_path / "train.csv"
    table.write_text("Path,Edema,Mass\na.png,1,0\nb.png,2,0\n")
    with pytest.raises(ValueError) as error:
        read_label_table(table, findings=["Edema", "Mass"], check_files=False)
    assert str(error.value).startswith(f"{table}, line 3, column 'Edema': '2' is not a label")
    assert "expected 1 (positive), 0 (negative), -1 (uncertain)" in str(error.value)


def test_no_finding_columns_found_is_an_error(tmp_path):
    table = tmp_path / "train.csv"
    table.write_text("Path,Sex,Notes\na.png,Male,x\n")
    with pytest.raises(ValueError, match=r"none of 'Sex', 'Notes' does"):
        read_label_table(table, check_files=False)


def test_chestxray14_table_reads_groups_and_no_finding(tmp_path):
    images = tmp_path / "images"
    table = tmp_path / "Data_Entry_2017.csv"
    table.write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age\n"
        "00000001_000.png,Cardiomegaly,0,1,58\n"
        "00000001_001.png,Cardiomegaly|Emphysema,1,1,58\n"
        "00000002_000.png,No Finding,0,2,81\n"
        "00000003_000.png,Hernia|Effusion|Atelectasis,0,3,74\n"
    )
    for line in table.read_text().splitlines()[1:]:
        save_png(images / line.split(",")[0])
    result = read_label_table(table, images=images, group_column="Patient ID")
    assert result.layout == "finding_labels"
    assert result.findings == list(CHESTXRAY14_FINDINGS)
    expected_targets = np.zeros((4, 14), "float32")
    for row, names in enumerate(
        [["Cardiomegaly"], ["Cardiomegaly", "Emphysema"], [], ["Hernia", "Effusion", "Atelectasis"]]
    ):
        expected_targets[row, [CHESTXRAY14_FINDINGS.index(name) for name in names]] = 1
    np.testing.assert_array_equal(result.targets, expected_targets)
    np.testing.assert_array_equal(result.weights, np.ones((4, 14)))
    assert result.groups.tolist() == ["1", "1", "2", "3"]
    assert [path.parent for path in result.paths] == [images] * 4
    assert not result.uncertain.any() and not result.unmentioned.any()


def test_finding_labels_with_other_names_use_the_sorted_names_found(tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("Image Index,Finding Labels\na.png,Lesion|Edema\nb.png,No Finding\n")
    result = read_label_table(table, check_files=False)
    assert result.findings == ["Edema", "Lesion"]
    np.testing.assert_array_equal(result.targets, [[1, 1], [0, 0]])


def test_finding_not_in_findings_names_the_line_and_value(tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("Image Index,Finding Labels\na.png,Mass\nb.png,Mass|Efusion\n")
    with pytest.raises(ValueError) as error:
        read_label_table(table, findings=["Mass", "Effusion"], check_files=False)
    message = str(error.value)
    assert message.startswith(f"{table}, line 3, column 'Finding Labels'")
    assert "finding 'Efusion' is not one of `findings` ('Mass', 'Effusion')" in message


def test_no_finding_mixed_with_findings_is_an_error(tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("Image Index,Finding Labels\na.png,No Finding|Mass\n")
    with pytest.raises(ValueError, match=r"line 2, .*'No Finding\|Mass' is not a list"):
        read_label_table(table, check_files=False)


def test_split_file_with_14_values_finds_bare_names_in_subfolders(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2, size=(5, 14))
    names = [f"0000000{row}_000.png" for row in range(5)]
    # ChestX-ray14's archive layout: images_001/images/, images_002/images/.
    folders = ["images_001", "images_001", "images_002", "images_002", "images_002"]
    for name, folder in zip(names, folders):
        save_png(tmp_path / "data" / folder / "images" / name)
    listing = tmp_path / "train_val_list.txt"
    listing.write_text(
        "".join(f"{name} {' '.join(map(str, row))}\n" for name, row in zip(names, values))
    )
    table = read_label_table(listing, images=tmp_path / "data")
    assert table.layout == "split_file"
    assert table.findings == list(CHESTXRAY14_FINDINGS)
    np.testing.assert_array_equal(table.targets, values)
    np.testing.assert_array_equal(table.weights, np.ones((5, 14)))
    assert table.paths == [
        tmp_path / "data" / folder / "images" / name for name, folder in zip(names, folders)
    ]


def test_split_file_value_count_must_match(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("a.png 1 0 1\n")
    with pytest.raises(ValueError, match=r"lines hold 3 values, not ChestX-ray14's 14"):
        read_label_table(listing, check_files=False)
    with pytest.raises(ValueError, match=r"lines hold 3 values but `findings` names 2"):
        read_label_table(listing, findings=["Mass", "Nodule"], check_files=False)
    table = read_label_table(listing, findings=["A", "B", "C"], check_files=False)
    np.testing.assert_array_equal(table.targets, [[1, 0, 1]])
    listing.write_text("a.png 1 0 1\nb.png 1 0\n")
    with pytest.raises(ValueError, match=r"line 2: 2 values after the image name, but line 1 has 3"):
        read_label_table(listing, findings=["A", "B", "C"], check_files=False)
    listing.write_text("a.png 1 0 1\nb.png 1 -1 0\n")
    with pytest.raises(ValueError, match=r"line 2, value 2 \('B'\): '-1' is not a label"):
        read_label_table(listing, findings=["A", "B", "C"], check_files=False)


def test_split_file_refuses_a_group_column(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("a.png 1 0\n")
    with pytest.raises(ValueError, match=r"`group_column`='Patient ID' needs a CSV table"):
        read_label_table(listing, findings=["A", "B"], group_column="Patient ID")


def test_missing_files_are_listed_with_their_lines(tmp_path):
    table = write_chexpert(tmp_path)
    (tmp_path / "p1/study2/view1_frontal.png").unlink()
    (tmp_path / "p3/study1/view1_frontal.png").unlink()
    with pytest.raises(FileNotFoundError) as error:
        read_label_table(table)
    message = str(error.value)
    assert f"2 of 4 images named in {table} were not found under {tmp_path}" in message
    assert (
        "line 3: 'p1/study2/view1_frontal.png', line 5: 'p3/study1/view1_frontal.png'"
        in message
    )
    assert "`images=` (`--images` on the command line)" in message
    # Without the check, paths are joined and the disk is left alone.
    assert len(read_label_table(table, check_files=False)) == 4


def test_images_folder_holds_the_relative_paths(tmp_path):
    table = tmp_path / "tables" / "train.csv"
    table.parent.mkdir()
    table.write_text("Path,Edema\np1/a.png,1\n/elsewhere/b.png,0\n")
    save_png(tmp_path / "pictures" / "p1" / "a.png")
    result = read_label_table(table, images=tmp_path / "pictures", check_files=False)
    assert result.paths[0] == tmp_path / "pictures" / "p1" / "a.png"
    assert str(result.paths[1]) == "/elsewhere/b.png"
    with pytest.raises(FileNotFoundError, match=re.escape(f"under {table.parent}")):
        read_label_table(table)


def test_bare_name_in_two_subfolders_is_ambiguous(tmp_path):
    save_png(tmp_path / "images_001" / "images" / "a.png")
    save_png(tmp_path / "images_002" / "images" / "a.png")
    table = tmp_path / "list.txt"
    table.write_text("a.png 1\n")
    with pytest.raises(ValueError, match=r"line 1: image 'a.png' is in several sub-folders"):
        read_label_table(table, findings=["Mass"])


def test_group_column_missing_lists_the_header(tmp_path):
    with pytest.raises(ValueError) as error:
        read_label_table(write_chexpert(tmp_path), group_column="Patient ID")
    assert "no column 'Patient ID' (named by `group_column`)" in str(error.value)
    assert "'Path', 'Sex', 'Age'" in str(error.value)


def test_group_column_is_not_a_finding(tmp_path):
    table = tmp_path / "train.csv"
    table.write_text("Path,Patient,Edema\na.png,1,1\nb.png,0,0\n")
    result = read_label_table(table, group_column="Patient", check_files=False)
    assert result.findings == ["Edema"] and result.groups.tolist() == ["1", "0"]
    table.write_text("Path,Patient,Edema\na.png,,1\n")
    with pytest.raises(ValueError, match=r"line 2, column 'Patient': empty cell"):
        read_label_table(table, group_column="Patient", check_files=False)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", r"is empty; expected a CSV table"),
        ("\n\n", r"is empty; expected a CSV table"),
        ("Path,Edema\n", r"has a header but no rows"),
        ("Path,Edema,Edema\na.png,1,0\n", r"names 'Edema' more than once"),
        ("Path,Edema\na.png,1,0\n", r"line 2: 3 fields but the header has 2 columns"),
        ("Name,Edema\na.png,1\n", r"no image path column; expected one of 'Path'"),
        ("Path,Edema\n,1\n", r"line 2, column 'Path': empty cell"),
        ("just-a-name\n", r"line 1: 'just-a-name' holds no values"),
    ],
)
def test_malformed_tables_get_clear_errors(tmp_path, text, pattern):
    table = tmp_path / "table.csv"
    table.write_text(text)
    with pytest.raises(ValueError, match=pattern):
        read_label_table(table, check_files=False)


def test_argument_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no label table at"):
        read_label_table(tmp_path / "absent.csv")
    table = write_chexpert(tmp_path)
    with pytest.raises(ValueError, match=r"`uncertainty` must be one of 'ignore', 'ones'"):
        read_label_table(table, uncertainty="one")
    with pytest.raises(ValueError, match=r"`unmentioned` must be one of"):
        read_label_table(table, unmentioned="U-Ones")
    with pytest.raises(ValueError, match=r"`findings` must be a list of finding names"):
        read_label_table(table, findings="Edema")
    with pytest.raises(ValueError, match=r"`findings` names 'Edema' more than once"):
        read_label_table(table, findings=["Edema", "Edema"])
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match="is not a UTF-8 text file"):
        read_label_table(binary)


# --- Defects of issue 22 and the row filters, group from path and reading
# edge cases that came with reading tables through pandas. ---


@pytest.mark.parametrize("cell", ["2", "yes"])
def test_bad_cell_without_findings_names_line_column_and_value(tmp_path, cell):
    # Before: the whole Edema column silently dropped out of the findings.
    table = tmp_path / "train.csv"
    table.write_text(f"Path,Sex,Edema,Mass\na.png,F,1,0\nb.png,M,{cell},0\nc.png,F,0,1\n")
    with pytest.raises(ValueError) as error:
        read_label_table(table, check_files=False)
    message = str(error.value)
    assert message.startswith(f"{table}, line 3, column 'Edema': '{cell}' is not a label")
    assert "name the finding columns with `findings` to leave it out" in message


def test_bad_cell_found_after_pandas_first_chunk(tmp_path):
    # pandas reads a long file in chunks; numbers in the first and a word in
    # a later one must still be an error naming the word's line.
    rows = [f"p{row}.png,{row % 2}.0,0.0" for row in range(60_000)]
    rows[55_000] = "p55000.png,maybe,0.0"
    table = tmp_path / "train.csv"
    table.write_text("Path,Edema,Mass\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"line 55002, column 'Edema': 'maybe' is not a label"):
        read_label_table(table, check_files=False)


def test_columns_of_text_words_and_numbers_are_not_findings(tmp_path):
    table = tmp_path / "train.csv"
    table.write_text(
        "Path,Flag,Age,Count,Edema\n"
        "a.png,True,68,3,1\nb.png,False,45,0,0\nc.png,True,0,7,\n"
    )
    assert read_label_table(table, check_files=False).findings == ["Edema"]
    with pytest.raises(ValueError, match=r"line 2, column 'Flag': 'True' is not a label"):
        read_label_table(table, findings=["Flag"], check_files=False)
    table.write_text("Path,Edema\na.png,1\nb.png,nan\nc.png,0\n")
    with pytest.raises(ValueError, match=r"line 3, column 'Edema': 'nan' is not a label"):
        read_label_table(table, check_files=False)


@pytest.mark.parametrize(
    "text, lines",
    [
        ("Path,Edema\na.png,1\nb.png,0\na.png,1\n", "lines 2 and 4"),
        ("Path,Edema\nx/a.png,1\nx/./a.png,0\n", "lines 2 and 3"),
        ("a.png 1\nb.png 0\n\na.png 0\n", "lines 1 and 4"),
    ],
)
def test_an_image_listed_twice_names_both_lines(tmp_path, text, lines):
    # Before: accepted, and the image could land in training and validation.
    table = tmp_path / "table.csv"
    table.write_text(text)
    with pytest.raises(ValueError) as error:
        read_label_table(table, findings=["Edema"], check_files=False)
    assert str(error.value).startswith(f"{table}, {lines}: both rows name the image")


def test_where_keeps_rows_matching_every_filter(tmp_path):
    table = write_chexpert(tmp_path)
    frontal = read_label_table(table, where=["Frontal/Lateral=Frontal"])
    assert [path.parent.parent.name for path in frontal.paths] == ["p1", "p1", "p3"]
    np.testing.assert_array_equal(frontal.uncertain, np.array(CHEXPERT_ENTRIES)[[0, 1, 3]] == "U")
    older = read_label_table(table, where="Age>45")
    assert len(older) == 2
    both = read_label_table(table, where=["Frontal/Lateral = Frontal", "Age <= 45"])
    assert [path.parent.parent.name for path in both.paths] == ["p3"]
    assert len(read_label_table(table, where=["Sex!=Male", "Age>=68", "Age<69"])) == 2
    # An empty cell reads as '' to = and != and matches no number.
    assert len(read_label_table(table, where=["AP/PA="])) == 1
    assert len(read_label_table(table, where=["AP/PA!=", "Age==68"])) == 2


def test_where_filters_need_only_their_rows_images(tmp_path):
    table = write_chexpert(tmp_path)
    (tmp_path / "p2/study1/view1_frontal.png").unlink()
    assert len(read_label_table(table, where=["Frontal/Lateral=Frontal"])) == 3
    with pytest.raises(FileNotFoundError, match=r"1 of 4 images .* line 4"):
        read_label_table(table)


@pytest.mark.parametrize(
    "where, pattern",
    [
        ("Frontal", r"`where` filter 'Frontal' is not a comparison; write COLUMN=VALUE"),
        ("=Frontal", r"`where` filter '=Frontal' is not a comparison"),
        ("Age<=old", r"'old' is not a number, and <= compares numbers"),
        ("View=PA", r"no column 'View' \(named by `where` filter 'View=PA'\); the header has 'Path'"),
        ("Sex>1", r"line 2, column 'Sex': 'Female' is not a number, and `where` filter 'Sex>1' compares numbers"),
        ("Sex=female", r"`where` filter 'Sex=female' keeps none of the 4 rows left; column 'Sex' holds 'Female', 'Male'"),
    ],
)
def test_where_errors_name_the_filter_and_the_fix(tmp_path, where, pattern):
    with pytest.raises(ValueError, match=pattern):
        read_label_table(write_chexpert(tmp_path), where=where)


def test_group_from_path_takes_the_match_or_its_first_group(tmp_path):
    table = tmp_path / "train.csv"
    table.write_text(
        "Path,Edema\n"
        "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,1\n"
        "CheXpert-v1.0-small/train/patient00001/study2/view1_frontal.jpg,0\n"
        "CheXpert-v1.0-small/train/patient00012/study1/view2_lateral.jpg,1\n"
    )
    whole = read_label_table(table, group_from_path=r"patient\d+", check_files=False)
    assert whole.groups.tolist() == ["patient00001", "patient00001", "patient00012"]
    number = read_label_table(table, group_from_path=r"patient(\d+)/", check_files=False)
    assert number.groups.tolist() == ["00001", "00001", "00012"]
    split_file = tmp_path / "list.txt"
    split_file.write_text("00000001_000.png 1\n00000001_001.png 0\n00000002_000.png 1\n")
    listed = read_label_table(
        split_file, findings=["Mass"], group_from_path=r"^(\d+)_", check_files=False
    )
    assert listed.groups.tolist() == ["00000001", "00000001", "00000002"]


def test_group_from_path_errors(tmp_path):
    table = tmp_path / "train.csv"
    table.write_text("Path,Edema\ntrain/patient1/a.jpg,1\ntrain/other/b.jpg,0\n")
    with pytest.raises(ValueError) as error:
        read_label_table(table, group_from_path=r"patient\d+", check_files=False)
    assert str(error.value).startswith(
        f"{table}, line 3: the path 'train/other/b.jpg' does not match "
        r"`group_from_path` 'patient\d+'"
    )
    with pytest.raises(ValueError, match=r"`group_from_path`='patient\(' is not a regular"):
        read_label_table(table, group_from_path="patient(", check_files=False)
    with pytest.raises(ValueError, match=r"`group_column`='Edema' and `group_from_path`="):
        read_label_table(table, group_column="Edema", group_from_path="p", check_files=False)
    listing = tmp_path / "list.txt"
    listing.write_text("a.png 1\n")
    with pytest.raises(ValueError, match=r"`where`=\['Age<5'\] needs a CSV table"):
        read_label_table(listing, findings=["Mass"], where=["Age<5"], check_files=False)


def test_no_finding_is_positive_for_itself_when_named(tmp_path):
    table = tmp_path / "Data_Entry_2017.csv"
    table.write_text("Image Index,Finding Labels\na.png,No Finding\nb.png,Mass|Nodule\n")
    result = read_label_table(table, findings=["Mass", "Nodule", "No Finding"], check_files=False)
    np.testing.assert_array_equal(result.targets, [[0, 0, 1], [1, 1, 0]])
    with pytest.raises(ValueError, match=r"line 3, .*finding 'Nodule' is not one of `findings`"):
        read_label_table(table, findings=["Mass"], check_files=False)


def test_quoted_cells_blank_lines_and_empty_rows_keep_their_lines(tmp_path):
    # Quotes send the file through the csv module, line by line.
    table = tmp_path / "train.csv"
    table.write_text(
        'Path,Note,Edema\n"a,1.png","two\nlines",1\n\n,,\n"b.png",x,oops\n'
    )
    with pytest.raises(ValueError, match=r"line 6, column 'Edema': 'oops' is not a label"):
        read_label_table(table, findings=["Edema"], check_files=False)
    table.write_text('Path,Note,Edema\n"a,1.png","two\nlines",1\n\n,,\n"b.png",x,0\n')
    result = read_label_table(table, check_files=False)
    assert [path.name for path in result.paths] == ["a,1.png", "b.png"]
    assert result.findings == ["Edema"] and result.targets.tolist() == [[1], [0]]


@pytest.mark.parametrize("quote", ["", '"'])
def test_rows_of_other_lengths_name_their_line(tmp_path, quote):
    table = tmp_path / "train.csv"
    path = f"{quote}a.png{quote}"
    for body, line, count in [
        (f"{path},1\nb.png,0\nc.png\n", 4, 1),
        (f"{path},1\n\nb.png,0,1\n", 4, 3),
        (f"{path},1,0\nb.png,0\nc.png\n", 2, 3),
        (f"{path}\nb.png,0,1\nc.png,0\n", 2, 1),
    ]:
        table.write_text("Path,Edema\n" + body)
        with pytest.raises(ValueError, match=rf"line {line}: {count} fields but the header has 2"):
            read_label_table(table, check_files=False)


def test_crlf_bom_spaces_and_blank_lines_read_as_before(tmp_path):
    table = tmp_path / "train.csv"
    table.write_bytes(
        b"\xef\xbb\xbf\r\n Path , Edema \r\n  \r\n a.png ,1.0\r\n\t\r\n,\r\nb.png, -1 \r\n"
    )
    result = read_label_table(table, uncertainty="ones", check_files=False)
    assert result.findings == ["Edema"]
    assert [path.name for path in result.paths] == ["a.png", "b.png"]
    assert result.targets.tolist() == [[1], [1]] and result.uncertain.tolist() == [[False], [True]]


def test_paths_are_normalised_and_handed_out_as_path_objects(tmp_path):
    table = tmp_path / "tables" / "train.csv"
    table.parent.mkdir()
    table.write_text("Path,Edema\nx/../a.png,1\n./b.png,0\n/abs/c.png,1\nd//e.png,0\n")
    result = read_label_table(table, check_files=False)
    root = table.parent
    expected = [root / "a.png", root / "b.png", pathlib.Path("/abs/c.png"), root / "d/e.png"]
    assert result.paths == expected
    plain = read_label_table(write_chexpert(tmp_path), check_files=False)
    # Normal relative paths stay as written, joined to the folder when read.
    assert plain.paths.texts[0] == "p1/study1/view1_frontal.png"
    assert plain.paths[0] == tmp_path / "p1/study1/view1_frontal.png"
    assert list(plain.paths)[1:2] == [tmp_path / "p1/study2/view1_frontal.png"]
    assert plain.paths[1:3] == plain.paths.take([1, 2]) and len(plain.paths[1:3]) == 2
    assert plain.paths != [tmp_path / "other.png"] and plain.paths != "p1"
    assert "ImagePaths(['" in repr(plain.paths) and "4 paths" in repr(plain.paths)
