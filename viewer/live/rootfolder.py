"""The runs folder itself: notices it vanishing (deleted, renamed away, unmounted), coming
back, or replaced by another folder at the same path (same path, new inode)."""
from __future__ import annotations

import os
import stat


class RootFolder:
    """The folder at ``path``, told apart by its (device, inode). ``missing`` is True while
    no folder is there."""

    def __init__(self, path):
        self.path = path
        self.missing = False
        self._identity = None

    def identity(self):
        """(st_dev, st_ino) of the folder now at the path, or None (gone, not a folder, or a
        dead mount: ESTALE, EIO)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None

    @property
    def problem(self):
        """What a user must be told, or ''."""
        return f"the runs folder {self.path} is missing" if self.missing else ""

    def settle(self):
        """Take the folder as it is now (a loop (re)starting); True when ``missing`` changed."""
        self._identity = ident = self.identity()
        was, self.missing = self.missing, ident is None
        return was != self.missing

    def look(self):
        """What happened since the last look: None (nothing), 'gone', 'back' (after being
        missing) or 'replaced' (another folder at the path: its watches are not ours)."""
        ident = self.identity()
        if ident == self._identity:
            return None
        self._identity = ident
        if ident is None:
            self.missing = True
            return "gone"
        was, self.missing = self.missing, False
        return "back" if was else "replaced"
