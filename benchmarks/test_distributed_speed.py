"""What a data-parallel eval gains on this machine: `accelerate launch --num_processes 2` vs one process.

SmolLM2-135M-Instruct as a sequence classifier with a random reward head (`--allow-random-head`,
seed 0) scores the first N RM-Bench chat prompts (RMBENCH_BENCH_PROMPTS, default in
conftest.py; 9 pairs, 6 distinct texts per prompt) through the real CLI in fp32, twice:

- one-process: `python -m rmbench eval ...` with 2 torch threads (OMP_NUM_THREADS=2);
- two-processes: `accelerate launch --multi_gpu --num_processes 2 -m rmbench eval ...`, CPU
  processes over gloo, 1 torch thread each: the same two cores, split by processes instead.

Each arm runs once (pedantic, 1 round), as a subprocess, wall time including start-up and
model loading; the record's own scoring time (rank 0's, which waits for the gather, so the
slower process) gives pairs/s of the scoring alone. The ratio is reported, never asserted;
the assertion is that both runs wrote byte-identical scores.jsonl files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.conftest import RM_BENCH_CHAT, bench_prompts, probe_gflops

ROOT = Path(__file__).resolve().parents[1]
_RUNS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def smollm2_folder(smollm2_gguf, rm_bench_chat) -> str:
    """The GGUF converted once, here, before any launch: two processes converting it at the same
    time would race for the cache folder (and the conversion is not what is measured)."""
    from rmbench import models

    return models.resolve_checkpoint(str(smollm2_gguf))


def _eval_args(model: str, out: Path) -> list[str]:
    return ["eval", "--reward", model, "--allow-random-head", "--seed", "0", "--data", str(RM_BENCH_CHAT),
            "--limit", str(bench_prompts()), "--dtype", "fp32", "--device", "cpu", "--no-progress",
            "--out", str(out)]


def _env(threads: int) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}


def _run(name: str, command: list[str], threads: int, out: Path) -> dict:
    load, before = os.getloadavg()[0], probe_gflops()
    started = time.perf_counter()
    done = subprocess.run(command, env=_env(threads), capture_output=True, text=True, timeout=3600, cwd=ROOT)
    wall = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-3000:]
    timing = json.loads((out / "results.json").read_text())["timing"]
    pairs = timing["comparisons"]
    run = {"processes": timing["processes"], "threads_per_process": threads, "pairs": pairs,
           "unique_completions": timing["unique_completions"], "tokens": timing["tokens"],
           "wall_seconds": round(wall, 2), "scoring_seconds": timing["scoring_seconds"],
           "pairs_per_second_wall": round(pairs / wall, 3),
           "pairs_per_second_scoring": round(pairs / timing["scoring_seconds"], 3),
           "tokens_per_second_scoring": timing["tokens_per_second"],
           "load_average_before": round(load, 2), "probe_fp32_gflops_before_after": (before, probe_gflops()),
           "scores": out / "scores.jsonl"}
    _RUNS[name] = run
    print(f"\n{name}: {run['processes']} process(es) x {threads} thread(s), {pairs} pairs: "
          f"wall {wall:.1f} s ({run['pairs_per_second_wall']} pairs/s), scoring {timing['scoring_seconds']} s "
          f"({run['pairs_per_second_scoring']} pairs/s), load {run['load_average_before']}, "
          f"probe b/a {run['probe_fp32_gflops_before_after']}")
    return run


def _extra(benchmark, run: dict) -> None:
    benchmark.extra_info.update({k: v for k, v in run.items() if k != "scores"})


def test_one_process_two_threads(benchmark, smollm2_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("one-process") / "run"
    command = [sys.executable, "-m", "rmbench", *_eval_args(smollm2_folder, out)]
    run = benchmark.pedantic(_run, args=("one-process", command, 2, out), rounds=1, iterations=1)
    _extra(benchmark, run)


def test_two_processes_one_thread_each(benchmark, smollm2_folder, tmp_path_factory):
    if "one-process" not in _RUNS:
        pytest.skip("needs test_one_process_two_threads first, in the same session (its scores are compared)")
    out = tmp_path_factory.mktemp("two-processes") / "run"
    launcher = Path(sys.executable).with_name("accelerate")
    command = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--main_process_port", "0", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "rmbench", *_eval_args(smollm2_folder, out)]
    run = benchmark.pedantic(_run, args=("two-processes", command, 1, out), rounds=1, iterations=1)
    one = _RUNS["one-process"]
    ratios = {"speedup_wall": round(one["wall_seconds"] / run["wall_seconds"], 3),
              "speedup_scoring": round(one["scoring_seconds"] / run["scoring_seconds"], 3)}
    _extra(benchmark, {**run, **ratios, "one_process": {k: v for k, v in one.items() if k != "scores"}})
    print(f"two processes vs one: {ratios['speedup_wall']}x wall, {ratios['speedup_scoring']}x scoring")
    assert run["processes"] == 2
    assert run["scores"].read_bytes() == one["scores"].read_bytes()
