"""A series column that may live in a memory-mapped file: a read-only base plus a live tail.

A freshly parsed series holds its points in ``array('d')`` columns (anonymous memory, one copy
per worker). Once the column cache (:mod:`colcache`) has written them, each column becomes a
:class:`Column`: its first points are a read-only view of the cache file's pages, which every
gunicorn worker maps and the kernel holds once (the page cache), and the points appended since
go to an ``array('d')`` tail, as before. It answers what the code asks of a column: ``len``,
an int index, a slice (an ``array('d')`` copy), iteration, ``reversed``, ``append``,
``extend``, ``frombytes``, ``tolist`` and ``numpy.asarray(col)`` (the mapped view itself, no
copy, while the tail is empty). ``sys.getsizeof`` counts only the anonymous tail: that is what
the memory budget weighs; ``mapped_bytes`` tells the rest.
"""
from __future__ import annotations

import mmap
import sys
from array import array
from itertools import chain

EMPTY = memoryview(array("d"))


class Column:
    """Points ``base`` (a read-only float64 view, maybe strided) followed by ``tail``."""

    __slots__ = ("base", "view", "tail")

    def __init__(self, base=None, tail=None):
        self.base = base                 # numpy float64 array (read-only, mapped), or None
        self.view = EMPTY if base is None else memoryview(base)  # iterates and indexes in C
        self.tail = array("d") if tail is None else tail

    def __len__(self):
        return len(self.view) + len(self.tail)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._slice(i)
        nb = len(self.view)
        if i < 0:
            i += nb + len(self.tail)
            if i < 0:
                raise IndexError("column index out of range")
        return self.view[i] if i < nb else self.tail[i - nb]

    def _slice(self, sl):
        start, stop, stride = sl.indices(len(self))
        nb = len(self.view)
        if stride != 1:
            return array("d", (self[i] for i in range(start, stop, stride)))
        out = array("d")
        if start < min(stop, nb):
            import numpy as np  # only a mapped column has a base: numpy is loaded already
            out.frombytes(memoryview(np.ascontiguousarray(self.base[start:min(stop, nb)])).cast("B"))
        if stop > nb:
            out.extend(self.tail[max(start - nb, 0):stop - nb])
        return out

    def __iter__(self):
        return chain(self.view, self.tail) if len(self.tail) else iter(self.view)

    def __reversed__(self):
        return chain(reversed(self.tail), reversed(self.view))

    def append(self, v):
        self.tail.append(v)

    def extend(self, vs):
        self.tail.extend(vs)

    def frombytes(self, b):
        self.tail.frombytes(b)

    def tolist(self):
        return self.view.tolist() + self.tail.tolist()

    def __array__(self, dtype=None, copy=None):
        import numpy as np

        if not len(self.tail) and self.base is not None:
            out = self.base
        else:
            out = np.concatenate([self.base if self.base is not None else np.empty(0),
                                  np.frombuffer(self.tail, dtype=np.float64)])
        return out if dtype is None else out.astype(dtype, copy=False)

    def __sizeof__(self):
        """Anonymous bytes only (the tail): mapped pages are the page cache's, shared."""
        return object.__sizeof__(self) + sys.getsizeof(self.tail)

    @property
    def mapped_bytes(self):
        return 0 if self.base is None else len(self.view) * 8

    def __repr__(self):
        return f"Column({len(self.view)} mapped + {len(self.tail)} appended)"


def mapped_bytes(col):
    """Bytes of ``col`` that are a mapped file's pages (0 for an ``array('d')``)."""
    return getattr(col, "mapped_bytes", 0)


def _mapping(a):
    """The ``mmap`` under a numpy view of one (through its bases and memoryviews), or None."""
    for _ in range(8):
        if a is None or isinstance(a, mmap.mmap):
            return a
        a = a.obj if isinstance(a, memoryview) else getattr(a, "base", None)
    return None


def release_pages(cols):
    """Hand the resident pages under mapped columns back to the page cache (``madvise``
    DONTNEED on the read-only shared map): the kernel keeps them cached, shared and
    reclaimable, and the next read faults them back in from memory. Nothing is lost: the
    map stays, its pages are the file's. Returns the number of maps released."""
    done = {}
    for col in cols:
        mm = _mapping(getattr(col, "base", None))
        if mm is not None and id(mm) not in done:
            done[id(mm)] = mm
            try:
                mm.madvise(mmap.MADV_DONTNEED)
            except (AttributeError, OSError, ValueError):  # no madvise here, or the map was closed
                pass
    return len(done)


def rebase(s, rows):
    """Series ``s``'s first ``len(rows)`` points become views of ``rows`` (an (n, 4) array of
    step, epoch, time, y records); the points after them stay appended."""
    n = len(rows)
    for i, attr in enumerate(("step", "epoch", "time", "y")):
        col = getattr(s, attr)
        setattr(s, attr, Column(rows[:, i], col[n:] if len(col) > n else None))
