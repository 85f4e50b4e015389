"""Bad input is counted in full: rows of a lost row group, the cut-off line of a truncated
stream, and files with no records (empty or blank) treated alike."""

from __future__ import annotations

import gzip
import random

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from alignpt.convert import ConvertConfig, convert_shards
from alignpt.core.errors import DataError
from alignpt.core.shards import Quarantine, ReadOptions, ReadStats, read_documents


def _parquet_with_a_broken_row_group(path, groups: int = 3, rows: int = 1000, broken: int = 1):
    table = pa.table({"id": [str(i) for i in range(groups * rows)],
                      "text": [f"document {i} " + "x" * (i % 50) for i in range(groups * rows)]})
    pq.write_table(table, path, row_group_size=rows, compression="zstd", use_dictionary=False)
    col = pq.ParquetFile(path).metadata.row_group(broken).column(1)  # the text column's pages
    data = bytearray(path.read_bytes())
    start = col.data_page_offset
    data[start:start + col.total_compressed_size] = b"\xff" * col.total_compressed_size
    path.write_bytes(bytes(data))


def test_unreadable_row_group_counts_the_rows_it_held(tmp_path):
    p = tmp_path / "rg.parquet"
    _parquet_with_a_broken_row_group(p)
    with pytest.raises(DataError, match=r"rg\.parquet \(row group 1\): unreadable row group "
                       r"of 1,000 rows"):
        list(read_documents(p))
    stats = ReadStats()
    docs = list(read_documents(p, ReadOptions(on_error="skip"), stats))
    assert [d.id for d in docs] == [str(i) for i in [*range(1000), *range(2000, 3000)]]
    assert stats.skipped == {"unreadable_parquet": 1}
    assert stats.skipped_rows == {"unreadable_parquet": 1000}


def test_row_group_rows_reach_stats_json(tmp_path):
    (tmp_path / "in").mkdir()
    _parquet_with_a_broken_row_group(tmp_path / "in" / "rg.parquet")
    res = convert_shards([tmp_path / "in"], tmp_path / "out", ConvertConfig(on_error="skip"),
                         progress=False)
    saved = orjson.loads((tmp_path / "out" / "stats.json").read_bytes())
    assert saved["skipped_input"] == {"unreadable_parquet": 1}
    assert saved["skipped_rows"] == {"unreadable_parquet": 1000}
    assert saved["documents_out"] == res.stats["documents_out"] == 2000


@pytest.mark.parametrize("ext", [".jsonl.gz", ".jsonl.zst"])
def test_cut_off_last_line_of_a_truncated_stream_is_quarantined(tmp_path, ext):
    rng = random.Random(0)
    lines = [b'{"id": "%d", "text": "%s"}' % (i, rng.randbytes(30).hex().encode())
             for i in range(20000)]
    data = b"\n".join(lines) + b"\n"
    blob = gzip.compress(data, mtime=0) if ext == ".jsonl.gz" else (
        zstandard.ZstdCompressor().compress(data))
    p = tmp_path / f"cut{ext}"
    p.write_bytes(blob[: len(blob) // 2])
    stats = ReadStats()
    q = Quarantine(tmp_path / "q.jsonl")
    docs = list(read_documents(p, ReadOptions(on_error="skip"), stats, q))
    q.close()
    (rec,) = [orjson.loads(x) for x in (tmp_path / "q.jsonl").read_bytes().splitlines()]
    assert rec["reason"] == "truncated_stream" and stats.skipped == {"truncated_stream": 1}
    # the quarantined bytes are the start of the first line not read: nothing decoded is lost
    cut = lines[len(docs)]
    assert 0 < len(rec["raw"]) < len(cut) and cut.startswith(rec["raw"].encode())


@pytest.mark.parametrize("content", [b"", b"\n", b"  \n\t\n\n"])
@pytest.mark.parametrize("ext", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_empty_and_blank_files_are_the_same_zero_document_shard(tmp_path, content, ext):
    p = tmp_path / f"b{ext}"
    compress = {".jsonl": bytes, ".jsonl.gz": lambda b: gzip.compress(b, mtime=0),
                ".jsonl.zst": zstandard.ZstdCompressor().compress}[ext]
    p.write_bytes(compress(content))
    stats = ReadStats()
    assert list(read_documents(p, ReadOptions(), stats)) == []
    assert stats.empty_files == 1 and stats.skipped == {}
    assert stats.blank_lines == content.count(b"\n")


def test_zero_row_parquet_and_a_corpus_of_empty_shards_convert_cleanly(tmp_path):
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}),
                   tmp_path / "in" / "z.parquet")
    (tmp_path / "in" / "e.jsonl").write_bytes(b"")
    (tmp_path / "in" / "w.jsonl").write_bytes(b" \n")
    (tmp_path / "in" / "d.jsonl").write_bytes(b'{"text": "one"}\n')
    res = convert_shards([tmp_path / "in"], tmp_path / "out", ConvertConfig(), progress=False)
    assert res.stats["empty_files"] == 3 and res.stats["documents_out"] == 1
    assert res.stats["skipped_input"] == {}
