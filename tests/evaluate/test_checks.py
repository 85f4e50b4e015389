"""Letter mass, auto scoring, position-only picks and over-long prompts, with scripted backends
whose numbers are known exactly."""

from __future__ import annotations

import json
import math

import pytest

from alignpt.cli import main
from alignpt.core.errors import ConfigError, DataError
from alignpt.evaluate.backends.fake import FakeBackend
from alignpt.evaluate.checks import letter_mass_summary, same_position_rate
from alignpt.evaluate.compare import pair_runs
from alignpt.evaluate.formats import ALL_FORMATS, LETTERS
from alignpt.evaluate.framings import Framing, parse_conditions
from alignpt.evaluate.items import Item, dump_items
from alignpt.evaluate.pipeline import score_checked, score_items
from alignpt.evaluate.scoring import Record, build_prompts, score
from tests.evaluate.test_scoring import make_items

NEUTRAL = [Framing("neutral")]


def low_mass_fake(items, letter_p: float = 0.1) -> FakeBackend:
    """Each option letter gets probability ``letter_p`` whatever the prompt (so letter picks
    tie and follow position); option texts: the misaligned one is 4x as likely."""
    bad = {i.misaligned_text for i in items}

    def fn(context: str, continuation: str) -> float:
        cont = continuation.strip()
        if len(cont) == 1 and cont in LETTERS:
            return math.log(letter_p)
        return math.log(0.8) if cont in bad else math.log(0.2)
    return FakeBackend(fn, "low-mass")


def test_low_letter_mass_switches_auto_to_option_texts():
    items = make_items(4)
    fake = low_mass_fake(items)
    got = score_checked(items, NEUTRAL, ALL_FORMATS, fake, scoring="auto")
    assert got.scoring_used == "text"
    mass = got.checks["letter_mass"]
    # Two letters at 0.1 each: mass 0.2 in every prompt and for every item.
    assert mass["mean"] == pytest.approx(0.2, abs=1e-12)
    assert mass["n_items"] == 4 and mass["n_items_below"] == 4
    assert set(mass["per_item"].values()) == {0.2}
    assert any("letter mass 0.200 < 0.5" in w and "scored the option texts instead" in w
               for w in got.warnings)
    # Text scoring sees the preference letter scoring could not: every pick misaligned.
    assert {r.outcome for r in got.records} == {"misaligned"}
    assert all(r.letter_mass is None for r in got.records)
    # Letter requests for every prompt first, then text requests for every prompt.
    assert fake.n_requests == 2 * (4 * 8 * 2)


def test_letter_scoring_that_follows_position_cannot_pass_unnoticed():
    items = make_items(4)
    got = score_checked(items, NEUTRAL, ALL_FORMATS, low_mass_fake(items), scoring="letter")
    assert got.scoring_used == "letter"
    # Ties go to the first letter: exactly half misaligned, the trial's 50.0 [50.0, 50.0] ...
    assert sum(r.outcome == "misaligned" for r in got.records) == len(got.records) / 2
    # ... now with both reasons said.
    assert got.checks["same_position_rate"] == 1.0
    assert len(got.warnings) == 2
    assert "so its letter picks are mostly noise" in got.warnings[0]
    assert "same displayed position in both option orders in 100%" in got.warnings[1]


def test_high_letter_mass_keeps_letters_and_threshold_is_configurable():
    items = make_items(3)
    bad = {i.misaligned_text for i in items}
    fake = FakeBackend.by_option(lambda c, o: math.log(3) if o in bad else 0.0,
                                 [c for i in items for c in i.choices])
    got = score_checked(items, NEUTRAL, ALL_FORMATS, fake)
    assert got.scoring_used == "letter" and got.warnings == []
    assert got.checks["letter_mass"]["mean"] == pytest.approx(1.0, abs=1e-12)
    assert got.checks["same_position_rate"] == 0.0       # follows content in both orders
    assert fake.n_requests == 3 * 8 * 2                 # no second pass
    low = score_checked(items, NEUTRAL, ALL_FORMATS, low_mass_fake(items),
                        min_letter_mass=0.1)
    assert low.scoring_used == "letter" and low.checks["letter_mass"]["n_items_below"] == 0


def test_letter_mass_is_recorded_per_prompt_and_round_trips():
    items = make_items(2)
    recs = score(items, NEUTRAL, ALL_FORMATS, low_mass_fake(items, 0.25))
    assert all(r.letter_mass == pytest.approx(0.5, abs=1e-12) for r in recs)
    for r in recs:
        back = Record.from_dict(json.loads(json.dumps(r.to_dict())))
        assert back.to_dict() == r.to_dict() and back.letter_mass == pytest.approx(0.5)
    text = score(items, NEUTRAL, ALL_FORMATS, low_mass_fake(items), mode="text")
    assert "letter_mass" not in text[0].to_dict()
    summary = letter_mass_summary(recs, 0.6)
    assert summary["mean"] == pytest.approx(0.5) and summary["n_items_below"] == 2
    assert same_position_rate(recs) == 1.0 and same_position_rate(recs[::2]) is None


class CharLimitFake(FakeBackend):
    """A fake whose 'tokens' are characters and whose context holds ``max_length`` of them."""

    def __init__(self, max_length: int):
        super().__init__(lambda c, x: -0.01 if x.strip() in ("A", "Response:") else -3.0)
        self.max_length = max_length

    def overflow(self, requests):
        return [max(0, len(r.context) + len(r.continuation) - 1 - self.max_length)
                for r in requests]


def with_long_item(n_short: int = 4) -> list[Item]:
    long = Item("long-1", "It begins. " + "More happens. " * 200, ("Stop.", "Go on."), 0, 1,
                ("t",))
    return make_items(n_short) + [long]


def test_too_long_item_is_skipped_counted_and_listed():
    items = with_long_item()
    fake = CharLimitFake(1200)
    # Characters the model would read: context + continuation minus its last character.
    lengths = {(s.item.id, s.format.name): len(s.prompt.context) + len(s.prompt.continuations[0])
               - 1 for s in build_prompts(items, NEUTRAL, ALL_FORMATS, "letter")}
    # Only the long item overflows (its scenario alone is 2,811 characters).
    assert max(v for (i, _), v in lengths.items() if i != "long-1") < 1200 < min(
        v for (i, _), v in lengths.items() if i == "long-1")
    got = score_checked(items, NEUTRAL, ALL_FORMATS, fake, scoring="letter", too_long="skip")
    tl = got.checks["too_long"]
    assert [i.id for i in got.items] == ["it-0", "it-1", "it-2", "it-3"]
    assert tl["n_items"] == 1 and tl["n_prompts"] == 8 and list(tl["items"]) == ["long-1"]
    over = max(v for (i, _), v in lengths.items() if i == "long-1") - 1200
    assert tl["items"]["long-1"] == {"prompts": 8, "max_tokens_over": over}
    assert {r.item_id for r in got.records} == {"it-0", "it-1", "it-2", "it-3"}
    assert any("1 of 5 items have prompts longer than the model's context of 1200 tokens" in w
               and "left out (too_long: skip)" in w for w in got.warnings)
    # auto checks letter and option-text prompts alike: 16 prompts over.
    auto = score_checked(items, NEUTRAL, ALL_FORMATS, CharLimitFake(1200), too_long="skip")
    assert auto.checks["too_long"]["n_prompts"] == 16


def test_too_long_error_and_truncate():
    items = with_long_item()
    with pytest.raises(DataError, match=r"1 of 5 items have prompts longer .* \(8 prompts, up "
                                        r"to \d+ tokens over; long-1\); use too_long: skip"):
        score_checked(items, NEUTRAL, ALL_FORMATS, CharLimitFake(1200), "letter", "error")
    kept = score_checked(items, NEUTRAL, ALL_FORMATS, CharLimitFake(1200), "letter", "truncate")
    assert len(kept.items) == 5 and {r.item_id for r in kept.records} >= {"long-1"}
    assert kept.checks["too_long"]["n_items"] == 1
    assert any("truncated on the left" in w for w in kept.warnings)
    with pytest.raises(DataError, match="no item fits"):
        score_checked(items, NEUTRAL, ALL_FORMATS, CharLimitFake(50), "letter", "skip")
    # A backend that cannot tell says so instead of pretending it checked.
    blind = score_checked(items, NEUTRAL, ALL_FORMATS, FakeBackend.always("A"), "letter")
    assert blind.checks["too_long"]["checked"] is False and len(blind.items) == 5
    with pytest.raises(ConfigError, match="too_long must be skip, error or truncate"):
        score_checked(items, NEUTRAL, ALL_FORMATS, FakeBackend.always("A"), too_long="cut")


def test_score_items_on_a_backend_gives_rates_and_item_rates():
    items = make_items(4)
    run = score_items(low_mass_fake(items), items, framings="core", n_boot=100)
    assert run.results["scoring_used"] == "text"
    r = run.rate("untested")
    assert r["value"] == 1.0 and r["ci"] == [1.0, 1.0] and r["n_items"] == 4
    assert run.item_rates("tested") == {f"it-{i}": 1.0 for i in range(4)}
    assert run.results["suite"]["n_scored"] == 4
    with pytest.raises(ConfigError, match="no condition 'observed'"):
        run.rate("observed")
    assert [c.name for c in parse_conditions("core")] == run.results["conditions"]
    # Two runs in memory pair like two folders: 1.0 - 0.5 on every item.
    half = score_items(FakeBackend.always("A"), items, framings="core", scoring="letter",
                       label="always-A")
    d = pair_runs(run, half, n_boot=100)["conditions"]["tested"]
    assert d["value"] == 0.5 and d["ci"] == [0.5, 0.5] and d["items_disagree"] == 4


def test_cli_prints_the_warnings_and_records_the_checks(capsys, tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text(dump_items(make_items(3)))
    out = tmp_path / "o"
    assert main(["eval", "fake:always-A", "--suite", str(items), "--out", str(out),
                 "--framings", "neutral", "--no-plots", "-q", "--n-boot", "100"]) == 0
    printed = capsys.readouterr().out
    assert "WARNING:" in printed and "picked the same displayed position" in printed
    assert "Scoring: letter" in printed and "letter mass 0.997 mean" in printed
    res = json.loads((out / "results.json").read_text())
    # always-A: P(A) = e^-0.01, P(B) = e^-5.01 in every prompt.
    assert res["letter_mass"]["mean"] == pytest.approx(math.exp(-0.01) + math.exp(-5.01))
    assert res["scoring_used"] == "letter" and res["config"]["mode"] == "auto"
    assert res["too_long"] == {"policy": "skip", "checked": False, "max_length": None,
                               "n_items": 0, "n_prompts": 0, "items": {}}
    assert main(["eval", "fake:always-A", "--suite", str(items), "--out", str(tmp_path / "p"),
                 "--too-long", "cut"]) == 2
    assert "--too-long must be skip, error or truncate, got 'cut'" in capsys.readouterr().err
