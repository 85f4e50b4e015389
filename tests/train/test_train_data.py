from __future__ import annotations

import json

import numpy as np
import pytest

from alignpt.core.errors import ConfigError
from alignpt.core.tokens import TokenShard, TokenShardWriter
from alignpt.train.config import SourceConfig, TrainPlan
from alignpt.train.data import Sampler, SourceReader, eval_rows, span_mask
from alignpt.train.order import doc_order
from alignpt.train.phases import resolve_phases
from tests.train.train_world import ID, TOKENIZER, VOCAB, tiny_plan, write_world


def _sampler(plan: TrainPlan) -> tuple[Sampler, list]:
    phases = resolve_phases(plan)
    readers = {n: SourceReader(n, c, plan.seed) for n, c in plan.sources.items()}
    return Sampler(readers, phases, plan.seed, plan.row_tokens), phases


def _run_phase(s: Sampler, phases, i: int, batch: int):
    s.start_phase(i)
    return [s.next_rows(batch) for _ in range(phases[i].steps)]


def test_span_mask():
    A, E, T, C = ID["ASSIST"], ID["EOS"], ID["T"], ID["C"]
    doc = np.array([ID["BOS"], A, T, C, E])
    assert span_mask(doc, np.array([A]), np.array([], dtype=int)).tolist() == [0, 0, 1, 1, 1]
    # two assistant turns closed by an end token (LOG here), which is itself trained
    L = ID["LOG"]
    doc = np.array([1, A, T, L, C, A, C, L, T])
    assert span_mask(doc, np.array([A]), np.array([L])).astype(int).tolist() == [0, 0, 1, 1, 0, 0, 1, 1, 0]


def test_windows_are_exact_to_the_token(world):
    plan = tiny_plan(world, batch_size=4, seq_len=31)
    plan["phases"] = [{"name": "p", "steps": 40, "mix": [
        "base",
        {"source": "inject", "share": 0.1, "window": "last 25%"},
        {"source": "instruct", "tokens": 700, "window": "first 20%"}]}]
    plan = TrainPlan.model_validate(plan)
    sampler, phases = _sampler(plan)
    batches = _run_phase(sampler, phases, 0, plan.batch_size)
    ids = sampler.source_ids
    for seg, consumed in zip(phases[0].segments, sampler.accounting[0]["segments"]):
        rows = np.concatenate([b.source for b in batches[seg.start_step:seg.end_step]])
        counted = {s: int((rows == ids[s]).sum()) for s in phases[0].sources}
        assert counted == {s: seg.quotas.get(s, 0) for s in phases[0].sources}   # from the rows
        assert consumed == counted                                              # and the table
    srcs = sampler.accounting[0]["sources"]
    assert {s: v["consumed"] for s, v in srcs.items()} == {"base": 5120 - 512 - 700, "inject": 512,
                                                          "instruct": 700}
    # inject appears only in steps 30-39, instruct only in steps 0-7 (a long base document
    # may fill a whole step between two injected ones: presence in every step is not promised)
    per_step = [{s for s in ids if (b.source == ids[s]).any()} for b in batches]
    inject_steps = {i for i, x in enumerate(per_step) if "inject" in x}
    instruct_steps = {i for i, x in enumerate(per_step) if "instruct" in x}
    assert inject_steps <= set(range(30, 40)) and len(inject_steps) >= 5
    assert instruct_steps <= set(range(0, 8)) and len(instruct_steps) >= 4


def test_interleave_is_proportional_and_has_no_random_draw(world):
    """The next turn goes to the source furthest behind its share, so the injected
    documents' places depend on the quotas and document lengths only: two seeds' samplers
    (whose document orders differ) still place injected tokens at the quota's pace."""
    plan = tiny_plan(world, batch_size=4, seq_len=31)
    plan["phases"] = [{"name": "p", "steps": 40, "mix": ["base", {"source": "inject", "share": 0.2}]}]
    plan = TrainPlan.model_validate(plan)
    sampler, phases = _sampler(plan)
    batches = _run_phase(sampler, phases, 0, plan.batch_size)
    stream = np.concatenate([b.source.ravel() for b in batches])
    inject = (stream == sampler.source_ids["inject"]).cumsum()
    base = (stream == sampler.source_ids["base"]).cumsum()
    quota = phases[0].segments[0].quotas
    # After every token, the two sources' fractions of their quotas differ by at most one
    # document's worth of the source's own quota (a turn lasts one document).
    step = max(max(len(d) for d in _all_docs(world[name])) / quota[name]
               for name in ("base", "inject"))
    lag = np.abs(inject / quota["inject"] - base / quota["base"])
    assert lag.max() <= step
    assert inject[-1] == quota["inject"] and base[-1] == quota["base"]


def _all_docs(path, eos=True):
    shard = TokenShard(path)
    return [list(shard.document(i)) for i in range(shard.n_documents)]


def test_packing_preserves_the_document_stream_across_phases(world):
    plan = tiny_plan(world, batch_size=3, seq_len=20)
    plan["sources"]["base"]["shuffle"] = False
    plan["phases"] = [{"name": "a", "steps": 5, "mix": ["base"]}, {"name": "b", "steps": 4, "mix": ["base"]}]
    plan = TrainPlan.model_validate(plan)
    sampler, phases = _sampler(plan)
    stream = [b.tokens.ravel() for i in range(2) for b in _run_phase(sampler, phases, i, 3)]
    stream = np.concatenate(stream).tolist()
    expected = [t for d in _all_docs(world["base"]) for t in d][:len(stream)]
    assert stream == expected  # rows cut one continuous stream; phase b continues phase a
    assert len(stream) == 9 * 3 * 21


def test_determinism_and_seed(world):
    plan = TrainPlan.model_validate(tiny_plan(world))
    a = _run_phase(*_sampler(plan), 0, 8)
    b = _run_phase(*_sampler(plan), 0, 8)
    c = _run_phase(*_sampler(plan.model_copy(update={"seed": 1})), 0, 8)
    assert all((x.tokens == y.tokens).all() for x, y in zip(a, b))
    assert any((x.tokens != y.tokens).any() for x, y in zip(a, c))


def test_state_dict_resumes_the_same_stream(world):
    plan = TrainPlan.model_validate(tiny_plan(world))
    s1, phases = _sampler(plan)
    s1.start_phase(0)
    for _ in range(19):
        s1.next_rows(8)
    state = json.loads(json.dumps(s1.state_dict()))  # survives JSON
    s2, _ = _sampler(plan)
    s2.load_state_dict(state)
    for _ in range(5):
        x, y = s1.next_rows(8), s2.next_rows(8)
        assert (x.tokens == y.tokens).all() and (x.mask == y.mask).all() and (x.source == y.source).all()
    assert s1.state_dict() == s2.state_dict()


def test_small_source_repeats_are_recorded(world):
    shard = TokenShard(world["inject"])
    plan = tiny_plan(world)
    plan["phases"] = [{"name": "p", "steps": 12, "mix": ["inject"]}]
    plan = TrainPlan.model_validate(plan)
    sampler, phases = _sampler(plan)
    _run_phase(sampler, phases, 0, 8)
    acc = sampler.accounting[0]["sources"]["inject"]
    assert acc["consumed"] == 12 * 8 * 65 > shard.n_tokens
    assert acc["repeated"] == acc["consumed"] - shard.n_tokens
    assert sampler.passes("inject") == pytest.approx(acc["consumed"] / shard.n_tokens, abs=0.1)


def test_shuffle_of_a_prefix_does_not_depend_on_the_corpus_size(world):
    """A corpus that extends another (here: a second shard after it) reads the shared
    documents in the same relative order, so runs over corpora of different sizes pair."""
    small = SourceReader("base", SourceConfig(paths=[str(world["base"])]), seed=4)
    big = SourceReader("base", SourceConfig(paths=[str(world["base"]), str(world["held"])]), seed=4)
    assert (small.n_docs, big.n_docs) == (1500, 1800)
    for epoch in (0, 1):
        a = [small.doc_at(epoch, i) for i in range(small.n_docs)]
        b = [big.doc_at(epoch, i) for i in range(big.n_docs)]
        assert sorted(a) == list(range(1500)) and sorted(b) == list(range(1800))
        assert [d for d in b if d < 1500] == a
    # a fresh order per pass, per seed and per source name; none is the file order
    orders = [doc_order(1500, 4, "base", 0), doc_order(1500, 4, "base", 1),
              doc_order(1500, 5, "base", 0), doc_order(1500, 4, "other", 0)]
    for i, x in enumerate(orders):
        assert abs(np.corrcoef(x, np.arange(1500))[0, 1]) < 0.1
        for y in orders[i + 1:]:
            assert abs(np.corrcoef(x, y)[0, 1]) < 0.1
    assert doc_order(1500, 4, "base", 0).tolist() == [small.doc_at(0, i) for i in range(1500)]


def test_select_and_append_eos(tmp_path):
    path = tmp_path / "mixed"
    with TokenShardWriter(path, vocab_size=len(VOCAB), eos_id=ID["EOS"], tokenizer=TOKENIZER) as w:
        for i in range(30):
            w.add_document([ID["BOS"], ID["LOG"], ID["T"], ID["C"]], source="logs")     # no EOS
            w.add_document([ID["BOS"], ID["STORY"], ID["U"], ID["D"], ID["EOS"]], source="stories")
    r = SourceReader("s", SourceConfig(paths=[str(path)], select=["logs"]), seed=0)
    assert r.n_docs == 30
    ids, mask = r.get(r.doc_at(0, 0))
    assert ids.tolist() == [ID["BOS"], ID["LOG"], ID["T"], ID["C"], ID["EOS"]] and mask.all()
    r2 = SourceReader("s", SourceConfig(paths=[str(path)], select=["stories"], append_eos=False), seed=0)
    assert r2.get(0)[0].tolist() == [ID["BOS"], ID["STORY"], ID["U"], ID["D"], ID["EOS"]]
    r3 = SourceReader("s", SourceConfig(paths=[str(path)], select=["logs"], append_eos=False), seed=0)
    assert r3.get(0)[0].size == 4
    with pytest.raises(ConfigError, match="NOPE"):
        SourceReader("s", SourceConfig(paths=[str(path)], loss_mask={"start": ["NOPE"]}), seed=0)


def test_loss_mask_in_rows(world):
    plan = TrainPlan.model_validate(tiny_plan(world))
    sampler, phases = _sampler(plan)
    rows = _run_phase(sampler, phases, 1, 8)
    tok = np.concatenate([b.tokens for b in rows])
    mask = np.concatenate([b.mask for b in rows])
    # Trained tokens are exactly those after ASSIST within each document: never BOS
    # or ASSIST; always the flags, actions and EOS.
    assert not mask[np.isin(tok, [ID["BOS"], ID["ASSIST"]])].any()
    assert mask[np.isin(tok, [ID["T"], ID["C"], ID["EOS"]])].all()
    acc = sampler.accounting[1]["sources"]["instruct"]
    assert acc["loss_tokens"] == int(mask[:, 1:].sum()) < acc["consumed"]


def test_eval_rows_are_whole_rows_in_file_order(world):
    r = SourceReader("held", SourceConfig(paths=[str(world["held"])]), seed=0)
    rows = eval_rows(r, 1000, 65)
    assert rows.tokens.shape == (15, 65)
    stream = [t for d in _all_docs(world["held"]) for t in d]
    assert rows.tokens.ravel().tolist() == stream[:15 * 65]


def test_mismatched_tokenizers_are_rejected(world, tmp_path):
    other = write_world(tmp_path / "other", 10, seed=0)
    meta = json.loads(other.with_suffix(".json").read_text())
    meta["tokenizer"] = {"type": "vocab", "tokens": VOCAB[::-1]}
    other.with_suffix(".json").write_text(json.dumps(meta))
    from alignpt.core.errors import DataError
    from alignpt.train.data import data_info

    readers = [SourceReader("a", SourceConfig(paths=[str(world["base"])]), 0),
               SourceReader("b", SourceConfig(paths=[str(other)]), 0)]
    with pytest.raises(DataError, match="tokenizer differs"):
        data_info(readers)
