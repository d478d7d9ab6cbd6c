"""Implicit (DPO) reward scoring: target log-probabilities in chunks vs a full log-softmax.

SmolLM2-135M-Instruct scores the completions of RM-Bench chat (the first N prompts,
RMBENCH_BENCH_PROMPTS, 6 completions each) as a reference-free implicit reward, i.e.
log pi(y|x) summed over the completion's tokens (a reference model would double every
arm's work and change no ratio).

- `reduction`: the log-probability step alone, on the logits of the real batches: the
  previous code's per-row vocabulary-wide log-softmax of the scored positions (a copy of
  them, then log_softmax, then gather) against `implicit._token_logps` (log_softmax and
  gather over LOGP_CHUNK positions at a time, read from views instead of copies).
- `scorer`: the whole scorer, before and after, in one process on one model file: "before"
  is rmbench/scoring/implicit.py as of commit PREVIOUS (read with `git show`; skipped outside
  a git checkout), "after" the current module. The arms alternate (before, after, before,
  after) so a change in the machine's load hits both.

Reported: tokens/s (prompt once per shared group plus completions, as ScoredBatch counts
them), positions/s for the reduction, the speed-up, and the largest reward difference.
Asserted: both arms give the same rewards (relative 1e-5), never a timing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks.conftest import bench_prompts, probe_gflops

# The last commit whose implicit scorer took a vocabulary-wide log-softmax of every scored position.
PREVIOUS = "9fed2ce"
ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 2  # alternating before/after rounds; the best of each arm is reported
RESULTS: dict = {}


@pytest.fixture(scope="module")
def items(rm_bench_chat):
    from rmbench.scoring.base import Item

    return [Item(ex.prompt, text) for ex in rm_bench_chat for text in [*ex.chosen, *ex.rejected]]


@pytest.fixture(scope="module")
def previous_module(tmp_path_factory):
    try:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{PREVIOUS}:rmbench/scoring/implicit.py"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"cannot read the previous implicit scorer from git ({PREVIOUS}): {err}")
    path = tmp_path_factory.mktemp("before") / "implicit_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("implicit_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["implicit_before"] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
    except ImportError as err:
        pytest.skip(f"the previous implicit scorer no longer imports against today's rmbench: {err}")
    return module


def run_scorer(scorer, items) -> tuple[list[float], int, float]:
    rewards: list[float] = [0.0] * len(items)
    tokens = 0
    start = time.perf_counter()
    for batch in scorer.score(items):
        tokens += batch.tokens
        for i, value in zip(batch.indices, batch.scores):
            rewards[i] = value
    return rewards, tokens, time.perf_counter() - start


def test_scorer_before_and_after(benchmark, smollm2_gguf, items, previous_module):
    from rmbench.scoring import implicit

    benchmark.group = "implicit"
    after = implicit.ImplicitRewardScorer(str(smollm2_gguf), None, dtype="fp32")
    before = previous_module.ImplicitRewardScorer(str(smollm2_gguf), None, dtype="fp32")
    before.policy = after.policy  # one model object: the arms differ only in their code
    runs: dict[str, list] = {"before": [], "after": []}
    probes = [probe_gflops()]
    load = [round(os.getloadavg()[0], 2)]
    run_scorer(after, items[:2])  # warm-up: kernel selection, first-touch allocations

    def rounds():
        for _ in range(ROUNDS):
            for name, scorer in (("before", before), ("after", after)):
                runs[name].append(run_scorer(scorer, items))
                probes.append(probe_gflops())
                load.append(round(os.getloadavg()[0], 2))

    benchmark.pedantic(rounds, rounds=1, iterations=1, warmup_rounds=0)
    best = {name: min(r, key=lambda run: run[2]) for name, r in runs.items()}
    (old, tokens, old_s), (new, new_tokens, new_s) = best["before"], best["after"]
    assert tokens == new_tokens
    differences = [abs(a - b) for a, b in zip(old, new)]
    relative = max(d / max(abs(a), 1.0) for d, a in zip(differences, old))
    arm = {"prompts": bench_prompts(), "completions": len(items), "tokens": tokens, "torch_threads":
           torch.get_num_threads(), "before_seconds": [round(r[2], 2) for r in runs["before"]],
           "after_seconds": [round(r[2], 2) for r in runs["after"]],
           "before_tokens_per_second": round(tokens / old_s, 1), "after_tokens_per_second": round(tokens / new_s, 1),
           "speedup": round(old_s / new_s, 3), "max_abs_reward_diff": max(differences),
           "max_rel_reward_diff": relative, "probe_fp32_gflops": probes, "loadavg": load}
    benchmark.extra_info.update(arm)
    RESULTS["scorer"] = arm
    print("\nimplicit scorer (ref-free, fp32): " + ", ".join(f"{k}={v}" for k, v in arm.items()))
    assert relative < 1e-5, arm


def full_log_softmax_logps(logits: torch.Tensor, targets: torch.Tensor, spans) -> torch.Tensor:
    """The previous reduction: per row, copy the scored positions, log-softmax over the vocabulary, gather."""
    sums = []
    for n, (start, stop) in enumerate(spans):
        logps = torch.log_softmax(logits[n, start:stop].clone().float(), dim=-1)
        sums.append(logps.gather(-1, targets[n, start:stop].unsqueeze(-1)).sum())
    return torch.stack(sums).double()


def test_log_probability_reduction(benchmark, smollm2_gguf, items):
    """The step the change is about, on the logits of the scorer's own first batches."""
    from rmbench.scoring import implicit

    benchmark.group = "implicit"
    scorer = implicit.ImplicitRewardScorer(str(smollm2_gguf), None, dtype="fp32", share_prompt=False)
    tokenized = [scorer.tokenize(item) for item in items]
    batches = []
    with torch.inference_mode():
        for first in range(0, min(len(tokenized), 12), 4):
            ids, attention, targets, spans = implicit._full_batch(tokenized[first:first + 4],
                                                                  scorer.tokenizer.pad_token_id, scorer.device)
            batches.append((scorer.policy(input_ids=ids, attention_mask=attention).logits, targets, spans))
    positions = sum(b - a for _, _, spans in batches for a, b in spans)
    timings: dict[str, float] = {}
    results: dict[str, list] = {}

    def both():
        for _ in range(3):
            for name, fn in (("full_log_softmax", full_log_softmax_logps), ("chunked", implicit._token_logps)):
                start = time.perf_counter()
                results[name] = [fn(logits, targets, spans) for logits, targets, spans in batches]
                timings[name] = min(timings.get(name, float("inf")), time.perf_counter() - start)

    with torch.inference_mode():
        benchmark.pedantic(both, rounds=1, iterations=1, warmup_rounds=0)
    for old, new in zip(results["full_log_softmax"], results["chunked"]):
        assert torch.allclose(new, old, rtol=1e-5, atol=1e-5), (old, new)
    arm = {"positions": positions, "vocabulary": batches[0][0].shape[-1],
           "full_log_softmax_seconds": round(timings["full_log_softmax"], 4),
           "chunked_seconds": round(timings["chunked"], 4),
           "full_positions_per_second": round(positions / timings["full_log_softmax"], 1),
           "chunked_positions_per_second": round(positions / timings["chunked"], 1),
           "speedup": round(timings["full_log_softmax"] / timings["chunked"], 3),
           "loadavg": round(os.getloadavg()[0], 2)}
    benchmark.extra_info.update(arm)
    RESULTS["reduction"] = arm
    print("\nlog-probability reduction: " + ", ".join(f"{k}={v}" for k, v in arm.items()))
