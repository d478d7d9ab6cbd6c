"""Examples in, per-completion scores (or pairwise outcomes) out, in the examples' order.

`run_examples` is the one place that decides what a backend gives: a scorer (reward
model, baseline, rating judge) a number per completion, a pairwise judge an outcome per
(chosen, rejected) comparison asked in both answer orders (scoring.judging). Either way
the work goes through the one cached batch runner (scoring.runner): each unique text or
pair once, resumable from the cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rmbench.data.schema import PreferenceExample
from rmbench.scoring.base import Item, Scorer, gives_outcomes
from rmbench.scoring.judging import judge_examples
from rmbench.scoring.runner import Codec, EngineResult, JsonlCache, cache_fingerprint, progress_bar, run_cached

__all__ = ["EngineResult", "JsonlCache", "cache_fingerprint", "progress_bar", "run_examples", "score_examples"]

# A score and whether its text was cut to fit; NaN (a judge's unreadable rating) stays out
# of the cache, so a rerun asks again.
SCORES = Codec("scores", store=lambda answer: {"s": answer[0], "t": answer[1]} if not math.isnan(answer[0]) else None,
               load=lambda row: (float(row["s"]), bool(row.get("t")))
               if isinstance(row.get("s"), (int, float)) and not isinstance(row.get("s"), bool) else None)


def run_examples(examples: Sequence[PreferenceExample], scorer, cache_dir: Path | None = None,
                 show_progress: bool = True) -> EngineResult:
    """Scores for a scorer, both-order outcomes for a pairwise judge (see module docstring)."""
    if gives_outcomes(scorer):
        return judge_examples(examples, scorer, cache_dir=cache_dir, show_progress=show_progress)
    return score_examples(examples, scorer, cache_dir=cache_dir, show_progress=show_progress)


def score_examples(examples: Sequence[PreferenceExample], scorer: Scorer, cache_dir: Path | None = None,
                   show_progress: bool = True) -> EngineResult:
    unique: dict[str, Item] = {}
    layout: list[tuple[list[str], list[str]]] = []
    for ex in examples:
        sides = []
        for texts in (ex.chosen, ex.rejected):
            keys = []
            for text in texts:
                item = Item(ex.prompt, text)
                key = item.key()
                unique.setdefault(key, item)
                keys.append(key)
            sides.append(keys)
        layout.append((sides[0], sides[1]))

    def produce(todo: list[Item]):
        for batch in scorer.score(todo):
            yield batch.indices, list(zip(batch.scores, batch.truncated)), batch.tokens

    answers = run_cached(unique, scorer, produce, SCORES, cache_dir=cache_dir, label=scorer.name,
                         show_progress=show_progress)
    known = answers.by_key
    chosen = [[known[k][0] for k in c] for c, _ in layout]
    rejected = [[known[k][0] for k in r] for _, r in layout]
    truncated = [sum(known[k][1] for k in c + r) for c, r in layout]
    scored, seconds = answers.stats["scored"], answers.stats["scoring_seconds"]
    stats = {"examples": len(examples), "completions": sum(len(c) + len(r) for c, r in layout),
             "unique_completions": len(unique), **answers.stats,
             "completions_per_second": round(scored / seconds, 2) if scored and seconds > 0 else None}
    return EngineResult(chosen, rejected, truncated, stats)
