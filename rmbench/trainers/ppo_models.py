"""PPO's models and rollouts: the reward, policy + value under one module, KV-cached sampling.

The value model is a separate model with its own scalar head (a sequence-classification
model whose `score` head is applied at every position), initialised from the reward model
when it shares the policy's tokenizer, else from the policy with a zero head
(`value_model`: auto | policy | reward | PATH). Sampling is a plain KV-cached loop at
`temperature` (no top-k/top-p, no hidden generation-config defaults), so the log-probabilities
trained on are those of the distribution sampled from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from rmbench import models
from rmbench.errors import ModelError, RmbenchError
from rmbench.trainers.ppo_config import PPOConfig
from rmbench.trainers.rewards import load_rewards

HEAD = "score"


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
                     use_cache=True, **models.with_kv_cache(policy, models.kv_cache(out)))
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
