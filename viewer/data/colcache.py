"""The column cache: parsed metrics (CSV, JSONL) kept as memory-mappable files outside the runs folder.

A restart, or a second gunicorn worker, maps what one parse wrote instead of parsing again:
``restore(src)`` before a source's first read gives it the cached series (views of the
files' pages, shared by every process through the page cache) and the reader's state at the
cached byte offset, so the reader goes on from there; ``save(src)`` after a read writes a new
entry, or extends the current one with the rows appended since (never a rebuild).

An entry lives in ``<cache>/columns/<root key>/<source key>/``: ``manifest.json`` (replaced
atomically) and one file per series, a 64-byte header (magic, generation) then float64
records ``(step, epoch, time, y)``; an extension writes records past the manifest's count,
in place, then a new manifest. A rewrite writes a new generation's files: a process still
mapping the old ones keeps them until it lets go. Writers take a lock file (``flock``, not
waited for: a busy entry is somebody else writing the same rows).

An entry is used only when the file is the one it describes: same device and inode, not
shorter than the cached offset, the same mtime while the size is the cached size, the same
header bytes and the same 4 KiB before the offset, and this reader at this version. Anything
else (a corrupt, truncated or foreign file) is counted in ``rejected`` and parsed afresh.
Entries of files that are gone, and the least recently used past ``VIEWER_CACHE_MB``, are
pruned (:mod:`colprune`).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import mmap
import os
import tempfile
import weakref
from dataclasses import dataclass

from . import colprune, colstate
from .columns import rebase
from .cooperative import turn
from .paths import open_regular

VERSION = 1
MAGIC = b"TBCOLS1\0"
HEAD = 64                # data file header: MAGIC, the generation (16 ASCII hex), zeros
REC = 32                 # bytes a point: step, epoch, time, y
MIN_BYTES = 1 << 20      # smaller files parse in milliseconds: not worth an entry
EXTEND_BYTES = 256 << 10  # file bytes appended past the entry before it is extended
TAIL_CHECK = 4096        # bytes before the offset that must not have changed
WRITE_ROWS = 1 << 16     # records per write: a turn between (2 MiB, a few ms)
FULL = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


@dataclass
class Record:
    """What this process knows its source shares with the entry."""
    gen: str
    table_gen: int
    offset: int


def reader_id(src):
    keys = "|".join(getattr(src, "step_keys", ()))
    return f"{type(src).__module__}.{type(src).__qualname__}/{VERSION}.{colstate.of(src).version}/{keys}"


def _sha(b):
    return hashlib.sha256(b).hexdigest()


class ColumnCache:
    """The column cache of one runs folder; ``cachedir`` is a :class:`CacheDir` (or None)."""

    def __init__(self, cachedir, cap_mb=4096):
        self.cachedir = cachedir
        self.pruner = colprune.Pruner(float(cap_mb or 0) * 2**20)  # VIEWER_CACHE_MB: the cache kept under it
        self._where = None
        self.stopped = None  # why writing stopped (a full or read-only disk)
        self.records = weakref.WeakKeyDictionary()  # source -> Record
        self.rejection = None  # why the last entry was not used
        self.counts = {"restored": 0, "written": 0, "extended": 0, "rejected": 0}

    def warm(self):
        """Import numpy now when entries of this root exist (a restart): the first answer
        mapped from them then does not pay the import (0.1-0.3 s on a busy machine)."""
        if self.where:
            try:
                with os.scandir(self.where) as it:
                    if next(it, None) is None:
                        return
            except OSError:
                return
            import numpy  # noqa: F401

    @property
    def where(self):
        if self._where is None and self.cachedir:
            self._where = self.cachedir.sub("columns") or ""
        return self._where or None

    def state(self):
        pruned = colprune.last_pass(os.path.dirname(self.where)) if self.where else None
        return {**self.counts, "stopped": self.stopped, "pruned": pruned}

    def prune_when_due(self):
        """Start a pruning pass in the background when one is due host-wide (see :mod:`colprune`)."""
        if self.where:
            self.pruner.when_due(os.path.dirname(self.where))

    def _dir(self, src):
        key = _sha(f"{reader_id(src)}\0{src.path}".encode("utf-8", "surrogateescape"))[:24]
        return os.path.join(self.where, key)

    # -- reading ---------------------------------------------------------------------------

    def restore(self, src):
        """Give a source that has read nothing yet the cached series and reader state; True
        when it did (the source then reads on from the cached offset)."""
        state = colstate.of(src)
        if state is None or state.started(src) or not self.where:
            return False
        d = self._dir(src)
        m = _manifest(d)
        if m is None:
            return False
        try:
            head, series = self._usable(src, m, d)
            state.apply(src, m["state"], int(m["offset"]), head, series)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            state.reset(src)  # whatever was half applied: the source reads from the start
            self.counts["rejected"] += 1
            self.rejection = f"{type(e).__name__}: {e}"
            return False
        self.records[src] = Record(m["gen"], src.table.generation, m["offset"])
        self.counts["restored"] += 1
        try:
            os.utime(os.path.join(d, "manifest.json"))  # last used: the pruner drops the least recent first
        except OSError:
            pass
        return True

    def _usable(self, src, m, d):
        """(header bytes, [(name, mapped records)]) when entry ``m`` in ``d`` describes the file
        as it is and its data files hold what it says; else ValueError (or OSError)."""
        head = self._check(src, m)
        return head, [(str(e["name"]), _map(d, str(e["file"]), str(m["gen"]), int(e["n"]))) for e in m["series"]]

    def _check(self, src, m):
        """The file's header bytes when ``m`` describes the file as it is; else ValueError."""
        if m.get("magic") != "tailboard-columns" or m.get("reader") != reader_id(src) or m.get("path") != src.path:
            raise ValueError("foreign entry")
        st = os.stat(src.path)
        offset = int(m["offset"])
        if (st.st_dev, st.st_ino) != (m["dev"], m["ino"]) or st.st_size < offset:
            raise ValueError("another file, or shorter")
        if st.st_size == m["size"] and st.st_mtime_ns != m["mtime_ns"]:
            raise ValueError("rewritten in place")
        head, tail = _ends(src.path, int(m["state"]["sig_len"]), offset)
        if _sha(head) != m["head_sha"] or _sha(tail) != m["tail_sha"]:
            raise ValueError("header or rows before the offset changed")
        return head

    def unread_bytes(self, src):
        """Bytes of ``src``'s file past its valid cache entry (the whole file without one):
        what a restore would still parse. A first answer samples only when that is big."""
        try:
            size = os.stat(src.path).st_size
        except OSError:
            return 0
        m = _manifest(self._dir(src)) if self.where and colstate.of(src) is not None else None
        if m is None:
            return size
        try:
            self._check(src, m)
        except (OSError, ValueError, KeyError, TypeError):
            return size
        return max(0, size - int(m["offset"]))

    def _sound(self, src, m, d):
        try:
            self._usable(src, m, d)
            return True
        except (OSError, ValueError, KeyError, TypeError):
            return False

    # -- writing ---------------------------------------------------------------------------

    def save(self, src):
        """After a read: write a new entry, or extend the current one; True when it wrote."""
        state = colstate.of(src)
        if self.stopped or state is None or not state.started(src) or not self.where:
            return False
        rec = self.records.get(src)
        if rec is not None and rec.table_gen != src.table.generation:
            rec = None  # the source started over (a rewrite): a new entry
        offset = src.lines.offset
        if offset < MIN_BYTES or (rec is not None and offset - rec.offset < EXTEND_BYTES):
            return False
        d = self._dir(src)
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
            lock = os.open(os.path.join(d, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            return self._failed(e)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another worker writes this entry now: ask again later
                self.records[src] = Record(rec and rec.gen, src.table.generation, offset)
                return False
            return self._write(src, d, rec, offset)
        except OSError as e:
            return self._failed(e)
        except (ValueError, KeyError, TypeError):
            return False  # the file changed under this read, or a foreign manifest: next time
        finally:
            os.close(lock)

    def _failed(self, e):
        if e.errno in FULL:
            self.stopped = f"column cache stopped writing: {e.strerror or e}"
            if self.cachedir is not None:
                self.cachedir.note = self.stopped
        return False

    def _write(self, src, d, rec, offset):
        st = os.stat(src.path)
        head, tail = _ends(src.path, len(src.lines.signature), offset)
        if st.st_size < offset or head != src.lines.signature:
            return False  # changed since this read: the next refresh starts over
        old = _manifest(d)
        series = src.table.series
        names = list(series)
        theirs = [(e["name"], e["n"]) for e in old["series"]] if old is not None else []
        ours = [(name, len(series[name])) for name in names]
        mine = old is not None and old.get("gen") == (rec and rec.gen)
        if old is not None and old["offset"] >= offset and self._sound(src, old, d) \
                and ours == [(n, min(c, k)) for (n, c), (_, k) in zip(theirs, ours)]:
            # this file as far already (another worker's entry, or ours): share its pages
            for k, (name, n) in enumerate(ours):
                rebase(series[name], _map(d, old["series"][k]["file"], old["gen"], n))
            self.records[src] = Record(old["gen"], src.table.generation, offset)
            return False
        elif old is not None and old["offset"] < offset and (mine or self._sound(src, old, d)) \
                and theirs == [(n, min(c, k)) for (n, c), (_, k) in zip(ours, theirs)]:
            # ours or another worker's entry of this very file, with fewer rows: extended
            gen, entries, kind = old["gen"], old["series"], "extended"
        else:
            gen, entries, kind = os.urandom(8).hex(), [], "written"
        entries = [dict(e) for e in entries]
        for k, name in enumerate(names):
            if k == len(entries):
                entries.append({"name": name, "file": f"{gen}-{k}.rec", "n": 0})
            e = entries[k]
            _write_records(os.path.join(d, e["file"]), gen, series[name], int(e["n"]))
            e["n"] = len(series[name])
        m = {"magic": "tailboard-columns", "version": VERSION, "reader": reader_id(src), "path": src.path,
             "dev": st.st_dev, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
             "offset": offset, "head_sha": _sha(head), "tail_sha": _sha(tail), "gen": gen,
             "state": colstate.of(src).snapshot(src), "series": entries}
        _replace(d, "manifest.json", json.dumps(m).encode())
        if old is not None and old.get("gen") != gen:
            for e in old.get("series", ()):
                _unlink(os.path.join(d, str(e.get("file", ""))))
        self.counts[kind] += 1
        self.records[src] = Record(gen, src.table.generation, offset)
        for e in entries:  # the parsed points become views of the pages just written
            s = series[e["name"]]
            rebase(s, _map(d, e["file"], gen, e["n"]))
        return True


# -- files ---------------------------------------------------------------------------------

def _manifest(d):
    m = colprune.read_manifest(d)
    return m if m is not None and m.get("version") == VERSION else None


def _ends(path, head_len, offset):
    """The first ``head_len`` bytes of ``path`` and the ``TAIL_CHECK`` bytes before ``offset``."""
    with open_regular(path) as f:
        head = f.read(head_len)
        start = max(0, offset - TAIL_CHECK)
        f.seek(start)
        tail = f.read(offset - start)
    if len(head) != head_len or len(tail) != offset - start:
        raise ValueError("file shorter than its entry")
    return head, tail


def _map(d, name, gen, n):
    """The ``n`` records of a data file as an (n, 4) read-only float64 array over its pages."""
    import numpy as np

    if os.sep in name or name.startswith("."):
        raise ValueError("foreign file name")
    with open_regular(os.path.join(d, name), within=d) as f:
        if os.fstat(f.fileno()).st_size < HEAD + n * REC:
            raise ValueError(f"{name}: truncated")
        if f.read(HEAD)[:24] != MAGIC + gen.encode():
            raise ValueError(f"{name}: bad magic")
        mm = mmap.mmap(f.fileno(), HEAD + n * REC, access=mmap.ACCESS_READ)
    return np.frombuffer(mm, dtype="<f8", count=n * 4, offset=HEAD).reshape(n, 4)


def _write_records(path, gen, s, start):
    """Points ``start:`` of series ``s`` written as records after the first ``start``."""
    import numpy as np

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if start == 0:
            os.pwrite(fd, (MAGIC + gen.encode()).ljust(HEAD, b"\0"), 0)
        elif os.fstat(fd).st_size < HEAD + start * REC:
            raise ValueError(f"{path}: shorter than its entry")  # damaged: never extended over a hole
        n = len(s)
        for a in range(start, n, WRITE_ROWS):
            b = min(n, a + WRITE_ROWS)
            rows = np.empty((b - a, 4), dtype="<f8")
            for i, col in enumerate((s.step, s.epoch, s.time, s.y)):
                rows[:, i] = np.frombuffer(col[a:b], dtype=np.float64)
            data = rows.tobytes()
            done = 0
            while done < len(data):
                done += os.pwrite(fd, data[done:], HEAD + a * REC + done)
            turn()
        os.ftruncate(fd, max(os.fstat(fd).st_size, HEAD + n * REC))
    finally:
        os.close(fd)


def _replace(d, name, data):
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        while data:
            data = data[os.write(fd, data):]
        os.close(fd)
        fd = -1
        os.replace(tmp, os.path.join(d, name))
    except BaseException:
        if fd >= 0:
            os.close(fd)
        _unlink(tmp)
        raise


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass
