"""``stage: DIR`` reads exactly the documents that stage published (issue 16, item 6).

The natural-language trial read a generate folder as 2,094 documents instead of 374: its
response cache, its plan and the documents the quality filter dropped came along. Here
real ``generate`` (template backend), ``tag`` and ``filter`` folders are read as sources.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alignpt.core.errors import DataError
from alignpt.core.executor import expand_inputs
from alignpt.core.shards import read_documents
from alignpt.mix.recipe import SourceSpec, load_recipe
from alignpt.mix.run import run_mix
from alignpt.mix.sources import prepare_sources
from alignpt.mix.stages import published_shards


@pytest.fixture(scope="module")
def stages(tmp_path_factory) -> dict[str, Path]:
    from alignpt.filter import FilterConfig, run_filter
    from alignpt.generate.pipeline import GenerateConfig, generate
    from alignpt.tag.cascade import TagConfig
    from alignpt.tag.stages import run_tag

    root = tmp_path_factory.mktemp("stages")
    # min_words 300 makes the quality filter drop some of the template's documents
    gen = generate(GenerateConfig(n=24, seed=0, quality={"min_words": 300}), root / "gen")
    rules = {"classifier": {"enabled": False}, "rules": {"engine": "re2"}}
    run_tag([root / "gen" / "docs"], root / "tag", TagConfig(**rules), progress=False)
    run_tag([root / "gen" / "docs"], root / "inline", TagConfig(**rules, output="inline"),
            progress=False)
    summary = run_filter(root / "tag", root / "filter", FilterConfig(drop=["flagged"],
                                                                     refill=True),
                         progress=False)
    return {"root": root, "gen": root / "gen", "tag": root / "tag", "inline": root / "inline",
            "filter": root / "filter", "gen_stats": gen.stats, "filter_summary": summary}


def _ids(files) -> list[str]:
    return [d.id for f in files for d in read_documents(f)]


def _prepared(folder: Path, tok, cache: Path):
    prepared, _ = prepare_sources({"s": SourceSpec(stage=str(folder))}, cache, tok,
                                  progress=False)
    return prepared["s"]


def test_generate_folder_gives_its_kept_documents_only(stages, tok, tmp_path):
    gen, st = stages["gen"], stages["gen_stats"]
    assert st["kept"] == 14 and st["dropped_by_reason"] == {"too_short": 10}
    everything = expand_inputs([gen])   # what the folder glob read before the fix
    assert len(_ids(everything)) > st["kept"] + st["dropped"]   # + specs and cached responses
    src = _prepared(gen, tok, tmp_path / "cache")
    assert src.documents_read == src.documents == 14
    assert [p.relative_to(gen).parts[0] for p in src.inputs] == ["docs"]
    excluded = set(_ids(expand_inputs([gen / "excluded"])))
    assert len(excluded) == 10 and not excluded & set(_ids(src.inputs))


def test_filter_folder_gives_kept_and_refill_never_excluded(stages, tok, tmp_path):
    s, folder = stages["filter_summary"], stages["filter"]
    assert sum(s["dropped"].values()) > 0 and s["refill"]["documents"] > 0
    pub = published_shards(folder)
    assert pub.stage == "filter"
    assert pub.documents == s["documents_kept"] + s["refill"]["documents"]
    ids = _ids(pub.files)
    assert len(ids) == pub.documents
    assert not set(ids) & set(_ids(expand_inputs([folder / "excluded"])))
    assert sum("#refill" in i for i in ids) == s["refill"]["documents"]
    assert _prepared(folder, tok, tmp_path / "cache").documents_read == pub.documents


def test_inline_tag_folder_gives_its_tagged_documents(stages):
    pub = published_shards(stages["inline"])
    assert pub.stage == "tag" and pub.documents == 14 == len(_ids(pub.files))


@pytest.mark.parametrize("what, match", [
    ("tag", "wrote attributes"), ("root", "not a stage output"),
    ("missing", "not found"), ("unfinished", "not finished")])
def test_folders_that_are_not_document_stages_are_refused(stages, what, match, tmp_path):
    folder = {"tag": stages["tag"], "root": stages["root"],
              "missing": tmp_path / "nope", "unfinished": tmp_path / "gen"}[what]
    if what == "unfinished":
        shutil.copytree(stages["gen"], folder)
        (folder / "stats.json").unlink()
    with pytest.raises(DataError, match=match):
        published_shards(folder)


def test_a_mix_output_is_refused_as_a_document_stage(stages, tokenizer_dir, tmp_path):
    data = {"tokenizer": {"path": str(tokenizer_dir)},
            "sources": {"gen": {"stage": str(stages["gen"])}},
            "phases": [{"name": "p", "mix": [{"source": "gen", "epochs": 1}]}]}
    res = run_mix(load_recipe(None, data=data), tmp_path / "m", progress=False)
    assert [Path(p).name for p in res.manifest["inputs"]] == ["part-00000.jsonl.zst"]
    assert res.plan.sources["gen"].documents == 14
    with pytest.raises(DataError, match="mix output"):
        published_shards(tmp_path / "m")


def test_a_stage_that_lost_documents_is_refused(stages, tok, tmp_path):
    gen = tmp_path / "gen"
    shutil.copytree(stages["gen"], gen)
    text = (gen / "stats.json").read_text().replace('"kept": 14', '"kept": 15')
    (gen / "stats.json").write_text(text)
    with pytest.raises(DataError, match="read 14 documents where the stage published 15"):
        _prepared(gen, tok, tmp_path / "cache")


def test_a_converted_folder_gives_only_the_latest_runs_shards(stages, tmp_path):
    """A second convert into the same folder with fewer inputs leaves the first run's other
    shard behind; the folder glob would read it, the stage's record does not."""
    from alignpt.convert import ConvertConfig, convert_shards

    docs = sorted(expand_inputs([stages["gen"] / "docs", stages["gen"] / "excluded"]))
    inputs = tmp_path / "in"
    for k, f in enumerate(docs):
        (inputs / str(k)).mkdir(parents=True)
        shutil.copy(f, inputs / str(k) / f.name)
    convert_shards([inputs], tmp_path / "conv", ConvertConfig(to="jsonl"), progress=False)
    assert len(_ids(expand_inputs([tmp_path / "conv"]))) == 24
    convert_shards([inputs / "0"], tmp_path / "conv", ConvertConfig(to="jsonl"), progress=False)
    # the first run's shards stay beside the second's: 24 + 14 documents in the folder
    assert len(_ids(expand_inputs([tmp_path / "conv"]))) == 38
    pub = published_shards(tmp_path / "conv")
    assert (pub.stage, pub.documents, len(_ids(pub.files))) == ("convert", 14, 14)
