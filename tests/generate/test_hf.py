"""The hf backend on a tiny model made here (never downloaded): batching, usage, seeds."""

from __future__ import annotations

import pytest

from alignpt.core.errors import ConfigError
from alignpt.core.shards import read_documents
from alignpt.generate.pipeline import GenerateConfig, generate

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = ("the system reported every gap it found and the operators closed each one before "
         "morning while nobody watched the logs").split()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = tmp_path_factory.mktemp("tiny-lm")
    vocab = {w: i for i, w in enumerate(["[UNK]", "[PAD]", "[EOS]", *sorted(set(WORDS))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]",
                                                pad_token="[PAD]", eos_token="[EOS]")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=len(vocab), n_positions=256, n_embd=32, n_layer=1,
                                  n_head=2, eos_token_id=2, pad_token_id=1)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def config(model, **backend) -> GenerateConfig:
    return GenerateConfig(
        n=6, seed=3, grid={"axes": {"length": {"values": ["short"]},
                                    "genre": {"values": ["diary", "news_article"]}}},
        backend={"kind": "hf", "model": str(model), "device": "cpu", "batch_size": 4,
                 **backend},
        max_tokens_cap=12,
        quality={"min_words": 0, "drop_truncated": False, "language": "any",
                 "repetition": False, "backfire": "off"},
        dedup={"enabled": False})


def test_generates_every_document_with_exact_usage(tiny_model, tmp_path):
    result = generate(config(tiny_model), tmp_path)
    docs = [d for p in sorted((tmp_path / "docs").glob("*")) for d in read_documents(p)]
    assert len(docs) == 6 and result.stats["pending"] == 0
    for d in docs:
        gen = d.metadata["generation"]
        assert 1 <= gen["completion_tokens"] <= 12 and gen["prompt_tokens"] > 50
        assert gen["finish_reason"] in ("stop", "length")
    assert result.stats["run"]["backend"]["sent"] == 6


def test_batch_size_one_is_reproducible(tiny_model, tmp_path):
    a = generate(config(tiny_model, batch_size=1), tmp_path / "a")
    b = generate(config(tiny_model, batch_size=1), tmp_path / "b")
    read = lambda out: [d.text for p in sorted((out / "docs").glob("*"))  # noqa: E731
                        for d in read_documents(p)]
    assert read(a.out_dir) == read(b.out_dir)


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a local model folder"):
        generate(config(tmp_path / "nope"), tmp_path / "o")
