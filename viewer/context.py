"""Context builders shared by the pages and their JSON twins (one source for each answer)."""
from __future__ import annotations

from flask import current_app, url_for

STATUSES = ("running", "stale", "failed", "completed", "unknown")


def viewer():
    return current_app.extensions["tailboard"]


def store():
    return viewer().store


def matches(run, terms):
    """Every term matches the id, name, status, format, a tag, or an hparam ``key=value``."""
    if not terms:
        return True
    hay = " ".join([run["id"], str(run["name"]), run["status"], run["format"],
                    " ".join(run["tags"]), run.get("notes") or ""]
                   + [f"{k}={v}" for k, v in run["hparams"].items()]).lower()
    return all(t in hay for t in terms)


def runs_context(q="", status=None):
    """The runs list: RUN dicts (newest first), scan progress, counts and key metric columns."""
    s = store()
    runs = s.runs()
    items = [r.to_json() for r in runs]
    counts = {st: 0 for st in STATUSES}
    for r in items:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    terms = [t for t in (q or "").lower().split() if t]
    shown = [r for r in items if matches(r, terms) and (not status or r["status"] == status)]
    return {
        "runs": shown,
        "total": len(items),
        "counts": counts,
        "scan": dict(s.scan_state),
        "columns": s.key_metrics(runs),
        "q": q or "",
        "status": status or "",
    }


def run_context(run_id):
    """One run: its RUN dict plus log streams, media and HTML reports."""
    s = store()
    run = s.get(run_id)
    data = run.to_json()
    data["logs"] = [{k: v for k, v in st.items() if k != "path"} for st in run.streams()]
    data["reports"] = [{"path": p, "url": url_for("tailboard.files.serve", relpath=p)}
                       for p in s.reports(run_id)]
    data["path"] = run.path
    data["sidecar"] = run.meta.get("sidecar", {})
    return data


def media_context(run_id):
    items = store().media(run_id)
    return [{"tag": m["tag"], "step": m["step"], "type": m["type"], "caption": m["caption"],
             "url": url_for("tailboard.files.serve", relpath=m["path"])} for m in items]
