"""Log tails read with a seek (a 5 GB log answers as fast as a 5 KB one) and terminal rendering.

``render_terminal`` turns raw log text into safe HTML: carriage-return progress bars collapse to
their last state, SGR colour codes become spans, every other escape sequence is dropped.
"""
from __future__ import annotations

import html
import os
import re

from .formats.base import open_regular


def read_tail(path, nbytes):
    """The last ``nbytes`` of a file, starting at a line boundary. Returns (data, start, size).
    A FIFO, device or folder raises OSError (reading one could block or never end)."""
    with open_regular(path) as f:
        f.seek(0, 2)
        size = f.tell()
        start = max(0, size - nbytes)
        # read one byte before the window: it tells whether the window already starts a line
        f.seek(max(0, start - 1))
        data = f.read(size - start + (start > 0))
    if start > 0:
        nl = data.find(b"\n", 0, len(data) - 1)  # the last byte's newline ends the last line, not a first
        # no newline in the window: one huge line; show its end rather than nothing
        data = data[nl + 1:] if nl >= 0 else data[1:]
        start += max(nl, 0)
    return data, start, size


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


def render_terminal(text):
    """Raw log text as HTML for a ``<pre>``: escaped, ``\\r`` collapsed, ANSI colours as spans."""
    text = collapse_cr(text)
    out, state, pos, open_span = [], {}, 0, False
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

    Survives truncation (size shrank) and rotation (the path now names another file): both
    start over from the new file's tail. Complete lines are rendered once; the unfinished last
    line (a tqdm bar rewriting itself with ``\\r``) is kept collapsed to its latest state, so
    a bar that never ends its line costs constant memory.
    """

    MAX_PARTIAL = 64 << 10
    MAX_JUMP = 4 << 20  # more appended than this at once: show the new tail instead

    def __init__(self, path, tail_bytes=256 << 10):
        self.path = path
        self.tail_bytes = tail_bytes
        self.offset = 0
        self.inode = None
        self._restart()

    def _restart(self):
        import codecs

        self.partial = ""
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def tail(self):
        """{"lines": [html], "partial": html} for the file's current tail."""
        self._restart()
        data, _start, size = read_tail(self.path, self.tail_bytes)
        st = os.stat(self.path)
        self.offset, self.inode = size, (st.st_dev, st.st_ino)
        return self._feed(data)

    def read_new(self):
        """(reason, chunk): reason is None, "truncated" or "rotated"; chunk None when idle."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None, None  # rotated away, not yet recreated: wait
        if (st.st_dev, st.st_ino) != self.inode:
            return "rotated", self.tail()
        if st.st_size < self.offset:
            return "truncated", self.tail()
        if st.st_size == self.offset:
            return None, None
        if st.st_size - self.offset > self.MAX_JUMP:
            return "skipped", self.tail()
        with open_regular(self.path) as f:
            f.seek(self.offset)
            data = f.read(st.st_size - self.offset)
        self.offset += len(data)
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
