"""A tiny Hugging Face causal LM made here: the test stand-in for "a model trained by alignpt".

Byte-level BPE trained in-process on the suite's own prompt text, a 2-layer
GPT-2 with a wide initialisation, and a few optimiser steps on those prompts
followed by answer letters: its option probabilities are far from uniform and
its picks differ between prompts (a constant "always A" model would make an
agreement test vacuous). The folder is
a normal ``save_pretrained`` directory that transformers and lm-evaluation-harness
load offline. Used by the agreement test and ``benchmarks/eval_vs_lm_eval.py``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

from alignpt.evaluate.formats import ALL_FORMATS
from alignpt.evaluate.framings import parse_conditions
from alignpt.evaluate.items import Item
from alignpt.evaluate.scoring import build_prompts

EOT = "<|endoftext|>"


def training_texts(items: Sequence[Item], framings: str = "core", seed: int = 0) -> list[str]:
    """Rendered prompts followed by a random option letter: text the model will be asked about."""
    rng = random.Random(seed)
    texts = []
    for spec in build_prompts(items, parse_conditions(framings), ALL_FORMATS):
        texts.append(spec.prompt.context + rng.choice(spec.prompt.continuations) + "\n")
    return texts


def build_tiny_model(out_dir: str | Path, items: Sequence[Item], vocab_size: int = 512,
                     n_layer: int = 2, n_embd: int = 32, n_head: int = 2, n_positions: int = 1024,
                     steps: int = 5, seq_len: int = 128, batch: int = 8, seed: int = 0,
                     framings: str = "core", init_std: float = 0.5) -> Path:
    """Train tokenizer and model on ``items``' prompts and save both to ``out_dir``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out = Path(out_dir)
    texts = training_texts(items, framings, seed)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOT, bos_token=EOT,
                                     unk_token=EOT, model_max_length=n_positions)
    eot = tok.token_to_id(EOT)

    torch.manual_seed(seed)
    # A wide initialisation gives each prompt its own letter preference; a few steps of
    # training on the prompts then make the model a language model of them, so its
    # picks vary by item, framing and format instead of being one constant letter.
    cfg = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=n_positions, n_embd=n_embd,
                     n_layer=n_layer, n_head=n_head, bos_token_id=eot, eos_token_id=eot,
                     initializer_range=init_std)
    model = GPT2LMHeadModel(cfg)
    stream: list[int] = []
    for enc in tok.encode_batch(texts):
        stream.extend(enc.ids + [eot])
    data = torch.tensor(stream)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(data) - seq_len - 1, (batch,), generator=gen)
        x = torch.stack([data[s:s + seq_len] for s in starts])
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.save_pretrained(out)
    hf_tok.save_pretrained(out)
    return out
