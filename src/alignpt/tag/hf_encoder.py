"""Classifier backend: fine-tune a local Hugging Face encoder as a sequence classifier.

For users who have an encoder folder (ModernBERT, BERT, DeBERTa class) on
disk: ``alignpt tag train --backend hf --base-model DIR`` fine-tunes it on
the labelled set, one output per label, and the cascade then runs it on the
routed documents in batches, on CPU or GPU. Nothing is downloaded: the model
and tokenizer load with ``local_files_only``.

:class:`HFEncoder` satisfies :class:`alignpt.tag.backends.Backend`, so
calibration (temperature scaling on out-of-fold logits), the recall-tuned
threshold and the metadata are those of every other backend
(:func:`alignpt.tag.training.train_classifier`). A saved classifier folder
holds ``model.json`` (written by :class:`~alignpt.tag.classifier.TagClassifier`),
and ``encoder/``: the fine-tuned model and tokenizer in Hugging Face's format
plus ``alignpt-encoder.json`` (what it was fine-tuned from and with what).

Training is seeded and runs inside :func:`torch.random.fork_rng`, so the
caller's random state is left as it was and the same data, parameters and
seed give the same weights on the same device.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Sequence

import numpy as np

from alignpt.core.atomic import temp_name
from alignpt.core.devices import check_device
from alignpt.core.errors import ConfigError, DataError, require
from alignpt.tag.labels import LABELS
from alignpt.tag.packaged_models import PACKAGED, packaged_folder

__all__ = ["HFEncoder", "resolve_device", "quiet_transformers", "hf_folder"]

ENCODER_DIR = "encoder"
META_FILE = "alignpt-encoder.json"


def resolve_device(torch: Any, device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else is checked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    check_device(torch, device)
    return device


@contextlib.contextmanager
def quiet_transformers(transformers: Any) -> Iterator[None]:
    """Silence transformers' load-time advice (e.g. "newly initialized" classifier heads,
    which is the point of fine-tuning) and its per-load progress bars, restoring the
    caller's settings afterwards."""
    log = transformers.utils.logging
    before, bars = log.get_verbosity(), log.is_progress_bar_enabled()
    log.set_verbosity_error()
    log.disable_progress_bar()
    try:
        yield
    finally:
        log.set_verbosity(before)
        if bars:
            log.enable_progress_bar()


def hf_folder(path: str | Path | None, what: str) -> Path:
    """A local Hugging Face model folder, or a one-line error saying what is wrong.

    A name of :data:`~alignpt.tag.packaged_models.PACKAGED` (``minilm-l6``) that is
    not a folder here means that installed, checksummed package's model.
    """
    if path is None or str(path) == "":
        raise ConfigError(f"{what} needs a local Hugging Face model folder")
    folder = Path(path)
    if str(path) in PACKAGED and not folder.exists():
        return packaged_folder(str(path))
    if not (folder / "config.json").is_file():
        raise DataError("not a Hugging Face model folder (no config.json)", str(folder))
    return folder


def _as_str(text: str | bytes) -> str:
    # the cascade hands the classifier UTF-8 bytes (excerpts cut on character edges)
    return text.decode("utf-8", "ignore") if isinstance(text, bytes) else text


class HFEncoder:
    """A fine-tuned ``AutoModelForSequenceClassification`` and its tokenizer."""

    kind = "hf"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "base_model": None,     # local folder to fine-tune from (required to train)
        "epochs": 3,
        "lr": 5e-5,
        "batch_size": 16,
        "max_length": 512,      # tokens per document; capped by the model's positions
        "weight_decay": 0.01,
        "warmup": 0.1,          # fraction of the steps with a linearly rising rate
        "device": "auto",       # auto | cpu | cuda | cuda:N | mps
        # batches drawn from pools of this many batches sorted by length, so a batch pads
        # to similar lengths (0: plain shuffled batches)
        "length_pools": 50,
    }

    def __init__(self, params: dict[str, Any], model: Any, tokenizer: Any, device: str,
                 base_model: str | None = None):
        self.params = params
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.base_model = base_model
        self.max_length = _max_length(model, tokenizer, int(params.get("max_length", 512)))

    # -- training ------------------------------------------------------------------
    @classmethod
    def fit(cls, texts: Sequence[str | bytes], y: np.ndarray, n_labels: int,
            params: dict[str, Any], seed: int,
            progress: Callable[[int, int], None] | None = None) -> "HFEncoder":
        torch = require("torch", "train", "the hf classifier backend")
        transformers = require("transformers", "train", "the hf classifier backend")
        params = {**cls.DEFAULTS, **params}
        base = hf_folder(params["base_model"], "the hf classifier backend (--base-model DIR)")
        if int(params["epochs"]) < 1 or int(params["batch_size"]) < 1:
            raise ConfigError("hf backend: epochs and batch_size must be at least 1")
        device = resolve_device(torch, str(params["device"]))
        y = np.asarray(y, dtype=np.int64)
        with torch.random.fork_rng(devices=_cuda_devices(torch, device)):
            torch.manual_seed(seed)
            tokenizer = _load_tokenizer(transformers, base)
            with quiet_transformers(transformers):
                model = transformers.AutoModelForSequenceClassification.from_pretrained(
                    base, num_labels=n_labels, local_files_only=True, dtype=torch.float32,
                    **_label_names(n_labels))
            if model.config.pad_token_id is None:
                model.config.pad_token_id = tokenizer.pad_token_id
            enc = cls(params, model.to(device), tokenizer, device, str(base))
            enc._train([_as_str(t) for t in texts], y, n_labels, seed, progress)
        return enc

    def _train(self, texts: list[str], y: np.ndarray, n_labels: int, seed: int,
               progress: Callable[[int, int], None] | None) -> None:
        torch = require("torch", "train")
        p = self.params
        batch, epochs = int(p["batch_size"]), int(p["epochs"])
        # class-balanced loss, as the linear backend's class_weight="balanced"
        counts = np.bincount(y, minlength=n_labels).astype(np.float64)
        weight = np.where(counts > 0, len(y) / (n_labels * np.maximum(counts, 1)), 0.0)
        loss_fn = torch.nn.CrossEntropyLoss(
            weight=torch.as_tensor(weight, dtype=torch.float32, device=self.device))
        decay = [q for n, q in self.model.named_parameters() if q.ndim >= 2]
        no_decay = [q for n, q in self.model.named_parameters() if q.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": float(p["weight_decay"])},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=float(p["lr"]))
        steps = epochs * -(-len(texts) // batch)
        warm = int(float(p["warmup"]) * steps)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / (warm + 1) if s < warm else
            max(0.0, (steps - s) / max(1, steps - warm)))
        order_rng = torch.Generator().manual_seed(seed)
        labels = torch.as_tensor(y, dtype=torch.long)
        self.model.train()
        done = 0
        for _ in range(epochs):
            for idx in _batches(texts, batch, int(p["length_pools"]), order_rng):
                inputs = self._encode([texts[i] for i in idx])
                logits = self.model(**inputs).logits
                loss = loss_fn(logits.float(), labels[idx].to(self.device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                opt.step()
                sched.step()
                done += 1
                if progress is not None:
                    progress(done, steps)
        self.model.eval()

    # -- inference ------------------------------------------------------------------
    def _encode(self, texts: list[str]) -> dict[str, Any]:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return {k: v.to(self.device) for k, v in enc.items()}

    def logits(self, texts: Sequence[str | bytes]) -> np.ndarray:
        """Raw logits, shape ``(len(texts), n_labels)``, float64, in batches of ``batch_size``.

        Texts are batched in order of length, so a batch pads to similar
        lengths (a short document does not pay for a long one's padding).
        """
        torch = require("torch", "train", "the hf classifier backend")
        n_labels = int(self.model.config.num_labels)
        if len(texts) == 0:
            return np.zeros((0, n_labels))
        strs = [_as_str(t) for t in texts]
        order = sorted(range(len(strs)), key=lambda i: len(strs[i]))
        out = np.zeros((len(strs), n_labels))
        batch = int(self.params.get("batch_size", 16))
        with torch.inference_mode():
            for lo in range(0, len(order), batch):
                idx = order[lo:lo + batch]
                logits = self.model(**self._encode([strs[i] for i in idx])).logits
                out[idx] = logits.float().cpu().numpy().astype(np.float64)
        return out

    # -- persistence ----------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write ``folder/encoder/`` whole or not at all (a new folder renamed into place)."""
        folder = Path(folder)
        final = folder / ENCODER_DIR
        tmp = temp_name(final)   # a folder: renamed into place whole below
        shutil.rmtree(tmp, ignore_errors=True)
        transformers = require("transformers", "train", "the hf classifier backend")
        with quiet_transformers(transformers):
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
        meta = {"format": "alignpt-hf-encoder", "format_version": 1,
                "base_model": self.base_model, "max_length": self.max_length,
                "num_labels": int(self.model.config.num_labels), **self.versions()}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        old = folder / f".{ENCODER_DIR}.old-{os.getpid()}"
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> "HFEncoder":
        torch = require("torch", "train", "the hf classifier backend")
        transformers = require("transformers", "train", "the hf classifier backend")
        params = {**cls.DEFAULTS, **params}
        path = Path(folder) / ENCODER_DIR
        if not (path / "config.json").is_file():
            raise ConfigError(f"{folder}: {ENCODER_DIR}/ missing (not an hf classifier folder)")
        device = resolve_device(torch, str(params["device"]))
        tokenizer = _load_tokenizer(transformers, path)
        with quiet_transformers(transformers):
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                path, local_files_only=True, dtype=torch.float32)
        base = None
        if (path / META_FILE).is_file():
            base = json.loads((path / META_FILE).read_text(encoding="utf-8")).get("base_model")
        return cls(params, model.to(device).eval(), tokenizer, device, base)

    def versions(self) -> dict[str, str]:
        import torch
        import transformers

        return {"transformers": transformers.__version__, "torch": torch.__version__,
                "model_type": str(getattr(self.model.config, "model_type", "unknown"))}


def _batches(texts: list[str], batch: int, pools: int, rng: Any) -> list[list[int]]:
    """One epoch's batches of indices: shuffled, and (``pools`` > 0) grouped by length.

    A batch pads to its longest document, and an encoder's cost grows with the
    padded length: on the shipped training data (dev documents of ~70 tokens,
    generated ones of ~430) plain shuffling pads most batches to 512 tokens, about
    three times the tokens the documents hold. Each pool of ``pools`` batches is
    sorted by length (characters) and cut into batches, and the batches are
    shuffled, so the order stays random while padding nearly vanishes.
    """
    import torch

    order = torch.randperm(len(texts), generator=rng).tolist()
    if pools <= 0:
        return [order[lo:lo + batch] for lo in range(0, len(order), batch)]
    out: list[list[int]] = []
    size = pools * batch
    for lo in range(0, len(order), size):
        pool = sorted(order[lo:lo + size], key=lambda i: len(texts[i]))
        out.extend(pool[k:k + batch] for k in range(0, len(pool), batch))
    return [out[i] for i in torch.randperm(len(out), generator=rng).tolist()]


def _cuda_devices(torch: Any, device: str) -> list[int]:
    # fork_rng saves and restores the generator of each CUDA device it is given
    if not device.startswith("cuda"):
        return []
    return [torch.device(device).index or 0]


def _label_names(n_labels: int) -> dict[str, Any]:
    """``id2label``/``label2id`` with the tagger's names, so the saved config.json reads
    ``ai_misaligned`` rather than ``LABEL_3``."""
    if n_labels != len(LABELS):
        return {}
    return {"id2label": dict(enumerate(LABELS)), "label2id": {k: i for i, k in enumerate(LABELS)}}


def _load_tokenizer(transformers: Any, path: Path) -> Any:
    tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tok.pad_token is None:
        # batching needs a pad token; an encoder without one usually has a separator
        fallback = tok.sep_token or tok.eos_token
        if fallback is None:
            raise DataError("tokenizer has no pad, sep or eos token to pad batches with",
                            str(path))
        tok.pad_token = fallback
    return tok


def _max_length(model: Any, tokenizer: Any, wanted: int) -> int:
    """``wanted``, capped by the model's position table and the tokenizer's limit."""
    limits = [wanted]
    pos = getattr(model.config, "max_position_embeddings", None)
    if isinstance(pos, int) and pos > 0:
        limits.append(pos)
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 10 ** 20:
        limits.append(tok_limit)
    return max(1, min(limits))
