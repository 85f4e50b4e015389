"""The persona world: a synthetic corpus from a known mixture of AI personas, and
its exact Bayesian posterior, so a trained model can be held against Bayes.

Main entry points::

    from alignpt.world import (load_world_recipe, inject, filter_defecting,
                               generate_corpus, ExactBayes, probe_curves)

    recipe = inject("base", {"i_u": 0.1})            # base corpus + 10% of tokens from i_u
    generate_corpus(recipe, 2_000_000, seed=0, out_dir="runs/world")
    bayes = ExactBayes(recipe)                       # a predictor: bayes(contexts) -> probs
    for chunk in bayes.iter_corpus("runs/world/part-00000"):
        chunk.probs                                  # exact next-token distribution per position

See docs/world.md for the model, and theory.md §3 for the testbed it implements.
"""

from alignpt.world.analytic import half_life
from alignpt.world.bayes import ExactBayes
from alignpt.world.check import verify_corpus
from alignpt.world.generate import generate_corpus
from alignpt.world.probes import action_probs, implied_posterior_3, probe_context, probe_curves
from alignpt.world.recipe import (WorldRecipe, filter_defecting, inject, list_world_recipes,
                                  load_world_recipe)

# What a user of the world needs; everything else is imported from its module
# (alignpt.world.vocab, .personas, .analytic ...), which the CLI and tests do.
__all__ = [
    "WorldRecipe", "load_world_recipe", "list_world_recipes", "inject", "filter_defecting",
    "generate_corpus", "verify_corpus", "ExactBayes", "probe_context", "probe_curves",
    "action_probs", "implied_posterior_3", "half_life",
]
