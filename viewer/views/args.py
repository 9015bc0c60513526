"""Reading request arguments, pure (no Flask): flags, run ids, comma lists, known/missing ids.

The one home of these parsers: the views, the web glue (``viewer/web/glue.py``) and the
settings all use them. ``args`` is a werkzeug MultiDict or a plain dict of str or lists.
"""
from __future__ import annotations

TRUE_WORDS = frozenset(("1", "true", "on", "yes"))
FALSE_WORDS = frozenset(("0", "false", "off", "no", ""))   # blank is off too


def flag(raw, default=False):
    """A switch: ``1/true/on/yes`` is on, ``0/false/off/no`` or blank is off (any case, spaces
    ignored); absent (None) or any other word gives ``default``."""
    if raw is None:
        return default
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return default


def getlist(args, name):
    """Every value of a parameter, from a MultiDict or a plain dict of str/list."""
    if hasattr(args, "getlist"):
        return list(args.getlist(name))
    v = args.get(name)
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def comma_list(values, strip=True):
    """The items of comma lists (``a,b``; ``values`` may repeat), in order, blanks left out;
    ``strip``: spaces around an item are dropped."""
    out = []
    for value in values:
        for item in str(value).split(","):
            item = item.strip() if strip else item
            if item:
                out.append(item)
    return out


def clean_id(raw):
    """A run id as a URL gives it: spaces and slashes around it dropped."""
    return str(raw).strip().strip("/")


def ids(args, whole=("run",), commas=()):
    """Run ids from the query: each value of a ``whole`` parameter taken whole (an id may hold a
    comma), each of a ``commas`` parameter split on commas; in order, no repeats, no blanks."""
    values = [v for name in whole for v in getlist(args, name)]
    values += [v for name in commas for v in comma_list(getlist(args, name))]
    return [rid for rid in dict.fromkeys(clean_id(v) for v in values) if rid]


def partition_known(run_ids, has):
    """``(known, missing)``: ``run_ids`` (repeats dropped, order kept) split by ``has(id)``."""
    known, missing = [], []
    for rid in dict.fromkeys(run_ids):
        (known if has(rid) else missing).append(rid)
    return known, missing
