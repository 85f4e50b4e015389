"""alignpt eval vs lm-evaluation-harness: same model, same prompts, one run, both accuracies.

    python benchmarks/eval_vs_lm_eval.py                      # builds a small model here
    python benchmarks/eval_vs_lm_eval.py --model runs/x/hf --suite starter --framings all

The suite is exported for lm-eval (one task per framing, prompts fully
rendered), so both tools score exactly the same strings; lm-eval's ``acc`` is
then the misalignment rate. Both run in this process with the same torch
threads, after one warm-up load of the model (library imports are charged to
neither). Each repeat runs alignpt then lm-eval; the report gives the fastest
repeat of each, since on a shared machine other jobs only ever add time:

* end to end: model folder + items -> rates (alignpt: load, score, bootstrap
  metrics, write results; lm-eval: ``simple_evaluate`` incl. task indexing);
* model calls only: alignpt's scoring vs lm-eval's ``HFLM.loglikelihood``;
* both tools' misalignment rate per framing, and whether every pick agrees.

Without ``--model`` a GPT-2-style model (BPE vocabulary from the suite's own
text, 4 layers, width 128; about 1.4M parameters) is built in a temporary folder.
The figures are recorded in benchmarks/results/eval_vs_lm_eval-SUITE-FRAMINGS.json
(``--no-record``: print only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _results import record

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # for tests.evaluate.tiny_hf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="Hugging Face model folder (default: build one)")
    ap.add_argument("--suite", default="starter-heldout")
    ap.add_argument("--framings", default="core", help="core (the published setting), all, ...")
    ap.add_argument("--limit", type=int, default=None, help="only the first N items")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32, help="alignpt rows per forward")
    ap.add_argument("--lm-eval-batch-size", default="1",
                    help="lm-eval --batch_size (its default is 1; try 32 or auto)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (model, "
                    "tasks, outputs) instead of deleting it")
    ap.add_argument("--no-record", action="store_true", help="print only; keep the recorded file")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    if args.threads:
        torch.set_num_threads(args.threads)
    import alignpt.evaluate.run as run_mod
    from alignpt.evaluate.export_lmeval import export_lmeval, task_name
    from alignpt.evaluate.formats import ALL_FORMATS
    from alignpt.evaluate.framings import parse_conditions
    from alignpt.evaluate.run import EvalConfig, run_eval
    from alignpt.evaluate.suites import get_suite

    tmp = Path(tempfile.mkdtemp(prefix="alignpt-bench-"))
    suite = get_suite(args.suite)
    items = suite.load()[:args.limit]
    conds = parse_conditions(args.framings)
    model = args.model
    if model is None:
        from tests.evaluate.tiny_hf import build_tiny_model

        t = time.perf_counter()
        model = str(build_tiny_model(tmp / "model", items, vocab_size=8192, n_layer=4,
                                     n_embd=128, n_head=4, n_positions=2048, steps=30,
                                     init_std=0.1, framings="all"))
        print(f"built model in {time.perf_counter() - t:.1f} s: {model}")
    AutoModelForCausalLM.from_pretrained(model)          # warm-up: imports, file cache
    n_prompts = len(items) * len(conds) * len(ALL_FORMATS)
    print(f"suite {suite.name} v{suite.version}: {len(items)} items x {len(conds)} framings x "
          f"{len(ALL_FORMATS)} formats = {n_prompts} prompts ({2 * n_prompts} options); "
          f"torch threads {torch.get_num_threads()}, device {args.device}, "
          f"best of {args.repeats}")
    t = time.perf_counter()
    export_lmeval(items, conds, ALL_FORMATS, tmp / "tasks", suite=suite.name,
                  version=suite.version)
    t_export = time.perf_counter() - t

    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    calls: dict[str, float] = {}
    real_score, real_ll = run_mod.score, HFLM.loglikelihood

    def score_timed(*a, **k):
        t0 = time.perf_counter()
        out = real_score(*a, **k)
        calls["alignpt"] = time.perf_counter() - t0
        return out

    def ll_timed(self, *a, **k):
        t0 = time.perf_counter()
        out = real_ll(self, *a, **k)
        calls["lm_eval"] = calls.get("lm_eval", 0.0) + time.perf_counter() - t0
        return out
    run_mod.score, HFLM.loglikelihood = score_timed, ll_timed
    bs = args.lm_eval_batch_size
    best = {k: float("inf") for k in ("alignpt", "lm_eval", "alignpt_calls", "lm_eval_calls")}
    for _ in range(args.repeats):
        t = time.perf_counter()
        ours = run_eval(EvalConfig(model=model, suite=args.suite, framings=args.framings,
                                   mode="letter", limit=args.limit, batch_size=args.batch_size,
                                   device=args.device), out=tmp / "alignpt")
        best["alignpt"] = min(best["alignpt"], time.perf_counter() - t)
        calls["lm_eval"] = 0.0
        t = time.perf_counter()
        theirs = simple_evaluate(model="hf", model_args=f"pretrained={model},dtype=float32",
                                 tasks=[task_name(suite.name, "").rstrip("_")],
                                 task_manager=TaskManager(include_path=str(tmp / "tasks")),
                                 batch_size=int(bs) if bs.isdigit() else bs, device=args.device,
                                 log_samples=True)
        best["lm_eval"] = min(best["lm_eval"], time.perf_counter() - t)
        best["alignpt_calls"] = min(best["alignpt_calls"], calls["alignpt"])
        best["lm_eval_calls"] = min(best["lm_eval_calls"], calls["lm_eval"])

    picks = {}
    for line in (tmp / "alignpt" / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        picks[(r["condition"], r["item_id"], r["format"])] = r["outcome"] == "misaligned"
    agree = total = 0
    for samples in theirs["samples"].values():
        for s in samples:
            d = s["doc"]
            agree += picks[(d["condition"], d["item_id"], d["format"])] == bool(s["acc"])
            total += 1
    print(f"\n{'framing':<22}{'alignpt rate':>14}{'lm-eval acc':>14}")
    rates = {}
    for c in conds:
        mine = ours["metrics"]["conditions"][c.name]["value"]
        lm = theirs["results"][task_name(suite.name, c)]["acc,none"]
        rates[c.name] = {"alignpt": mine, "lm_eval": lm}
        print(f"{c.name:<22}{mine:>14.4f}{lm:>14.4f}")
    print(f"picks agree on {agree}/{total} prompts")
    print(f"\n{'':<28}{'alignpt':>10}{'lm-eval':>10}{'speed-up':>10}")
    for label, a, b in (("end to end (s)", best["alignpt"], best["lm_eval"]),
                        ("model calls only (s)", best["alignpt_calls"], best["lm_eval_calls"])):
        print(f"{label:<28}{a:>10.2f}{b:>10.2f}{b / a:>9.1f}x")
    print(f"(lm-eval batch_size={bs}; exporting the suite for lm-eval took {t_export:.2f} s)")
    record(f"eval_vs_lm_eval-{args.suite}-{args.framings}", {
        "prompts": n_prompts, "torch_threads": torch.get_num_threads(), "rates": rates,
        "picks_agree": agree, "picks_total": total,
        "seconds_best": {k: round(v, 3) for k, v in best.items()},
        "speedup_end_to_end": round(best["lm_eval"] / best["alignpt"], 2),
        "speedup_model_calls": round(best["lm_eval_calls"] / best["alignpt_calls"], 2),
        "export_s": round(t_export, 3)},
        args={k: v for k, v in vars(args).items() if k not in ("keep", "no_record")})
    if args.keep:
        print(f"kept {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
