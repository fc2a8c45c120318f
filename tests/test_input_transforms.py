"""The fitted input transforms (training.input_transforms): the statistics of the training
frames, the fitted selection written once and reused, and a record of another model refused."""

import json

import numpy as np
import pytest
import torch

from ser_modules.nn.selection import FeatureSelection
from ser_modules.nn.tc_gru import InputStandardizer
from ser_modules.training.input_transforms import (
    fit_input_transforms,
    load_input_transforms,
    utterance_statistics,
)
from ser_modules.training.lexical_streams import lexical_identity
from ser_modules.utils.files import write_json_atomic


class Frames:
    """Frames of each wav, ``[frames, channels]``."""

    def __init__(self, frames):
        self.frames = frames

    def load(self, wav):
        return self.frames[wav]


def write_train(path, count=12, channels=4, seed=0):
    """A training manifest and the frames of its files: channel 0 follows arousal."""
    generator = torch.Generator().manual_seed(seed)
    entries, frames = {}, {}
    for i in range(count):
        ratings = {"arousal": 1 + i % 7, "valence": 4, "dominance": 1 + (i * 3) % 7}
        entries[f"u{i}"] = {"wav": f"{i}.wav", **ratings}
        feats = torch.randn(5 + i % 3, channels, generator=generator)
        feats[:, 0] += ratings["arousal"]
        frames[f"{i}.wav"] = feats.half()
    write_json_atomic(entries, path)
    return Frames(frames)


def hparams_for(channels=4, method="ccs", keep=0.5, lexical=False):
    model = {
        "standardizer": InputStandardizer(),
        "selection": FeatureSelection(channels, method, keep),
    }
    hparams = {
        "saliency": method,
        "keep_fraction": keep,
        "seed": 0,
        "mis_neighbors": 3,
        "mis_max_samples": None,
        "mis_n_jobs": 1,
        "noprogressbar": True,
        "model": model,
    }
    if lexical:
        model["lexical_standardizer"] = InputStandardizer()
        hparams.update(lexical_streams=["asr", "release"], lexical_size=2, bert_hub="bert")
    return hparams


def test_utterance_statistics_are_those_of_all_training_frames(tmp_path):
    frames = write_train(tmp_path / "train.json")
    means, targets, mean, std = utterance_statistics(
        frames, tmp_path / "train.json", progressbar=False
    )
    every = torch.cat([frames.load(f"{i}.wav") for i in range(12)]).double()
    np.testing.assert_allclose(mean, every.mean(0).numpy(), atol=1e-12)
    np.testing.assert_allclose(std, every.std(0, unbiased=False).numpy(), atol=1e-9)
    np.testing.assert_allclose(means[3], frames.load("3.wav").double().mean(0).numpy())
    assert targets.shape == (12, 3) and targets[3].tolist() == [4.0, 4.0, 3.0]
    # frame_limit crops every utterance as in training
    cropped, _, _, _ = utterance_statistics(
        frames, tmp_path / "train.json", progressbar=False, frame_limit=2
    )
    np.testing.assert_allclose(cropped[3], frames.load("3.wav")[:2].double().mean(0).numpy())


def test_fit_writes_once_and_load_rebuilds_the_transforms(tmp_path):
    frames = write_train(tmp_path / "train.json")
    path = tmp_path / "save" / "feature_selection.json"
    path.parent.mkdir()
    hparams = hparams_for()
    fit_input_transforms(path, hparams, frames, tmp_path / "train.json")
    record = json.loads(path.read_text())
    assert record["num_train_utterances"] == 12 and 0 in record["indices"]
    fitted_at = path.stat().st_mtime_ns
    fit_input_transforms(path, hparams_for(), frames, tmp_path / "train.json")  # reused
    assert path.stat().st_mtime_ns == fitted_at
    fresh = hparams_for()
    load_input_transforms(path, fresh)
    assert fresh["model"]["selection"].indices.tolist() == record["indices"]
    assert torch.allclose(
        fresh["model"]["standardizer"].mean, torch.tensor(record["frame_mean"]).float()
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"saliency": "pca"}, "holds a ccs selection keeping 0.5, but the hparams ask for pca"),
        ({"keep_fraction": 0.75}, "but the hparams ask for ccs keeping 0.75"),
    ],
)
def test_a_record_of_another_selection_is_refused(tmp_path, change, message):
    frames = write_train(tmp_path / "train.json")
    path = tmp_path / "feature_selection.json"
    fit_input_transforms(path, hparams_for(), frames, tmp_path / "train.json")
    with pytest.raises(ValueError, match=message):
        load_input_transforms(path, {**hparams_for(), **change})
    with pytest.raises(ValueError, match="was fitted on 4 dimensions, the upstream has 6"):
        load_input_transforms(path, hparams_for(channels=6))


def test_the_lexical_statistics_and_streams_are_recorded_and_checked(tmp_path):
    """feature_selection.json records what the lexical vectors were made of; another BERT or
    other transcripts in the same folder are refused, an audio-only record too."""
    frames = write_train(tmp_path / "train.json")
    lexical = {f"{i}.wav": torch.tensor([i, 1.0, -i, 2.0]) for i in range(12)}
    audio_only = tmp_path / "audio.json"
    fit_input_transforms(audio_only, hparams_for(), frames, tmp_path / "train.json")
    with pytest.raises(ValueError, match="has no lexical statistics"):
        load_input_transforms(audio_only, hparams_for(lexical=True))
    path = tmp_path / "multimodal.json"
    hparams = hparams_for(lexical=True)
    fit_input_transforms(path, hparams, frames, tmp_path / "train.json", lexical=lexical)
    record = json.loads(path.read_text())
    assert record["lexical_identity"] == lexical_identity(hparams)
    assert record["lexical_mean"] == pytest.approx([5.5, 1.0, -5.5, 2.0])
    load_input_transforms(path, hparams)
    assert hparams["model"]["lexical_standardizer"].mean.tolist() == [5.5, 1.0, -5.5, 2.0]
    for key, value in (("bert_hub", "roberta-base"), ("lexical_streams", ["asr", "other-asr"])):
        with pytest.raises(ValueError, match="was fitted on the lexical streams"):
            load_input_transforms(path, {**hparams_for(lexical=True), key: value})
    with pytest.raises(ValueError, match="holds 4 lexical dimensions, the hparams ask for 2 x 3"):
        load_input_transforms(path, {**hparams_for(lexical=True), "lexical_size": 3})
