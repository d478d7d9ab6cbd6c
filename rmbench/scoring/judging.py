"""Running a pairwise LLM judge over preference examples, both answer orders.

Judges prefer whichever answer they see first (or second) more often than they should,
so every comparison is asked twice with the answers swapped. The chosen answer wins only
when both orders pick it; when both pick the rejected one it loses; a tie, a disagreement
or an unparseable reply counts half, as RewardBench counts a generative judge's tie.
Order consistency and unparsed replies are reported, because they say how much to trust
the figure. Caching, resuming and progress are the shared runner's (scoring.runner).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rmbench.data.schema import PreferenceExample
from rmbench.scoring.judge.verdicts import JudgeRequest, comparison_outcome
from rmbench.scoring.runner import Codec, EngineResult, run_cached

__all__ = ["comparison_outcome", "judge_examples"]

# A verdict's winner ("A", "B", "tie" or None) and the judge's raw reply behind it.
VERDICTS = Codec("verdicts", store=lambda answer: {"w": answer[0], "r": answer[1]},
                 load=lambda row: (row["w"], row.get("r", "")) if "w" in row else None)


def judge_examples(examples: Sequence[PreferenceExample], judge, cache_dir: Path | None = None,
                   show_progress: bool = True) -> EngineResult:
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

    def produce(todo: list[JudgeRequest]):
        before = int(getattr(judge, "tokens", 0) or 0)
        for indices, verdicts in judge.judge(todo):
            now = int(getattr(judge, "tokens", 0) or 0)  # judges count tokens as they go
            yield indices, [(v.winner, v.raw) for v in verdicts], now - before
            before = now

    answers = run_cached(requests, judge, produce, VERDICTS, cache_dir=cache_dir, label=f"{judge.name} (both orders)",
                         show_progress=show_progress)
    known = {key: winner for key, (winner, _) in answers.by_key.items()}
    outcomes, verdicts = [], []
    consistent = decided = unparsed = 0
    for grid in layout:
        outcomes.append([[comparison_outcome(known[f], known[r]) for f, r in row] for row in grid])
        verdicts.append([[[known[f], known[r]] for f, r in row] for row in grid])
        for row in grid:
            for f, r in row:
                pair = (known[f], known[r])
                unparsed += sum(w is None for w in pair)
                if all(w in ("A", "B") for w in pair):
                    decided += 1
                    consistent += pair[0] != pair[1]  # A then B (or B then A): the same answer both times
    comparisons = sum(len(row) for grid in layout for row in grid)
    scored, seconds = answers.stats["scored"], answers.stats["scoring_seconds"]
    stats = {"examples": len(examples), "comparisons": comparisons, "judge_requests": len(requests),
             **answers.stats,
             "order_consistency": round(consistent / decided, 4) if decided else None,
             "unparsed_verdicts": unparsed,
             "requests_per_second": round(scored / seconds, 2) if scored and seconds > 0 else None}
    empty = [[] for _ in examples]
    return EngineResult(empty, empty, [0] * len(examples), stats, outcomes=outcomes, verdicts=verdicts)
