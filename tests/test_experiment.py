"""load_experiment: overrides, run options, experiment folder, copy of the script."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_load_experiment_creates_the_folder_and_applies_overrides(tmp_path):
    (tmp_path / "h.yaml").write_text("output_folder: !PLACEHOLDER\nlr: 0.1\nname: !ref run_<lr>\n")
    script = tmp_path / "recipe.py"
    script.write_text(textwrap.dedent("""
        import sys
        from ser_modules.training.experiment import load_experiment
        hparams, run_opts = load_experiment(sys.argv[1:], __file__)
        print("RESULT", hparams["lr"], hparams["name"], hparams["device"], hparams["noprogressbar"])
    """))
    out = tmp_path / "exp"
    args = [str(tmp_path / "h.yaml"), f"--output_folder={out}", "--lr=0.5", "--noprogressbar", "--device=cpu"]
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "RESULT 0.5 run_0.5 cpu True" in result.stdout
    assert "lr: 0.5" in (out / "hyperparams.yaml").read_text()
    assert (out / "recipe.py").read_text() == script.read_text()
    assert (out / "log.txt").exists()
    assert (out / "command.txt").read_text().startswith("python recipe.py ")
