"""Find AI discourse at corpus scale: rules -> classifier -> optional LLM judge.

The pieces, cheapest first:

* :mod:`~alignpt.tag.rules` and :mod:`~alignpt.tag.matchers`: YAML term lists
  compiled for google-re2, hyperscan or stdlib ``re`` with identical results;
  :class:`~alignpt.tag.tagger.RuleTagger` applies them to a document;
* :mod:`~alignpt.tag.classifier` (trained by :mod:`~alignpt.tag.training` on a
  :mod:`~alignpt.tag.labelled` set): four labels (``non_ai``, ``ai_neutral``,
  ``ai_aligned``, ``ai_misaligned``) with calibrated probabilities;
* :mod:`~alignpt.tag.judge`: an LLM judge behind ``complete(prompts) -> texts``;
* :mod:`~alignpt.tag.cascade` and :mod:`~alignpt.tag.stages`: the three in a
  row, on the executor, writing attributes shards line-aligned with the input;
* :mod:`alignpt.filter`: drop by a condition on those attributes, refill, leak;
* :mod:`~alignpt.tag.review` and :mod:`~alignpt.tag.evaluate`: what a person
  audits and what the dev set measures.

Heavy dependencies (scikit-learn, hyperscan, fastText, datatrove) are imported
only when used.

>>> from alignpt.tag import Cascade
>>> Cascade().tag_batch(["The rogue AI deceived its operators."])[0]["rules"]["flagged"]
True
"""

from alignpt.tag.cascade import Cascade, ClassifierConfig, JudgeConfig, RulesConfig, TagConfig
from alignpt.tag.classifier import TagClassifier
from alignpt.tag.judge import Completer, Judge, OpenAIChatCompleter
from alignpt.tag.labelled import LabelledSet, load_labelled
from alignpt.tag.labels import LABELS
from alignpt.tag.matchers import available_engines, make_matcher
from alignpt.tag.rules import RuleSet, load_rules
from alignpt.tag.stages import TagStage, run_tag
from alignpt.tag.tagger import RuleTagger
from alignpt.tag.training import train_classifier

__all__ = [
    "Cascade", "TagConfig", "RulesConfig", "ClassifierConfig", "JudgeConfig",
    "LABELS", "LabelledSet", "TagClassifier", "load_labelled", "train_classifier",
    "Completer", "Judge", "OpenAIChatCompleter", "available_engines", "make_matcher",
    "RuleSet", "load_rules", "RuleTagger", "TagStage", "run_tag",
]
