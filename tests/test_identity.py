"""training.identity: what an experiment folder's identity holds, what differs, what "done" is."""

import json
from types import SimpleNamespace

import pytest
from speechbrain.utils.epoch_loop import EpochCounter, EpochCounterWithStopper

from ser_modules.training.identity import (
    ExperimentIdentityError,
    check_folder,
    command_identity,
    finished_run,
    identity_differences,
    record_evaluation,
    record_inputs,
    record_training,
    write_identity,
)
from ser_modules.utils.files import write_json_atomic

YAML_TEXT = """\
seed: 1
data_folder: !PLACEHOLDER
results_folder: results
output_folder: !ref <results_folder>/run<seed>
ssl_folder: !ref <results_folder>/ssl
lr: 0.1
batch_size: 8
num_workers: 0
grad_accumulation_factor: 1
loader: {batch_size: !ref <batch_size>, num_workers: !ref <num_workers>}
opt_class: !name:torch.optim.Adam
    lr: !ref <lr>
encoder: !new:torch.nn.Linear
    in_features: 2
    out_features: 2
"""


@pytest.fixture
def hparams_file(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text(YAML_TEXT)
    return str(path)


def identity(hparams_file, *args, script="train.py"):
    data = (
        [] if any(arg.startswith("--data_folder=") for arg in args) else ["--data_folder=/corpus"]
    )
    return command_identity(hparams_file, [*data, *args], script)


def test_identity_holds_the_resolved_hyperparameters_without_paths_or_run_time_keys(hparams_file):
    record = identity(hparams_file)["hparams"]
    assert record["lr"] == 0.1 and record["loader"] == {"batch_size": 8, "num_workers": 0}
    assert record["opt_class"].startswith("sha1:") and record["encoder"].startswith("sha1:")
    assert not {
        "data_folder",
        "results_folder",
        "output_folder",
        "ssl_folder",
        "num_workers",
    } & set(record)


def test_run_time_options_and_paths_do_not_change_the_identity(hparams_file):
    base = identity(hparams_file)
    for args in (
        ["--num_workers=4"],
        ["--device=cpu", "--precision=bf16", "--noprogressbar"],
        ["--results_folder=/elsewhere", "--data_folder=/moved"],
        ["--output_folder=/x/y"],
    ):
        assert identity_differences(base, identity(hparams_file, *args)) == [], args


def test_hyperparameters_and_result_changing_run_options_change_it(hparams_file):
    base = identity(hparams_file)
    assert identity_differences(base, identity(hparams_file, "--lr=0.5")) == [
        "lr: 0.1 -> 0.5",
        "opt_class (an object built from the above)",
    ]
    assert (
        identity_differences(base, identity(hparams_file, "--batch_size=4"))[0]
        == "batch_size: 8 -> 4"
    )
    # --grad_accumulation_factor is a SpeechBrain run option and a key of the file: either way.
    assert identity_differences(base, identity(hparams_file, "--grad_accumulation_factor=4")) == [
        "grad_accumulation_factor: 1 -> 4"
    ]
    assert identity_differences(base, identity(hparams_file, "--debug")) == ["debug: false -> true"]
    assert identity_differences(base, identity(hparams_file, script="other.py")) == [
        'script: "train.py" -> "other.py"'
    ]
    assert identity_differences(base, identity(hparams_file, "--seed=2")) == ["seed: 1 -> 2"]


def test_a_key_added_by_a_newer_recipe_is_not_a_difference(hparams_file):
    old = identity(hparams_file)
    del old["hparams"]["batch_size"]
    assert identity_differences(old, identity(hparams_file)) == []


def test_check_folder_refuses_another_identity_and_leaves_the_folder(tmp_path, hparams_file):
    folder = tmp_path / "exp"
    write_identity(folder, identity(hparams_file))
    before = (folder / "experiment.json").read_bytes()
    assert check_folder(folder, identity(hparams_file, "--num_workers=2")) == "same"
    with pytest.raises(ExperimentIdentityError, match="lr: 0.1 -> 0.5"):
        check_folder(folder, identity(hparams_file, "--lr=0.5"))
    assert check_folder(folder, identity(hparams_file, "--lr=0.5"), overwrite=True) == "replace"
    assert (folder / "experiment.json").read_bytes() == before


def test_inputs_are_recorded_once_and_a_changed_manifest_is_refused(tmp_path, hparams_file):
    folder, corpus = tmp_path / "exp", tmp_path / "corpus"
    write_identity(folder, identity(hparams_file))
    manifest = folder / "manifests" / "test.json"
    write_json_atomic({"u1": {"wav": f"{corpus}/u1.wav", "emo": "neu"}}, manifest)
    hparams = {"output_folder": str(folder), "data_folder": str(corpus)}
    record_inputs(hparams, {"test": manifest})
    recorded = json.loads((folder / "experiment.json").read_text())["inputs"]
    # The corpus moved: same inputs.
    write_json_atomic({"u1": {"wav": f"{tmp_path}/moved/u1.wav", "emo": "neu"}}, manifest)
    record_inputs({**hparams, "data_folder": str(tmp_path / "moved")}, {"test": manifest})
    assert json.loads((folder / "experiment.json").read_text())["inputs"] == recorded
    # A label changed: refused.
    write_json_atomic({"u1": {"wav": f"{corpus}/u1.wav", "emo": "sad"}}, manifest)
    with pytest.raises(ExperimentIdentityError, match="inputs test differ"):
        record_inputs(hparams, {"test": manifest})


def brain(debug=False, test_only=False, optimizer_step=0, optimizer_step_limit=None):
    return SimpleNamespace(
        debug=debug,
        test_only=test_only,
        optimizer_step=optimizer_step,
        optimizer_step_limit=optimizer_step_limit,
    )


def run_epochs(counter, epochs):
    for epoch in counter:
        if epoch == epochs:
            break
    return counter


@pytest.mark.parametrize(
    "case, counter, run, finished",
    [
        ("epoch limit", run_epochs(EpochCounter(2), 2), brain(), True),
        ("interrupted", run_epochs(EpochCounter(3), 1), brain(), False),
        ("debug", run_epochs(EpochCounter(2), 2), brain(debug=True), False),
        # optimizer_step_limit (wavlm_corr_att.yaml's 30k updates) ends fit before the epoch limit
        (
            "update limit",
            run_epochs(EpochCounter(1000), 3),
            brain(optimizer_step=30, optimizer_step_limit=30),
            True,
        ),
        (
            "before the update limit",
            run_epochs(EpochCounter(1000), 3),
            brain(optimizer_step=29, optimizer_step_limit=30),
            False,
        ),
    ],
)
def test_a_run_is_finished_when_trained_to_its_end_then_evaluated(
    tmp_path, hparams_file, case, counter, run, finished
):
    folder = tmp_path / "exp"
    mine = identity(hparams_file)
    write_identity(folder, mine)
    hparams = {"output_folder": str(folder), "epoch_counter": counter}
    record_training(hparams, run)
    assert finished_run(folder, mine)[0] is False  # trained, not evaluated yet
    record_evaluation(hparams, run, ["test_results.json"])
    assert finished_run(folder, mine)[0] is finished, case
    assert finished_run(folder, identity(hparams_file, "--lr=0.5"))[0] is False


def test_early_stop_is_an_end_and_test_only_records_no_training(tmp_path, hparams_file):
    folder = tmp_path / "exp"
    mine = identity(hparams_file)
    write_identity(folder, mine)
    counter = EpochCounterWithStopper(limit=10, limit_to_stop=1, limit_warmup=0, direction="max")
    for _ in counter:
        counter.update_metric(0.0)
    hparams = {"output_folder": str(folder), "epoch_counter": counter}
    record_evaluation(hparams, brain(test_only=True), ["test_results.json"])  # nothing trained yet
    assert finished_run(folder, mine) == (False, "its training is not complete")
    record_training(hparams, brain())
    assert json.loads((folder / "experiment.json").read_text())["training"]["end"] == "early stop"
    record_training(hparams, brain(test_only=True))
    record_evaluation(hparams, brain(test_only=True), ["test_results.json"])
    assert finished_run(folder, mine) == (True, "finished")
