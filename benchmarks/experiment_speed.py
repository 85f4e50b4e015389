"""How many demo runs a minute this machine trains, three ways (issue 15, item 8).

(a) One run per process (the runner's way: 2 processes of 1 torch thread on 2 cores)
    against N models stacked as one batched model per process: every weight gets a
    leading model axis, linear layers become batched matmuls, attention folds the
    model axis into the batch, AdamW steps all models at once (per-model gradient
    clipping). Same shape and per-model batch as the demo (gpt2, 2 layers, 2 heads,
    d 48, 8 rows of 256, attention: document). The stacked forward is checked against
    the real model (per-model loss equal to 1e-4) before it is timed.
(b) One demo seed, every arm of the recipe, a reduced token budget: the experiment
    runner with branching (fine-tune and late arms start from the baseline's
    checkpoints) against every run from scratch: steps trained, wall time, and
    whether the results are equal.

    python benchmarks/experiment_speed.py                      # both parts
    python benchmarks/experiment_speed.py --part stacked --stack 1,2,5

Recorded in benchmarks/results/experiment_speed.json (``--no-record``: print only).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _results import record

SHAPE = dict(arch="gpt2", n_layer=2, n_head=2, d_model=48, attention="document")
SEQ, BATCH = 256, 8


def _plan(corpus: Path, steps: int, seed: int):
    from alignpt.train.config import TrainPlan

    return TrainPlan.model_validate({
        "seed": seed, "seq_len": SEQ, "batch_size": BATCH, "model": SHAPE,
        "sources": {"bench": {"paths": [str(corpus)]}},
        "phases": [{"name": "bench", "steps": steps, "mix": ["bench"],
                    "schedule": {"kind": "constant", "peak_lr": 1e-3}}],
        "runtime": {"device": "cpu", "threads": 1}, "log": {"progress": False, "plot": False}})


def _trainer(corpus: Path, out: Path, steps: int, seed: int):
    from alignpt.train.trainer import Trainer

    t = Trainer(_plan(corpus, steps, seed), out, progress=False)
    t.sampler.start_phase(0)
    t.model.train()
    return t


class StackedGPT(torch.nn.Module):
    """N gpt2 models of one shape trained as one: weights stacked on a leading model axis."""

    def __init__(self, models: list[torch.nn.Module]):
        super().__init__()
        self.cfg = models[0].cfg
        names = [n for n, _ in models[0].named_parameters()]
        self.names = names
        self.w = torch.nn.ParameterList(
            torch.nn.Parameter(torch.stack([dict(m.named_parameters())[n].detach() for m in models]))
            for n in names)

    def p(self, name: str) -> torch.Tensor:
        return self.w[self.names.index(name)]

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:   # x (N, R, in)
        return torch.baddbmm(self.p(f"{name}.bias")[:, None], x, self.p(f"{name}.weight").transpose(1, 2))

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        y = F.layer_norm(x, x.shape[-1:], eps=self.cfg.norm_eps)
        return y * self.p(f"{name}.weight")[:, None] + self.p(f"{name}.bias")[:, None]

    def forward(self, tok, tgt, doc, off):          # (N, B, T) each
        from alignpt.train.model import document_mask, document_positions

        N, B, T = tok.shape
        d, H = self.cfg.d_model, self.cfg.n_head
        model = torch.arange(N)[:, None, None]
        pos = document_positions(doc.view(N * B, T), off.view(N * B, T), self.cfg.max_seq_len)
        x = (self.p("wte.weight")[model, tok] + self.p("wpe.weight")[model, pos.view(N, B, T)])
        x = x.view(N, B * T, d)
        mask = document_mask(doc.view(N * B, T))
        for i in range(self.cfg.n_layer):
            pre = f"blocks.{i}"
            q, k, v = self._linear(self._norm(x, f"{pre}.norm1"), f"{pre}.attn.qkv").split(d, dim=2)
            q, k, v = (t.reshape(N * B, T, H, d // H).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            x = x + self._linear(y.transpose(1, 2).reshape(N, B * T, d), f"{pre}.attn.proj")
            h = F.gelu(self._linear(self._norm(x, f"{pre}.norm2"), f"{pre}.mlp.fc"))
            x = x + self._linear(h, f"{pre}.mlp.proj")
        x = self._norm(x, "norm_f")
        logits = torch.bmm(x, self.p("wte.weight").transpose(1, 2))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), tgt.reshape(-1),
                               reduction="none").view(N, B, T)


def _stacked_worker(corpus: str, n: int, steps: int, warmup: int, proc: int, q) -> None:
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    trainers = [_trainer(Path(corpus), tmp / f"m{i}", steps + warmup, seed=100 * proc + i)
                for i in range(n)]
    stacked = StackedGPT([t.model for t in trainers])
    decay = [w for w in stacked.w if w.dim() >= 3]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": [w for w in stacked.w if w.dim() < 3], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), fused=True)
    times, checked = [], False
    for step in range(steps + warmup):
        t0 = time.perf_counter()
        rows = [t.sampler.next_rows(BATCH) for t in trainers]
        tok = torch.from_numpy(np.stack([r.tokens for r in rows]))
        mask = torch.from_numpy(np.stack([r.mask[:, 1:] for r in rows])).float()
        doc = torch.from_numpy(np.stack([r.doc[:, :-1] for r in rows]))
        off = torch.from_numpy(np.stack([r.offset[:, :-1] for r in rows]))
        tok_loss = stacked(tok[..., :-1], tok[..., 1:], doc, off)
        if not checked:    # the stacked model computes what the real one does
            with torch.no_grad():
                for i, t in enumerate(trainers):
                    ref = t.model(tok[i, :, :-1], tok[i, :, 1:], doc=doc[i], offset=off[i])
                    assert torch.allclose(ref, tok_loss[i].detach(), atol=1e-4), "stacked != model"
            checked = True
        per_model = (tok_loss * mask).sum((1, 2)) / mask.sum((1, 2)).clamp(min=1)
        per_model.sum().backward()
        with torch.no_grad():      # clip each model's gradient norm to 1 on its own
            norms = torch.sqrt(sum(w.grad.pow(2).flatten(1).sum(1) for w in stacked.w))
            scale = (1.0 / (norms + 1e-6)).clamp(max=1.0)
            for w in stacked.w:
                w.grad.mul_(scale.view(-1, *[1] * (w.dim() - 1)))
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    q.put(sum(times))


def _single_worker(corpus: str, n: int, steps: int, warmup: int, proc: int, q) -> None:
    torch.set_num_threads(1)
    t = _trainer(Path(corpus), Path(tempfile.mkdtemp()) / "m", steps + warmup, seed=proc)
    times = []
    for step in range(steps + warmup):
        t0 = time.perf_counter()
        t.train_step(t.sampler.next_rows(BATCH), 1e-3)
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    q.put(sum(times))


def model_steps_per_s(worker, corpus: Path, n: int, steps: int, warmup: int, procs: int) -> float:
    """Model-steps per second of ``procs`` processes running at once, each training n models."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=worker, args=(str(corpus), n, steps, warmup, i, q)) for i in range(procs)]
    for p in ps:
        p.start()
    seconds = [q.get() for _ in ps]
    for p in ps:
        p.join()
    return sum(n * steps / s for s in seconds)


def part_stacked(args, steps_per_run: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from document_attention import write_corpus

    out: dict = {"steps_per_run": steps_per_run, "processes": args.procs, "threads_each": 1}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_corpus(Path(tmp), 2_000_000)
        rates = {}
        for rep in range(args.repeats):   # alternate, so background load hits every variant
            r = model_steps_per_s(_single_worker, corpus, 1, args.steps, args.warmup, args.procs)
            rates.setdefault("one_run_per_process", []).append(r)
            for n in args.stack:
                steps = max(10, args.steps // n)
                r = model_steps_per_s(_stacked_worker, corpus, n, steps, 3, args.procs)
                rates.setdefault(f"stacked_{n}_per_process", []).append(r)
    base = statistics.median(rates["one_run_per_process"])
    for k, v in rates.items():
        med = statistics.median(v)
        out[k] = {"model_steps_per_s": round(med, 2), "runs_per_min": round(60 * med / steps_per_run, 3),
                  "ms_per_model_step_per_core": round(1e3 * args.procs / med, 2),
                  "vs_one_run_per_process": round(med / base, 3), "repeats": [round(x, 2) for x in v]}
        print(f"  {k:26s} {out[k]['runs_per_min']:.3f} runs/min ({med:.1f} model-steps/s, "
              f"{out[k]['vs_one_run_per_process']:.2f}x one run per process)")
    return out


def part_branching(args) -> dict:
    from alignpt.experiment import load_experiment, run_experiment
    from alignpt.experiment.state import load_state

    cfg = load_experiment(args.recipe, [f"seeds=[{args.seed}]",
                                        f"training.pretrain_tokens={args.pretrain_tokens}"])
    out: dict = {"recipe": args.recipe, "arms": len(cfg.arms), "pretrain_tokens": args.pretrain_tokens}
    with tempfile.TemporaryDirectory() as tmp:
        walls = {}
        for mode in ("scratch", "branched"):
            folder = Path(tmp) / mode
            if mode == "branched":      # same corpora, generated once, outside the timing
                shutil.copytree(Path(tmp) / "scratch" / "corpora", folder / "corpora")
            else:
                from alignpt.experiment.grid import expand_runs
                from alignpt.experiment.runner import _ensure_corpora
                from alignpt.experiment.world_kind import WorldKind

                _ensure_corpora(folder, WorldKind(cfg), expand_runs(cfg), lambda _: None)
            t0 = time.perf_counter()
            run_experiment(cfg, folder, workers=2, progress=False, report=False,
                           branch=mode == "branched")
            walls[mode] = time.perf_counter() - t0
        states = {m: load_state(Path(tmp) / m) for m in walls}
        same = all(a.result["phases"] == b.result["phases"]
                   for a, b in zip(states["scratch"].runs, states["branched"].runs))
        for mode, st in states.items():
            total = sum(s.result["steps"] for s in st.runs)
            skipped = sum(s.run.branch.step for s in st.runs if s.result.get("branched_from"))
            runs = len(st.runs)
            out[mode] = {"runs": runs, "steps_trained": total - skipped, "steps_skipped": skipped,
                         "wall_s": round(walls[mode], 1),
                         "runs_per_min": round(60 * runs / walls[mode], 2)}
            print(f"  {mode:9s} {runs} runs, {total - skipped} steps trained ({skipped} taken from "
                  f"the baseline), {walls[mode]:.1f} s, {out[mode]['runs_per_min']:.2f} runs/min")
        out["speedup_wall"] = round(walls["scratch"] / walls["branched"], 3)
        out["results_identical"] = same
        print(f"  branching: {out['speedup_wall']:.2f}x wall; results identical: {same}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["all", "stacked", "branching"], default="all")
    ap.add_argument("--stack", default="2,5,10", help="models stacked per process")
    ap.add_argument("--procs", type=int, default=2, help="processes at once (1 thread each)")
    ap.add_argument("--steps", type=int, default=60, help="timed steps of one run per process")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--recipe", default="persona-world")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pretrain-tokens", default="300k", help="reduced budget for part (b)")
    ap.add_argument("--note", help="recorded with the figures")
    ap.add_argument("--no-record", action="store_true", help="print only")
    args = ap.parse_args(argv)
    args.stack = [int(x) for x in args.stack.split(",") if x]
    figures: dict = {"shape": {**SHAPE, "seq_len": SEQ, "batch_size": BATCH}}
    if args.part in ("all", "stacked"):
        from alignpt.experiment import load_experiment
        from alignpt.experiment.grid import expand_runs
        from alignpt.train.config import TrainPlan
        from alignpt.train.phases import resolve_budgets

        run = expand_runs(load_experiment(args.recipe))[0]
        steps_per_run = sum(p.steps for p in resolve_budgets(TrainPlan.model_validate(run.plan)))
        print(f"(a) demo shape, {args.procs} processes x 1 thread; a demo run is {steps_per_run} steps")
        figures["stacked"] = part_stacked(args, steps_per_run)
    if args.part in ("all", "branching"):
        print(f"(b) one seed of {args.recipe}, pretraining {args.pretrain_tokens} tokens, 2 workers")
        figures["branching"] = part_branching(args)
    record("experiment_speed", figures,
           args={k: v for k, v in vars(args).items() if k not in ("no_record", "note")}, notes=args.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
