"""Training throughput: alignpt's trainer against a plain loop over transformers.GPT2LMHeadModel.

Both train the same shape (GPT-2 blocks, tied embeddings) on the same batch size
and sequence length, in one process, alternating so that background load hits
both alike. Figures printed: tokens/s of each and their ratio, achieved model
FLOP/s (6N + 12*L*d*T per token) and that as a fraction of the matmul rate this
script measures on the same device (and, on CUDA, of a stated peak: MFU).

    python benchmarks/train_throughput.py                      # CPU, 5M-parameter GPT
    python benchmarks/train_throughput.py --preset testbed     # the persona-world model
    python benchmarks/train_throughput.py --device cuda --preset 124m --seq-len 1024 \\
        --dtype bf16 --compile                                  # H100: MFU vs 989 TFLOP/s

Ours is timed through the real ``Trainer`` (sampler, packing, loss masks, fused
AdamW, grad clipping, per-source loss); timing starts after warmup steps (and
after torch.compile has compiled). On CPU, where other jobs on a shared machine
make whole-run timings swing by 2-3x, the reference step runs between our steps
(from a training callback) so that both are timed under the same load.

The figures are recorded in benchmarks/results/train_throughput-<preset>-<device>.json,
with the load average before and after (``--no-record``: print only).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _results import record

PRESETS = {
    # tooling.md section 6: a 5.3M-parameter GPT-2 at batch 8 x 256 on 2 CPU cores
    "cpu-5m": dict(d_model=256, n_layer=4, n_head=4, vocab=8192, seq_len=256, batch_size=8),
    # theory.md section 3: the persona-world testbed model
    "testbed": dict(d_model=64, n_layer=2, n_head=4, vocab=20, seq_len=256, batch_size=32),
    # GPT-2 small (nanoGPT's 124M, vocabulary padded to 50304)
    "124m": dict(d_model=768, n_layer=12, n_head=12, vocab=50304, seq_len=1024, batch_size=32),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_probe(device: torch.device, dtype: torch.dtype, reps: int | None = None):
    """A closure returning the dense matmul FLOP/s it measures each time it is called:
    the ceiling a training step can approach, on this device, under the current load."""
    n = 8192 if device.type == "cuda" else 1024
    reps = reps or (20 if device.type == "cuda" else 4)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)

    def rate() -> float:
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        return 2 * n**3 * reps / (time.perf_counter() - t)

    return rate


def write_corpus(folder: Path, vocab: int, n_tokens: int, seed: int = 0) -> Path:
    from alignpt.core.tokens import TokenShardWriter

    rng = np.random.default_rng(seed)
    lengths = []
    while sum(lengths) < n_tokens:
        lengths.append(int(rng.integers(100, 2000)))
    flat = rng.integers(0, vocab - 1, size=sum(lengths))
    ends = np.cumsum(lengths) - 1
    flat[ends] = vocab - 1  # every document ends in EOS
    path = folder / "bench"
    with TokenShardWriter(path, vocab_size=vocab, eos_id=vocab - 1) as w:
        w.add_documents(flat, lengths, "bench")
    return path


def _plan(args, shape, corpus: Path, log_every: int):
    from alignpt.train.config import TrainPlan

    return TrainPlan.model_validate({
        "seq_len": shape["seq_len"], "batch_size": shape["batch_size"],
        "model": {"arch": args.arch, "n_layer": shape["n_layer"], "n_head": shape["n_head"],
                  "d_model": shape["d_model"], "vocab_size": shape["vocab"]},
        "sources": {"bench": {"paths": [str(corpus)]}},
        "phases": [{"name": "bench", "steps": args.warmup + args.steps, "mix": ["bench"],
                    "schedule": {"kind": "constant", "peak_lr": 3e-4}}],
        "runtime": {"device": args.device, "dtype": args.dtype, "compile": args.compile,
                    "threads": args.threads, "micro_batch_size": args.micro_batch_size},
        "log": {"every": log_every, "progress": False, "plot": False},
    })


def reference_stepper(args, shape, device: torch.device):
    """One optimizer step of a plain PyTorch loop over transformers.GPT2LMHeadModel, as a closure."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=shape["vocab"], n_positions=shape["seq_len"], n_embd=shape["d_model"],
                     n_layer=shape["n_layer"], n_head=shape["n_head"], activation_function="gelu",
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
                     bos_token_id=shape["vocab"] - 1, eos_token_id=shape["vocab"] - 1)
    model = GPT2LMHeadModel(cfg).to(device).train()
    fused = device.type == "cuda"  # the usual choice on GPU; CPU default is foreach
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, betas=(0.9, 0.95), fused=fused)
    fwd = torch.compile(model) if args.compile else model
    B, T, V = shape["batch_size"], shape["seq_len"], shape["vocab"]
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, V, (B, T + 1), generator=gen) for _ in range(4)]
    use_bf16 = device.type == "cuda" and args.dtype == "bf16"
    count = [0]

    def step() -> None:
        batch = batches[count[0] % len(batches)].to(device, non_blocking=True)
        count[0] += 1
        x, y = batch[:, :-1], batch[:, 1:]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = fwd(input_ids=x).logits
        loss = F.cross_entropy(logits.float().view(-1, V), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def run_interleaved(args, shape, corpus: Path, out: Path, ref_step, probe
                    ) -> tuple[list[float], list[float], list[float]]:
    """CPU: seconds per step of our Trainer and of the reference, and matmul rates, interleaved.

    The reference step and a matmul probe run inside a callback of our training loop,
    so all three see the same background load from one second to the next; each
    side's time excludes the others'.
    """
    from alignpt.train.trainer import train

    ours, ref, rates = [], [], []
    mark = [None]

    def between_steps(ev) -> None:
        if ev.kind != "step":
            return
        now = time.perf_counter()
        if mark[0] is not None and ev.step > args.warmup:
            ours.append(now - mark[0])
        if ref_step is not None:
            t = time.perf_counter()
            ref_step()
            if ev.step > args.warmup:
                ref.append(time.perf_counter() - t)
        rates.append(probe())
        mark[0] = time.perf_counter()

    train(_plan(args, shape, corpus, log_every=1), out, callbacks=[between_steps], progress=False)
    return ours, ref, rates


def run_ours_cuda(args, shape, corpus: Path, out: Path) -> list[float]:
    """CUDA: seconds per timed step of our Trainer, from a synchronised window after warmup."""
    from alignpt.train.trainer import train

    marks: dict[int, float] = {}

    def clock(ev) -> None:
        if ev.kind == "step":  # logging (every `warmup` steps) synchronises the device
            marks[ev.step] = time.perf_counter()

    train(_plan(args, shape, corpus, log_every=args.warmup), out, callbacks=[clock], progress=False)
    steps = args.warmup + args.steps
    return [(marks[steps] - marks[args.warmup]) / args.steps] * args.steps


def run_reference_cuda(args, ref_step, device: torch.device) -> list[float]:
    for _ in range(args.warmup):
        ref_step()
    sync(device)
    t = time.perf_counter()
    for _ in range(args.steps):
        ref_step()
    sync(device)
    return [(time.perf_counter() - t) / args.steps] * args.steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--preset", default=None, choices=sorted(PRESETS),
                    help="model shape; default cpu-5m on CPU, 124m on CUDA")
    ap.add_argument("--arch", default="gpt2", choices=["gpt2", "llama"], help="our model flavour")
    ap.add_argument("--seq-len", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--micro-batch-size", type=int)
    ap.add_argument("--dtype", default=None, choices=["float32", "bf16"])
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--steps", type=int, default=None, help="timed steps")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first")
    ap.add_argument("--repeats", type=int, default=None, help="rounds (default 2 on CPU, 1 on CUDA)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    ap.add_argument("--peak-tflops", type=float, default=989.0,
                    help="CUDA: dense bf16 peak for MFU (989 = H100 SXM)")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--note", help="recorded with the figures (e.g. what else loaded the machine)")
    ap.add_argument("--no-record", action="store_true", help="print only; keep the recorded file")
    args = ap.parse_args(argv)
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("no CUDA device visible", file=sys.stderr)
        return 2
    shape = dict(PRESETS[args.preset or ("124m" if cuda else "cpu-5m")])
    shape["seq_len"] = args.seq_len or shape["seq_len"]
    shape["batch_size"] = args.batch_size or shape["batch_size"]
    args.dtype = args.dtype or ("bf16" if cuda else "float32")
    args.steps = args.steps or (30 if cuda else 6)
    args.warmup = args.warmup or (10 if cuda else 2)
    args.repeats = args.repeats or (1 if cuda else 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    from alignpt.train.config import ModelConfig
    from alignpt.train.model import GPT, count_params, flops_per_token

    mcfg = ModelConfig(arch=args.arch, n_layer=shape["n_layer"], n_head=shape["n_head"],
                       d_model=shape["d_model"]).resolved(shape["vocab"], shape["seq_len"])
    fpt = flops_per_token(mcfg, shape["seq_len"])
    n_params = count_params(GPT(mcfg))
    mm_dtype = torch.bfloat16 if (cuda and args.dtype == "bf16") else torch.float32
    probe = matmul_probe(device, mm_dtype)
    where = torch.cuda.get_device_name() if cuda else f"{torch.get_num_threads()} threads"
    print(f"device {args.device} ({where}), torch {torch.__version__}")
    print(f"model {args.arch} d={shape['d_model']} L={shape['n_layer']} H={shape['n_head']} "
          f"V={shape['vocab']} ({n_params / 1e6:.2f}M params), batch {shape['batch_size']} x "
          f"{shape['seq_len']}, {args.dtype}{', compiled' if args.compile else ''}; "
          f"{args.warmup} warmup + {args.steps} timed steps")
    mm_rates = [max(probe() for _ in range(3))]
    load_start = os.getloadavg()

    tokens_needed = (args.warmup + args.steps) * shape["batch_size"] * (shape["seq_len"] + 1) * 1.05
    tok_step = shape["batch_size"] * shape["seq_len"]  # predicted tokens per step, for both
    ours, ref = [], []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_corpus(Path(tmp), shape["vocab"], int(tokens_needed))
        for r in range(args.repeats):
            if cuda:  # GPU timings are steady: whole runs, one after the other
                ours += run_ours_cuda(args, shape, corpus, Path(tmp) / f"run{r}")
                if not args.skip_reference:
                    ref += run_reference_cuda(args, reference_stepper(args, shape, device), device)
            else:     # a shared CPU is not: alternate step by step
                stepper = None if args.skip_reference else reference_stepper(args, shape, device)
                o, f, m = run_interleaved(args, shape, corpus, Path(tmp) / f"run{r}", stepper, probe)
                ours += o
                ref += f
                mm_rates += m
            line = f"  round {r}: ours {tok_step / statistics.median(ours[-args.steps:]):,.0f} tok/s"
            if ref:
                line += f", reference {tok_step / statistics.median(ref[-args.steps:]):,.0f} tok/s"
            print(line, flush=True)

    def rates(times: list[float]) -> tuple[float, float]:
        # median step: typical speed; fastest step: least disturbed by other load
        return tok_step / statistics.median(times), tok_step / min(times)

    o_med, o_best = rates(ours)
    figures = {"params_m": round(n_params / 1e6, 2), "tokens_per_step": tok_step,
               "threads": torch.get_num_threads(), "load_average_start": load_start,
               "ours_tok_s_median": round(o_med), "ours_tok_s_fastest": round(o_best),
               "ours_steps": len(ours)}
    print(f"alignpt trainer:      {o_med:,.0f} tok/s median step, {o_best:,.0f} fastest step "
          f"({len(ours)} steps)")
    if ref:
        r_med, r_best = rates(ref)
        print(f"GPT2LMHeadModel loop: {r_med:,.0f} tok/s median step, {r_best:,.0f} fastest step "
              f"({len(ref)} steps)")
        print(f"ratio ours/reference: {o_med / r_med:.2f} (median steps), "
              f"{o_best / r_best:.2f} (fastest steps)")
        figures.update({"reference_tok_s_median": round(r_med), "reference_tok_s_fastest": round(r_best),
                        "reference_steps": len(ref), "ratio_median": round(o_med / r_med, 3),
                        "ratio_fastest": round(o_best / r_best, 3)})
        if not cuda:
            # Each of our steps against the reference step run right after it, under the
            # same load: robust when the load changes between rounds, unlike a ratio of medians.
            pairs = [r / o for o, r in zip(ours, ref)]
            paired = statistics.median(pairs)
            q1, _, q3 = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else (paired,) * 3
            print(f"ratio ours/reference: {paired:.2f} (median of {len(pairs)} step-by-step pairs; "
                  f"quartiles {q1:.2f}-{q3:.2f})")
            figures.update({"ratio_paired_median": round(paired, 3),
                            "ratio_paired_quartiles": [round(q1, 3), round(q3, 3)]})
    achieved = o_med * fpt
    rate = statistics.median(mm_rates)
    print(f"matmul rate ({mm_dtype}): {rate / 1e9:,.1f} GFLOP/s measured here (median of {len(mm_rates)} "
          f"probes{' taken between steps' if not cuda else ''})")
    print(f"model FLOP/s:         {achieved / 1e9:,.1f} GFLOP/s = {achieved / rate:.1%} of that "
          f"({fpt / 1e6:.1f} MFLOP/token, median step)")
    figures.update({"matmul_gflop_s": round(rate / 1e9, 1), "model_gflop_s": round(achieved / 1e9, 1),
                    "model_share_of_matmul": round(achieved / rate, 3),
                    "mflop_per_token": round(fpt / 1e6, 1), "load_average_end": os.getloadavg()})
    if cuda:
        print(f"MFU:                  {achieved / (args.peak_tflops * 1e12):.1%} of {args.peak_tflops:g} "
              f"TFLOP/s peak")
        figures.update({"mfu": round(achieved / (args.peak_tflops * 1e12), 4),
                        "peak_tflops": args.peak_tflops})
    preset = args.preset or ("124m" if cuda else "cpu-5m")
    record(f"train_throughput-{preset}-{args.device}", figures,
           args={k: v for k, v in vars(args).items() if k not in ("no_record", "note")},
           notes=args.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
