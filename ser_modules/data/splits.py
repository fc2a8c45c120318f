"""Validation splits of the preparation scripts: a seeded random share of the training
utterances (SUPERB), or whole held-out speakers.

Authors
 * ser-recipes contributors 2026
"""

import math
import random


def split_random(utt_ids, valid_ratio, seed):
    """SUPERB-style split: shuffle with ``random.Random(seed)``, keep ``floor((1 - r) * N)``
    for training (as ``torch.utils.data.random_split``).

    Arguments
    ---------
    utt_ids : list of str
        The training utterances, in a fixed order (e.g. sorted).
    valid_ratio : float
        Validation fraction, in (0, 1).
    seed : int
        Seed of the shuffle.

    Returns
    -------
    tuple
        (train ids, valid ids).

    Example
    -------
    >>> train, valid = split_random([str(i) for i in range(10)], 0.2, 0)
    >>> len(train), len(valid), sorted(train + valid) == sorted(map(str, range(10)))
    (8, 2, True)
    """
    shuffled = list(utt_ids)
    random.Random(seed).shuffle(shuffled)
    n_train = math.floor((1.0 - valid_ratio) * len(shuffled) + 1e-9)
    return shuffled[:n_train], shuffled[n_train:]


def split_by_speaker(utt_ids, speaker_of, valid_ratio, seed, error=ValueError):
    """Speaker-independent split: whole speakers held out for validation.

    ``round(valid_ratio * S)`` validation speakers, clipped to ``[1, S - 1]`` (S speakers),
    drawn with ``random.Random(seed).sample`` from the sorted speaker list.

    Arguments
    ---------
    utt_ids : list of str
        The training utterances.
    speaker_of : dict
        Utterance id -> speaker.
    valid_ratio : float
        Fraction of the speakers held out, in (0, 1).
    seed : int
        Seed of the draw.
    error : type
        Exception raised with fewer than 2 speakers.

    Returns
    -------
    tuple
        (train ids, valid ids), each in the order of ``utt_ids``.

    Example
    -------
    >>> ids = ["a1", "a2", "b1", "c1"]
    >>> split_by_speaker(ids, {u: u[0] for u in ids}, 0.2, 0)
    (['a1', 'a2', 'c1'], ['b1'])
    """
    speakers = sorted({speaker_of[utt] for utt in utt_ids})
    if len(speakers) < 2:
        raise error(f"dev_split='speaker' needs 2+ training speakers, got {speakers}")
    n_valid = min(max(1, math.floor(valid_ratio * len(speakers) + 0.5)), len(speakers) - 1)
    valid_speakers = set(random.Random(seed).sample(speakers, n_valid))
    train = [utt for utt in utt_ids if speaker_of[utt] not in valid_speakers]
    valid = [utt for utt in utt_ids if speaker_of[utt] in valid_speakers]
    return train, valid
