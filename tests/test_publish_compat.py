"""Exports made before the package redesign (tests/fixtures/export_v0) still load with plain
``foreign_class`` and return what they returned when they were made."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ser_modules.testing.tiny_ssl import save_random_ssl_model

FIXTURES = Path(__file__).parent / "fixtures" / "export_v0"
UPSTREAMS = {"categorical": "wavlm", "dimensional": "hubert"}


def run_export(folder, ssl_hub, savedir):
    """Outputs of an export folder, computed in a fresh process that cannot import ser_modules."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    code = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in"
        " repr(f).lower()]; import importlib.util; assert importlib.util.find_spec('ser_modules')"
        f" is None; sys.argv = ['run_export.py', {str(folder)!r}, {str(ssl_hub)!r},"
        f" {str(savedir)!r}]; exec(open({str(FIXTURES / 'run_export.py')!r}).read())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=savedir, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.mark.parametrize("kind", ["categorical", "dimensional"])
def test_export_made_before_the_redesign_loads_and_predicts_the_same(kind, tmp_path):
    expected = json.loads((FIXTURES / "expected.json").read_text())[kind]
    upstream = save_random_ssl_model(UPSTREAMS[kind], tmp_path / f"tiny_{UPSTREAMS[kind]}")
    out = run_export(FIXTURES / kind, upstream, tmp_path)
    if kind == "categorical":
        assert out["label"] == expected["label"]
        assert out["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)
    else:
        assert out == pytest.approx(expected, abs=1e-4)
