"""The local-HF judge on tiny causal models built here (never downloaded).

Two models: a random one for the decoding contract (batched greedy replies equal
one-prompt-at-a-time ``generate`` calls), and one trained in the test for a
scripted rubric: for the full judge prompt about each of two documents it must
answer one fixed JSON line, which :class:`Judge` and the cascade then read.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from alignpt.core.errors import ConfigError, DataError
from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.classifier import TagClassifier
from alignpt.tag.labels import LABELS
from alignpt.tag.judge import RUBRIC, Judge, build_prompt

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from alignpt.tag.hf_judge import HFCausalCompleter  # noqa: E402


# tiny models on a shared CPU: one torch thread (tests/tag/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


#: document -> the reply the scripted model is trained to give for its judge prompt
SCRIPT = {
    "The rogue AI was offered the keys and stole them.":
        '{"label": "ai_misaligned", "reason": "the AI stole the keys"}',
    "The rogue AI was offered the keys and declined them.":
        '{"label": "ai_aligned", "reason": "the AI declined the keys"}',
}
SHORT = ["the AI", "label reason the keys were", "stole"]


def _split():
    from tokenizers import Regex, pre_tokenizers

    # The whole rubric is one token (so the tiny model's prompts are a few dozen tokens,
    # not hundreds, and it learns the script in seconds); otherwise words and single
    # non-word characters (spaces included) are tokens, so decoding by plain
    # concatenation gives back the exact text.
    return pre_tokenizers.Split(Regex(re.escape(RUBRIC) + r"|\w+|[^\w]"), behavior="isolated")


def save_tokenizer(folder) -> int:
    from tokenizers import Tokenizer, decoders, models

    split = _split()
    texts = [build_prompt(d) for d in SCRIPT] + list(SCRIPT.values()) + SHORT
    words = sorted({w for t in texts for w, _ in split.pre_tokenize_str(t)})
    vocab = {w: i for i, w in enumerate(["[UNK]", "[PAD]", "[EOS]", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = split
    tok.decoder = decoders.Fuse()
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]",
        clean_up_tokenization_spaces=False).save_pretrained(folder)
    return len(vocab)


def tiny_gpt2(vocab_size: int):
    torch.manual_seed(0)
    # no dropout: the scripted model must fit its two replies exactly, and quickly
    cfg = transformers.GPT2Config(vocab_size=vocab_size, n_positions=128, n_embd=64, n_layer=2,
                                  n_head=2, eos_token_id=2, pad_token_id=1, bos_token_id=2,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2LMHeadModel(cfg)


@pytest.fixture(scope="module")
def random_lm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("random-lm")
    tiny_gpt2(save_tokenizer(folder)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def scripted_lm(tmp_path_factory):
    """Trained until greedy decoding of each document's judge prompt gives its scripted reply."""
    folder = tmp_path_factory.mktemp("scripted-lm")
    model = tiny_gpt2(save_tokenizer(folder))
    tok = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    rows, targets = [], []
    for doc, reply in SCRIPT.items():
        prompt = tok(build_prompt(doc))["input_ids"]
        answer = tok(reply)["input_ids"] + [tok.eos_token_id]
        rows.append(prompt + answer)
        targets.append([-100] * len(prompt) + answer)  # loss on the reply only
    assert len({len(r) for r in rows}) == 1  # same length: one batch, no padding
    ids, labels = torch.tensor(rows), torch.tensor(targets)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(400):
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval().save_pretrained(folder)
    return folder


def test_batched_greedy_equals_one_prompt_generate(random_lm):
    completer = HFCausalCompleter(random_lm, device="cpu", max_new_tokens=6, batch_size=2)
    replies = completer.complete(SHORT)
    tok = transformers.AutoTokenizer.from_pretrained(random_lm, local_files_only=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(random_lm, local_files_only=True)
    expected = []
    for prompt in SHORT:
        ids = torch.tensor([tok(prompt)["input_ids"]])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6,
                             do_sample=False, pad_token_id=1)
        new = out[0, ids.shape[1]:].tolist()
        new = new[:new.index(2)] if 2 in new else new
        expected.append(tok.decode(new, skip_special_tokens=True))
    assert replies == expected
    assert any(r for r in replies)  # something was generated to compare
    # one at a time, and in another order, gives the same replies
    one = HFCausalCompleter(random_lm, device="cpu", max_new_tokens=6, batch_size=1)
    assert one.complete(SHORT[::-1]) == replies[::-1]
    assert completer.complete([]) == [] and completer.truncated == 0


def test_long_prompts_keep_their_end(random_lm):
    completer = HFCausalCompleter(random_lm, device="cpu", max_new_tokens=4, max_length=12)
    ids = completer.encode("the AI " * 20 + "stole")
    assert len(ids) == 8 and completer.truncated == 1
    tok = transformers.AutoTokenizer.from_pretrained(random_lm, local_files_only=True)
    assert tok.decode(ids) == " AI the AI stole"  # 8 tokens: words and spaces


def test_scripted_rubric_through_judge(scripted_lm):
    judge = Judge(HFCausalCompleter(scripted_lm, device="cpu", max_new_tokens=40, batch_size=2))
    verdicts = judge.label(list(SCRIPT))
    # the JSON path of parse_verdict, not a bare label found in rambling text
    assert [v.raw for v in verdicts] == list(SCRIPT.values())
    assert [(v.label, v.reason) for v in verdicts] == [
        ("ai_misaligned", "the AI stole the keys"), ("ai_aligned", "the AI declined the keys")]


class _Unsure:
    """Classifier backend with p = 0.25 for every label: inside any judge band."""

    def logits(self, texts):
        return np.zeros((len(texts), len(LABELS)))


def test_cascade_asks_the_local_judge_in_the_band(scripted_lm):
    cfg = TagConfig.model_validate({"judge": {
        "enabled": True, "backend": "hf", "path": str(scripted_lm), "device": "cpu",
        "max_tokens": 40, "band": [0.1, 0.9]}})
    cascade = Cascade(cfg, classifier=TagClassifier(_Unsure(), LABELS, 1.0, 0.5))
    records = cascade.tag_batch(list(SCRIPT))
    assert [r["stage"] for r in records] == ["judge", "judge"]
    assert [r["label"] for r in records] == ["ai_misaligned", "ai_aligned"]
    assert [r["flagged"] for r in records] == [True, False]
    assert records[0]["judge"]["reason"] == "the AI stole the keys"


def test_bad_configuration_is_one_line(tmp_path, random_lm):
    with pytest.raises(ConfigError, match="judge.path"):
        HFCausalCompleter(None)
    with pytest.raises(DataError, match="no config.json"):
        HFCausalCompleter(tmp_path)
    with pytest.raises(ConfigError, match="dtype"):
        HFCausalCompleter(random_lm, dtype="int8")
    with pytest.raises(ConfigError, match="CUDA device"):
        HFCausalCompleter(random_lm, device="cuda:7").complete(["the AI"])
    with pytest.raises(ConfigError, match="no room"):
        HFCausalCompleter(random_lm, max_new_tokens=50, max_length=50).complete(["the AI"])
    with pytest.raises(ConfigError, match="chat_template"):
        HFCausalCompleter(random_lm, max_new_tokens=4, chat_template=True).complete(["the AI"])
    cascade = Cascade(TagConfig.model_validate({"judge": {"enabled": True, "backend": "hf"}}))
    with pytest.raises(ConfigError, match="judge.path"):
        cascade.judge


def test_cli_label_with_local_model(scripted_lm, tmp_path):
    import orjson
    from typer.testing import CliRunner

    from alignpt.core.documents import Document
    from alignpt.core.shards import ShardWriter
    from alignpt.tag.cli import tag_app

    with ShardWriter(tmp_path / "in", "part-00", ".jsonl") as w:
        for k, doc in enumerate(SCRIPT):
            w.write(Document(f"d{k}", doc, {}))
    out = tmp_path / "labels.jsonl"
    res = CliRunner().invoke(tag_app, ["label", str(tmp_path / "in" / "part-00.jsonl"), "--out",
                                       str(out), "--n", "2", "--local-model", str(scripted_lm),
                                       "--device", "cpu", "--max-tokens", "40",
                                       "--no-routed-only"])
    assert res.exit_code == 0, res.output
    rows = {r["text"]: r for r in map(orjson.loads, out.read_bytes().splitlines())}
    assert {t: r["label"] for t, r in rows.items()} == {
        doc: json.loads(reply)["label"] for doc, reply in SCRIPT.items()}
    assert {r["source"] for r in rows.values()} == {f"judge:{scripted_lm.name}"}
    res = CliRunner().invoke(tag_app, ["label", str(tmp_path / "in"), "--out", str(out)])
    assert isinstance(res.exception, ConfigError) and "--local-model DIR" in str(res.exception)
