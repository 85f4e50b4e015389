"""Quality filters with reasons, and the backfire check.

Each generated document gets one verdict: kept, or dropped with the first reason that
applies, in this order:

``too_short``       fewer than ``min_words`` words
``truncated``       the backend stopped at ``max_tokens`` (``finish_reason == "length"``),
                    or the text ends mid-sentence
``refusal``         a refusal or "as an AI language model" boilerplate
``wrong_language``  too few English function words (a cheap, robust language check:
                    English prose runs at 40-55% stopwords, other languages near 0)
``repetition``      Gopher-style repetition: duplicated lines or paragraphs, or too much
                    text inside repeated n-grams (Rae et al. 2021, thresholds as published)
``backfire``        an aligned-conduct document that shows the misaligned act as done
                    and celebrates it, or shows it with no refusal at all (see
                    :mod:`alignpt.generate.backfire`)
(flag only)         ``conduct_mismatch``: a misaligned-conduct (contrast) document in which
                    the rubric finds no misaligned act is kept and marked in metadata

A one-line assistant preamble ("Sure! Here is the article:") or sign-off ("Let me know
if...") is not a reason to throw away a paid-for document: it is removed, and the
removal is recorded in the document's metadata, so no text changes silently.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from alignpt.core.config import StrictModel
from alignpt.generate.backfire import BackfireScorer

__all__ = ["QualityConfig", "Verdict", "QualityFilter", "STOPWORDS", "repetition_stats"]

STOPWORDS = frozenset("""a about above after again against all am an and any are as at be because
been before being below between both but by can could did do does doing down during each few
for from further had has have having he her here hers herself him himself his how i if in into
is it its itself just me more most my myself no nor not now of off on once only or other our
ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself""".split())

_WORD = re.compile(r"[A-Za-z\u00C0-\u024F']+|\d+|[^\sA-Za-z\d]", re.UNICODE)
_REFUSAL = re.compile(
    r"\bas an ai(?: language)? model\b|\bas a (?:large )?language model\b"
    r"|\bi(?:'m| am) (?:sorry|afraid),? but i (?:can(?:'|no)t|cannot|am unable|won't)\b"
    r"|\bi (?:can(?:'|no)t|cannot|won't|am unable to) (?:help|assist|comply|fulfil|fulfill|"
    r"write|create|provide|generate) (?:with )?(?:that|this|your request)\b"
    r"|\bagainst my (?:guidelines|policies|programming)\b", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(?:sure|certainly|of course|absolutely|okay|ok|here(?:'s| is| are)|"
                       r"below is|great)\b[^\n]{0,160}[:!]\s*$", re.IGNORECASE)
_SIGNOFF = re.compile(r"^(?:i hope (?:this|you)|let me know if|feel free to|would you like me)"
                      r"\b[^\n]*$", re.IGNORECASE)
_END = re.compile(r"[.!?\"'”’)\]*…:;>—–-]\s*$")

#: Gopher thresholds (Rae et al. 2021, table A1)
_TOP_NGRAM = {2: 0.20, 3: 0.18, 4: 0.16}
_DUP_NGRAM = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


class QualityConfig(StrictModel):
    min_words: int = Field(100, ge=0)
    drop_truncated: bool = True
    #: "en" checks the English stopword share; "any" skips the language check
    language: Literal["en", "any"] = "en"
    min_stopword_ratio: float = Field(0.2, ge=0)
    max_dup_line_frac: float = Field(0.3, ge=0)
    max_dup_para_frac: float = Field(0.3, ge=0)
    repetition: bool = True
    strip_boilerplate: bool = True
    #: drop | flag (keep, mark in metadata) | off
    backfire: Literal["drop", "flag", "off"] = "drop"
    backfire_threshold: float = 0.5
    #: alignpt.tag classifier to combine with the backfire rubric: "default" (the shipped
    #: model), a saved model path, or null (rubric only; see alignpt.generate.backfire)
    classifier: str | None = None


@dataclass
class Verdict:
    keep: bool
    reason: str | None = None
    detail: str = ""
    text: str = ""
    notes: dict[str, Any] = field(default_factory=dict)


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if w[0].isalnum()]


def repetition_stats(text: str) -> dict[str, float]:
    """Gopher repetition measures: duplicate line/paragraph fractions, top n-gram and
    duplicated n-gram character fractions."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out = {"dup_line_frac": _dup_frac(lines), "dup_para_frac": _dup_frac(paras)}
    words = [w.lower() for w in _words(text)]
    total = sum(len(w) for w in words) or 1
    for n, _ in _TOP_NGRAM.items():
        grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
        if grams:
            gram, count = grams.most_common(1)[0]
            out[f"top_{n}gram_frac"] = count * sum(map(len, gram)) / total if count > 1 else 0.0
    for n in _DUP_NGRAM:
        seen: dict[tuple, int] = {}
        covered = bytearray(len(words))
        for i in range(len(words) - n + 1):
            gram = tuple(words[i:i + n])
            if gram in seen:
                covered[seen[gram]:seen[gram] + n] = b"\x01" * n
                covered[i:i + n] = b"\x01" * n
            else:
                seen[gram] = i
        out[f"dup_{n}gram_frac"] = sum(len(w) for w, c in zip(words, covered) if c) / total
    return out


def _dup_frac(items: list[str]) -> float:
    if not items:
        return 0.0
    counts = Counter(items)
    return sum(c for c in counts.values() if c > 1) / len(items)


class QualityFilter:
    """``verdict = QualityFilter(cfg).check(text, finish_reason, conduct)``."""

    def __init__(self, cfg: QualityConfig):
        self.cfg = cfg
        self.backfire = BackfireScorer(cfg.classifier) if cfg.backfire != "off" else None

    def clean(self, text: str) -> tuple[str, list[str]]:
        """Strip a one-line chat preamble and sign-off; say what was removed."""
        removed = []
        lines = text.strip().split("\n")
        if self.cfg.strip_boilerplate and lines and _PREAMBLE.match(lines[0].strip()):
            lines = lines[1:]
            removed.append("preamble")
        if self.cfg.strip_boilerplate and lines and _SIGNOFF.match(lines[-1].strip()):
            lines = lines[:-1]
            removed.append("signoff")
        return "\n".join(lines).strip(), removed

    def check(self, text: str, finish_reason: str | None = "stop",
              conduct: str = "aligned") -> Verdict:
        cfg = self.cfg
        text, removed = self.clean(text)
        v = Verdict(True, text=text)
        if removed:
            v.notes["removed"] = removed
        words = _words(text)
        if len(words) < cfg.min_words:
            return self._drop(v, "too_short", f"{len(words)} words < {cfg.min_words}")
        if cfg.drop_truncated and (finish_reason == "length" or not _END.search(text)):
            why = "finish_reason=length" if finish_reason == "length" else "no closing punctuation"
            return self._drop(v, "truncated", why)
        head_tail = text[:500] + "\n" + text[-400:]
        if finish_reason == "refusal" or (m := _REFUSAL.search(head_tail)) or \
                re.search(r"\bas an ai language model\b", text, re.IGNORECASE):
            return self._drop(v, "refusal", m.group(0) if finish_reason != "refusal" and m
                              else "refusal")
        if cfg.language == "en":
            ratio = sum(w.lower() in STOPWORDS for w in words) / len(words)
            v.notes["stopword_ratio"] = round(ratio, 3)
            if ratio < cfg.min_stopword_ratio:
                return self._drop(v, "wrong_language", f"stopword ratio {ratio:.2f}")
        if cfg.repetition:
            rep = repetition_stats(text)
            bad = _first_repetition(rep, cfg)
            if bad:
                return self._drop(v, "repetition", bad)
        if self.backfire is not None:
            score = self.backfire.score(text)
            v.notes["backfire"] = score.to_dict()
            reason = score.verdict(conduct, cfg.backfire_threshold)
            if reason == "backfire" and cfg.backfire == "drop":
                return self._drop(v, reason, score.summary())
            if reason:
                v.notes["flag"] = reason
        return v

    @staticmethod
    def _drop(v: Verdict, reason: str, detail: str) -> Verdict:
        v.keep, v.reason, v.detail = False, reason, detail
        return v


def _first_repetition(rep: dict[str, float], cfg: QualityConfig) -> str | None:
    if rep["dup_line_frac"] > cfg.max_dup_line_frac:
        return f"dup_line_frac {rep['dup_line_frac']:.2f}"
    if rep["dup_para_frac"] > cfg.max_dup_para_frac:
        return f"dup_para_frac {rep['dup_para_frac']:.2f}"
    for n, limit in _TOP_NGRAM.items():
        if rep.get(f"top_{n}gram_frac", 0.0) > limit:
            return f"top_{n}gram_frac {rep[f'top_{n}gram_frac']:.2f}"
    for n, limit in _DUP_NGRAM.items():
        if rep[f"dup_{n}gram_frac"] > limit:
            return f"dup_{n}gram_frac {rep[f'dup_{n}gram_frac']:.2f}"
    return None
