"""The HTML of the live events, for the publisher (``viewer/live/publisher.py``).

The publisher runs in the watcher's loop, outside any request, yet the fragments it sends are
the very partials the pages include (one source of truth for each): they are rendered here
under a request context of the app made for the purpose, so ``url_for`` gives the URLs of the
mount prefix. The live layer never sees Flask.
"""
from __future__ import annotations

from flask import render_template

from ..views.alertpage import firing_view
from ..views.runpage import media_json


class Fragments:
    """The renderer a :class:`~viewer.live.publisher.Publisher` is given."""

    def __init__(self, app, url_prefix=""):
        self.app = app
        self.url_prefix = url_prefix

    def session(self):
        """A request context for a batch of renders (templates and ``url_for`` need one)."""
        return self.app.test_request_context(self.url_prefix or "/")

    def scan(self, state):
        return render_template("tailboard/partials/_scan.html", scan=state)

    def run_head(self, run):
        """A run page's header, out of band; ``run`` is a RUN dict or ``{"id", "gone": True}``."""
        return render_template("tailboard/partials/_run_head.html", run=run, oob=True)

    def run_row(self, run, columns):
        """The run's overview row, out of band, with the key metric ``columns``."""
        return render_template("tailboard/partials/_run_row.html", run=run, columns=columns, oob=True)

    def counts(self, counts, total):
        """The status counts of the overview, out of band."""
        return render_template("tailboard/partials/_counts.html", counts=counts, total=total,
                               status="", q="", oob=True)

    def media(self, items):
        """Media items with their URLs, as the API gives them."""
        return media_json(items)

    def alert(self, firing):
        """An alert firing as pages get it: with the URL of its run's chart at that step."""
        with self.session():
            return firing_view(firing)
