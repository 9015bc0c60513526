"""Long answers give the other connections of a gevent worker a turn (issue 17: a 100,000-point
``/metrics`` held a worker 2.7 s, during which no other client was answered)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO
from viewer.web.streaming import LIST_SLICE, json_pieces


class NoTurns:
    def __call__(self):
        pass


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**60, 2**60),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=6), inner, max_size=5)), max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(values)
def test_streamed_json_is_byte_for_byte_what_jsonify_writes(obj):
    assert "".join(json_pieces(obj, NoTurns())) == json.dumps(obj, sort_keys=True, separators=(",", ":"))


def test_a_long_list_is_cut_into_slices_that_join_into_the_same_json():
    series = {"y": [i / 7 for i in range(3 * LIST_SLICE + 5)], "x": list(range(3 * LIST_SLICE + 5)),
              "items": [{"b": i, "a": None} for i in range(LIST_SLICE + 1)]}
    pieces = list(json_pieces({"series": {"loss": series}}, NoTurns()))
    assert len(pieces) > 8  # several slices per long list
    assert json.loads("".join(pieces)) == {"series": {"loss": series}}


GREENLETS = """
from gevent import monkey; monkey.patch_all()
import sys, time, gevent
sys.path.insert(0, {repo!r})
from array import array
from viewer.data.downsample import downsample, restart_kept
from viewer.web.streaming import json_pieces
from viewer.data.cooperative import Turns

ticks = []
def neighbour():  # another connection: wants the CPU for a moment every millisecond
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.001)

g = gevent.spawn(neighbour)
gevent.sleep(0.01)
n = 600_000
xs = array("d", range(n)); xs[n // 2] = 5.0  # a restart: the purge walks every point
ys = array("d", (1.0 / (i + 1) for i in range(n)))
t0 = time.monotonic(); before = len(ticks)
kept = restart_kept(xs)
x, y, lo, hi = downsample(xs, ys, range(n), 100_000)
text = "".join(json_pieces({{"x": x, "y": y, "ymin": lo, "ymax": hi}}, Turns()))
took = time.monotonic() - t0
during = [t for t in ticks if t >= t0]
gaps = [b - a for a, b in zip(during, during[1:])]
print(len(ticks) - before, took, max(gaps) if gaps else took)
"""


def test_a_long_downsample_and_its_json_let_other_greenlets_run_meanwhile():
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(GREENLETS.format(repo=REPO))],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ticks, took, longest_gap = map(float, out.stdout.split())
    # without turns the neighbour runs once, when the work is over; with them it keeps running
    assert ticks >= 10, (ticks, took)
    assert longest_gap < took / 3, (longest_gap, took)


@settings(max_examples=200, deadline=None)
@given(values)
def test_the_sliced_tojson_filter_writes_what_jinja_s_tojson_writes(obj):
    from jinja2.utils import htmlsafe_json_dumps

    from viewer.web.glue import tb_json

    def dumps(o, **kw):
        return json.dumps(o, sort_keys=True, separators=(",", ":"), **kw)

    assert str(tb_json(obj)) == str(htmlsafe_json_dumps(obj, dumps=dumps))
