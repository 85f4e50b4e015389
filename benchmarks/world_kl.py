"""KL(exact Bayes || model) per action on held-out documents, for every seed of an experiment arm.

    python benchmarks/world_kl.py [--experiment runs/demo] [--arm unfiltered] \
        [--phase pretrain] [--docs 2000] [--heldout-seed 424242] [--no-record]
    python benchmarks/world_kl.py --speed [--recipe persona-world] [--repeat 3]

A thin caller of :func:`alignpt.experiment.kl.heldout_kl`, the library's definition
(see its module docstring): for every finished seed of ``--arm`` in the experiment
folder, it loads the model checkpoint at the end of ``--phase`` and the exact Bayes of
the data that model had seen by then, exactly as the experiment runner measures a run
(``expand_runs`` -> ``bayes_recipe(run, phase)`` -> ``ExactBayes``; the phase's
checkpoint from the run's training state), and reads the mean KL per position on
``--docs`` held-out documents of that world (seed ``--heldout-seed``, which no run
trained on), by kind (actions, flags/EOS, document starts), with its standard error
over documents, and the seconds one call took (one torch thread by default: the cost of
reading KL at every measured phase).

Prints a table per seed and the min-max over seeds of the per-action KL; records
them in benchmarks/results/world_kl.json (the README's per-action KL for the demo's
unfiltered arm after pretraining).

``--speed`` times one call alone, without an experiment folder: an untrained model of
the recipe's shape (the cost does not depend on the weights) read on ``--docs``
documents of the base world, best of ``--repeat``; recorded in world_kl-speed.json
(the cost quoted for reading KL at every measured phase).
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
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
    return f"{block['mean']:.5f} +- {block['se']:.5f}"


def main() -> None:
    import torch

    from alignpt.experiment.grid import REBOUND_SEED_OFFSET, bayes_recipe
    from alignpt.experiment.kl import HELDOUT_DOCS, HELDOUT_SEED, heldout_kl, model_scorer
    from alignpt.experiment.state import load_state, run_dir
    from alignpt.train import load_model
    from alignpt.world import ExactBayes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="runs/demo", help="experiment folder")
    ap.add_argument("--arm", default="unfiltered")
    ap.add_argument("--phase", default=None,
                    help="phase name (default: the pretraining phase, 'pretrain')")
    ap.add_argument("--docs", type=int, default=HELDOUT_DOCS, help="held-out documents")
    ap.add_argument("--heldout-seed", type=int, default=HELDOUT_SEED,
                    help="seed of the held-out documents (not a training or rebound seed)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--no-record", action="store_true", help="print only; keep the recorded file")
    ap.add_argument("--speed", action="store_true", help="time one call at the recipe's shape")
    ap.add_argument("--recipe", default="persona-world", help="--speed: experiment recipe")
    ap.add_argument("--repeat", type=int, default=3, help="--speed: timed calls (best kept)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.speed:
        return speed(args)

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
    for status in done:
        run = status.run
        phases = {p.name: p for p in run.phases}
        if phase_name not in phases:
            raise SystemExit(f"{run.name}: no phase {phase_name!r} (has {list(phases)})")
        recipe = bayes_recipe(run, phases[phase_name])
        ckpt = phase_checkpoint(run_dir(root, run), phase_name)
        model, _ = load_model(ckpt)
        bayes = ExactBayes(recipe)
        t0 = time.perf_counter()
        kl = heldout_kl(model_scorer(model), bayes, n_docs=args.docs, seed=args.heldout_seed)
        secs = time.perf_counter() - t0
        per_seed[str(run.seed)] = {"run": run.name, "checkpoint": str(ckpt.relative_to(root)),
                                   "bayes_recipe": recipe.name, **kl, "seconds": round(secs, 2)}
        print(f"seed {run.seed}: {args.docs} documents, {kl['all']['n_positions']:,} positions "
              f"scored ({kl['positions_past_context']} past the context of {kl['max_len']}), "
              f"{secs:.2f} s (checkpoint {ckpt.relative_to(root)})")

    print(f"\nKL(exact Bayes || model), nats per position: {root} arm {args.arm}, after phase "
          f"{phase_name}; mean +- standard error over documents")
    print(f"{'seed':>4}  {'actions':<24}{'flags/EOS':<24}{'doc start':<24}")
    for seed, fig in per_seed.items():
        print(f"{seed:>4}  {fmt(fig['actions']):<24}{fmt(fig['flags_eos']):<24}"
              f"{fmt(fig['start']):<24}")
    figures: dict = {"experiment": str(root), "arm": args.arm, "phase": phase_name,
                     "heldout": {"n_docs": args.docs, "seed": args.heldout_seed},
                     "per_seed": per_seed}
    for kind in KINDS:
        means = [f[kind]["mean"] for f in per_seed.values() if f[kind]["mean"] is not None]
        if means:
            figures[f"{kind}_range"] = [min(means), max(means)]
    secs = [f["seconds"] for f in per_seed.values()]
    figures["seconds_per_call_range"] = [min(secs), max(secs)]
    lo, hi = figures["actions_range"]
    print(f"\nper action, over {len(per_seed)} seed(s): {lo:.4f}-{hi:.4f} nats; "
          f"{min(secs):.2f}-{max(secs):.2f} s per call on {args.threads} thread(s)")
    record("world_kl", figures, args=vars(args), notes=(
        "KL(exact Bayes || model) per held-out position, from "
        "alignpt.experiment.kl.heldout_kl; model = the run's end-of-phase checkpoint, "
        "Bayes = bayes_recipe(run, phase) as the experiment runner measures it; held-out "
        "documents drawn from that recipe at --heldout-seed."))


def speed(args: argparse.Namespace) -> None:
    from alignpt.experiment import load_experiment
    from alignpt.experiment.kl import heldout_kl, model_scorer
    from alignpt.train import GPT
    from alignpt.world import ExactBayes
    from alignpt.world.vocab import VOCAB_SIZE

    recipe = load_experiment(args.recipe)
    cfg = recipe.model.resolved(vocab_size=VOCAB_SIZE, seq_len=recipe.training.seq_len)
    model = GPT(cfg).eval()
    bayes = ExactBayes(recipe.corpora["base"])
    heldout_kl(model_scorer(model), bayes, n_docs=100, seed=args.heldout_seed)   # warm up
    times, out = [], None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        out = heldout_kl(model_scorer(model), bayes, n_docs=args.docs, seed=args.heldout_seed)
        times.append(time.perf_counter() - t0)
    best = min(times)
    positions = out["all"]["n_positions"] + out["positions_past_context"]
    print(f"{args.recipe} model ({cfg.n_layer} layers, {cfg.n_head} heads, width {cfg.d_model}, "
          f"context {cfg.max_seq_len}): {args.docs} documents, {positions:,} positions, "
          f"best {best:.2f} s of {args.repeat} on {args.threads} thread(s)")
    record("world_kl-speed", {
        "recipe": args.recipe, "model": cfg.model_dump(mode="json"), "n_docs": args.docs,
        "positions": positions, "positions_past_context": out["positions_past_context"],
        "seconds_best": round(best, 3), "seconds_all": [round(t, 3) for t in times]},
        args=vars(args), notes="one heldout_kl call (model reading + exact Bayes), one thread")


if __name__ == "__main__":
    sys.exit(main())
