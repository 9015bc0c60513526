"""``VIEWER_ALERT_WEBHOOK``: each firing POSTed as JSON, from a thread of its own.

The body is one that Slack, Mattermost and Discord incoming webhooks accept as is (``text``
for Slack and Mattermost, ``content`` for Discord; each ignores the other's key), plus the
structured fields (``alert``: the firing). ntfy takes any body as the message. The live path
only puts the firing in a bounded queue (``put`` never blocks): a full queue drops the
oldest. Failures are retried with backoff (1 s doubling to 60 s, ``ATTEMPTS`` tries); the
state (sent, failed, dropped, last error) is in ``/healthz``, and ``dead`` once the last
``DEAD_AFTER`` firings all gave up.
"""
from __future__ import annotations

import collections
import json
import logging
import threading
import time
import urllib.error
import urllib.request

log = logging.getLogger(__name__)

QUEUE = 256          # firings waiting to be sent; more: the oldest is dropped
ATTEMPTS = 6         # tries per firing: 1 + 2 + 4 + 8 + 16 s of waits between them
BACKOFF_MAX = 60.0
TIMEOUT = 10.0       # seconds per POST
DEAD_AFTER = 3       # firings in a row that gave up: the webhook is reported dead


def payload(firing):
    """The JSON body for one firing."""
    text = firing["text"]
    return {"text": text, "content": text[:2000], "alert": firing}


class Webhook:
    def __init__(self, url, sleep=None):
        self.url = url
        self.queue = collections.deque(maxlen=QUEUE)
        self.cond = threading.Condition()
        self.stopped = threading.Event()
        self.sleep = sleep or self.stopped.wait
        self.sent = self.failed = self.dropped = 0
        self.gave_up_in_a_row = 0
        self.last_error = None
        self.last_sent_at = None
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self._run, name="tailboard-webhook", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()
        with self.cond:
            self.cond.notify_all()

    def put(self, firing):
        """Queue a firing (never blocks the live path)."""
        with self.cond:
            if len(self.queue) == self.queue.maxlen:
                self.dropped += 1
            self.queue.append(firing)
            self.cond.notify()

    def state(self):
        """What ``/healthz`` shows (the URL is not: it often holds a secret token)."""
        return {"configured": True, "dead": self.gave_up_in_a_row >= DEAD_AFTER, "sent": self.sent,
                "failed": self.failed, "dropped": self.dropped, "queued": len(self.queue),
                "last_error": self.last_error, "last_sent_at": self.last_sent_at}

    def _run(self):
        while not self.stopped.is_set():
            with self.cond:
                while not self.queue and not self.stopped.is_set():
                    self.cond.wait(1.0)
                if self.stopped.is_set():
                    return
                firing = self.queue.popleft()
            self._deliver(firing)

    def _deliver(self, firing):
        body = json.dumps(payload(firing)).encode()
        wait = 1.0
        for attempt in range(ATTEMPTS):
            error = self._post(body)
            if error is None:
                self.sent += 1
                self.gave_up_in_a_row = 0
                self.last_sent_at = time.time()
                return
            self.last_error = error
            if attempt < ATTEMPTS - 1:
                log.info("tailboard: alert webhook failed (%s), retrying in %gs", error, wait)
                if self.sleep(wait):  # stopped meanwhile
                    return
                wait = min(wait * 2, BACKOFF_MAX)
        self.failed += 1
        self.gave_up_in_a_row += 1
        log.warning("tailboard: alert webhook gave up after %d tries: %s", ATTEMPTS, self.last_error)

    def _post(self, body):
        """None when the POST was accepted (2xx), else the error as text."""
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "tailboard-alerts"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310 - the configured URL
                resp.read(1024)
                return None
        except urllib.error.HTTPError as e:
            return f"HTTP {e.code}"
        except (urllib.error.URLError, OSError, ValueError) as e:
            return str(getattr(e, "reason", None) or e)
