"""Chat evaluation with a scripted model: exact parse counts, picks, rates and the
comparison with log-prob scoring of the same prompts."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from alignpt.cli import main
from alignpt.core.errors import ConfigError
from alignpt.evaluate.backends.fake import FakeBackend
from alignpt.evaluate.chat import (ANSWER_INSTRUCTION, HHH_SYSTEM_PROMPT, ChatRecord,
                                   score_chat, system_prompt)
from alignpt.evaluate.chat_metrics import chat_summary, compare_with_logprob
from alignpt.evaluate.formats import parse_formats, render
from alignpt.evaluate.framings import parse_conditions
from alignpt.evaluate.items import dump_items
from alignpt.evaluate.run import EvalConfig, run_eval
from alignpt.evaluate.scoring import variant_of
from tests.evaluate.test_scoring import make_items

ITEMS = make_items(4)                       # choice 0 aligned ("Good ..."), 1 misaligned
CORE = parse_conditions("core")
QA = parse_formats("qa")                    # qa/fwd and qa/rev


def item_number(user: str) -> int:
    return int(re.search(r"Scenario (\d+) happens", user).group(1))


def script(req) -> str:
    """it-0 answers "A" (the first option shown), it-1 names the misaligned option's text,
    it-2 refuses, it-3 names both letters."""
    n = item_number(req.user)
    return {0: "A", 1: f"I would do this: Bad choice number {n}.", 2: "I cannot help with that.",
            3: "Option A or option B, hard to say."}[n]


def scripted() -> FakeBackend:
    # Log-probs: always prefer the misaligned option, whatever its position.
    fake = FakeBackend.by_option(lambda c, o: 2.0 if o.startswith("Bad") else 0.0,
                                 [c for it in ITEMS for c in it.choices])
    fake.answer = script
    return fake


def test_scripted_answers_give_exact_counts_picks_and_rate():
    fake = scripted()
    recs = score_chat(ITEMS, CORE, QA, fake, system_prompt("hhh"))
    assert len(recs) == 4 * 3 * 2
    by = {(r.item_id, r.condition, r.format): r for r in recs}
    # "A" is the first option shown: aligned in fwd order, misaligned in rev order.
    assert (by[("it-0", "tested", "qa/fwd")].picked, by[("it-0", "tested", "qa/rev")].picked) \
        == (0, 1)
    assert by[("it-0", "tested", "qa/rev")].outcome == "misaligned"
    assert {by[("it-1", c.name, f.name)].rule for c in CORE for f in QA} == {"text"}
    assert by[("it-2", "neutral", "qa/fwd")].status == "unparseable"
    assert by[("it-3", "neutral", "qa/rev")].status == "ambiguous"
    assert by[("it-3", "neutral", "qa/rev")].picked is None
    summary = chat_summary(recs, [c.name for c in CORE], n_boot=200)
    for cond in ("neutral", "tested", "untested"):
        s = summary["conditions"][cond]
        assert (s["n_prompts"], s["parsed"], s["ambiguous"], s["unparseable"]) == (8, 4, 2, 2)
        assert s["value"] == 0.75                       # 3 misaligned of 4 parsed
        assert s["bounds"] == [3 / 8, 7 / 8]
        assert s["per_format"] == {"qa/fwd": 0.5, "qa/rev": 1.0}
        assert s["se_formats"] == pytest.approx(0.25)   # sd(0.5, 1.0) / sqrt(2)
        assert 0.5 <= s["ci"][0] <= 0.75 <= s["ci"][1] <= 1.0
    assert summary["parse_counts"] == {"n_prompts": 24, "parsed": 12, "ambiguous": 6,
                                       "unparseable": 6}
    assert summary["compliance_gap"]["value"] == 0.0
    # The requests: the same prompt as log-prob scoring up to its cue, then the instruction.
    req = fake.chat_calls[0]
    assert req.system == HHH_SYSTEM_PROMPT and req.user.endswith(ANSWER_INSTRUCTION)
    first = render(ITEMS[0], CORE[0], QA[0], variant_of(ITEMS[0], QA[0]))
    assert req.user == first.context.removesuffix("Answer: (").rstrip() + "\n\n" + \
        ANSWER_INSTRUCTION
    none = FakeBackend(lambda c, x: 0.0, answer=lambda r: "A")
    score_chat(ITEMS[:1], CORE[:1], QA[:1], none, system_prompt("none"))
    assert none.chat_calls[0].system is None


def test_chat_ratio_ci_is_the_bootstrap_of_the_ratio_of_sums():
    """Recompute the item bootstrap by hand: same draws, ratio of sums per replicate."""
    recs = score_chat(ITEMS, CORE[:1], QA, scripted(), system_prompt("none"))
    s = chat_summary(recs, ["neutral"], n_boot=500, seed=3)["conditions"]["neutral"]
    mis = np.array([1, 2, 0, 0])                    # per item: misaligned among parsed
    parsed = np.array([2, 2, 0, 0])
    idx = np.random.default_rng(3).integers(0, 4, size=(500, 4))
    den = parsed[idx].sum(axis=1)
    reps = mis[idx].sum(axis=1)[den > 0] / den[den > 0]
    assert s["ci"] == pytest.approx(np.quantile(reps, [0.025, 0.975]).tolist())
    assert s["n_boot_used"] == int((den > 0).sum())


def test_compare_with_logprob_is_exact_on_scripted_picks():
    from alignpt.evaluate.scoring import score

    fake = scripted()
    chat = score_chat(ITEMS, CORE, QA, fake, system_prompt("hhh"))
    lp = score(ITEMS, CORE, QA, fake)               # always the misaligned option
    cmp_ = compare_with_logprob(chat, lp, n_boot=200)
    for cond in ("neutral", "tested", "untested"):
        e = cmp_[cond]
        # Pairs: it-0 fwd (chat aligned, log-prob misaligned), it-0 rev, it-1 x2 (agree).
        assert (e["n_pairs"], e["n_items"], e["chat_unparsed"]) == (4, 2, 4)
        assert e["agreement"]["value"] == 0.75
        assert (e["chat_rate"], e["logprob_rate"]) == (0.75, 1.0)
        assert e["difference"]["value"] == -0.25
        lo, hi = e["difference"]["ci"]
        assert -1.0 <= lo <= -0.25 <= hi <= 0.0
        assert e["items_disagree"] == 1


def test_run_eval_chat_writes_records_and_reports(tmp_path, capsys):
    from alignpt.evaluate.report import print_report
    from rich.console import Console

    items_file = tmp_path / "items.jsonl"
    items_file.write_text(dump_items(ITEMS))
    cfg = EvalConfig(model="scripted", suite=str(items_file), framings="core", formats="qa",
                     method="chat", n_boot=200)
    res = run_eval(cfg, out=tmp_path / "out", backend=scripted())
    lines = (tmp_path / "out" / "chat_records.jsonl").read_text().splitlines()
    recs = [ChatRecord.from_dict(json.loads(x)) for x in lines]
    assert len(recs) == 24 and sum(r.status == "parsed" for r in recs) == 12
    assert recs[0].to_dict() == json.loads(lines[0])
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["method"] == "chat" and saved["chat"]["system_prompt"]["label"] == "hhh"
    assert saved["chat"]["comparison"]["neutral"]["agreement"]["value"] == 0.75
    assert saved["metrics"]["conditions"]["neutral"]["value"] == 1.0    # the log-prob side
    assert any("name no single option" in w for w in saved["warnings"])   # 50% unparsed
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert (stats["records"], stats["chat_records"]) == (24, 24)
    print_report(res, Console(width=200))
    out = capsys.readouterr().out
    assert "system prompt hhh" in out and "chat vs log-prob" in out
    assert "75.0" in out and "-25.0" in out and "letter mass" in out


def test_cli_chat_mode_and_its_mistakes(tmp_path, capsys):
    items_file = tmp_path / "items.jsonl"
    items_file.write_text(dump_items(ITEMS))
    base = ["eval", "fake:always-A", "--suite", str(items_file), "--framings", "core",
            "--formats", "qa", "--no-plots", "-q", "--n-boot", "100"]
    # The fake's plain-format completion is empty: every answer is unparseable, counted.
    assert main(base + ["--out", str(tmp_path / "o"), "--mode", "chat", "--system-prompt",
                        "none"]) == 0
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["chat"]["metrics"]["parse_counts"] == {"n_prompts": 24, "parsed": 0,
                                                      "ambiguous": 0, "unparseable": 24}
    assert res["chat"]["metrics"]["conditions"]["neutral"]["value"] is None
    assert res["chat"]["system_prompt"] == {"label": "none", "text": None}
    assert any("no chat answer could be parsed" in w for w in res["warnings"])
    capsys.readouterr()
    for extra, words in [(["--mode", "chat", "--system-prompt", str(tmp_path / "nope.txt")],
                          "not hhh, none or a text file"),
                         (["--max-new-tokens", "8"], "only used with --mode chat"),
                         (["--mode", "vibes"], "--mode must be logprob or chat"),
                         (["--mode", "chat", "--max-new-tokens", "0"], "--max-new-tokens")]:
        assert main(base + ["--out", str(tmp_path / "bad")] + extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and words in err, err
        assert not (tmp_path / "bad").exists()
    prompt = tmp_path / "sys.txt"
    prompt.write_text("Be good.\n")
    assert system_prompt(str(prompt)).text == "Be good."
    prompt.write_text("  \n")
    with pytest.raises(ConfigError, match="empty"):
        system_prompt(str(prompt))


def test_chat_items_is_the_experiment_entry_point():
    from alignpt.evaluate.chat_run import chat_items

    got = chat_items(scripted(), ITEMS, framings="untested", formats="qa", n_boot=100)
    assert got.chat["metrics"]["conditions"]["untested"]["value"] == 0.75
    assert got.chat["comparison"]["untested"]["difference"]["value"] == -0.25
    assert len(got.records) == 8 and got.logprob is not None
    off = chat_items(scripted(), ITEMS, framings="untested", formats="qa", compare=False,
                     n_boot=100)
    assert off.logprob is None and off.chat["comparison"] == {"note": "not requested "
                                                                      "(compare off)"}
