"""The response cache: append-only, torn tails cut, first record wins, one writer."""

from __future__ import annotations

import os

import pytest

from alignpt.core.errors import AlignptError
from alignpt.generate.cache import ResponseCache


def test_put_get_and_reopen(tmp_path):
    path = tmp_path / "c.jsonl"
    with ResponseCache(path) as c:
        assert c.put("k1", {"text": "one"}) and c.put("k2", {"text": "two"})
        assert not c.put("k1", {"text": "again"})  # first record wins, nothing written
        assert c.get("k1")["text"] == "one" and c.get("nope") is None
    assert path.read_bytes().count(b"\n") == 2
    with ResponseCache(path) as c:
        assert len(c) == 2 and c.get("k2") == {"text": "two", "key": "k2"}


def test_torn_tail_is_cut_before_appending(tmp_path):
    path = tmp_path / "c.jsonl"
    with ResponseCache(path) as c:
        c.put("k1", {"text": "one"})
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"key": "k2", "text": "half a rec')  # a kill mid-write
    with ResponseCache(path) as c:
        assert c.torn_bytes == len(b'{"key": "k2", "text": "half a rec')
        assert "k2" not in c and len(c) == 1
        c.put("k2", {"text": "two"})
    with ResponseCache(path) as c:
        assert c.get("k2")["text"] == "two" and c.bad_lines == 0


def test_bad_complete_line_is_skipped_not_fatal(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"key": "a", "text": "x"}\nnot json\n{"key": "b", "text": "y"}\n')
    with ResponseCache(path) as c:
        assert sorted(c.keys()) == ["a", "b"] and c.bad_lines == 1


def test_second_writer_is_refused(tmp_path):
    path = tmp_path / "c.jsonl"
    with ResponseCache(path):
        with pytest.raises(AlignptError, match="another run is using this cache"):
            ResponseCache(path).open()


def test_appends_survive_without_close(tmp_path):
    """What a SIGKILL leaves: every put() already in the file, whole lines only."""
    path = tmp_path / "c.jsonl"
    c = ResponseCache(path, fsync=False).open()
    for i in range(50):
        c.put(f"k{i}", {"text": "t" * i})
    os.close(c._fd)  # simulate the process vanishing: no close(), no final fsync
    c._fd = None
    with ResponseCache(path) as again:
        assert len(again) == 50 and again.get("k49")["text"] == "t" * 49
