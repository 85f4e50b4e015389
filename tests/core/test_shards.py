"""Shard I/O: round trips in every format, the bad-input policy, atomic writers."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignpt.core.documents import Document
from alignpt.core.errors import DataError
from alignpt.core.shards import (FORMATS, Quarantine, ReadOptions, ReadStats, ShardWriter,
                                 detect_format, read_documents)

EXTS = [".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet"]

# Text without lone surrogates (they are not encodable as UTF-8, so no shard can hold them).
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
json_scalar = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
               | st.floats(allow_nan=False, allow_infinity=False) | text)
json_value = st.recursive(json_scalar, lambda kids: st.lists(kids, max_size=4)
                          | st.dictionaries(text, kids, max_size=4), max_leaves=12)
documents = st.lists(st.builds(Document, id=text, text=text,
                               metadata=st.dictionaries(text, json_value, max_size=6)),
                     max_size=25)


def write(tmp: Path, docs: list[Document], ext: str, **kw) -> list[Path]:
    with ShardWriter(tmp, "shard", ext, **kw) as w:
        w.write_all(docs)
    return sorted(p for p in tmp.iterdir() if p.name.endswith(ext) and not p.name.startswith("."))


def read_all(paths, **kw) -> list[Document]:
    return [d for p in paths for d in read_documents(p, ReadOptions(**kw))]


@pytest.mark.parametrize("ext", EXTS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=documents)
def test_round_trip_every_format(tmp_path_factory, ext, docs):
    tmp = tmp_path_factory.mktemp("rt")
    paths = write(tmp, docs, ext)
    assert read_all(paths) == docs
    assert len(paths) == (1 if docs else 0)


@pytest.mark.parametrize("ext", EXTS)
def test_large_metadata_and_empty_text(tmp_path, ext):
    docs = [Document("big", "", {"blob": "x" * 200_000, "nums": list(range(5000)),
                                 "nested": {"a": {"b": {"c": [None, True, 1.5]}}}}),
            Document("ünïcødé", "日本語のテキスト 🚀\n\ttabs", {})]
    assert read_all(write(tmp_path, docs, ext)) == docs


@pytest.mark.parametrize("ext", EXTS)
def test_rolls_to_numbered_parts_at_size(tmp_path, ext):
    docs = [Document(str(i), "a" * 100) for i in range(50)]
    paths = write(tmp_path, docs, ext, max_bytes=1000)
    line = len(orjson.dumps({"id": "0", "text": "a" * 100})) + 1
    per_part = -(-1000 // line)  # a part closes at the first write that reaches the limit
    assert [p.name for p in paths] == [f"shard-{k:05d}{ext}" for k in range(-(-50 // per_part))]
    assert read_all(paths) == docs


def test_same_documents_same_bytes(tmp_path):
    docs = [Document(str(i), f"text {i}", {"k": i}) for i in range(100)]
    for ext in EXTS:
        a = write(tmp_path / "a", docs, ext)
        b = write(tmp_path / "b", docs, ext)
        assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b], ext


def test_writer_abort_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path, "s", ".jsonl.zst") as w:
            w.write(Document("1", "x"))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_fields_ids_and_extra_columns(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"content": "a", "url": "u1"}\n{"content": "b", "doc_id": 7}\n')
    docs = read_all([p], text_field="content", id_field="doc_id")
    assert docs == [Document("x.jsonl:1", "a", {"url": "u1"}), Document("7", "b", {})]


def test_three_field_records_take_the_fast_path_only_when_it_is_exact(tmp_path):
    # {id, text, metadata: {...}} with a string id is read without copying; every
    # other three-field shape goes through the general rules and reads the same
    p = tmp_path / "x.jsonl"
    p.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [
        {"id": "a", "text": "t1", "metadata": {"k": 1}},
        {"id": 7, "text": "t2", "metadata": {"k": 2}},          # id is not a string
        {"id": "c", "text": "t3", "url": "u"},                   # no metadata field
        {"id": "d", "text": "t4", "metadata": "m"},              # metadata is not an object
        {"text": "t5", "metadata": {"k": 5}, "lang": "en"},      # no id
        {"id": "f", "metadata": {"k": 6}, "body": "t6"},         # no text field
    ]))
    opts = ReadOptions(on_error="skip")
    stats = ReadStats()
    docs = list(read_documents(p, opts, stats))
    assert docs == [Document("a", "t1", {"k": 1}), Document("7", "t2", {"k": 2}),
                    Document("c", "t3", {"url": "u"}), Document("d", "t4", {"metadata": "m"}),
                    Document("x.jsonl:5", "t5", {"k": 5, "lang": "en"})]
    assert dict(stats.skipped) == {"missing_text": 1}


@pytest.mark.parametrize("ext", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_lines_buffered_past_a_megabyte_round_trip_and_count(tmp_path, ext):
    # the writer hands lines to the compressor in megabyte batches: several
    # flushes, a partial last batch, and byte counts that match the file
    docs = [Document(str(i), f"document {i} " * (i % 97), {"i": i}) for i in range(9000)]
    with ShardWriter(tmp_path, "s", ext) as w:
        w.write_all(docs)
    assert w.bytes > 3 * (1 << 20) and w.documents == 9000
    stats = ReadStats()
    assert [d for d in read_documents(tmp_path / f"s{ext}", stats=stats)] == docs
    assert stats.record_bytes + stats.documents == w.bytes  # lines read without their newline


def test_detect_format():
    assert detect_format("a/b.JSONL.ZST") == ("jsonl", "zstd")
    assert set(FORMATS) >= {".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet"}
    with pytest.raises(DataError, match=r"x\.csv: unknown shard format"):
        detect_format("x.csv")


# -- bad input -----------------------------------------------------------------
GOOD = b'{"id": "1", "text": "fine"}\n'
BAD_LINES = {
    "invalid_json": (b'{"id": "2", "text": "oops"\n', r":2: invalid JSON"),
    "invalid_utf8": (b'{"id": "2", "text": "caf\xe9"}\n', r":2: invalid UTF-8 at byte 24"),
    "missing_text": (b'{"id": "2", "body": "x"}\n', r":2: missing text field 'text'"),
    "non_string_text": (b'{"id": "2", "text": 42}\n',
                        r":2: text field 'text' is int, expected a string"),
    "not_an_object": (b'[1, 2]\n', r":2: expected a JSON object, got list"),
}


def _compress(data: bytes, ext: str) -> bytes:
    if ext == ".jsonl.gz":
        return gzip.compress(data, mtime=0)
    if ext == ".jsonl.zst":
        return zstandard.ZstdCompressor().compress(data)
    return data


@pytest.mark.parametrize("ext", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
@pytest.mark.parametrize("reason", sorted(BAD_LINES))
def test_bad_line_fails_with_file_line_and_problem(tmp_path, ext, reason):
    bad, message = BAD_LINES[reason]
    p = tmp_path / f"in{ext}"
    p.write_bytes(_compress(GOOD + bad + GOOD, ext))
    with pytest.raises(DataError, match=str(p).replace(".", r"\.") + message) as info:
        read_all([p])
    assert info.value.reason == reason and info.value.line == 2
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("reason", sorted(BAD_LINES))
def test_bad_line_skipped_counted_and_quarantined(tmp_path, reason):
    bad, _ = BAD_LINES[reason]
    p = tmp_path / "in.jsonl"
    p.write_bytes(GOOD + bad + GOOD)
    stats = ReadStats()
    q = Quarantine(tmp_path / "q.jsonl")
    docs = list(read_documents(p, ReadOptions(on_error="skip"), stats, q))
    q.close()
    assert [d.text for d in docs] == ["fine", "fine"]
    assert stats.skipped == {reason: 1} and stats.documents == 2
    (rec,) = [orjson.loads(line) for line in (tmp_path / "q.jsonl").read_bytes().splitlines()]
    assert rec["where"] == 2 and rec["reason"] == reason
    raw = rec["raw"].encode() if "raw" in rec else __import__("base64").b64decode(rec["raw_base64"])
    assert raw == bad.rstrip(b"\n")


@pytest.mark.parametrize("ext,label", [(".jsonl.gz", "gzip"), (".jsonl.zst", "zstd")])
def test_truncated_stream(tmp_path, ext, label):
    # Varied text, so that half of the compressed stream decodes to many whole lines.
    data = b"".join(b'{"id": "%d", "text": "%s"}\n' % (i, os.urandom(30).hex().encode())
                    for i in range(20000))
    blob = _compress(data, ext)
    p = tmp_path / f"cut{ext}"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=f"truncated {label} stream"):
        read_all([p])
    stats = ReadStats()
    docs = list(read_documents(p, ReadOptions(on_error="skip"), stats))
    assert stats.skipped == {"truncated_stream": 1}
    assert 0 < len(docs) < 20000
    assert [d.id for d in docs] == [str(i) for i in range(len(docs))]


def test_multi_frame_zstd_and_multi_member_gzip(tmp_path):
    a, b = GOOD, b'{"id": "2", "text": "two"}\n'
    zp = tmp_path / "m.jsonl.zst"
    zp.write_bytes(zstandard.ZstdCompressor().compress(a) + zstandard.ZstdCompressor().compress(b))
    gp = tmp_path / "m.jsonl.gz"
    gp.write_bytes(gzip.compress(a) + gzip.compress(b))
    assert [d.text for d in read_all([zp])] == ["fine", "two"]
    assert [d.text for d in read_all([gp])] == ["fine", "two"]


@pytest.mark.parametrize("ext", EXTS)
def test_empty_file_is_a_zero_document_shard(tmp_path, ext):
    p = tmp_path / f"empty{ext}"
    p.write_bytes(b"")
    for policy in ("fail", "skip"):
        stats = ReadStats()
        assert list(read_documents(p, ReadOptions(on_error=policy), stats)) == []
        assert stats.empty_files == 1 and stats.skipped == {}


def test_compressed_stream_with_no_records_is_empty(tmp_path):
    p = tmp_path / "e.jsonl.zst"
    p.write_bytes(zstandard.ZstdCompressor().compress(b""))
    stats = ReadStats()
    assert list(read_documents(p, ReadOptions(), stats)) == []
    assert stats.empty_files == 1


def test_unreadable_parquet(tmp_path):
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(DataError, match=r"bad\.parquet: unreadable Parquet file"):
        read_all([p])
    stats = ReadStats()
    assert list(read_documents(p, ReadOptions(on_error="skip"), stats)) == []
    assert stats.skipped == {"unreadable_parquet": 1}


def test_parquet_row_errors_name_row_group_and_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": ["x", None, "z"]}), p,
                   row_group_size=2)
    with pytest.raises(DataError, match=r"rows\.parquet \(row group 0, row 1\): text field "
                       r"'text' is null"):
        read_all([p])
    stats = ReadStats()
    assert [d.id for d in read_documents(p, ReadOptions(on_error="skip"), stats)] == ["a", "c"]
    assert stats.skipped == {"missing_text": 1}
    pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), p)
    with pytest.raises(DataError, match=r"missing text column 'text' \(columns: id, body\)"):
        read_all([p])


def test_blank_lines_are_counted_not_errors(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_bytes(GOOD + b"\n   \n" + GOOD)
    stats = ReadStats()
    assert len(list(read_documents(p, ReadOptions(), stats))) == 2
    assert stats.blank_lines == 2


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_all([tmp_path / "nope.jsonl"])
    assert not os.path.exists(tmp_path / "nope.jsonl")
