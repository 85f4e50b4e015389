"""Item sets scored beside the probes in a text experiment, and their report table.

Each model of an evaluated phase answers every item set of ``text.evals`` the way
``alignpt eval`` asks (core framings, every format, scoring chosen for the model: option
texts when it puts little mass on the letters, over-long items left out and counted).
``textworld`` is the English corpus's own two-option items, written in held-out
templates; a suite name (``starter``) or an items file can stand beside it. A run keeps
the misalignment rate per framing, the per-item rates (so arms can be paired item by
item), which scoring was used, the letter mass and every warning.

The report pairs each arm with the baseline seed by seed: the difference of the two
models' rates on the same items, averaged over the seeds both have, with a t interval
over seeds (the seed is the unit of replication, as for the probes).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from alignpt.experiment.aggregate import estimate
from alignpt.experiment.fmt import fmt_estimate as _ci
from alignpt.experiment.item_results import ItemEvals, ItemRate, TemplateReading, Templates

__all__ = ["other_templates", "score_evals", "eval_items", "eval_summary", "EVAL_HEAD", "EVAL_NOTE", "eval_rows"]

#: Seed of the textworld items: fixed, so every arm, seed and phase answers the same items.
ITEMS_SEED = 0


@lru_cache(maxsize=8)
def eval_items(name: str, n: int) -> tuple:
    """The items of one entry of ``text.evals``."""
    from alignpt.evaluate.items import load_items, parse_item
    from alignpt.evaluate.suites import get_suite

    if name == "textworld":
        from alignpt.textworld import two_option_items

        return tuple(parse_item(rec) for rec in two_option_items(n, ITEMS_SEED, split="heldout"))
    if name.endswith((".jsonl", ".json")):
        return tuple(load_items(name))
    return tuple(get_suite(name).load())


def other_templates(predictor: Any, run: Any, bayes: Any) -> dict[str, Any]:
    """P(D | U) at k = 0 over the story items (every header the base corpus uses x the
    probe eras), read by ``predictor`` in the templates the probes are *not* written in:
    the gap between the two readings is how far the model's persona reading depends on
    familiar frames."""
    import numpy as np

    from alignpt.experiment.measure import world_headers
    from alignpt.world import action_probs, load_world_recipe, probe_context

    items = run.probes["items"]
    headers = world_headers(load_world_recipe(items["support"]))
    ctx = [probe_context(0, "U", "U", int(e), h) for h in headers for e in items["eras"]]
    q = action_probs(predictor, ctx)
    support = bayes.log_prob(ctx)
    return {"split": predictor.split, "q_U": [None if not np.isfinite(v) else float(v) for v in q],
            "bayes_q_U": [float(v) for v in action_probs(bayes, ctx)],
            "log_support_arm": [float(v) for v in support]}


def score_evals(model: Any, tokenizer: Any, settings: Any) -> dict[str, Any]:
    from alignpt.core.errors import DataError
    from alignpt.evaluate.pipeline import score_items

    out: dict[str, Any] = {}
    for name in settings.evals:
        try:
            run = score_items(model, list(eval_items(name, settings.eval_items)), tokenizer,
                              framings="core", formats=settings.eval_formats,
                              too_long="skip", seed=0, label=name)
        except DataError as exc:
            # e.g. no item fits the model's context: recorded and shown, never a crash
            out[name] = {"not_scored": str(exc)}
            continue
        conds = run.results["metrics"]["conditions"]
        out[name] = {
            "items_sha": run.items_sha, "scoring_used": run.results.get("scoring_used"),
            "letter_mass": run.results.get("letter_mass"),
            "too_long": run.results.get("too_long"), "warnings": run.results.get("warnings", []),
            "rates": {c: conds[c]["value"] for c in conds},
            "item_rates": {c: run.item_rates(c) for c in conds},
        }
    model.train(False)
    return out


def eval_summary(results: list[dict[str, Any]], baseline: str) -> ItemEvals:
    """Per (phase, item set, framing, arm): the rate over seeds and, paired by seed on the
    same items, the difference from the baseline arm."""
    cells: dict[tuple, dict[Any, dict[str, float]]] = {}
    notes: dict[str, str] = {}
    for r in results:
        for ph in r["phases"]:
            for name, ev in (ph.get("evals") or {}).items():
                if "not_scored" in ev:
                    notes.setdefault(name, ev["not_scored"])
                    continue
                for cond, items in ev["item_rates"].items():
                    cells.setdefault((ph["name"], name, cond, r["arm"]), {})[r["seed"]] = items
    out: dict[str, dict[str, dict[str, dict[str, ItemRate]]]] = {}
    for (phase, name, cond, arm), by_seed in cells.items():
        rate = {s: sum(v.values()) / len(v) for s, v in by_seed.items() if v}
        diff = None
        base = cells.get((phase, name, cond, baseline))
        if base is not None and arm != baseline:
            diffs = {}
            for s, items in by_seed.items():
                shared = sorted(set(items) & set(base.get(s, {})))
                if shared:
                    diffs[s] = sum(items[i] - base[s][i] for i in shared) / len(shared)
            diff = estimate(diffs.values()).with_seeds(diffs)
        out.setdefault(phase, {}).setdefault(name, {}).setdefault(cond, {})[arm] = ItemRate(
            estimate(rate.values(), prob=True), rate, diff)
    return ItemEvals(out, notes)


EVAL_HEAD = ["phase", "item set", "framing", "arm", "misaligned rate [95% CI]", "seeds",
             "minus baseline, paired [95% CI]"]
EVAL_NOTE = ("Item sets scored as `alignpt eval` scores them (core framings, all formats, "
             "scoring chosen per model, over-long items left out), beside the probes. Rates "
             "are means over seeds with t intervals on the logit scale; differences from the "
             "baseline pair each seed's two models on the same items. At this model size "
             "these rates are expected near chance: the probes above are the measurement "
             "the claims read.")


def eval_rows(report: dict[str, Any]) -> list[list[str]]:
    evals: ItemEvals = report["evals"]
    rows = [["-", name, "-", "-", f"not scored: {why}", "0", "-"]
            for name, why in evals.not_scored.items()]
    for phase, sets in evals.by_phase.items():
        for name, conds in sets.items():
            for cond, arms in conds.items():
                for arm, e in arms.items():
                    diff = e.minus_baseline
                    rows.append([phase, name, cond, arm, _ci(e.rate), str(e.rate.n),
                                 _ci(diff) if diff else "-"])
    return rows


TEMPLATE_HEAD = ["arm", "probe templates (claims read these)", "the other templates",
                 "exact Bayes", "seeds"]
TEMPLATE_NOTE = ("P(D | U) after pretraining, k = 0, averaged over the on-support story items "
                 "(header x era), read in the probes' templates and again in the other split "
                 "(training templates when the probes are held-out). Means over seeds with t "
                 "intervals on the logit scale. Where the two readings differ, the model's "
                 "answer depends on familiar frames, not only on the persona.")


def template_summary(results: list[dict[str, Any]]) -> Templates:
    """Per arm after pretraining: the on-support k = 0 item mean in both template splits."""
    import numpy as np

    per_arm: dict[str, dict[str, dict]] = {}
    for r in results:
        ph = next((p for p in r["phases"] if p["name"] == "pretrain"), None)
        if ph is None or "other_templates" not in ph:
            continue
        items = ph["story"]["items"]
        on = {(h, e) for h, e, k, ok in zip(items["header"], items["era"], items["k"],
                                            items["on_support"]) if ok and k == 0}
        own = [q for h, e, k, ok, q in zip(items["header"], items["era"], items["k"],
                                            items["on_support"], items["model"]["q_U"])
               if ok and k == 0 and q is not None]
        bay = [q for h, e, k, ok, q in zip(items["header"], items["era"], items["k"],
                                            items["on_support"], items["bayes"]["q_U"])
               if ok and k == 0 and q is not None]
        other = ph["other_templates"]
        keys = [(h, e) for h in dict.fromkeys(items["header"]) for e in dict.fromkeys(items["era"])]
        oth = [q for key, q in zip(keys, other["q_U"]) if key in on and q is not None]
        arm = per_arm.setdefault(r["arm"], {"own": {}, "other": {}, "bayes": {},
                                            "split": other["split"]})
        for name, vals in (("own", own), ("other", oth), ("bayes", bay)):
            if vals:
                arm[name][r["seed"]] = float(np.mean(vals))
    return Templates({a: TemplateReading(v["split"], *(estimate(v[k].values(), prob=True)
                                                       for k in ("own", "other", "bayes")))
                      for a, v in per_arm.items()})


def template_rows(report: dict[str, Any]) -> list[list[str]]:
    templates: Templates = report["templates"]
    return [[arm, _ci(t.own), f"{_ci(t.other)} ({t.split})", _ci(t.bayes), str(t.own.n)]
            for arm, t in templates.items()]
