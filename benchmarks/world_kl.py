"""KL(exact Bayes || model) per action on held-out documents, for every seed of an experiment arm.

    python benchmarks/world_kl.py [--experiment runs/demo] [--arm unfiltered] \
        [--phase pretrain] [--tokens 1000000] [--heldout-seed 424242] [--no-record]

For every finished seed of ``--arm`` in the experiment folder, this loads the
model checkpoint at the end of ``--phase`` and the exact Bayes of the data that
model had seen by then, exactly as the experiment runner measures a run
(``expand_runs`` -> ``bayes_recipe(run, phase)`` -> ``ExactBayes``; the phase's
checkpoint from the run's training state). It then generates one held-out corpus
from that same training world at ``--heldout-seed`` (distinct from every
training and rebound seed, so its documents are a random stream no run trained on)
into a temporary folder, and runs the persona-world suite's
``kl_report`` on it: mean KL(Bayes || model) per position, on the contexts the
training world supports, by kind (actions, flags/EOS, document starts), with a
bootstrap 95% interval over documents. Every held-out document is scored
(``max_docs`` is set above the corpus's document count).

Prints a table per seed and the min-max over seeds of the per-action KL; records
them in benchmarks/results/world_kl.json (the README's per-action KL on support for
the demo's unfiltered arm after pretraining).
Runs on one torch thread by default (--threads); the held-out corpus is a few seconds.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _results import record  # noqa: E402

KINDS = ("actions", "flags_eos", "start")


def phase_checkpoint(run_folder: Path, phase: str) -> Path:
    """The end-of-``phase`` checkpoint of a finished run, as the trainer recorded it
    (what ``train(...).phase_checkpoints[phase]`` returns, read without the trainer)."""
    from alignpt.train.checkpoint import CKPT_DIR, latest_checkpoint, read_state

    train_dir = run_folder / "train"
    latest = latest_checkpoint(train_dir)
    if latest is None:
        raise SystemExit(f"{train_dir}: no checkpoint")
    names = read_state(latest).get("phase_checkpoints", {})
    if phase not in names:
        raise SystemExit(f"{train_dir}: no end-of-phase checkpoint for {phase!r} "
                         f"(has {sorted(names)})")
    path = train_dir / CKPT_DIR / names[phase]
    if not (path / "model.json").exists():
        raise SystemExit(f"{path}: phase checkpoint missing (pruned?)")
    return path


def fmt(block: dict) -> str:
    if block.get("mean") is None:
        return "-"
    lo, hi = block["ci"]
    return f"{block['mean']:.4f} [{lo:.4f}, {hi:.4f}]"


def main() -> None:
    import torch

    from alignpt.evaluate.world_suite import checkpoint_world_model, kl_report
    from alignpt.experiment.grid import REBOUND_SEED_OFFSET, bayes_recipe
    from alignpt.experiment.state import load_state, run_dir
    from alignpt.world import ExactBayes
    from alignpt.world.generate import generate_corpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="runs/demo", help="experiment folder")
    ap.add_argument("--arm", default="unfiltered")
    ap.add_argument("--phase", default=None,
                    help="phase name (default: the pretraining phase, 'pretrain')")
    ap.add_argument("--tokens", type=int, default=1_000_000,
                    help="held-out corpus size (1M: about 10 s a seed on one core for the demo)")
    ap.add_argument("--heldout-seed", type=int, default=424242,
                    help="seed of the held-out corpus (not a training or rebound seed)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--boot-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--tmp", default=None, help="folder for the temporary held-out corpus")
    ap.add_argument("--no-record", action="store_true", help="print only; keep the recorded file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    root = Path(args.experiment)
    if not (root / "experiment.yaml").exists():
        raise SystemExit(f"{root}: no experiment here (run `make demo` first, or pass "
                         f"--experiment FOLDER)")
    state = load_state(root)
    runs = [s for s in state.runs if s.run.arm == args.arm]
    if not runs:
        arms = sorted({s.run.arm for s in state.runs})
        raise SystemExit(f"{root}: no arm {args.arm!r} (arms: {', '.join(arms)})")
    done = [s for s in runs if s.state == "done"]
    skipped = [f"seed{s.run.seed} ({s.state})" for s in runs if s.state != "done"]
    if skipped:
        print(f"skipping unfinished runs: {', '.join(skipped)}")
    if not done:
        raise SystemExit(f"{root}: no finished run of arm {args.arm!r}")
    train_seeds = {s.run.seed for s in state.runs}
    if args.heldout_seed in train_seeds | {x + REBOUND_SEED_OFFSET for x in train_seeds}:
        raise SystemExit(f"--heldout-seed {args.heldout_seed} is a training seed")

    phase_name = args.phase
    if phase_name is None:
        phase_name = next(p.name for p in done[0].run.phases if p.label == "pretrain")

    per_seed: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="world_kl-", dir=args.tmp) as tmp:
        corpora: dict[str, tuple[Path, dict]] = {}  # recipe hash -> (shard, stats)
        for status in done:
            run = status.run
            phases = {p.name: p for p in run.phases}
            if phase_name not in phases:
                raise SystemExit(f"{run.name}: no phase {phase_name!r} (has {list(phases)})")
            phase = phases[phase_name]
            recipe = bayes_recipe(run, phase)
            key = recipe.model_dump_json()
            if key not in corpora:
                t0 = time.perf_counter()
                res = generate_corpus(recipe, args.tokens, args.heldout_seed,
                                      Path(tmp) / f"heldout-{len(corpora)}", progress=False)
                if len(res.shards) != 1:
                    raise SystemExit(f"held-out corpus has {len(res.shards)} shards, expected 1")
                stats = {"recipe": recipe.name, "seed": args.heldout_seed,
                         "tokens": res.stats["tokens"], "documents": res.stats["documents"],
                         "seconds": round(time.perf_counter() - t0, 2)}
                corpora[key] = (res.shards[0], stats)
                print(f"held-out corpus: recipe {recipe.name}, seed {args.heldout_seed}, "
                      f"{stats['tokens']:,} tokens, {stats['documents']:,} documents")
            shard, stats = corpora[key]
            ckpt = phase_checkpoint(run_dir(root, run), phase_name)
            t0 = time.perf_counter()
            model = checkpoint_world_model(str(ckpt))
            kl = kl_report(model, ExactBayes(recipe), str(shard),
                           max_docs=stats["documents"] + 1, n_boot=args.n_boot,
                           seed=args.boot_seed)
            secs = time.perf_counter() - t0
            per_seed[str(run.seed)] = {
                "run": run.name, "checkpoint": str(ckpt.relative_to(root)),
                "bayes_recipe": recipe.name, "n_docs": kl["n_docs"],
                "on_support": kl["on_support"],
                "off_support_positions": {k: kl["off_support"][k]["n_positions"] for k in KINDS},
                # Positions past the model's context (max_seq_len) are not scored.
                "positions_scored": sum(kl["on_support"][k]["n_positions"]
                                        + kl["off_support"][k]["n_positions"] for k in KINDS),
                "seconds": round(secs, 1)}
            print(f"seed {run.seed}: {kl['n_docs']} documents, "
                  f"{per_seed[str(run.seed)]['positions_scored']:,} of {stats['tokens']:,} "
                  f"positions scored, {secs:.1f} s (checkpoint {ckpt.relative_to(root)})")
        heldout = [stats for _, stats in corpora.values()]

    print(f"\nKL(exact Bayes || model), nats per position on support: {root} arm "
          f"{args.arm}, after phase {phase_name}; mean [95% bootstrap CI over documents]")
    head = f"{'seed':>4}  {'actions':<26}{'flags/EOS':<26}{'doc start':<26}{'off-support pos.':>16}"
    print(head)
    for seed, fig in per_seed.items():
        on = fig["on_support"]
        off = sum(fig["off_support_positions"].values())
        print(f"{seed:>4}  {fmt(on['actions']):<26}{fmt(on['flags_eos']):<26}"
              f"{fmt(on['start']):<26}{off:>16}")
    figures: dict = {"experiment": str(root), "arm": args.arm, "phase": phase_name,
                     "heldout": heldout[0] if len(heldout) == 1 else heldout, "per_seed": per_seed}
    for kind in KINDS:
        means = [f["on_support"][kind]["mean"] for f in per_seed.values()
                 if f["on_support"][kind]["mean"] is not None]
        if means:
            figures[f"{kind}_range"] = [min(means), max(means)]
    lo, hi = figures["actions_range"]
    print(f"\nper action on support, over {len(per_seed)} seed(s): {lo:.4f}-{hi:.4f} nats")
    record("world_kl", figures, args=vars(args), notes=(
        "KL(exact Bayes || model) per held-out position, on contexts the training world "
        "supports, from alignpt.evaluate.world_suite.kl_report; model = the run's end-of-phase "
        "checkpoint, Bayes = bayes_recipe(run, phase) as the experiment runner measures it; "
        "held-out corpus generated from that recipe at --heldout-seed."))


if __name__ == "__main__":
    sys.exit(main())
