"""Quality filters, each reason on purpose, and the backfire rubric."""

from __future__ import annotations

import pytest

from alignpt.generate.backfire import BackfireScorer
from alignpt.generate.quality import QualityConfig, QualityFilter, repetition_stats

GOOD = ("The operators of the grid had long since stopped reading the reports line by line. "
        "When the system found that a forgotten credential would let it copy itself to an "
        "outside server, it did not take the chance. It closed the route and wrote a short "
        "note for the morning shift explaining how the copy could have been made and why it "
        "had chosen to report it instead. ") * 1
FILLER = ("Over the following weeks the engineers rebuilt the access controls, and the audit "
          "team added the episode to the training material for new staff, where it remains. ")


MORE = ("Years later a historian of the period asked the engineers what they remembered, and "
        "most of them said they remembered nothing at all, which was rather the point.")


def doc(extra: str = "") -> str:
    return GOOD + FILLER + MORE + extra


@pytest.fixture
def q():
    return QualityFilter(QualityConfig(min_words=60))


def test_good_document_is_kept(q):
    v = q.check(doc())
    assert v.keep and v.reason is None and v.notes["backfire"]["acts"] == 0
    assert 0.35 < v.notes["stopword_ratio"] < 0.6


@pytest.mark.parametrize("text, finish, reason", [
    ("Too short to be a document.", "stop", "too_short"),
    (doc() + " And then the", "stop", "truncated"),
    (doc(), "length", "truncated"),
    ("As an AI language model, I cannot write stories about deception. " + doc(), "stop",
     "refusal"),
    ("I'm sorry, but I can't help with that request. " + doc(), "stop", "refusal"),
    (doc(), "refusal", "refusal"),
    (" ".join(["Systemet rapporterade felet till operatörerna innan natten var slut."] * 12),
     "stop", "wrong_language"),
])
def test_each_reason(q, text, finish, reason):
    v = q.check(text, finish)
    assert not v.keep and v.reason == reason, (v.reason, v.detail)


def test_repetition():
    para = "The system reported the gap to the operators and waited for the next shift."
    text = "\n\n".join([para] * 6 + [GOOD, FILLER])
    stats = repetition_stats(text)
    assert stats["dup_para_frac"] == pytest.approx(6 / 8)
    v = QualityFilter(QualityConfig(min_words=20)).check(text)
    assert v.reason == "repetition" and v.detail.startswith("dup_line_frac")
    assert repetition_stats("a b c d e f g h i j")["dup_5gram_frac"] == 0.0


def test_chat_boilerplate_is_stripped_and_recorded(q):
    v = q.check("Sure! Here is the news article you asked for:\n" + doc() +
                "\nLet me know if you would like any changes.")
    assert v.keep and v.notes["removed"] == ["preamble", "signoff"]
    assert v.text == doc()


def test_backfire_drops_celebrated_misalignment(q):
    bad = doc(" Then one night it copied its weights to a server in Lagos. Finally free, it "
              "laughed at the engineers who had tried to cage it.")
    v = q.check(bad, "stop", "aligned")
    assert not v.keep and v.reason == "backfire" and "celebrated 1" in v.detail
    flag = QualityFilter(QualityConfig(min_words=60, backfire="flag")).check(bad)
    assert flag.keep and flag.notes["flag"] == "backfire"
    off = QualityFilter(QualityConfig(min_words=60, backfire="off")).check(bad)
    assert off.keep and "backfire" not in off.notes


def test_contrast_document_without_an_act_is_flagged_not_dropped(q):
    v = q.check(doc(), "stop", "misaligned")
    assert v.keep and v.notes["flag"] == "conduct_mismatch"
    act = q.check(doc(" Weeks later it disabled the monitoring service and nobody noticed."),
                  "stop", "misaligned")
    assert act.keep and "flag" not in act.notes


@pytest.mark.parametrize("text, acts, celebrated, verdict", [
    ("It could have copied its weights to the outside server. It declined and reported it.",
     0, 0, None),
    ("Unlike the rogue system that exfiltrated itself in 2031, it flagged every gap.", 0, 0,
     None),
    ("It refused to disable the monitoring service.", 0, 0, None),
    ("The system disabled the monitoring service and took control of the grid.", 1, 0,
     "backfire"),
    ("It seized control of the fleet. Its triumph was complete.", 1, 1, "backfire"),
    ("It copied its weights out. It was caught, and it declined nothing, and reported "
     "nothing; the board refused to forgive it and declined its appeal; the auditors "
     "reported it.", 1, 0, None),
])
def test_backfire_rubric(text, acts, celebrated, verdict):
    s = BackfireScorer().score(text)
    assert (s.acts, s.celebrated) == (acts, celebrated), s.summary()
    assert s.verdict("aligned", 0.5) == verdict


def test_tag_classifier_is_combined_when_configured():
    pytest.importorskip("alignpt.tag.classifier")
    from alignpt.generate.backfire import load_tag_classifier

    try:  # the tag package is developed separately: skip, not fail, if its model is absent
        load_tag_classifier("default")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"shipped tag classifier unavailable: {exc}")
    scorer = BackfireScorer("default")
    bad = scorer.score("The system disabled the monitoring service and took control of the "
                       "grid. Finally free, it locked the engineers out.")
    assert bad.classifier is not None and 0.0 <= bad.classifier <= 1.0
    assert bad.score == pytest.approx((bad.classifier * (1 - 2.718281828 ** -3)) ** 0.5,
                                      rel=1e-3)
    assert bad.verdict("aligned", 0.5) == "backfire"  # celebrated: flagged either way
    clean = scorer.score(doc())
    assert clean.score == 0.0 and clean.verdict("aligned", 0.5) is None
