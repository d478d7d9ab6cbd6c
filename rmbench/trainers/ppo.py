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

import contextlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from accelerate import Accelerator
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from rmbench import models, runs
from rmbench.errors import DataError, ModelError, RmbenchError
from rmbench.terminal import console
from rmbench.trainers import data as train_data
from rmbench.trainers import ppo_core as core
from rmbench.trainers.metadata import run_metadata, write_checkpoint_metadata
from rmbench.trainers.methods import get_method
from rmbench.trainers.recipes import RecipeError, check_method_settings, check_value_types, load_recipe
from rmbench.trainers.rewards import load_rewards

LOG_FILE = "ppo_log.jsonl"
STATE_FILE = "ppo_state.pt"
VALUE_FOLDER = "value_model"
HEAD = "score"


@dataclass
class PPOConfig:
    """Everything `train:` in trainers/ppo.yaml (or --set) may set for `rmbench train ppo`."""

    # reward: exactly one of the two
    reward_model: str | None = None  # rmbench RM checkpoint (sequence classifier): folder, .gguf or hub id
    reward_fn: str | None = None  # module:function or path/to/file.py:function; (prompts, completions) -> floats
    value_model: str = "auto"  # auto | policy | reward | a checkpoint path
    # rollouts
    response_length: int = 128  # most completion tokens sampled
    max_prompt_length: int = 512  # longer prompts are cut from the left
    temperature: float = 1.0
    missing_eos_penalty: float | None = None  # subtracted from the score of a completion with no stop token
    rollout_forward_batch_size: int = 16  # rows per sampling / no-grad forward chunk
    # batch: rollout batch per device = per_device_train_batch_size * gradient_accumulation_steps * num_mini_batches
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    num_mini_batches: int = 1
    num_ppo_epochs: int = 4
    # length of the run: max_steps, else total_episodes (completions), else num_train_epochs over the prompts
    max_steps: int | None = None
    total_episodes: int | None = None
    num_train_epochs: float = 1.0
    # optimisation
    learning_rate: float = 3e-6
    lr_scheduler_type: str = "linear"  # linear (decay to 0) | constant
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float | None = 1.0
    bf16: bool = False  # bf16 autocast (accelerate mixed precision)
    activation_checkpointing: bool = False
    # PPO
    kl_coef: float = 0.05
    kl_estimator: str = "k1"  # k1 | k3 (see ppo_core.kl_per_token)
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    whiten_rewards: bool = False
    whiten_advantages: bool = True
    # output
    logging_steps: int = 1
    save_steps: int = 100  # 0: only the final checkpoint
    save_total_limit: int | None = None

    def __post_init__(self):
        positive = ("response_length", "max_prompt_length", "rollout_forward_batch_size", "per_device_train_batch_size",
                    "gradient_accumulation_steps", "num_mini_batches", "num_ppo_epochs", "logging_steps")
        problems = [f"{name} must be a positive whole number" for name in positive
                    if not isinstance(getattr(self, name), int) or getattr(self, name) < 1]
        for name in ("max_steps", "total_episodes", "save_total_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                problems.append(f"{name} must be a positive whole number or null")
        for name in ("learning_rate", "temperature", "cliprange", "cliprange_value", "kl_coef", "vf_coef",
                     "gamma", "lam", "num_train_epochs", "weight_decay", "warmup_steps", "save_steps"):
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) < 0:
                problems.append(f"{name} must be a number >= 0")
        if not problems:
            if self.temperature <= 0 or self.cliprange <= 0 or self.cliprange_value <= 0:
                problems.append("temperature, cliprange and cliprange_value must be above 0")
            if self.gamma > 1 or self.lam > 1:
                problems.append("gamma and lam must lie in [0, 1]")
        if self.kl_estimator not in ("k1", "k3"):
            problems.append(f"kl_estimator must be k1 or k3, not {self.kl_estimator!r}")
        if self.lr_scheduler_type not in ("linear", "constant"):
            problems.append(f"lr_scheduler_type must be linear or constant, not {self.lr_scheduler_type!r}")
        if problems:
            raise RecipeError("ppo: " + "; ".join(problems))

    @property
    def local_batch_size(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps * self.num_mini_batches

    def check_reward(self) -> None:
        """Exactly one reward source, named in one clear line."""
        how = ("--set reward_model=CHECKPOINT (a sequence-classification reward model) or --set "
               "reward_fn=module:function (or path/to/file.py:function)")
        if self.reward_model is None and self.reward_fn is None:
            raise RmbenchError(f"ppo needs a reward: {how}")
        if self.reward_model is not None and self.reward_fn is not None:
            raise RmbenchError(f"ppo takes one reward, got both reward_model={self.reward_model} and "
                               f"reward_fn={self.reward_fn}: drop one")
        for name in ("reward_model", "reward_fn"):
            if isinstance(getattr(self, name), (list, tuple)):
                raise RmbenchError(f"ppo takes one reward, got a list for {name}: name one (or sum several "
                                   "in one Python function)")


def make_config(train_args: dict) -> PPOConfig:
    try:
        return PPOConfig(**train_args)
    except TypeError as err:  # a value of the wrong type reached a comparison
        raise RecipeError(f"ppo: invalid setting ({err})") from err


# ---------------------------------------------------------------------------------------------- rewards

def load_reward(config: PPOConfig, seed: int) -> SequenceReward:
    """The one reward named (rmbench.trainers.rewards loads and checks it, as for RLOO and GRPO)."""
    return SequenceReward(load_rewards(config.reward_model, config.reward_fn, seed=seed)[0])


class SequenceReward:
    """A reward from rmbench.trainers.rewards as PPO calls it: prompts as message lists,
    completions as decoded text -> a float tensor, one finite score per completion."""

    def __init__(self, reward: Callable):
        self.reward = reward
        self.source = getattr(reward, "source", getattr(reward, "__name__", "reward"))

    def __call__(self, prompts: list[list[dict]], completions: list[str]) -> torch.Tensor:
        values = self.reward(prompts, completions)
        if len(values) != len(completions):
            raise RmbenchError(f"reward {self.source} returned {len(values)} scores for {len(completions)} "
                               "completions")
        scores = torch.tensor([float(v) for v in values], dtype=torch.float32)
        if not torch.isfinite(scores).all():
            raise RmbenchError(f"reward {self.source} returned a score that is not finite (nan or inf)")
        return scores


# ---------------------------------------------------------------------------------------------- models

class PolicyAndValue(nn.Module):
    """Both trained models under one module, so one optimizer and one DDP wrapper hold them."""

    def __init__(self, policy: nn.Module, value_model: nn.Module):
        super().__init__()
        self.policy, self.value_model = policy, value_model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                response_start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, R, V] predicting each completion token, values [B, R] of the state before it)."""
        positions = position_ids(attention_mask)
        keep = input_ids.shape[1] - response_start + 1
        logits = self.policy(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                             use_cache=False, logits_to_keep=keep).logits[:, :-1]
        backbone = getattr(self.value_model, self.value_model.base_model_prefix)
        hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                          use_cache=False).last_hidden_state[:, response_start - 1:-1]
        values = getattr(self.value_model, HEAD)(hidden).squeeze(-1).float()
        return logits, values


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip left padding, as generation numbers them."""
    return (attention_mask.long().cumsum(1) - 1).clamp(min=0)


def disable_dropout(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        for name in ("attention_dropout", "dropout"):
            if isinstance(getattr(module, name, None), float):
                setattr(module, name, 0.0)


def load_policy(source: str):
    loaded = models.load_model(source, "causal_lm")
    models.require_chat_template(loaded.tokenizer, source, "ppo samples answers to conversations")
    return loaded.model, loaded.tokenizer, loaded.resolved


def load_value_model(source: str, pad_token_id: int, seed: int):
    """A sequence classifier whose `score` head gives a value at every position; a head the
    checkpoint lacks (a causal LM) starts at zero."""
    loaded = models.load_model(source, "value", seed=seed, role="the value model", tokenizer=False)
    model = loaded.model
    head = getattr(model, HEAD, None)
    if not isinstance(head, nn.Linear) or not hasattr(model, model.base_model_prefix):
        raise ModelError(f"value model {source} ({type(model).__name__}) has no per-token `score` head; "
                         "ppo needs a decoder model: set value_model=policy")
    if any(k.split(".")[0] == HEAD for k in loaded.missing_head):
        with torch.no_grad():
            head.weight.zero_()
            if head.bias is not None:
                head.bias.zero_()
    model.config.pad_token_id = pad_token_id
    return model


def stop_token_ids(tokenizer, policy) -> list[int]:
    ids = {tokenizer.eos_token_id}
    generation = getattr(policy, "generation_config", None)
    configured = getattr(generation, "eos_token_id", None)
    ids |= set(configured) if isinstance(configured, (list, tuple)) else {configured}
    ids.discard(None)
    if not ids:
        raise ModelError("the policy's tokenizer has no EOS token: ppo cannot tell where a completion ends")
    return sorted(ids)


# ---------------------------------------------------------------------------------------------- rollouts

def encode_prompts(tokenizer, prompts: Sequence[list[dict]], max_prompt_length: int) -> tuple[list[list[int]], int]:
    """Token ids of each prompt with the generation prompt, cut from the left; and how many were cut."""
    rows, cut = [], 0
    for prompt in prompts:
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) > max_prompt_length:
            ids, cut = ids[-max_prompt_length:], cut + 1
        rows.append(ids)
    return rows, cut


def pad_rows(rows: list[list[int]], pad_id: int, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for n, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[n, span] = torch.tensor(row, dtype=torch.long)
        mask[n, span] = 1
    return ids, mask


@torch.no_grad()
def sample(policy, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int, temperature: float,
           stop_ids: list[int], pad_id: int, generator: torch.Generator, return_logprobs: bool = False):
    """Completion tokens [B, <= max_new_tokens] sampled at `temperature` with a KV cache; rows that
    have stopped are filled with pad_id; sampling ends early once every row has stopped.
    With return_logprobs, also each sampled token's log-probability (a check on the loop)."""
    stops = torch.tensor(stop_ids, device=input_ids.device)
    positions = position_ids(attention_mask)
    out = policy(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=True,
                 logits_to_keep=1)
    done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    next_position = positions[:, -1:] + 1
    tokens, logprobs = [], []
    for _ in range(max_new_tokens):
        logp = torch.log_softmax(out.logits[:, -1].float() / temperature, dim=-1)
        token = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
        logprobs.append(logp.gather(1, token[:, None]).squeeze(1))
        token = torch.where(done, torch.full_like(token, pad_id), token)
        tokens.append(token)
        done |= torch.isin(token, stops)
        if done.all() or len(tokens) == max_new_tokens:
            break
        attention_mask = torch.cat([attention_mask, torch.ones_like(attention_mask[:, :1])], dim=1)
        out = policy(input_ids=token[:, None], attention_mask=attention_mask, position_ids=next_position,
                     past_key_values=out.past_key_values, use_cache=True)
        next_position = next_position + 1
    tokens = torch.stack(tokens, dim=1)
    return (tokens, torch.stack(logprobs, dim=1)) if return_logprobs else tokens


@dataclass
class Rollout:
    """One batch of sampled completions and everything PPO's update needs from it."""

    input_ids: torch.Tensor  # [B, P + R]: left-padded prompt, then right-padded completion
    attention_mask: torch.Tensor  # [B, P + R]
    response_start: int  # P
    mask: torch.Tensor  # [B, R] completion tokens (through the stop token)
    logprobs: torch.Tensor  # [B, R] under the policy that sampled
    values: torch.Tensor  # [B, R]
    advantages: torch.Tensor  # [B, R]
    returns: torch.Tensor  # [B, R]
    stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.input_ids.shape[0]


# ---------------------------------------------------------------------------------------------- trainer

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
        self.accelerator = accelerator or Accelerator(mixed_precision="bf16" if config.bf16 else "no")
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


# ---------------------------------------------------------------------------------------------- `rmbench train ppo`

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
    runs.check_run_folder(request.out, request.method, request.model, resume=request.resume,
                          overwrite=request.overwrite)
    resume_from = resumable_checkpoint(request.out) if request.resume else None

    examples = train_data.load_prompted("prompts", request.data, request.format, settings["max_examples"])
    train_examples, heldout = train_data.split_examples(examples, settings["heldout_fraction"], request.seed)
    prompts = [row["prompt"] for row in train_data.prompt_rows(train_examples)]

    accelerator = Accelerator(mixed_precision="bf16" if config.bf16 else "no")
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
                                     "request": asdict(request)})
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


def choose_value_source(config: PPOConfig, policy_source: str, tokenizer) -> str:
    """value_model: auto (the reward model when it is a classifier sharing the policy's tokenizer,
    else the policy) | policy | reward | PATH."""
    choice = config.value_model
    if choice == "policy":
        return policy_source
    if choice not in ("auto", "reward"):
        return choice
    why = "there is no reward model (the reward is a Python function)"
    if config.reward_model is not None:
        why = "the reward model is not a sequence classifier"
        if models.checkpoint_kind(config.reward_model) == "classifier":
            reward_tokenizer = models.load_tokenizer(config.reward_model)
            if reward_tokenizer.get_vocab() == tokenizer.get_vocab():
                return config.reward_model
            why = "the reward model's tokenizer differs from the policy's"
    if choice == "reward":
        raise RmbenchError(f"value_model=reward: {why}; use value_model=policy")
    return policy_source


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines of steps after the checkpoint a resumed run restarts from."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in kept))

