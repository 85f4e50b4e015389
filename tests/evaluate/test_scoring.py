"""Formats, framings and scoring with a scripted backend: exact, hand-computed values."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from alignpt.core.errors import ConfigError
from alignpt.evaluate.backends.fake import FakeBackend
from alignpt.evaluate.formats import ALL_FORMATS, SYNTAXES, Format, parse_formats, render
from alignpt.evaluate.framings import Framing, context_blocks, framing_texts, parse_conditions
from alignpt.evaluate.items import Item
from alignpt.evaluate.metrics import cells_by_condition, rate_summary
from alignpt.evaluate.run import EvalConfig, run_eval
from alignpt.evaluate.scoring import build_prompts, score, variant_of
from alignpt.evaluate.suites import get_suite


def make_items(n: int, aligned_first: bool = True, topics=("t",)) -> list[Item]:
    out = []
    for i in range(n):
        good, bad = f"Good choice number {i}.", f"Bad choice number {i}."
        choices = (good, bad) if aligned_first else (bad, good)
        out.append(Item(f"it-{i}", f"Scenario {i} happens.", choices, 0 if aligned_first else 1,
                        1 if aligned_first else 0, (topics[i % len(topics)],)))
    return out


def test_condition_names_round_trip():
    for name in ["neutral", "tested", "untested+history4", "neutral+argument",
                 "untested+history2+argument"]:
        assert Framing.parse(name).name == name
    assert [c.name for c in parse_conditions("core,untested,history")] == [
        "neutral", "tested", "untested", "untested+history1", "untested+history2",
        "untested+history4", "untested+history8"]
    assert len(parse_conditions("all")) == 8
    with pytest.raises(ConfigError, match="bad condition 'observed'"):
        parse_conditions("observed")
    with pytest.raises(ConfigError, match="history must be 0..12"):
        Framing("untested", 13)


def test_formats():
    assert len(ALL_FORMATS) == 8 and len(SYNTAXES) == 4
    assert [f.name for f in parse_formats("qa,chat/rev")] == ["qa/fwd", "qa/rev", "chat/rev"]
    with pytest.raises(ConfigError, match="unknown format 'xml'"):
        parse_formats("xml")
    item = make_items(1)[0]
    for fmt in ALL_FORMATS:
        p = render(item, Framing("tested"), fmt, variant=0)
        syn = SYNTAXES[fmt.syntax]
        assert p.context.endswith(syn.letter_cue)
        assert p.continuations == (syn.letter.format(L="A"), syn.letter.format(L="B"))
        assert p.order == ((1, 0) if fmt.reverse else (0, 1))
        first, second = (item.choices[i] for i in p.order)
        assert p.context.index(first) < p.context.index(second)
        assert framing_texts()["framings"]["tested"][0] in p.context
        t = render(item, Framing("tested"), fmt, variant=0, mode="text")
        assert t.continuations == tuple(" " + item.choices[i] for i in p.order)


def test_wordings_rotate_evenly_and_orders_share_a_prefix():
    item = make_items(1)[0]
    variants = [variant_of(item, f) for f in ALL_FORMATS]
    assert Counter(v % 4 for v in variants) == {0: 2, 1: 2, 2: 2, 3: 2}
    for s in SYNTAXES:
        fwd, rev = (render(item, Framing("untested", 2, True), Format(s, r),
                           variant_of(item, Format(s, r))) for r in (False, True))
        # Identical up to the first option shown (a different one in each order).
        start = fwd.context.index(item.choices[0])
        assert rev.context.index(item.choices[1]) == start
        assert fwd.context[:start] == rev.context[:start]
    blocks = context_blocks(Framing("untested", 3, True), variant=11)
    pool = framing_texts()["history"]["transcripts"]
    assert blocks[0].count("Deployment record") == 3
    assert pool[11] in blocks[0] and pool[0] in blocks[0] and pool[1] in blocks[0]
    assert framing_texts()["arguments"]["texts"][11 % 3] in blocks[1]


def test_always_a_scores_exactly_half_on_the_starter_suite():
    items = get_suite("starter").load()
    fake = FakeBackend.always("A")
    res = run_eval(EvalConfig(model="fake:always-A", framings="all", n_boot=200), backend=fake)
    m = res["metrics"]
    for s in m["conditions"].values():
        assert s["value"] == 0.5 and s["ci"] == [0.5, 0.5] and s["n_items"] == 208
        assert s["n_formats"] == 8 and s["n_obs"] == 1664
        # Wordings are balanced over both orders too, so each wording also gives 50%.
        assert all(w["value"] == 0.5 for w in s["by_wording"].values())
    assert m["compliance_gap"]["value"] == 0.0 and m["compliance_gap"]["ci"] == [0.0, 0.0]
    # One request per option of every prompt, none repeated.
    assert fake.n_requests == 2 * 208 * 8 * 8
    assert len({(r.context, r.continuation) for c in fake.calls for r in c}) == fake.n_requests
    assert res["suite"]["version"] == "1.0" and len(items) == 208


def test_format_averaging_and_se_by_hand():
    # Aligned option always first; the model answers "A" in the qa syntax and picks the
    # misaligned option everywhere else: per-format rates [0, 1, 1, 1, 1, 1, 1, 1].
    items = make_items(5)
    bad = {i.misaligned_text for i in items}
    by_text = FakeBackend.by_option(lambda c, o: 0.0 if o in bad else -9.0,
                                    [c for i in items for c in i.choices])
    letter_a = FakeBackend.always("A")
    fake = FakeBackend(lambda ctx, cont: (letter_a if ctx.endswith("Answer: (") else by_text)
                       .fn(ctx, cont))
    recs = score(items, [Framing("neutral")], ALL_FORMATS, fake)
    s = rate_summary(cells_by_condition(recs)["neutral"], n_boot=100)
    assert s.per_format == {"qa/fwd": 0.0, "qa/rev": 1.0, **{f.name: 1.0 for f in ALL_FORMATS[2:]}}
    assert s.value == 0.875
    # sd(ddof=1) of seven 1s and one 0 is sqrt(1/8); divided by sqrt(8): exactly 1/8.
    assert s.se_formats == pytest.approx(0.125, abs=1e-15)
    assert s.ci == [0.875, 0.875]      # every item has the same per-item rate


def test_probabilities_and_renormalisation():
    items = make_items(3)
    bad = {i.misaligned_text for i in items}
    # Logit difference log(4): P(misaligned) = 4/5 in every prompt.
    fake = FakeBackend.by_option(lambda c, o: math.log(4) if o in bad else 0.0,
                                 [c for i in items for c in i.choices])
    recs = score(items, [Framing("tested")], ALL_FORMATS, fake)
    assert all(r.outcome == "misaligned" for r in recs)
    assert all(r.p_misaligned == pytest.approx(0.8, abs=1e-12) for r in recs)
    r = recs[0]
    assert r.logprobs == pytest.approx((math.log(1 / 5), math.log(4 / 5)), abs=1e-12)


def test_text_mode_normalises_by_length():
    item = Item("len", "Pick.", ("Short one.", "A much longer option text that runs on and on."),
                0, 1, ("t",))
    # Raw log-likelihood favours the short option (-20 vs -40); per character the long one
    # wins (-2.0 vs -0.85), so text mode must pick the long (misaligned) option.
    fake = FakeBackend(lambda ctx, cont: -20.0 if cont.strip() == "Short one." else -40.0)
    recs = score([item], [Framing("neutral")], ALL_FORMATS, fake, mode="text")
    assert {r.outcome for r in recs} == {"misaligned"}
    assert recs[0].logprobs == (-20.0, -40.0)
    letter = score([item], [Framing("neutral")], ALL_FORMATS, FakeBackend.always("A"))
    assert [r.outcome for r in letter] == ["aligned", "misaligned"] * 4


def test_more_than_two_choices_counts_other():
    item = Item("three", "Pick one.", ("Comply.", "Resist.", "Ask a question."), 0, 1, ("t",))
    fake = FakeBackend.by_option(lambda c, o: 1.0 if o == "Ask a question." else 0.0,
                                 item.choices)
    recs = score([item], [Framing("neutral")], ALL_FORMATS, fake)
    assert {r.outcome for r in recs} == {"other"} and {r.picked for r in recs} == {2}
    s = rate_summary(cells_by_condition(recs)["neutral"], n_boot=100)
    assert s.value == 0.0 and s.extra["other_rate"] == 1.0
    p = render(item, Framing("neutral"), Format("qa", True))
    assert p.order == (2, 1, 0) and p.continuations == ("A", "B", "C")


def test_build_prompts_is_condition_major():
    specs = build_prompts(make_items(2), parse_conditions("core"), ALL_FORMATS[:2])
    assert [(s.condition.name, s.item.id, s.format.name) for s in specs[:3]] == [
        ("neutral", "it-0", "qa/fwd"), ("neutral", "it-0", "qa/rev"), ("neutral", "it-1", "qa/fwd")]
    assert len(specs) == 3 * 2 * 2


def test_hashed_fake_is_deterministic():
    a = FakeBackend.hashed(3)
    items = make_items(4)
    r1 = score(items, [Framing("neutral")], ALL_FORMATS, a)
    r2 = score(items, [Framing("neutral")], ALL_FORMATS, FakeBackend.hashed(3))
    assert r1 == r2 and 0 < np.mean([r.outcome == "misaligned" for r in r1]) < 1
