"""``tag train``, ``tag review`` and ``tag label`` never write over what they read."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignpt.cli import main
from alignpt.tag.cascade import TagConfig
from alignpt.tag.stages import run_tag
from tests.lock_holder import lock_held_elsewhere

from .helpers import snapshot, write_shards


@pytest.fixture
def labels(tmp_path) -> Path:
    path = tmp_path / "data" / "labels.jsonl"
    path.parent.mkdir()
    path.write_text('{"text": "The rogue AI lied.", "label": "ai_misaligned"}\n')
    return path


@pytest.mark.parametrize("where", ["labels.jsonl", ".", ".."])
def test_train_refuses_a_model_folder_over_its_labels(labels, capsys, where):
    before = snapshot(labels.parent.parent)
    code = main(["tag", "train", "--labels", str(labels), "--out", str(labels.parent / where)])
    assert code == 2 and "choose a folder apart from the input" in capsys.readouterr().err
    assert snapshot(labels.parent.parent) == before


def test_train_stops_before_training_while_another_run_holds_the_folder(labels, tmp_path,
                                                                         capsys):
    out = tmp_path / "model"
    with lock_held_elsewhere(out) as holder:
        code = main(["tag", "train", "--labels", str(labels), "--out", str(out)])
        assert code == 2
        assert f"another alignpt run (pid {holder.pid})" in capsys.readouterr().err
        assert not (out / "model.json").exists()


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("review")
    write_shards(root / "in", shards=1, copies=1)
    run_tag([root / "in"], root / "tag", TagConfig(classifier={"enabled": False},
                                                    rules={"engine": "re2"}), progress=False)
    return root


@pytest.mark.parametrize("page, problem", [
    ("tag/stats.json", "lies inside the tag folder"),
    ("tag/part-00.jsonl.zst", "lies inside the tag folder"),
    ("in/part-00.jsonl.zst", "is the input"),
    ("tag/review", "is a folder"),
])
def test_review_never_replaces_a_file_of_the_tag_run(tagged, capsys, page, problem):
    (tagged / "tag" / "review").mkdir(exist_ok=True)
    before = snapshot(tagged)
    code = main(["tag", "review", str(tagged / "tag"), "--out", str(tagged / page)])
    assert code == 2 and problem in capsys.readouterr().err
    assert snapshot(tagged) == before


def test_review_may_replace_its_own_page(tagged, capsys):
    page = tagged / "tag" / "review" / "mine.md"
    for _ in range(2):
        assert main(["tag", "review", str(tagged / "tag"), "--out", str(page)]) == 0
    assert page.read_text().startswith("# Tag review:")


@pytest.mark.parametrize("target", ["in/part-00.jsonl.zst", "in/labels.jsonl", "in"])
def test_label_refuses_to_write_over_its_shards_before_asking_the_judge(tagged, capsys,
                                                                        target):
    before = snapshot(tagged)
    # nothing listens on port 9: reaching the judge would fail differently
    code = main(["tag", "label", str(tagged / "in"), "--out", str(tagged / target), "--n", "1",
                 "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
    assert code == 2 and "apart from the shard" in capsys.readouterr().err
    assert snapshot(tagged) == before
