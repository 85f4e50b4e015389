"""True pairing: within a seed, every arm reads the same base documents in the same order.

The trainer's data order is replayed (SourceReader + Sampler, exactly as the
trainer drives them) on the quick recipe's real corpora, without training.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alignpt.experiment.grid import RunSpec, expand_runs
from alignpt.experiment.recipe import load_experiment
from alignpt.experiment.runner import _ensure_corpora, _plan_for
from alignpt.experiment.world_kind import WorldKind
from alignpt.train.config import TrainPlan
from alignpt.train.phases import validate_plan
from alignpt.train.data import Sampler, SourceReader
from alignpt.train.phases import resolve_phases
from alignpt.world.vocab import D

ARMS = ("unfiltered", "misaligned_upsampled", "aligned_untested", "aligned_untested_late",
        "aligned_untested_finetune")


def _base_docs(root: Path, run: RunSpec) -> list[int]:
    """Global ids of the base documents a run consumes, in the order it first reads them."""
    plan = validate_plan(TrainPlan.model_validate(_plan_for(root, run)))
    phases = resolve_phases(plan)
    readers = {n: SourceReader(n, c, plan.seed) for n, c in plan.sources.items()}
    base, seen = readers["base"], []
    doc_at = base.doc_at

    def record(epoch: int, pos: int) -> int:
        doc = doc_at(epoch, pos)
        if not seen or seen[-1] != doc:   # a document cut by a quota is read again where it resumes
            seen.append(doc)
        return doc

    base.doc_at = record
    sampler = Sampler(readers, phases, plan.seed, plan.row_tokens)
    for i, ph in enumerate(phases):
        sampler.start_phase(i)
        for _ in range(ph.steps):
            sampler.next_rows(plan.batch_size)
    assert sampler.cursors["base"][0] == 0, "the base corpus must not need a second pass"
    return seen


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    recipe = load_experiment("persona-world", quick=True)
    runs = {(r.arm, r.seed): r for r in expand_runs(recipe)}
    wanted = [runs[(a, 0)] for a in (*ARMS, "filtered")] + [runs[("unfiltered", 1)]]
    root = tmp_path_factory.mktemp("pairing")
    _ensure_corpora(root, WorldKind(None), wanted, lambda _: None)
    return root, runs, {(r.arm, r.seed): _base_docs(root, r) for r in wanted}


def _texts(root: Path, run: RunSpec, ids: list[int]) -> list[tuple[int, ...]]:
    reader = SourceReader("base", TrainPlan.model_validate(_plan_for(root, run)).sources["base"], run.seed)
    return [tuple(reader.get(d)[0].tolist()) for d in ids]


def test_base_order_is_identical_across_arms_of_a_seed(replay):
    root, runs, docs = replay
    # one base corpus per seed, whatever the arm's injected share
    assert len({runs[(a, 0)].corpora["base"].folder(root) for a in ARMS}) == 1
    ref = docs[("unfiltered", 0)]
    for arm in ARMS:
        seq = docs[(arm, 0)]
        # an arm with injected pretraining tokens reads less base: a prefix of the same sequence
        assert seq == ref[:len(seq)], arm
        assert len(seq) > 0.9 * len(ref), arm
    assert len(docs[("aligned_untested_finetune", 0)]) == len(ref)   # fine-tune: all of pretraining is base
    # ... and that sequence is the corpus's (i.i.d.) file order, from its start
    assert ref == list(range(len(ref)))
    # Another seed reads other documents (position by position, almost none coincide).
    a, b = (_texts(root, runs[("unfiltered", s)], docs[("unfiltered", s)]) for s in (0, 1))
    assert sum(x == y for x, y in zip(a, b)) < 0.02 * min(len(a), len(b))


def test_filtered_arm_reads_the_unfiltered_order_less_defecting_documents(replay):
    """The filtered arm's base corpus is the seed's unfiltered stream with every document
    that shows a defection dropped (the refill is the stream's next clean document), and it
    is read in the same order: document for document, the unfiltered arm's sequence less
    its defecting documents."""
    root, runs, docs = replay

    unfiltered, filtered = (_texts(root, runs[(arm, 0)], docs[(arm, 0)]) for arm in ("unfiltered", "filtered"))
    clean = [d for d in unfiltered if D not in d]
    assert 0.5 * len(unfiltered) < len(clean) < len(unfiltered)
    assert len(filtered) > len(clean)             # it reads on past the unfiltered arm's last document
    assert filtered[:len(clean)] == clean
