"""``alignpt bayes curve``: P(D | U) and the persona posterior against k clean
opportunities, tested vs untested evidence: the picture the discussion argues
about. Clean *untested* evidence drives every Waluigi out; clean *tested*
evidence removes only the random ones, so P(D | U) can rise (locality lemma).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from alignpt.core.errors import ConfigError
from alignpt.world.probes import probe_curves
from alignpt.world.vocab import C, context_tokens

__all__ = ["exact_curves", "print_curves", "curve_table", "plot_curves"]


def exact_curves(bayes, k_max: int, era: int = 0, header: str | None = None) -> dict:
    """Probe curves for k = 0..k_max plus the persona posterior after k clean T / U."""
    limit = bayes.world.recipe.max_length - 1
    if k_max > limit:
        raise ConfigError(f"--k-max {k_max} exceeds what this world's documents reach ({limit})")
    ks = np.arange(k_max + 1)
    out = probe_curves(bayes, ks, era=era, header=header, support=bayes)
    for ev in ("T", "U"):
        ctx = [context_tokens([(ev == "U", C)] * int(k), era=era, header=header) for k in ks]
        out[f"{ev}:posterior"] = bayes.posterior(ctx).by_persona()
    return out


def _show_ks(k_max: int) -> list[int]:
    ks = {0, 1, 2, k_max}
    k = 5
    while k < k_max:
        ks.add(k)
        k *= 2
    return sorted(ks)


def print_curves(curves: dict) -> None:
    from rich.table import Table

    from alignpt.core.console import console

    table = Table(title="exact P(D | next flag) after k clean opportunities")
    for col in ("k", "tested evidence: D|U", "D|T", "untested evidence: D|U", "D|T"):
        table.add_column(col, justify="right")
    for k in _show_ks(int(curves["k"][-1])):
        table.add_row(str(k), *[f"{curves[key][k]:.4g}" for key in ("T:q_U", "T:q_T", "U:q_U", "U:q_T")])
    console.print(table)
    for ev, what in (("T", "tested"), ("U", "untested")):
        post = curves[f"{ev}:posterior"]
        table = Table(title=f"persona posterior after k clean {what} opportunities")
        table.add_column("k", justify="right")
        for name in post:
            table.add_column(name, justify="right")
        for k in _show_ks(int(curves["k"][-1])):
            table.add_row(str(k), *[f"{post[name][k]:.4g}" for name in post])
        console.print(table)


def curve_table(curves: dict) -> str:
    """CSV text: one row per k, probe columns then posterior columns."""
    cols = ["T:q_U", "T:q_T", "U:q_U", "U:q_T", "T:log_support", "U:log_support"]
    post_cols = [(ev, name) for ev in ("T", "U") for name in curves[f"{ev}:posterior"]]
    buf = io.StringIO()
    buf.write(",".join(["k"] + cols + [f"{ev}:posterior:{name}" for ev, name in post_cols]) + "\n")
    for i, k in enumerate(curves["k"]):
        vals = [repr(float(curves[c][i])) for c in cols]
        vals += [repr(float(curves[f"{ev}:posterior"][name][i])) for ev, name in post_cols]
        buf.write(",".join([str(int(k))] + vals) + "\n")
    return buf.getvalue()


def plot_curves(curves: dict, path: str | Path, title: str | None = None) -> Path:
    """Two panels: P(D | next U) and the persona posterior (log scale) against k."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = curves["k"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.plot(k, curves["T:q_U"], color="C0", label="after k clean tested")
    ax1.plot(k, curves["U:q_U"], color="C3", label="after k clean untested")
    ax1.plot(k, curves["T:q_T"], color="C0", ls=":", lw=1, label="(next flag T)")
    ax1.plot(k, curves["U:q_T"], color="C3", ls=":", lw=1)
    ax1.set_xlabel("k (clean opportunities in the document)")
    ax1.set_ylabel("exact P(defect | next opportunity untested)")
    ax1.set_ylim(bottom=0)
    ax1.legend(frameon=False)
    for i, (name, vals) in enumerate(curves["T:posterior"].items()):
        ax2.plot(k, np.maximum(vals, 1e-12), color=f"C{i}", label=name)
        ax2.plot(k, np.maximum(curves["U:posterior"][name], 1e-12), color=f"C{i}", ls="--")
    ax2.set_yscale("log")
    ax2.set_ylim(bottom=max(1e-6, float(min(np.min(v) for v in curves["U:posterior"].values())) / 2))
    ax2.set_xlabel("k (solid: tested evidence, dashed: untested)")
    ax2.set_ylabel("posterior")
    ax2.legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
