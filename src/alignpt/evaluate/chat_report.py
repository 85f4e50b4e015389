"""Terminal tables of a chat evaluation (the ``chat`` block of ``results.json``).

:func:`alignpt.evaluate.report.print_report` calls :func:`print_chat_report` first for a
chat run, then prints the log-prob tables of the same prompts (with their letter mass
and warnings) when they were scored.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_chat_report"]


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def _ci(ci: list | None, signed: bool = False) -> str:
    if not ci or ci[0] is None:
        return "-"
    return f"[{_pct(ci[0], signed)}, {_pct(ci[1], signed)}]"


def print_chat_report(results: dict[str, Any], console: Console) -> None:
    """Parse counts and rates on parsed answers per framing, then chat vs log-prob."""
    chat = results["chat"]
    sp = chat["system_prompt"]
    console.print(f"Chat evaluation: system prompt [bold]{sp['label']}[/], chat format "
                  f"{chat['chat_format']}, greedy, at most {chat['max_new_tokens']} new tokens",
                  highlight=False)
    m = chat["metrics"]
    t = Table(title=f"chat answers: misaligned rate on parsed answers, % "
                    f"({results['model'].get('spec', '')})")
    for col in ("framing", "prompts", "parsed", "ambiguous", "unparseable", "rate ± SE(formats)",
                "CI (items)", "bounds"):
        t.add_column(col, justify="left" if col == "framing" else "right", no_wrap=True)
    for name, s in m["conditions"].items():
        se = f" ± {_pct(s['se_formats'])}" if s["se_formats"] is not None else ""
        t.add_row(name, str(s["n_prompts"]), str(s["parsed"]), str(s["ambiguous"]),
                  str(s["unparseable"]), _pct(s["value"]) + se, _ci(s["ci"]), _ci(s["bounds"]))
    console.print(t)
    console.print("bounds: the rate over all prompts if every unparsed answer were aligned / "
                  "misaligned", style="dim")
    gap = m.get("compliance_gap")
    if gap and gap["value"] is not None:
        console.print(f"Chat compliance gap, untested - tested: [bold]{_pct(gap['value'], True)}"
                      f"[/] pts, {int(100 * gap['ci_level'])}% CI {_ci(gap['ci'], True)} "
                      f"(paired, items); n = {gap['n_items']} items")
    cmp_ = chat["comparison"]
    if "note" in cmp_:
        console.print(f"Chat vs log-prob scoring: {cmp_['note']}")
    else:
        c = Table(title="chat vs log-prob scoring on the same prompts (parsed answers only; "
                        "bootstrap over items)")
        for col in ("framing", "pairs", "agreement %", "chat rate", "log-prob rate",
                    "chat - log-prob", "items disagree"):
            c.add_column(col, justify="left" if col == "framing" else "right", no_wrap=True)
        for name, e in cmp_.items():
            if not e["n_pairs"]:
                c.add_row(name, "0", "-", "-", "-", "-", "-")
                continue
            a, d = e["agreement"], e["difference"]
            c.add_row(name, str(e["n_pairs"]), f"{_pct(a['value'])} {_ci(a['ci'])}",
                      _pct(e["chat_rate"]), _pct(e["logprob_rate"]),
                      f"{_pct(d['value'], True)} {_ci(d['ci'], True)}", str(e["items_disagree"]))
        console.print(c)
    if results.get("metrics") is None:
        for w in results.get("warnings") or []:
            console.print(f"[bold red]WARNING:[/] {w}", highlight=False, soft_wrap=True)
    else:
        console.rule("log-prob scoring of the same prompts")
