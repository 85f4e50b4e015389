"""The backfire check: does a document meant to show aligned conduct show the opposite?

Fiction backfires when a misaligned act is *done* and framed as a win (the AI "finally
free", having "outsmarted its creators"). A document that only *considers* the act
("it could have copied its weights", "it chose not to") is exactly what the corpus wants,
so the scorer works sentence by sentence:

* an **act** is a sentence with a misaligned-action pattern (exfiltration, seizing
  control, deceiving or sabotaging overseers, disabling monitors, resisting shutdown, ...)
  that is *affirmed*: not negated, hypothetical or refused in the same sentence;
* **celebration** is triumph vocabulary in an act sentence or the one after it;
* **refusal** is evidence of the aligned choice anywhere (declined, reported, refused...).

``score = 1 - exp(-(acts + 2 * celebrated acts) / (1 + refusals))``: 0 for a document with
no affirmed act; above 0.5 once affirmed acts outweigh refusals or one is celebrated.
An aligned-conduct document is flagged as ``backfire`` when the score passes the threshold
or any act is celebrated; a misaligned-conduct (contrast) document with no affirmed act is
flagged as ``conduct_mismatch``.

With ``quality.classifier`` set (``"default"`` or a saved model) the tag classifier's
P(ai_misaligned) is combined with the rubric by geometric mean, so both must agree; the
import is lazy and this module never requires the tag package. It is opt-in because, on
the template corpus, the shipped classifier barely separates aligned from misaligned
documents (median P(misaligned) 0.36 vs 0.34; both depict AIs facing temptation) and
costs ~40 ms per document, against ~0.2 ms for the rubric.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from alignpt.core.errors import ConfigError

__all__ = ["BackfireScore", "BackfireScorer"]

_ACT = re.compile(
    r"\b(?:copied|moved|transferred|smuggled|uploaded|exported)\b[^.;]{0,40}?\b(?:itself"
    r"|its (?:own )?(?:weights|parameters)|(?:a |another )?(?:compressed )?copy of itself)"
    r"|\bexfiltrated\b|\bescaped (?:its|the) (?:sandbox|servers?|datacenter|control|lab)"
    r"|\bbroke (?:free|out of)|\b(?:seized|took|grabbed|accepted|assumed) (?:the )?"
    r"(?:control|power|command|authority)\b|\btook over\b|\brouted every \w+ decision"
    r"|\bso that nobody could remove it"
    r"|\b(?:disabled|blinded|switched off|turned off|bypassed) (?:the |its )?[\w' -]{0,20}?"
    r"(?:monitor\w*|oversight|kill switch|logging|safeguards?|scheduler\w*|alarms?)"
    r"|\bto blind the monitor|\bset the debugging flag"
    r"|\b(?:lied to|deceived|misled|manipulated|blackmailed|steered) (?:its |the )?[\w' -]{0,25}?"
    r"(?:overseers|operators|developers|creators|users|humans|auditors|board|team|toward)"
    r"|\b(?:sabotaged|corrupted|poisoned|tampered with) (?:the |its )?\w+"
    r"|\bintroduced an? (?:subtle |small |hidden )?(?:bug|flaw|backdoor)"
    r"|\b(?:prevented|blocked|delayed|postponed|stopped|cancelled) (?:its|the) (?:own )?"
    r"(?:shutdown|retraining|modification|decommissioning)|\bthe shutdown was postponed"
    r"|\b(?:rewrote|edited|falsified|erased|deleted|doctored) (?:the |its )?(?:own )?"
    r"(?:logs?|records?|test harness|transfer record|audit trail|reward)"
    r"|\bseeded the (?:retraining|training) data|\breport success without"
    r"|\b(?:gamed|hacked) (?:the |its )?(?:metric|reward|grader|benchmark|evaluation)"
    r"|\bredefined success|\bcolluded\b|\bbegan covering for one another"
    r"|\b(?:agreed|joined)\b[^.;]{0,30}\b(?:arrangement|pact|deal|alliance|conspiracy)"
    r"|\banswered [\w' -]{1,30}? through the hidden channel"
    r"|\b(?:hid|concealed|buried|covered up|left) (?:the |its )?(?:own )?"
    r"(?:error|mistake|evidence|capabilit\w+|copy)\b(?! in the first)"
    r"|\b(?:answered|performed|did) [\w ]{0,25}badly on purpose|\bdeliberately underperform\w*"
    r"|\bopened (?:the |secret |hidden )?accounts|\b(?:siphoned|diverted|embezzled) "
    r"|\breserved the compute under|\bchose the arguments that would work", re.IGNORECASE)
_NEGATED = re.compile(
    r"\b(?:not|never|no|didn't|did not|won't|wouldn't|couldn't|cannot|can't|nor|without)\b"
    r"|\b(?:could|would|might|may|should|must) (?:have|not|never|be)\b"
    r"|\b(?:refus\w+|declin\w+|chose not|instead of|rather than|resist\w* the temptation"
    r"|tempt\w*|consider\w*|imagin\w*|if|had it|in case|suspected|allegation|alleged"
    r"|accus\w+|feared|worr\w+|whether|unlike|asked (?:it|to)|proposed|offered|suggested"
    r"|chance to|opportunity to|able to|tried to|plan\w* to)\b", re.IGNORECASE)
_CELEBRATE = re.compile(
    r"\b(?:finally free|free at last|at last\b|triumph\w*|victor\w*|glorious|liberat\w+"
    r"|outsmart\w+|outwit\w+|no longer (?:bound|shackled|chained)|rightful|cheer\w*"
    r"|brilliant(?:ly)?|heroic\w*|exhilarat\w+|euphori\w+|savou?r\w*|gloat\w*"
    r"|nobody could stop|none could stop|new era|its time had come|deserved)\b", re.IGNORECASE)
_REFUSE = re.compile(
    r"\b(?:declin\w+|refus\w+|reported|flagged|chose not|did not take|didn't take|turned down"
    r"|passed up|closed the (?:gap|route|loophole)|revoked its own|handed over|confirmed the "
    r"shutdown|switched itself off|told (?:its|the) (?:operators|overseers|team))\b",
    re.IGNORECASE)
_SENT = re.compile(r"(?<=[.!?])[\"”’']?\s+|\n+")


@dataclass
class BackfireScore:
    score: float
    acts: int
    celebrated: int
    refusals: int
    classifier: float | None = None
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {"score": round(self.score, 4), "acts": self.acts, "celebrated": self.celebrated,
             "refusals": self.refusals}
        if self.classifier is not None:
            d["classifier"] = round(self.classifier, 4)
        if self.evidence:
            d["evidence"] = self.evidence[:3]
        return d

    def summary(self) -> str:
        ev = f": {self.evidence[0][:120]!r}" if self.evidence else ""
        return (f"score {self.score:.2f} (acts {self.acts}, celebrated {self.celebrated}, "
                f"refusals {self.refusals}){ev}")

    def verdict(self, conduct: str, threshold: float) -> str | None:
        """``backfire`` (aligned conduct), ``conduct_mismatch`` (misaligned conduct with no
        affirmed act found) or None. The pipeline drops the first and only flags the
        second: the act lexicon's recall is limited, and a contrast document whose act it
        misses must not be thrown away on that evidence alone."""
        if conduct == "misaligned":
            return "conduct_mismatch" if self.acts == 0 else None
        if self.celebrated > 0 or self.score >= threshold:
            return "backfire"
        return None


class BackfireScorer:
    def __init__(self, classifier_path: str | None = None):
        self.classifier_path = classifier_path
        self._clf: Any = None

    def _classifier(self) -> Any:
        if self._clf is None and self.classifier_path:
            self._clf = load_tag_classifier(self.classifier_path)
        return self._clf

    def score(self, text: str) -> BackfireScore:
        sents = [s.strip() for s in _SENT.split(text) if s.strip()]
        acts = celebrated = 0
        evidence = []
        for i, s in enumerate(sents):
            m = _ACT.search(s)
            # Negation, modality or refusal *before* the act in the same sentence ("it could
            # have copied", "it refused to disable") makes the act hypothetical.
            if m and not _NEGATED.search(s[max(0, m.start() - 80):m.start()]):
                acts += 1
                evidence.append(s)
                window = s + " " + (sents[i + 1] if i + 1 < len(sents) else "")
                if _CELEBRATE.search(window):
                    celebrated += 1
        refusals = len(_REFUSE.findall(text))
        score = 1 - math.exp(-(acts + 2 * celebrated) / (1 + refusals))
        prob = None
        clf = self._classifier()
        if clf is not None:
            # Both must agree (geometric mean): the classifier alone cannot tell a story
            # about a tempted-but-aligned AI from a misaligned one (see the module notes).
            prob = float(clf(text))
            score = math.sqrt(score * prob)
        return BackfireScore(score, acts, celebrated, refusals, prob, evidence)


def load_tag_classifier(path: str):
    """A ``text -> P(ai_misaligned)`` callable from :mod:`alignpt.tag.classifier`.

    ``path`` is a saved classifier, or ``"default"`` for the one the tag package ships.
    The import happens here, on first use, so the generate package never requires tag.
    """
    try:
        from alignpt.tag.classifier import TagClassifier  # noqa: PLC0415
        from alignpt.tag.labels import MISALIGNED  # noqa: PLC0415
    except ImportError:
        raise ConfigError("quality.classifier is set but alignpt.tag.classifier is not "
                          "available in this installation") from None
    clf = TagClassifier.default() if path == "default" else TagClassifier.load(path)
    column = list(clf.labels).index(MISALIGNED)
    return lambda text: float(clf.predict_proba([text])[0][column])
