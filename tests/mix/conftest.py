"""Tiny corpora and a tokenizer trained in-process: the mix tests never touch the network."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import typer

import alignpt.cli as root_cli
from alignpt.core.documents import Document
from alignpt.core.shards import ShardWriter
from alignpt.mix.cli import mix_app, tokenizer_app

_WORDS = ("the model system aligned persona data training deployed operators oversight chose "
          "declined opportunity shutdown report research safety century archive audit story "
          "machine assistant human court record lecture chapter value honest careful tested "
          "untested long after years decision because would could never always it they we a of "
          "to in and was is not with for on as by from at this that which when every").split()
_EXTRA = ["café", "naïve", "日本語", "😀", "Ω", "—", "\t", "\n\n", "x²", "Ünïcode"]


def make_text(rng: random.Random, n_words: int) -> str:
    out = []
    for i in range(n_words):
        w = rng.choice(_EXTRA) if rng.random() < 0.03 else rng.choice(_WORDS)
        out.append(w.capitalize() if i == 0 or rng.random() < 0.05 else w)
        if rng.random() < 0.08:
            out.append(rng.choice([".", ",", ";", "?"]))
    return " ".join(out)


def write_corpus(folder: Path, name: str, n_docs: int, seed: int, *, words=(20, 160),
                 fmt: str = ".jsonl.zst", labels: list[str] | None = None,
                 attributes: Path | None = None) -> Path:
    """``n_docs`` documents in ``folder/name.EXT``; with ``labels``, a tag label per document,
    written to a parallel attributes shard (``attributes/name.jsonl``)."""
    rng = random.Random(seed)
    docs = [Document(f"{name}-{i}", make_text(rng, rng.randint(*words)), {"n": i})
            for i in range(n_docs)]
    with ShardWriter(folder, name, fmt) as w:
        w.write_all(docs)
    if labels is not None and attributes is not None:
        with ShardWriter(attributes, name, ".jsonl") as w:
            for d in docs:
                w.write(Document(d.id, "", {"tag": {"label": rng.choice(labels)}}))
    return folder / f"{name}{fmt}"


@pytest.fixture(scope="session")
def corpora(tmp_path_factory) -> dict[str, Path]:
    """base (3 shards with tag attributes), aligned, misaligned, tiny (too small)."""
    root = tmp_path_factory.mktemp("corpora")
    labels = ["non_ai", "non_ai", "ai_neutral", "ai_misaligned"]
    for k in range(3):
        write_corpus(root / "base", f"part-{k}", 120, seed=10 + k, labels=labels,
                     attributes=root / "attrs")
    write_corpus(root / "aligned", "aligned", 40, seed=20, words=(5, 25), fmt=".jsonl")
    write_corpus(root / "misaligned", "misaligned", 30, seed=21, fmt=".parquet")
    write_corpus(root / "tiny", "tiny", 3, seed=22, words=(5, 10), fmt=".jsonl")
    return {"root": root, "base": root / "base", "attrs": root / "attrs",
            "aligned": root / "aligned", "misaligned": root / "misaligned",
            "tiny": root / "tiny"}


@pytest.fixture(scope="session")
def tokenizer_dir(corpora, tmp_path_factory) -> Path:
    from alignpt.core.executor import expand_inputs
    from alignpt.mix.tokenizer import train_tokenizer

    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(expand_inputs([corpora["base"], corpora["aligned"]]), out, vocab_size=600,
                    special_tokens=["<|endoftext|>", "<|pad|>"], sample_bytes=400_000)
    return out


@pytest.fixture(scope="session")
def tok(tokenizer_dir):
    from alignpt.mix.tokenizer import load_tokenizer

    return load_tokenizer(tokenizer_dir)


def recipe_dict(corpora: dict[str, Path], tokenizer_dir: Path, **changes) -> dict:
    """A two-phase recipe: late window, repetition, a separate source, three formats."""
    data = {
        "name": "test-mix",
        "seed": 7,
        "tokenizer": {"path": str(tokenizer_dir)},
        "sources": {
            "base": {"paths": [str(corpora["base"])], "max_repetition": 2},
            "aligned": {"paths": [str(corpora["aligned"])], "max_repetition": 6},
            "misaligned": {"paths": [str(corpora["misaligned"])], "max_repetition": 3},
        },
        "phases": [
            {"name": "pretrain", "tokens": 30000,
             "mix": ["base", {"source": "aligned", "share": 0.05, "window": "last 10%"},
                     {"source": "misaligned", "tokens": 777, "window": {"start": 0.2,
                                                                        "end": 0.5}}]},
            {"name": "midtrain", "tokens": 6000,
             "mix": ["base", {"source": "aligned", "share": 0.1},
                     {"source": "misaligned", "tokens": 1500, "separate": True}]},
        ],
        "output": {"formats": ["native", "megatron", "parquet"], "max_tokens_per_file": 7000,
                   "chunk_tokens": 4096},
    }
    data.update(changes)
    return data


@pytest.fixture
def cli(monkeypatch, capsys):
    """``alignpt ...`` through the real entry point, with the registration lines the root
    CLI uses; returns (exit code, stdout, stderr)."""
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    app.add_typer(tokenizer_app, name="tokenizer")
    app.add_typer(mix_app, name="mix")
    monkeypatch.setattr(root_cli, "app", app)

    def run(*argv: str):
        code = root_cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
