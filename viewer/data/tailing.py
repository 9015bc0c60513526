"""Log tails read with a seek (a 5 GB log answers as fast as a 5 KB one) and terminal rendering.

``render_terminal`` turns raw log text into safe HTML: carriage-return progress bars collapse to
their last state, SGR colour codes become spans, every other escape sequence is dropped.
"""
from __future__ import annotations

import codecs
import html
import os
import re

from . import paths
from .cooperative import turn

# bytes just before a reader's offset, kept and compared on each look: a file truncated and
# written past its old size between two looks keeps its size growing and its head, not these
BEFORE = 64


def bytes_before(kept, data):
    """The last ``BEFORE`` bytes of ``kept`` followed by ``data`` (what was just read on)."""
    return (kept + data[-BEFORE:])[-BEFORE:]

#: The largest log window read, rendered or sent for one request, whatever ``bytes=`` asks
#: (the API, the page's "show more"). A 47 MB ANSI log asked for whole once held a worker 19 s
#: and sent 168 MB; a window is now read, rendered and sent in ``WINDOW_CHUNK`` pieces with a
#: yield to other greenlets between them, so memory and latency stay bounded.
MAX_LOG_WINDOW = 16 << 20
WINDOW_CHUNK = 256 << 10
RENDER_PIECE = 16 << 10  # characters of log text rendered between two yields (about 3 ms)


def clamp_window(nbytes):
    """``nbytes`` within 1..``MAX_LOG_WINDOW``."""
    return max(1, min(int(nbytes), MAX_LOG_WINDOW))


def open_tail(path, nbytes, root=None):
    """``(file, start, size)``: the file opened beneath ``root`` (see ``paths.open_regular``)
    and the offset of its last ``nbytes`` (at most ``MAX_LOG_WINDOW``) from a line boundary.
    The file is positioned at ``start``; the caller closes it."""
    nbytes = clamp_window(nbytes)
    f = paths.open_regular(path, within=root)
    try:
        size = os.fstat(f.fileno()).st_size
        start = max(0, size - nbytes)
        if start > 0:
            # the byte before the window tells whether the window already starts a line; the
            # last byte's newline ends the last line, not a first one. No newline at all: one
            # huge line, whose end is shown rather than nothing.
            f.seek(start - 1)
            pos, found = start - 1, -1
            while pos < size - 1 and found < 0:
                block = f.read(min(WINDOW_CHUNK, size - 1 - pos))
                if not block:
                    break
                i = block.find(b"\n")
                found = pos + i if i >= 0 else -1
                pos += len(block)
                if found < 0:
                    turn()  # under gevent: the other connections get a turn when one is due
            start = found + 1 if found >= 0 else start
        f.seek(start)
        return f, start, size
    except BaseException:
        f.close()
        raise


def iter_window(f, start, size, chunk=WINDOW_CHUNK):
    """Yield the bytes of ``f`` from ``start`` to ``size`` in ``chunk`` pieces, yielding to other
    greenlets after each; closes ``f`` at the end (or when the consumer stops)."""
    try:
        f.seek(start)
        left = size - start
        while left > 0:
            data = f.read(min(chunk, left))
            if not data:
                break
            left -= len(data)
            yield data
            turn()  # under gevent: the other connections get a turn when one is due
    finally:
        f.close()


def read_tail(path, nbytes, root=None):
    """The last ``nbytes`` (at most ``MAX_LOG_WINDOW``) of a file, starting at a line boundary,
    opened beneath ``root``. Returns (data, start, size). A FIFO, device or folder, or a symlink
    leading out of the root, raises OSError (reading one could block, never end, or leak)."""
    f, start, size = open_tail(path, nbytes, root)
    with f:
        data = f.read(size - start)
    return data, start, size


def render_chunks(chunks):
    """Raw log byte chunks as HTML pieces (see :func:`render_terminal`), one piece per chunk,
    split on line boundaries with the colour state carried over; a yield to other greenlets
    after each piece, so a 16 MiB ANSI window never holds the worker."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    state, rest = {}, ""
    for data in chunks:
        text = rest + decoder.decode(data)
        rest = ""
        while text:  # RENDER_PIECE characters at a time
            cut = text.find("\n", RENDER_PIECE) + 1 if len(text) > RENDER_PIECE else 0
            if cut <= 0:
                cut = text.rfind("\n") + 1
                if cut <= 0:
                    rest = text
                    break
            piece, text = text[:cut], text[cut:]
            yield render_terminal(piece, state)
            turn()  # under gevent: the other connections get a turn when one is due
    rest += decoder.decode(b"", final=True)
    if rest:
        yield render_terminal(rest, state)


def collapse_cr(text):
    """Keep what a terminal would show: for each line, the text after its last ``\\r``."""
    text = text.replace("\r\n", "\n")
    if "\r" not in text:
        return text
    # a trailing \r (a CRLF split by the caller, or a bar ending its update) hides nothing
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] if "\r" in line else line
                     for line in text.split("\n"))


# the last branch is any other ESC sequence, e.g. ``ESC ( B`` that ``tput sgr0`` emits
ESCAPE = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
BASIC = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


def _palette256(n):
    """An xterm 256-colour index as a basic colour name (0-15) or ``#rrggbb``."""
    if n < 8:
        return BASIC[n]
    if n < 16:
        return f"bright-{BASIC[n - 8]}"
    if n < 232:
        n -= 16
        r, g, b = (n // 36) % 6, (n // 6) % 6, n % 6
        return "#%02x%02x%02x" % tuple(0 if c == 0 else 55 + 40 * c for c in (r, g, b))
    v = 8 + 10 * (n - 232)
    return "#%02x%02x%02x" % (v, v, v)


def _apply_sgr(params, state):
    codes = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            state.clear()
        elif c == 1:
            state["bold"] = True
        elif c == 2:
            state["dim"] = True
        elif c == 3:
            state["italic"] = True
        elif c == 4:
            state["underline"] = True
        elif c in (22,):
            state.pop("bold", None)
            state.pop("dim", None)
        elif c == 23:
            state.pop("italic", None)
        elif c == 24:
            state.pop("underline", None)
        elif 30 <= c <= 37:
            state["fg"] = BASIC[c - 30]
        elif 90 <= c <= 97:
            state["fg"] = f"bright-{BASIC[c - 90]}"
        elif 40 <= c <= 47:
            state["bg"] = BASIC[c - 40]
        elif 100 <= c <= 107:
            state["bg"] = f"bright-{BASIC[c - 100]}"
        elif c == 39:
            state.pop("fg", None)
        elif c == 49:
            state.pop("bg", None)
        elif c in (38, 48) and i + 1 < len(codes):
            key = "fg" if c == 38 else "bg"
            if codes[i + 1] == 5 and i + 2 < len(codes):
                state[key] = _palette256(codes[i + 2] % 256)
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                state[key] = "#%02x%02x%02x" % tuple(min(255, v) for v in codes[i + 2:i + 5])
                i += 4
        i += 1


FLAGS = ("bold", "dim", "italic", "underline")


def _span(state):
    """The opening tag for the current SGR state, or ''. No ``style=`` attribute (the page CSP
    has no ``'unsafe-inline'``): the 16 basic colours and the flags are classes of
    ``tailboard.css``; 256-palette and 24-bit colours are ``data-fg``/``data-bg`` (``#rrggbb``,
    made here from numbers), which ``static/logs.js`` applies as CSSOM properties."""
    classes, data = [], []
    for key in ("fg", "bg"):
        colour = state.get(key)
        if colour is None:
            continue
        if colour.startswith("#"):
            data.append(f' data-{key}="{colour}"')
        else:
            classes.append(f"ansi-{key}-{colour}")
    classes += [f"ansi-{flag}" for flag in FLAGS if state.get(flag)]
    if not (classes or data):
        return ""
    cls = f' class="{" ".join(classes)}"' if classes else ""
    return f"<span{cls}{''.join(data)}>"


def render_terminal(text, state=None):
    """Raw log text as HTML for a ``<pre>``: escaped, ``\\r`` collapsed, ANSI colours as spans.
    ``state``: the SGR state at the start, updated to the state at the end (a caller rendering a
    log piece by piece passes the same dict each time)."""
    text = collapse_cr(text)
    state = {} if state is None else state
    tag = _span(state)
    out, pos, open_span = [tag] if tag else [], 0, bool(tag)
    for m in ESCAPE.finditer(text):
        if m.start() > pos:
            out.append(html.escape(CONTROL.sub("", text[pos:m.start()]), quote=False))
        pos = m.end()
        if m.group(2) == "m":
            _apply_sgr(m.group(1), state)
            if open_span:
                out.append("</span>")
                open_span = False
            tag = _span(state)
            if tag:
                out.append(tag)
                open_span = True
    out.append(html.escape(CONTROL.sub("", text[pos:]), quote=False))
    if open_span:
        out.append("</span>")
    return "".join(out)


def strip_ansi(text):
    return CONTROL.sub("", ESCAPE.sub("", collapse_cr(text)))


class LogFollower:
    """Follows one log file for a live view: its tail first, then whatever is appended.

    Survives truncation (size shrank, or the bytes before the offset changed: truncated and
    written past the old size between two looks) and rotation (the path now names another
    file): both start over from the new file's tail. Complete lines are rendered once; the unfinished last
    line (a tqdm bar rewriting itself with ``\\r``) is kept collapsed to its latest state, so
    a bar that never ends its line costs constant memory.
    """

    MAX_PARTIAL = 64 << 10
    MAX_JUMP = 4 << 20  # more appended than this at once: show the new tail instead

    def __init__(self, path, tail_bytes=256 << 10, root=None):
        self.path = path
        self.tail_bytes = tail_bytes
        # every (re)open, after a rotation too, resolves the path beneath this folder: a log
        # renamed over by a symlink to /etc/... is refused, not followed
        self.root = root or paths.root_of(path) or os.path.dirname(os.path.abspath(path))
        self.offset = 0
        self.inode = None
        self.last = b""
        self._restart()

    def _restart(self):
        self.partial = ""
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def tail(self):
        """{"lines": [html], "partial": html} for the file's current tail. Raises OSError."""
        f, start, size = open_tail(self.path, self.tail_bytes, self.root)
        with f:
            st = os.fstat(f.fileno())  # the file read is the file whose identity is kept
            data = f.read(size - start)
        self._restart()
        self.offset, self.inode = size, (st.st_dev, st.st_ino)
        self.last = bytes_before(b"", data)
        return self._feed(data)

    def read_new(self):
        """(reason, chunk): reason is None, "truncated", "rotated" or "skipped"; chunk None when
        idle. A path that is missing, or that now leads out of the root (or to a FIFO), is waited
        on as if rotated away: nothing of it is read."""
        st = paths.stat_beneath(self.root, self.path)
        if st is None:
            return None, None  # rotated away (or swapped for a link out): wait
        try:
            if (st.st_dev, st.st_ino) != self.inode:
                return "rotated", self.tail()
            if st.st_size < self.offset:
                return "truncated", self.tail()
            if st.st_size == self.offset:
                return None, None
            if st.st_size - self.offset > self.MAX_JUMP:
                return "skipped", self.tail()
            with paths.open_regular(self.path, within=self.root) as f:
                now = os.fstat(f.fileno())
                if (now.st_dev, now.st_ino) != self.inode:
                    return "rotated", self.tail()
                back = len(self.last)
                f.seek(self.offset - back)
                data = f.read(min(now.st_size, self.offset + self.MAX_JUMP) - self.offset + back)
                if data[:back] != self.last:  # truncated and written past the old size
                    return "truncated", self.tail()
                data = data[back:]
        except OSError:
            return None, None  # swapped between the stat and the open: the next look decides
        self.offset += len(data)
        self.last = bytes_before(self.last, data)
        return None, self._feed(data)

    def _feed(self, data):
        text = self.partial + self.decoder.decode(data)
        lines = text.split("\n")
        partial = lines.pop()
        cut = partial.rfind("\r", 0, len(partial) - 1)
        if cut > 0:
            partial = partial[cut:]  # a progress bar: only its latest state matters
        self.partial = partial[-self.MAX_PARTIAL:]
        shown = self.partial[:-1] if self.partial.endswith("\r") else self.partial
        return {"lines": [render_terminal(line) for line in lines], "partial": render_terminal(shown)}
