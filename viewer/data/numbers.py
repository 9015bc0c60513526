"""Finite and non-finite numbers: the one home of the NaN/infinity helpers.

Series hold NaN for "absent"; JSON has no NaN nor infinity, so everything sent turns them into
``null`` (or, for hparams, their text). Data, views and web all ask here.
"""
from __future__ import annotations

import math


def is_number(v):
    """True for ints and floats (NaN included), never for booleans."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_finite_number(v):
    """True for a number that is neither NaN nor infinite."""
    return is_number(v) and math.isfinite(v)


def json_can_carry(v):
    """False only for a float JSON cannot carry (NaN, inf); any other value is fine."""
    return not isinstance(v, float) or math.isfinite(v)


def finite_or_none(v):
    """A float as JSON sends it: itself when finite, else None (``null``)."""
    return v if math.isfinite(v) else None


def finite_or_none_list(values):
    """``finite_or_none`` of each float of ``values``, as a list."""
    return [v if math.isfinite(v) else None for v in values]


def nonfinite_to_null(obj):
    """A JSON document (dicts, lists, scalars) with every non-finite float made None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: nonfinite_to_null(x) for k, x in obj.items()}
    if isinstance(obj, list):
        return [nonfinite_to_null(x) for x in obj]
    return obj


def all_finite(xs):
    """True when every x is finite (no NaN, no infinity); in C."""
    try:
        return math.isfinite(math.fsum(xs))
    except (ValueError, OverflowError):  # -inf + inf, or finite values summing past the float range
        return False
