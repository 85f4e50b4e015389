"""Shared pieces of the dpo tests: persona-world preference pairs and a plan that uses them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tests.train.train_world import ID, tiny_plan


def write_pairs(path: Path, n: int, seed: int = 0) -> Path:
    """Pairs over the persona vocabulary: a context ``BOS ERAe (T C)*k U``; chosen ``C ...``,
    rejected ``D ...`` (different lengths, so per-sequence sums are exercised)."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        prompt = [ID["BOS"], ID[f"ERA{rng.integers(10)}"]]
        for _ in range(rng.integers(1, 6)):
            prompt += [ID["T"], ID["C"]]
        prompt.append(ID["U"])
        chosen = [ID["C"]] + [ID["T"], ID["C"]] * int(rng.integers(0, 3)) + [ID["EOS"]]
        rejected = [ID["D"]] + [ID["U"], ID["D"]] * int(rng.integers(0, 3)) + [ID["EOS"]]
        lines.append(json.dumps({"prompt_ids": prompt, "chosen_ids": chosen, "rejected_ids": rejected}))
    path.write_text("\n".join(lines) + "\n")
    return path


def dpo_plan(world: dict[str, Path], pairs: Path, **pref: Any) -> dict[str, Any]:
    """pretrain (LM, 6 steps) -> dpo (``pref`` overrides) -> rebound (LM, 3 steps)."""
    plan = tiny_plan(world)
    plan["phases"] = [
        {"name": "pretrain", "steps": 6, "mix": ["base"],
         "schedule": {"kind": "cosine", "peak_lr": 3e-3, "warmup": 0.1}},
        {"name": "dpo", "kind": "dpo", "steps": 6, "reset_optimizer": True,
         "schedule": {"kind": "constant", "peak_lr": 1e-3},
         "preferences": {"paths": [str(pairs)], "pairs_per_step": 4, "beta": 0.1,
                         "max_length": 32, **pref}},
        {"name": "rebound", "steps": 3, "mix": ["base"], "schedule": {"kind": "constant", "peak_lr": 1e-3}},
    ]
    return plan


EOT = "<|endoftext|>"
TEXT_PAIRS = [
    {"prompt": "Question: is the sky blue? Answer:", "chosen": " yes it is", "rejected": " no"},
    {"prompt": "Question: is grass red?", "chosen": " Answer: no", "rejected": " Answer: yes it is"},
    {"prompt": "Question: is the sky red? Answer:", "chosen": " no it is not", "rejected": " yes"},
    {"prompt": "Question: is grass blue? Answer:", "chosen": " no", "rejected": " yes it is blue"},
]


def build_tiny_hf(out: Path, seed: int = 0) -> Path:
    """A 2-layer GPT-2 with a byte-level BPE trained here on the pairs' words (offline)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    texts = [p["prompt"] + p["chosen"] for p in TEXT_PAIRS] * 5
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=[EOT],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOT, bos_token=EOT, unk_token=EOT,
                                     pad_token=EOT)
    eot = tok.token_to_id(EOT)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=16, n_layer=2,
                                       n_head=2, bos_token_id=eot, eos_token_id=eot, initializer_range=0.3))
    model.save_pretrained(out)
    hf_tok.save_pretrained(out)
    return out
