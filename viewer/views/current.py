"""The Tailboard of the current app: the one place views and blueprints reach it from."""
from __future__ import annotations

from flask import current_app


def viewer():
    """The app's :class:`~viewer.Viewer` (its settings, store, bus and watcher)."""
    return current_app.extensions["tailboard"]


def store():
    """The app's :class:`~viewer.data.store.RunStore`: the one read API of the runs folder."""
    return viewer().store
