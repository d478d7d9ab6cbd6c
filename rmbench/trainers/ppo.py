"""PPO for language models, written in rmbench on transformers + accelerate.

TRL 1.x no longer ships a PPO trainer (it moved to trl.experimental and was then deleted,
together with AutoModelForCausalLMWithValueHead), so rmbench has its own. The pure tensor
arithmetic lives in rmbench.trainers.ppo_core; this module holds the loop:

1. rollout: a batch of prompts (chat template with the generation prompt, left padding,
   cut from the left to max_prompt_length) is sampled from the policy by a plain
   KV-cached sampling loop at `temperature` (no top-k/top-p, no hidden generation-config
   defaults: the log-probabilities trained on are those of the distribution sampled from),
   with a seeded generator of its own;
2. a completion ends at its first stop token (the tokenizer's EOS and the model's
   generation-config EOS ids); one without a stop token within response_length is
   truncated and, when missing_eos_penalty is set, loses that much from its score;
3. the score comes from an rmbench reward model checkpoint (a sequence classifier scored
   exactly as `rmbench eval` scores it: its own tokenizer and chat template, reward read at
   the last real token) or from a Python function; the frozen reference policy (the
   starting model) gives per-token KL;
4. rewards: -kl_coef * KL_t on every completion token and the score added at the last
   real token (KL in the reward, not in the loss); optionally whitened (whiten_rewards:
   divided by their masked standard deviation, sign kept);
5. advantages and returns by GAE (gamma, lam) from the value model's per-token values;
   advantages are whitened over the batch (whiten_advantages);
6. num_ppo_epochs passes over shuffled minibatches of the rollout batch, each minibatch one
   optimizer step over gradient_accumulation_steps micro-batches, minimising the clipped
   policy loss (cliprange) + vf_coef * the clipped value loss (cliprange_value).

The value model is a separate model with its own scalar head (a sequence-classification
model whose `score` head is applied at every position), initialised from the reward model
when it shares the policy's tokenizer, else from the policy with a zero head
(`value_model`: auto | policy | reward | PATH). Policy and value are trained by one AdamW
optimizer. Dropout is switched off in both (PPO's ratio assumes the same function at
rollout and update time).

Reward functions: `reward_fn=module:function` or `reward_fn=path/to/file.py:function`,
called as function(prompts, completions) -> list of floats, one per completion, where
prompts are the prompt messages' contents joined by blank lines (rmbench's raw text form)
and completions are the decoded completion texts without special tokens or the stop token.

Output: RUN/ppo_log.jsonl (one line per logged step: reward, kl, entropy, clipfrac,
value_loss, approx_kl, tokens_per_s, ...), RUN/checkpoint-N every save_steps (policy,
tokenizer, rmbench.json; value_model/ and ppo_state.pt for --resume) and RUN/final.
After each save, every callable in `on_save` is called with (folder, step): the hook for
policy evaluation.

Limits: ZeRO-3 (partitioned weights) is not supported by the sampling loop; advantages
are whitened per process; LoRA is not supported yet.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from pathlib import Path

import torch

from rmbench import models, runs
from rmbench.data.skips import SkipLog
from rmbench.errors import RmbenchError
from rmbench.terminal import console
from rmbench.trainers import data as train_data
from rmbench.trainers.metadata import run_metadata
from rmbench.trainers.methods import get_method
from rmbench.trainers.ppo_config import PPOConfig, make_config
from rmbench.trainers.ppo_models import SequenceReward, choose_value_source, load_policy, load_reward, load_value_model
from rmbench.trainers.ppo_trainer import LOG_FILE, VALUE_FOLDER, PPOTrainer, make_accelerator, resumable_checkpoint
from rmbench.trainers.recipes import check_method_settings, check_value_types, load_recipe

__all__ = ["PPOConfig", "PPOTrainer", "train_ppo"]


def ppo_metadata(request, resolved: str, config: PPOConfig, settings: dict, value_source: str,
                 reward: SequenceReward) -> dict:
    meta = run_metadata(get_method("ppo"), request, resolved, config, settings)
    describe = getattr(reward.reward, "describe", None)
    meta.update({"reference_model": resolved, "reward_model": config.reward_model, "reward_fn": config.reward_fn,
                 "rewards": [describe()] if describe else [], "value_model": value_source,
                 "kl_coef": config.kl_coef, "ppo": asdict(config)})
    return meta


def train_ppo(request, on_save: Sequence[Callable[[Path, int], None]] = ()) -> dict:
    """`rmbench train ppo`: recipe, reward, prompts, models, the loop, checkpoints, final save.

    on_save: callables given (checkpoint folder, step) after each save (and after `final`).
    """
    names = {f.name for f in fields(PPOConfig)}
    train_args, settings = load_recipe("ppo", request.recipe, request.overrides, names)
    check_value_types(train_args, PPOConfig)
    check_method_settings(settings)
    config = make_config(train_args)
    config.check_reward()
    if settings["lora"] or settings["load_in_4bit"]:
        raise RmbenchError("ppo trains all weights: lora and load_in_4bit are not supported for ppo yet")
    reward = load_reward(config, request.seed)  # a typo'd reward fails before the run folder fills
    resolved = models.resolve_checkpoint(request.model)
    value_source = choose_value_source(config, request.model, models.load_tokenizer(resolved))
    if runs.is_main_process():  # under a launch, rank 0 alone: the others would see the folder it made
        runs.check_run_folder(request.out, request.method, request.model, resume=request.resume,
                              overwrite=request.overwrite)
    resume_from = resumable_checkpoint(request.out) if request.resume else None

    skips = SkipLog(strict=request.strict)  # --strict: the first record that would be skipped stops here
    examples = train_data.load_prompted("prompts", request.data, request.format, settings["max_examples"], skips)
    train_data.report_skips(skips)
    train_examples, heldout = train_data.split_examples(examples, settings["heldout_fraction"], request.seed)
    prompts = [row["prompt"] for row in train_data.prompt_rows(train_examples)]

    accelerator = make_accelerator(config.bf16)
    random.seed(request.seed)
    torch.manual_seed(request.seed)
    policy, tokenizer, _ = load_policy(str(resume_from) if resume_from else request.model)
    ref_policy, _, _ = load_policy(request.model)
    value_model = load_value_model(str(resume_from / VALUE_FOLDER) if resume_from else value_source,
                                   tokenizer.pad_token_id, request.seed)
    meta = ppo_metadata(request, resolved, config, settings, value_source, reward)
    if accelerator.is_main_process:  # everything is loaded and checked: only now is the folder touched
        runs.prepare_run_folder(request.out, request.method, request.model, resume=request.resume,
                                overwrite=request.overwrite)
        if heldout:
            train_data.write_prompt_file(request.out / "heldout-prompts.jsonl", heldout)
        runs.write_run(request.out, {**meta, "prompts": len(prompts), "heldout_prompts": len(heldout),
                                     **skips.records(), "request": asdict(request)})
    accelerator.wait_for_everyone()
    trainer = PPOTrainer(config, policy, ref_policy, value_model, tokenizer, reward, prompts, request.out,
                         seed=request.seed, meta=meta, on_save=on_save, show_progress=request.show_progress,
                         accelerator=accelerator)
    if resume_from:
        trainer.load_state(resume_from)
        _trim_log(request.out / LOG_FILE, trainer.step)
        console.print(f"resuming from {resume_from.name} (step {trainer.step} of {trainer.total_steps})")
    trainer.train()
    if trainer.prompts_cut and accelerator.is_main_process:
        console.print(f"[yellow]note:[/] {trainer.prompts_cut} prompts were cut from the left to "
                      f"max_prompt_length={config.max_prompt_length}")
    final = request.out / "final"
    trainer.save_policy(final)
    trainer._after_save(final)
    if accelerator.is_main_process:
        console.print(f"ppo: {trainer.step} steps; policy saved to {final}; log in {request.out / LOG_FILE}",
                      soft_wrap=True)
    return {"entries": [], "final": str(final), "steps": trainer.step}


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines of steps after the checkpoint a resumed run restarts from."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in kept))
