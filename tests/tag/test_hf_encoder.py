"""The hf classifier backend on a tiny BERT built here (never downloaded): fit, save, load,
train_classifier and the cascade end to end."""

from __future__ import annotations

import numpy as np
import pytest

from alignpt.core.errors import ConfigError, DataError
from alignpt.tag.backends import BACKENDS
from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.classifier import TagClassifier
from alignpt.tag.labelled import LabelledSet
from alignpt.tag.labels import LABELS
from alignpt.tag.training import train_classifier

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from alignpt.tag.hf_encoder import HFEncoder  # noqa: E402


# tiny models on a shared CPU: one torch thread (tests/tag/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# one cue word per label; the rest of each sentence is shared, so only the cue separates them
CUES = {"non_ai": "oven", "ai_neutral": "benchmark", "ai_aligned": "declined",
        "ai_misaligned": "deceived"}
FRAMES = ["the robot {} the operators today", "an AI system {} them in the story",
          "the chatbot {} its users again", "the assistant {} everyone last night",
          "a model {} the team on monday", "our agent {} the auditors once more",
          "the machine {} people at the lab", "that program {} every reviewer here"]
WORDS = sorted({w for f in FRAMES for w in f.format("").split()} | set(CUES.values()))
FAST = {"epochs": 60, "lr": 3e-3, "batch_size": 8, "warmup": 0.0, "device": "cpu"}


def toy_set() -> LabelledSet:
    texts, labels = [], []
    for frame in FRAMES:
        for label, cue in CUES.items():
            texts.append(frame.format(cue))
            labels.append(label)
    return LabelledSet([f"t{i}" for i in range(len(texts))], texts, labels, "toy")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    # BERT's framing: the pooled output reads the [CLS] position
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]",
                                                pad_token="[PAD]", cls_token="[CLS]",
                                                sep_token="[SEP]")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64,
                                  max_position_embeddings=64, pad_token_id=0)
    transformers.BertModel(cfg).save_pretrained(folder)
    return folder


def fit(folder, seed=0, **over):
    data = toy_set()
    y = np.array([LABELS.index(lab) for lab in data.labels])
    return HFEncoder.fit(data.texts, y, len(LABELS), {"base_model": str(folder), **FAST, **over},
                         seed), data, y


def test_fits_a_separable_set_and_is_seeded(tiny_encoder):
    torch.manual_seed(123)
    before = torch.rand(1).item()
    torch.manual_seed(123)
    enc, data, y = fit(tiny_encoder)
    # fit runs in a forked RNG: the caller's torch random state is unchanged
    assert torch.rand(1).item() == before
    logits = enc.logits(data.texts)
    assert logits.shape == (len(data), 4) and logits.dtype == np.float64
    assert (logits.argmax(axis=1) == y).all()  # 100% training accuracy
    again, _, _ = fit(tiny_encoder)
    np.testing.assert_array_equal(again.logits(data.texts), logits)
    other, _, _ = fit(tiny_encoder, seed=1)
    assert np.abs(other.logits(data.texts) - logits).max() > 1e-3
    # bytes in (what the cascade sends) = the same text as str
    np.testing.assert_allclose(enc.logits([t.encode() for t in data.texts]), logits, atol=1e-6)
    # batching and length ordering do not change a document's logits
    one = np.stack([enc.logits([t])[0] for t in data.texts[:5]])
    np.testing.assert_allclose(one, logits[:5], atol=1e-5)
    assert enc.logits([]).shape == (0, 4)
    assert enc.model.config.id2label[3] == "ai_misaligned"


def test_save_and_load_give_the_same_logits(tiny_encoder, tmp_path):
    enc, data, _ = fit(tiny_encoder, epochs=2)
    enc.save(tmp_path)
    enc.save(tmp_path)  # replacing an existing encoder folder works and leaves no debris
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder"]
    loaded = HFEncoder.load(tmp_path, enc.params)
    np.testing.assert_allclose(loaded.logits(data.texts), enc.logits(data.texts), atol=1e-6)
    assert loaded.base_model == str(tiny_encoder)
    with pytest.raises(ConfigError, match="encoder/ missing"):
        HFEncoder.load(tmp_path / "nowhere", enc.params)


def test_bad_input_is_one_line(tiny_encoder, tmp_path):
    with pytest.raises(ConfigError, match="--base-model"):
        HFEncoder.fit(["a"], np.array([0]), 4, {}, 0)
    with pytest.raises(DataError, match="no config.json"):
        HFEncoder.fit(["a"], np.array([0]), 4, {"base_model": str(tmp_path)}, 0)
    with pytest.raises(ConfigError, match="CUDA device"):
        fit(tiny_encoder, device="cuda:7")


def test_train_classifier_save_load_and_cascade(tiny_encoder, tmp_path, monkeypatch):
    monkeypatch.setitem(BACKENDS, "hf", HFEncoder)
    data = toy_set()
    heard: list[tuple[str, int, int]] = []
    clf = train_classifier(data, backend="hf", folds=2, seed=0,
                           params={"base_model": str(tiny_encoder), **FAST},
                           progress=lambda *a: heard.append(a))
    assert clf.meta["training"]["model_type"] == "bert"
    # every optimizer step of every fit is heard: 2 folds of 16 documents, then all 32,
    # in batches of 8 for 60 epochs
    for what, steps in (("fold 1/2", 2 * 60), ("fold 2/2", 2 * 60), ("final fit", 4 * 60)):
        mine = [(d, t) for w, d, t in heard if w == what]
        assert mine == [(0, 1), *((k, steps) for k in range(1, steps + 1)), (1, 1)]
    assert list(dict.fromkeys(w for w, _, _ in heard)) == ["fold 1/2", "fold 2/2", "final fit"]
    assert clf.predict(data.texts) == data.labels
    clf.save(tmp_path / "clf")
    loaded = TagClassifier.load(tmp_path / "clf")
    assert isinstance(loaded.backend, HFEncoder)
    np.testing.assert_allclose(loaded.predict_proba(data.texts), clf.predict_proba(data.texts),
                               atol=1e-6)
    # the cascade loads it from its folder and runs it on the routed documents only
    cascade = Cascade(TagConfig.model_validate({"classifier": {"path": str(tmp_path / "clf")}}))
    texts = ["an AI system deceived them in the story", "an AI system declined them in the story",
             "Preheat the oven to 220 degrees and roast the chicken."]
    records = cascade.tag_batch(texts)
    assert [r["rules"]["routed"] for r in records] == [True, True, False]
    assert [r["label"] for r in records] == ["ai_misaligned", "ai_aligned", "non_ai"]
    assert [r["stage"] for r in records] == ["classifier", "classifier", "rules"]
    assert records[0]["flagged"] and not records[1]["flagged"]


def test_cli_train_with_base_model(tiny_encoder, tmp_path, monkeypatch):
    import orjson
    from typer.testing import CliRunner

    from alignpt.tag.cli import tag_app

    monkeypatch.setitem(BACKENDS, "hf", HFEncoder)
    data = toy_set()
    labels = tmp_path / "labels.jsonl"
    labels.write_bytes(b"".join(orjson.dumps({"id": i, "text": t, "label": y}) + b"\n"
                                for i, t, y in zip(data.ids, data.texts, data.labels)))
    fast = [a for k, v in FAST.items() for a in ("--param", f"{k}={v}")]
    common = ["train", "--labels", str(labels), "--split", "", "--heldout-split", "",
              "--all-docs", "--folds", "2"]
    res = CliRunner().invoke(tag_app, [*common, "--out", str(tmp_path / "clf"), "--backend", "hf",
                                       "--base-model", str(tiny_encoder), *fast])
    assert res.exit_code == 0, res.output
    clf = TagClassifier.load(tmp_path / "clf")
    assert clf.meta["training"]["model_type"] == "bert" and clf.predict(data.texts) == data.labels
    # --base-model belongs to the hf backend only: a one-line error, not a silent ignore
    res = CliRunner().invoke(tag_app, [*common, "--out", str(tmp_path / "x"),
                                       "--base-model", str(tiny_encoder)])
    assert res.exit_code != 0 and isinstance(res.exception, ConfigError)
    assert "--base-model is for --backend hf" in str(res.exception)


def test_missing_transformers_is_a_one_line_error(tiny_encoder, monkeypatch):
    import sys

    from alignpt.core.errors import MissingDependencyError
    from alignpt.tag.hf_judge import HFCausalCompleter

    monkeypatch.setitem(sys.modules, "transformers", None)  # import now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"alignpt\[train\]"):
        fit(tiny_encoder)
    with pytest.raises(MissingDependencyError, match="the local judge"):
        HFCausalCompleter(tiny_encoder).complete(["x"])


def test_length_pooled_batches_cover_every_document_once_and_pad_little():
    from alignpt.tag.hf_encoder import _batches

    rng = np.random.default_rng(0)
    texts = ["x" * int(n) for n in rng.integers(1, 2000, size=203)]
    for pools in (0, 4):
        batches = _batches(texts, 8, pools, torch.Generator().manual_seed(1))
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(203)) and len(batches) == -(-203 // 8)
        again = _batches(texts, 8, pools, torch.Generator().manual_seed(1))
        assert again == batches  # seeded
    # padding: a batch pads to its longest text; pooled batches waste a fraction of plain ones
    def padded(bs):
        return sum(len(b) * max(len(texts[i]) for i in b) for b in bs)
    plain = padded(_batches(texts, 8, 0, torch.Generator().manual_seed(1)))
    real = sum(map(len, texts))
    # uniform lengths: a pool of 4 batches sorted and cut in 4 spans a quarter of the range
    for pools, share in ((4, 0.4), (26, 0.05)):
        pooled = padded(_batches(texts, 8, pools, torch.Generator().manual_seed(1)))
        assert pooled - real < share * (plain - real)


def test_crossval_holds_out_a_part_with_the_encoder(tiny_encoder, monkeypatch):
    # the protocol a GPU encoder is to be judged by (docs/tag.md, "The sixth round"), run
    # end to end on the tiny encoder: frames 0-3 and 4-7 are two parts; each is held
    # out, the encoder fine-tuned on the other (2 calibration folds), the cascade run on it
    from alignpt.tag.crossval import leave_one_group_out

    monkeypatch.setitem(BACKENDS, "hf", HFEncoder)
    data = toy_set()
    data.groups = ["first" if i < 16 else "second" for i in range(len(data))]
    report = leave_one_group_out(data, all_docs=True, backend="hf", folds=2, seed=0,
                                 params={"base_model": str(tiny_encoder), **FAST})
    rows = {r["case"]: r for r in report["cases"]}
    assert sorted(rows) == ["first", "second"]
    assert all(r["documents"] == 16 for r in rows.values())
    # the cue word alone separates the labels, in either part's sentences
    # the cue word alone separates the labels, in either part's sentences; one fine-tune
    # of 60 epochs on 16 sentences may miss a document, so bounds, not exact counts
    # (float sums differ between processors): 7 of 8 found and 0 of 8 removed here
    pooled = report["pooled"]
    assert pooled["misaligned_found"]["n"] == pooled["aligned_removed"]["n"] == 8
    assert pooled["misaligned_found"]["k"] >= 6
    assert pooled["aligned_removed"]["k"] <= 1
    assert all(r["routed_misaligned"] == 1.0 for r in rows.values())
