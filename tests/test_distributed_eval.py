"""Data-parallel evaluation: how work is split, and a real 2-process `accelerate launch` on CPU."""

from __future__ import annotations

import random

from rmbench.scoring.batching import plan_batches
from rmbench.scoring.distributed import cache_files, shard_path, split_batches


def test_whole_batches_are_balanced_by_tokens_and_keep_their_global_order():
    batches = [[0, 1], [2], [3, 4, 5], [6], [7, 8]]
    weights = [100, 90, 60, 50, 40]
    ranks = split_batches(batches, weights, 2)
    assert ranks == [[0, 1, 6, 7, 8], [2, 3, 4, 5]]  # loads 190 and 150: heaviest first to the least loaded
    assert sorted(i for r in ranks for i in r) == list(range(9))
    assert split_batches(batches, weights, 1) == [list(range(9))]
    assert split_batches([[0]], [5], 3) == [[0], [], []]  # more processes than batches: some idle


def test_a_share_of_whole_batches_is_cut_into_the_same_batches_again():
    """What makes a data-parallel run bit-identical: each process re-plans its share (a union of
    whole batches, in plan order) into exactly the batches one process would have run."""
    rng = random.Random(0)
    for trial in range(200):
        lengths = [rng.randint(1, 300) for _ in range(rng.randint(1, 120))]
        budget = rng.choice([64, 256, 700, 2048])
        rows = rng.choice([4, 16, 256])
        batches = plan_batches(lengths, budget, max_rows=rows)
        weights = [sum(lengths[i] for i in b) for b in batches]
        for size in (2, 3, 5):
            for share in split_batches(batches, weights, size):
                again = plan_batches([lengths[i] for i in share], budget, max_rows=rows)
                replanned = sorted(sorted(share[j] for j in b) for b in again)
                original = sorted(sorted(b) for b in batches if set(b) <= set(share))
                assert replanned == original, (trial, size)


def test_every_shard_of_any_earlier_run_is_read_back(tmp_path):
    main = tmp_path / "scores-abc.jsonl"
    for path in (main, shard_path(main, 0, 2), shard_path(main, 1, 2), shard_path(main, 2, 3),
                 tmp_path / "scores-other.rank0-of-2.jsonl"):
        path.write_text("")
    assert [p.name for p in cache_files(main)] == [
        "scores-abc.jsonl", "scores-abc.rank0-of-2.jsonl", "scores-abc.rank1-of-2.jsonl", "scores-abc.rank2-of-3.jsonl"]
