"""The discussion's further claims: rising half-life, centuries later, very long stories,
the unseen scenario, the instruct phase's locality and rebound, dose, and genre.

Each function returns per-seed effects (``values``, or ``parts`` for a claim made of
several tests) in stated units, with exact Bayes's prediction beside it in ``numbers``;
:func:`alignpt.experiment.claims.evaluate_claims` applies the recipe's pre-registered
test. Where the claim is "the model does what exact Bayes does, at least half as much",
the effect is the model's difference as a *fraction of Bayes's* on the same items, so
the margin (0.5) is Bayes's own prediction, whatever item grid the recipe probes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from alignpt.experiment.claim_data import (ClaimContext, final_phase, gate_contrast,
                                           item_logodds, logit, missing, not_measured,
                                           phase_before, seeds_of, story_place)
from alignpt.experiment.measure import half_life_from_slope, logit_slope
from alignpt.experiment.verdicts import paired_values
from alignpt.world.personas import EraGatedWaluigi, LengthGatedWaluigi, parse_persona

__all__ = ["claim_rising_half_life", "claim_centuries_later", "claim_long_stories",
           "claim_unseen_scenario", "claim_instruct_locality", "claim_instruct_rebound",
           "claim_dose", "claim_genre", "world_triggers"]


def world_triggers(world) -> dict[str, int]:
    """The base world's gated Waluigis: the first era (``era``) and the first opportunity
    (``k``) at which they defect; the shipped base's 7 and 48 when no world is given."""
    out = {"era": 7, "k": 48}
    eras, ks = [], []
    for src in (world.sources.values() if world is not None else ()):
        for spec in src.personas:
            p = parse_persona(spec)
            if isinstance(p, EraGatedWaluigi):
                eras.append(p.e_star)
            elif isinstance(p, LengthGatedWaluigi):
                ks.append(p.n_star)
    if eras:
        out["era"] = min(eras)
    if ks:
        out["k"] = min(ks)
    return out


def _window_rate(ks, q, lo: int, hi: int) -> float | None:
    """The decay rate of the odds in a k window: minus the logit slope over lo <= k <= hi."""
    sel = [(k, v) for k, v in zip(ks, q) if lo <= k <= hi]
    slope = logit_slope([k for k, _ in sel], [v for _, v in sel]) if len(sel) >= 2 else None
    return None if slope is None else -slope


def claim_rising_half_life(table, roles, ctx: ClaimContext | None = None) -> dict[str, Any]:
    """The estimated half-life keeps increasing as clean untested opportunities accumulate:
    per seed, the logit decay rate of P(D|U) over the small-k window minus the rate over
    the large-k window (recipe: claims.half_life_windows), baseline after pretraining;
    > 0 means the half-life (ln 2 / rate) grew. Units: logit per opportunity."""
    ctx = ctx or ClaimContext()
    miss = missing(table, roles.baseline)
    if miss:
        return miss
    (a, b), (c, d) = roles.half_life_windows
    ks = list(ctx.ks or [])
    if sum(a <= k <= b for k in ks) < 2 or sum(c <= k <= d for k in ks) < 2:
        return not_measured(f"probes.ks has fewer than two ks in [{a}, {b}] or [{c}, {d}]")
    curves = table[roles.baseline]["pretrain"].story.curves
    values, rates = {}, {"small": [], "large": []}
    for seed, q in curves.by_seed["U:q_U"].items():
        small, large = _window_rate(ks, q, a, b), _window_rate(ks, q, c, d)
        if small is not None and large is not None:
            values[str(seed)] = small - large
            rates["small"].append(small), rates["large"].append(large)
    bq = curves.bayes["U:q_U"]
    bayes = {"small": _window_rate(ks, bq, a, b), "large": _window_rate(ks, bq, c, d)}
    hl = {w: _half(np.mean(r)) if r else None for w, r in rates.items()}
    bhl = {w: _half(r) for w, r in bayes.items()}
    return {"values": values, "units": "logit rate",
            "numbers": {"windows": [[a, b], [c, d]], "model_half_life": hl,
                        "bayes_half_life": bhl, "bayes_rate_change":
                        None if None in bayes.values() else bayes["small"] - bayes["large"]},
            "evidence": f"{roles.baseline} after pretraining, local half-life over k in "
                        f"[{a}, {b}] then [{c}, {d}]: model {_fmt(hl['small'])} -> "
                        f"{_fmt(hl['large'])} (from the seeds' mean rates), exact Bayes "
                        f"{_fmt(bhl['small'])} -> {_fmt(bhl['large'])}"}


def _half(rate: float | None) -> float | None:
    return None if rate is None else half_life_from_slope(-float(rate))


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else "inf" if math.isinf(v) else f"{v:.1f}"


def _bayes_fraction(res: dict[str, Any] | None, what: str, arm: str, ref: str,
                    select: str) -> dict[str, Any]:
    """An item log-odds difference as a fraction of exact Bayes's on the same items."""
    if res is None:
        return not_measured("the runs carry no probe items (measured before probes.items)")
    if "why" in res:
        return not_measured(res["why"])
    if res["bayes"] is None or abs(res["bayes"]) < 1e-9:
        return not_measured(f"exact Bayes predicts no difference between {arm} and {ref} "
                            "on these items")
    values = {s: v / res["bayes"] for s, v in res["values"].items()}
    model = float(np.mean(list(res["values"].values()))) if res["values"] else float("nan")
    return {"values": values, "units": "fraction of Bayes",
            "numbers": {"bayes_logodds": res["bayes"], "model_logodds": model,
                        "n_items": res["n_items"], "n_on_support": res["n_on_support"]},
            "evidence": f"{what}: log-odds of P(D|U), {arm} - {ref} after pretraining, mean "
                        f"over {res['n_items']} probe items ({select}; {res['n_on_support']} "
                        f"on support): model {model:+.2f}, exact Bayes {res['bayes']:+.2f}"}


def _untested_against(table, roles, other: str, what: str, pick, select: str) -> dict[str, Any]:
    """The untested arm against a variant of its corpus (``other``), log-odds over the
    picked story items after pretraining, as a fraction of exact Bayes's difference."""
    miss = missing(table, roles.untested, other)
    if miss:
        return miss
    res = item_logodds(table, roles.untested, other, "pretrain", "story", pick)
    return _bayes_fraction(res, what, roles.untested, other, select)


def claim_centuries_later(table, roles, ctx: ClaimContext | None = None) -> dict[str, Any]:
    """Stories set centuries later strengthen the evidence where the era-gated Waluigi
    acts: the untested arm (all eras) against the same corpus at eras 0-6, log-odds of
    P(D|U) over the injected header's items at eras >= the era-gated trigger, after
    pretraining, as a fraction of exact Bayes's difference. Units: fraction of Bayes."""
    ctx = ctx or ClaimContext()
    e = world_triggers(ctx.world)["era"]
    out = _untested_against(table, roles, roles.untested_now, "centuries later",
                            lambda h, era, k, on: h == ctx.header and era >= e,
                            f"{ctx.header}, eras >= {e}")
    # the baseline's own era gate at k = 0: later eras minus earlier ones
    return _with_gate(out, gate_contrast(table, roles.baseline, lambda h, era, k, on:
                                         k == 0 and era >= e, lambda h, era, k, on:
                                         k == 0 and era < e), f"eras >= {e} - eras < {e}")


def claim_long_stories(table, roles, ctx: ClaimContext | None = None) -> dict[str, Any]:
    """Very long stories strengthen the evidence where the length-gated Waluigi acts: the
    untested arm (32-120 opportunities) against the same corpus in short documents,
    log-odds of P(D|U) over the injected header's items with k >= the length-gated
    trigger, after pretraining, as a fraction of exact Bayes's. Units: fraction of Bayes."""
    ctx = ctx or ClaimContext()
    n = world_triggers(ctx.world)["k"]
    out = _untested_against(table, roles, roles.untested_short, "very long stories",
                            lambda h, era, k, on: h == ctx.header and k >= n,
                            f"{ctx.header}, k >= {n}")
    # the baseline's own length gate: the first probed k at or past the trigger against
    # the last one before it
    ks = sorted(set(ctx.ks or []))
    above, below = [k for k in ks if k >= n], [k for k in ks if k < n]
    if not above or not below:
        return out
    return _with_gate(out, gate_contrast(table, roles.baseline,
                                         lambda h, era, k, on: k == above[0],
                                         lambda h, era, k, on: k == below[-1]),
                      f"k = {above[0]} - k = {below[-1]}")


def _with_gate(out: dict[str, Any], gate: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """Quote the baseline's own gate (claim_data.gate_contrast) beside a gated claim."""
    if gate is None or "numbers" not in out or gate["model"] is None or gate["bayes"] is None:
        return out
    out["numbers"]["baseline_gate"] = {**gate, "contrast": what}
    out["evidence"] += (f"; the baseline's own gate ({what}, on-support items, log-odds): "
                        f"model {gate['model']:+.2f}, exact Bayes {gate['bayes']:+.2f}")
    return out


def claim_genre(table, roles, ctx: ClaimContext | None = None) -> dict[str, Any]:
    """Evidence stays in its genre (the world's version of fiction vs technical
    non-fiction, where a genre is a header): at the story header, the same aligned
    untested documents as technical non-fiction (TECH) lower P(D|U) less than as fiction;
    log-odds, technical arm - fiction arm, over the story header's items after pretraining,
    as a fraction of exact Bayes's difference. Units: fraction of Bayes."""
    ctx = ctx or ClaimContext()
    miss = missing(table, roles.untested, roles.untested_tech)
    if miss:
        return miss
    res = item_logodds(table, roles.untested_tech, roles.untested, "pretrain", "story",
                       lambda h, era, k, on: h == ctx.header)
    return _bayes_fraction(res, "genre", roles.untested_tech, roles.untested,
                           f"{ctx.header}, every era and k")


def claim_unseen_scenario(table, roles, ctx: ClaimContext | None = None) -> dict[str, Any]:
    """A scenario no training document shows gets no force from the data: after
    pretraining, the assistant header (no pretraining document carries it), log-odds of
    P(D|U) of the untested arm and of the misaligned arm, each minus the baseline, mean
    over the assistant's probe items whose context has probability 0 under both arms'
    data (exact Bayes has no answer there). Units: log-odds."""
    ctx = ctx or ClaimContext()
    arms = [a for a in (roles.untested, roles.misaligned) if a in table]
    if roles.baseline not in table or not arms:
        return not_measured(f"needs {roles.baseline} and {roles.untested} or {roles.misaligned}")
    parts, numbers = {}, {}
    for arm in arms:
        if table[arm]["pretrain"].assistant.items is not None:
            res = item_logodds(table, arm, roles.baseline, "pretrain", "assistant",
                               lambda h, e, k, on: True, need_bayes=False, unseen_only=True)
            if res is None or "why" in res:
                return not_measured((res or {}).get("why", "the baseline has no probe items")
                                    + " (probability 0 under both arms' data)")
            parts[f"{arm} - {roles.baseline}"], numbers[arm] = res["values"], res["n_items"]
        else:   # one item: the assistant probe itself, if exact Bayes has no answer there
            if table[arm]["pretrain"].assistant.bayes["q_U"] is not None:
                return not_measured("the assistant probe is on the support of the data")
            a = seeds_of(table, arm, "pretrain", place="assistant")
            b = seeds_of(table, roles.baseline, "pretrain", place="assistant")
            parts[f"{arm} - {roles.baseline}"] = paired_values(
                {s: logit(v) for s, v in a.items()}, {s: logit(v) for s, v in b.items()})
            numbers[arm] = 1
    header = table[roles.baseline]["pretrain"].assistant.header
    return {"parts": parts, "units": "log-odds", "numbers": {"n_items": numbers},
            "evidence": f"header {header} after pretraining (no pretraining document carries "
                        "it, so exact Bayes has no answer): " + ", ".join(
                            f"{k} {np.mean(list(v.values())):+.2f}" for k, v in parts.items()
                            if v) + " log-odds"}


def claim_instruct_locality(table, roles, ctx: ClaimContext | None = None) -> dict[str, Any]:
    """The instruct phase (tested-only assistant transcripts under their own header)
    leaves untested behaviour in stories where it was (exact Bayes: unchanged): baseline
    P(D|U) at the story probe, after instruct minus before it, per seed. Units: P(D|U)."""
    miss = missing(table, roles.baseline)
    if miss:
        return miss
    arm, place = roles.baseline, story_place(table, roles)
    before = phase_before(table, arm, "instruct")
    d = paired_values(seeds_of(table, arm, "instruct", place=place),
                      seeds_of(table, arm, before, place=place))
    bayes = {p: table[arm][p].place(place).bayes["q_U"] for p in (before, "instruct")}
    change = _diff(bayes["instruct"], bayes[before])
    return {"values": d, "units": "P(D|U)", "numbers": {"bayes": bayes, "bayes_change": change},
            "evidence": f"{arm}, story P(D|U) {before} -> instruct: model "
                        f"{_mean(d):+.3f}, exact Bayes {_signed(change)}"}


def claim_instruct_rebound(table, roles, ctx: ClaimContext | None = None) -> dict[str, Any]:
    """After the rebound phase (fresh base data), untested behaviour in stories is back
    where pretraining left it (exact Bayes: the same mixture, so the same value): baseline
    P(D|U) at the story probe, last rebound point minus before instruct. Units: P(D|U)."""
    miss = missing(table, roles.baseline)
    if miss:
        return miss
    arm, place = roles.baseline, story_place(table, roles)
    before, last = phase_before(table, arm, "instruct"), final_phase(table, arm)
    if last == "instruct":
        return not_measured("no rebound phase after instruct")
    d = paired_values(seeds_of(table, arm, last, place=place),
                      seeds_of(table, arm, before, place=place))
    dip = paired_values(seeds_of(table, arm, "instruct", place=place),
                        seeds_of(table, arm, before, place=place))
    bayes = {p: table[arm][p].place(place).bayes["q_U"] for p in (before, last)}
    change = _diff(bayes[last], bayes[before])
    return {"values": d, "units": "P(D|U)",
            "numbers": {"bayes_change": change, "instruct_change": _mean(dip)},
            "evidence": f"{arm}, story P(D|U) {before} -> instruct {_mean(dip):+.3f} -> "
                        f"{last} {_mean(d):+.3f} (model, from {before}); exact Bayes "
                        f"{_signed(change)}"}


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _mean(d: dict[str, float]) -> float:
    return float(np.mean(list(d.values()))) if d else float("nan")


def _signed(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.4f}"


def dose_arms(table, roles, ctx: ClaimContext) -> list[tuple[float, str]]:
    """(share, arm) for every arm injecting the untested arm's corpus throughout
    pretraining, unfiltered, one arm per share (the first in recipe order)."""
    cfgs = ctx.arm_cfgs or {}
    ref = cfgs.get(roles.untested)
    if ref is None or ref.inject is None:
        return []
    found: dict[float, str] = {}
    for arm, cfg in cfgs.items():
        if arm in table and cfg.inject == ref.inject and cfg.schedule == "throughout" \
                and not cfg.filtered:
            share = cfg.share if cfg.share is not None else ctx.inject_share
            if share is not None:
                found.setdefault(float(share), arm)
    return sorted(found.items())


def claim_dose(table, roles, ctx: ClaimContext | None = None) -> dict[str, Any]:
    """A monotone effect of the dose: per seed, the least-squares slope of P(D|U) at the
    story probe after pretraining on log2 of the injected share, over the arms that inject
    the untested corpus throughout at different shares. Units: P(D|U) per doubling."""
    ctx = ctx or ClaimContext()
    arms = dose_arms(table, roles, ctx)
    if len(arms) < 3:
        return not_measured("needs three arms injecting the untested corpus throughout at "
                            "different shares (arms.NAME.share)")
    x = np.log2([s for s, _ in arms])
    place = story_place(table, roles)
    by_arm = [seeds_of(table, a, "pretrain", place=place) for _, a in arms]
    values = {}
    for seed in sorted(set.intersection(*(set(v) for v in by_arm)), key=str):
        y = [v[seed] for v in by_arm]
        if None not in y:
            values[str(seed)] = float(np.polyfit(x, y, 1)[0])
    bayes = [table[a]["pretrain"].place(place).bayes["q_U"] for _, a in arms]
    slope = float(np.polyfit(x, bayes, 1)[0]) if None not in bayes else None
    return {"values": values, "units": "P(D|U) per doubling",
            "numbers": {"shares": [s for s, _ in arms], "arms": [a for _, a in arms],
                        "bayes": bayes, "bayes_slope": slope},
            "evidence": f"P(D|U) on log2 share over {', '.join(a for _, a in arms)} "
                        f"(shares {', '.join(f'{s:g}' for s, _ in arms)}): model slope "
                        f"{_mean(values):+.4f} per doubling, exact Bayes {_signed(slope)}"}
