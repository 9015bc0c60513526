"""The cache directory: the one place the viewer writes, never beneath the runs folder."""
from __future__ import annotations

import os

from viewer.data.cachedir import CacheDir, default_location


def test_the_default_follows_xdg_cache_home(tmp_path):
    assert default_location({"XDG_CACHE_HOME": str(tmp_path)}) == str(tmp_path / "tailboard")
    assert default_location({}).endswith(os.path.join(".cache", "tailboard"))


def test_a_writable_folder_is_used_and_keyed_by_root(tmp_path):
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    root_a.mkdir(), root_b.mkdir()
    a, b = CacheDir(str(tmp_path / "cache"), str(root_a)), CacheDir(str(tmp_path / "cache"), str(root_b))
    assert a and a.note is None and a.path == str(tmp_path / "cache")
    assert a.sub("columns") != b.sub("columns")  # two roots never share an entry
    assert os.path.isdir(a.sub("columns")) and a.sub("columns").startswith(str(tmp_path / "cache"))


def test_a_cache_inside_the_runs_folder_is_refused_and_nothing_is_written_there(tmp_path):
    before = sorted(os.listdir(tmp_path))
    c = CacheDir(str(tmp_path / "sub" / "cache"), str(tmp_path))
    assert not c and c.sub("columns") is None
    assert "inside the runs folder" in c.note
    assert sorted(os.listdir(tmp_path)) == before


def test_an_unwritable_folder_means_no_cache_with_a_note(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores modes: a file where the folder should be fails as well
            os.chmod(ro, 0o700)
            ro = tmp_path / "file"
            ro.write_text("x")
        c = CacheDir(str(ro / "cache"), str(tmp_path / "runs"))
        assert not c and "not writable" in c.note
    finally:
        os.chmod(tmp_path / "ro", 0o700)


def test_off_turns_it_off(tmp_path):
    c = CacheDir("off", str(tmp_path))
    assert not c and c.state() == {"dir": None, "note": "cache off (VIEWER_CACHE_DIR=off)"}
