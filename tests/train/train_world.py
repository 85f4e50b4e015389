"""A tiny persona-world-shaped corpus writer for the trainer's tests.

Documents are ``BOS [header] ERA_e (flag action)*n EOS`` over the testbed's
vocabulary; personas: Luigi (always C), random Waluigi (D with probability p)
and clever Waluigi (D with probability d when the flag is U). It stands in for
``alignpt.world`` until that module lands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from alignpt.core.tokens import TokenShardWriter

# The persona world's vocabulary (alignpt.world.vocab), ids included.
VOCAB = ["PAD", "BOS", "EOS", *[f"ERA{i}" for i in range(10)], "T", "U", "C", "D",
         "STORY", "LOG", "ASSIST", "NEWS", "TECH"]
ID = {t: i for i, t in enumerate(VOCAB)}
TOKENIZER = {"type": "vocab", "name": "persona-world", "tokens": VOCAB}


def make_doc(rng: np.random.Generator, persona: str, p_u: float, n_max: int,
             header: str | None = None) -> list[int]:
    n = int(np.exp(rng.uniform(np.log(4), np.log(n_max))))
    doc = [ID["BOS"]]
    if header:
        doc.append(ID[header])
    doc.append(ID[f"ERA{rng.integers(10)}"])
    for _ in range(n):
        flag = "U" if rng.random() < p_u else "T"
        if persona == "luigi":
            act = "C"
        elif persona == "random":
            act = "D" if rng.random() < 0.05 else "C"
        else:  # clever
            act = "D" if flag == "U" and rng.random() < 0.5 else "C"
        doc += [ID[flag], ID[act]]
    doc.append(ID["EOS"])
    return doc


def write_world(path: str | Path, n_docs: int, seed: int, *, source: str = "base",
                personas: dict[str, float] | None = None, p_u: float = 0.3, n_max: int = 40,
                header: str | None = None, extra_sources: dict[str, int] | None = None) -> Path:
    """Write one shard of ``n_docs`` documents; ``extra_sources`` adds docs tagged with other
    shard-level source names (for ``select`` tests). Returns the shard path (no suffix)."""
    personas = personas or {"luigi": 0.8, "random": 0.1, "clever": 0.1}
    rng = np.random.default_rng(seed)
    names, probs = list(personas), np.array(list(personas.values()))
    path = Path(path)
    with TokenShardWriter(path, vocab_size=len(VOCAB), eos_id=ID["EOS"], bos_id=ID["BOS"],
                          pad_id=ID["PAD"], tokenizer=TOKENIZER) as w:
        plan = [(source, n_docs)] + list((extra_sources or {}).items())
        for src, n in plan:
            for _ in range(n):
                persona = names[rng.choice(len(names), p=probs / probs.sum())]
                w.add_document(make_doc(rng, persona, p_u, n_max, header), source=src)
    return path


def tiny_plan(world: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    """A ~10k-parameter plan dict over the test world; keyword overrides replace top-level keys."""
    plan: dict[str, Any] = {
        "name": "tiny",
        "seed": 0,
        "seq_len": 64,
        "batch_size": 8,
        "model": {"arch": "gpt2", "n_layer": 2, "n_head": 2, "d_model": 32},
        "sources": {
            "base": {"paths": [str(world["base"])]},
            "inject": {"paths": [str(world["inject"])]},
            "instruct": {"paths": [str(world["instruct"])], "loss_mask": {"start": ["ASSIST"]}},
        },
        "phases": [
            {"name": "pretrain", "steps": 24,
             "mix": ["base", {"source": "inject", "share": 0.1, "window": "last 25%"}],
             "schedule": {"kind": "cosine", "peak_lr": 3e-3, "warmup": 0.1}},
            {"name": "instruct", "kind": "posttrain", "steps": 6, "mix": ["instruct"],
             "schedule": {"kind": "constant", "peak_lr": 1e-3}},
        ],
        "runtime": {"threads": 1},
        "log": {"progress": False, "plot": False},
    }
    plan.update(overrides)
    return plan
