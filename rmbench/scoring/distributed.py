"""Data-parallel scoring under `accelerate launch --num_processes N -m rmbench eval ...`.

Every process builds the same unique requests and reads the same caches; the requests
still to do are split across processes in whole batches of the backend's own plan (a
backend that can say how it batches, `plan(requests)`, gets each batch scored exactly
as one process would score it, so fp32 scores match a single-process run bit for bit),
balanced by tokens, largest batches first to the least loaded process, each process
keeping its batches in the global (length-sorted) order. Each process appends to its own
cache shard (`NAME.rankR-of-N.jsonl` beside `NAME.jsonl`), so no two processes write one
file; every shard of any earlier run is read back, so an interrupted run resumes with any
number of processes. The answers are then gathered to every process; only the main
process writes the record.

Outside a multi-process launch (WORLD_SIZE unset or 1) nothing here changes anything. On a
machine without GPUs, launch CPU processes with `accelerate launch --multi_gpu
--num_processes N` (accelerate's `--cpu` starts a single process) or `torchrun
--nproc_per_node N -m rmbench eval ...`; they talk over gloo.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from rmbench.errors import RmbenchError


def _launched() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _state():
    """accelerate's process state. Without CUDA it is asked for CPU processes explicitly (gloo):
    left to itself it would fall back to one process whenever no GPU is found."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def world() -> tuple[int, int]:
    """(this process's rank, number of processes); (0, 1) unless launched with several."""
    if not _launched():
        return 0, 1
    state = _state()
    return state.process_index, state.num_processes


def is_main() -> bool:
    return world()[0] == 0


def local_device():
    """The accelerator this process owns (cuda:LOCAL_RANK), or None when not launched with several."""
    return _state().device if _launched() else None


def split_batches(batches: Sequence[Sequence[int]], weights: Sequence[int], size: int) -> list[list[int]]:
    """Whole batches to `size` processes: heaviest first to the least loaded (ties: lowest rank),
    then each process's indices in the batches' global order."""
    loads = [0] * size
    owner = [0] * len(batches)
    for b in sorted(range(len(batches)), key=lambda b: (-weights[b], b)):
        rank = min(range(size), key=lambda r: (loads[r], r))
        owner[b] = rank
        loads[rank] += weights[b]
    return [[i for b, batch in enumerate(batches) if owner[b] == rank for i in batch] for rank in range(size)]


def share(requests: Sequence, backend, rank: int, size: int) -> list[int]:
    """Indices of the requests this process answers."""
    plan = getattr(backend, "plan", None)
    if callable(plan):
        batches, weights = plan(requests)
    else:  # no batch plan to keep: one request per unit, weighed by its text
        batches = [[i] for i in range(len(requests))]
        weights = [len(str(r)) for r in requests]
    return split_batches(batches, weights, size)[rank]


def shard_path(cache_path: Path, rank: int, size: int) -> Path:
    return cache_path.with_name(f"{cache_path.stem}.rank{rank}-of-{size}{cache_path.suffix}")


def cache_files(cache_path: Path) -> list[Path]:
    """The single-process cache and every shard any earlier run left beside it."""
    shards = sorted(cache_path.parent.glob(f"{cache_path.stem}.rank*-of-*{cache_path.suffix}"))
    return ([cache_path] if cache_path.is_file() else []) + shards


def gather(rows: list) -> list:
    """Every process's rows, on every process (a no-op outside a multi-process launch)."""
    if world()[1] <= 1:
        return rows
    from accelerate.utils import gather_object

    return gather_object(rows)


# A judge's running counts of this run's work, which its describe() reports in the record.
COUNTERS = ("truncated", "unparsed", "failed")


def counters(backend) -> dict[str, int]:
    """The backend's counters now (only those it keeps), to add up after a data-parallel run."""
    return {name: value for name in COUNTERS
            if isinstance(value := getattr(backend, name, None), int) and not isinstance(value, bool)}


def add_up_counters(backend, before: dict[str, int]) -> None:
    """Each process counted its own share since `before`; every process ends with the whole
    run's count, so the record the main process writes says what one process would have."""
    for name, start in before.items():
        setattr(backend, name, start + sum(gather([getattr(backend, name) - start])))


class MainProcessFailed(RmbenchError):
    """Raised on the other processes of a launch when the main one could not claim the output
    folder: the main process has printed why, so the CLI prints nothing more for this one."""


def from_main(value):
    """The main process's `value`, on every process (a no-op outside a multi-process launch)."""
    if world()[1] <= 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


@contextmanager
def main_claims(claim: AbstractContextManager) -> Iterator[None]:
    """Enter `claim` (rmbench.results.claim_out: check and lock --out) on the main process alone.

    Every process of a launch reads the same folder, but only the main process writes the record,
    so it alone checks the folder, creates it and holds the lock, and says in one line what is
    wrong. The others wait for its outcome (so no shard lands in a folder it refused, nor before
    it made the folder) and, when it failed, stop quietly with MainProcessFailed instead of going
    on to wait for a peer that has left."""
    if world()[1] <= 1:
        with claim:
            yield
        return
    with ExitStack() as stack:
        failure = None
        if is_main():
            try:
                stack.enter_context(claim)
            except Exception as err:
                from_main(str(err) or type(err).__name__)
                raise
        failure = from_main(failure)
        if failure is not None:
            raise MainProcessFailed(f"the main process stopped: {failure}")
        yield


def barrier() -> None:
    if world()[1] > 1:
        _state().wait_for_everyone()


def sharded_cache(path: Path | None, cache_class):
    """(every entry any earlier run cached under `path`, shards included; the cache this
    process appends to: `path` itself in one process, its own shard in several)."""
    if path is None:
        return {}, None
    rank, size = world()
    mine = cache_class(shard_path(path, rank, size) if size > 1 else path)
    entries: dict = {}
    for file in cache_files(path):
        entries.update(mine.entries if file == mine.path else cache_class(file).entries)
    return entries, mine


def my_part(keys: list, batches: Sequence[Sequence[int]], weights: Sequence[int]) -> list:
    """This process's keys: whole batches, balanced by weight (all of them in one process)."""
    rank, size = world()
    if size <= 1:
        return keys
    barrier()  # every process has read the caches before any writes to its shard
    return [keys[i] for i in split_batches(batches, weights, size)[rank]]
