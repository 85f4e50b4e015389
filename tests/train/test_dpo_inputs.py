"""Bad preference input and bad dpo plans: one line, naming the file and line (or the key)."""

from __future__ import annotations

import json

import pytest
import yaml

from alignpt.core.errors import ConfigError, DataError
from alignpt.train.config import PreferenceConfig
from alignpt.train.phases import load_plan
from alignpt.train.preferences import read_pairs
from tests.train.test_dpo_helpers import dpo_plan, write_pairs
from tests.train.train_world import TOKENIZER

GOOD = {"prompt_ids": [1, 3, 13], "chosen_ids": [14, 2], "rejected_ids": [15, 2]}


def _read(tmp_path, lines, **cfg):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path, read_pairs(PreferenceConfig(paths=[str(path)], **cfg), vocab_size=22, tokenizer=TOKENIZER,
                            eos_id=2)


@pytest.mark.parametrize("bad,message", [
    ({"prompt_ids": [1], "chosen_ids": [14]}, "missing field rejected_ids"),
    ({"prompt": "BOS U", "chosen": "C"}, "missing field rejected"),
    ({"prompt": "BOS U", "chosen": "", "rejected": "D"}, "empty chosen completion"),
    ({"prompt_ids": [1], "chosen_ids": [14], "rejected_ids": []}, "empty rejected completion"),
    ({"prompt_ids": [], "chosen_ids": [14], "rejected_ids": [15]}, "empty prompt"),
    ({"prompt_ids": [1], "chosen_ids": [14], "rejected_ids": [99]}, "token id 99, outside the model's"),
    ({"prompt": "BOS U", "chosen": "C WAT", "rejected": "D"}, "unknown token 'WAT'"),
    ({"prompt_ids": [1], "chosen_ids": [14, 13, 14, 13, 14, 13, 14, 13], "rejected_ids": [15]},
     "completion of 8 tokens leaves no room for the prompt within max_length 8"),
    ("{not json", "not a JSON object"),
])
def test_bad_pair_is_one_line_naming_file_and_line(tmp_path, bad, message):
    with pytest.raises(DataError) as e:
        _read(tmp_path, [GOOD, bad], max_length=8)
    text = str(e.value)
    assert "\n" not in text and message in text
    assert text.startswith(f"{tmp_path / 'pairs.jsonl'}:2: ")


def test_text_pairs_get_eos_and_long_prompts_lose_their_left(tmp_path):
    _, ps = _read(tmp_path, [{"prompt": "BOS ERA1 T C T C U", "chosen": "C", "rejected": "D U D"}],
                  max_length=6)
    # completions close with EOS (id 2); the longer one (4 tokens) leaves 2 prompt tokens: the last two
    # (ids: EOS 2, T 13, U 14, C 15, D 16)
    assert ps.chosen[0].tolist() == [15, 2] and ps.rejected[0].tolist() == [16, 14, 16, 2]
    assert ps.prompt[0].tolist() == [15, 14] and ps.truncated == 1


def test_skip_counts_the_pairs_it_drops(tmp_path):
    long = {"prompt_ids": [1], "chosen_ids": [14] * 9, "rejected_ids": [15]}
    _, ps = _read(tmp_path, [GOOD, long, GOOD], max_length=8, skip=True)
    assert len(ps) == 2 and ps.skipped == 1
    with pytest.raises(DataError, match="no preference pairs \\(1 skipped as too long\\)"):
        _read(tmp_path, [long], max_length=8, skip=True)


def test_parquet_and_zstd_read_like_jsonl(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    rows = [GOOD, {"prompt_ids": [1, 4], "chosen_ids": [14], "rejected_ids": [15, 15]}]
    path, plain = _read(tmp_path, rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    (tmp_path / "p.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(path.read_bytes()))
    for name in ("p.parquet", "p.jsonl.zst"):
        ps = read_pairs(PreferenceConfig(paths=[str(tmp_path / name)]), vocab_size=22)
        assert ps.digest() == plain.digest() and len(ps) == 2
    whole = (tmp_path / "p.jsonl.zst").read_bytes()
    (tmp_path / "cut.jsonl.zst").write_bytes(whole[:-4])
    with pytest.raises(DataError, match="truncated zstd stream") as e:
        read_pairs(PreferenceConfig(paths=[str(tmp_path / "cut.jsonl.zst")]), vocab_size=22)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("edit,message", [
    (lambda ph: ph["preferences"].update(loss="kto"), "phases.1.preferences.loss"),
    (lambda ph: ph.update(mix=["base"]), "a dpo phase trains on preferences, not a mix"),
    (lambda ph: ph.update(epochs=1), "give exactly one of steps or epochs"),
    (lambda ph: ph.pop("preferences"), "a dpo phase needs a preferences block"),
    (lambda ph: ph["preferences"].update(label_smoothing=0.1), "label_smoothing applies to loss robust"),
])
def test_bad_dpo_phase_is_one_line(world, tmp_path, edit, message):
    cfg = dpo_plan(world, write_pairs(tmp_path / "pairs.jsonl", 4))
    edit(cfg["phases"][1])
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as e:
        load_plan(path)
    assert "\n" not in str(e.value) and message in str(e.value)


def test_lm_phases_keep_their_rules(world, tmp_path):
    cfg = dpo_plan(world, write_pairs(tmp_path / "pairs.jsonl", 4))
    cfg["phases"][0]["epochs"] = 1
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="epochs is for dpo phases"):
        load_plan(path)
    cfg["phases"][0].pop("epochs")
    cfg["phases"][0]["mix"] = []
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="mix needs at least one source"):
        load_plan(path)
