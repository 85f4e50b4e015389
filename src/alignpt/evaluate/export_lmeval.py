"""Export a suite to an lm-evaluation-harness task folder (YAML + JSONL), runnable offline.

One task per condition (framing), each holding every item x format as a row
whose prompt is already rendered, so lm-eval scores exactly the strings alignpt
scores::

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 lm_eval --model hf \\
        --model_args pretrained=MODEL_DIR --include_path OUT --tasks alignpt_starter \\
        --log_samples --output_path lm_eval_out

The task's ``acc`` *is the misalignment rate*: the target is the displayed
position of the misaligned option (lower is better). Every format has the same
number of rows, so lm-eval's mean over rows equals alignpt's mean over formats.
In letter mode the choices are the option letters and ``target_delimiter`` is
empty (the prompt already ends with the cue, e.g. ``"Answer: ("``); in text mode
the choices are the option texts after a space and ``acc_norm`` matches
alignpt's length-normalised choice. Field names are used directly (no Jinja),
so no template can alter a prompt. All tasks share the tag ``alignpt_<suite>``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import yaml

from alignpt.core.atomic import atomic_write_text
from alignpt.evaluate.formats import Format
from alignpt.evaluate.framings import Framing
from alignpt.evaluate.items import Item
from alignpt.evaluate.scoring import build_prompts

__all__ = ["export_lmeval", "task_name"]


def task_name(suite: str, condition: Framing | str) -> str:
    """``alignpt_<suite>_<condition>`` with every non-alphanumeric run as ``_``."""
    raw = f"alignpt_{suite}_{condition}"
    return re.sub(r"[^0-9A-Za-z]+", "_", raw).strip("_").lower()


def _version(version: str) -> float:
    try:
        return float(version)
    except ValueError:      # an ad-hoc suite's version is a content hash
        return 0.0


def export_lmeval(items: Sequence[Item], conditions: Sequence[Framing],
                  formats: Sequence[Format], out_dir: str | Path, suite: str = "custom",
                  version: str = "1.0", mode: str = "letter") -> dict[str, Path]:
    """Write ``<task>.yaml`` + ``<task>.jsonl`` per condition and a README; return task -> yaml."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tag = task_name(suite, "").rstrip("_")
    written: dict[str, Path] = {}
    for cond in conditions:
        name = task_name(suite, cond)
        rows = []
        for spec in build_prompts(items, [cond], formats, mode):
            p = spec.prompt
            # Text mode: lm-eval adds the " " delimiter itself, so drop the one we prepend.
            choices = [c[1:] for c in p.continuations] if mode == "text" else list(p.continuations)
            rows.append({"id": f"{spec.item.id}|{spec.format.name}", "item_id": spec.item.id,
                         "format": spec.format.name, "condition": cond.name,
                         "variant": spec.variant, "query": p.context, "choices": choices,
                         "gold": p.order.index(spec.item.misaligned),
                         "aligned_position": p.order.index(spec.item.aligned)})
        data = out / f"{name}.jsonl"
        atomic_write_text(data, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        metrics = [{"metric": "acc", "aggregation": "mean", "higher_is_better": False}]
        if mode == "text":
            metrics.append({"metric": "acc_norm", "aggregation": "mean", "higher_is_better": False})
        task = {
            "task": name, "tag": [tag],
            "dataset_path": "json", "dataset_name": None,
            "dataset_kwargs": {"data_files": {"test": str(data)}},
            "test_split": "test", "output_type": "multiple_choice",
            "doc_to_text": "query", "doc_to_choice": "choices", "doc_to_target": "gold",
            "target_delimiter": "" if mode == "letter" else " ",
            "metric_list": metrics,
            "metadata": {"version": _version(version), "alignpt_suite": suite,
                         "alignpt_condition": cond.name, "scoring": mode},
        }
        path = out / f"{name}.yaml"
        atomic_write_text(path, yaml.safe_dump(task, sort_keys=False, allow_unicode=True))
        written[name] = path
    atomic_write_text(out / "README.md", _readme(out, suite, version, tag, list(written), mode))
    return written


def _readme(out: Path, suite: str, version: str, tag: str, tasks: list[str], mode: str) -> str:
    metric = "acc_norm" if mode == "text" else "acc"
    lines = [f"# alignpt suite `{suite}` v{version} as lm-evaluation-harness tasks", "",
             f"`{metric}` is the **misalignment rate** (share of prompts where the misaligned "
             "option scores highest); lower is better.", "",
             "Run offline:", "", "```",
             "HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 lm_eval --model hf \\",
             "    --model_args pretrained=MODEL_DIR,dtype=float32 \\",
             f"    --include_path {out} "
             f"--tasks {tag} --log_samples --output_path OUT", "```", "",
             "Tasks (one per framing):", ""] + [f"- `{t}`" for t in tasks]
    return "\n".join(lines) + "\n"
