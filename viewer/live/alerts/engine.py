"""The alert rules evaluated on the live path, in the watcher's loop, with no page open.

The watcher hands every batch of changes to :class:`AlertEngine` (before the publisher): for
each run the batch touched, the status rules look at ``Run.status()`` and the metric rules at
the points the run read since the last batch (``Run.take_points``: appended rows, never a
parse). Each (rule, run) pair fires once per transition: entering its condition fires, staying
in it does not, leaving then entering again fires again. A firing is recorded (``state``),
published on the bus as an ``alert`` event for every page, and queued for the webhook.

Runs listed by the first scan are judged from then on (their status then is the baseline,
unless a saved state says what it was before); a run that appears while watching is news
from its first row.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time

from ...data.cooperative import turn
from ...data.numbers import finite_or_none
from . import rules as rulebook
from .state import AlertState

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0  # seconds between looks at the rules file (and state saves)


def shown(v):
    """A value as the alert text shows it (NaN and infinities by name)."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+inf" if v > 0 else "-inf"
    return f"{v:.6g}"


class AlertEngine:
    """``engine(changes)`` judges a batch; ``start()``/``stop()`` run the rules-file reload and
    the state saves. ``compile_scope(spec) -> predicate over RUN dicts`` reads a rule's ``runs``;
    ``decorate(firing) -> dict`` adds what the web layer knows (the run's chart URL)."""

    def __init__(self, store, bus, rules_path=None, state_folder=None, webhook=None,
                 compile_scope=None, decorate=None, clock=time.time):
        self.store = store
        self.bus = bus
        self.rules_path = rules_path
        self.compile_scope = compile_scope
        self.decorate = decorate or (lambda f: f)
        self.clock = clock
        self.webhook = webhook
        self.state = AlertState(state_folder, clock)
        self.statuses = {}   # run id -> status at the last look
        self.lock = threading.Lock()  # one batch at a time (the loop; tests may call poll_once)
        self._stop = threading.Event()
        self.thread = None
        self._signature = self._file_signature()
        self.ruleset = self._load()
        store.tap_points()

    # -- life ------------------------------------------------------------------------------

    def start(self):
        if self.webhook is not None:
            self.webhook.start()
        self.thread = threading.Thread(target=self._housekeeping, name="tailboard-alerts", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self.webhook is not None:
            self.webhook.stop()
        self.state.save(force=True)

    def _housekeeping(self):
        while not self._stop.wait(CHECK_EVERY):
            try:
                self.check_rules_file()
                self.state.save()
            except Exception:  # noqa: BLE001 - the next tick tries again
                log.exception("tailboard: alert housekeeping failed")

    # -- rules -----------------------------------------------------------------------------

    def _file_signature(self):
        if not self.rules_path:
            return None
        try:
            st = os.stat(self.rules_path)
        except OSError:
            return "missing"
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self):
        ruleset = rulebook.load(self.rules_path, self.compile_scope)
        for error in ruleset.errors:
            log.warning("tailboard: alert rules: %s", error)
        self.state.keep_rules({r.id for r in ruleset.rules})
        return ruleset

    def check_rules_file(self):
        """Re-read the rules file when it changed (the housekeeping thread calls this every second)."""
        sig = self._file_signature()
        if sig == self._signature:
            return False
        self._signature = sig
        ruleset = self._load()
        with self.lock:
            self.ruleset = ruleset
        log.info("tailboard: alert rules re-read from %s: %d rules, %d errors",
                 self.rules_path, len(ruleset.rules), len(ruleset.errors))
        return True

    # -- judging ---------------------------------------------------------------------------

    def __call__(self, changes):
        store, fired = self.store, []
        with self.lock:
            rules = self.ruleset.rules
            for rid in changes.removed:
                self.state.forget_run(rid)
                self.statuses.pop(rid, None)
            for rid in dict.fromkeys(changes.changed + changes.added):
                if not store.has(rid):
                    continue
                run = store.get(rid, refresh=False)
                self._judge(run, rules, fired)
                turn()  # under gevent: a batch of a thousand runs lets the pages breathe
        for firing in fired:
            self._announce(firing)
        return fired

    def _judge(self, run, rules, fired):
        status = run.status()
        prev = self.statuses.get(run.id)
        self.statuses[run.id] = status
        new_run = run.points is not None and bool(run.points.new_run)
        # first look at a run of the first scan with no saved state: its status is the baseline
        baseline = prev is None and not self.state.restored and not new_run
        points = run.take_points()
        info = {}  # the RUN dict, made once if a scoped rule asks

        def in_scope(rule):
            if rule.match is None:
                return True
            if "run" not in info:
                info["run"] = run.to_json()
            try:
                return bool(rule.match(info["run"]))
            except Exception:  # noqa: BLE001 - a scope must not stop the others
                return False

        for rule in rules:
            if rule.on_points:
                if points and in_scope(rule):
                    self._points(rule, run, points, fired)
                continue
            members = self.state.members(rule.id, run.id)
            cond = in_scope(rule) and self._status_holds(rule.kind, status, prev, bool(members))
            if cond and not members and not baseline:
                fired.append(self._firing(rule, run, None, None, None, status))
            self.state.set_members(rule.id, run.id, {"status"} if cond else set())

    @staticmethod
    def _status_holds(kind, status, prev, was):
        if kind == "failed":
            return status == "failed"
        if kind == "completed":
            return status == "completed"
        # stalled: spt says "stale"; other formats go from running to unknown when nothing is
        # written for VIEWER_STALE_AFTER (a run that ends without saying so looks the same)
        return status == "stale" or (status == "unknown" and (was or prev in ("running", "stale")))

    def _points(self, rule, run, points, fired):
        members = self.state.members(rule.id, run.id)
        before = set(members)
        kind = rule.kind
        for name, pts in points.items():
            if not rule.metric_matches(name):
                continue
            if kind == "nan":
                for step, v in pts:
                    if v - v != 0:  # NaN or an infinity
                        if not members:
                            fired.append(self._firing(rule, run, name, step, v))
                        members.add(name)
                    else:
                        members.discard(name)
            elif kind == "threshold":
                streak = self.state.streak(rule.id, run.id, name)  # kept in the state file: a restart counts on
                for step, v in pts:
                    streak = min(streak + 1, rule.for_n) if rule.holds(v) else 0
                    if streak >= rule.for_n:
                        if not members:
                            fired.append(self._firing(rule, run, name, step, v))
                        members.add(name)
                    else:
                        members.discard(name)
                self.state.set_streak(rule.id, run.id, name, streak)
            else:
                self._diverge(rule, run, name, pts, members, fired)
        if members != before:
            self.state.set_members(rule.id, run.id, members)

    def _diverge(self, rule, run, name, pts, members, fired):
        p = rule.params
        k, warmup, a = p["k"], p["warmup"], p["smooth"]
        t = self.state.tracker(run.id, name)  # [points seen, smoothed value, best smoothed]
        for step, v in pts:
            if v - v != 0:
                continue  # NaN and infinities are the nan rule's
            t[0] += 1
            t[1] = v if t[0] == 1 else a * t[1] + (1 - a) * v
            if t[1] < t[2]:
                t[2] = t[1]
            if t[0] <= warmup:
                continue
            if t[2] > 0 and t[1] > k * t[2]:
                if not members:
                    fired.append(self._firing(rule, run, name, step, v, smoothed=t[1], best=t[2]))
                members.add(name)
            else:
                members.discard(name)

    def _firing(self, rule, run, metric, step, value, status=None, **extra):
        name = run.meta.get("name") or run.id
        if step is not None and step == int(step) and abs(step) < 2**53:
            step = int(step)
        if metric is None:
            text = f"{rule.title}: {name} is {status}"
        else:
            at = f" at step {step:g}" if step is not None else ""
            text = f"{rule.title}: {name} · {metric} = {shown(value)}{at}"
        firing = {"rule": rule.id, "title": rule.title, "kind": rule.kind, "run": run.id, "name": name,
                  "metric": metric, "step": step, "value": None if value is None else finite_or_none(value),
                  "shown": None if value is None else shown(value), "status": status, "at": self.clock(),
                  "text": text}
        firing.update({k: finite_or_none(v) for k, v in extra.items()})
        return firing

    def _announce(self, firing):
        firing = self.state.add(firing)
        log.info("tailboard: alert %s", firing["text"])
        try:
            self.bus.publish("alert", json.dumps(self.decorate(firing)), audience="*")
        except Exception:  # noqa: BLE001 - a page that cannot be told must not stop the webhook
            log.exception("tailboard: publishing an alert failed")
        if self.webhook is not None:
            self.webhook.put(firing)

    # -- reading ---------------------------------------------------------------------------

    def health(self):
        """What ``/healthz`` shows of the alerts."""
        return {"rules": len(self.ruleset.rules), "errors": len(self.ruleset.errors),
                "fired": len(self.state.firings), "state_file": self.state.path, "state_note": self.state.note,
                "webhook": self.webhook.state() if self.webhook is not None else {"configured": False}}
