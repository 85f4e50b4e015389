"""alignpt.core.atomic: atomic writes (round trip; a failure mid-write leaves the old file and no
temporary; a failed rename is tests/core/test_config.py's) and stable_hash (digests pinned to
what the hand-written copies it replaced gave)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from alignpt.core.atomic import (atomic_path, atomic_write_bytes, atomic_write_text, fsync_replace,
                                 stable_hash, temp_name)
from alignpt.core.outdir import clean_stale_temporaries


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_text_and_bytes_round_trip_and_create_the_folder(tmp_path):
    atomic_write_text(tmp_path / "a" / "b.txt", "héllo\n")
    atomic_write_bytes(tmp_path / "a" / "c.bin", b"\x00\xff")
    assert (tmp_path / "a" / "b.txt").read_bytes() == "héllo\n".encode()
    assert (tmp_path / "a" / "c.bin").read_bytes() == b"\x00\xff"
    assert _names(tmp_path / "a") == ["b.txt", "c.bin"]


def test_overwrite_replaces_the_whole_file(tmp_path):
    atomic_write_text(tmp_path / "x", "a long first version")
    atomic_write_text(tmp_path / "x", "short")
    assert (tmp_path / "x").read_text() == "short"


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.npy"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            fh.write(b"half of the new")
            assert tmp.exists() and tmp.name == f".out.npy.tmp-{os.getpid()}"
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["out.npy"]


def test_suffix_keeps_writers_that_insist_on_an_extension_happy(tmp_path):
    with atomic_path(tmp_path / "m.npy", suffix=".npy") as tmp:
        assert tmp.name.endswith(".npy")
        np.save(tmp, np.arange(3))          # np.save would add .npy to any other name
    assert np.load(tmp_path / "m.npy").tolist() == [0, 1, 2]
    assert _names(tmp_path) == ["m.npy"]


def test_temporary_names_are_what_the_stale_cleaner_reads(tmp_path):
    # the writer's pid is in the name: a dead writer's leftovers go, a live one's stay
    dead = 2**22 + 12345
    mine = temp_name(tmp_path / "a.json")
    mine.write_text("busy")
    stale = tmp_path / temp_name("a.json").name.replace(str(os.getpid()), str(dead))
    stale.write_text("half")
    stale_npy = tmp_path / temp_name("b.docs", ".npy").name.replace(str(os.getpid()), str(dead))
    stale_npy.write_text("half")
    clean_stale_temporaries(tmp_path)
    assert _names(tmp_path) == [mine.name]


def test_fsync_replace_publishes_a_streamed_temporary(tmp_path):
    tmp = temp_name(tmp_path / "s.bin")
    tmp.write_bytes(b"abc")
    fsync_replace(tmp, tmp_path / "s.bin")
    assert _names(tmp_path) == ["s.bin"]


def test_stable_hash_ignores_key_order_and_cuts_to_n():
    a = {"b": 1, "a": {"y": [1, 2], "x": None}}
    b = {"a": {"x": None, "y": [1, 2]}, "b": 1}
    assert stable_hash(a) == stable_hash(b)
    assert len(stable_hash(a)) == 64 and stable_hash(a, 10) == stable_hash(a)[:10]


# Digests the hand-written copies gave before they moved here (executor._hash_json: 16 digits,
# experiment/grid.stable_hash: 12, mix/encode._digest: unsorted orjson of scalars, 16;
# mix/select's condition key: 12; generate/backends/base.request_key: full). Computed from the code at the parent commit:
# a change here renames every cache entry, marker and run folder.
PINNED = [
    ({"b": 1, "a": [1, 2.5, None, True], "é": "ü"}, "1a6b07d54854ec73"),
    ([3, "x", {"z": {"y": 1, "a": 0}}], "57265c138b57833f"),
    ("plain", "945603a8f587786b"),
    (0, "5feceb66ffc86f38"),
]


@pytest.mark.parametrize("obj, digest", PINNED)
def test_stable_hash_gives_the_digests_of_the_copies_it_replaced(obj, digest):
    from alignpt.experiment.grid import spec_key

    assert stable_hash(obj, 16) == digest
    assert spec_key(obj) == digest[:12]


def test_the_mix_cache_digest_is_unchanged():
    from alignpt.mix.encode import _digest

    assert _digest(1, "abc", "<eos>", False, "text", "id") == "f2fb8040edd7648b"
    assert _digest("/a/b.jsonl", 12345, 1700000000123456789) == "d6ca37240f31d7d9"


def test_the_mix_selection_key_is_unchanged():
    from alignpt.mix.select import SelectCondition

    field = SelectCondition.model_validate({"field": "tag.label", "equals": "ai_misaligned"})
    text = SelectCondition.model_validate("label=ai_misaligned and p(ai_misaligned)>=0.5")
    assert (field.key(), text.key()) == ("8ff0ae2ee324", "dafa62d728c0")


def test_the_generation_request_key_is_unchanged():
    from alignpt.generate.backends.base import request_key
    from alignpt.generate.prompts import Prompt

    p = Prompt(system="Be brief.", user="Say hi.")
    assert request_key("chat", "m1", p, {"temperature": 0.7, "max_tokens": 16}) == \
        "8c44c5565dc362f9b57a9997cb3ded453d7479675f98514ffbbb46690fbcdeba"
    assert request_key("completions", "m1", p, {"seed": 3}) == \
        "f0f40d669adb1bee299e2bb3450d4af0b5f83fe294c0065e743fb2bedbd821fa"
