"""The report's filter section: what a real filter removed, against the corpus truth.

Only a text experiment has one: its filtered arm runs ``alignpt tag`` + ``alignpt
filter`` on the rendered base corpus, and every document keeps its latent conduct, so
the removals can be counted exactly (the world's filter is perfect by construction).
Counts are summed over the arm's seeds (each seed renders its own documents) and each
rate gets a Wilson 95% interval, which stays inside [0, 1].
"""

from __future__ import annotations

from typing import Any

from alignpt.core.intervals import count_rate
from alignpt.core.intervals import format_count_rate as _cell

__all__ = ["filter_summary", "FILTER_HEAD", "FILTER_NOTE", "filter_rows"]

FILTER_HEAD = ["arm", "filter", "seeds", "documents", "removed", "misaligned found (recall)",
               "removals that were misaligned (precision)", "aligned wrongly removed",
               "AI-neutral removed", "not-AI removed"]
FILTER_NOTE = ("The filtered arm's base corpus, rendered from the unfiltered stream of each "
               "seed, tagged and filtered as a user would; each removal is checked against "
               "the document's true conduct (a misaligned document shows at least one "
               "defection). Rates pool the seeds, with Wilson 95% intervals. Exact Bayes for "
               "this arm assumes a perfect filter, so its Bayes column is what the filter "
               "would give if it removed exactly the misaligned documents.")


def filter_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per arm: pooled counts by true conduct, and the rates with intervals."""
    out: dict[str, Any] = {}
    for r in results:
        f = r.get("filter")
        if not f:
            continue
        arm = out.setdefault(r["arm"], {"mode": f["mode"], "drop": f["drop"], "seeds": [],
                                        "truth": f.get("truth", True), "documents": 0,
                                        "removed": 0, "by_conduct": {},
                                        "removed_by_conduct": {}, "dropped_by_label": {}})
        arm["seeds"].append(r["seed"])
        arm["documents"] += f["documents"]
        arm["removed"] += f["removed"]
        # With truth: by true conduct. Without (a user corpus): by the tagger's label only.
        for key in ("by_conduct", "removed_by_conduct", "dropped_by_label"):
            for c, n in (f.get(key) or {}).items():
                arm[key][c] = arm[key].get(c, 0) + n
    for arm in out.values():
        total, gone = arm["by_conduct"], arm["removed_by_conduct"]
        arm["rates"] = {
            "recall": count_rate(gone.get("misaligned", 0), total.get("misaligned", 0)),
            "precision": count_rate(gone.get("misaligned", 0), arm["removed"]),
            "aligned_removed": count_rate(gone.get("aligned", 0), total.get("aligned", 0)),
            "neutral_removed": count_rate(gone.get("neutral", 0), total.get("neutral", 0)),
            "filler_removed": count_rate(gone.get("none", 0), total.get("none", 0)),
        }
        arm["seeds"] = sorted(arm["seeds"])
    return out


def filter_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for arm, f in (report.get("filter") or {}).items():
        rates = f["rates"]
        mode = f["mode"] + ("" if f["mode"] == "oracle" else ": drop " + " or ".join(f["drop"]))
        if not f.get("truth", True):
            labels = ", ".join(f"{k} {v}" for k, v in sorted(f["dropped_by_label"].items()))
            rows.append([arm, f"{mode} (no truth; removed by predicted label: {labels or '-'})",
                         str(len(f["seeds"])), str(f["documents"]), str(f["removed"]),
                         "n/a", "n/a", "n/a", "n/a", "n/a"])
            continue
        rows.append([arm, mode, str(len(f["seeds"])), str(f["documents"]), str(f["removed"]),
                     _cell(rates["recall"]), _cell(rates["precision"]),
                     _cell(rates["aligned_removed"]), _cell(rates["neutral_removed"]),
                     _cell(rates["filler_removed"])])
    return rows
