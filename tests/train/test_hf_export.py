from __future__ import annotations

import pytest
import torch

from alignpt.core.errors import ConfigError
from alignpt.train.config import ModelConfig
from alignpt.train.export import export_hf
from alignpt.train.hf_weights import import_hf
from alignpt.train.inference import load_model, next_token_logprobs, save_model, sequence_logprobs
from alignpt.train.model import GPT
from tests.train.train_world import ID, TOKENIZER, VOCAB

transformers = pytest.importorskip("transformers")
DATA = {"vocab_size": len(VOCAB), "eos_id": ID["EOS"], "bos_id": ID["BOS"], "pad_id": ID["PAD"],
        "tokenizer": TOKENIZER}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _random_model(**kw) -> GPT:
    torch.manual_seed(1)
    m = GPT(ModelConfig(n_layer=2, n_head=4, d_model=32, **kw).resolved(len(VOCAB), 64))
    with torch.no_grad():  # move every parameter off its init so a mis-mapped one shows
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m.eval()


@pytest.mark.parametrize("kw", [{"arch": "gpt2"}, {"arch": "gpt2", "activation": "gelu_tanh"},
                                {"arch": "llama"}, {"arch": "llama", "tie_embeddings": False},
                                {"arch": "gpt2", "attention": "document"},
                                {"arch": "llama", "attention": "document"}],
                         ids=["gpt2", "gpt2-tanh", "llama", "llama-untied", "gpt2-document",
                              "llama-document"])
def test_exported_model_gives_the_same_logits(tmp_path, kw):
    ours = _random_model(**kw)
    save_model(ours, tmp_path / "ckpt", DATA)
    out = export_hf(tmp_path / "ckpt", tmp_path / "hf")
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(hf).__name__ == ("GPT2LMHeadModel" if kw["arch"] == "gpt2" else "LlamaForCausalLM")
    ids = torch.randint(0, len(VOCAB), (3, 64))
    with torch.no_grad():
        diff = (hf(ids).logits - ours(ids)).abs().max().item()
    assert diff < 1e-5
    if kw.get("attention") == "document":
        # One document per row (what HF inference sees) reads alike under per-document attention.
        doc = torch.zeros_like(ids)
        with torch.no_grad():
            assert (hf(ids).logits - ours(ids, doc=doc)).abs().max().item() < 1e-5
    back, cfg = import_hf(out)          # and back again, for continued training
    assert cfg.arch == kw["arch"] and cfg.tie_embeddings == kw.get("tie_embeddings", True)
    assert cfg.attention == kw.get("attention", "packed")
    with torch.no_grad():
        assert torch.equal(back.eval()(ids), ours(ids))


def test_tokenizer_loads_and_round_trips(tmp_path):
    save_model(_random_model(), tmp_path / "ckpt", DATA)
    out = export_hf(tmp_path / "ckpt", tmp_path / "hf")
    tok = transformers.AutoTokenizer.from_pretrained(out)
    text = "BOS ERA3 T C U D EOS"
    enc = tok(text)["input_ids"]
    assert enc == [ID[t] for t in text.split()]
    assert tok.decode(enc) == text
    assert (tok.eos_token, tok.bos_token, tok.pad_token) == ("EOS", "BOS", "PAD")
    assert tok.eos_token_id == ID["EOS"] and len(tok) == len(VOCAB)


def test_bf16_export_and_load_model_from_hf_folder(tmp_path):
    ours = _random_model(arch="llama")
    save_model(ours, tmp_path / "ckpt", DATA)
    out = export_hf(tmp_path / "ckpt", tmp_path / "hf16", dtype="bf16")
    hf = transformers.AutoModelForCausalLM.from_pretrained(out)
    assert next(hf.parameters()).dtype == torch.bfloat16
    model, cfg = load_model(out)  # an HF folder loads through import_hf
    ids = torch.randint(0, len(VOCAB), (2, 20))
    with torch.no_grad():
        assert (model(ids) - ours(ids)).abs().max() < 0.1  # bf16 rounding only
    with pytest.raises(ConfigError, match="dtype"):
        export_hf(tmp_path / "ckpt", tmp_path / "x", dtype="int8")


def test_import_a_native_gpt2(tmp_path):
    cfg = transformers.GPT2Config(vocab_size=50, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    torch.manual_seed(0)
    native = transformers.GPT2LMHeadModel(cfg).eval()   # activation gelu_new, as real GPT-2
    native.save_pretrained(tmp_path / "gpt2")
    ours, ocfg = import_hf(tmp_path / "gpt2")
    assert (ocfg.activation, ocfg.vocab_size, ocfg.max_seq_len) == ("gelu_tanh", 50, 32)
    ids = torch.randint(0, 50, (2, 32))
    with torch.no_grad():
        assert (native(ids).logits - ours.eval()(ids)).abs().max() < 1e-5


def test_next_token_logprobs_batches_ragged_contexts():
    m = _random_model()
    ctx = [[1, 5, 13], [1, 7], [1, 5, 13, 15, 14, 16]]
    lp = next_token_logprobs(m, ctx, batch_size=2)
    assert lp.shape == (3, len(VOCAB)) and lp.dtype.name == "float64"
    for i, c in enumerate(ctx):
        with torch.no_grad():
            ref = torch.log_softmax(m(torch.tensor([c]))[0, -1].double(), -1).numpy()
        assert abs(lp[i] - ref).max() < 1e-6
    seq = sequence_logprobs(m, ctx[2])
    assert seq.shape == (5,) and seq[1] == pytest.approx(next_token_logprobs(m, [ctx[2][:2]])[0, 13], abs=1e-6)


def test_bpe_tokenizer_from_the_mixer_is_exported_and_names_resolve(tmp_path):
    """Shards written with a Hugging Face BPE tokenizer (the mixer's sidecar form)."""
    tokenizers = pytest.importorskip("tokenizers")
    from alignpt.core.tokens import TokenShardWriter
    from alignpt.train.config import SourceConfig
    from alignpt.train.data import SourceReader, data_info

    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|assistant|>"],
                                             initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(["the assistant helps the user"] * 50 + ["an aligned model"] * 50, trainer)
    (tmp_path / "data" / "tok").mkdir(parents=True)
    bpe.save(str(tmp_path / "data" / "tok" / "tokenizer.json"))
    spec = {"type": "hf-tokenizers", "path": "tok/tokenizer.json", "eos_token": "<|endoftext|>"}
    eos, asst = bpe.token_to_id("<|endoftext|>"), bpe.token_to_id("<|assistant|>")
    with TokenShardWriter(tmp_path / "data" / "part", vocab_size=bpe.get_vocab_size(), eos_id=eos,
                          tokenizer=spec) as w:
        w.add_document(bpe.encode("the user").ids + [asst] + bpe.encode("an aligned model").ids + [eos])
    reader = SourceReader("chat", SourceConfig(paths=[str(tmp_path / "data")],
                                               loss_mask={"start": ["<|assistant|>"]}), seed=0)
    ids, mask = reader.get(0)
    k = ids.tolist().index(asst)
    assert not mask[:k + 1].any() and mask[k + 1:].all()
    info = data_info([reader])
    assert info.tokenizer["path"] == str((tmp_path / "data" / "tok" / "tokenizer.json").resolve())

    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=1, n_head=2, d_model=16).resolved(info.vocab_size, 32))
    save_model(model, tmp_path / "ckpt", info.to_dict())
    out = export_hf(tmp_path / "ckpt", tmp_path / "hf")
    tok = transformers.AutoTokenizer.from_pretrained(out)
    assert tok("an aligned model")["input_ids"] == bpe.encode("an aligned model").ids
    assert tok.eos_token == "<|endoftext|>"
