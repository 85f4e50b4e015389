"""Experiments: recipes of arms x seeds, run end to end into a report with exact Bayes beside
every number.

    from alignpt.experiment import load_experiment, run_experiment
    recipe = load_experiment("persona-world", quick=True)
    run_experiment(recipe, "runs/demo")          # corpora, training, measurement, report
"""

from alignpt.experiment.recipe import ExperimentRecipe, load_experiment
from alignpt.experiment.runner import run_experiment
from alignpt.experiment.state import load_state

__all__ = ["ExperimentRecipe", "load_experiment", "run_experiment", "load_state"]
