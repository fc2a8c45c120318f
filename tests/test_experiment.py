"""load_experiment: overrides, run options, experiment folder, copy of the script, and the
folder's identity (a folder made by another command is refused before it is rewritten)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ser_modules.training.experiment import load_experiment

ROOT = Path(__file__).resolve().parents[1]


def test_load_experiment_creates_the_folder_and_applies_overrides(tmp_path):
    (tmp_path / "h.yaml").write_text("output_folder: !PLACEHOLDER\nlr: 0.1\nname: !ref run_<lr>\n")
    script = tmp_path / "recipe.py"
    script.write_text(
        textwrap.dedent("""
        import sys
        from ser_modules.training.experiment import load_experiment
        hparams, run_opts = load_experiment(sys.argv[1:], __file__)
        print("RESULT", hparams["lr"], hparams["name"], hparams["device"], hparams["noprogressbar"])
    """)
    )
    out = tmp_path / "exp"
    args = [
        str(tmp_path / "h.yaml"),
        f"--output_folder={out}",
        "--lr=0.5",
        "--noprogressbar",
        "--device=cpu",
    ]
    result = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "RESULT 0.5 run_0.5 cpu True" in result.stdout
    assert "lr: 0.5" in (out / "hyperparams.yaml").read_text()
    assert (out / "recipe.py").read_text() == script.read_text()
    assert (out / "log.txt").exists()
    assert (out / "command.txt").read_text().startswith("python recipe.py ")


# ----------------------------------------------------------------------------------------------
# The folder's identity (issue #13): a folder made by another command is refused before
# anything in it is rewritten.
# ----------------------------------------------------------------------------------------------
TINY_YAML = """\
data_folder: !PLACEHOLDER
output_folder: !PLACEHOLDER
save_folder: !ref <output_folder>/save
lr: 0.1
label_smoothing: 0.1
num_workers: 0
number_of_epochs: 2
opt_class: !name:torch.optim.Adam
    lr: !ref <lr>
loader: {batch_size: 4, num_workers: !ref <num_workers>}
"""
TINY_SCRIPT = """
import sys
from ser_modules.training.experiment import load_experiment
hparams, run_opts = load_experiment(sys.argv[1:], __file__)
print("RESULT", hparams["output_folder"], hparams["lr"])
"""


def tiny_args(tmp_path, *args):
    """The command line of a tiny hparams file (written), for ``load_experiment``."""
    (tmp_path / "h.yaml").write_text(TINY_YAML)
    base = [str(tmp_path / "h.yaml"), f"--output_folder={tmp_path / 'exp'}"]
    if not any(arg.startswith("--data_folder=") for arg in args):
        base.append(f"--data_folder={tmp_path / 'corpus'}")
    return [*base, *args]


def run_tiny(tmp_path, *args):
    """Runs a script that only calls load_experiment (in a subprocess: it configures logging)."""
    (tmp_path / "recipe.py").write_text(TINY_SCRIPT)
    return subprocess.run(
        [sys.executable, str(tmp_path / "recipe.py"), *tiny_args(tmp_path, *args)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def refusal(tmp_path, *args):
    """The error of a ``load_experiment`` that refuses (in this process: a refusal comes
    before the experiment folder and its logging are set up)."""
    with pytest.raises(ValueError) as error:
        load_experiment(tiny_args(tmp_path, *args), str(tmp_path / "recipe.py"))
    return str(error.value)


def test_another_command_is_refused_before_the_folder_is_rewritten(tmp_path):
    """Issue #13 row 5: --lr=0.05 --label_smoothing=0 on a folder made with other values."""
    assert run_tiny(tmp_path, "--noprogressbar").returncode == 0
    out = tmp_path / "exp"
    record = {
        name: (out / name).read_bytes()
        for name in ("hyperparams.yaml", "command.txt", "experiment.json")
    }
    message = refusal(tmp_path, "--lr=0.05", "--label_smoothing=0")
    assert f"{out} was made by another command" in message
    assert "lr: 0.1 -> 0.05" in message and "label_smoothing: 0.1 -> 0" in message
    assert "--overwrite_experiment=True" in message and "--experiment_folder" in message
    assert {name: (out / name).read_bytes() for name in record} == record
    # Run-time options and a moved corpus are the same experiment.
    from ser_modules.training.identity import check_folder, command_identity

    (tmp_path / "moved").mkdir()
    assert (
        check_folder(
            out,
            command_identity(
                str(tmp_path / "h.yaml"),
                [
                    f"--output_folder={out}",
                    f"--data_folder={tmp_path / 'moved'}",
                    "--num_workers=3",
                    "--device=cpu",
                ],
                "recipe.py",
            ),
        )
        == "same"
    )


def test_overwrite_moves_the_old_folder_aside(tmp_path):
    assert run_tiny(tmp_path).returncode == 0
    (tmp_path / "exp" / "test_results.json").write_text("{}")
    result = run_tiny(tmp_path, "--lr=0.05", "--overwrite_experiment=True")
    assert result.returncode == 0, result.stderr
    moved = list(tmp_path.glob("exp.replaced-*"))
    assert len(moved) == 1 and (moved[0] / "test_results.json").exists()
    assert json.loads((moved[0] / "experiment.json").read_text())["hparams"]["lr"] == 0.1
    assert json.loads((tmp_path / "exp" / "experiment.json").read_text())["hparams"]["lr"] == 0.05
    assert not (tmp_path / "exp" / "test_results.json").exists()
    assert "overwrite_experiment" not in (tmp_path / "exp" / "command.txt").read_text()


def test_a_folder_without_identity_that_holds_a_run_is_refused(tmp_path):
    (tmp_path / "exp" / "save" / "CKPT+old").mkdir(parents=True)
    assert "holds a run but no experiment.json" in refusal(tmp_path)


def test_runs_that_would_evaluate_an_untrained_model_are_errors(tmp_path):
    """Issue #13 row 4: --number_of_epochs=0, --test_only without a checkpoint."""
    assert "number_of_epochs=0: a run trains at least one epoch" in refusal(
        tmp_path, "--number_of_epochs=0"
    )
    assert f"--test_only: no checkpoint in {tmp_path / 'exp' / 'save'}" in refusal(
        tmp_path, "--test_only"
    )
    assert not (tmp_path / "exp").exists()


def test_a_debug_run_writes_beside_the_experiment(tmp_path):
    result = run_tiny(tmp_path, "--debug")
    assert result.returncode == 0, result.stderr
    assert f"RESULT {tmp_path / 'exp'}_debug 0.1" in result.stdout
    assert not (tmp_path / "exp").exists()
    assert json.loads((tmp_path / "exp_debug" / "experiment.json").read_text())["debug"] is True
