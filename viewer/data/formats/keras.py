"""Keras ``CSVLogger``: one file (often ``training.log`` or ``history.csv``), header ``epoch,<metric>,...``.

Recognised by its header, whatever the file is called; the separator is sniffed.
"""
from __future__ import annotations

import os
import re

from .base import Part, open_regular
from .csvmetrics import CsvSource

CANDIDATE = re.compile(r"\.(log|csv|tsv|txt)$")
HEADER = re.compile(r"^\ufeff?epoch([,\t;|])[^\r\n]+\r?$")


def is_keras_csv(path):
    """True when the file's first line is a Keras CSVLogger header. Opened through
    ``open_regular``: a FIFO named ``train.log`` must not block discovery."""
    try:
        with open_regular(path) as f:
            head = f.read(4096)
    except OSError:
        return False
    line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return bool(HEADER.match(line))


def detect(dirpath, files, subdirs):
    found = [f for f in sorted(files)
             if CANDIDATE.search(f) and not f.startswith("metrics")
             and is_keras_csv(os.path.join(dirpath, f))]
    if not found:
        return None
    return Part("keras", 40,
                metrics=[CsvSource(os.path.join(dirpath, f), step_keys=("epoch",)) for f in found],
                claims=tuple(found))
