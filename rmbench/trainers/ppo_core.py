"""PPO's arithmetic as small pure tensor functions, each testable against hand-computed values.

Shapes: a batch of B completions, each padded on the right to T tokens; `mask` is 1 on a
completion's real tokens (up to and including its stop token) and 0 on the padding after
it, so every mask here is a prefix of ones. Nothing in this module touches a model: the
loop in rmbench.trainers.ppo feeds it log-probabilities, values and scores.

Choices (see also the module docstring of rmbench.trainers.ppo):
- the KL penalty is part of the reward, per token (-kl_coef * KL_t on every real token),
  and the sequence's score is added at its last real token only;
- advantages come from GAE over the completion tokens; the value past the last real token
  is 0 (the episode ends there);
- whitening uses the masked mean and the masked variance with Bessel's correction;
- approx-KL is the non-negative estimator mean((r - 1) - log r), r = pi_new / pi_old.
"""

from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean over the entries where mask is 1 (over one dim, or over everything)."""
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance over the masked entries; with Bessel's correction when unbiased."""
    mean = masked_mean(values, mask)
    count = mask.sum()
    var = masked_mean((values - mean) ** 2, mask)
    if unbiased and count > 1:
        var = var * count / (count - 1)
    return var


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True,
                  eps: float = 1e-8) -> torch.Tensor:
    """Scale the masked entries to unit standard deviation, and shift them to mean 0 when shift_mean.

    shift_mean=False only divides by the standard deviation, so every entry keeps its sign;
    entries outside the mask are returned as 0. Fewer than two masked entries have no
    spread: they are only shifted (or returned as they are).
    """
    centred = values - masked_mean(values, mask) if shift_mean else values
    if mask.sum() >= 2:
        centred = centred * torch.rsqrt(masked_var(values, mask) + eps)
    return centred * mask.to(values.dtype)


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log p(token) at each position: logits [B, T, V], tokens [B, T] -> [B, T]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the next-token distribution at each position: [B, T, V] -> [B, T] (nats)."""
    logits = logits.float()
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def completion_mask(tokens: torch.Tensor, stop_ids: list[int] | set[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask, has_stop): mask is 1 up to and including the first stop token of each row (all
    of it when there is none); has_stop says which rows stopped before running out of room."""
    is_stop = torch.zeros_like(tokens, dtype=torch.bool)
    for stop in stop_ids:
        is_stop |= tokens == stop
    # stops seen strictly before each position: a position is real while none has been seen
    before = torch.cumsum(is_stop.long(), dim=1) - is_stop.long()
    return (before == 0).long(), is_stop.any(dim=1)


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's last real token (0 for an empty row)."""
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return (positions * mask.long()).max(dim=1).values


def apply_missing_eos_penalty(scores: torch.Tensor, has_stop: torch.Tensor, penalty: float | None) -> torch.Tensor:
    """Truncated completions (no stop token within response_length) lose `penalty` from their score."""
    if penalty is None:
        return scores
    return scores - penalty * (~has_stop).to(scores.dtype)


def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi.

    k1 = log pi - log pi_ref (unbiased, can be negative per token); k3 = (q - 1) - log q with
    q = pi_ref / pi (unbiased and never negative, lower variance).
    """
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r}: use k1 or k3")


def per_token_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """-kl_coef * KL_t on every real token, plus the sequence's score on its last real token."""
    rewards = -kl_coef * kl * mask.to(kl.dtype)
    last = last_token_index(mask)
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last] += scores.to(rewards.dtype)
    return rewards


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns) by generalised advantage estimation over each completion.

    delta_t = r_t + gamma * V_{t+1} - V_t, with V = 0 past the last real token;
    A_t = delta_t + gamma * lam * A_{t+1}; returns = A + V. Padding gets advantage 0.
    """
    mask = mask.to(values.dtype)
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(values)
    running = torch.zeros_like(values[:, 0])
    steps = values.shape[1]
    for t in reversed(range(steps)):
        next_value = values[:, t + 1] if t + 1 < steps else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


def clipped_policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                        mask: torch.Tensor, cliprange: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's pessimistic clipped surrogate, as a loss to minimise.

    Per token: max(-A * r, -A * clip(r, 1 - eps, 1 + eps)) with r = exp(logp - old_logp),
    averaged over real tokens. Stats: clipfrac (share of tokens where the clipped term won,
    i.e. whose gradient is cut) and approx_kl (mean of (r - 1) - log r).
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {"clipfrac": masked_mean((clipped > unclipped).float(), mask),
                 "approx_kl": masked_mean(torch.expm1(log_ratio) - log_ratio, mask)}
    return loss, stats


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                       cliprange_value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, clipfrac): 0.5 * mean(max((V - R)^2, (V_clipped - R)^2)) over real tokens, where
    V_clipped stays within cliprange_value of the value seen at rollout time."""
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    unclipped_loss = (values - returns) ** 2
    clipped_loss = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_loss, clipped_loss), mask)
    with torch.no_grad():
        clipfrac = masked_mean((clipped_loss > unclipped_loss).float(), mask)
    return loss, clipfrac
