"""mix's output folder: apart from its inputs, one run at a time, dead runs' temporaries
cleaned; and ``tokenizer train`` refuses an empty special token."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from alignpt.mix import load_recipe, run_mix
from tests.lock_holder import dead_pid, lock_held_elsewhere
from tests.mix.conftest import recipe_dict


def _one_source_recipe(corpus: Path, tokenizer_dir: Path, folder: Path) -> Path:
    data = {"name": "small", "seed": 1, "tokenizer": {"path": str(tokenizer_dir)},
            "sources": {"aligned": {"paths": [str(corpus)], "max_repetition": 4}},
            "phases": [{"name": "pretrain", "tokens": 2000, "mix": ["aligned"]}],
            "output": {"formats": ["native"]}}
    path = folder / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("where", ["is", "inside", "contains"])
def test_output_folder_must_be_apart_from_the_inputs(cli, corpora, tokenizer_dir, tmp_path,
                                                     where):
    corpus = tmp_path / "outer" / "corpus"
    shutil.copytree(corpora["aligned"], corpus)
    out = {"is": corpus, "inside": corpus / "mixed", "contains": tmp_path / "outer"}[where]
    recipe = _one_source_recipe(corpus, tokenizer_dir, tmp_path)
    before = _snapshot(tmp_path / "outer")
    code, _, err = cli("mix", str(recipe), "--out", str(out), "-q")
    relation = {"is": "is", "inside": "lies inside", "contains": "contains"}[where]
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"the output folder {relation} the input" in err and "Traceback" not in err
    assert _snapshot(tmp_path / "outer") == before


def test_a_second_mix_into_a_locked_folder_stops_with_one_line(cli, corpora, tokenizer_dir,
                                                               tmp_path):
    out = tmp_path / "out"
    recipe = _one_source_recipe(corpora["aligned"], tokenizer_dir, tmp_path)
    with lock_held_elsewhere(out) as holder:
        code, _, err = cli("mix", str(recipe), "--out", str(out), "-q")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"another alignpt run (pid {holder.pid}) is writing this folder" in \
            " ".join(err.split())
        assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == \
            [".alignpt", ".alignpt/lock"]
    code, _, err = cli("mix", str(recipe), "--out", str(out), "-q")   # free again
    assert code == 0, err


def test_rerun_removes_temporaries_of_dead_runs_from_the_cache(corpora, tokenizer_dir,
                                                               tmp_path):
    recipe = load_recipe(None, data=recipe_dict(corpora, tokenizer_dir))
    out, cache = tmp_path / "out", tmp_path / "cache"
    run_mix(recipe, out, cache_dir=cache, progress=False)
    entries = next(cache.iterdir())
    stem = sorted(entries.glob("*.bin"))[0].with_suffix("").name
    dead, alive = dead_pid(), os.getpid()
    stale = [entries / f".{stem}.bin.tmp-{dead}", entries / f".{stem}.docs.tmp-{dead}.npy",
             entries / f".{stem}.ids.arrow.tmp-{dead}",
             out / ".alignpt" / "index" / f".base.bin.tmp-{dead}"]
    live = entries / f".{stem}.bin.tmp-{alive}"       # a run still writing: kept
    for path in [*stale, live]:
        path.write_bytes(b"half written")
    run_mix(recipe, out, cache_dir=cache, progress=False)
    assert [p.exists() for p in stale] == [False] * 4 and live.read_bytes() == b"half written"


def test_empty_special_token_is_refused(cli, corpora, tmp_path):
    code, _, err = cli("tokenizer", "train", str(corpora["aligned"]), "--out",
                       str(tmp_path / "t"), "--vocab-size", "300", "--special-token", "<eos>",
                       "--special-token", "")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--special-token: a special token cannot be empty" in err
    assert not (tmp_path / "t").exists()
