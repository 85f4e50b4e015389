"""How Bayesian each model is: the report's per-arm held-out KL table.

After pretraining every run is read on the same held-out documents of its own training
mixture (:mod:`alignpt.experiment.kl`): KL(exact Bayes || model) per action, in nats. A
reader weighs every model-vs-Bayes comparison of the report by it: where KL is large the
network is not yet the Bayesian the claims compare it with. Where the budget sits on the
learning curve (``alignpt experiment curve``) says whether more tokens would shrink it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FIDELITY_HEAD", "FIDELITY_NOTE", "fidelity_rows"]

FIDELITY_HEAD = ["arm", "KL per action, nats (95% CI over seeds)", "seeds", "per seed"]
FIDELITY_NOTE = (
    "KL(exact Bayes || model) per action on held-out documents of each arm's own training "
    "mixture after pretraining (the same documents for every seed: experiment.kl). Zero is "
    "a perfect Bayesian. `alignpt experiment curve` shows how it falls with more tokens "
    "(docs/experiment-curve.md): a budget below its level-off means a model still learning.")


def _num(v: float | None, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def fidelity_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per arm with a measured KL after pretraining (none: no rows)."""
    rows = []
    for arm, phases in report["table"].items():
        kl = phases["pretrain"].kl if "pretrain" in phases else None
        if kl is None or kl.mean is None:
            continue
        ci = f" [{_num(kl.ci_low)}, {_num(kl.ci_high)}]" if kl.ci_low is not None else ""
        per_seed = ", ".join(_num(v) for _, v in sorted(kl.by_seed.items()) if v is not None)
        rows.append([arm, _num(kl.mean) + ci, str(kl.n), per_seed])
    return rows
