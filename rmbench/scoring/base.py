"""The one protocol every scorer implements, so harnesses never care what scores.

A scorer turns (prompt, completion) items into one float each. It owns how it batches
(a model sorts by length and cuts token-budget batches; a baseline needs none) and yields
results batch by batch, so the engine can show progress and cache each batch as it lands:
an interrupted run loses at most one batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rmbench.data.schema import Message


@dataclass(frozen=True)
class Item:
    """One completion to score, in the context of its prompt."""

    prompt: list[Message]
    completion: str

    def key(self) -> str:
        """Content hash: the same text scores once per model, whichever example holds it."""
        blob = json.dumps([self.prompt, self.completion], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class ScoredBatch:
    indices: list[int]  # positions in the item list given to `score`
    scores: list[float]
    truncated: list[bool]  # whether the item had to be cut to fit the model
    tokens: int = 0  # tokens processed (0 where the scorer has no tokens)


class Scorer(Protocol):
    name: str
    kind: str  # "classifier", "baseline", ...
    # Scorers leave this out ("scores": a number per completion); a pairwise judge says
    # "outcomes" (a verdict per comparison), and gives_outcomes() reads it.

    def fingerprint(self) -> str:
        """Changes whenever a score could change: weights, dtype, template, settings."""

    def describe(self) -> dict[str, Any]:
        """What goes into results.json about this scorer."""

    def score(self, items: Sequence[Item]) -> Iterator[ScoredBatch]:
        """Score every item exactly once, yielding batches in any order."""


def gives_outcomes(backend) -> bool:
    """The one place that tells a pairwise judge (an outcome per chosen-vs-rejected
    comparison, asked in both answer orders) from a scorer (a number per completion):
    callers branch on this, never on a backend's kind or mode."""
    return getattr(backend, "output", "scores") == "outcomes"
