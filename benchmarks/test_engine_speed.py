"""How much faster the scoring engine is than a naive loop, on a real model and real data.

SmolLM2-135M-Instruct as a sequence classifier (random reward head, seed 0: the same
head in every arm) scores RM-Bench chat: each prompt has 3 chosen and 3 rejected
completions, compared 3x3, so 9 pairs and 6 distinct texts per prompt.

- naive: each pair's chosen and rejected text scored separately (18 texts per prompt),
  in dataset order, fixed batches of 8, right padding, no sort, no dedup, fp32, the HF
  model's own forward (`model(input_ids, attention_mask).logits[:, 0]`).
- engine: `score_examples` with `ClassifierScorer` (unique texts once, sorted by length,
  token-budget batches, reward read at the last real token) in fp32, in the dtype
  `dtype="auto"` picks on this machine, and in bf16.

Each arm runs once (pedantic, 1 round) on the same fixed subset (the first N prompts;
RMBENCH_BENCH_PROMPTS, default in conftest.py). Timings are reported, never asserted;
the assertion is that the fp32 engine decides every pair as the fp32 naive loop does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import pytest
import torch

from benchmarks.conftest import SUMMARY, bench_prompts, probe_gflops, summary_lines

NAIVE_BATCH = 8
TARGET_SPEEDUP = 2.5
# fp32 results of the same text differ between batch shapes by ~1e-6; a pair whose two
# rewards are closer than this is a near-tie either arm could legitimately decide either way.
NEAR_TIE = 1e-4

_SCORERS: dict[str, object] = {}
_NAIVE: dict[str, ArmRun] = {}


@dataclass
class ArmRun:
    decisions: list[bool]  # per pair: chosen scored above rejected
    chosen: list[float]  # per pair: the chosen text's reward as this arm computed it
    rejected: list[float]
    seconds: float
    lengths: list[int] = field(default_factory=list)  # real tokens of every sequence run through the model
    padded_tokens: int = 0  # rows x longest, summed over batches
    load: tuple = ()
    probe: tuple = ()


def get_scorer(dtype: str, gguf, compile: bool = False) -> object:
    from rmbench.scoring.classifier import ClassifierScorer

    key = f"{dtype}-compiled" if compile else dtype
    if key not in _SCORERS:
        _SCORERS[key] = ClassifierScorer(str(gguf), allow_random_head=True, seed=0, dtype=dtype, compile=compile)
    return _SCORERS[key]


def pairs_of(examples):
    for ex in examples:
        for chosen in ex.chosen:
            for rejected in ex.rejected:
                yield ex, chosen, rejected


@torch.inference_mode()
def warm_up(model) -> None:
    """One realistic batch first, so no arm pays for kernel set-up and first-touch allocations."""
    ids = torch.arange(5, 5 + 4 * 256, dtype=torch.long).reshape(4, 256)
    model(input_ids=ids, attention_mask=torch.ones_like(ids))


@torch.inference_mode()
def naive_loop(model, tokenizer, examples) -> ArmRun:
    """The obvious way: every pair's two texts, batches of 8 in dataset order, fp32."""
    texts = [(ex.prompt, text) for ex, chosen, rejected in pairs_of(examples) for text in (chosen, rejected)]
    tokenizer.padding_side = "right"
    rewards: list[float] = []
    lengths: list[int] = []
    padded = 0
    start = time.perf_counter()
    for first in range(0, len(texts), NAIVE_BATCH):
        batch = [tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": completion}],
                                               tokenize=False)
                 for prompt, completion in texts[first:first + NAIVE_BATCH]]
        encoded = tokenizer(batch, padding=True, add_special_tokens=False, return_tensors="pt")
        logits = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits
        rewards += logits[:, 0].float().tolist()
        lengths += encoded["attention_mask"].sum(dim=1).tolist()
        padded += encoded["input_ids"].numel()
    seconds = time.perf_counter() - start
    chosen, rejected = rewards[0::2], rewards[1::2]
    return ArmRun([c > r for c, r in zip(chosen, rejected)], chosen, rejected, seconds, lengths, padded)


def engine_run(scorer, examples) -> ArmRun:
    from rmbench.scoring.engine import score_examples

    shapes: list[tuple[list[int], int]] = []
    forward = scorer.forward

    def recording_forward(rows):  # records what the engine sends to the model; costs microseconds
        shapes.append(([len(r) for r in rows], max(len(r) for r in rows)))
        return forward(rows)

    scorer.forward = recording_forward
    try:
        start = time.perf_counter()
        result = score_examples(examples, scorer, cache_dir=None, show_progress=False)
        seconds = time.perf_counter() - start
    finally:
        del scorer.forward
    chosen, rejected = [], []
    for e, ex in enumerate(examples):
        for i in range(len(ex.chosen)):
            for j in range(len(ex.rejected)):
                chosen.append(result.chosen[e][i])
                rejected.append(result.rejected[e][j])
    return ArmRun([c > r for c, r in zip(chosen, rejected)], chosen, rejected, seconds,
                  [n for lens, _ in shapes for n in lens], sum(len(lens) * longest for lens, longest in shapes))


def timed(benchmark, fn) -> ArmRun:
    before, probe = os.getloadavg(), probe_gflops()
    run = benchmark.pedantic(fn, rounds=1, iterations=1, warmup_rounds=0)
    run.load = (round(before[0], 2), round(os.getloadavg()[0], 2))
    run.probe = (probe, probe_gflops())
    return run


def model_flops(model, lengths: list[int]) -> float:
    """2*N*L + 2*n_layers*d*L^2 per sequence: weight matmuls plus causal QK^T and AV."""
    config = model.config
    embedding = model.get_input_embeddings().weight.numel()
    non_embedding = sum(p.numel() for p in model.parameters()) - embedding
    layers, hidden = config.num_hidden_layers, config.hidden_size
    return float(sum(2 * non_embedding * n + 2 * layers * hidden * n * n for n in lengths))


def record(benchmark, name: str, dtype: str, run: ArmRun, model, peak: dict, naive: ArmRun | None) -> dict:
    pairs = len(run.decisions)
    tokens = sum(run.lengths)
    gflops = model_flops(model, run.lengths) / run.seconds / 1e9
    arm = {"dtype": dtype, "prompts": bench_prompts(), "pairs": pairs, "seconds": round(run.seconds, 2),
           "pairs_per_second": round(pairs / run.seconds, 3), "sequences_scored": len(run.lengths),
           "tokens": tokens, "tokens_per_second": round(tokens / run.seconds, 1),
           "padded_tokens": run.padded_tokens, "padding_fraction": round(1 - tokens / run.padded_tokens, 4),
           "gflops": round(gflops, 2), "fraction_of_bf16_peak": round(gflops / peak["bf16"]["gflops"], 4),
           "fraction_of_same_dtype_peak": round(gflops / peak[dtype]["gflops"], 4),
           "accuracy_random_head": round(sum(run.decisions) / pairs, 4),
           "torch_threads": torch.get_num_threads(), "loadavg_before_after": run.load,
           "probe_fp32_gflops_before_after": run.probe}
    if naive is not None:
        differing = [k for k, (a, b) in enumerate(zip(run.decisions, naive.decisions)) if a != b]
        arm.update({"speedup_vs_naive": round(naive.seconds / run.seconds, 3),
                    "meets_target_speedup": naive.seconds / run.seconds >= TARGET_SPEEDUP,
                    "agreement": round(1 - len(differing) / pairs, 5), "decisions_differing": len(differing),
                    "max_abs_reward_diff_vs_naive": max(
                        abs(a - b) for a, b in zip(run.chosen + run.rejected, naive.chosen + naive.rejected)),
                    "differing_pair_margins": [  # (this arm's margin, naive margin) of each flipped pair
                        (round(run.chosen[k] - run.rejected[k], 7), round(naive.chosen[k] - naive.rejected[k], 7))
                        for k in differing[:20]]})
    benchmark.extra_info.update(arm)
    SUMMARY["arms"][name] = arm
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in arm.items() if k != "differing_pair_margins"))
    return arm


def naive_result(gguf, examples, benchmark=None) -> ArmRun:
    """The naive fp32 loop on the very model object the fp32 engine scores with."""
    if "fp32" not in _NAIVE:
        scorer = get_scorer("fp32", gguf)
        assert scorer.template_mode == "tokenizer"  # the naive loop formats with the chat template too
        warm_up(scorer.model)
        fn = lambda: naive_loop(scorer.model, scorer.tokenizer, examples)  # noqa: E731
        _NAIVE["fp32"] = timed(benchmark, fn) if benchmark is not None else fn()  # else: only a reference
    return _NAIVE["fp32"]


def test_naive_loop(benchmark, smollm2_gguf, rm_bench_chat, matmul_peak):
    benchmark.group = "rm-bench-chat"
    _NAIVE.pop("fp32", None)
    run = naive_result(smollm2_gguf, rm_bench_chat, benchmark)
    record(benchmark, "naive", "fp32", run, get_scorer("fp32", smollm2_gguf).model, matmul_peak, None)
    assert len(run.decisions) == 9 * len(rm_bench_chat)


@pytest.mark.parametrize("dtype", ["fp32", "auto", "bf16"])
def test_engine(benchmark, dtype, smollm2_gguf, rm_bench_chat, matmul_peak):
    from rmbench.scoring.runtime import dtype_name

    benchmark.group = "rm-bench-chat"
    naive = naive_result(smollm2_gguf, rm_bench_chat)
    reference = get_scorer("fp32", smollm2_gguf).model
    scorer = get_scorer(dtype, smollm2_gguf)
    resolved = dtype_name(scorer.dtype)
    # Same weights and the same seeded random head as the naive arm (up to this arm's dtype).
    reference_state = reference.state_dict()
    same_weights = scorer.model is reference or all(
        torch.equal(v, reference_state[k].to(v.dtype)) for k, v in scorer.model.state_dict().items())
    assert same_weights, f"engine-{dtype} does not score with the naive arm's weights"
    benchmark.extra_info.update({"requested_dtype": dtype, "same_weights_as_naive": same_weights,
                                 "engine_batch_tokens": scorer.batch_tokens})
    warm_up(scorer.model)
    run = timed(benchmark, lambda: engine_run(scorer, rm_bench_chat))
    arm = record(benchmark, f"engine-{dtype}", resolved, run, scorer.model, matmul_peak, naive)
    assert len(run.lengths) == 6 * len(rm_bench_chat)  # every distinct text scored once

    if resolved == "fp32":
        flipped = arm["differing_pair_margins"]
        # Identical decisions expected; a flip is only acceptable on a near-tie, and rarely.
        assert all(min(abs(a), abs(b)) < NEAR_TIE for a, b in flipped), f"non-tie decisions differ: {flipped}"
        assert arm["agreement"] >= 0.99, arm
        assert arm["max_abs_reward_diff_vs_naive"] < 1e-3, arm


def test_engine_compiled(benchmark, smollm2_gguf, rm_bench_chat, matmul_peak):
    """`--compile` at the default dtype: the compile happens in the untimed warm-up batch and is
    reported apart (compile_seconds), with the number of pairs after which it has paid for itself."""
    from rmbench.scoring.runtime import dtype_name

    benchmark.group = "rm-bench-chat"
    naive = naive_result(smollm2_gguf, rm_bench_chat)
    scorer = get_scorer("auto", smollm2_gguf, compile=True)
    start = time.perf_counter()
    scorer.forward([list(range(5, 5 + 256))] * 4)  # compiles (dynamic shapes: later batches reuse the graph)
    compile_seconds = time.perf_counter() - start
    run = timed(benchmark, lambda: engine_run(scorer, rm_bench_chat))
    resolved = dtype_name(scorer.dtype)
    arm = record(benchmark, "engine-compiled", resolved, run, scorer.model, matmul_peak, naive)
    plain = SUMMARY["arms"].get("engine-auto")
    saved_per_pair = (plain["seconds"] - arm["seconds"]) / arm["pairs"] if plain else None
    arm.update({"compile_seconds": round(compile_seconds, 1),
                "break_even_pairs": round(compile_seconds / saved_per_pair) if saved_per_pair and saved_per_pair > 0
                else None})
    benchmark.extra_info.update(arm)
    print(f"engine-compiled: compile {compile_seconds:.1f} s, break-even after {arm['break_even_pairs']} pairs")
    if resolved == "fp32":
        assert arm["max_abs_reward_diff_vs_naive"] < 1e-3, arm
    print("\n" + "\n".join(summary_lines()))
