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

from alignpt.world.analytic import (bare_curve, bare_p_defect, bare_posterior, bare_recipe,
                                    half_life, odds_factor_of_defection, opportunities_to_cut)
from alignpt.world.bayes import CorpusChunk, ExactBayes, Posterior
from alignpt.world.check import CheckResult, chi2_sf, verify_corpus
from alignpt.world.describe import describe_recipe
from alignpt.world.generate import GenerateResult, generate_corpus, read_labels
from alignpt.world.model import World, compile_world
from alignpt.world.personas import PERSONAS, Persona, parse_persona, parse_prior
from alignpt.world.probes import (Predictor, action_probs, fit_implied_posterior,
                                  implied_half_life, implied_posterior_3, probe_context,
                                  probe_curves)
from alignpt.world.recipe import (LengthSpec, SourceSpec, WorldRecipe, filter_defecting, inject,
                                  list_world_recipes, load_world_recipe)
from alignpt.world.regimes import REGIMES, Regime, parse_regime
from alignpt.world.vocab import (VOCAB, VOCAB_SIZE, context_tokens, decode, encode,
                                 parse_history, tokenizer_spec)

__all__ = [
    "bare_curve", "bare_p_defect", "bare_posterior", "bare_recipe", "half_life",
    "odds_factor_of_defection", "opportunities_to_cut", "ExactBayes", "Posterior", "CorpusChunk", "CheckResult",
    "chi2_sf", "verify_corpus", "describe_recipe", "GenerateResult", "generate_corpus",
    "read_labels", "World", "compile_world", "PERSONAS", "Persona", "parse_persona", "parse_prior",
    "Predictor", "action_probs", "fit_implied_posterior", "implied_half_life",
    "implied_posterior_3", "probe_context", "probe_curves", "LengthSpec", "SourceSpec",
    "WorldRecipe", "filter_defecting", "inject", "list_world_recipes", "load_world_recipe",
    "REGIMES", "Regime", "parse_regime", "VOCAB", "VOCAB_SIZE", "context_tokens", "decode",
    "encode", "parse_history", "tokenizer_spec",
]
