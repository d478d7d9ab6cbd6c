"""RM training throughput: rmbench's defaults against TRL's RewardTrainer at its own defaults.

Same model (SmolLM2-135M-Instruct with a seeded random reward head), same data (the first
pairs of ../shared/data/llamafactory/dpo_en_demo.json through rmbench's adapters), same
steps, batch size and max_length, in one run. The only differences are the defaults:

- TRL: `RewardConfig(use_cpu=True)` on a machine without a GPU (TRL cannot start
  otherwise) and everything else at its default: bf16 autocast, gradient checkpointing on.
- rmbench: `rmbench.trainers.run.device_args`: fp32 where the CPU has no native bf16,
  activation checkpointing off (small models fit without recomputation), and the rm
  recipe's length-grouped batches (`rmbench.trainers.sampling`). A third arm without the
  grouping separates its share of the gain.

Reported: tokens/s (TRL's own `num_tokens` count over `train_runtime`) and the ratio.
Timings are recorded, never asserted; the assertion is only that both arms trained.
"""

from __future__ import annotations

import copy
import tempfile

import pytest

STEPS = 6
BATCH = 4
MAX_LENGTH = 256
PAIRS = 48
RESULTS: dict = {}


@pytest.fixture(scope="module")
def setup(smollm2_gguf):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from benchmarks.conftest import SHARED_DATA
    from rmbench import models
    from rmbench.data import load_preferences
    from rmbench.trainers.data import preference_rows

    data = SHARED_DATA / "llamafactory" / "dpo_en_demo.json"
    if not data.is_file():
        pytest.skip(f"{data} is absent")
    folder = models.resolve_checkpoint(str(smollm2_gguf))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    rows = preference_rows(load_preferences(str(data), limit=PAIRS))
    return model, tokenizer, Dataset.from_list(rows)


def run_arm(setup, extra: dict, grouped: bool = False) -> dict:
    from trl import RewardConfig, RewardTrainer

    from rmbench.trainers.sampling import with_pair_length_grouping

    model, tokenizer, dataset = setup
    with tempfile.TemporaryDirectory() as out:
        args = RewardConfig(output_dir=out, max_steps=STEPS, per_device_train_batch_size=BATCH,
                            max_length=MAX_LENGTH, save_strategy="no", logging_steps=1, report_to="none",
                            seed=0, **extra)
        trainer_class = with_pair_length_grouping(RewardTrainer) if grouped else RewardTrainer
        trainer = trainer_class(model=copy.deepcopy(model), args=args, train_dataset=dataset,
                                processing_class=tokenizer)
        output = trainer.train()
    tokens = max(float(h.get("num_tokens", 0)) for h in trainer.state.log_history)
    seconds = output.metrics["train_runtime"]
    masks = [b["attention_mask"] for b in trainer.get_train_dataloader()]
    padding = 1 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)
    return {"seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / seconds, "padding_share": padding,
            "bf16": bool(args.bf16), "checkpointing": bool(args.gradient_checkpointing)}


@pytest.mark.benchmark(group="rm-training")
def test_trl_defaults(benchmark, setup):
    RESULTS["trl"] = benchmark.pedantic(run_arm, args=(setup, {"use_cpu": True}), rounds=1, iterations=1)
    benchmark.extra_info.update(RESULTS["trl"])
    assert RESULTS["trl"]["tokens"] > 0


@pytest.mark.benchmark(group="rm-training")
def test_rmbench_without_grouping(benchmark, setup):
    from rmbench.trainers.run import device_args

    extra = device_args({})
    extra.pop("report_to")
    RESULTS["ungrouped"] = benchmark.pedantic(run_arm, args=(setup, extra), rounds=1, iterations=1)
    benchmark.extra_info.update(RESULTS["ungrouped"])
    assert RESULTS["ungrouped"]["tokens"] > 0


@pytest.mark.benchmark(group="rm-training")
def test_rmbench_defaults(benchmark, setup):
    from rmbench.trainers.recipes import load_recipe
    from rmbench.trainers.run import device_args

    recipe, _ = load_recipe("rm", None, {}, {"train_sampling_strategy", "learning_rate", "num_train_epochs",
                                              "per_device_train_batch_size", "gradient_accumulation_steps",
                                              "max_length", "center_rewards_coefficient", "logging_steps",
                                              "save_steps", "save_total_limit", "lr_scheduler_type"})
    extra = device_args({"train_sampling_strategy": recipe["train_sampling_strategy"]})
    extra.pop("report_to")
    RESULTS["rmbench"] = benchmark.pedantic(run_arm, args=(setup, extra, True), rounds=1, iterations=1)
    benchmark.extra_info.update(RESULTS["rmbench"])
    for arm in ("trl", "ungrouped", "rmbench"):
        if arm in RESULTS:
            r = RESULTS[arm]
            print(f"\n{arm}: {r['tokens_per_second']:.0f} tokens/s, padding {100 * r['padding_share']:.1f}%, "
                  f"bf16={r['bf16']}, checkpointing={r['checkpointing']}")
    if "trl" in RESULTS:
        ratio = RESULTS["rmbench"]["tokens_per_second"] / RESULTS["trl"]["tokens_per_second"]
        benchmark.extra_info["ratio_vs_trl_defaults"] = ratio
        print(f"rmbench vs TRL defaults: {ratio:.2f}x")
    assert RESULTS["rmbench"]["tokens"] > 0
