"""Tests of ser_modules/data/ratings.py (raters' scores: one value, per-utterance statistics)."""

import logging

import numpy as np
import pytest

from ser_modules.data.ratings import describe_raters, parse_rating, rater_statistics


@pytest.mark.parametrize(
    "text, expected",
    [("4", 4.0), (" 6.5 ", 6.5), ("", None), ("NaN", None), (None, None), (7, 7.0)],
)
def test_parse_rating(text, expected):
    assert parse_rating(text, "f:1", "EmoAct of a.wav") == expected


@pytest.mark.parametrize(
    "text, message", [("high", "is not a number: 'high'"), ("0.5", r"out of \[1, 7\]: '0.5'")]
)
def test_parse_rating_errors_name_the_place_and_use_the_given_type(text, message):
    class Custom(ValueError):
        pass

    with pytest.raises(Custom, match=rf"^f:1: EmoAct of a.wav {message}$"):
        parse_rating(text, "f:1", "EmoAct of a.wav", Custom)


def test_statistics_are_the_population_std_of_the_valid_ratings(caplog):
    ratings = {
        "a": [("W1", 1.0, 2.0, 3.0), ("W2", 3.0, 2.0, 5.0), ("W1", 7.0, 7.0, 7.0)],
        "b": [("W3", None, 4.0, 4.0)],
    }
    with caplog.at_level(logging.WARNING):
        stats = rater_statistics({"a": "a.wav", "b": "b.wav"}, ratings, "d.csv", "Demo")
    valid = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 5.0]])
    assert stats["a"]["n_raters"] == 2
    for k, attr in enumerate(("arousal", "valence", "dominance")):
        assert stats["a"][f"{attr}_std"] == pytest.approx(valid[:, k].std())
        assert stats["a"][f"{attr}_mean"] == pytest.approx(valid[:, k].mean())
    assert stats["b"]["n_raters"] == 0 and stats["b"]["arousal_std"] == 0.0
    text = caplog.text
    assert "Demo: 1 rating rows of d.csv have a NaN/empty rating" in text
    assert "Demo: 1 rating rows of d.csv repeat a worker" in text
    assert "Demo: 1 labelled files have no rating in d.csv" in text and "b.wav" in text


def test_describe_raters():
    assert describe_raters({"a": {"n_raters": 2}, "b": {"n_raters": 3}}) == (
        "2.50 raters per utterance"
    )
