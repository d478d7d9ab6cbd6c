"""The batch engine: score each unique (prompt, completion) once, cache it, resume.

Suites repeat themselves: RM-Bench compares 3 chosen with 3 rejected completions per
prompt (9 comparisons, 6 texts), RewardBench 2 shares prompts across subsets. Scoring
unique texts only, and appending every finished batch to a cache keyed by the scorer's
fingerprint, means an interrupted or extended eval redoes nothing it already did.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rmbench.data.schema import PreferenceExample
from rmbench.scoring.base import Item, Scorer


@dataclass
class EngineResult:
    chosen: list[list[float]]  # per example, per chosen completion
    rejected: list[list[float]]
    truncated: list[int]  # per example: how many of its completions were cut to fit
    stats: dict = field(default_factory=dict)
    # Pairwise judges give no per-completion scores but an outcome per (chosen i, rejected j):
    # 1 = chosen wins in both answer orders, 0 = rejected wins in both, 0.5 = anything else.
    outcomes: list[list[list[float]]] | None = None
    verdicts: list[list] | None = None  # per example: the raw verdicts behind its outcomes


class JsonlCache:
    """Append-only JSONL of {"k": key, ...fields}; a torn last line (interrupted run) is ignored."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                    self.entries[row.pop("k")] = row
                except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                    continue

    def append(self, rows: list[tuple[str, dict]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            for key, fields in rows:
                handle.write(json.dumps({"k": key, **fields}) + "\n")
                self.entries[key] = fields


# Settings that change a model's numbers without changing the model. Under bf16 the batch's
# shape (rows, padding) changes which kernels run and how sums round, so one text can score
# differently at another --batch-tokens; a resumed run must not mix such scores.
RUN_SETTINGS = ("dtype", "batch_tokens")


def cache_fingerprint(scorer) -> str:
    """The name of a scorer's cache: its fingerprint, plus dtype and batch budget when it has them."""
    described = scorer.describe()
    settings = {k: described[k] for k in RUN_SETTINGS if described.get(k) is not None}
    if not settings:  # baselines and servers: no batch shape to vary
        return scorer.fingerprint()
    blob = f"{scorer.fingerprint()}:{json.dumps(settings, sort_keys=True)}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def progress_bar(show: bool) -> Progress:
    return Progress(TextColumn("[bold]scoring[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), disable=not show, transient=True)


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

    cache = JsonlCache(cache_dir / f"scores-{cache_fingerprint(scorer)}.jsonl") if cache_dir else None
    known: dict[str, tuple[float, bool]] = {}
    for key, row in (cache.entries if cache else {}).items():
        if isinstance(row.get("s"), (int, float)):
            known[key] = (float(row["s"]), bool(row.get("t")))
    todo_keys = [k for k in unique if k not in known]
    todo = [unique[k] for k in todo_keys]
    started = time.perf_counter()
    tokens = 0
    with progress_bar(show_progress) as progress:
        task = progress.add_task(scorer.name, total=len(todo))
        for batch in scorer.score(todo) if todo else ():
            rows = [(todo_keys[i], s, t) for i, s, t in zip(batch.indices, batch.scores, batch.truncated)]
            for key, score, truncated in rows:
                known[key] = (score, truncated)
            if cache:  # NaN (a judge's unreadable rating) stays out, so a rerun asks again
                cache.append([(k, {"s": s, "t": t}) for k, s, t in rows if s == s])
            tokens += batch.tokens
            progress.advance(task, len(batch.indices))
    seconds = time.perf_counter() - started
    missing = [k for k in todo_keys if k not in known]
    if missing:
        raise RuntimeError(f"scorer {scorer.name} returned no score for {len(missing)} items")

    chosen = [[known[k][0] for k in c] for c, _ in layout]
    rejected = [[known[k][0] for k in r] for _, r in layout]
    truncated = [sum(known[k][1] for k in c + r) for c, r in layout]
    stats = {"examples": len(examples), "completions": sum(len(c) + len(r) for c, r in layout),
             "unique_completions": len(unique), "from_cache": len(unique) - len(todo), "scored": len(todo),
             "scoring_seconds": round(seconds, 3), "tokens": tokens,
             "completions_per_second": round(len(todo) / seconds, 2) if todo and seconds > 0 else None,
             "tokens_per_second": round(tokens / seconds, 1) if tokens and seconds > 0 else None}
    return EngineResult(chosen, rejected, truncated, stats)
