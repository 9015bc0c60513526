"""The runs table's query language: the URL read into a :class:`Query` (chips, columns, sort, groups, pages).

Pure (no Flask): the page, its htmx fragment and ``/api/runs`` all call :func:`parse` then
``runtable.run_query``, so they agree on every parameter. A bad parameter is reported as a message
(``Query.errors``) and left out, so a page can still show the rest; the API refuses it.

URL parameters: ``q`` (words ANDed, or a regex with ``regex=1``), ``f`` (repeatable filter
chips: ``status:x``, ``tag:x``, ``format:x``, ``<key><op><value>``), ``status``, ``sort``
(``name|status|format|created|updated|duration|hp:<key>|m:<metric>``), ``order``
(``asc|desc``), ``group`` (``status|tag|format|hp:<key>``), ``cols`` (comma list of
``hp:``/``m:`` names; ``-`` for none), ``page``, ``per``, ``sel`` (repeatable run ids), ``fold`` (repeatable
group values).
"""
from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from urllib.parse import urlencode

import re2

from ..data.errors import BadRequest
from ..data.numbers import json_can_carry
from .args import flag, getlist
from ..data.run import STATUSES

FIXED_SORTS = ("name", "status", "format", "created", "updated", "duration")
TEXT_SORTS = ("name", "status", "format")          # first click sorts these ascending
FIXED_GROUPS = ("status", "tag", "format")
MAX_PATTERN = 200      # a regex longer than this is refused (each one runs over every run)
RE2_MEMORY = 8 << 20   # bytes RE2 may spend compiling one pattern (``(x{1000}){1000}`` says no)
MAX_CHIPS = 32
PER_DEFAULT, PER_MAX = 50, 1000  # 50 rows fill a large monitor; fewer to lay out and paint
HP_COLUMNS = 3         # varying hparam columns shown by default
GROUP_CHOICES = 8      # varying hparams offered in the "group by" menu
HP_SAMPLE = 500        # runs looked at to choose those columns (a heuristic needs no more)
NONE_GROUP = "(none)"  # the group of runs without the grouped value

CHIP_RE = re.compile(r"^(?P<key>[^=!<>]+?)\s*(?P<op>!=|>=|<=|=|>|<)\s*(?P<value>.*)$", re.S)
CHIP_HELP = ("write status:<status>, tag:<tag>, format:<format> or <key><op><value> "
             "with op one of = != > >= < <=")


class QueryError(BadRequest):
    """A parameter of the runs query that cannot be read (400 on the API)."""


# -- values ---------------------------------------------------------------------------------


def as_number(v):
    """A float for numbers and numeric strings (YAML keeps ``1e-3`` a string), else None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(f) else f


def as_text(v):
    """How a value reads in a filter: ``true``/``false`` for booleans, ``str()`` otherwise."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def duration_of(run):
    """(seconds, how): the recorded duration, else updated - created ("elapsed"), else (None, "")."""
    if run.get("duration") is not None:
        return run["duration"], "recorded"
    created, updated = run.get("created_at"), run.get("updated_at")
    if created and updated and updated >= created:
        return updated - created, "elapsed"
    return None, ""


def short_number(v, op="="):
    """A short decimal text of ``v`` (4 significant digits when that keeps the run in its own
    chip ``<op> text``: rounded down for ``>=``, up for ``<=``, to nearest for ``=``)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if op in (">=", "<=") and v != 0:
        d = Decimal(repr(v))
        q = d.quantize(Decimal(1).scaleb(d.adjusted() - 3), rounding=ROUND_FLOOR if op == ">=" else ROUND_CEILING)
        text = f"{float(q):g}" if abs(d.adjusted()) < 5 else f"{float(q):.4g}"
        f = float(text)
        if (op == ">=" and f <= v) or (op == "<=" and f >= v):
            return text
        return repr(v)
    for digits in range(4, 18):
        text = f"{v:.{digits}g}"
        if math.isclose(float(text), v, rel_tol=1e-6):
            return text
    return repr(v)


# -- columns --------------------------------------------------------------------------------


class Column:
    """A data column of the table: ``hp:<key>`` (an hparam) or ``m:<metric>`` (last value)."""

    def __init__(self, key):
        kind, _, name = key.partition(":")
        if kind not in ("hp", "m") or not name:
            raise QueryError(f"column {key!r} must be hp:<hparam key> or m:<metric name>")
        self.key, self.kind, self.name = key, kind, name

    def __eq__(self, other):
        return isinstance(other, Column) and other.key == self.key

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        return f"Column({self.key!r})"

    @property
    def numeric(self):
        return self.kind == "m"

    def value(self, run):
        """The run's value in this column, or None."""
        src = run.get("hparams") if self.kind == "hp" else run.get("summary")
        return (src or {}).get(self.name)

    def chip(self, run):
        """The filter chip that keeps runs like this one here, or "" when it has no value."""
        v = self.value(run)
        if v is None or not json_can_carry(v):  # NaN, inf: no chip can name them
            return ""
        if self.kind == "m" and as_number(v) is not None:
            return f"{self.name}>={short_number(v, '>=')}"
        text = short_number(v) if isinstance(v, float) else as_text(v)
        return f"{self.name}={text}"


def metric_columns(names):
    """Columns for metric names (the store's key metrics)."""
    return [Column("m:" + n) for n in names]


def varying_hparams(runs, k=HP_COLUMNS):
    """Up to k hparam keys whose values differ across ``runs``: most common first.

    Keys set in under half of the runs, and text that differs in every run (paths, ids),
    are left out; a large list is sampled, which is enough for a heuristic.
    """
    if len(runs) < 2:
        return []
    sample = runs[::max(1, len(runs) // HP_SAMPLE)]
    seen = {}   # key -> [count, distinct values (capped)]
    for r in sample:
        for key, v in (r.get("hparams") or {}).items():
            s = seen.get(key)
            if s is None:
                s = seen[key] = [0, set()]
            s[0] += 1
            if len(s[1]) <= 64:
                s[1].add(v if isinstance(v, (str, int, float)) else as_text(v))
    floor = max(2, len(sample) / 2)
    keep = []
    for key, (count, values) in seen.items():
        if count < floor or len({as_text(v) for v in values}) < 2:
            continue
        if len(values) >= count >= 3 and any(as_number(v) is None for v in values):
            continue  # text that differs in every run: a path or an id
        keep.append((-count, len(values), key))
    return [key for _c, _n, key in sorted(keep)[:k]]


# -- filter chips ---------------------------------------------------------------------------


class Chip:
    """One filter chip: ``status:x``, ``tag:x``, ``format:x`` or ``[hp:|m:]<key><op><value>``."""

    def __init__(self, text):
        self.text = text = text.strip()
        if not text:
            raise QueryError("empty filter")
        head, sep, rest = text.partition(":")
        if sep and head in ("status", "tag", "format"):
            self.kind, self.key, self.op, self.value = head, head, "=", rest.strip()
            if not self.value:
                raise QueryError(f"filter {text!r} needs a value after {head}:")
            if head == "status" and self.value not in STATUSES:
                raise QueryError(f"filter {text!r}: status must be one of {', '.join(STATUSES)}")
            return
        scope = None
        if sep and head in ("hp", "m"):
            scope, text = head, rest
        m = CHIP_RE.match(text)
        if not m or not m["key"].strip():
            raise QueryError(f"cannot read filter {self.text!r}: {CHIP_HELP}")
        self.kind, self.scope = "cmp", scope
        self.key, self.op, self.value = m["key"].strip(), m["op"], m["value"].strip()
        if not self.value:
            raise QueryError(f"filter {self.text!r} needs a value after {self.op}")
        self.number = as_number(self.value)

    def __repr__(self):
        return f"Chip({self.text!r})"

    def matches(self, run):
        if self.kind == "status":
            return run["status"] == self.value
        if self.kind == "tag":
            want = self.value.casefold()
            return any(str(t).casefold() == want for t in run.get("tags") or ())
        if self.kind == "format":
            return str(run.get("format", "")).casefold() == self.value.casefold()
        return self._compare(self._lookup(run))

    def _lookup(self, run):
        """The run's value for the key: its hparam, else its summary metric (unless scoped)."""
        hp, summary = run.get("hparams") or {}, run.get("summary") or {}
        if self.scope != "m" and self.key in hp:
            return hp[self.key]
        if self.scope != "hp" and self.key in summary:
            return summary[self.key]
        return None

    def _compare(self, v):
        if v is None:
            return False   # a run without the value never matches, not even !=
        n = as_number(v)
        if n is not None and self.number is not None:
            a, b, close = n, self.number, math.isclose(n, self.number, rel_tol=1e-6)
        else:
            a, b = as_text(v).casefold(), self.value.casefold()
            close = a == b
        op = self.op
        if op == "=":
            return close
        if op == "!=":
            return not close
        if op == ">=":
            return close or a > b
        if op == "<=":
            return close or a < b
        if op == ">":
            return not close and a > b
        return not close and a < b


# -- the query ------------------------------------------------------------------------------


def _get(args, name):
    values = getlist(args, name)
    return values[0] if values else ""


class Query:
    """The parsed state of the runs table. ``errors`` lists what was left out and why."""

    def __init__(self):
        self.q, self.regex, self.pattern = "", False, None
        self.chips, self.status = [], ""
        self.sort, self.order = "", "desc"
        self.group, self.cols = "", None
        self.page, self.per, self.paginate = 1, PER_DEFAULT, True
        self.sel, self.fold, self.errors = [], [], []

    @property
    def terms(self):
        return [t for t in self.q.lower().split() if t]

    def params(self, **changes):
        """The query as URL pairs, defaults left out; ``changes`` replace keys (None drops one)."""
        state = {
            "q": self.q or None, "regex": "1" if self.regex else None,
            "f": [c.text for c in self.chips], "status": self.status or None,
            "sort": self.sort or None, "order": self.order if self.sort else None,
            "group": self.group or None,
            "cols": (",".join(c.key for c in self.cols) or "-") if self.cols is not None else None,
            "per": str(self.per) if self.paginate and self.per != PER_DEFAULT else None,
            "page": str(self.page) if self.page > 1 else None,
            "sel": list(self.sel), "fold": list(self.fold),
        }
        state.update(changes)
        pairs = []
        for key, v in state.items():
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                if item not in (None, ""):
                    pairs.append((key, str(item)))
        return pairs

    def qs(self, **changes):
        """``params`` as a query string (for links)."""
        return urlencode(self.params(**changes))

    def sort_order_for(self, key):
        """The order a click on column ``key``'s header asks for: flip the current one, else
        ascending for text, descending for numbers and times."""
        if key == self.sort:
            return "asc" if self.order == "desc" else "desc"
        return "asc" if key in TEXT_SORTS else "desc"

    def chips_without(self, chip):
        return [c.text for c in self.chips if c is not chip]


def parse(args, paginate=True):
    """A :class:`Query` from request arguments. Bad parts are left out and explained in
    ``errors``. ``paginate=False`` (the API without ``page``/``per``) keeps every run."""
    qy = Query()
    qy.q = _get(args, "q")[:1000]
    qy.regex = flag(_get(args, "regex"))
    if qy.regex and qy.q:
        try:
            qy.pattern = compile_pattern(qy.q)
        except QueryError as e:
            qy.errors.append(e.message)
    qy.chips = _read_each(qy, getlist(args, "f")[:MAX_CHIPS], Chip, same=lambda c: c.text)
    _parse_status(qy, _get(args, "status"))
    _parse_sort(qy, _get(args, "sort"), _get(args, "order"))
    _parse_group(qy, _get(args, "group"))
    _parse_cols(qy, args)
    _parse_pages(qy, _get(args, "page"), _get(args, "per"), paginate)
    qy.sel = list(dict.fromkeys(s for s in getlist(args, "sel") if s))
    qy.fold = list(dict.fromkeys(s for s in getlist(args, "fold") if s))
    return qy


def compile_pattern(text):
    """``text`` as a case-insensitive regex (``^``/``$`` also match at each field's edges).

    RE2 matches in time linear in the text whatever the pattern (Python's ``re`` backtracks:
    ``^(.|.)*!`` held a worker for 34 s), so a search over every run stays bounded. It has no
    backreferences nor lookaround: such a pattern gets a message saying so."""
    if len(text) > MAX_PATTERN:
        raise QueryError(f"regular expression too long: at most {MAX_PATTERN} characters")
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = RE2_MEMORY
    try:
        return re2.compile("(?m)" + text, options)
    except re2.error as e:
        reason = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        reason = reason.replace("(?m)" + text, text)  # our prefix is no concern of the user's
        hint = ""
        if any(k in reason for k in ("perl operator", "escape sequence", "backreference")):
            hint = " (backreferences and lookaround are not supported: the search runs in linear time)"
        raise QueryError(f"invalid regular expression {text!r}: {reason}{hint}") from None


def _parse_status(qy, status):
    if status and status not in STATUSES:
        qy.errors.append(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    else:
        qy.status = status


def _known_key(key):
    return key in FIXED_SORTS or (key.startswith(("hp:", "m:")) and len(key.split(":", 1)[1]) > 0)


def _parse_sort(qy, sort, order):
    if sort and not _known_key(sort):
        qy.errors.append(f"cannot sort by {sort!r}: use {', '.join(FIXED_SORTS)}, hp:<key> or m:<metric>")
        sort = ""
    qy.sort = sort
    if order and order not in ("asc", "desc"):
        qy.errors.append(f"order must be asc or desc, not {order!r}")
        order = ""
    qy.order = order or ("asc" if sort in TEXT_SORTS else "desc")


def _parse_group(qy, group):
    if group and group not in FIXED_GROUPS and not (group.startswith("hp:") and len(group) > 3):
        qy.errors.append(f"cannot group by {group!r}: use status, tag, format or hp:<key>")
        group = ""
    qy.group = group


def _parse_cols(qy, args):
    raw = getlist(args, "cols")
    if not raw:
        return
    keys = [k.strip() for k in ",".join(raw).split(",")]
    qy.cols = _read_each(qy, [k for k in keys if k != "-"], Column)  # "-": no data column at all


def _read_each(qy, texts, make, same=lambda x: x):
    """``make(text)`` of each non-blank text, without repeats; an unreadable one becomes a
    message in ``qy.errors`` and is left out."""
    out, seen = [], []
    for text in texts:
        if not text.strip():
            continue
        try:
            item = make(text)
        except QueryError as e:
            qy.errors.append(e.message)
            continue
        if same(item) not in seen:
            seen.append(same(item))
            out.append(item)
    return out


def _parse_int(qy, name, raw, lo, hi):
    try:
        v = int(raw)
    except ValueError:
        v = None
    if v is None or v < lo or (hi is not None and v > hi):
        qy.errors.append(f"{name} must be a whole number from {lo}" + (f" to {hi}" if hi else "")
                         + f", not {raw!r}")
        return None
    return v


def _parse_pages(qy, page, per, paginate):
    qy.paginate = paginate or bool(page or per)
    if per:
        qy.per = _parse_int(qy, "per", per, 1, PER_MAX) or PER_DEFAULT
    if page:
        qy.page = _parse_int(qy, "page", page, 1, None) or 1
