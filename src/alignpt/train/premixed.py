"""Token shards made by ``alignpt mix``, and documents where token shards belong.

A condition mixed beforehand and trained as one source would lose which source each
document came from; a mix output's shards still name it per document, so
:func:`mix_origins` gives the trainer those names to account by. A path of JSONL or
Parquet documents is refused in one line that says to mix it first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from alignpt.core.errors import DataError
from alignpt.core.tokens import TokenShard, find_token_shards

__all__ = ["refuse_documents", "is_mix_output", "mix_origins"]


def refuse_documents(name: str, paths: Sequence[str]) -> None:
    """A path holding document shards (JSONL, Parquet) and no token shards is refused in
    one line that says what makes token data from it: the trainer reads tokens."""
    from alignpt.core.executor import expand_inputs

    for raw in paths:
        p = Path(raw)
        try:
            if find_token_shards([p]):
                continue
        except DataError:
            pass
        try:
            documents = expand_inputs([p]) if p.exists() or any(c in raw for c in "*?[") else []
        except DataError:
            documents = []
        if documents:
            shown = documents[0] if len(documents) == 1 or p.is_file() else p
            raise DataError(f"sources.{name}: these are documents, not token shards; run "
                            "`alignpt mix` on them first (a recipe naming them as a source) and "
                            "train on the mix output's native/ folder", str(shown))


def is_mix_output(shard: TokenShard) -> bool:
    """A part written by ``alignpt mix`` (its sidecar names the origin columns)."""
    return "origin_columns" in (shard.meta.get("metadata") or {})


def mix_origins(shards: Sequence[TokenShard], select: list[str] | None,
                ) -> tuple[list[str], list[np.ndarray]]:
    """The original sources of pre-mixed shards, in order of first appearance (only
    those holding tokens, and only the selected ones), with each shard's map from its
    own source index to an index in that list. Nothing for shards not made by mix:
    their documents are accounted to the plan's source as they always were."""
    if not any(is_mix_output(sh) for sh in shards):
        return [], []
    names: list[str] = []
    for sh in shards:
        held = sh.meta.get("source_tokens") or {}
        names += [n for n in sh.sources if held.get(n, 1) and n not in names
                  and (select is None or n in select)]
    index = {n: i for i, n in enumerate(names)}
    maps = [np.asarray([index.get(n, 0) for n in sh.sources], dtype=np.int64) for sh in shards]
    return names, maps
