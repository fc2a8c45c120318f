"""Smoke test of the benchmarks: ``benchmarks/run_all.py --tiny`` prints every row.

Tiny models and corpora, so the figures mean nothing; only the table is checked (every
benchmark row present, numeric figures and peak memory). No timing assertion.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_ROWS = [
    ("pooling fwd+bwd", "MeanPooling,"),
    ("pooling fwd+bwd", "MeanStdPooling,"),
    ("pooling fwd+bwd", "CorrelationPooling,"),
    ("pooling fwd+bwd", "CorrelationPooling (p_d=0.25, train)"),
    ("pooling fwd+bwd", "AttentiveCorrelationPooling,"),
    ("pooling fwd+bwd", "AttentiveCorrelationPooling (per_head)"),
    ("pooling fwd+bwd", "naive per-utterance loop correlation"),
    ("pooling fwd+bwd", "bare bmm"),
    ("corpus generation", "IEMOCAP-format corpus"),
    ("corpus generation", "MSP-Podcast-format corpus"),
    ("data preparation", "prepare_iemocap, fold 1"),
    ("data preparation", "prepare_iemocap, second call"),
    ("data preparation", "prepare_msp_podcast:"),
    ("data preparation", "prepare_msp_podcast, second call"),
    ("IEMOCAP training epoch", "filling the cache"),
    ("IEMOCAP training epoch", "epoch with the feature cache"),
    ("IEMOCAP training epoch", "epoch without cache"),
    ("inference RTF", "1 s x batch 1"),
    ("inference RTF", "1 s x batch 2"),
]
NUMBER = re.compile(r"\d+(\.\d+)?")


def table_rows(report):
    """The (benchmark, setting, figure, memory) rows of the Markdown table."""
    rows = []
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[0] not in ("benchmark", "---"):
            rows.append(tuple(cells))
    return rows


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng generates the corpora")
def test_run_all_tiny_prints_every_row(tmp_path):
    out = tmp_path / "report.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run_all.py"),
            "--tiny",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_text(encoding="utf-8") == proc.stdout
    assert "AMD" in proc.stdout or "CPU:" in proc.stdout
    rows = table_rows(proc.stdout)
    assert len(rows) == len(EXPECTED_ROWS), rows
    for (benchmark, setting), row in zip(EXPECTED_ROWS, rows):
        assert row[0] == benchmark and setting in row[1], row
        assert NUMBER.search(row[2]) and "FAILED" not in row[2], row
        assert "MiB" in row[3] or row[3] == "same process as above", row
