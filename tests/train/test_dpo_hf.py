"""dpo on a model imported from a Hugging Face folder, with text pairs tokenized by its tokenizer;
and (when ``trl`` is installed) the loss against TRL's DPOTrainer on the same model and pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from alignpt.train.config import PreferenceConfig, TrainPlan
from alignpt.train.dpo import dpo_losses, sequence_logps
from alignpt.train.metrics import read_metrics
from alignpt.train.preferences import read_pairs
from alignpt.train.trainer import train
from tests.train.test_dpo_helpers import EOT, TEXT_PAIRS, build_tiny_hf

transformers = pytest.importorskip("transformers")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _hf_logp(model, ids: list[int], n_prompt: int) -> float:
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits.double()
    lp = torch.log_softmax(logits[0, :-1], dim=-1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return float(lp[n_prompt - 1:].sum())


def test_init_from_a_hf_folder_with_text_pairs(tmp_path):
    hf = build_tiny_hf(tmp_path / "hf")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in TEXT_PAIRS))
    plan = TrainPlan.model_validate({
        "init_from": str(hf), "seq_len": 32, "batch_size": 2, "runtime": {"threads": 1},
        "log": {"progress": False, "plot": False},
        "phases": [{"name": "dpo", "kind": "dpo", "epochs": 2, "schedule": {"kind": "constant", "peak_lr": 1e-2},
                    "preferences": {"paths": [str(pairs)], "pairs_per_step": 2, "beta": 0.5}}]})
    res = train(plan, tmp_path / "run", progress=False)
    assert res.complete and res.steps == 4                     # ceil(4 pairs x 2 epochs / 2)

    tok = transformers.AutoTokenizer.from_pretrained(hf)
    model = transformers.AutoModelForCausalLM.from_pretrained(hf).eval()
    eos = tok.convert_tokens_to_ids(EOT)
    ref = np.load(tmp_path / "run/dpo/dpo/reference.npy")
    for i, p in enumerate(TEXT_PAIRS):
        x = tok(p["prompt"], add_special_tokens=False)["input_ids"]
        for j, key in enumerate(("chosen", "rejected")):
            y = tok(p[key], add_special_tokens=False)["input_ids"] + [eos]   # EOS closes each completion
            assert ref[i, j] == pytest.approx(_hf_logp(model, x + y, len(x)), abs=1e-4)
    steps = read_metrics(tmp_path / "run")
    assert [r["pairs"] for r in steps] == [2, 4, 6, 8] and steps[0]["loss"] == pytest.approx(np.log(2), abs=1e-6)
    assert steps[-1]["reward_accuracy"] >= 0.5 and steps[-1]["loss"] < np.log(2)  # it learned the preferences


def test_loss_equals_trls_dpo_trainer(tmp_path):
    """TRL's sigmoid loss (the DPO paper's) on the same model, reference and pairs."""
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from alignpt.train.hf_weights import import_hf

    hf = build_tiny_hf(tmp_path / "hf")
    tok = transformers.AutoTokenizer.from_pretrained(hf)
    model = transformers.AutoModelForCausalLM.from_pretrained(hf)
    args = DPOConfig(output_dir=str(tmp_path / "trl"), report_to="none", per_device_train_batch_size=4,
                     beta=0.3, max_length=None, use_cpu=True, bf16=False)
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(TEXT_PAIRS),
                         processing_class=tok)
    torch.manual_seed(1)
    with torch.no_grad():   # move the policy off the reference, so the loss is not log 2
        for p in trainer.model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(trainer.model, batch))
    trainer.model.save_pretrained(tmp_path / "policy")
    tok.save_pretrained(tmp_path / "policy")

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in TEXT_PAIRS))
    ps = read_pairs(PreferenceConfig(paths=[str(pairs)]), vocab_size=tok.vocab_size + 1,
                    tokenizer={"path": str(hf)})
    for i, p in enumerate(TEXT_PAIRS):   # the same token ids TRL trains on
        row = trainer.train_dataset[i]
        assert row["prompt_ids"] == ps.prompt[i].tolist()
        assert row["chosen_ids"] == ps.chosen[i].tolist() and row["rejected_ids"] == ps.rejected[i].tolist()
    policy, _ = import_hf(tmp_path / "policy")
    ref, _ = import_hf(hf)
    n = len(ps)
    with torch.no_grad():
        lp = sequence_logps(policy, ps.prompt * 2, ps.chosen + ps.rejected, torch.device("cpu"))
        lr = sequence_logps(ref, ps.prompt * 2, ps.chosen + ps.rejected, torch.device("cpu"))
    ours, _, _ = dpo_losses(lp[:n], lp[n:], lr[:n], lr[n:], "sigmoid", 0.3)
    assert abs(trl_loss - np.log(2)) > 1e-3
    assert float(ours.mean()) == pytest.approx(trl_loss, abs=1e-5)
