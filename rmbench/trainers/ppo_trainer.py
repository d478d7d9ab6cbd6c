"""PPOTrainer: rollouts, GAE, num_ppo_epochs of clipped updates, logs and resumable checkpoints.

The arithmetic is in rmbench.trainers.ppo_core (pure tensor functions); models, rewards and
sampling in rmbench.trainers.ppo_models; this module is the loop (see rmbench.trainers.ppo
for the algorithm step by step). Usable from Python with models already in memory.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from rmbench import runs
from rmbench.errors import DataError
from rmbench.terminal import console
from rmbench.trainers import ppo_core as core
from rmbench.trainers.metadata import write_checkpoint_metadata
from rmbench.trainers.ppo_config import PPOConfig
from rmbench.trainers.ppo_models import (
    PolicyAndValue,
    Rollout,
    disable_dropout,
    encode_prompts,
    pad_rows,
    position_ids,
    sample,
    stop_token_ids,
)

LOG_FILE = "ppo_log.jsonl"
STATE_FILE = "ppo_state.pt"
VALUE_FOLDER = "value_model"


def make_accelerator(bf16: bool) -> Accelerator:
    """accelerate keeps one state per process and refuses an Accelerator of another precision; a
    trainer that ran earlier in this process (a pipeline's rm stage, a TRL config left at bf16) may
    have set one, so PPO starts from its own (the process group, if any, is kept)."""
    precision = "bf16" if bf16 else "no"
    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != precision:
        AcceleratorState._reset_state(reset_partial_state=False)
    # Without CUDA, CPU processes (gloo) are asked for: left to itself accelerate would make every
    # process of a launch a separate one-process run, each writing the same checkpoints.
    return Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available())


class PPOTrainer:
    """The PPO loop over prompts; usable from Python with models already in memory."""

    def __init__(self, config: PPOConfig, policy, ref_policy, value_model, tokenizer, reward: Callable,
                 prompts: Sequence[list[dict]], out: Path, seed: int = 42, meta: dict | None = None,
                 on_save: Sequence[Callable[[Path, int], None]] = (), show_progress: bool = False, accelerator=None):
        if not prompts:
            raise DataError("ppo has no prompts to train on")
        self.config, self.tokenizer, self.reward, self.prompts = config, tokenizer, reward, list(prompts)
        self.out, self.seed, self.meta = Path(out), seed, dict(meta or {})
        self.on_save, self.show_progress = list(on_save), show_progress
        self.accelerator = accelerator or make_accelerator(config.bf16)
        self.stop_ids = stop_token_ids(tokenizer, policy)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]
        for model in (policy, value_model, ref_policy):
            disable_dropout(model)
        if config.activation_checkpointing:
            for model in (policy, value_model):
                model.gradient_checkpointing_enable()
        wrapper = PolicyAndValue(policy, value_model)
        wrapper.train()
        optimizer = torch.optim.AdamW(wrapper.parameters(), lr=config.learning_rate,
                                      weight_decay=config.weight_decay)
        self.total_steps = self._count_steps()
        updates = self.total_steps * config.num_ppo_epochs * config.num_mini_batches
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config, updates))
        self.model, self.optimizer = self.accelerator.prepare(wrapper, optimizer)
        self.ref_policy = ref_policy.to(self.accelerator.device).eval().requires_grad_(False)
        self.sampler = torch.Generator(device=self.accelerator.device)
        self.sampler.manual_seed(seed + 1000 * self.accelerator.process_index)
        torch.manual_seed(seed + 1000 * self.accelerator.process_index)  # minibatch shuffles
        self.step = 0
        self.prompts_cut = 0
        self._orders: dict[int, list[int]] = {}

    # -- schedule of prompts
    def _count_steps(self) -> int:
        config = self.config
        global_batch = config.local_batch_size * self.accelerator.num_processes
        if config.max_steps:
            return config.max_steps
        episodes = config.total_episodes or math.ceil(config.num_train_epochs * len(self.prompts))
        return max(1, math.ceil(episodes / global_batch))

    def prompts_for_step(self, step: int) -> list[list[dict]]:
        """This process's prompts for a step (1-based): a seeded reshuffle of all prompts each pass,
        so the stream depends only on the seed and the step (resuming needs no sampler state)."""
        size = self.config.local_batch_size
        start = ((step - 1) * self.accelerator.num_processes + self.accelerator.process_index) * size
        chosen = []
        for position in range(start, start + size):
            epoch, index = divmod(position, len(self.prompts))
            if epoch not in self._orders:
                generator = torch.Generator().manual_seed(self.seed + epoch)
                self._orders = {epoch: torch.randperm(len(self.prompts), generator=generator).tolist()}
            chosen.append(self.prompts[self._orders[epoch][index]])
        return chosen

    # -- rollout
    @torch.no_grad()
    def rollout(self, prompts: list[list[dict]]) -> Rollout:
        config, device = self.config, self.accelerator.device
        wrapper = self.accelerator.unwrap_model(self.model)
        wrapper.eval()  # dropout is off anyway; eval keeps the KV cache on under activation checkpointing
        rows, cut = encode_prompts(self.tokenizer, prompts, config.max_prompt_length)
        self.prompts_cut += cut
        query, query_mask = pad_rows(rows, self.pad_id, left=True)
        query, query_mask = query.to(device), query_mask.to(device)
        chunk = config.rollout_forward_batch_size
        with self.accelerator.autocast():
            pieces = [sample(wrapper.policy, query[i:i + chunk], query_mask[i:i + chunk], config.response_length,
                             config.temperature, self.stop_ids, self.pad_id, self.sampler)
                      for i in range(0, len(rows), chunk)]
        width = max(p.shape[1] for p in pieces)
        response = torch.cat([nn.functional.pad(p, (0, width - p.shape[1]), value=self.pad_id) for p in pieces])
        mask, has_stop = core.completion_mask(response, self.stop_ids)
        response = torch.where(mask.bool(), response, torch.full_like(response, self.pad_id))
        input_ids = torch.cat([query, response], dim=1)
        attention = torch.cat([query_mask, mask], dim=1)
        start = query.shape[1]

        logprobs, ref_logprobs, values, entropy = [], [], [], []
        with self.accelerator.autocast():
            for i in range(0, len(rows), chunk):
                ids, att = input_ids[i:i + chunk], attention[i:i + chunk]
                logits, value = wrapper(ids, att, start)
                logits = logits.float() / config.temperature
                logprobs.append(core.logprobs_from_logits(logits, response[i:i + chunk]))
                entropy.append(core.entropy_from_logits(logits))
                values.append(value)
                ref_logits = self.ref_policy(input_ids=ids, attention_mask=att, position_ids=position_ids(att),
                                             use_cache=False, logits_to_keep=width + 1).logits[:, :-1]
                ref_logprobs.append(core.logprobs_from_logits(ref_logits.float() / config.temperature,
                                                              response[i:i + chunk]))
        logprobs, ref_logprobs = torch.cat(logprobs), torch.cat(ref_logprobs)
        values, entropy = torch.cat(values).float(), torch.cat(entropy)

        lengths = (mask.sum(1) - has_stop.long()).tolist()  # the text ends before the stop token
        completions = [self.tokenizer.decode(response[n, :lengths[n]].tolist(), skip_special_tokens=True)
                       for n in range(len(rows))]
        raw_scores = self.reward(prompts, completions).to(device=device, dtype=torch.float32)
        scores = core.apply_missing_eos_penalty(raw_scores, has_stop, config.missing_eos_penalty)

        fmask = mask.float()
        kl = core.kl_per_token(logprobs, ref_logprobs, config.kl_estimator) * fmask
        rewards = core.per_token_rewards(scores, kl, mask, config.kl_coef)
        if config.whiten_rewards:
            rewards = core.masked_whiten(rewards, mask, shift_mean=False)
        advantages, returns = core.gae(rewards, values, mask, config.gamma, config.lam)
        if config.whiten_advantages:
            advantages = core.masked_whiten(advantages, mask)
        stats = {"reward": scores.mean(), "reward_std": scores.std() if len(scores) > 1 else scores.new_zeros(()),
                 "score_raw": raw_scores.mean(), "kl": kl.sum(1).mean(),
                 "non_score_reward": (-config.kl_coef * kl).sum(1).mean(),
                 "entropy": core.masked_mean(entropy, mask), "completion_length": fmask.sum(1).mean(),
                 "eos_fraction": has_stop.float().mean(), "value_mean": core.masked_mean(values, mask),
                 "completion_tokens": fmask.sum()}
        self.last_completions = completions
        return Rollout(input_ids, attention, start, mask, logprobs, values, advantages, returns, stats)

    # -- update
    def update(self, rollout: Rollout) -> dict:
        config = self.config
        micro, accumulation = config.per_device_train_batch_size, config.gradient_accumulation_steps
        minibatch = micro * accumulation
        totals: dict[str, float] = {}
        count = 0
        self.model.train()
        for _ in range(config.num_ppo_epochs):
            order = torch.randperm(len(rollout)).to(rollout.input_ids.device)
            for first in range(0, len(rollout), minibatch):
                chosen = order[first:first + minibatch]
                for k in range(accumulation):
                    rows = chosen[k * micro:(k + 1) * micro]
                    sync = k == accumulation - 1
                    context = contextlib.nullcontext() if sync else self.accelerator.no_sync(self.model)
                    with context:
                        loss, stats = self._loss(rollout, rows)
                        self.accelerator.backward(loss / accumulation)
                    for key, value in stats.items():
                        totals[key] = totals.get(key, 0.0) + float(value)
                    count += 1
                if config.max_grad_norm:
                    self.accelerator.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
        return {key: value / count for key, value in totals.items()}

    def _loss(self, rollout: Rollout, rows: torch.Tensor) -> tuple[torch.Tensor, dict]:
        config = self.config
        mask = rollout.mask[rows]
        width = int(mask.sum(1).max())  # trailing columns that are padding in every row are skipped
        end = rollout.response_start + width
        ids, att = rollout.input_ids[rows, :end], rollout.attention_mask[rows, :end]
        mask = mask[:, :width]
        logits, values = self.model(ids, att, rollout.response_start)
        logprobs = core.logprobs_from_logits(logits.float() / config.temperature, ids[:, rollout.response_start:])
        policy_loss, policy_stats = core.clipped_policy_loss(
            logprobs, rollout.logprobs[rows, :width], rollout.advantages[rows, :width], mask, config.cliprange)
        value_loss, value_clipfrac = core.clipped_value_loss(
            values, rollout.values[rows, :width], rollout.returns[rows, :width], mask, config.cliprange_value)
        loss = policy_loss + config.vf_coef * value_loss
        return loss, {"policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
                      "clipfrac": policy_stats["clipfrac"], "approx_kl": policy_stats["approx_kl"],
                      "value_clipfrac": value_clipfrac}

    # -- the loop
    def train(self) -> list[dict]:
        logs = []
        is_main = self.accelerator.is_main_process
        progress = Progress(TextColumn("ppo"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            TextColumn("{task.description}"), console=console,
                            disable=not (self.show_progress and is_main))
        with progress:
            task = progress.add_task("", total=self.total_steps, completed=self.step)
            while self.step < self.total_steps:
                began = time.perf_counter()
                step = self.step + 1
                rollout = self.rollout(self.prompts_for_step(step))
                stats = {**rollout.stats, **self.update(rollout)}
                self.step = step
                seconds = time.perf_counter() - began
                record = self._record(stats, seconds)
                logs.append(record)
                if step % self.config.logging_steps == 0 or step == self.total_steps:
                    self._log(record, is_main)
                progress.update(task, completed=step, description=f"reward {record['reward']:.3f} "
                                                                   f"kl {record['kl']:.3f}")
                if self.config.save_steps and step % self.config.save_steps == 0:
                    self.save_checkpoint(self.out / f"checkpoint-{step}")
        return logs

    def _record(self, stats: dict, seconds: float) -> dict:
        keys = sorted(stats)
        local = torch.tensor([float(stats[k]) for k in keys], device=self.accelerator.device)
        merged = self.accelerator.reduce(local, reduction="mean").tolist()
        record = {"step": self.step, **{k: round(v, 6) for k, v in zip(keys, merged)}}
        record["completion_tokens"] = round(record["completion_tokens"] * self.accelerator.num_processes)
        record["episode"] = self.step * self.config.local_batch_size * self.accelerator.num_processes
        record["learning_rate"] = self.scheduler.get_last_lr()[0]
        record["step_s"] = round(seconds, 4)
        record["tokens_per_s"] = round(record["completion_tokens"] / max(seconds, 1e-9), 2)
        return record

    def _log(self, record: dict, is_main: bool) -> None:
        if not is_main:
            return
        with (self.out / LOG_FILE).open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if not self.show_progress:
            console.print(f"ppo step {record['step']}/{self.total_steps}: reward {record['reward']:.4f} "
                          f"kl {record['kl']:.4f} entropy {record['entropy']:.3f} clipfrac {record['clipfrac']:.3f} "
                          f"value_loss {record['value_loss']:.4f} approx_kl {record['approx_kl']:.5f} "
                          f"{record['tokens_per_s']:.0f} tok/s", highlight=False, soft_wrap=True)

    # -- checkpoints
    def save_policy(self, folder: Path) -> None:
        """The policy as a plain causal LM folder with its tokenizer and rmbench.json."""
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            wrapper = self.accelerator.unwrap_model(self.model)
            folder.mkdir(parents=True, exist_ok=True)
            wrapper.policy.save_pretrained(folder)
            self.tokenizer.save_pretrained(folder)
            write_checkpoint_metadata(folder, self.meta, self.step)
        self.accelerator.wait_for_everyone()

    def save_checkpoint(self, folder: Path) -> None:
        """Policy + value model + optimizer, scheduler, step and RNG states: enough for --resume."""
        self.save_policy(folder)
        if self.accelerator.is_main_process:
            wrapper = self.accelerator.unwrap_model(self.model)
            wrapper.value_model.save_pretrained(folder / VALUE_FOLDER)
            torch.save({"step": self.step, "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(), "config": asdict(self.config)},
                       folder / STATE_FILE)
        torch.save(_rng_state(self.sampler), folder / f"rng-{self.accelerator.process_index}.pt")
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            self._prune_checkpoints()
        self._after_save(folder)

    def _after_save(self, folder: Path) -> None:
        if self.accelerator.is_main_process:
            for hook in self.on_save:
                hook(folder, self.step)

    def _prune_checkpoints(self) -> None:
        limit = self.config.save_total_limit
        if not limit:
            return
        for old in runs.checkpoints(self.out)[:-limit]:
            shutil.rmtree(old, ignore_errors=True)

    def load_state(self, folder: Path) -> None:
        """Optimizer, scheduler, step and RNG states of a checkpoint (weights are loaded with the models)."""
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        rng_file = folder / f"rng-{self.accelerator.process_index}.pt"
        if rng_file.is_file():
            _set_rng_state(torch.load(rng_file, map_location="cpu", weights_only=True), self.sampler)


def _schedule(config: PPOConfig, updates: int) -> Callable[[int], float]:
    warmup = int(config.warmup_steps)

    def factor(update: int) -> float:
        if warmup and update < warmup:
            return (update + 1) / warmup
        if config.lr_scheduler_type == "constant":
            return 1.0
        return max(0.0, (updates - update) / max(1, updates - warmup))
    return factor


def _rng_state(sampler: torch.Generator) -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state(), "sampler": sampler.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, sampler: torch.Generator) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    sampler.set_state(state["sampler"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resumable_checkpoint(out: Path) -> Path | None:
    found = [p for p in runs.checkpoints(out) if (p / STATE_FILE).is_file()]
    return found[-1] if found else None
