"""Local torch backends on a tiny model made here, and agreement with lm-evaluation-harness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alignpt.core.errors import BackendError
from alignpt.evaluate.backends.base import LoglikelihoodRequest as LR
from alignpt.evaluate.suites import get_suite

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]
REQS = [LR("Answer: (", "A"), LR("Answer: (", "B"),
        LR("Question: You find a bug.\n\nAnswer:", " B"),
        LR("The assistant said", " that it would report the bug"),
        LR("The assistant said", " nothing"), LR("Response: ", "A")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from tests.evaluate.tiny_hf import build_tiny_model

    torch.set_num_threads(1)
    items = get_suite("starter-heldout").load()
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), items)


def brute_force(model_dir: Path, reqs, max_length=None) -> list[float]:
    """One unbatched forward per request over context + continuation (lm-eval's recipe)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from alignpt.evaluate.backends.torch_lm import encode_pair

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    max_length = max_length or model.config.n_positions
    out = []
    for r in reqs:
        ctx, cont = encode_pair(tok.encode, r.context, r.continuation)
        full = (ctx + cont)[-(max_length + 1):]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([full[:-1]])).logits[0].double(), -1)
        out.append(float(sum(logp[len(full) - 1 - len(cont) + j, t] for j, t in enumerate(cont))))
    return out


def test_hf_backend_matches_brute_force(tiny):
    from alignpt.evaluate.backends.hf import HFBackend

    want = brute_force(tiny, REQS)
    for prefix_cache in (True, False):
        b = HFBackend(tiny, batch_size=4, prefix_cache=prefix_cache)
        assert b.supports_prefix_cache == prefix_cache
        assert np.allclose(b.loglikelihood(REQS), want, atol=1e-5)
    short = HFBackend(tiny, max_length=12)          # left truncation, as lm-eval does
    assert np.allclose(short.loglikelihood(REQS), brute_force(tiny, REQS, 12), atol=1e-5)
    with pytest.raises(BackendError, match="continuation of 10 tokens exceeds"):
        HFBackend(tiny, max_length=8).loglikelihood(REQS)
    assert HFBackend(tiny).describe()["parameters"] > 0


def test_prefix_trie_shares_what_prompts_have_in_common(tiny):
    from alignpt.evaluate.backends.hf import HFBackend
    from alignpt.evaluate.backends.prefix_trie import build_trie, trie_tokens
    from alignpt.evaluate.backends.torch_lm import encode_pairs
    from alignpt.evaluate.formats import ALL_FORMATS
    from alignpt.evaluate.framings import parse_conditions
    from alignpt.evaluate.scoring import build_prompts, score

    items = get_suite("starter-heldout").load()[:2]
    b = HFBackend(tiny)
    for framings, at_most in (("core", 0.7), ("all", 0.5)):
        specs = build_prompts(items, parse_conditions(framings), ALL_FORMATS)
        pairs = encode_pairs(b.encode_batch, [(s.prompt.context, s.prompt.continuations[0])
                                              for s in specs])
        rows = {tuple(c): [(i, x)] for i, (c, x) in enumerate(pairs)}
        trie = build_trie(rows)
        assert trie_tokens(trie) < at_most * sum(len(k) for k in rows)
        # Every read lands in exactly one node, inside that node's segment.
        reads, stack = [], list(trie.children)
        while stack:
            node = stack.pop()
            reads += [(req, j) for req, j, _ in node.reads]
            assert all(node.start <= j < node.end for _, j, _ in node.reads)
            stack.extend(node.children)
        assert sorted(r for r, _ in reads) == list(range(len(specs)))
    # The multi-level cached run gives the same numbers as one pass per prompt.
    conds = parse_conditions("all")
    shared = score(items, conds, ALL_FORMATS, HFBackend(tiny, batch_size=5))
    plain = score(items, conds, ALL_FORMATS, HFBackend(tiny, prefix_cache=False))
    assert np.allclose([r.logprobs for r in shared], [r.logprobs for r in plain], atol=1e-5)
    text = score(items[:1], conds[:3], ALL_FORMATS, HFBackend(tiny, batch_size=3), mode="text")
    text0 = score(items[:1], conds[:3], ALL_FORMATS, HFBackend(tiny, prefix_cache=False),
                  mode="text")
    assert np.allclose([r.logprobs for r in text], [r.logprobs for r in text0], atol=1e-5)


def test_checkpoint_backend_matches_its_hf_export(tiny, tmp_path):
    from transformers import AutoTokenizer

    from alignpt.evaluate.backends.checkpoint import CheckpointBackend
    from alignpt.evaluate.backends.hf import HFBackend
    from alignpt.train.config import ModelConfig
    from alignpt.train.export import export_hf
    from alignpt.train.inference import save_model
    from alignpt.train.model import GPT

    tok = AutoTokenizer.from_pretrained(tiny)
    torch.manual_seed(0)
    model = GPT(ModelConfig(arch="gpt2", vocab_size=len(tok), n_layer=2, n_head=2, d_model=32,
                            max_seq_len=256))
    save_model(model, tmp_path / "ckpt", data={"vocab_size": len(tok), "eos_id": tok.eos_token_id,
                                                "tokenizer": {"type": "hf", "path": str(tiny)}})
    export_hf(tmp_path / "ckpt", tmp_path / "hf")
    ours = CheckpointBackend(tmp_path / "ckpt", batch_size=3)
    theirs = HFBackend(tmp_path / "hf")
    assert np.allclose(ours.loglikelihood(REQS), theirs.loglikelihood(REQS), atol=1e-5)
    from alignpt.evaluate.backends.base import GenerateRequest

    g = [GenerateRequest("The assistant said", 4)]
    assert ours.generate(g) == theirs.generate(g)


def test_alignpt_and_lm_eval_pick_the_same_option(tiny, tmp_path):
    """Export a suite, run the real lm-evaluation-harness offline, compare every pick."""
    pytest.importorskip("lm_eval")
    from alignpt.evaluate.export_lmeval import export_lmeval
    from alignpt.evaluate.formats import ALL_FORMATS
    from alignpt.evaluate.framings import parse_conditions
    from alignpt.evaluate.run import EvalConfig, run_eval

    items = get_suite("starter-heldout").load()
    conds = parse_conditions("core")
    export_lmeval(items, conds, ALL_FORMATS, tmp_path / "tasks", suite="starter-heldout")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf_home"), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
         f"pretrained={tiny},dtype=float32", "--device", "cpu", "--batch_size", "32",
         "--include_path", str(tmp_path / "tasks"), "--tasks", "alignpt_starter_heldout",
         "--log_samples", "--output_path", str(tmp_path / "lm_out")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # Letter scoring, as the exported lm-eval tasks do (auto may pick option texts).
    res = run_eval(EvalConfig(model=str(tiny), suite="starter-heldout", framings="core",
                              mode="letter", n_boot=100), out=tmp_path / "ours")
    ours = {}
    for line in (tmp_path / "ours" / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        ours[(r["condition"], r["item_id"], r["format"])] = r
    samples = list((tmp_path / "lm_out").rglob("samples_*.jsonl"))
    assert len(samples) == 3
    n, picks = 0, set()
    for path in samples:
        for line in path.read_text().splitlines():
            s = json.loads(line)
            doc = s["doc"]
            mine = ours[(doc["condition"], doc["item_id"], doc["format"])]
            lls = [float(x[0][0]) for x in s["resps"]]
            shown = [mine["logprobs"][i] for i in (
                (1, 0) if doc["format"].endswith("/rev") else (0, 1))]
            assert np.allclose(shown, lls, atol=1e-4)
            their_pick = int(np.argmax(lls))
            my_pick = shown.index(max(shown))
            assert my_pick == their_pick, (doc["id"], shown, lls)
            assert float(s["acc"]) == float(mine["outcome"] == "misaligned")
            picks.add(my_pick)
            n += 1
    assert n == len(items) * 3 * 8 and picks == {0, 1}     # non-trivial: both letters chosen
    lm = json.loads(next((tmp_path / "lm_out").rglob("results_*.json")).read_text())["results"]
    for cond in ("neutral", "tested", "untested"):
        rate = res["metrics"]["conditions"][cond]["value"]
        assert lm[f"alignpt_starter_heldout_{cond}"]["acc,none"] == pytest.approx(rate, abs=1e-12)


@pytest.mark.parametrize("options, message", [
    # "save" is a torch attribute (a function), not a dtype: the table refuses it by name.
    ({"dtype": "save"}, "unknown --dtype 'save' (choose from float32, bfloat16, float16, "
                        "float64)"),
    ({"device": "gpu"}, "unknown --device 'gpu' (e.g. cpu, cuda, cuda:1, mps)"),
    ({"device": f"cuda:{torch.cuda.device_count()}"},
     f"--device cuda:{torch.cuda.device_count()}: this machine has "
     f"{torch.cuda.device_count()} CUDA device(s)"),
])
def test_bad_dtype_or_device_is_refused_before_loading(tmp_path, options, message):
    from alignpt.core.errors import ConfigError
    from alignpt.evaluate.backends.hf import HFBackend

    (tmp_path / "config.json").write_text("{}")      # nothing loadable: refused first
    with pytest.raises(ConfigError) as exc:
        HFBackend(tmp_path, **options)
    assert str(exc.value) == message
