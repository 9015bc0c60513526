"""LogFollower: a live log view's tail, appends, progress bars, truncation, rotation, jumps."""
from __future__ import annotations

import os

import pytest

from builders import append, write
from conftest import SPT_ID
from viewer.data.tailing import LogFollower

RED = '<span class="ansi-fg-red">'


# -- helpers ----------------------------------------------------------------------------------

@pytest.fixture
def log(tmp_path):
    path = tmp_path / "train.out"
    path.write_bytes(b"")
    return str(path)


def follow(path, data=b""):
    write(path, data)
    f = LogFollower(path)
    return f, f.tail()


# -- tail -------------------------------------------------------------------------------------

def test_tail_gives_the_last_lines_rendered(log):
    _f, first = follow(log, b"plain\n\x1b[31mred\x1b[0m <b>&\nunfinished")
    assert first["lines"] == ["plain", f"{RED}red</span> &lt;b&gt;&amp;"]
    assert first["partial"] == "unfinished"


def test_tail_of_a_long_log_is_only_its_end_from_a_line_boundary(log):
    write(log, b"".join(b"line %06d\n" % i for i in range(100_000)))
    first = LogFollower(log, tail_bytes=1000).tail()
    assert first["lines"][-1] == "line 099999" and first["partial"] == ""
    assert len(first["lines"]) == 1000 // 12 and first["lines"][0].startswith("line 0")


def test_tail_of_the_real_spt_log_collapses_its_progress_bars(samples):
    first = LogFollower(os.path.join(samples, SPT_ID, "train.err")).tail()
    text = "\n".join(first["lines"])
    assert "\r" not in text and text.count("Caching features:") == 1
    assert first["lines"][-1].endswith("done: 48 steps")


# -- appends ----------------------------------------------------------------------------------

def test_appended_complete_lines_come_back_rendered(log):
    f, _ = follow(log, b"old\n")
    append(log, b"one\n\x1b[31mtwo\x1b[0m\n")
    assert f.read_new() == (None, {"lines": ["one", f"{RED}two</span>"], "partial": ""})
    assert f.read_new() == (None, None)


def test_a_line_completed_by_a_later_append_is_returned_whole(log):
    f, _ = follow(log)
    append(log, b"Epoch 1 lo")
    assert f.read_new() == (None, {"lines": [], "partial": "Epoch 1 lo"})
    append(log, b"ss=0.5\nnext")
    assert f.read_new() == (None, {"lines": ["Epoch 1 loss=0.5"], "partial": "next"})


def test_a_progress_bar_rewritten_many_times_is_collapsed_and_bounded(log):
    f, _ = follow(log, b"start\n")
    biggest = 0
    for i in range(10_000):
        append(log, b"\rtrain: %5d/10000 |%-20s|" % (i + 1, b"#" * (i * 20 // 10_000)))
        reason, chunk = f.read_new()
        assert reason is None and chunk["lines"] == []
        biggest = max(biggest, len(f.partial))
    assert chunk["partial"] == "train: 10000/10000 |################### |"
    assert biggest < 100


def test_many_progress_updates_in_one_read_show_only_the_latest(log):
    f, _ = follow(log, b"start\n")
    append(log, b"".join(b"\r%d%%" % i for i in range(101)) * 100)
    reason, chunk = f.read_new()
    assert (reason, chunk) == (None, {"lines": [], "partial": "100%"}) and len(f.partial) < 10
    append(log, b"\rdone\n")
    assert f.read_new() == (None, {"lines": ["done"], "partial": ""})


def test_a_bar_that_ends_each_update_with_cr_shows_its_latest_state(log):
    f, _ = follow(log)
    append(log, b"10%\r20%\r30%\r")
    assert f.read_new()[1]["partial"] == "30%"
    assert len(f.partial) < 10


def test_a_line_without_cr_or_newline_is_kept_bounded(log):
    f, _ = follow(log)
    for _ in range(40):
        append(log, b"x" * (16 << 10))
        f.read_new()
    assert len(f.partial) <= LogFollower.MAX_PARTIAL


def test_crlf_split_across_two_appends_is_one_line(log):
    f, _ = follow(log)
    append(log, b"first line\r")
    assert f.read_new()[1]["lines"] == []
    append(log, b"\nsecond\r\n")
    assert f.read_new() == (None, {"lines": ["first line", "second"], "partial": ""})


def test_crlf_lines_keep_their_text(log):
    _f, first = follow(log, b"a\r\nb\r\n")
    assert first["lines"] == ["a", "b"]


def test_a_utf8_character_split_across_two_appends_decodes(log):
    f, _ = follow(log)
    data = "température ✓ 🚀\n".encode()
    cut = data.index("✓".encode()) + 1
    append(log, data[:cut])
    reason, chunk = f.read_new()
    assert "\ufffd" not in chunk["partial"]
    append(log, data[cut:])
    assert f.read_new() == (None, {"lines": ["température ✓ 🚀"], "partial": ""})


# -- the file changing under the follower -----------------------------------------------------

def test_truncation_starts_over_from_the_new_tail(log):
    f, _ = follow(log, b"".join(b"old %d\n" % i for i in range(100)))
    write(log, b"new 1\nnew 2\n")
    assert f.read_new() == ("truncated", {"lines": ["new 1", "new 2"], "partial": ""})
    append(log, b"new 3\n")
    assert f.read_new() == (None, {"lines": ["new 3"], "partial": ""})


def test_truncation_drops_a_pending_partial_line(log):
    f, _ = follow(log, b"old\nhalf a li")
    write(log, b"x\n")
    assert f.read_new() == ("truncated", {"lines": ["x"], "partial": ""})


def test_written_over_past_its_old_size_between_two_looks_starts_over(log):
    """``python train.py > train.out`` again: truncated and already longer when next looked at."""
    f, _ = follow(log, b"".join(b"old %d\n" % i for i in range(3)))
    with open(log, "r+b") as out:
        out.truncate(0)
        out.write(b"".join(b"new %d\n" % i for i in range(6)))
    assert f.read_new() == ("truncated", {"lines": [f"new {i}" for i in range(6)], "partial": ""})
    append(log, b"new 6\n")
    assert f.read_new() == (None, {"lines": ["new 6"], "partial": ""})


def test_rotation_follows_the_new_file(log):
    f, _ = follow(log, b"".join(b"old %d\n" % i for i in range(5)))
    os.rename(log, log + ".1")
    assert f.read_new() == (None, None)  # rotated away, not yet recreated: wait
    write(log, b"fresh 1\n")
    assert f.read_new() == ("rotated", {"lines": ["fresh 1"], "partial": ""})
    append(log, b"fresh 2\n")
    assert f.read_new() == (None, {"lines": ["fresh 2"], "partial": ""})


def test_rotation_to_a_bigger_file_is_still_rotation(log):
    f, _ = follow(log, b"old\n")
    os.rename(log, log + ".1")
    write(log, b"".join(b"new %d\n" % i for i in range(50)))
    reason, chunk = f.read_new()
    assert reason == "rotated" and chunk["lines"][0] == "new 0" and chunk["lines"][-1] == "new 49"


def test_a_vanished_file_is_waited_for_without_raising(log):
    f, _ = follow(log, b"line\n")
    os.remove(log)
    assert f.read_new() == (None, None)
    assert f.read_new() == (None, None)


def test_an_append_over_4_mib_skips_to_the_new_tail(log):
    f = LogFollower(log, tail_bytes=1000)
    write(log, b"start\n")
    f.tail()
    append(log, b"".join(b"bulk %08d\n" % i for i in range((5 << 20) // 14)) + b"last\n")
    reason, chunk = f.read_new()
    assert reason == "skipped" and chunk["lines"][-1] == "last" and len(chunk["lines"]) <= 1000 // 14 + 1
    assert f.offset == os.path.getsize(log)
    append(log, b"after\n")
    assert f.read_new() == (None, {"lines": ["after"], "partial": ""})


def test_an_append_just_under_4_mib_is_read_in_full(log):
    f, _ = follow(log, b"start\n")
    n = (4 << 20) // 14 - 1
    append(log, b"".join(b"bulk %08d\n" % i for i in range(n)))
    reason, chunk = f.read_new()
    assert reason is None and len(chunk["lines"]) == n and chunk["lines"][-1] == "bulk %08d" % (n - 1)
