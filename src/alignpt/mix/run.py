"""Run a mix recipe: tokenize (cached), plan, and write every group's parts, resumably.

Output folder::

    OUT/config.yaml  plan.json  manifest.json  stats.json  tokenizer.json
    OUT/native/<group>/part-00000.{bin,docs.npy,json,origin.npy}
    OUT/megatron/<group>/part-00000.{bin,idx}
    OUT/parquet/<group>/part-00000.parquet
    OUT/.alignpt/cache/  (token cache, unless --cache points elsewhere)
    OUT/.alignpt/index/  (per-source document index)   OUT/.alignpt/done/ (part markers)
    OUT/.alignpt/lock    (held while a run writes the folder)

The stream is a pure function of the recipe, the tokenizer and the inputs, so a
rerun recomputes it cheaply (document indices only) and writes just the parts
without a completion marker from the same run hash: a killed run resumes and
ends byte-identical to an uninterrupted one. ``manifest.json`` is written last.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import orjson

from alignpt.core.atomic import atomic_write_text, stable_hash
from alignpt.core.config import write_resolved_config
from alignpt.core.outdir import OutputLock, check_output_apart, clean_stale_temporaries
from alignpt.mix.encode import CACHE_VERSION, EncodeStats, read_ids
from alignpt.mix.manifest import MANIFEST_FORMAT, MANIFEST_VERSION, check_manifest
from alignpt.mix.permute import derive_key
from alignpt.mix.plan import MixPlan, Segment, resolve_plan
from alignpt.mix.recipe import FORMATS, MixRecipe
from alignpt.mix.sources import PreparedSource, build_index, prepare_sources
from alignpt.mix.stream import Pieces, SourceWalker, interleave
from alignpt.mix.tokenizer import MixTokenizer, load_tokenizer
from alignpt.mix.writers import Batch, PartContext, open_part_writers

__all__ = ["MixResult", "run_mix", "Group", "groups_of"]

_DONE = Path(".alignpt/done")


@dataclass
class Group:
    """One token stream with its own files: a phase's mix, or one separate source."""

    name: str
    phase: str
    kind: str                      # "stream" | "separate"
    segments: list[Segment]

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.segments)


def groups_of(plan: MixPlan) -> list[Group]:
    out = []
    for ph in plan.phases:
        if ph.segments:
            out.append(Group(ph.name, ph.name, "stream", ph.segments))
        for src, n in ph.separate.items():
            out.append(Group(f"{ph.name}.{src}", ph.name, "separate", [Segment(0, 0, n, {src: n})]))
    return out


@dataclass
class MixResult:
    out_dir: Path
    plan: MixPlan
    encode: EncodeStats
    manifest: dict[str, Any] | None = None
    parts_written: int = 0
    parts_resumed: int = 0
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)


class _Mixer:
    """Turns a resolved plan into files; holds what every part needs."""

    def __init__(self, recipe: MixRecipe, out: Path, tok: MixTokenizer,
                 sources: dict[str, PreparedSource], plan: MixPlan, run_hash: str):
        self.recipe, self.out, self.tok, self.plan = recipe, out, tok, plan
        self.sources = sources
        self.names = list(recipe.sources)
        self.run_hash = run_hash
        self.input_base: dict[str, int] = {}
        self.inputs: list[str] = []
        for name in self.names:
            self.input_base[name] = len(self.inputs)
            self.inputs += [str(p) for p in sources[name].inputs]
        self.source_input_base = np.array([self.input_base[n] for n in self.names], np.int64)
        self.ctx = PartContext(out, tok.vocab_size, tok.dtype, tok.eos_id, out / "tokenizer.json",
                               lambda rel: tok.spec(rel, out / "tokenizer.json"), self.names,
                               {"recipe": recipe.name, "seed": recipe.seed})
        self.written = self.resumed = 0

    # -- reading tokens -------------------------------------------------------------
    def gather(self, pieces: Pieces) -> Batch:
        """Copy the pieces' tokens out of the cache, in stream order."""
        out = np.empty(int(pieces.length.sum()), dtype=self.tok.dtype)
        dst = np.concatenate(([0], np.cumsum(pieces.length)[:-1]))
        want_ids = "parquet" in self.recipe.output.formats
        ids = np.empty(len(pieces), dtype=object) if want_ids else None
        key = pieces.source.astype(np.int64) << 32 | pieces.file
        for k in np.unique(key):
            sel = np.flatnonzero(key == k)
            src = self.sources[self.names[int(k >> 32)]]
            stem = src.stems[int(k & 0xFFFFFFFF)]
            # a fresh map per batch: pages read here leave memory with it
            mm = np.memmap(str(stem) + ".bin", dtype=self.tok.dtype, mode="r")
            for i in sel:
                a, n, d = pieces.start[i], pieces.length[i], dst[i]
                out[d:d + n] = mm[a:a + n]
            del mm
            if want_ids:
                ids[sel] = read_ids(stem).take(pieces.doc[sel]).to_pylist()
        inputs = self.source_input_base[pieces.source] + pieces.file
        return Batch(out, pieces.length, pieces.source, pieces.segment, inputs.astype(np.int32),
                     pieces.doc, pieces.offset, pieces.epoch,
                     list(ids) if want_ids else None)

    # -- one group ------------------------------------------------------------------
    def pieces(self, group: Group, walkers: dict[str, SourceWalker]) -> Iterator[Pieces]:
        chunk = self.recipe.output.chunk_tokens
        if group.kind == "separate":
            (src, quota), = group.segments[0].quotas.items()
            yield from walkers[src].take(quota, 0)
            return
        for seg in group.segments:
            lanes = [(walkers[s].take(q, seg.index), q) for s, q in seg.quotas.items()]
            key = derive_key(self.recipe.seed, "segment", group.phase, seg.index)
            yield from interleave(lanes, key, seg.tokens, chunk)

    def marker(self, group: str, part: int) -> Path:
        return self.out / _DONE / group / f"part-{part:05d}.json"

    def finished(self, group: str, part: int) -> dict[str, Any] | None:
        try:
            m = orjson.loads(self.marker(group, part).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        entry = m.get("entry") or {}
        files = [f for fs in entry.get("files", {}).values() for f in fs]
        if m.get("run_hash") != self.run_hash or not all((self.out / f).exists() for f in files):
            return None
        return entry

    def write_group(self, group: Group, walkers: dict[str, SourceWalker],
                    advance) -> list[dict[str, Any]]:
        limit = self.recipe.output.max_tokens_per_file
        chunk_tokens = self.recipe.output.chunk_tokens
        entries: list[dict[str, Any]] = []
        part: _Part | None = None
        pos = 0
        for chunk in self.pieces(group, walkers):
            while len(chunk):
                if part is None:
                    part = _Part(self, group.name, len(entries), pos)
                cum = np.cumsum(chunk.length)
                n_roll = int(np.searchsorted(part.tokens + cum, limit, side="left")) + 1
                n_size = max(1, int(np.searchsorted(cum, chunk_tokens, side="right")))
                n = min(len(chunk), n_roll, n_size)
                sub, chunk = chunk.take(slice(0, n)), chunk.take(slice(n, None))
                part.add(sub)
                pos += int(sub.length.sum())
                advance(int(sub.length.sum()))
                if part.tokens >= limit:
                    entries.append(part.finish())
                    part = None
        if part is not None:
            entries.append(part.finish())
        return entries


class _Part:
    """One part of a group: accounts every piece; writes it unless already done."""

    def __init__(self, mixer: _Mixer, group: str, index: int, first_token: int):
        self.mixer, self.group, self.index = mixer, group, index
        self.first_token = first_token
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.repeated: Counter = Counter()
        self.documents = self.tokens = 0
        self.done = mixer.finished(group, index)
        self.writers = ([] if self.done is not None else
                        open_part_writers(mixer.recipe.output.formats, mixer.ctx, group, index))

    def add(self, pieces: Pieces) -> None:
        names = self.mixer.names
        for s in np.unique(pieces.source):
            mine = pieces.source == s
            segs, tokens = np.unique(pieces.segment[mine], return_inverse=True)
            per_seg = np.bincount(tokens, weights=pieces.length[mine])
            for seg, n in zip(segs, per_seg):
                self.counts[names[s]][str(int(seg))] += int(n)
            rep = int(pieces.length[mine & (pieces.epoch > 0)].sum())
            if rep:
                self.repeated[names[s]] += rep
        self.documents += len(pieces)
        self.tokens += int(pieces.length.sum())
        if self.writers:
            try:
                batch = self.mixer.gather(pieces)
                for w in self.writers:
                    w.write(batch)
            except BaseException:
                for w in self.writers:
                    w.abort()
                raise

    def finish(self) -> dict[str, Any]:
        entry = {"part": self.index, "first_token": self.first_token,
                 "documents": self.documents, "tokens": self.tokens,
                 "counts": {s: dict(c) for s, c in self.counts.items()},
                 "repeated": dict(self.repeated),
                 "files": {fmt: [f"{fmt}/{self.group}/part-{self.index:05d}{ext}"
                                 for ext in _EXTS[fmt]] for fmt in self.mixer.recipe.output.formats}}
        if self.done is not None:
            if self.done != entry:
                raise AssertionError(f"{self.group} part {self.index}: recomputed accounting "
                                     "differs from the finished part's marker")
            self.mixer.resumed += 1
            return entry
        for w in self.writers:
            w.close()
        atomic_write_text(self.mixer.marker(self.group, self.index),
                          orjson.dumps({"run_hash": self.mixer.run_hash, "entry": entry}).decode())
        self.mixer.written += 1
        return entry


_EXTS = {"native": (".bin", ".docs.npy", ".json", ".origin.npy"), "megatron": (".bin", ".idx"),
         "parquet": (".parquet",)}


def _run_hash(recipe: MixRecipe, tok: MixTokenizer, sources: dict[str, PreparedSource]) -> str:
    body = recipe.model_dump(mode="json", by_alias=True)
    body["output"].pop("chunk_tokens", None)   # changes memory use, never the bytes
    # cache entry names (not paths) carry the inputs' fingerprints; where the cache lives
    # does not change the output
    files = {n: [[f"{s.parent.name}/{s.name}" for s in p.stems],
                 [m.name if m is not None else None for m in p.masks]]
             for n, p in sources.items()}
    return stable_hash([CACHE_VERSION, MANIFEST_VERSION, body, tok.sha256, files], 20)


def _clean(out: Path, keep: set[str] | None) -> None:
    """Drop temporary files of killed writers; with ``keep``, also stale outputs."""
    for top in (*FORMATS, str(_DONE)):
        root = out / top
        if not root.is_dir():
            continue
        for f in sorted(root.rglob("*")):
            if not f.is_file():
                continue
            rel = str(f.relative_to(out))
            stale = keep is not None and top in FORMATS and rel not in keep
            if (f.name.startswith(".") and ".tmp-" in f.name) or stale:
                f.unlink()


def run_mix(recipe: MixRecipe, out_dir: str | Path, *, cache_dir: str | Path | None = None,
            workers: int = 1, progress: bool = True, dry_run: bool = False) -> MixResult:
    """Build ``out_dir`` from ``recipe``: the plan, every format's files, the manifest.

    ``dry_run`` tokenizes (into the cache) and plans, but writes no output files.
    An ``out_dir`` that is, contains or lies inside an input is refused, and one run
    at a time holds it (:mod:`alignpt.core.outdir`).
    """
    out = Path(out_dir)
    check_output_apart(out, [p for spec in recipe.sources.values() for p in spec.inputs])
    with OutputLock(out):
        return _build(recipe, out, cache_dir, workers, progress, dry_run)


def _build(recipe: MixRecipe, out: Path, cache_dir: str | Path | None, workers: int,
           progress: bool, dry_run: bool) -> MixResult:
    started = time.perf_counter()
    t = recipe.tokenizer
    tok = load_tokenizer(t.path, t.eos_token, t.split_special_tokens)
    cache = Path(cache_dir) if cache_dir is not None else out / ".alignpt" / "cache"
    # half-written cache entries and indices of killed runs (a shared cache may also
    # hold a live run's: those are kept)
    clean_stale_temporaries(out / ".alignpt")
    if cache_dir is not None:
        clean_stale_temporaries(cache)
    sources, enc = prepare_sources(recipe.sources, cache, tok, workers, progress)
    plan = resolve_plan(recipe, {n: s.size for n, s in sources.items()})
    result = MixResult(out, plan, enc)
    if dry_run:
        return result
    out.mkdir(parents=True, exist_ok=True)
    # the manifest says "finished": drop it first, so a half-rewritten folder never looks done
    (out / "manifest.json").unlink(missing_ok=True)
    _clean(out, None)
    run_hash = _run_hash(recipe, tok, sources)
    shutil.copyfile(tok.path, out / "tokenizer.json")
    if tok.path.with_name("tokenizer_config.json").is_file():
        shutil.copyfile(tok.path.with_name("tokenizer_config.json"), out / "tokenizer_config.json")
    mixer = _Mixer(recipe, out, tok, sources, plan, run_hash)
    write_resolved_config(out, recipe, mixer.inputs,
                          extra={"run_hash": run_hash, "cache": str(cache)})
    atomic_write_text(out / "plan.json", orjson.dumps(plan.to_dict(),
                                                      option=orjson.OPT_INDENT_2).decode())
    walkers = {}
    for i, name in enumerate(mixer.names):
        index = build_index(sources[name], out / ".alignpt" / "index" / f"{name}.bin")
        walkers[name] = SourceWalker(i, name, index, sources[name].documents,
                                     sources[name].tokens, recipe.seed)
    groups = groups_of(plan)
    from alignpt.core.console import RateColumn, progress_bar

    with progress_bar(RateColumn("tokens", "tok/s"), disable=not progress) as bar:
        tid = bar.add_task("mix", total=sum(g.tokens for g in groups), tokens=0)

        def advance(n: int) -> None:
            bar.update(tid, advance=n, tokens=bar.tasks[tid].fields["tokens"] + n)

        written = [(g, mixer.write_group(g, walkers, advance)) for g in groups]
    manifest = _manifest(recipe, tok, mixer, plan, written)
    check_manifest(manifest)
    _clean(out, {f for _, parts in written for p in parts for fs in p["files"].values()
                 for f in fs})
    result.manifest = manifest
    result.parts_written, result.parts_resumed = mixer.written, mixer.resumed
    result.seconds = round(time.perf_counter() - started, 4)
    result.stats = {"encode": {k: getattr(enc, k) for k in ("files", "files_cached", "documents",
                                                             "bytes", "tokens", "seconds")},
                    "parts_written": mixer.written, "parts_resumed": mixer.resumed,
                    "tokens": sum(g.tokens for g in groups), "wall_seconds": result.seconds}
    atomic_write_text(out / "stats.json", orjson.dumps(result.stats,
                                                       option=orjson.OPT_INDENT_2).decode())
    atomic_write_text(out / "manifest.json", orjson.dumps(manifest,
                                                          option=orjson.OPT_INDENT_2).decode())
    return result


def _manifest(recipe: MixRecipe, tok: MixTokenizer, mixer: _Mixer, plan: MixPlan,
              written: list[tuple[Group, list[dict[str, Any]]]]) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "recipe": recipe.name,
        "seed": recipe.seed, "run_hash": mixer.run_hash,
        "tokenizer": tok.spec(mixer.out, mixer.out / "tokenizer.json"),
        "vocab_size": tok.vocab_size, "eos_id": tok.eos_id, "dtype": tok.dtype.name,
        "formats": list(recipe.output.formats), "sources": mixer.names, "inputs": mixer.inputs,
        "source_inputs": {n: [mixer.input_base[n], mixer.input_base[n] +
                              len(mixer.sources[n].inputs)] for n in mixer.names},
        "plan": plan.to_dict(),
        "groups": [{"name": g.name, "phase": g.phase, "kind": g.kind, "tokens": g.tokens,
                    "segments": [{"index": s.index, "start": s.start, "end": s.end,
                                  "quotas": s.quotas} for s in g.segments],
                    "parts": parts} for g, parts in written],
    }
