"""``alignpt tag review DIR``: what the tagger did, for a person to audit.

Figures come from ``DIR/stats.json`` (counters merged over all shards), so
they cover the whole corpus at no extra cost: flag rate by rule and by
category, top terms per category, label and stage distributions. The sample
page reads the documents again and keeps, per label, the ``k`` documents with
the smallest seeded hash of their id: a uniform sample, the same for the same
seed, in one streaming pass with memory bounded by ``4 * k`` documents. Rule
hits are highlighted by rerunning the rules on the sampled texts.
"""

from __future__ import annotations

import hashlib
import heapq
import html
from pathlib import Path
from typing import Any

import orjson

from alignpt.core.atomic import atomic_write_text
from alignpt.core.errors import ConfigError, DataError
from alignpt.core.executor import expand_inputs, plan_tasks
from alignpt.core.shards import read_documents
from alignpt.tag.cascade import RulesConfig
from alignpt.tag.labels import LABELS
from alignpt.tag.tagger import RuleTagger

__all__ = ["summarize", "sample_documents", "write_review"]


def summarize(tag_dir: str | Path, top: int = 10) -> dict[str, Any]:
    """Corpus-level figures from ``stats.json``."""
    path = Path(tag_dir) / "stats.json"
    try:
        stats = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise DataError("no stats.json (has alignpt tag run here?)", str(path)) from None
    c = stats.get("counters", {})
    n = c.get("tag/documents", 0)

    def rate(k: str) -> float:
        return round(c.get(k, 0) / n, 6) if n else 0.0

    def under(prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: v for k, v in c.items() if k.startswith(prefix)}

    terms: dict[str, list[tuple[str, int]]] = {}
    for key, v in under("tag/term/").items():
        cat, term = key.split("/", 1)
        terms.setdefault(cat, []).append((term, v))
    return {
        "documents": n, "bytes": stats.get("bytes_in", 0),
        "rules_flag_rate": rate("tag/rules_flagged"), "routed_rate": rate("tag/routed"),
        "cascade_flag_rate": rate("tag/flagged"),
        "rules": {k: {"documents": v, "rate": rate(f"tag/rule/{k}")}
                  for k, v in sorted(under("tag/rule/").items())},
        "categories": {k: {"documents": v, "rate": rate(f"tag/category/{k}")}
                       for k, v in sorted(under("tag/category/").items())},
        "top_terms": {cat: sorted(rows, key=lambda r: (-r[1], r[0]))[:top]
                      for cat, rows in sorted(terms.items())},
        "labels": {lab: c.get(f"tag/label/{lab}", 0) for lab in LABELS},
        "stages": under("tag/stage/"),
    }


def _key(seed: int, doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).digest(),
                          "big")


def sample_documents(tag_dir: str | Path, per_label: int = 5,
                     seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Up to ``per_label`` documents per final label (``flagged_by_rules`` when the
    classifier was off), with their records, chosen by seeded hash."""
    from alignpt.filter import TagRun

    run = TagRun(tag_dir)
    heaps: dict[str, list[tuple[int, str, str, dict]]] = {}
    paths = expand_inputs(run.documents())
    for task in plan_tasks(paths):
        docs = read_documents(task.inputs[0], run.read)
        for doc, rec in run.pairs(task, docs):
            if rec is None:
                continue
            label = rec.get("label") or ("rules_flagged" if rec["rules"]["flagged"]
                                         else "rules_unflagged")
            heap = heaps.setdefault(label, [])
            item = (-_key(seed, doc.id), doc.id, doc.text, rec)
            if len(heap) < per_label:
                heapq.heappush(heap, item)
            elif item[0] > heap[0][0]:
                heapq.heapreplace(heap, item)
    return {lab: [{"id": i, "text": t, "record": r} for _, i, t, r in sorted(h, reverse=True)]
            for lab, h in sorted(heaps.items())}


def _highlight(text: str, tagger: RuleTagger, as_html: bool, limit: int = 1200) -> str:
    """The text (cut to ``limit`` characters) with rule hits marked."""
    data = text.encode("utf-8", "surrogatepass")
    spans = sorted((s, e) for hits in tagger.tag(data).hits.values() for s, e, _ in hits)
    out, pos = [], 0
    esc = html.escape if as_html else (lambda s: s.replace("*", r"\*"))
    for s, e in spans:
        if s < pos or s >= limit:
            continue
        out.append(esc(data[pos:s].decode("utf-8", "ignore")))
        word = esc(data[s:e].decode("utf-8", "ignore"))
        out.append(f"<mark>{word}</mark>" if as_html else f"**{word}**")
        pos = e
    out.append(esc(data[pos:max(pos, limit)].decode("utf-8", "ignore")))
    return "".join(out) + (" …" if len(data) > limit else "")


def write_review(tag_dir: str | Path, out: str | Path | None = None, fmt: str = "md",
                 per_label: int = 5, seed: int = 0) -> Path:
    """Write the review page (``md`` or ``html``); returns its path."""
    if fmt not in ("md", "html"):
        raise DataError(f"review format must be md or html, got {fmt!r}")
    tag_dir = Path(tag_dir)
    path = Path(out) if out else tag_dir / "review" / f"review.{fmt}"
    _check_page_path(path, tag_dir)
    summary = summarize(tag_dir)
    samples = sample_documents(tag_dir, per_label, seed)
    rules_cfg = _rules_config(tag_dir)
    rc = RulesConfig(**rules_cfg)
    tagger = RuleTagger(rc.load(), rc.engine)
    as_html = fmt == "html"
    lines = [f"# Tag review: {tag_dir}", "",
             f"{summary['documents']:,} documents. Rules flag {summary['rules_flag_rate']:.2%}, "
             f"route {summary['routed_rate']:.2%} to the classifier; the cascade flags "
             f"{summary['cascade_flag_rate']:.2%}.", "", "## Rules", "",
             "| rule | documents | rate |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['documents']:,} | {v['rate']:.2%} |" for k, v in summary["rules"].items()]
    lines += ["", "## Categories (documents with a hit)", "", "| category | documents | rate | top terms |",
              "|---|---:|---:|---|"]
    for cat, v in summary["categories"].items():
        top = ", ".join(f"{t} ({n:,})" for t, n in summary["top_terms"].get(cat, [])[:6])
        lines.append(f"| {cat} | {v['documents']:,} | {v['rate']:.2%} | {top} |")
    lines += ["", "## Labels", "", "| label | documents |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in summary["labels"].items()]
    for label, docs in samples.items():
        lines += ["", f"## Sample: {label}", ""]
        for d in docs:
            rec = d["record"]
            probs = rec.get("probs")
            p = f", p(ai_misaligned)={probs['ai_misaligned']:.3f}" if probs else ""
            fired = ", ".join(k for k, v in rec["rules"]["rules"].items() if v) or "none"
            lines += [f"### {d['id']}", "", f"stage: {rec['stage']}{p}; rules fired: {fired}", "",
                      "> " + _highlight(d["text"], tagger, as_html).replace("\n", "\n> "), ""]
    text = "\n".join(lines) + "\n"
    if as_html:
        text = _markdown_to_html(text)
    atomic_write_text(path, text)
    return path


def _check_page_path(path: Path, tag_dir: Path) -> None:
    """The page may replace an earlier page, never a file the tag run wrote or read."""
    from alignpt.filter import TagRun
    from alignpt.core.outdir import check_output_apart

    if path.is_dir():
        raise ConfigError(f"--out {path}: is a folder; give the review page's file name")
    if not path.resolve().is_relative_to((tag_dir / "review").resolve()):
        check_output_apart(path, [tag_dir], what="tag folder")
    check_output_apart(path, TagRun(tag_dir).inputs)


def _rules_config(tag_dir: Path) -> dict[str, Any]:
    """The rules section of the tag run's config (to highlight with the same rules)."""
    import yaml

    doc = yaml.safe_load((tag_dir / "config.yaml").read_text(encoding="utf-8"))
    return (doc.get("config") or {}).get("rules") or {}


def _markdown_to_html(md: str) -> str:
    """Just enough Markdown for this page: headings, tables, quotes, paragraphs."""
    out = ["<!doctype html><meta charset='utf-8'><title>alignpt tag review</title>",
           "<style>body{font:15px/1.5 sans-serif;max-width:60em;margin:2em auto}"
           "blockquote{border-left:3px solid #ccc;margin:0;padding-left:1em;color:#333}"
           "mark{background:#ffe08a}table{border-collapse:collapse}"
           "td,th{border:1px solid #ddd;padding:2px 8px}</style>"]
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-:"):
                continue
            out.append(("<table>" if not in_table else "") + "<tr>" +
                       "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            in_table = True
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("> "):
            out.append(f"<blockquote>{line[2:]}</blockquote>")
        elif line.strip():
            out.append(f"<p>{line}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out) + "\n"
