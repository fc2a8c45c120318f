"""Checks of option and label values: a number, not a bool (``True`` is an ``int``), and the
error of an option that fails its check.

Authors
 * ser-recipes contributors 2026
"""

import math
import numbers


def is_real_number(value):
    """True for real numbers (int, float, numpy scalars), False for bools and anything else.

    Example
    -------
    >>> is_real_number(0.5), is_real_number(3), is_real_number(True), is_real_number("1")
    (True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite_number(value):
    """A real number (:func:`is_real_number`) other than NaN and infinities.

    Example
    -------
    >>> is_finite_number(2.0), is_finite_number(float("nan")), is_finite_number(False)
    (True, False, False)
    """
    return is_real_number(value) and math.isfinite(value)


def is_whole_number(value):
    """True for integers (int, numpy integers), False for bools, floats and anything else.

    Example
    -------
    >>> is_whole_number(3), is_whole_number(True), is_whole_number(3.0)
    (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def require(condition, name, expected, value):
    """Raises ``ValueError("<name> must be <expected>, got <value!r>")`` unless ``condition``:
    the one form of the option checks.

    Example
    -------
    >>> require(is_whole_number(2), "seed", "an int", 2)
    >>> require(is_whole_number(2.5), "seed", "an int", 2.5)
    Traceback (most recent call last):
    ...
    ValueError: seed must be an int, got 2.5
    """
    if not condition:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
