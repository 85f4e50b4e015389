"""Token shards -> fixed-length training rows, exactly as the resolved plan says.

How a phase's stream is built (deterministic given the plan's seed):

1. Each source walks its documents in a shuffled order (a fresh permutation per
   pass, seeded by ``(seed, source name, pass)``, that orders any shared prefix of
   documents alike whatever the source's size: :mod:`alignpt.train.order`). A small source simply starts
   another pass; the tokens read on passes after the first are counted as
   *repeated*. The walk position (pass, document, offset) persists across phases,
   so a later phase continues where an earlier one stopped.
2. Within a window segment, the next turn goes to the source furthest behind its
   share: the one with the largest fraction of its segment quota still owed (ties
   to the source listed first). It contributes its next document, or just the part
   of it that its quota allows. No random draw: injected documents land at the
   first document boundary after the base has reached the same fraction of its
   quota, so their places depend only on the quotas and the documents' lengths,
   never on the other sources' content, and arms of one seed stay paired. A
   document cut by a quota continues at that source's next turn (next segment or
   phase).
3. The pieces are laid end to end and cut into rows of ``seq_len + 1`` tokens.
   Documents keep their own BOS/EOS; ``append_eos`` adds an EOS to a document
   that lacks one (it counts as a token of that document).

The sampler's entire state (quotas left, source positions, the piece in
flight, accounting) is a small JSON-able dict saved in every
checkpoint, so a resumed run continues the very same stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from alignpt.core.errors import ConfigError, DataError
from alignpt.core.tokens import TokenShard, open_token_shards
from alignpt.train.config import LossMaskConfig, SourceConfig
from alignpt.train.order import doc_order
from alignpt.train.phases import ResolvedPhase
from alignpt.train.premixed import mix_origins, refuse_documents

__all__ = ["DataInfo", "SourceReader", "Rows", "Sampler", "span_mask", "eval_rows", "data_info",
           "check_token_ids", "shard_tokenizer", "token_id"]


@dataclass(frozen=True)
class DataInfo:
    """What the model and the exporter need to know about the token space."""

    vocab_size: int
    eos_id: int | None
    bos_id: int | None
    pad_id: int | None
    tokenizer: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "eos_id": self.eos_id, "bos_id": self.bos_id,
                "pad_id": self.pad_id, "tokenizer": self.tokenizer}


def shard_tokenizer(shard: TokenShard) -> dict[str, Any]:
    """The shard's tokenizer description, with a relative tokenizer file path made absolute
    (the mixer writes it relative to the shard's folder so the folder can move)."""
    tok = dict(shard.tokenizer)
    path = tok.get("path")
    if path and not Path(path).is_absolute() and (shard.path.parent / path).exists():
        tok["path"] = str((shard.path.parent / path).resolve())
    return tok


def _same_tokenizer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("sha256") and b.get("sha256"):
        return a["sha256"] == b["sha256"]
    return a == b


def token_id(tokenizer: dict[str, Any], name: str) -> int | None:
    """Id of a token given by name: from a ``vocab`` list or a Hugging Face tokenizer file."""
    if tokenizer.get("tokens"):
        names = list(tokenizer["tokens"])
        return names.index(name) if name in names else None
    if tokenizer.get("path"):
        from alignpt.core.errors import require

        tokenizers = require("tokenizers", "train", "token names in loss masks")
        p = Path(tokenizer["path"])
        return tokenizers.Tokenizer.from_file(str(p / "tokenizer.json" if p.is_dir() else p)).token_to_id(name)
    return None


def data_info(readers: Sequence["SourceReader"]) -> DataInfo:
    """Check every shard speaks the same vocabulary and return it."""
    first: TokenShard | None = None
    for reader in readers:
        for shard in reader.shards:
            if first is None:
                first = shard
                continue
            if shard.vocab_size != first.vocab_size or not _same_tokenizer(shard_tokenizer(shard),
                                                                            shard_tokenizer(first)):
                raise DataError(f"tokenizer differs from {first.path} (vocab {first.vocab_size}); "
                                f"all sources of a run must share one tokenizer", str(shard.path))
    assert first is not None
    m = first.meta
    return DataInfo(first.vocab_size, m.get("eos_id"), m.get("bos_id"), m.get("pad_id"),
                    shard_tokenizer(first))


def check_token_ids(readers: Sequence["SourceReader"], vocab_size: int) -> None:
    """Refuse a shard holding a token id the model cannot embed.

    Such an id would otherwise surface at the first batch that holds it, as an
    IndexError traceback on CPU or a device-side assert on GPU. One max pass (and a
    min pass for a signed dtype) over each memory-mapped shard, once, before the first step.
    """
    seen: set[Path] = set()
    for reader in readers:
        for shard in reader.shards:
            if shard.path in seen or shard.n_tokens == 0:
                continue
            seen.add(shard.path)
            tokens = shard.tokens
            top = int(tokens.max())
            bad = top if top >= vocab_size else None
            if bad is None and np.issubdtype(tokens.dtype, np.signedinteger) and int(tokens.min()) < 0:
                bad = int(tokens.min())
            if bad is None:
                continue
            # Only on failure: where the first such id sits, so the user can find the document.
            pos = int(np.argmax(tokens == bad))
            doc = int(np.searchsorted(np.asarray(shard.docs[:, 1]), pos, side="right"))
            raise DataError(f"token id {bad} is outside the model's vocabulary of {vocab_size} "
                            f"(the shard declares vocab_size {shard.vocab_size})",
                            str(shard.path.with_suffix(".bin")), where=f"document {doc}")


def span_mask(ids: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Boolean loss mask of one document (see :class:`LossMaskConfig`).

    Token ``i`` is trained iff the most recent start/end token *before* it is a start.

    >>> span_mask(np.array([1, 9, 5, 6, 8, 4]), np.array([9]), np.array([8])).astype(int).tolist()
    [0, 0, 1, 1, 1, 0]
    """
    event = np.zeros(ids.size, dtype=np.int8)
    event[np.isin(ids, start)] = 1
    event[np.isin(ids, end)] = -1
    idx = np.where(event != 0, np.arange(ids.size), -1)
    last = np.maximum.accumulate(idx) if ids.size else idx
    # shift by one: what governs token i is the last event at a position < i
    prev = np.concatenate(([-1], last[:-1])) if ids.size else last
    return (prev >= 0) & (event[np.maximum(prev, 0)] == 1)


class SourceReader:
    """Documents of one source: shards, an optional shard-source filter, masks, EOS."""

    def __init__(self, name: str, cfg: SourceConfig, seed: int):
        self.name, self.cfg, self.seed = name, cfg, seed
        refuse_documents(name, cfg.paths)
        self.shards = open_token_shards(cfg.paths)
        self.selected: list[np.ndarray | None] = []
        for shard in self.shards:
            if cfg.select is None:
                self.selected.append(None)
                continue
            wanted = [i for i, s in enumerate(shard.sources) if s in set(cfg.select)]
            self.selected.append(np.flatnonzero(np.isin(np.asarray(shard.docs[:, 2]), wanted)))
        counts = [len(s) if s is not None else sh.n_documents for s, sh in zip(self.selected, self.shards)]
        self._cum = np.cumsum([0, *counts])
        self.n_docs = int(self._cum[-1])
        if self.n_docs == 0:
            what = f" of shard source(s) {cfg.select}" if cfg.select else ""
            raise DataError(f"source {name!r} has no documents{what}", str(cfg.paths[0]))
        self.eos_id = self.shards[0].eos_id
        self.origins, self._origin_maps = mix_origins(self.shards, cfg.select)
        self._start_ids, self._end_ids = self._mask_ids(cfg.loss_mask)
        self._perm: tuple[int, np.ndarray] | None = None
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    def _mask_ids(self, mc: LossMaskConfig) -> tuple[np.ndarray, np.ndarray]:
        tokenizer = shard_tokenizer(self.shards[0])

        def ids(items: list[int | str]) -> np.ndarray:
            out = []
            for t in items:
                i = t if isinstance(t, int) else token_id(tokenizer, t)
                if i is None:
                    raise ConfigError(f"sources.{self.name}.loss_mask: token {t!r} is not in the "
                                      f"shards' vocabulary (use a token id)")
                out.append(i)
            return np.asarray(out, dtype=np.int64)

        return ids(mc.start), ids(mc.end)

    def doc_at(self, epoch: int, pos: int) -> int:
        """Global index of the ``pos``-th document of pass ``epoch``.

        The shuffle (:func:`alignpt.train.order.doc_order`) does not depend on the
        number of documents, so runs of one seed that read one corpus (or corpora
        that extend one another) read the shared documents in one order.
        """
        if not self.cfg.shuffle:
            return pos
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, doc_order(self.n_docs, self.seed, self.name, epoch))
        return int(self._perm[1][pos])

    def _locate(self, doc: int) -> tuple[int, int]:
        """(shard, document in that shard) of a global document index."""
        j = int(np.searchsorted(self._cum, doc, side="right")) - 1
        local = doc - int(self._cum[j])
        sel = self.selected[j]
        return j, (int(sel[local]) if sel is not None else local)

    def origin_of(self, doc: int) -> int:
        """Index in :attr:`origins` of the source a pre-mixed document came from
        (0 when the shards are not a mix output)."""
        if not self.origins:
            return 0
        j, local = self._locate(doc)
        return int(self._origin_maps[j][int(self.shards[j].docs[local, 2])])

    def get(self, doc: int) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (int64, EOS appended if configured) and loss mask of a document."""
        if self._cache is not None and self._cache[0] == doc:
            return self._cache[1], self._cache[2]
        j, local = self._locate(doc)
        start, end, _ = self.shards[j].docs[local]
        ids = np.asarray(self.shards[j].tokens[start:end], dtype=np.int64)
        if self.cfg.append_eos and self.eos_id is not None and (ids.size == 0 or ids[-1] != self.eos_id):
            ids = np.append(ids, self.eos_id)
        mask = span_mask(ids, self._start_ids, self._end_ids) if self._start_ids.size \
            else np.ones(ids.size, dtype=bool)
        self._cache = (doc, ids, mask)
        return ids, mask


@dataclass
class Rows:
    """A batch of rows: ``tokens`` (n, seq_len+1) int64; ``mask``/``source`` per token.

    ``mask[r, t]`` says whether token t carries loss as a target; ``source[r, t]``
    is the index of its source in the plan's ``sources`` (for per-source loss).
    For per-document attention: ``doc[r, t]`` numbers the document segments of row
    r from 0 (a new segment wherever a token does not continue the previous one's
    document) and ``offset[r, t]`` is the token's offset in its own document, so a
    row that starts inside a document says how far in (int32 both).
    ``account[r, t]`` is the index of the token's accounting name in
    :attr:`Sampler.labels`: its plan source, or for a pre-mixed source its
    original source (``data/aligned``), so per-source loss survives a mix.
    """

    tokens: np.ndarray
    mask: np.ndarray
    source: np.ndarray
    doc: np.ndarray | None = None
    offset: np.ndarray | None = None
    account: np.ndarray | None = None


def _segments(new: np.ndarray) -> np.ndarray:
    """Per-row segment numbers from a (rows, row_len) 'a document starts here' flag.

    Every row opens a segment at its first token, whatever the flag says there.
    """
    new = new.copy()
    new[:, 0] = True
    return np.cumsum(new, axis=1, dtype=np.int32) - 1


class Sampler:
    """Realises resolved phases as rows; ``state_dict()`` captures everything needed to resume."""

    def __init__(self, readers: dict[str, SourceReader], phases: Sequence[ResolvedPhase],
                 seed: int, row_len: int):
        self.readers, self.phases, self.seed, self.row_len = readers, list(phases), seed, row_len
        self.source_ids = {name: i for i, name in enumerate(readers)}
        # Accounting names: a plan source, or "source/original" for each original source
        # of a pre-mixed one (its documents carry the name mix gave them).
        self.labels: list[str] = []
        self.label_base: dict[str, int] = {}
        for name, reader in readers.items():
            self.label_base[name] = len(self.labels)
            self.labels += [f"{name}/{o}" for o in reader.origins] or [name]
        self.cursors = {name: [0, 0, 0] for name in readers}  # pass, position, offset
        self.phase = -1
        self.accounting = [self._empty_account(ph) for ph in self.phases]

    def _origin_labels(self, ph: ResolvedPhase) -> list[str]:
        return [f"{s}/{o}" for s in ph.sources for o in self.readers[s].origins]

    def _empty_account(self, ph: ResolvedPhase) -> dict[str, Any]:
        per_src = {s: {"consumed": 0, "loss_tokens": 0, "documents": 0, "repeated": 0} for s in ph.sources}
        out = {"segments": [{s: 0 for s in ph.sources} for _ in ph.segments], "sources": per_src}
        origins = self._origin_labels(ph)
        if origins:
            out["origins"] = {o: {"consumed": 0, "loss_tokens": 0, "documents": 0}
                              for o in origins}
        return out

    def _label(self, source: str, doc: int) -> int:
        return self.label_base[source] + self.readers[source].origin_of(doc)

    # -- phase control ---------------------------------------------------
    def start_phase(self, index: int) -> None:
        self.phase, self.segment = index, 0
        self.seg_left = dict(self.phases[index].segments[0].quotas)
        self.piece: list[Any] | None = None  # [source, doc, cur, end, pass]

    def next_rows(self, n_rows: int) -> Rows:
        n = n_rows * self.row_len
        tok = np.empty(n, dtype=np.int64)
        mask = np.empty(n, dtype=bool)
        src = np.empty(n, dtype=np.int16)
        new = np.zeros(n, dtype=bool)
        off = np.empty(n, dtype=np.int32)
        account = np.empty(n, dtype=np.int16)
        acc = self.accounting[self.phase]
        origins = acc.get("origins")
        seg_acc = acc["segments"][self.segment] if self.segment < len(acc["segments"]) else None
        pos = 0
        prev: tuple[str, int, int, int] | None = None  # (source, doc, pass, end) of the last piece
        while pos < n:
            if self.piece is None:
                self._next_piece()
                seg_acc = acc["segments"][self.segment]
            s, doc, cur, end, epoch = self.piece
            ids, dmask = self.readers[s].get(doc)
            k = min(end - cur, n - pos)
            tok[pos:pos + k] = ids[cur:cur + k]
            mask[pos:pos + k] = dmask[cur:cur + k]
            src[pos:pos + k] = self.source_ids[s]
            label = self._label(s, doc)
            account[pos:pos + k] = label
            if self.readers[s].origins:
                origins[self.labels[label]]["consumed"] += k
            # A piece continues the segment before it only when it is the very next
            # stretch of the same document (a quota cut and picked up at once).
            new[pos] = prev != (s, doc, epoch, cur)
            off[pos:pos + k] = np.arange(cur, cur + k, dtype=np.int32)
            prev = (s, doc, epoch, cur + k)
            seg_acc[s] += k
            acc["sources"][s]["consumed"] += k
            if epoch > 0:
                acc["sources"][s]["repeated"] += k
            pos += k
            self.piece = None if cur + k == end else [s, doc, cur + k, end, epoch]
        shape = (n_rows, self.row_len)
        rows = Rows(tok.reshape(shape), mask.reshape(shape), src.reshape(shape),
                    _segments(new.reshape(shape)), off.reshape(shape), account.reshape(shape))
        # Loss-bearing tokens: targets are positions 1.. of each row.
        trained = np.bincount(rows.source[:, 1:][rows.mask[:, 1:]].ravel(), minlength=len(self.source_ids))
        for name, i in self.source_ids.items():
            if trained[i] and name in acc["sources"]:
                acc["sources"][name]["loss_tokens"] += int(trained[i])
        if origins:
            per_label = np.bincount(rows.account[:, 1:][rows.mask[:, 1:]].ravel(),
                                    minlength=len(self.labels))
            for i in np.flatnonzero(per_label):
                if self.labels[i] in origins:
                    origins[self.labels[i]]["loss_tokens"] += int(per_label[i])
        return rows

    def _next_piece(self) -> None:
        ph = self.phases[self.phase]
        while sum(self.seg_left.values()) == 0:
            self.segment += 1
            if self.segment >= len(ph.segments):
                raise RuntimeError(f"phase {ph.name} has no tokens left (the plan was overrun)")
            self.seg_left = dict(ph.segments[self.segment].quotas)
        quota = ph.segments[self.segment].quotas
        names = [s for s in ph.sources if self.seg_left.get(s, 0) > 0]
        # Exact rationals: the choice must not hang on float rounding of two equal shares.
        s = max(names, key=lambda n: Fraction(self.seg_left[n], quota[n]))
        reader, cursor = self.readers[s], self.cursors[s]
        empty_run = 0
        while True:
            doc = reader.doc_at(cursor[0], cursor[1])
            length = reader.get(doc)[0].size
            if length > cursor[2]:
                break
            empty_run += 1  # an empty document (possible only without append_eos)
            if empty_run > reader.n_docs:
                raise DataError(f"source {s!r} has only empty documents", str(reader.cfg.paths[0]))
            self._advance(s)
        take = min(length - cursor[2], self.seg_left[s])
        if cursor[2] == 0:
            acc = self.accounting[self.phase]
            acc["sources"][s]["documents"] += 1
            if reader.origins:
                acc["origins"][self.labels[self._label(s, doc)]]["documents"] += 1
        self.piece = [s, doc, cursor[2], cursor[2] + take, cursor[0]]
        cursor[2] += take
        if cursor[2] == length:
            self._advance(s)
        self.seg_left[s] -= take

    def _advance(self, s: str) -> None:
        cursor = self.cursors[s]
        cursor[1], cursor[2] = cursor[1] + 1, 0
        if cursor[1] == self.readers[s].n_docs:
            cursor[0], cursor[1] = cursor[0] + 1, 0

    def passes(self, s: str) -> float:
        """How many times the source has been read through (fractional)."""
        c = self.cursors[s]
        return c[0] + c[1] / self.readers[s].n_docs

    # -- state -----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        in_phase = self.phase >= 0
        return {
            "phase": self.phase,
            "segment": self.segment if in_phase else 0,
            "seg_left": dict(self.seg_left) if in_phase else {},
            "piece": list(self.piece) if in_phase and self.piece else None,
            "cursors": {k: list(v) for k, v in self.cursors.items()},
            "accounting": self.accounting,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import copy

        self.cursors = {k: list(v) for k, v in state["cursors"].items()}
        self.accounting = copy.deepcopy(state["accounting"])
        for ph, acc in zip(self.phases, self.accounting):
            # a checkpoint from before pre-mixed sources were broken down: start them now
            if "origins" not in acc and self._origin_labels(ph):
                acc["origins"] = self._empty_account(ph)["origins"]
        self.phase = state["phase"]
        if self.phase >= 0:
            self.start_phase(self.phase)
            self.segment = state["segment"]
            self.seg_left = dict(state["seg_left"])
            self.piece = list(state["piece"]) if state["piece"] else None


def eval_rows(reader: SourceReader, n_tokens: int, row_len: int) -> Rows:
    """Fixed held-out rows: documents in file order, packed, cut to whole rows."""
    want = max(1, n_tokens // row_len) * row_len
    parts, masks, offs, got = [], [], [], 0
    for doc in range(reader.n_docs):
        ids, m = reader.get(doc)
        parts.append(ids)
        masks.append(m)
        offs.append(np.arange(ids.size, dtype=np.int32))
        got += ids.size
        if got >= want:
            break
    n = (min(got, want) // row_len) * row_len
    if n == 0:
        raise DataError(f"eval set {reader.name!r} has fewer than {row_len} tokens",
                        str(reader.cfg.paths[0]))
    tok = np.concatenate(parts)[:n].reshape(-1, row_len)
    mask = np.concatenate(masks)[:n].reshape(-1, row_len)
    off = np.concatenate(offs)[:n].reshape(-1, row_len)
    zeros = np.zeros_like(tok, dtype=np.int16)
    return Rows(tok, mask, zeros, _segments(off == 0), off, zeros)
