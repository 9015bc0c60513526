"""Log tails read with a seek, and raw terminal output rendered as safe HTML."""
from __future__ import annotations

import os

import pytest

from conftest import SPT_ID
from viewer.data.tailing import read_tail, render_terminal, strip_ansi

RED = '<span class="ansi-fg-red">'


def make(tmp_path, data, name="x.log"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def numbered(n):
    return b"".join(b"line %04d\n" % i for i in range(n))  # 10 bytes a line


# -- read_tail --------------------------------------------------------------------------------

@pytest.mark.parametrize("nbytes", [1, 9, 10, 11, 35, 999, 1000, 1001, 5000])
def test_tail_is_the_end_of_the_file_from_a_line_boundary(tmp_path, nbytes):
    content = numbered(100)
    data, start, size = read_tail(make(tmp_path, content), nbytes)
    assert size == len(content) and start + len(data) == size and len(data) <= nbytes
    assert data == content[start:]
    if nbytes < 10:  # the window is inside the last line: its end is shown, not nothing
        assert data == content[-nbytes:]
        return
    assert start == 0 or content[start - 1:start] == b"\n"
    assert len(data) == min(nbytes, size) // 10 * 10  # every whole line that fits is shown


def test_tail_window_already_on_a_line_boundary_keeps_its_first_line(tmp_path):
    assert read_tail(make(tmp_path, b"aaa\nbbb\n"), 4) == (b"bbb\n", 4, 8)


def test_tail_of_a_small_file_is_the_whole_file(tmp_path):
    assert read_tail(make(tmp_path, b"one\ntwo"), 1 << 20) == (b"one\ntwo", 0, 7)
    assert read_tail(make(tmp_path, b"", "empty.log"), 100) == (b"", 0, 0)


def test_tail_of_a_huge_sparse_file_reads_only_the_end(tmp_path):
    path = tmp_path / "huge.log"
    with open(path, "wb") as f:
        f.truncate(200 << 20)
        f.seek(0, 2)
        f.write(b"\nsecond to last\nlast line\n")
    data, start, size = read_tail(str(path), 4096)
    assert size == (200 << 20) + 26 and len(data) <= 4096
    assert data == b"second to last\nlast line\n" and start == size - len(data)


def test_tail_of_a_file_without_newline_shows_its_end(tmp_path):
    data, start, size = read_tail(make(tmp_path, b"0123456789" * 1000), 1000)
    assert data == b"0123456789" * 100 and (start, size) == (9000, 10000)


def test_tail_with_invalid_utf8_renders_with_replacement_characters(tmp_path):
    raw = "ünïcode\n".encode() * 50 + b"bad \xff\xfe \xc3\n"
    data, _, _ = read_tail(make(tmp_path, raw), 25)
    assert data.endswith(b"bad \xff\xfe \xc3\n")
    html = render_terminal(data.decode("utf-8", errors="replace"))
    assert "bad \ufffd\ufffd \ufffd" in html
    cut, _, _ = read_tail(make(tmp_path, "é".encode() * 100, "nonl.log"), 51)  # starts mid-character
    assert render_terminal(cut.decode("utf-8", errors="replace")).endswith("é" * 25)


def test_tail_of_the_real_spt_log(samples):
    path = os.path.join(samples, SPT_ID, "train.err")
    data, start, size = read_tail(path, 300)
    assert size == os.path.getsize(path) and 0 < len(data) <= 300
    assert data.endswith(b"done: 48 steps\n") and open(path, "rb").read()[start - 1:start] == b"\n"


# -- render_terminal --------------------------------------------------------------------------

def test_carriage_return_progress_bar_collapses_to_its_last_state():
    text = "start\r\nEpoch 1:  10%|#  \rEpoch 1:  50%|#####  \rEpoch 1: 100%|##########\nnext\r\n"
    assert render_terminal(text) == "start\nEpoch 1: 100%|##########\nnext\n"


def test_real_tqdm_output_shows_only_the_final_bar(samples):
    with open(os.path.join(samples, SPT_ID, "train.err"), "rb") as f:
        html = render_terminal(f.read().decode("utf-8", errors="replace"))
    assert "\r" not in html
    assert html.count("Caching features:") == 1 and "Caching features: 100%|" in html
    assert "FutureWarning" in html and "done: 48 steps" in html


@pytest.mark.parametrize("text,expected", [
    ("\x1b[31mred\x1b[0m plain", f"{RED}red</span> plain"),
    ("\x1b[1;32mok\x1b[m", '<span class="ansi-fg-green ansi-bold">ok</span>'),
    ("\x1b[38;5;196mx\x1b[39m", '<span data-fg="#ff0000">x</span>'),
    ("\x1b[48;2;1;2;3my", '<span data-bg="#010203">y</span>'),
    ("\x1b[31ma\x1b[44mb", f'{RED}a</span><span class="ansi-fg-red ansi-bg-blue">b</span>'),
    ("\x1b[38;5;9;3;4mz", '<span class="ansi-fg-bright-red ansi-italic ansi-underline">z</span>'),
    ("\x1b[2;38;2;300;0;9;48;5;232mw", '<span class="ansi-dim" data-fg="#ff0009" data-bg="#080808">w</span>'),
])
def test_sgr_colours_become_spans(text, expected):
    assert render_terminal(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("\x1b[2K\x1b[1Gtext", "text"),                      # erase line, move cursor
    ("\x1b[?25lhidden cursor\x1b[?25h", "hidden cursor"),
    ("\x1b]0;window title\x07body", "body"),             # OSC with BEL
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC hyperlink with ST
    ("\x1b(B\x1b[mreset by tput sgr0", "reset by tput sgr0"),
    ("\x1b7saved\x1b8", "saved"),
    ("bell\x07 back\x08space\x00nul\x7f", "bell backspacenul"),
    ("tab\tstays\n", "tab\tstays\n"),
])
def test_other_escapes_and_control_characters_are_dropped(text, expected):
    assert render_terminal(text) == expected
    assert strip_ansi(text) == expected


def test_html_in_a_log_is_escaped():
    out = render_terminal('<script>alert("x")</script> & <b>\x1b[31m<img src=x onerror=1>\x1b[0m')
    assert "<script>" not in out and "<img" not in out and "<b>" not in out
    assert out.startswith('&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;b&gt;')
    assert f"{RED}&lt;img src=x onerror=1&gt;</span>" in out
