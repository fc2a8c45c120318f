"""Tests of ser_modules.data.label_files: spellings of a release's files, CSV rows checked
against their header with file:line errors."""

import pytest

from ser_modules.data.label_files import find_first, read_csv_rows, required_field


class FormatError(ValueError):
    pass


def test_find_first_prefers_the_first_spelling_and_names_all_candidates(tmp_path):
    (tmp_path / "Audio").mkdir()
    (tmp_path / "Audios").mkdir()
    assert (
        find_first(tmp_path, ("Audios", "Audio"), "audio folder", want_dir=True)
        == tmp_path / "Audios"
    )
    (tmp_path / "labels_concensus.csv").write_text("x")
    assert (
        find_first(tmp_path, ("labels_consensus.csv", "labels_concensus.csv"), "labels").name
        == "labels_concensus.csv"
    )
    with pytest.raises(FileNotFoundError, match=r"labels not found \(tried .*a\.csv, .*b\.csv\)"):
        find_first(tmp_path, ("a.csv", "b.csv"), "labels")
    with pytest.raises(FileNotFoundError):
        find_first(
            tmp_path, ("labels_concensus.csv",), "a folder", want_dir=True
        )  # a file is not a folder


def test_rows_keep_their_line_numbers_and_stripped_columns(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('\ufeffFileName, EmoAct\na.wav,4.0\n"b\n.wav",5.0\n', encoding="utf-8")
    rows, columns = read_csv_rows(path, ["FileName", "EmoAct"], FormatError)
    assert columns == ["FileName", "EmoAct"]
    assert rows == [
        (2, {"FileName": "a.wav", "EmoAct": "4.0"}),
        (4, {"FileName": "b\n.wav", "EmoAct": "5.0"}),
    ]


@pytest.mark.parametrize(
    "text,message",
    [
        ("FileName\na.wav\n", r"c\.csv: missing column\(s\) EmoAct \(found: FileName\)"),
        ("", r"missing column\(s\) FileName, EmoAct \(found: no header\)"),
        ("FileName,EmoAct\na.wav,4.0,extra\n", r"c\.csv:2: 3 fields for 2 columns"),
        ("FileName,EmoAct\na.wav,4.0\nb.wav\n", r"c\.csv:3: 1 of 2 fields \(no EmoAct\)"),
    ],
)
def test_bad_files_raise_the_given_error_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "c.csv"
    path.write_text(text)
    with pytest.raises(FormatError, match=message):
        read_csv_rows(path, ["FileName", "EmoAct"], FormatError)


def test_required_field_is_stripped_and_an_empty_one_names_the_place():
    assert required_field({"FileName": " a.wav\t"}, "FileName", "c.csv:2") == "a.wav"
    for row in ({"FileName": "  "}, {"FileName": None}, {}):
        with pytest.raises(FormatError, match=r"^c\.csv:3: empty FileName$"):
            required_field(row, "FileName", "c.csv:3", FormatError)
