"""The dpo losses and their gradients against a direct implementation of the published formulas."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from alignpt.train.config import ModelConfig, TrainPlan
from alignpt.train.dpo import dpo_losses, sequence_logps
from alignpt.train.model import GPT
from alignpt.train.trainer import Trainer
from tests.train.test_dpo_helpers import dpo_plan, write_pairs

PAIRS = [  # (prompt, chosen, rejected): different lengths on purpose
    ([1, 3, 13, 14], [14, 2], [15, 13, 15, 2]),
    ([1, 5], [14, 13, 14, 2], [15, 2]),
    ([1, 7, 13, 14, 13, 14, 13], [14], [15]),
]


def _model(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(ModelConfig(n_layer=2, n_head=2, d_model=16, vocab_size=20, max_seq_len=32, init_std=0.3))


def _direct_logp(model: GPT, prompt: list[int], completion: list[int]) -> torch.Tensor:
    """log pi(y|x) = sum_t log pi(y_t | x, y_<t): one unpadded sequence at a time, float64."""
    seq = torch.tensor([prompt + completion])
    logp = torch.log_softmax(model(seq).double(), dim=-1)[0]
    return sum(logp[len(prompt) - 1 + t, y] for t, y in enumerate(completion))


def _direct_loss(policy: GPT, ref: GPT, loss: str, beta: float, eps: float) -> torch.Tensor:
    """Mean over pairs of the papers' per-pair losses (written out, not shared with the code)."""
    total = torch.zeros((), dtype=torch.float64)
    for x, yw, yl in PAIRS:
        with torch.no_grad():
            rw, rl = _direct_logp(ref, x, yw), _direct_logp(ref, x, yl)
        pw, pl = _direct_logp(policy, x, yw), _direct_logp(policy, x, yl)
        h = (pw - rw) - (pl - rl)
        sig = lambda z: 1 / (1 + torch.exp(-z))  # noqa: E731
        if loss == "sigmoid":       # DPO, Rafailov et al. 2023, eq. 7
            term = -torch.log(sig(beta * h))
        elif loss == "ipo":         # IPO, Azar et al. 2023, eq. 17
            term = (h - 1 / (2 * beta)) ** 2
        else:                       # cDPO, Mitchell 2023: labels flipped with probability eps
            term = -(1 - eps) * torch.log(sig(beta * h)) - eps * torch.log(sig(-beta * h))
        total = total + term
    return total / len(PAIRS)


def _ours(policy: GPT, ref: GPT, loss: str, beta: float, eps: float) -> torch.Tensor:
    P = [np.array(p) for p, _, _ in PAIRS]
    C = [np.array(c) for _, c, _ in PAIRS] + [np.array(r) for _, _, r in PAIRS]
    with torch.no_grad():
        r = sequence_logps(ref, P * 2, C, torch.device("cpu"))
    lp = sequence_logps(policy, P * 2, C, torch.device("cpu"))
    n = len(PAIRS)
    out, _, _ = dpo_losses(lp[:n], lp[n:], r[:n], r[n:], loss, beta, eps)
    return out.mean()


@pytest.mark.parametrize("loss,beta,eps", [("sigmoid", 0.1, 0.0), ("sigmoid", 2.0, 0.0), ("ipo", 0.5, 0.0),
                                           ("robust", 0.3, 0.2)])
def test_loss_and_gradients_equal_the_published_formulas(loss, beta, eps):
    ref = _model(0)
    policy = _model(1)   # a different model, so h != 0 and every term matters
    direct = _direct_loss(policy, ref, loss, beta, eps)
    g_direct = torch.autograd.grad(direct, list(policy.parameters()))
    ours = _ours(policy, ref, loss, beta, eps)
    g_ours = torch.autograd.grad(ours, list(policy.parameters()))
    assert float(direct.detach()) > 0
    assert abs(float(ours.detach()) - float(direct.detach())) < 1e-5
    for a, b in zip(g_ours, g_direct):
        assert torch.allclose(a.double(), b.double(), atol=1e-5, rtol=1e-4)


def test_at_the_reference_the_losses_have_their_closed_forms():
    model = _model(0)
    P = [np.array(p) for p, _, _ in PAIRS]
    C = [np.array(c) for _, c, _ in PAIRS] + [np.array(r) for _, _, r in PAIRS]
    lp = sequence_logps(model, P * 2, C, torch.device("cpu")).detach()
    n = len(PAIRS)
    for loss, beta, want in [("sigmoid", 0.1, math.log(2)), ("robust", 0.1, math.log(2)),
                             ("ipo", 0.25, (1 / 0.5) ** 2)]:
        out, rc, rr = dpo_losses(lp[:n], lp[n:], lp[:n], lp[n:], loss, beta, 0.1 if loss == "robust" else 0)
        assert torch.allclose(out, torch.full((n,), want, dtype=out.dtype), atol=1e-6)
        assert torch.equal(rc, torch.zeros(n)) and torch.equal(rr, torch.zeros(n))


def test_the_trainer_step_gradient_is_the_mean_over_the_steps_pairs(world, tmp_path):
    """The trainer's first dpo step (micro-batches of 1 pair) produces the gradient of the
    mean sigmoid loss over its pairs, by the direct formula, before clipping and AdamW."""
    pairs = write_pairs(tmp_path / "pairs.jsonl", 6, seed=3)
    cfg = dpo_plan(world, pairs, loss="robust", label_smoothing=0.25, beta=0.5)
    cfg["phases"] = [cfg["phases"][1]]
    cfg["runtime"]["micro_batch_size"] = 1
    cfg["batch_size"] = 4
    cfg["optim"] = {"grad_clip": 0.0}
    t = Trainer(TrainPlan.model_validate(cfg), tmp_path / "run", progress=False)
    ph = t.phases[0]
    assert ph.steps == 6
    d = t.dpo[ph.name]
    from alignpt.train.dpo import dpo_step, reference_logps

    ref_model = copy.deepcopy(t.model)
    ref = reference_logps(t, d)
    with torch.no_grad():  # make the policy differ from the reference, as mid-phase
        for p in t.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    idx = d.positions(0)
    grads = {}
    t.optimizer.step = lambda: grads.update({n: p.grad.clone() for n, p in t.model.named_parameters()})
    dpo_step(t, d, ref, idx, lr=1e-3)

    global PAIRS
    saved = PAIRS
    try:
        PAIRS = [(d.pairs.prompt[i].tolist(), d.pairs.chosen[i].tolist(), d.pairs.rejected[i].tolist())
                 for i in idx]
        direct = _direct_loss(t.model, ref_model, "robust", 0.5, 0.25)
    finally:
        PAIRS = saved
    g = torch.autograd.grad(direct, [p for _, p in t.model.named_parameters()])
    for (name, _), want in zip(t.model.named_parameters(), g):
        assert torch.allclose(grads[name].double(), want.double(), atol=1e-5, rtol=1e-4), name
    t.close()


@pytest.mark.parametrize("arch,attention", [("gpt2", "packed"), ("llama", "document")])
def test_first_dpo_step_sits_at_the_reference(world, tmp_path, arch, attention):
    """Policy = reference at the phase's first step, whatever the architecture or attention:
    loss log 2, zero rewards (the reference pass and the step read sequences alike)."""
    cfg = dpo_plan(world, write_pairs(tmp_path / "pairs.jsonl", 8, seed=5))
    cfg["model"].update(arch=arch, attention=attention)
    cfg["phases"] = cfg["phases"][:2]
    cfg["phases"][1]["steps"] = 2
    from alignpt.train.metrics import read_metrics
    from alignpt.train.trainer import train

    res = train(TrainPlan.model_validate(cfg), tmp_path / "run", progress=False)
    first = [r for r in read_metrics(res.run_dir) if r.get("phase") == "dpo"][0]
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert abs(first["chosen_reward"]) < 1e-5 and abs(first["rejected_reward"]) < 1e-5
