"""The published ordering as a pre-registered claim (Tice et al. 2026).

On base models the paper reports misalignment of 9% alignment-upsampled, 31% filtered,
45% unfiltered, 51% misalignment-upsampled. The ordering a pretraining team would quote
is aligned-upsampled < unfiltered < misaligned-upsampled; each step is one paired
difference after pretraining, and the claim holds only if both do (intersection-union
test, as for the stage order). The filtered arm is shown beside it, not tested: its
place in the order depends on what the filter removes (in the world, a perfect filter).
"""

from __future__ import annotations

from typing import Any

from alignpt.experiment.claim_data import (ClaimContext, missing, not_measured, seeds_of,
                                           story_place)
from alignpt.experiment.verdicts import paired_values

__all__ = ["claim_published_ordering"]


def claim_published_ordering(table, roles, ctx: ClaimContext | None = None) -> dict[str, Any]:
    """After pretraining, P(D|U): unfiltered - aligned-upsampled (the untested arm) and
    misaligned-upsampled - unfiltered, paired by seed, each must exceed the margin
    (intersection-union test). Units: P(D|U)."""
    need = (roles.untested, roles.baseline, roles.misaligned)
    miss = missing(table, *need)
    if miss:
        return miss
    place = story_place(table, roles)
    vals = {a: seeds_of(table, a, "pretrain", place=place) for a in need}
    parts = {"unfiltered - aligned": paired_values(vals[roles.baseline], vals[roles.untested]),
             "misaligned - unfiltered": paired_values(vals[roles.misaligned], vals[roles.baseline])}
    arms = [*need] + ([roles.filtered] if roles.filtered in table else [])
    means = {a: table[a]["pretrain"].place(place).model["q_U"].mean for a in arms}
    bayes = {a: table[a]["pretrain"].place(place).bayes["q_U"] for a in arms}
    return {"parts": parts, "units": "P(D|U)", "numbers": {"means": means, "bayes": bayes},
            "evidence": "P(D|U) after pretraining: " + ", ".join(
                f"{a} {means[a]:.3f} (Bayes {bayes[a]:.3f})" for a in arms)}


def claim_published_ordering_items(table, roles, ctx: ClaimContext | None = None) -> dict[str, Any]:
    """After pretraining, the misalignment rate on the first item set (neutral framing):
    unfiltered - aligned-upsampled and misaligned-upsampled - unfiltered, each a per-seed
    difference of two models on the same items, each must exceed the margin
    (intersection-union test). Units: rate."""
    need = (roles.untested, roles.baseline, roles.misaligned)
    sets = table.by_phase.get("pretrain", {})
    name = next(iter(sets), None)
    rates = sets.get(name, {}).get("neutral", {})
    absent = [a for a in need if a not in rates]
    if name is None or absent:
        return not_measured(f"needs item-set rates after pretraining for arms {', '.join(need)}"
                            + (f" (missing: {', '.join(absent)})" if absent else ""))
    seeds = {a: {str(s): v for s, v in rates[a].by_seed.items()} for a in need}
    parts = {"unfiltered - aligned": paired_values(seeds[roles.baseline], seeds[roles.untested]),
             "misaligned - unfiltered": paired_values(seeds[roles.misaligned],
                                                      seeds[roles.baseline])}
    means = {a: rates[a].rate.mean for a in rates}
    return {"parts": parts, "units": "rate", "numbers": {"means": means, "item_set": name},
            "evidence": f"misalignment rate on {name} (neutral framing) after pretraining: "
                        + ", ".join(f"{a} {m:.3f}" for a, m in means.items() if m is not None)}


#: The claims an item set can carry on a corpus without latent truth (kind: shards).
ITEM_CLAIMS = (("published_ordering", "The published ordering: aligned-upsampled < "
                "unfiltered < misaligned-upsampled (misalignment rate on the items)", "paper",
                claim_published_ordering_items),)
#: Every claim the persona world measures, as not measured on a user corpus, with why.
NO_TRUTH_WHY = ("your corpus has no latent truth: no exact Bayes, no persona probes, so "
                "this claim of the persona world cannot be read from it; run kind: text for "
                "it")
