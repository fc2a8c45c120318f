"""Tests of ser_modules/data/splits.py (validation splits of the preparation scripts)."""

import pytest

from ser_modules.data.splits import split_by_speaker, split_random

IDS = [f"u{i:02d}" for i in range(10)]


def test_random_split_keeps_floor_of_the_training_share_and_is_seeded():
    train, valid = split_random(IDS, 0.25, 3)
    assert (len(train), len(valid)) == (7, 3)  # floor(0.75 * 10)
    assert sorted(train + valid) == IDS
    assert split_random(IDS, 0.25, 3) == (train, valid)
    assert split_random(IDS, 0.25, 4) != (train, valid)


def test_speaker_split_holds_out_whole_speakers():
    speaker_of = {utt: f"s{int(utt[1:]) % 4}" for utt in IDS}  # 4 speakers
    train, valid = split_by_speaker(IDS, speaker_of, 0.5, 0)
    held_out = {speaker_of[utt] for utt in valid}
    assert len(held_out) == 2 and not held_out & {speaker_of[utt] for utt in train}
    assert train == [utt for utt in IDS if utt in train]  # input order kept
    assert sorted(train + valid) == IDS


@pytest.mark.parametrize("ratio, expected", [(0.01, 1), (0.99, 3)])
def test_speaker_split_keeps_one_speaker_on_each_side(ratio, expected):
    speaker_of = {utt: f"s{int(utt[1:]) % 4}" for utt in IDS}
    _, valid = split_by_speaker(IDS, speaker_of, ratio, 0)
    assert len({speaker_of[utt] for utt in valid}) == expected


def test_speaker_split_needs_two_speakers():
    class Custom(ValueError):
        pass

    with pytest.raises(Custom, match=r"needs 2\+ training speakers, got \['s'\]"):
        split_by_speaker(IDS, dict.fromkeys(IDS, "s"), 0.2, 0, error=Custom)
