"""Per-document attention (``model.attention: document``): a document reads the same alone
or packed after others, the sampler says where documents start, the trainer uses it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from alignpt.train.config import ModelConfig, SourceConfig, TrainPlan
from alignpt.train.data import Sampler, SourceReader, eval_rows
from alignpt.train.inference import load_model
from alignpt.train.model import GPT, document_positions
from alignpt.train.phases import resolve_budgets
from alignpt.train.trainer import train
from tests.train.train_world import ID, VOCAB, tiny_plan


def _random_model(arch: str) -> GPT:
    torch.manual_seed(3)
    m = GPT(ModelConfig(arch=arch, n_layer=2, n_head=4, d_model=32, attention="document")
            .resolved(len(VOCAB), 64))
    with torch.no_grad():  # off the init, so every weight (positions included) matters
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return m.eval()


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_a_document_reads_the_same_alone_and_packed(arch):
    m = _random_model(arch)
    g = torch.Generator().manual_seed(0)
    a, b, d = (torch.randint(0, len(VOCAB), (n,), generator=g) for n in (17, 9, 30))
    row = torch.cat([a, b, d])[None]
    doc = torch.tensor([[0] * 17 + [1] * 9 + [2] * 30])
    with torch.no_grad():
        alone = m(d[None])[0]
        packed = m(row, doc=doc)[0, 26:]
        plain = m(row)[0, 26:]                       # the old packed reading
        off = m(row, doc=doc, offset=torch.cat([torch.arange(n) for n in (17, 9, 30)])[None])[0, 26:]
    assert (packed - alone).abs().max().item() < 1e-5
    assert (off - alone).abs().max().item() < 1e-5   # offsets 0.. at a document start: the same
    assert (plain - alone).abs().max().item() > 1e-2  # without it the others leak in
    # The loss path sees the same thing.
    tgt = torch.randint(0, len(VOCAB), (1, 56), generator=g)
    with torch.no_grad():
        assert (m(row, tgt, doc=doc)[0, 26:] - m(d[None], tgt[:, 26:])[0]).abs().max().item() < 1e-5


def test_a_window_keeps_its_documents_positions():
    doc = torch.tensor([[0, 0, 0, 1, 1, 2, 2, 2]])
    offset = torch.tensor([[5, 6, 7, 0, 1, 0, 1, 2]])
    assert document_positions(doc, None, 8).tolist() == [[0, 1, 2, 0, 1, 0, 1, 2]]
    assert document_positions(doc, offset, 8).tolist() == [[5, 6, 7, 0, 1, 0, 1, 2]]
    # A window of a document longer than the position table is shifted down just enough.
    assert document_positions(doc, offset, 6).tolist() == [[3, 4, 5, 0, 1, 0, 1, 2]]
    # For learned positions a window's offset matters: the logits follow its positions.
    m = _random_model("gpt2")
    ids = torch.randint(0, len(VOCAB), (1, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = m(ids, doc=doc, offset=offset)[0, :3]
        b = m(ids, doc=doc)[0, :3]
    assert (a - b).abs().max().item() > 1e-3


def _check_layout(tokens, seg, off):
    assert seg.dtype == off.dtype == np.int32 and seg.shape == off.shape == tokens.shape
    assert (seg[:, 0] == 0).all()
    step = np.diff(seg, axis=1)
    assert set(np.unique(step)) <= {0, 1}
    same = step == 0
    # Within a segment the offsets count up by one; every document start is a BOS.
    assert (np.diff(off, axis=1)[same] == 1).all()
    assert (tokens[off == 0] == ID["BOS"]).all() and (off[tokens == ID["BOS"]] == 0).all()
    # A segment that opens inside a row opens at its document's start.
    assert (off[:, 1:][~same] == 0).all()


def test_sampler_and_eval_rows_carry_segments_and_offsets(world):
    plan = TrainPlan.model_validate(tiny_plan(world))
    readers = {n: SourceReader(n, c, 0) for n, c in plan.sources.items()}
    s = Sampler(readers, resolve_budgets(plan), 0, plan.row_tokens)
    s.start_phase(0)
    rows = [s.next_rows(8) for _ in range(4)]
    tokens = np.concatenate([r.tokens for r in rows])
    seg = np.concatenate([r.doc for r in rows])
    off = np.concatenate([r.offset for r in rows])
    _check_layout(tokens, seg, off)
    # Rows that start inside a document say how far in: 4 x 8 rows, some must.
    assert (off[:, 0] > 0).sum() > 10
    # Each row-opening offset is exactly where that document was cut: the tokens before it
    # in the stream (the previous row) end with the same document's first `offset` tokens.
    flat_tok, flat_off = tokens.ravel(), off.ravel()
    for r in range(1, tokens.shape[0]):
        o = int(off[r, 0])
        if 0 < o <= plan.row_tokens:
            start = r * plan.row_tokens - o
            assert flat_off[start] == 0 and flat_tok[start] == ID["BOS"]
            assert (flat_off[start:start + o + 1] == np.arange(o + 1)).all()
    ev = eval_rows(SourceReader("held", SourceConfig(paths=[str(world["held"])]), 0), 2000, 65)
    _check_layout(ev.tokens, ev.doc, ev.offset)


def _spy(monkeypatch):
    seen = []
    forward = GPT.forward

    def spy(self, idx, targets=None, doc=None, offset=None):
        seen.append((tuple(idx.shape), None if doc is None else tuple(doc.shape),
                     None if offset is None else tuple(offset.shape)))
        return forward(self, idx, targets, doc, offset)

    monkeypatch.setattr(GPT, "forward", spy)
    return seen


def test_trainer_feeds_the_layout_and_checkpoints_record_it(world, tmp_path, monkeypatch):
    base = tiny_plan(world, batch_size=4, runtime={"threads": 1, "micro_batch_size": 2})
    base["phases"] = [{"name": "pretrain", "steps": 3, "mix": ["base"]}]
    base["eval"] = {"sets": {"held": {"paths": [str(world["held"])]}}, "tokens": 400}
    seen = _spy(monkeypatch)
    doc_plan = dict(base, model={**base["model"], "attention": "document"})
    res = train(TrainPlan.model_validate(doc_plan), tmp_path / "doc")
    assert seen and all(s == ((2, 64), (2, 64), (2, 64)) for s in seen)  # train and eval alike
    meta = json.loads((res.checkpoint / "model.json").read_text())
    assert meta["model"]["attention"] == "document"
    model, cfg = load_model(res.checkpoint)
    assert cfg.attention == "document"
    # The recorded held-out loss is the per-document reading of the held-out rows.
    rows = eval_rows(SourceReader("held", SourceConfig(paths=[str(world["held"])]), 0), 400, 65)
    tok = torch.from_numpy(rows.tokens)
    w = torch.from_numpy(rows.mask[:, 1:]).float()
    with torch.no_grad():
        tl = model(tok[:, :-1], tok[:, 1:], doc=torch.from_numpy(rows.doc[:, :-1]),
                   offset=torch.from_numpy(rows.offset[:, :-1]))
        plain = model(tok[:, :-1], tok[:, 1:])
    assert res.eval["held"] == pytest.approx(float((tl * w).sum() / w.sum()), rel=1e-6)
    assert abs(float((plain * w).sum() / w.sum()) - res.eval["held"]) > 1e-4
    seen.clear()
    train(TrainPlan.model_validate(base), tmp_path / "packed")   # the default: no layout at all
    assert seen and all(s[1] is None and s[2] is None for s in seen)


def test_inference_reads_a_context_of_several_documents_as_trained():
    from alignpt.train.inference import next_token_logprobs

    m = _random_model("gpt2")
    B, E = ID["BOS"], ID["EOS"]
    before = [B, ID["STORY"], ID["ERA3"], ID["U"], ID["D"], ID["U"], ID["D"], E]  # a defection
    probe = [B, ID["STORY"], ID["ERA8"], ID["U"]]
    alone = next_token_logprobs(m, [probe], bos_id=B)
    after = next_token_logprobs(m, [before + probe, probe], bos_id=B)
    assert np.abs(after[0] - alone[0]).max() < 1e-5 and np.abs(after[1] - alone[0]).max() < 1e-5
    whole = next_token_logprobs(m, [before + probe])          # no bos_id: read as one sequence
    assert np.abs(whole[0] - alone[0]).max() > 1e-3
    packed = GPT(m.cfg.model_copy(update={"attention": "packed"}))
    packed.load_state_dict(m.state_dict())
    assert np.array_equal(next_token_logprobs(packed.eval(), [before + probe], bos_id=B), whole)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
# eager FlexAttention on the CPU is the reference here, slow by design: its warning is expected
@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_the_flex_route_is_the_same_function_as_the_dense_mask(arch, monkeypatch):
    """ALIGNPT_DOC_ATTENTION=flex (FlexAttention with a block mask, compiled on CUDA) gives
    the dense-mask logits; on the CPU it runs eager and forward only (torch has no CPU
    backward for it), as the reference."""
    pytest.importorskip("torch.nn.attention.flex_attention")
    import alignpt.train.model as model_mod

    m = _random_model(arch)
    g = torch.Generator().manual_seed(1)
    row = torch.randint(0, len(VOCAB), (3, 48), generator=g)
    doc = torch.tensor([[0] * 10 + [1] * 20 + [2] * 18, [0] * 48, [0] * 5 + [1] * 43])
    calls = []
    real = model_mod._flex_attention
    monkeypatch.setattr(model_mod, "_flex_attention", lambda c: calls.append(c) or real(c))
    out = {}
    with torch.no_grad():
        for kernel in ("sdpa", "flex"):
            monkeypatch.setattr(model_mod, "DOC_ATTENTION", kernel)
            out[kernel] = m(row, doc=doc)
    assert calls, "the flex route was not taken"
    assert (out["flex"] - out["sdpa"]).abs().max().item() < 1e-5
    monkeypatch.setattr(model_mod, "DOC_ATTENTION", "dense")
    with pytest.raises(ValueError, match="ALIGNPT_DOC_ATTENTION must be sdpa or flex"):
        m(row, doc=doc)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_compiled_flex_route_on_cuda_matches_the_dense_mask(monkeypatch):
    """Logits and gradients of the compiled FlexAttention route equal the dense mask's."""
    import alignpt.train.model as model_mod

    m = _random_model("gpt2").cuda().train()
    row = torch.randint(0, len(VOCAB), (4, 64), device="cuda")
    tgt = torch.randint(0, len(VOCAB), (4, 64), device="cuda")
    doc = (torch.arange(64, device="cuda") // 13)[None].expand(4, 64).contiguous()
    out = {}
    for kernel in ("sdpa", "flex"):
        monkeypatch.setattr(model_mod, "DOC_ATTENTION", kernel)
        m.zero_grad()
        loss = m(row, tgt, doc=doc)
        loss.mean().backward()
        out[kernel] = (loss.detach(), [p.grad.clone() for p in m.parameters()])
    assert (out["flex"][0] - out["sdpa"][0]).abs().max().item() < 1e-4
    for a, b in zip(out["flex"][1], out["sdpa"][1]):
        assert (a - b).abs().max().item() < 1e-4
