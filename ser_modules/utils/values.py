"""Type checks of option and label values: a number, not a bool (``True`` is an ``int``).

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
