"""Which claims a report evaluates, for each kind of experiment.

World and text experiments evaluate the persona world's claims on the probe table, leaving
out arms whose data exact Bayes does not describe (:func:`bayes_arms`); a corpus without
latent truth (kind: shards) evaluates the claims its item sets can carry, and lists the
rest as not measured, with why.
"""

from __future__ import annotations

from typing import Any

from alignpt.experiment.claims import CLAIMS, evaluate_claims
from alignpt.experiment.claims_ordering import ITEM_CLAIMS, NO_TRUTH_WHY
from alignpt.experiment.item_results import ItemEvals
from alignpt.experiment.results import Table
from alignpt.world import load_world_recipe

__all__ = ["report_claims", "bayes_arms"]


def report_claims(recipe: Any, table: Table, evals: ItemEvals,
                  tamper: Table | None = None) -> list[dict[str, Any]]:
    """The claims table; ``tamper``: the tamper table (experiment.posttrain_report), which
    the tamper claims read, less the same arms as the probe table."""
    if recipe.kind == "shards":
        return evaluate_claims(evals, recipe.claims, recipe.arms, claims=ITEM_CLAIMS,
                               not_expressible=[(k, t, r, NO_TRUTH_WHY) for k, t, r, _ in CLAIMS
                                                if k != "published_ordering"],
                               why_prefix="")
    if not table:
        return []
    # Arms that read generated documents have no exact Bayes for what they read (no
    # latent truth): shown in every table, but no claim reads them.
    return evaluate_claims(bayes_arms(table, recipe), recipe.claims, recipe.arms,
                           world=load_world_recipe(recipe.corpora["base"]),
                           ks=recipe.probes.ks, header=recipe.probes.header,
                           inject_share=recipe.training.inject_share,
                           tamper=bayes_arms(tamper, recipe) if tamper else None)


def bayes_arms(table: Table, recipe: Any) -> Table:
    """The table without arms whose data exact Bayes does not describe: arms that inject
    a corpus written by alignpt generate (no latent truth), and, in a text experiment, a
    filtered arm whose filter is the real tagger (its Bayes column is the perfect filter's;
    what the tagger keeps is counted in the filter table, not modelled)."""
    if recipe.kind != "text":
        return table
    generated = set(recipe.text.generated)
    tagger = recipe.text.filter == "tagger"
    return Table({a: v for a, v in table.items() if recipe.arms[a].inject not in generated
                  and not (tagger and recipe.arms[a].filtered)})
