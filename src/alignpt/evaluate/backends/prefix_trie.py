"""A radix tree over token sequences, so every shared prefix is run through the model once.

Evaluation prompts share a lot of their beginnings: the two option orders of a
format share preamble, framing and scenario; history prompts share their
records (``history8`` starts with the same records as ``history4`` of the same
wording); all prompts of a syntax share its preamble. Counting distinct prefixes
of the starter suite's prompts: with the three core framings the model needs
about half of the tokens the prompts contain, with all framings about a quarter.

A node is a segment ``seq[start:end]`` of every sequence below it. Reads (the
positions whose next-token log-probabilities a request needs) are attached to
the node whose segment contains them, so a position shared by several
sequences is read from one computation.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

__all__ = ["Node", "build_trie", "trie_tokens", "lcp"]


@dataclass(eq=False)
class Node:
    """Segment ``seq[start:end]`` (``seq`` is any sequence through the node)."""

    start: int
    end: int
    seq: tuple[int, ...]
    children: list["Node"] = field(default_factory=list)
    reads: list[tuple[int, int, int]] = field(default_factory=list)   # request, position, token
    terminal: list[tuple[int, ...]] = field(default_factory=list)     # sequences ending here

    @property
    def segment(self) -> tuple[int, ...]:
        return self.seq[self.start:self.end]


def lcp(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def build_trie(rows: Mapping[tuple[int, ...], Iterable[tuple[int, Sequence[int]]]],
               min_segment: int = 32) -> Node:
    """Radix tree over ``rows`` (sequence -> [(request, target tokens at its end)]).

    Every shared node spans at least ``min_segment`` tokens: a branch point adds a
    level (a forward call, a copy of the parent's cache for every child, padding
    holes that later tokens attend over), and measured on CPU, sharing a short
    preamble or one history record at a time costs more than recomputing it,
    while sharing a scenario, or a block of records, pays.
    """
    root = Node(0, 0, ())
    path = [root]
    prev: tuple[int, ...] = ()
    for seq in sorted(rows):
        shared = lcp(prev, seq)
        while len(path) > 1 and path[-1].start >= shared:
            path.pop()
        top = path[-1]
        if top.end > shared and shared - top.start < min_segment:
            shared = top.start                 # too short to share: branch above ``top``
            path.pop()
            top = path[-1]
        if top.end > shared:                   # split: [start, shared) above [shared, end)
            head = Node(top.start, shared, top.seq, [top])
            parent = path[-2]
            parent.children[next(i for i, c in enumerate(parent.children) if c is top)] = head
            top.start = shared
            path[-1] = top = head
        leaf = Node(shared, len(seq), seq, terminal=[seq])
        top.children.append(leaf)
        path.append(leaf)
        prev = seq
    _attach_reads(root, rows)
    return root


def _attach_reads(root: Node, rows: Mapping) -> None:
    stack: list[tuple[Node, list[Node]]] = [(c, [c]) for c in root.children]
    while stack:
        node, path = stack.pop()
        starts = [n.start for n in path]
        for seq in node.terminal:
            for req, targets in rows[seq]:
                for k, tok in enumerate(targets):
                    j = len(seq) - len(targets) + k      # logits at j predict token j + 1
                    path[bisect_right(starts, j) - 1].reads.append((req, j, int(tok)))
        stack.extend((c, path + [c]) for c in node.children)


def trie_tokens(root: Node) -> int:
    """Tokens the model processes for the whole trie (sum of segment lengths)."""
    total, stack = 0, list(root.children)
    while stack:
        node = stack.pop()
        total += node.end - node.start
        stack.extend(node.children)
    return total
