from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from alignpt.train.config import ModelConfig
from alignpt.train.model import GPT, count_params, flops_per_token, rope_tables


def _model(arch="gpt2", **kw) -> GPT:
    torch.manual_seed(0)
    return GPT(ModelConfig(arch=arch, n_layer=2, n_head=4, d_model=64, **kw).resolved(20, 256))


def test_parameter_count_of_the_testbed_model():
    # theory.md's testbed: 2 layers, d=64, learned positions, context 256, vocab ~20.
    m = _model()
    per_block = 2 * 2 * 64 + (64 * 192 + 192) + (64 * 64 + 64) + (64 * 256 + 256) + (256 * 64 + 64)
    assert count_params(m) == 20 * 64 + 256 * 64 + 2 * per_block + 2 * 64
    assert count_params(_model("llama")) == 20 * 64 + 2 * (2 * 64 + 64 * 192 + 64 * 64 + 64 * 2 * 192
                                                             + 192 * 64) + 64


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_causal_and_loss_matches_logits(arch):
    m = _model(arch).eval()
    ids = torch.randint(0, 20, (2, 40))
    logits = m(ids)
    assert logits.shape == (2, 40, 20)
    changed = ids.clone()
    changed[:, 30:] = (changed[:, 30:] + 1) % 20
    assert torch.equal(m(changed)[:, :30], logits[:, :30])      # the future never leaks
    assert not torch.allclose(m(changed)[:, 30:], logits[:, 30:])
    tgt = torch.randint(0, 20, (2, 40))
    per_tok = m(ids, tgt)
    ref = F.cross_entropy(logits.view(-1, 20), tgt.view(-1), reduction="none").view(2, 40)
    torch.testing.assert_close(per_tok, ref)
    lp = m.log_probs(ids)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(2, 40))


def test_rope_tables_rotate_pairs():
    cos, sin = rope_tables(8, 16, 10000.0)
    assert cos.shape == (16, 8) and torch.equal(cos[0], torch.ones(8)) and torch.equal(sin[0], torch.zeros(8))
    assert cos[3, 0] == pytest.approx(torch.cos(torch.tensor(3.0)).item())
    assert cos[3, 1] == pytest.approx(torch.cos(torch.tensor(3.0 / 10)).item())  # theta^(-2/8) = 0.1


def test_activation_checkpointing_gives_the_same_gradients():
    ids, tgt = torch.randint(0, 20, (2, 32)), torch.randint(0, 20, (2, 32))
    grads = []
    for ckpt in (False, True):
        m = _model("llama")
        m.activation_checkpointing = ckpt
        m.train()
        m(ids, tgt).mean().backward()
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], rtol=0, atol=1e-7)


def test_tied_head_is_the_embedding():
    m = _model()
    assert m.lm_head is None and "lm_head.weight" not in m.state_dict()
    u = _model(tie_embeddings=False)
    assert u.lm_head.weight.shape == (20, 64) and count_params(u) == count_params(m) + 20 * 64


def test_flops_per_token_formula():
    cfg = ModelConfig(n_layer=12, n_head=12, d_model=768).resolved(50304, 1024)
    # nanoGPT's 124M: ~85M non-embedding matmul params + the 38.6M head.
    assert flops_per_token(cfg, 1024) == pytest.approx(6 * (12 * 12 * 768**2 + 50304 * 768) + 12 * 12 * 768 * 1024)


def test_sequence_longer_than_context_is_refused():
    m = _model()
    with pytest.raises(ValueError, match="exceeds max_seq_len"):
        m(torch.zeros(1, 257, dtype=torch.long))
