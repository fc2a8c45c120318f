"""Tests of ser_modules/utils/values.py and of the shared constants built on the rating scale."""

import numpy as np
import pytest

from ser_modules.utils.constants import RATING_BINS, RATING_SCALE
from ser_modules.utils.values import is_finite_number, is_real_number, is_whole_number, require


@pytest.mark.parametrize("value", [0, 1.5, -2, np.float32(0.5), np.int64(3)])
def test_numbers_are_real(value):
    assert is_real_number(value)


@pytest.mark.parametrize("value", [True, False, "1", None, [1.0], 1j])
def test_bools_and_non_numbers_are_not_real(value):
    assert not is_real_number(value)


def test_finite_numbers_exclude_nan_and_infinities():
    assert is_finite_number(1e30)
    assert not any(map(is_finite_number, (float("nan"), float("inf"), -float("inf"), True)))


def test_whole_numbers_exclude_bools_and_floats():
    assert is_whole_number(3) and is_whole_number(np.int32(3))
    assert not any(map(is_whole_number, (True, 3.0, "3", None)))


def test_require_names_the_option_and_the_value():
    require(True, "seed", "an int", 1)
    with pytest.raises(ValueError, match=r"^valid_ratio must be a float in \(0, 1\), got 'x'$"):
        require(False, "valid_ratio", "a float in (0, 1)", "x")


def test_rating_bins_are_the_whole_numbers_of_the_scale():
    assert RATING_SCALE == (1.0, 7.0)
    assert RATING_BINS == (1, 2, 3, 4, 5, 6, 7)
