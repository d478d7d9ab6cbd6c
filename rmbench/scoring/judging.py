"""Running a pairwise LLM judge over preference examples, both answer orders.

Judges prefer whichever answer they see first (or second) more often than they should,
so every comparison is asked twice with the answers swapped. The chosen answer wins only
when both orders pick it; when both pick the rejected one it loses; a tie, a disagreement
or an unparseable reply counts half, as RewardBench counts a generative judge's tie.
Order consistency and unparsed replies are reported, because they say how much to trust
the figure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from rmbench.data.schema import PreferenceExample
from rmbench.scoring.engine import EngineResult, JsonlCache, cache_fingerprint, progress_bar


def comparison_outcome(forward: str | None, reverse: str | None) -> float:
    """forward: chosen shown as A; reverse: chosen shown as B."""
    if forward == "A" and reverse == "B":
        return 1.0
    if forward == "B" and reverse == "A":
        return 0.0
    return 0.5


def judge_examples(examples: Sequence[PreferenceExample], judge, cache_dir: Path | None = None,
                   show_progress: bool = True) -> EngineResult:
    from rmbench.scoring.judge import JudgeRequest

    requests: dict[str, JudgeRequest] = {}
    layout: list[list[list[tuple[str, str]]]] = []  # example -> chosen i -> rejected j -> (fwd key, rev key)
    for ex in examples:
        grid = []
        for chosen in ex.chosen:
            row = []
            for rejected in ex.rejected:
                keys = []
                for a, b in ((chosen, rejected), (rejected, chosen)):
                    request = JudgeRequest(ex.prompt, a, b)
                    key = request.key()
                    requests.setdefault(key, request)
                    keys.append(key)
                row.append((keys[0], keys[1]))
            grid.append(row)
        layout.append(grid)

    cache = JsonlCache(cache_dir / f"verdicts-{cache_fingerprint(judge)}.jsonl") if cache_dir else None
    known: dict[str, dict] = {k: v for k, v in (cache.entries if cache else {}).items() if "w" in v}
    todo_keys = [k for k in requests if k not in known]
    started = time.perf_counter()
    with progress_bar(show_progress) as progress:
        task = progress.add_task(f"{judge.name} (both orders)", total=len(todo_keys))
        for indices, verdicts in judge.judge([requests[k] for k in todo_keys]) if todo_keys else ():
            rows = [(todo_keys[i], {"w": v.winner, "r": v.raw}) for i, v in zip(indices, verdicts)]
            known.update(rows)
            if cache:
                cache.append(rows)
            progress.advance(task, len(indices))
    seconds = time.perf_counter() - started
    tokens = int(getattr(judge, "tokens", 0) or 0)
    missing = [k for k in todo_keys if k not in known]
    if missing:
        raise RuntimeError(f"judge {judge.name} returned no verdict for {len(missing)} requests")

    outcomes, verdicts = [], []
    consistent = decided = unparsed = 0
    for grid in layout:
        outcomes.append([[comparison_outcome(known[f]["w"], known[r]["w"]) for f, r in row] for row in grid])
        verdicts.append([[[known[f]["w"], known[r]["w"]] for f, r in row] for row in grid])
        for row in grid:
            for f, r in row:
                pair = (known[f]["w"], known[r]["w"])
                unparsed += sum(w is None for w in pair)
                if all(w in ("A", "B") for w in pair):
                    decided += 1
                    consistent += pair[0] != pair[1]  # A then B (or B then A): the same answer both times
    comparisons = sum(len(row) for grid in layout for row in grid)
    stats = {"examples": len(examples), "comparisons": comparisons, "judge_requests": len(requests),
             "from_cache": len(requests) - len(todo_keys), "scored": len(todo_keys),
             "scoring_seconds": round(seconds, 3), "tokens": tokens,
             "tokens_per_second": round(tokens / seconds, 1) if tokens and seconds > 0 else None,
             "order_consistency": round(consistent / decided, 4) if decided else None,
             "unparsed_verdicts": unparsed,
             "requests_per_second": round(len(todo_keys) / seconds, 2) if todo_keys and seconds > 0 else None}
    empty = [[] for _ in examples]
    return EngineResult(empty, empty, [0] * len(examples), stats, outcomes=outcomes, verdicts=verdicts)
