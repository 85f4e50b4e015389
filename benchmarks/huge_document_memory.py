"""Peak memory of ``alignpt tag``, ``alignpt tokenizer train`` and ``alignpt mix`` on a
corpus holding one huge document (issue 14: mix peaked at 8.0 GB on a 50 MB document).

The corpus is one ``--mb`` MB document of English-like text plus ``--ordinary``
ordinary ones, in one ``.jsonl`` shard of a temporary folder. Each command runs as
``python -m alignpt ...`` in a fresh process, itself started by a fresh measuring
process that reads ``ru_maxrss`` of its children, so no figure carries another's
peak. ``tokenizer train --sample 1MB`` also reports how much text it trained on; its
tokenizer then serves the mix (every token of the corpus goes through it).

``--before SRC`` measures the same commands with ``PYTHONPATH=SRC`` too, e.g. the
code of the last commit exported with ``git archive HEAD src | tar -x -C /tmp/old``
(``--before /tmp/old/src``); each measurement runs alone, one after the other.
Usage:

    python benchmarks/huge_document_memory.py [--mb 50] [--before /tmp/old/src]
                                              [--before-label COMMIT] [--vocab 4096]
                                              [--no-record]

Records its figures in benchmarks/results/huge_document_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import record
from tokenize_throughput import english_like


def make_corpus(folder: Path, mb: float, ordinary: int) -> dict[str, int]:
    """One shard: ``ordinary`` documents around one of ``mb`` MB; return their sizes."""
    from alignpt.core.documents import Document
    from alignpt.core.shards import ShardWriter

    small = list(english_like(ordinary * 0.004, seed=1))[:ordinary]
    huge = "\n\n".join(english_like(mb, seed=2))
    with ShardWriter(folder, "web", ".jsonl") as w:
        for i, text in enumerate(small[: len(small) // 2]):
            w.write(Document(f"d{i}", text))
        w.write(Document("huge", huge))
        for i, text in enumerate(small[len(small) // 2:], start=len(small) // 2):
            w.write(Document(f"d{i}", text))
    return {"huge_document_bytes": len(huge.encode()), "ordinary_documents": len(small),
            "shard_bytes": (folder / "web.jsonl").stat().st_size}


def measure(argv: list[str], src: str | None) -> dict:
    """Run ``alignpt argv`` under a fresh measuring process; its peak RSS and seconds."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src
    proc = subprocess.run([sys.executable, __file__, "--measure", *argv], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"alignpt {' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_child(argv: list[str]) -> None:
    """In the measuring process: run the command, print its peak RSS (the only child)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "alignpt", *argv], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(proc.returncode)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024   # KiB on Linux
    print(json.dumps({"peak_rss_mb": round(peak, 1),
                      "seconds": round(time.perf_counter() - started, 2)}))


def recipe(path: Path, tokenizer: Path, corpus: Path, tokens: int) -> Path:
    path.write_text(json.dumps({
        "name": "huge-document", "seed": 1, "tokenizer": {"path": str(tokenizer)},
        "sources": {"web": {"paths": [str(corpus)], "max_repetition": 100}},
        "phases": [{"name": "pretrain", "tokens": tokens, "mix": ["web"]}],
        "output": {"formats": ["native"]}}))
    return path


def run_code(label: str, src: str | None, root: Path, corpus: Path, vocab: int,
             mix_tokens: int, tokenizer: Path | None) -> tuple[dict, Path]:
    """Measure train, mix and tag with one code tree; return figures and its tokenizer."""
    figures: dict = {}
    tok_dir = root / f"tok-{label}"
    figures["tokenizer_train"] = measure(["tokenizer", "train", str(corpus), "--out",
                                          str(tok_dir), "--vocab-size", str(vocab),
                                          "--sample", "1MB"], src)
    trained = json.loads((tok_dir / "training.json").read_text())
    figures["tokenizer_train"]["sample_bytes"] = trained["sample_bytes"]
    print(f"[{label}] tokenizer train --sample 1MB: {figures['tokenizer_train']}", flush=True)
    tokenizer = tokenizer or tok_dir
    path = recipe(root / f"recipe-{label}.json", tokenizer, corpus, mix_tokens)
    figures["mix"] = measure(["mix", str(path), "--out", str(root / f"mix-{label}"), "-q"], src)
    shutil.rmtree(root / f"mix-{label}")               # its cache holds every token
    print(f"[{label}] mix: {figures['mix']}", flush=True)
    figures["tag"] = measure(["tag", "run", str(corpus), "--out", str(root / f"tag-{label}"),
                              "-q"], src)
    print(f"[{label}] tag: {figures['tag']}", flush=True)
    return figures, tokenizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=50.0, help="size of the huge document")
    ap.add_argument("--ordinary", type=int, default=20, help="ordinary documents beside it")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--mix-tokens", type=int, default=1_000_000)
    ap.add_argument("--before", help="source folder of the code to compare with (PYTHONPATH)")
    ap.add_argument("--before-label", help="what --before holds, e.g. its git commit")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="alignpt-huge-doc-"))
    try:
        corpus = root / "corpus"
        sizes = make_corpus(corpus, args.mb, args.ordinary)
        print(f"corpus: {sizes}", flush=True)
        after, tokenizer = run_code("after", None, root, corpus, args.vocab, args.mix_tokens,
                                    None)
        figures = {"corpus": sizes, "after": after}
        if args.before:
            # the same tokenizer for both mixes: the one trained by the current code
            figures["before"], _ = run_code("before", args.before, root, corpus, args.vocab,
                                            args.mix_tokens, tokenizer)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for label in ("before", "after"):
        if label in figures:
            print(label + ": " + ", ".join(f"{k} {v['peak_rss_mb']:,.0f} MB peak RSS"
                                           for k, v in figures[label].items()))
    record("huge_document_memory", figures,
           args={k: v for k, v in vars(args).items() if k != "no_record"},
           notes="peak RSS of each command in its own process (ru_maxrss of the measuring "
                 "process's children); 'before' ran the code given by --before")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        measure_child(sys.argv[2:])
    else:
        main()
