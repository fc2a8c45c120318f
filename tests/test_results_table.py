"""Results tables (training.results_table): the layout of results.md and the CSV."""

import csv

from ser_modules.training.results_table import markdown_table, write_results_table


def test_markdown_table_lays_out_any_cells():
    assert markdown_table(["a", "b"], [[1, 0.5], ["x", None]]) == [
        "| a | b |",
        "| --- | --- |",
        "| 1 | 0.5 |",
        "| x | None |",
    ]


def test_write_results_table_writes_the_title_notes_tables_and_csv(tmp_path):
    text = write_results_table(
        tmp_path / "results.md",
        "Corpus: model",
        ["split", "CCC"],
        [["test1", "0.500"], ["test2", "0.250"]],
        notes=["First note.", "Second note."],
        sections=[("Per bin", ["split", "1"], [["test1", "0.10 (3)"]])],
        csv_path=tmp_path / "results.csv",
    )
    assert (tmp_path / "results.md").read_text() == text
    assert text == (
        "# Corpus: model\n\nFirst note.\nSecond note.\n\n| split | CCC |\n| --- | --- |\n"
        "| test1 | 0.500 |\n| test2 | 0.250 |\n\n## Per bin\n\n| split | 1 |\n| --- | --- |\n"
        "| test1 | 0.10 (3) |\n"
    )
    with open(tmp_path / "results.csv", newline="") as handle:
        assert list(csv.reader(handle)) == [
            ["split", "CCC"],
            ["test1", "0.500"],
            ["test2", "0.250"],
        ]
    # Without notes nor sections: the title, then the table.
    text = write_results_table(tmp_path / "plain.md", "T", ["a"], [[1]])
    assert text == "# T\n\n| a |\n| --- |\n| 1 |\n"
    assert not (tmp_path / "plain.csv").exists()
