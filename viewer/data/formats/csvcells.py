"""The cells of a CSV metrics line, as the full reader and the glance both read them."""
from __future__ import annotations

import csv

from .base import CHUNK

MISSING = frozenset(("", "NA", "N/A", "null", "None"))

# a row is at most one chunk long (longer lines are skipped), so no cell can exceed that
if csv.field_size_limit() < CHUNK:
    csv.field_size_limit(CHUNK)


def sniff_separator(header: str) -> str:
    for sep in (",", "\t", ";", "|"):
        if sep in header:
            return sep
    return ","


def number(cell):
    """A metric cell's value; None when it holds none (empty, ``NA``, text)."""
    if cell in MISSING:
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def split_cells(line, sep):
    """One line's cells (a quote left open ends with the line); None for a blank line."""
    if not line:
        return None
    try:
        return next(csv.reader([line], delimiter=sep), None)
    except csv.Error:
        return None
