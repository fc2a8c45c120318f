"""The one data preparation step of the training scripts (training.preparation)."""

import json

import pytest

from ser_modules.data.checks import MissingSplitError
from ser_modules.data.manifests import write_manifests
from ser_modules.training.preparation import prepare_manifests


def hparams_for(tmp_path, **changes):
    hparams = {
        "skip_prep": False,
        "manifest_folder": str(tmp_path / "manifests"),
        "data_folder": "corpus",
        "seed": 7,
        "max_duration": 5.0,
        "long_utterance": "skip",
        "noprogressbar": True,
    }
    return {**hparams, **changes}


def test_the_recipe_prepares_with_its_options_and_long_training_utterances_are_skipped(tmp_path):
    calls = []

    def prepare(**kwargs):
        calls.append(kwargs)
        entries = {"short": {"duration": 2.0}, "long": {"duration": 9.0}}
        manifests = {split: entries for split in ("train", "valid", "test1", "test2")}
        write_manifests(kwargs["save_folder"], manifests, {"seed": kwargs["seed"]}, "Demo")

    hparams = hparams_for(tmp_path)
    manifests = prepare_manifests(hparams, prepare, ("data_folder", "seed"))
    assert calls == [
        {
            "data_folder": "corpus",
            "seed": 7,
            "save_folder": hparams["manifest_folder"],
            "progressbar": False,
        }
    ]
    assert sorted(manifests) == ["test1", "test2", "train", "valid"]  # from the stamp
    assert manifests["train"].endswith("train_max5s.json")
    assert list(json.loads(open(manifests["train"]).read())) == ["short"]
    assert manifests["test1"].endswith("test1.json")  # evaluation utterances are never dropped
    # The named splits only; with skip_prep the preparation does not run.
    hparams["skip_prep"] = True
    manifests = prepare_manifests(hparams, prepare, ("seed",), splits=["train", "test2"])
    assert list(manifests) == ["train", "test2"] and len(calls) == 1


def test_a_missing_required_split_is_an_error_before_any_manifest_is_read(tmp_path):
    def prepare(save_folder, progressbar):
        write_manifests(save_folder, {"train": {}, "test_1": {}}, {}, "Demo")

    with pytest.raises(MissingSplitError, match=r"no valid, test1 manifest \(manifests: test_1"):
        prepare_manifests(
            hparams_for(tmp_path), prepare, required=lambda found: ["train", "valid", "test1"]
        )
    # Nothing prepared (skip_prep, no stamp): the error says so, and how to prepare.
    with pytest.raises(
        FileNotFoundError, match=r"No finished data preparation in .*skip_prep: False"
    ):
        prepare_manifests(
            hparams_for(tmp_path / "none", skip_prep=True),
            prepare,
            required=lambda found: ["train"],
        )
