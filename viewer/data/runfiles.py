"""A run's files beside its series: log streams and their tails, media, reports, and any path
under the root resolved safely (a mixin of :class:`store.RunStore`, which gives ``root``,
``get`` and ``has``)."""
from __future__ import annotations

import os
import stat

from . import paths as beneath
from .cooperative import each
from .errors import NotFound
from .formats.media import MEDIA_DIRS
from .tailing import iter_window, open_tail, read_tail


class RunFiles:
    """RunStore's answers about a run's files: log streams, media, reports, safe paths."""

    def streams(self, run_id):
        return self.get(run_id).streams()

    def stream(self, run_id, stream_id):
        for st in self.streams(run_id):
            if st["id"] == stream_id:
                return st
        raise NotFound(f"unknown log stream {stream_id!r} of run {run_id}")

    def log_tail(self, run_id, stream_id, nbytes):
        """(data, start offset, file size) of a stream's last ``nbytes`` from a line boundary."""
        st = self.stream(run_id, stream_id)
        try:
            return read_tail(st["path"], nbytes, self.root)
        except FileNotFoundError:
            raise NotFound(f"log stream {stream_id!r} vanished") from None
        except OSError as e:
            raise NotFound(f"log stream {stream_id!r} unreadable: {e.strerror}") from None

    def log_window(self, run_id, stream_id, nbytes):
        """``(start, size, chunks)``: a stream's last ``nbytes`` (at most ``MAX_LOG_WINDOW``) from a
        line boundary, as an iterator of byte chunks that yields to other greenlets between them
        (the file stays open until the iterator ends or is closed)."""
        st = self.stream(run_id, stream_id)
        try:
            f, start, size = open_tail(st["path"], nbytes, self.root)
        except FileNotFoundError:
            raise NotFound(f"log stream {stream_id!r} vanished") from None
        except OSError as e:
            raise NotFound(f"log stream {stream_id!r} unreadable: {e.strerror}") from None
        return start, size, iter_window(f, start, size)

    def media(self, run_id):
        """Media items with ``path`` relative to the root."""
        run = self.get(run_id, refresh=False)
        rel = os.path.relpath(run.path, self.root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        # an item inside a file (``blob``: an image in an event file) also names its run: its URL is the run's API
        return [{**m, "path": prefix + m["path"], **({"run": run.id} if "blob" in m else {})}
                for m in each(run.media(), 4096)]

    def media_blob(self, run_id, index):
        """``(bytes, mimetype)`` of media item ``index`` when it lies inside a file (an image in a
        TensorBoard event file), not as a file of its own; NotFound otherwise."""
        run = self.get(run_id, refresh=False)
        with run.lock:
            items = run.media()
            src = run.media_src
            if not 0 <= index < len(items) or "blob" not in items[index] or not hasattr(src, "blob"):
                raise NotFound("no such media item")
            try:
                found = src.blob(items[index])
            except (OSError, ValueError, IndexError):
                found = None
        if found is None:
            raise NotFound("media item no longer readable")
        return found

    def media_folders(self, run_id, limit=64):
        """A run's folder, its media folders and their tag subfolders: what polling must stat
        while the run's page is open, to see new images of a run without a media index."""
        if not self.has(run_id):
            return []
        top = self.get(run_id, refresh=False).path
        out = [top]
        for sub in MEDIA_DIRS:
            d = os.path.join(top, sub)
            try:  # listed beneath the root: a media folder swapped for a link out is not
                entries = beneath.scandir(self.root, d)
            except OSError:
                continue
            out.append(d)
            out += [os.path.join(d, name) for name, st in entries if stat.S_ISDIR(st.st_mode)]
        return out[:limit]

    def reports(self, run_id):
        run = self.get(run_id, refresh=False)
        rel = os.path.relpath(run.path, self.root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        return [prefix + r for r in run.reports()]

    # -- files -----------------------------------------------------------------------------

    def resolve(self, relpath):
        """Absolute real path of a regular file or a folder under the root; NotFound otherwise.

        Whatever the path says (``..``, backslashes, NUL, symlinks leading out), the answer is
        inside the root or NotFound. FIFOs, sockets and devices are refused too.
        """
        if "\x00" in relpath or "\\" in relpath:
            raise NotFound("no such file")
        parts = [p for p in relpath.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise NotFound("no such file")
        try:  # resolved beneath the root's fd, component by component (see paths.py)
            path, st = beneath.resolve(self.root, os.path.join(*parts) if parts else "")
        except (OSError, ValueError):
            raise NotFound("no such file") from None
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise NotFound("no such file")
        return path
