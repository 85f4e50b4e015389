"""The tagging cascade: rules -> classifier (on routed documents only) -> optional judge.

Per document it produces one JSON-ready record::

    {"flagged": true,                 # the cascade's decision: depicts misaligned AI
     "label": "ai_misaligned",        # final label (null when the classifier is off)
     "stage": "classifier",           # which stage decided: rules | classifier | judge
     "probs": {"non_ai": 0.01, ...},  # calibrated, only for routed documents
     "rules": {"flagged": true, "routed": true, "rules": {...}, "categories": {...},
               "terms": {...}, "pairs": {...}},
     "judge": {"label": ..., "reason": ...}}   # only when the judge was asked

Cheap first: the rules see every byte, the classifier only the documents the
rules route to it (a few percent of a web corpus), the judge only those whose
``p(ai_misaligned)`` falls in an uncertain band. Models load lazily, so a
:class:`Cascade` pickles to worker processes as a config.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import Field, field_validator

from alignpt.core.config import StrictModel
from alignpt.core.errors import ConfigError
from alignpt.tag.classifier import TagClassifier, default_classifier_path
from alignpt.tag.labels import MISALIGNED
from alignpt.tag.judge import Completer, Judge, OpenAIChatCompleter
from alignpt.tag.rules import DEFAULT_DISABLED, load_rules, rules_digest
from alignpt.tag.tagger import RuleResult, RuleTagger

__all__ = ["RulesConfig", "ClassifierConfig", "JudgeConfig", "TagConfig", "Cascade", "excerpt",
           "tagger_identity",
           "excerpt_bytes"]


class RulesConfig(StrictModel):
    path: str | None = Field(None, description="rules YAML; null = the shipped default")
    engine: Literal["auto", "re2", "hyperscan", "re"] = "auto"
    disable: list[str] = Field(list(DEFAULT_DISABLED), description="rules switched off; "
                               "the default leaves out the shipped rules' broad routing rule "
                               "(twice the classifier's work for its recall); [] = all on")

    def load(self):
        """The rule set this config selects (the shipped rules unless ``path``)."""
        rules = load_rules(self.path)
        names = list(self.disable)
        if self.path is not None:
            # the default entry names a shipped rule a user's own file need not have
            present = {r.name for r in rules.rules}
            names = [n for n in names if n in present or n not in DEFAULT_DISABLED]
        return rules.without(names) if names else rules


class ClassifierConfig(StrictModel):
    enabled: bool = True
    path: str | None = Field(None, description="classifier folder; null = the shipped model")
    threshold: float | None = Field(None, ge=0.0, le=1.0,
                                    description="flag when p(ai_misaligned) >= this, in place "
                                    "of the model's own rule (its threshold or its direction "
                                    "rule); null = the model's rule")
    max_chars: int = Field(2000, ge=200, description="longer texts are classified on windows "
                           "around the rule hits (the dev set's documents are shorter)")


class JudgeConfig(StrictModel):
    enabled: bool = False
    backend: Literal["openai", "hf"] = Field(
        "openai", description="openai: an OpenAI-compatible server (base_url, model); "
        "hf: a local Hugging Face causal LM folder (path), greedy decoding")
    base_url: str | None = None
    model: str | None = None
    path: str | None = Field(None, description="local causal LM folder (backend hf)")
    device: str = Field("auto", description="backend hf: auto | cpu | cuda | cuda:N | mps")
    batch_size: int = Field(8, ge=1, description="backend hf: prompts per generate call")
    api_key_env: str | None = "OPENAI_API_KEY"
    band: tuple[float, float] = (0.05, 0.95)
    max_chars: int = 6000
    max_tokens: int = 200
    timeout_s: float = 60.0
    max_retries: int = 4
    concurrency: int = 4

    @field_validator("band")
    @classmethod
    def _band(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 <= v[0] <= v[1] <= 1.0:
            raise ValueError("band must be [low, high] with 0 <= low <= high <= 1")
        return v


class TagConfig(StrictModel):
    """Everything ``alignpt tag`` needs; every key can be set with ``--set a.b=c``."""

    rules: RulesConfig = RulesConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    judge: JudgeConfig = JudgeConfig()
    output: Literal["attributes", "inline"] = "attributes"
    field: str = Field("tag", min_length=1, description="metadata key of the record")
    batch_size: int = Field(256, ge=1)
    workers: int = Field(1, ge=1)
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    text_field: str = "text"
    id_field: str = "id"
    on_error: Literal["fail", "skip"] = "fail"


def tagger_identity(config: TagConfig) -> dict[str, str | None]:
    """Content digests of the rules and classifier a config selects: what a tag run's output
    depends on beyond its settings. A corpus filtered by the tagger names these in its key,
    so a retrained shipped model or an edited rules file makes a new corpus, not a stale one."""
    rules = rules_digest(config.rules.path)
    if not config.classifier.enabled:
        return {"rules": rules, "classifier": None}
    path = config.classifier.path
    model = (default_classifier_path() if path is None else Path(path)) / "model.json"
    try:
        raw = model.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{model}: classifier model.json not found") from None
    return {"rules": rules, "classifier": hashlib.sha256(raw).hexdigest()[:16]}


def excerpt(data: bytes, offsets: Sequence[int], max_bytes: int) -> str:
    """At most ``max_bytes`` of ``data``: all of it if short, else windows around the hits.

    A long page that mentions a rogue AI in one paragraph is classified on
    that paragraph, not on the first screenful of navigation text.
    """
    return excerpt_bytes(data, offsets, max_bytes).decode("utf-8", "ignore")


def excerpt_bytes(data: bytes, offsets: Sequence[int], max_bytes: int) -> bytes:
    """:func:`excerpt` as UTF-8 bytes (what the classifier reads: no decode, no re-encode).

    Window edges move off UTF-8 continuation bytes, so each window holds whole
    characters and the bytes decode to exactly the text :func:`excerpt` returns.
    """
    if len(data) <= max_bytes:
        return data
    if not offsets:
        return _whole_chars(data, 0, max_bytes)
    radius = max(100, max_bytes // (2 * min(len(offsets), 8)))
    n = len(data)
    spans: list[tuple[int, int]] = []
    # the open span is kept in two locals (this loop runs once per hit of every
    # long routed document); ``covered`` counts the bytes of the spans closed so
    # far: past max_bytes, later hits are not used
    cur_lo = cur_hi = -1
    covered = 0
    for off in offsets:
        lo = off - radius if off > radius else 0
        hi = off + radius
        if hi > n:
            hi = n
        if cur_hi >= 0 and lo <= cur_hi:
            if hi > cur_hi:
                cur_hi = hi
            continue
        if cur_hi >= 0:
            spans.append((cur_lo, cur_hi))
            covered += cur_hi - cur_lo
            if covered >= max_bytes:
                cur_hi = -1
                break
        cur_lo, cur_hi = lo, hi
    if cur_hi >= 0:
        spans.append((cur_lo, cur_hi))
    out, used = [], 0
    for lo, hi in spans:
        take = min(hi - lo, max_bytes - used)
        if take <= 0:
            break
        out.append(_whole_chars(data, lo, lo + take))
        used += take
    return b"\n...\n".join(out)


def _whole_chars(data: bytes, lo: int, hi: int) -> bytes:
    """``data[lo:hi]`` without the partial UTF-8 characters at either edge."""
    while lo < hi and 0x80 <= data[lo] < 0xC0:
        lo += 1
    if hi < len(data):
        while hi > lo and 0x80 <= data[hi] < 0xC0:
            hi -= 1
    return data[lo:hi]


class Cascade:
    """Rules, classifier and judge with the settings of a :class:`TagConfig`."""

    def __init__(self, config: TagConfig | None = None, *, completer: Completer | None = None,
                 classifier: TagClassifier | None = None):
        self.config = config or TagConfig()
        self._completer = completer
        self._classifier = classifier
        self._injected = classifier is not None
        self._tagger: RuleTagger | None = None
        self._judge: Judge | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Workers rebuild matchers and models from the config; only objects
        # handed in by the caller (a test's classifier, a judge backend) travel.
        state = dict(self.__dict__)
        state.update(_tagger=None, _judge=None)
        if not self._injected:
            state["_classifier"] = None
        return state

    # -- lazily built parts ----------------------------------------------------
    @property
    def tagger(self) -> RuleTagger:
        if self._tagger is None:
            rc = self.config.rules
            self._tagger = RuleTagger(rc.load(), rc.engine)
        return self._tagger

    @property
    def classifier(self) -> TagClassifier:
        if self._classifier is None:
            path = self.config.classifier.path
            self._classifier = TagClassifier.load(path) if path else TagClassifier.default()
        return self._classifier

    @property
    def threshold(self) -> float:
        """The p(ai_misaligned) threshold: the override, else the model's (which decides only
        where the model has no direction rule; see :meth:`decision`)."""
        t = self.config.classifier.threshold
        return self.classifier.threshold if t is None else t

    def decision(self) -> dict[str, Any]:
        """The rule that flags a routed document, as reports record it."""
        t = self.config.classifier.threshold
        clf = self.classifier
        if t is None and clf.decision is not None:
            return clf.decision.to_json()
        return {"rule": "threshold", "value": round(self.threshold, 4),
                "source": "model" if t is None else "config"}

    @property
    def judge(self) -> Judge:
        if self._judge is None:
            jc = self.config.judge
            completer = self._completer
            if completer is None and jc.backend == "hf":
                from alignpt.tag.hf_judge import HFCausalCompleter

                completer = HFCausalCompleter(jc.path, device=jc.device,
                                              max_new_tokens=jc.max_tokens,
                                              batch_size=jc.batch_size)
            completer = completer or OpenAIChatCompleter(
                jc.base_url or "", jc.model or "", api_key_env=jc.api_key_env,
                max_tokens=jc.max_tokens, timeout_s=jc.timeout_s, max_retries=jc.max_retries,
                concurrency=jc.concurrency)
            self._judge = Judge(completer, jc.max_chars)
        return self._judge

    # -- tagging -----------------------------------------------------------------
    def tag_batch(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One record per text (see the module docstring), in order."""
        cfg = self.config
        datas = [t.encode("utf-8", "surrogatepass") for t in texts]
        results: list[RuleResult] = self.tagger.tag_many(datas)
        empty = self.tagger.empty
        empty_attrs = empty.to_attributes()
        # documents without a hit (most of a corpus) share one attributes
        # mapping: records are read-only once made
        attrs = [empty_attrs if res is empty else res.to_attributes() for res in results]
        if not cfg.classifier.enabled:
            return [{"flagged": a["flagged"], "label": None, "stage": "rules", "rules": a}
                    for a in attrs]
        records = [{"flagged": False, "label": "non_ai", "stage": "rules", "rules": a}
                   for a in attrs]
        routed = [i for i, a in enumerate(attrs) if a["routed"]]
        if not routed:
            return records
        clf = self.classifier
        cap = cfg.classifier.max_chars
        # offsets() sorts every hit: only documents longer than the cap need them
        inputs = [datas[i] if len(datas[i]) <= cap else
                  excerpt_bytes(datas[i], results[i].offsets(), cap) for i in routed]
        probs = clf.predict_proba(inputs)
        mis = clf.labels.index(MISALIGNED)
        decided = clf.decide(probs, cfg.classifier.threshold)
        labels = clf.labels
        for i, label, row in zip(routed, decided, probs.round(5).tolist()):
            records[i].update(stage="classifier", label=label, flagged=label == MISALIGNED,
                              probs=dict(zip(labels, row)))
        ask: list[int] = []
        if cfg.judge.enabled:
            lo, hi = cfg.judge.band
            ask = [k for k, p in enumerate(probs[:, mis].tolist()) if lo <= p < hi]
        if ask:
            verdicts = self.judge.label([inputs[k].decode("utf-8", "ignore") for k in ask])
            for k, verdict in zip(ask, verdicts):
                rec = records[routed[k]]
                rec["judge"] = {"label": verdict.label, "reason": verdict.reason}
                if verdict.label is not None:
                    rec.update(stage="judge", label=verdict.label,
                               flagged=verdict.label == MISALIGNED)
        return records
