"""Implicit rewards of policies trained with DPO, KTO and their kin.

A DPO-trained policy defines the reward r(x, y) = beta * (log pi(y|x) - log pi_ref(y|x)),
summed over the completion's tokens only. Reference-free scoring drops the second term
(RewardBench's ref-free mode); length normalisation averages per token instead of
summing (as SimPO scores).

Every completion of an example shares its prompt, so the prompt runs once per model and
its KV cache is copied into the batch of completions; only the completion tokens are
recomputed. Where the tokenizer merges tokens across the prompt/completion boundary (so
the prompt's tokens are not a prefix of the whole), that item falls back to a full
forward pass of its own: correct first, fast second.

Log-probabilities of the target tokens are taken a few hundred positions at a time,
straight from views of the logits: the vocabulary-wide log-softmax of a whole batch (49k
columns for SmolLM2, 150k for Qwen) would be its largest tensor, and copying it costs more
than computing it. Positions whose next token is not scored (the prompt) get no vocabulary
projection at all where the model accepts `logits_to_keep`.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

import rmbench.scoring.formatting as formatting
from rmbench import models
from rmbench.errors import ModelError
from rmbench.scoring.base import Item, ScoredBatch
from rmbench.scoring.batching import plan_batches
from rmbench.scoring.runtime import (
    attends_causally,
    default_batch_tokens,
    dtype_name,
    model_max_length,
    pick_device,
    pick_dtype,
)

# Positions per log-probability step: 256 x 49k vocabulary in fp32 is 50 MB, against 400 MB
# for the logits of a whole 2048-token CPU batch.
LOGP_CHUNK = 256
# Why log_softmax per chunk rather than logit[target] - logsumexp: on CPU the fused
# log_softmax kernel reads each row three times, logsumexp (amax, subtract, exp, sum) more.
# Measured on 350 positions x 49,152 logits, best of 7, 2 threads: the old per-row copy +
# log_softmax 0.44 s, chunked logsumexp 0.38 s, chunked log_softmax 0.16 s (loaded machine).


@dataclass
class Tokenized:
    prompt: list[int]  # the prompt's tokens, as the shared prefix
    completion: list[int]  # everything after it, including the template's end-of-turn tokens
    truncated: bool


class ImplicitRewardScorer:
    kind = "implicit"

    def __init__(self, policy: str, ref: str | None, *, beta: float = 1.0, length_normalize: bool = False,
                 share_prompt: bool = True, dtype: str = "auto", device: str = "auto",
                 chat_template: str | None = None, max_length: int | None = None, batch_tokens: int | None = None,
                 trust_remote_code: bool = False, seed: int = 0):
        if beta <= 0:
            raise ModelError(f"--beta must be positive, got {beta}")
        self.name = policy
        self.ref_source = ref
        self.beta = beta
        self.length_normalize = length_normalize
        self.share_prompt = share_prompt
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        options = {"dtype": self.dtype, "device": self.device, "trust_remote_code": trust_remote_code}
        loaded = models.load_model(policy, "causal_lm", **options)  # the pad rule applied
        self.policy, self.tokenizer = loaded.model, loaded.tokenizer
        fingerprints = [models.fingerprint(loaded.resolved)]
        self.ref = None
        if ref is not None:
            reference = models.load_model(ref, "causal_lm", role="the reference", **options)
            self.ref = reference.model
            _check_same_vocabulary(self.tokenizer, reference.tokenizer, policy, ref)
            fingerprints.append(models.fingerprint(reference.resolved))
        self.template_mode = formatting.setup_template(self.tokenizer, chat_template, policy)
        self.max_length = max_length or model_max_length(self.policy.config, self.tokenizer)
        self.batch_tokens = batch_tokens or default_batch_tokens(self.device)
        # right-padded full passes need no mask in a causal LM (scores identical, SDPA's causal kernel)
        self._unmasked = all(attends_causally(m) for m in self._models())
        settings = f"{beta}:{length_normalize}:{dtype_name(self.dtype)}:{self.template_mode}:{self.max_length}"
        self._fingerprint = hashlib.sha256(f"{':'.join(fingerprints)}:{settings}".encode()).hexdigest()[:16]

    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "source": self.name, "reference": self.ref_source or "none",
                "beta": self.beta, "length_normalize": self.length_normalize, "share_prompt": self.share_prompt,
                "fingerprint": self._fingerprint, "architecture": type(self.policy).__name__,
                "dtype": dtype_name(self.dtype), "device": str(self.device), "chat_template": self.template_mode,
                "max_length": self.max_length, "batch_tokens": self.batch_tokens}

    # -- tokenization ---------------------------------------------------------------
    def tokenize(self, item: Item, prompts: dict | None = None) -> Tokenized:
        """`prompts` caches each prompt's tokens: its completions (6 in RM-Bench) share them."""
        raw = self.template_mode == formatting.RAW
        prompts = {} if prompts is None else prompts
        prompt_key = json.dumps(item.prompt, sort_keys=True)
        if prompt_key not in prompts:
            prompt_text = (formatting.raw_text(item.prompt, "") if raw else
                           self.tokenizer.apply_chat_template(item.prompt, add_generation_prompt=True, tokenize=False))
            ids = self.tokenizer(prompt_text, add_special_tokens=raw)["input_ids"]
            prompts[prompt_key] = (prompt_text, ids)
        prompt_text, prompt = prompts[prompt_key]
        full_text = (prompt_text + item.completion if raw else
                     formatting.conversation_text(self.tokenizer, self.template_mode, item.prompt, item.completion))
        full = self.tokenizer(full_text, add_special_tokens=raw)["input_ids"]
        cut = _common_prefix(prompt, full)
        prompt, completion = full[:cut], full[cut:]
        if not completion:
            raise ModelError(f"{self.name}: a completion tokenized to nothing after its prompt; check the template")
        truncated = len(prompt) + len(completion) > self.max_length
        if truncated:  # keep the completion whole where it fits: it is what gets scored
            completion = completion[: self.max_length - 1]
            prompt = prompt[-(self.max_length - len(completion)):]
        return Tokenized(prompt, completion, truncated)

    # -- scoring ----------------------------------------------------------------------
    def _grouped(self, items: Sequence[Item]) -> tuple[list[Tokenized], dict, list[int]]:
        """(tokens per item; prompt -> the items sharing its KV cache; the items scored whole)."""
        prompts: dict = {}
        tokenized = [self.tokenize(item, prompts) for item in items]
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for n, t in enumerate(tokenized):
            groups[tuple(t.prompt)].append(n)
        shared = {p: m for p, m in groups.items() if self.share_prompt and len(m) > 1}
        singles = [i for p, m in groups.items() if p not in shared for i in m]
        return tokenized, shared, singles

    def plan(self, items: Sequence[Item]) -> tuple[list[list[int]], list[int]]:
        """Units of work a data-parallel run hands out whole (scoring.distributed), with their
        token counts: each shared-prompt group entire (split, a share of one completion would be
        scored in a full pass instead, and its batches would change), then the batches of the
        items scored whole, which a union of them in plan order cuts again exactly; so every
        text is computed beside the same texts as in one process, bit for bit in fp32."""
        tokenized, shared, singles = self._grouped(items)
        units = [list(members) for members in shared.values()]
        weights = [len(prompt) + sum(len(tokenized[i].completion) for i in members)
                   for prompt, members in shared.items()]
        lengths = [len(tokenized[i].prompt) + len(tokenized[i].completion) for i in singles]
        for batch in plan_batches(lengths, self.batch_tokens):
            units.append([singles[b] for b in batch])
            weights.append(sum(lengths[b] for b in batch))
        return units, weights

    def score(self, items: Sequence[Item]) -> Iterator[ScoredBatch]:
        tokenized, shared, singles = self._grouped(items)
        for prompt, members in shared.items():
            yield from self._score_shared(list(prompt), members, tokenized)
        if singles:
            yield from self._score_full(singles, tokenized)

    def _reward(self, policy_logps: torch.Tensor, ref_logps: torch.Tensor | None, lengths: torch.Tensor) -> list[float]:
        logps = policy_logps - ref_logps if ref_logps is not None else policy_logps
        if self.length_normalize:
            logps = logps / lengths
        return (self.beta * logps).tolist()

    def _score_full(self, indices: list[int], tokenized: list[Tokenized]) -> Iterator[ScoredBatch]:
        lengths = [len(tokenized[i].prompt) + len(tokenized[i].completion) for i in indices]
        for batch in plan_batches(lengths, self.batch_tokens):
            rows = [tokenized[indices[b]] for b in batch]
            ids, attention, targets, spans = _full_batch(rows, self.tokenizer.pad_token_id, self.device)
            mask = None if self._unmasked else attention
            per_model = [_sequence_logps(m, ids, mask, targets, spans) for m in self._models()]
            counts = torch.tensor([len(r.completion) for r in rows], dtype=torch.float)
            scores = self._reward(per_model[0], per_model[1] if self.ref is not None else None, counts)
            picked = [indices[b] for b in batch]
            yield ScoredBatch(picked, scores, [tokenized[i].truncated for i in picked],
                              tokens=sum(lengths[b] for b in batch))

    def _score_shared(self, prompt: list[int], members: list[int], tokenized: list[Tokenized]) -> Iterator[ScoredBatch]:
        lengths = [len(tokenized[i].completion) for i in members]
        budget = max(self.batch_tokens - len(prompt), 1)
        prefixes = [_prompt_state(m, prompt, self.device) for m in self._models()]
        for batch in plan_batches(lengths, budget):
            picked = [members[b] for b in batch]
            rows = [tokenized[i].completion for i in picked]
            per_model = [_completion_logps(m, state, rows, self.tokenizer.pad_token_id, self.device)
                         for m, state in zip(self._models(), prefixes)]
            counts = torch.tensor([len(r) for r in rows], dtype=torch.float)
            scores = self._reward(per_model[0], per_model[1] if self.ref is not None else None, counts)
            yield ScoredBatch(picked, scores, [tokenized[i].truncated for i in picked],
                              tokens=sum(lengths[b] for b in batch) + len(prompt))

    def _models(self):
        return [self.policy] + ([self.ref] if self.ref is not None else [])


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _check_same_vocabulary(policy_tok, ref_tok, policy: str, ref: str) -> None:
    probe = "The reference must tokenize text exactly as the policy does: 12345 ünïcode."
    if len(policy_tok) != len(ref_tok) or policy_tok(probe)["input_ids"] != ref_tok(probe)["input_ids"]:
        raise ModelError(f"{policy} and its reference {ref} use different tokenizers; an implicit reward "
                         "needs both models over the same vocabulary")


def _full_batch(rows: list[Tokenized], pad_id: int, device):
    """Right-padded prompt+completion rows; targets[n, t] is the token position t predicts, and
    spans[n] the (start, stop) positions whose targets are the completion's tokens."""
    longest = max(len(r.prompt) + len(r.completion) for r in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), longest), dtype=torch.long)
    targets = torch.zeros((len(rows), longest), dtype=torch.long)
    spans = []
    for n, r in enumerate(rows):
        seq = r.prompt + r.completion
        ids[n, : len(seq)] = torch.tensor(seq)
        attention[n, : len(seq)] = 1
        targets[n, : len(seq) - 1] = ids[n, 1: len(seq)]
        # position t predicts token t+1: completion tokens start at len(prompt)
        spans.append((len(r.prompt) - 1, len(seq) - 1))
    return ids.to(device), attention.to(device), targets.to(device), spans


def _accepts_logits_to_keep(model) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


@torch.inference_mode()
def _sequence_logps(model, ids, attention, targets, spans: list[tuple[int, int]]) -> torch.Tensor:
    first = min(start for start, _ in spans)  # no row scores a position before this one
    if first > 0 and _accepts_logits_to_keep(model):  # skip the vocabulary projection of shared prompt positions
        logits = model(input_ids=ids, attention_mask=attention, logits_to_keep=ids.shape[1] - first).logits
        return _token_logps(logits, targets[:, first:], [(a - first, b - first) for a, b in spans])
    logits = model(input_ids=ids, attention_mask=attention).logits
    return _token_logps(logits, targets, spans)


def _token_logps(logits: torch.Tensor, targets: torch.Tensor, spans: list[tuple[int, int]]) -> torch.Tensor:
    """Per row n, the sum over positions t in spans[n] of log p(targets[n, t]), LOGP_CHUNK
    positions at a time: no batch-wide log-softmax is ever materialised, and each chunk is
    read from a view of the logits, not a copy."""
    sums = torch.zeros(len(spans), dtype=torch.float64, device=logits.device)
    for n, (start, stop) in enumerate(spans):
        for a in range(start, stop, LOGP_CHUNK):
            b = min(a + LOGP_CHUNK, stop)
            logps = torch.log_softmax(logits[n, a:b].float(), dim=-1)  # .float(): a no-op in fp32
            sums[n] += logps.gather(-1, targets[n, a:b].unsqueeze(-1)).double().sum()
    return sums.cpu()  # float64: a sum of hundreds of log-probabilities loses digits in fp32


@torch.inference_mode()
def _prompt_state(model, prompt: list[int], device):
    """The prompt's KV cache and the logits at its last position (which predict the first
    completion token); earlier positions get no vocabulary projection where the model allows."""
    inputs = {"input_ids": torch.tensor([prompt], device=device), "use_cache": True}
    if _accepts_logits_to_keep(model):
        inputs["logits_to_keep"] = 1
    out = model(**inputs)
    return models.kv_cache(out), out.logits[0, -1]


@torch.inference_mode()
def _completion_logps(model, state, rows: list[list[int]], pad_id: int, device) -> torch.Tensor:
    cache, last_logits = state
    cache = copy.deepcopy(cache)  # the forward appends to it; the prompt's copy must stay clean
    cache.batch_repeat_interleave(len(rows))
    prompt_len = cache.get_seq_length()
    longest = max(len(r) for r in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    completion_mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for n, r in enumerate(rows):
        ids[n, : len(r)] = torch.tensor(r)
        completion_mask[n, : len(r)] = 1
    attention = torch.cat([torch.ones((len(rows), prompt_len), dtype=torch.long), completion_mask], dim=1)
    out = model(input_ids=ids.to(device), attention_mask=attention.to(device), use_cache=True,
                **models.with_kv_cache(model, cache))
    # the prompt's last position predicts the first completion token; completion position t predicts t+1
    first = torch.log_softmax(last_logits.float(), dim=-1)[[r[0] for r in rows]]
    targets = torch.zeros_like(ids)
    targets[:, :-1] = ids[:, 1:]
    rest = _token_logps(out.logits, targets.to(device), [(0, len(r) - 1) for r in rows])
    return first.double().cpu() + rest
