"""Reading and writing document shards: JSONL (plain, gzip, zstd) and Parquet.

The format is chosen by extension (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``,
``.parquet``). Readers stream; bad input follows one policy:

* ``on_error="fail"`` raises :class:`~alignpt.core.errors.DataError` naming the file,
  the line (or Parquet row group and row) and the problem;
* ``on_error="skip"`` drops the bad record, counts it under its reason in
  :class:`ReadStats` and, when a quarantine file is given, keeps the raw line
  there so nothing is lost silently (an unreadable Parquet row group counts once, with
  the rows it held in ``skipped_rows``; a stream cut short quarantines its partial line).

A file with no records (0 bytes, only blank lines, an empty compressed stream, a
Parquet file of 0 rows) is a valid shard of zero documents, counted in ``empty_files``:
an earlier stage that kept nothing of a shard may leave one.

Writers are atomic (temporary name, fsync, rename) and roll over to a new part
when a part reaches ``max_bytes`` of uncompressed JSON, a measure that does not
depend on the compressor, so the same input always splits the same way.
"""

from __future__ import annotations

import base64
import gzip
import os
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Literal

import orjson

from alignpt.core.atomic import fsync_replace, temp_name
from alignpt.core.documents import Document
from alignpt.core.errors import ConfigError, DataError

__all__ = [
    "FORMATS",
    "OnError",
    "ReadOptions",
    "ReadStats",
    "check_compression_level",
    "detect_format",
    "strip_format_suffix",
    "read_documents",
    "ShardWriter",
    "Quarantine",
]

OnError = Literal["fail", "skip"]

#: extension -> (container, compression)
FORMATS: dict[str, tuple[str, str | None]] = {
    ".jsonl": ("jsonl", None),
    ".jsonl.gz": ("jsonl", "gzip"),
    ".jsonl.zst": ("jsonl", "zstd"),
    ".jsonl.zstd": ("jsonl", "zstd"),
    ".parquet": ("parquet", None),
}
_CHUNK = 1 << 20


def detect_format(path: str | Path) -> tuple[str, str | None]:
    """Return ``(container, compression)`` for a shard path, from its extension."""
    name = str(path).lower()
    for ext in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return FORMATS[ext]
    raise DataError(f"unknown shard format (expected one of {', '.join(FORMATS)})", str(path))


#: valid compression levels per compressor (its library rejects the rest with a traceback)
LEVELS: dict[str, range] = {"zstd": range(1, 23), "gzip": range(0, 10)}


def check_compression_level(fmt: str, level: int | None) -> None:
    """Raise :class:`ConfigError` when ``level`` is outside what ``fmt``'s compressor takes."""
    _container, compression = detect_format(fmt if fmt.startswith(".") else f".{fmt}")
    valid = LEVELS.get(compression or "")
    if level is not None and valid is not None and level not in valid:
        raise ConfigError(f"--level {level}: {compression} compression levels are "
                          f"{valid.start}..{valid.stop - 1}")


def strip_format_suffix(name: str) -> str:
    lower = name.lower()
    for ext in sorted(FORMATS, key=len, reverse=True):
        if lower.endswith(ext):
            return name[: -len(ext)]
    return name


@dataclass
class ReadOptions:
    """How to turn records into documents and what to do with bad ones."""

    text_field: str = "text"
    id_field: str = "id"
    on_error: OnError = "fail"
    #: prefix for ids made up when a record has none: ``f"{id_prefix}:{line}"``
    id_prefix: str | None = None


@dataclass
class ReadStats:
    """What a reader saw: documents, bytes and every skipped record by reason."""

    documents: int = 0
    #: uncompressed bytes of the records read: JSONL lines, or Parquet text
    record_bytes: int = 0
    #: bytes of the files on disk (compressed size)
    file_bytes: int = 0
    skipped: Counter = field(default_factory=Counter)
    #: rows held by skipped units of many records (an unreadable Parquet row group), by reason
    skipped_rows: Counter = field(default_factory=Counter)
    blank_lines: int = 0
    #: files holding no records (0 bytes, only blank lines, an empty stream, 0 rows): valid
    #: zero-document shards, as an earlier stage that kept nothing may leave
    empty_files: int = 0

    def merge(self, other: "ReadStats") -> None:
        self.documents += other.documents
        self.record_bytes += other.record_bytes
        self.file_bytes += other.file_bytes
        self.skipped.update(other.skipped)
        self.skipped_rows.update(other.skipped_rows)
        self.blank_lines += other.blank_lines
        self.empty_files += other.empty_files


class Quarantine:
    """Side file (JSONL) that keeps the raw bytes of every skipped record."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh: BinaryIO | None = None
        self._tmp = temp_name(self.path)
        self.count = 0

    def add(self, source: str, where: str | int | None, reason: str, problem: str,
            raw: bytes | None) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self._tmp, "wb")
        rec: dict[str, Any] = {"file": source, "where": where, "reason": reason,
                               "problem": problem}
        if raw is not None:
            try:
                rec["raw"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                rec["raw_base64"] = base64.b64encode(raw).decode("ascii")
        self._fh.write(orjson.dumps(rec) + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            fsync_replace(self._tmp, self.path)
            self._fh = None

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._tmp.unlink(missing_ok=True)
            self._fh = None


class _Bad(Exception):
    """A bad record: reason (stats key), problem (message), and raw bytes."""

    def __init__(self, reason: str, problem: str, raw: bytes | None = None):
        super().__init__(problem)
        self.reason, self.problem, self.raw = reason, problem, raw


class _Truncated(Exception):
    """A compressed stream cut short; ``tail`` is the partial line decoded before the cut."""

    tail = b""


# -- decompression ---------------------------------------------------------
def _zstd_chunks(fh: BinaryIO) -> Iterator[bytes]:
    """Decompress every zstd frame in ``fh``; raise if the last frame is cut short.

    ``zstandard``'s stream reader returns a truncated stream as if it had
    ended normally, so frames are decoded one by one and ``eof`` is checked.
    """
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    obj = dctx.decompressobj()
    in_frame = False
    while True:
        raw = fh.read(_CHUNK)
        if not raw:
            break
        while raw:
            in_frame = True
            out = obj.decompress(raw)
            if out:
                yield out
            if obj.eof:
                raw = obj.unused_data
                obj = dctx.decompressobj()
                in_frame = False
            else:
                raw = b""
    if in_frame:
        raise _Truncated("truncated zstd stream (compressed data ended before the end of a frame)")


def _gzip_chunks(fh: BinaryIO) -> Iterator[bytes]:
    """Decompress every gzip member; raise if the stream ends inside one."""
    obj = zlib.decompressobj(wbits=31)
    in_member = False
    while True:
        raw = fh.read(_CHUNK)
        if not raw:
            break
        while raw:
            in_member = True
            try:
                out = obj.decompress(raw)
            except zlib.error as exc:
                raise _Truncated(f"corrupt gzip stream ({exc})") from None
            if out:
                yield out
            if obj.eof:
                raw = obj.unused_data
                obj = zlib.decompressobj(wbits=31)
                in_member = False
            else:
                raw = b""
    if in_member:
        raise _Truncated("truncated gzip stream (compressed data ended before the end marker)")


def _plain_chunks(fh: BinaryIO) -> Iterator[bytes]:
    while True:
        raw = fh.read(_CHUNK)
        if not raw:
            return
        yield raw


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    rest = b""
    try:
        for chunk in chunks:
            parts = chunk.split(b"\n")
            if rest:
                # Join the carried-over tail to the first piece only, not to the whole
                # chunk: copying megabytes per chunk cost a third of the split time.
                parts[0] = rest + parts[0]
            rest = parts.pop()
            yield from parts
    except _Truncated as exc:
        exc.tail = rest  # the cut-off line: the reader quarantines it
        raise
    if rest:
        yield rest


# -- record -> Document ----------------------------------------------------
def _record_to_document(rec: Any, opts: ReadOptions, prefix: str, row: int) -> Document:
    """Turn one parsed record into a Document; ``prefix:row`` is the id if it has none."""
    if not isinstance(rec, dict):
        raise _Bad("not_an_object", f"expected a JSON object, got {type(rec).__name__}")
    if len(rec) == 3:
        # the shape this project writes, {id, text, metadata: {...}}: one check, no copying
        doc_id, text, meta = rec.get(opts.id_field), rec.get(opts.text_field), rec.get("metadata")
        if type(text) is str and type(doc_id) is str and type(meta) is dict:
            return Document(doc_id, text, meta)
    text = rec.get(opts.text_field)
    if text is None:
        if opts.text_field in rec:
            raise _Bad("missing_text", f"text field '{opts.text_field}' is null")
        raise _Bad("missing_text", f"missing text field '{opts.text_field}'")
    if not isinstance(text, str):
        raise _Bad("non_string_text",
                   f"text field '{opts.text_field}' is {type(text).__name__}, expected a string")
    doc_id = rec.pop(opts.id_field, None)
    doc_id = f"{prefix}:{row}" if doc_id is None else str(doc_id)
    del rec[opts.text_field]
    meta = rec.pop("metadata", None)
    if meta is None:
        return Document(doc_id, text, rec)  # the remaining fields are the metadata
    if not isinstance(meta, dict):
        meta = {"metadata": meta}
    for key, value in rec.items():
        meta.setdefault(key, value)
    return Document(doc_id, text, meta)


_BAD_LINE = object()


def _diagnose(line: bytes) -> None:
    """Raise the specific problem of a line orjson rejected: bad UTF-8 or bad JSON."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as uexc:
        raise _Bad("invalid_utf8", f"invalid UTF-8 at byte {uexc.start}", line) from None
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        msg = str(exc).split(":")[0]
        raise _Bad("invalid_json", f"invalid JSON ({msg})", line) from None


def _iter_jsonl(path: Path, compression: str | None, opts: ReadOptions, stats: ReadStats,
                quarantine: Quarantine | None, prefix: str) -> Iterator[Document]:
    chunker = {None: _plain_chunks, "gzip": _gzip_chunks, "zstd": _zstd_chunks}[compression]
    lineno = 0
    blank_before = stats.blank_lines
    with open(path, "rb") as fh:
        stats.file_bytes += os.fstat(fh.fileno()).st_size
        try:
            for lineno, line in enumerate(_lines(chunker(fh)), start=1):
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    # Only a line that failed to parse can be blank: checking here keeps
                    # the whitespace scan off the hot path.
                    if not line.strip():
                        stats.blank_lines += 1
                        continue
                    rec = _BAD_LINE
                try:
                    if rec is _BAD_LINE:
                        _diagnose(line)
                    doc = _record_to_document(rec, opts, prefix, lineno)
                except _Bad as bad:
                    _handle_bad(bad, path, lineno, None, opts, stats, quarantine, line)
                    continue
                stats.documents += 1
                stats.record_bytes += len(line)
                yield doc
        except _Truncated as exc:
            _handle_bad(_Bad("truncated_stream", f"{exc} after line {lineno}", exc.tail or None),
                        path, None, None, opts, stats, quarantine, None)
            return
    if lineno == stats.blank_lines - blank_before:  # no lines, or only blank ones
        stats.empty_files += 1


def _handle_bad(bad: _Bad, path: Path, line: int | None, where: str | None, opts: ReadOptions,
                stats: ReadStats, quarantine: Quarantine | None, raw: bytes | None) -> None:
    if opts.on_error == "fail":
        raise DataError(bad.problem, str(path), line=line, where=where, reason=bad.reason)
    stats.skipped[bad.reason] += 1
    if quarantine is not None:
        quarantine.add(str(path), line if line is not None else where, bad.reason, bad.problem,
                       bad.raw if bad.raw is not None else raw)


def _iter_parquet(path: Path, opts: ReadOptions, stats: ReadStats,
                  quarantine: Quarantine | None, prefix: str) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _handle_bad(_Bad("unreadable_parquet", f"unreadable Parquet file ({first})"), path,
                    None, None, opts, stats, quarantine, None)
        return
    stats.file_bytes += path.stat().st_size
    if pf.metadata.num_rows == 0:
        stats.empty_files += 1
        return
    if opts.text_field not in pf.schema_arrow.names:
        _handle_bad(_Bad("missing_text", f"missing text column '{opts.text_field}' (columns: "
                         f"{', '.join(pf.schema_arrow.names)})"), path, None, None, opts, stats,
                    quarantine, None)
        return
    row_base = 0
    for rg in range(pf.num_row_groups):
        try:
            table = pf.read_row_group(rg)
        except (pa.ArrowException, OSError) as exc:
            first = str(exc).splitlines()[0]
            rows = pf.metadata.row_group(rg).num_rows
            _handle_bad(_Bad("unreadable_parquet", f"unreadable row group of {rows:,} rows "
                             f"({first})"), path, None, f"row group {rg}", opts, stats,
                        quarantine, None)
            stats.skipped_rows["unreadable_parquet"] += rows
            row_base += rows
            continue
        names = table.column_names
        meta_is_json = "metadata" in names and pa.types.is_string(
            table.schema.field("metadata").type)
        text_col = table.column(opts.text_field)
        nbytes = (pc.binary_length(text_col).to_pylist()
                  if pa.types.is_string(text_col.type) else [0] * table.num_rows)
        # Column-wise conversion is faster than Table.to_pylist() for wide text.
        columns = [table.column(n).to_pylist() for n in names]
        for i, values in enumerate(zip(*columns)):
            rec = dict(zip(names, values))
            if meta_is_json and isinstance(rec.get("metadata"), str):
                try:
                    rec["metadata"] = orjson.loads(rec["metadata"])
                except orjson.JSONDecodeError:
                    pass
            try:
                doc = _record_to_document(rec, opts, prefix, row_base + i + 1)
            except _Bad as bad:
                _handle_bad(bad, path, None, f"row group {rg}, row {i}", opts, stats,
                            quarantine, orjson.dumps(rec, default=str))
                continue
            stats.documents += 1
            stats.record_bytes += nbytes[i] or 0
            yield doc
        row_base += table.num_rows


def read_documents(path: str | Path, options: ReadOptions | None = None,
                   stats: ReadStats | None = None,
                   quarantine: Quarantine | None = None) -> Iterator[Document]:
    """Stream the documents of one shard.

    >>> for doc in read_documents("shard.jsonl.zst"):      # doctest: +SKIP
    ...     print(doc.id, len(doc.text))
    """
    path = Path(path)
    opts = options or ReadOptions()
    stats = stats if stats is not None else ReadStats()
    container, compression = detect_format(path)
    if not path.exists():
        raise DataError("file not found", str(path))
    prefix = opts.id_prefix if opts.id_prefix is not None else path.name
    if path.stat().st_size == 0:
        stats.empty_files += 1
        return iter(())
    if container == "parquet":
        return _iter_parquet(path, opts, stats, quarantine, prefix)
    return _iter_jsonl(path, compression, opts, stats, quarantine, prefix)


# -- writing ---------------------------------------------------------------
class _PartFile:
    """One output part: uncompressed JSON bytes in, file on disk out, atomically."""

    def __init__(self, final: Path, container: str, compression: str | None, level: int,
                 text_field: str, id_field: str):
        self.final = final
        self.tmp = temp_name(final)
        self.container, self.compression = container, compression
        self.text_field, self.id_field = text_field, id_field
        self.bytes = 0
        self.documents = 0
        final.parent.mkdir(parents=True, exist_ok=True)
        self._raw = open(self.tmp, "wb")
        if container == "parquet":
            self._rows: list[dict[str, Any]] = []
            self._stream = None
        elif compression == "zstd":
            import zstandard

            self._stream = zstandard.ZstdCompressor(level=level).stream_writer(
                self._raw, closefd=False)
        elif compression == "gzip":
            # mtime=0 and no file name in the header: same input, same bytes.
            self._stream = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw,
                                         compresslevel=level, mtime=0)
        else:
            self._stream = self._raw
        # lines are handed to the (compressing) stream a megabyte at a time: one
        # call per document cost more than the compression of a short record
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def _flush_pending(self) -> None:
        if self._pending:
            self._stream.write(b"".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0

    def write(self, doc: Document) -> int:
        rec: dict[str, Any] = {self.id_field: doc.id, self.text_field: doc.text}
        if doc.metadata:
            rec["metadata"] = doc.metadata
        line = orjson.dumps(rec, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)
        if self.container == "parquet":
            self._rows.append(rec)
        else:
            self._pending.append(line)
            self._pending_bytes += len(line)
            if self._pending_bytes >= _CHUNK:
                self._flush_pending()
        self.bytes += len(line)
        self.documents += 1
        return len(line)

    def _write_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # Metadata is stored as a JSON string column: arbitrary nested metadata
        # has no single Arrow schema, and JSON keeps the round trip exact.
        table = pa.table({
            self.id_field: pa.array([r[self.id_field] for r in self._rows], pa.string()),
            self.text_field: pa.array([r[self.text_field] for r in self._rows], pa.string()),
            "metadata": pa.array([orjson.dumps(r["metadata"], option=orjson.OPT_NON_STR_KEYS)
                                  .decode() if "metadata" in r else None for r in self._rows],
                                 pa.string()),
        })
        pq.write_table(table, self._raw, compression="zstd", row_group_size=8192)

    def finish(self) -> None:
        """Flush, compress and fsync under the temporary name."""
        if self.container == "parquet":
            self._write_parquet()
        else:
            self._flush_pending()
            if self._stream is not self._raw:
                self._stream.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()

    def publish(self) -> Path:
        os.replace(self.tmp, self.final)
        return self.final

    def abort(self) -> None:
        try:
            self._raw.close()
        finally:
            self.tmp.unlink(missing_ok=True)


class ShardWriter:
    """Write documents to ``out_dir/stem.EXT``, rolling to ``stem-00001.EXT``... at a size.

    With ``max_bytes`` set every part is numbered (``stem-00000.EXT`` first),
    so names never depend on how much data arrived. Parts are written under
    temporary names; :meth:`close` makes them visible (``commit=False`` leaves
    them hidden so a caller can publish several outputs at once).
    """

    def __init__(self, out_dir: str | Path, stem: str, fmt: str = ".jsonl.zst", *,
                 max_bytes: int | None = None, compression_level: int | None = None,
                 text_field: str = "text", id_field: str = "id"):
        self.out_dir = Path(out_dir)
        self.stem = stem
        self.ext = fmt if fmt.startswith(".") else f".{fmt}"
        self.container, self.compression = detect_format(f"x{self.ext}")
        check_compression_level(self.ext, compression_level)
        self.level = compression_level if compression_level is not None else (
            3 if self.compression == "zstd" else 6)
        self.max_bytes = max_bytes
        self.text_field, self.id_field = text_field, id_field
        self._part: _PartFile | None = None
        self._finished: list[_PartFile] = []
        self.documents = 0
        self.bytes = 0

    def _part_path(self, k: int) -> Path:
        name = f"{self.stem}-{k:05d}{self.ext}" if self.max_bytes else f"{self.stem}{self.ext}"
        return self.out_dir / name

    def write(self, doc: Document) -> None:
        if self._part is None:
            self._part = _PartFile(self._part_path(len(self._finished)), self.container,
                                   self.compression, self.level, self.text_field, self.id_field)
        n = self._part.write(doc)
        self.documents += 1
        self.bytes += n
        if self.max_bytes and self._part.bytes >= self.max_bytes:
            self._roll()

    def write_all(self, docs: Iterable[Document]) -> None:
        for doc in docs:
            self.write(doc)

    def _roll(self) -> None:
        if self._part is not None:
            self._finished.append(self._part)
            self._part = None

    def close(self, commit: bool = True) -> list[Path]:
        """Finish every part and (unless ``commit=False``) publish it.

        Returns the final paths; an empty output has no parts and no files.
        With ``commit=False`` the parts stay under temporary names until
        :meth:`publish`, so a caller can make several outputs visible together.
        """
        self._roll()
        for part in self._finished:
            if not part._raw.closed:
                part.finish()
        return self.publish() if commit else [p.final for p in self._finished]

    def publish(self) -> list[Path]:
        return [p.publish() for p in self._finished]

    def abort(self) -> None:
        for part in [*self._finished, *([self._part] if self._part else [])]:
            part.abort()
        self._finished, self._part = [], None

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
