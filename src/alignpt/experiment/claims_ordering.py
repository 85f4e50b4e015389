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

from alignpt.experiment.claim_data import ClaimContext, missing, seeds_of, story_place
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
    means = {a: table[a]["pretrain"][place]["model"]["q_U"]["mean"] for a in arms}
    bayes = {a: table[a]["pretrain"][place]["bayes"]["q_U"] for a in arms}
    return {"parts": parts, "units": "P(D|U)", "numbers": {"means": means, "bayes": bayes},
            "evidence": "P(D|U) after pretraining: " + ", ".join(
                f"{a} {means[a]:.3f} (Bayes {bayes[a]:.3f})" for a in arms)}
