"""The one cached batch runner under every scorer and judge: ask each unique request once.

Suites repeat themselves (RM-Bench compares 3 chosen with 3 rejected completions per
prompt: 9 comparisons, 6 texts; a judge sees each pair twice, answers swapped), and long
runs get interrupted. Whatever the request (a completion to score, a pair to judge), the
skeleton is the same and lives here once: requests deduplicated by content key, answers
already in the cache reused, the rest sent to the backend batch by batch with a progress
bar, every finished batch appended to the cache (an interruption loses at most one
batch), a backend that skips a request is an error, and the figures for the record are
counted one way. The cache is a JSONL file named after the backend's fingerprint plus the
settings that change its numbers without changing the model (dtype, batch budget).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rmbench.errors import RmbenchError
from rmbench.scoring import distributed
from rmbench.terminal import errors

# Settings that change a model's numbers without changing the model. Under bf16 the batch's
# shape (rows, padding) changes which kernels run and how sums round, so one text can score
# differently at another --batch-tokens; a resumed run must not mix such scores.
RUN_SETTINGS = ("dtype", "batch_tokens")


@dataclass
class EngineResult:
    """What a scorer or judge gave for a list of examples, in the examples' order."""

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
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()  # the cache is ours: bytes
            damaged = 0  # that are not UTF-8 are damage, like any other unreadable line
            for number, line in enumerate(lines, 1):
                try:
                    row = json.loads(line)
                    self.entries[row.pop("k")] = row
                except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                    damaged += number < len(lines)  # a torn last line is an interrupted run, not damage
            if damaged and distributed.is_main():  # every process of a launch reads every file: one note
                errors.print(f"note: ignored {damaged} unreadable line(s) of the score cache {path}; their scores "
                             "are computed again", markup=False, highlight=False, soft_wrap=True)

    def append(self, rows: list[tuple[str, dict]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            for key, fields in rows:
                handle.write(json.dumps({"k": key, **fields}) + "\n")
                self.entries[key] = fields


def cache_fingerprint(backend) -> str:
    """The name of a backend's cache: its fingerprint, plus dtype and batch budget when it has them."""
    described = backend.describe()
    settings = {k: described[k] for k in RUN_SETTINGS if described.get(k) is not None}
    if not settings:  # baselines and servers: no batch shape to vary
        return backend.fingerprint()
    blob = f"{backend.fingerprint()}:{json.dumps(settings, sort_keys=True)}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def progress_bar(show: bool) -> Progress:
    return Progress(TextColumn("[bold]scoring[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), disable=not show, transient=True)


@dataclass
class Answers:
    """Every request's answer by key, and the figures of the run that produced them."""

    by_key: dict[str, Any]
    stats: dict


# A backend call: the requests still to do -> (indices into them, answers, tokens used) per batch.
Produce = Callable[[list], Iterator[tuple[Sequence[int], Sequence[Any], int]]]


@dataclass(frozen=True)
class Codec:
    """How one kind of answer is kept in the cache: `store` gives the fields to write (None:
    not worth keeping, e.g. a NaN a rerun should ask for again), `load` reads them back
    (None: an unusable line, asked again)."""

    prefix: str  # cache file name: PREFIX-<fingerprint>.jsonl
    store: Callable[[Any], dict | None]
    load: Callable[[dict], Any | None]


def run_cached(requests: dict[str, Any], backend, produce: Produce, codec: Codec, *, cache_dir: Path | None,
               label: str, show_progress: bool) -> Answers:
    """Answer every request (key -> request) once: from the cache, else from `produce`."""
    rank, size = distributed.world()
    path = cache_dir / f"{codec.prefix}-{cache_fingerprint(backend)}.jsonl" if cache_dir else None
    # Under `accelerate launch` each process appends to its own shard; every shard of any
    # earlier run (any process count) is read back, so a run resumes whatever N it had.
    entries, cache = distributed.sharded_cache(path, JsonlCache)
    known: dict[str, Any] = {key: value for key, fields in entries.items() if (value := codec.load(fields)) is not None}
    todo_keys = [k for k in requests if k not in known]
    all_todo = todo_keys
    started = time.perf_counter()  # planning the shares is part of a data-parallel run's time
    if size > 1:  # this process's share: whole batches of the backend's plan, balanced by tokens
        distributed.barrier()  # every process has read the caches before any writes to its shard
        todo_keys = [all_todo[i] for i in distributed.share([requests[k] for k in all_todo], backend, rank, size)]
    tokens = 0
    counted = distributed.counters(backend)
    with progress_bar(show_progress) as progress:
        task = progress.add_task(label, total=len(todo_keys))
        for indices, answers, used in produce([requests[k] for k in todo_keys]) if todo_keys else ():
            rows = [(todo_keys[i], answer) for i, answer in zip(indices, answers)]
            known.update(rows)
            if cache:
                stored = [(key, codec.store(answer)) for key, answer in rows]
                cache.append([(key, fields) for key, fields in stored if fields is not None])
            tokens += used
            progress.advance(task, len(indices))
    if size > 1:  # every process gets every answer; the main one writes the record
        known.update(distributed.gather([(k, known[k]) for k in todo_keys if k in known]))
        tokens = sum(distributed.gather([tokens]))
        distributed.add_up_counters(backend, counted)
        todo_keys = all_todo
    seconds = time.perf_counter() - started
    missing = [k for k in todo_keys if k not in known]
    if missing:
        raise RmbenchError(f"{backend.name} returned nothing for {len(missing)} of {len(todo_keys)} requests; "
                           "this is a bug in that scorer: rerun, and report it if it persists")
    stats = {"from_cache": len(requests) - len(todo_keys), "scored": len(todo_keys),
             "scoring_seconds": round(seconds, 3), "tokens": tokens, "processes": size,
             "tokens_per_second": round(tokens / seconds, 1) if tokens and seconds > 0 else None}
    return Answers({k: known[k] for k in requests}, stats)
