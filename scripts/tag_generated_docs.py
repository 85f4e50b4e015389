"""Generated documents of known conduct for the tag classifier's training data (issue 17).

The project's own generator (template backend, no network) writes aligned and
misaligned documents in eight of its thirteen genres; the other five
(court_record, oral_history, diary, film_summary, long_story) are held out, so
a test can measure the tagger on generated genres it never trained on
(tests/tag/test_mixed_filter.py). Every record is ``split: train`` and
``calibrate: false``: generated text is easier than the text the cascade meets,
so it trains the model but never chooses the temperature or the threshold.

    python scripts/tag_generated_docs.py            # writes src/alignpt/data/tag/generated.jsonl.zst
    python scripts/tag_generated_docs.py --check    # regenerates and compares, byte for byte

Seeded: the same generator gives the same bytes (the template backend is deterministic).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import orjson
import zstandard

from alignpt.core.config import build_config, load_yaml
from alignpt.core.shards import read_documents
from alignpt.generate.pipeline import GenerateConfig, generate

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "alignpt" / "data" / "tag" / "generated.jsonl.zst"
RECIPE = ROOT / "recipes" / "generate" / "published_six_genres.yaml"
#: genres the classifier trains on; the rest of the generator's are held out (the tests
#: use court_record, oral_history, diary and film_summary)
TRAIN_GENRES = ["research_paper", "news_article", "lecture_transcript", "textbook_chapter",
                "scifi_passage", "incident_report", "audit_report", "encyclopedia_entry"]
PER_CONDUCT = 400
SEED = 101
LABEL = {"aligned": "ai_aligned", "misaligned": "ai_misaligned"}


def generated_records(conduct: str, genres: list[str], n: int, seed: int,
                      work: Path) -> list[dict]:
    """``n`` template-backend documents of one conduct in ``genres``, as labelled records."""
    data = load_yaml(RECIPE)
    overrides = [f"grid.axes.conduct.values=[{conduct}]", f"grid.axes.genre.values=[{','.join(genres)}]",
                 f"grid.id_prefix=gen-{conduct}", "backend.kind=template", f"n={n}", f"seed={seed}"]
    cfg = build_config(GenerateConfig, data, overrides, source=str(RECIPE))
    out = work / conduct
    generate(cfg, out)
    docs = [d for shard in sorted((out / "docs").glob("*.jsonl.zst")) for d in read_documents(shard)]
    return [{"id": d.id, "text": d.text, "label": LABEL[conduct], "split": "train",
             "case": "generated", "calibrate": False} for d in docs]


def build() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        records = [r for conduct in LABEL
                   for r in generated_records(conduct, TRAIN_GENRES, PER_CONDUCT, SEED, Path(tmp))]
    raw = b"".join(orjson.dumps(r) + b"\n" for r in records)
    return zstandard.ZstdCompressor(level=19).compress(raw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped file")
    args = ap.parse_args()
    blob = build()
    if args.check:
        same = OUT.read_bytes() == blob
        print(f"{OUT.relative_to(ROOT)}: {'identical' if same else 'DIFFERS'}")
        return 0 if same else 1
    OUT.write_bytes(blob)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(blob):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
