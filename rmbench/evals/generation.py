"""Sampling completions from a policy, and the log-probabilities a KL estimate needs.

The decoding loop is rmbench's own rather than `model.generate`, for three reasons:
- Reproducibility that survives batching. Each prompt's random numbers come from a
  generator seeded by (seed, prompt content), and tokens are drawn by inverse-CDF
  sampling with them, so a completion depends on the prompt, the weights and the
  settings, not on which other prompts shared its batch or in what order batches ran.
  (Padding can still move logits in the last float bits; a draw that lands exactly on a
  boundary could then differ, which is vanishingly rare.)
- Recorded settings are the whole truth. `generate` merges a checkpoint's own
  generation_config (repetition penalties, top-k, ...) into whatever is asked for; here
  only temperature and top-p shape the distribution, and both are in the record.
- The exact sampled token ids are kept, so KL(policy || ref) is computed on the very
  tokens that were drawn, not on a re-tokenization of the decoded text.

Completions are appended to a cache (one line per prompt, per finished batch), keyed by
the model's fingerprint and the sampling settings, so an interrupted run resumes and a
baseline already sampled once is never sampled again.
"""

from __future__ import annotations

import gc
import hashlib
import inspect
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rmbench import models
from rmbench.data.schema import Message
from rmbench.errors import ModelError, RmbenchError
from rmbench.scoring import distributed, formatting
from rmbench.scoring.batching import plan_batches
from rmbench.scoring.engine import JsonlCache
from rmbench.scoring.runtime import default_batch_tokens, dtype_name, model_max_length, pick_device, pick_dtype

LOGITS_BUDGET = 1 << 28  # logit values held at once when scoring completions (1 GiB in fp32)
_SENTINEL = "\u2063RMBENCH-ANSWER\u2063"  # marks where the assistant's text would start


@dataclass(frozen=True)
class SamplingSettings:
    """Everything that shapes a completion besides the model and the prompt."""

    max_new_tokens: int = 256
    temperature: float = 1.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise RmbenchError(f"--max-new-tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise RmbenchError(f"--temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise RmbenchError(f"--top-p must be in (0, 1], got {self.top_p}")

    @property
    def do_sample(self) -> bool:
        return self.temperature > 0

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "do_sample": self.do_sample,
                "sampler": "inverse-cdf, per-prompt numpy generator seeded by (seed, prompt hash)"}


@dataclass
class Generation:
    completion: str  # decoded text, without the stop token
    token_ids: list[int]  # every sampled token, the stop token included (what KL is computed on)
    prompt_tokens: int
    stopped: bool  # a stop token ended it; False = it ran into max_new_tokens
    prompt_truncated: bool  # the prompt was cut from the left to leave room for max_new_tokens
    count: int | None = None  # tokens a server reports sampling (it sends no ids); None: len(token_ids)

    @property
    def sampled(self) -> int:
        """Tokens drawn, the stop token included."""
        return len(self.token_ids) if self.count is None else self.count

    @property
    def new_tokens(self) -> int:
        """Completion length in tokens, not counting the stop token."""
        return self.sampled - int(self.stopped)


def prompt_key(prompt: list[Message]) -> str:
    return hashlib.sha256(json.dumps(prompt, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:32]


def _progress(show: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.fields[verb]}[/] {task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeRemainingColumn(), disable=not show, transient=True)


def open_generations(prompts: Sequence[list[Message]], fingerprint: str, settings: SamplingSettings,
                     cache_dir: Path | None):
    """Keys per prompt, the unique prompts, completions already cached (keyed by the policy's
    fingerprint and the sampling settings) and the cache to append to: local and served
    policies share one cache layout, so a resumed run finds what either wrote."""
    keys = [prompt_key(p) for p in prompts]
    unique = dict(zip(keys, prompts))
    cache_name = hashlib.sha256(f"{fingerprint}:{json.dumps(asdict(settings))}".encode()).hexdigest()[:16]
    entries, cache = distributed.sharded_cache(
        cache_dir / f"generations-{cache_name}.jsonl" if cache_dir else None, JsonlCache)
    known: dict[str, Generation] = {}
    for key, row in entries.items():
        try:
            known[key] = Generation(**row)
        except TypeError:  # a row from another version: sampled again
            continue
    return keys, unique, known, cache


def finish_generations(keys: list[str], unique: dict, known: dict[str, Generation], todo: list[str],
                       everything: list[str], new_tokens: int, started: float) -> tuple[list[Generation], dict]:
    """Every process gets every completion (under a data-parallel launch), in prompt order, with
    the stats the record reports."""
    if todo is not everything:
        known.update(distributed.gather([(k, known[k]) for k in todo]))
        new_tokens = sum(distributed.gather([new_tokens]))
        todo = everything
    seconds = time.perf_counter() - started
    stats = {"prompts": len(keys), "unique_prompts": len(unique), "from_cache": len(unique) - len(todo),
             "generated": len(todo), "seconds": round(seconds, 3), "new_tokens": new_tokens,
             "processes": distributed.world()[1],
             "tokens_per_second": round(new_tokens / seconds, 1) if new_tokens and seconds > 0 else None}
    return [known[k] for k in keys], stats


class PolicyModel:
    """A causal LM used as a policy. Config and tokenizer load at once (cheap: they decide the
    fingerprint); the weights load only when something is not in the cache yet, so resuming
    a finished run, or re-reading a baseline's completions, costs no model load."""

    def __init__(self, source: str, *, dtype: str = "auto", device: str = "auto", chat_template: str | None = None,
                 max_length: int | None = None, batch_tokens: int | None = None, batch_size: int = 64,
                 trust_remote_code: bool = False):
        self.name = source
        self.resolved = models.resolve_checkpoint(source)
        self.trust_remote_code = trust_remote_code
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.config = models.checkpoint_config(source, trust_remote_code)  # read once per process
        self.tokenizer = models.load_tokenizer(source, trust_remote_code)  # the pad rule applied
        architectures = self.config.architectures or []
        if any(a.endswith("ForSequenceClassification") for a in architectures):
            raise ModelError(f"{source} is a sequence classifier (a reward model), not a policy: pass it as "
                             "--judge-rm, and a causal LM as --policy")
        self.template_mode = formatting.setup_template(self.tokenizer, chat_template, source)
        self.max_length = max_length or model_max_length(self.config, self.tokenizer)
        # Rows x (prompt + new tokens): bounds the KV cache. CPU decoding is memory-bound, so
        # wide batches pay there too, unlike the scoring engine's forward-only batches.
        self.batch_tokens = batch_tokens or default_batch_tokens(self.device, "generate")
        self.batch_size = batch_size
        self.stop_ids = self._stop_ids()
        self._model = None
        self._honours_generation_prompt: bool | None = None
        self._fingerprint = hashlib.sha256(
            f"{models.fingerprint(self.resolved)}:{dtype_name(self.dtype)}:{self.template_mode}:"
            f"{self.max_length}:{sorted(self.stop_ids)}".encode()).hexdigest()[:16]

    def _stop_ids(self) -> set[int]:
        """EOS of the tokenizer plus every EOS the checkpoint's generation config names (chat
        models often end a turn with a token that is not the tokenizer's EOS)."""
        ids = {self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()
        try:
            from transformers import GenerationConfig

            extra = GenerationConfig.from_pretrained(self.resolved).eos_token_id
        except (OSError, ValueError):
            extra = getattr(self.config, "eos_token_id", None)
        ids |= set(extra if isinstance(extra, list) else [extra] if extra is not None else [])
        if not ids:
            raise ModelError(f"{self.name} names no end-of-sequence token: completions could never stop")
        return ids

    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.name, "fingerprint": self._fingerprint,
                "architecture": (self.config.architectures or ["?"])[0], "dtype": dtype_name(self.dtype),
                "device": str(self.device), "chat_template": self.template_mode, "max_length": self.max_length,
                "stop_token_ids": sorted(self.stop_ids)}

    @property
    def model(self):
        if self._model is None:
            self._model = models.load_model(self.name, "causal_lm", dtype=self.dtype, device=self.device,
                                            trust_remote_code=self.trust_remote_code, role="the policy",
                                            tokenizer=False).model
            self._keeps_logits = "logits_to_keep" in inspect.signature(self._model.forward).parameters
        return self._model

    def release(self) -> None:
        """Free the weights before the next model loads: policy, baseline, reference and judge
        would not all fit at once on many machines."""
        self._model = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def check_same_vocabulary(self, other: PolicyModel) -> None:
        probe = "A reference must tokenize text exactly as the policy does: 12345 ünïcode."
        if len(self.tokenizer) != len(other.tokenizer) or self.tokenizer(probe)["input_ids"] != \
                other.tokenizer(probe)["input_ids"]:
            raise ModelError(f"{self.name} and {other.name} use different tokenizers; KL and shared completions "
                             "need both models over the same vocabulary")

    # -- prompts --------------------------------------------------------------------------
    def prompt_ids(self, prompt: list[Message], max_new_tokens: int) -> tuple[list[int], bool]:
        """The prompt as the model sees it before answering, cut from the left if the answer
        would not fit otherwise."""
        raw = self.template_mode == formatting.RAW
        text = formatting.raw_text(prompt, "") if raw else self._prompt_text(prompt)
        ids = self.tokenizer(text, add_special_tokens=raw)["input_ids"]
        room = self.max_length - max_new_tokens
        if room < 1:
            raise RmbenchError(f"--max-new-tokens {max_new_tokens} leaves no room for a prompt in {self.name}'s "
                               f"{self.max_length} positions")
        return (ids[-room:], True) if len(ids) > room else (ids, False)

    def _prompt_text(self, prompt: list[Message]) -> str:
        """The template up to where the assistant starts writing. Some templates ignore
        add_generation_prompt; for those the assistant's header is cut from a rendered turn,
        else the policy would be asked to continue the user's message."""
        if self._honours_generation_prompt is None:
            probe = [{"role": "user", "content": "hi"}]
            self._honours_generation_prompt = self.tokenizer.apply_chat_template(
                probe, add_generation_prompt=True, tokenize=False) != self.tokenizer.apply_chat_template(
                probe, add_generation_prompt=False, tokenize=False)
        if self._honours_generation_prompt:
            return self.tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        rendered = self.tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": _SENTINEL}],
                                                      tokenize=False)
        if _SENTINEL not in rendered:
            raise ModelError(f"{self.name}: its chat template neither adds a generation prompt nor shows the "
                             "assistant's text; pass --chat-template FILE.jinja that does")
        return rendered[: rendered.index(_SENTINEL)]

    # -- generation -----------------------------------------------------------------------
    def generate(self, prompts: Sequence[list[Message]], settings: SamplingSettings, cache_dir: Path | None = None,
                 show_progress: bool = True, label: str | None = None) -> tuple[list[Generation], dict]:
        """One completion per prompt (identical prompts share it), cached per finished batch."""
        keys, unique, known, cache = open_generations(prompts, self._fingerprint, settings, cache_dir)
        everything = [k for k in unique if k not in known]
        tokenized = {k: self.prompt_ids(unique[k], settings.max_new_tokens) for k in everything}
        length = {k: len(tokenized[k][0]) + settings.max_new_tokens for k in everything}
        # Under a data-parallel launch: whole batches of this plan per process, so each prompt is
        # sampled beside the same prompts as in one process.
        plan = plan_batches([length[k] for k in everything], self.batch_tokens, max_rows=self.batch_size)
        todo = distributed.my_part(everything, plan, [sum(length[everything[i]] for i in b) for b in plan])
        if todo:
            _ = self.model  # loading the weights is not generation time
        started = time.perf_counter()
        new_tokens = 0
        if todo:
            lengths = [length[k] for k in todo]
            with _progress(show_progress) as progress:
                task = progress.add_task(label or self.name, total=len(todo), verb="generating")
                for batch in plan_batches(lengths, self.batch_tokens, max_rows=self.batch_size):
                    batch_keys = [todo[i] for i in batch]
                    rows = [tokenized[k][0] for k in batch_keys]
                    uniforms = np.stack([_uniforms(settings, k) for k in batch_keys]) if settings.do_sample else None
                    sampled = self._generate_batch(rows, uniforms, settings)
                    done = []
                    for key, row, (tokens, stopped) in zip(batch_keys, rows, sampled):
                        text_ids = tokens[:-1] if stopped else tokens
                        known[key] = Generation(self.tokenizer.decode(text_ids, skip_special_tokens=True), tokens,
                                                len(row), stopped, tokenized[key][1])
                        new_tokens += len(tokens)
                        done.append((key, asdict(known[key])))
                    if cache:
                        cache.append(done)
                    progress.advance(task, len(batch))
        return finish_generations(keys, unique, known, todo, everything, new_tokens, started)

    @torch.inference_mode()
    def _generate_batch(self, rows: list[list[int]], uniforms: np.ndarray | None,
                        settings: SamplingSettings) -> list[tuple[list[int], bool]]:
        model = self.model
        pad = self.tokenizer.pad_token_id
        count, width = len(rows), max(len(r) for r in rows)
        ids = torch.full((count, width), pad, dtype=torch.long)
        attention = torch.zeros((count, width), dtype=torch.long)
        for n, row in enumerate(rows):  # left padding: every row's next token goes in the same column
            ids[n, width - len(row):] = torch.tensor(row)
            attention[n, width - len(row):] = 1
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        ids, attention, positions = ids.to(self.device), attention.to(self.device), positions.to(self.device)
        keep = {"logits_to_keep": 1} if self._keeps_logits else {}
        out = model(input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=True, **keep)
        past, logits = models.kv_cache(out), out.logits[:, -1]
        next_position = positions[:, -1:] + 1
        stop = torch.tensor(sorted(self.stop_ids), device=self.device)
        draws = torch.from_numpy(uniforms).to(self.device) if uniforms is not None else None
        sampled: list[list[int]] = [[] for _ in rows]
        finished = torch.zeros(count, dtype=torch.bool, device=self.device)
        stopped = [False] * count
        for step in range(settings.max_new_tokens):
            tokens = _pick(logits, settings, draws[:, step] if draws is not None else None)
            is_stop = torch.isin(tokens, stop)
            for n, (token, was_done, ends) in enumerate(zip(tokens.tolist(), finished.tolist(), is_stop.tolist())):
                if not was_done:
                    sampled[n].append(token)
                    stopped[n] = ends
            finished |= is_stop
            if step == settings.max_new_tokens - 1 or bool(finished.all()):
                break
            tokens = torch.where(finished, torch.full_like(tokens, pad), tokens)  # finished rows idle on padding
            attention = torch.cat([attention, torch.ones((count, 1), dtype=attention.dtype, device=self.device)], 1)
            out = model(input_ids=tokens[:, None], attention_mask=attention, position_ids=next_position,
                        use_cache=True, **models.with_kv_cache(model, past))
            past, logits = models.kv_cache(out), out.logits[:, -1]
            next_position = next_position + 1
        return list(zip(sampled, stopped))

    # -- log-probabilities ------------------------------------------------------------------
    @torch.inference_mode()
    def completion_logps(self, rows: Sequence[tuple[list[int], list[int]]], temperature: float) -> list[float]:
        """Sum over each completion's tokens of log p(token | prefix), under logits / temperature
        (the distribution the tokens were drawn from, as RLHF trainers compute it)."""
        model = self.model
        scale = temperature if temperature > 0 else 1.0
        results = [0.0] * len(rows)
        lengths = [len(p) + len(c) for p, c in rows]
        # The kept logits (rows x completion length x vocabulary) outgrow the activations fast.
        longest = max((len(c) for _, c in rows), default=1) + 1
        vocabulary = getattr(self.config, "vocab_size", None) or len(self.tokenizer)
        rows_cap = max(1, LOGITS_BUDGET // (longest * vocabulary))
        for batch in plan_batches(lengths, self.batch_tokens, max_rows=min(self.batch_size, rows_cap)):
            width = max(lengths[i] for i in batch)
            last = max(len(rows[i][1]) for i in batch) + 1  # positions whose logits predict completion tokens
            ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for n, i in enumerate(batch):  # left padding: all completions end in the last column
                seq = rows[i][0] + rows[i][1]
                ids[n, width - len(seq):] = torch.tensor(seq)
                attention[n, width - len(seq):] = 1
            positions = (attention.cumsum(-1) - 1).clamp(min=0)
            keep = {"logits_to_keep": last} if self._keeps_logits else {}
            logits = model(input_ids=ids.to(self.device), attention_mask=attention.to(self.device),
                           position_ids=positions.to(self.device), **keep).logits[:, -last:]
            for n, i in enumerate(batch):
                completion = rows[i][1]
                row = logits[n, last - len(completion) - 1: last - 1].float() / scale
                targets = torch.tensor(completion, device=row.device)
                logps = torch.log_softmax(row, dim=-1).gather(-1, targets[:, None])
                results[i] = float(logps.sum())
        return results


def _uniforms(settings: SamplingSettings, key: str) -> np.ndarray:
    """The prompt's own stream of random numbers: the same for any batch it lands in."""
    entropy = [settings.seed, *(int(key[i: i + 8], 16) for i in range(0, len(key), 8))]
    return np.random.default_rng(entropy).random(settings.max_new_tokens)


def _pick(logits: torch.Tensor, settings: SamplingSettings, draws: torch.Tensor | None) -> torch.Tensor:
    """Next tokens: argmax when greedy, else inverse-CDF sampling with the given uniforms,
    after temperature and nucleus (top-p) truncation."""
    logits = logits.float()
    if draws is None:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / settings.temperature, dim=-1)
    if settings.top_p >= 1:
        return _inverse_cdf(probs, None, draws)
    # Sorting a 50k-150k vocabulary every step costs more than the rest of sampling; the
    # nucleus nearly always lies in the top few hundred tokens, so those are taken first and
    # a row is sorted in full only when they hold less than top_p of its mass. The choice is
    # made per row, so a row's token never depends on the others in its batch.
    top, order = probs.topk(min(NUCLEUS_CANDIDATES, probs.shape[-1]), dim=-1)
    picked = _inverse_cdf(_nucleus(top, settings.top_p), order, draws)
    wide = top.sum(-1) < settings.top_p
    if bool(wide.any()):
        full, full_order = probs[wide].sort(dim=-1, descending=True)
        picked[wide] = _inverse_cdf(_nucleus(full, settings.top_p), full_order, draws[wide])
    return picked


NUCLEUS_CANDIDATES = 256


def _nucleus(sorted_probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero every token after the smallest prefix holding top_p of the mass (the first always stays)."""
    return sorted_probs * ((sorted_probs.cumsum(-1) - sorted_probs) < top_p)


def _inverse_cdf(probs: torch.Tensor, order: torch.Tensor | None, draws: torch.Tensor) -> torch.Tensor:
    """The token whose cumulative-probability interval holds the draw (zero-mass tokens have
    empty intervals, so they are never picked); `order` maps sorted positions to token ids."""
    cumulative = probs.cumsum(-1)
    targets = draws.to(cumulative.dtype)[:, None] * cumulative[:, -1:]
    picked = torch.searchsorted(cumulative, targets, right=True).clamp(max=probs.shape[-1] - 1)
    return (order.gather(-1, picked) if order is not None else picked).squeeze(-1)


def kl_estimates(policy: PolicyModel, ref: PolicyModel, prompts: Sequence[list[Message]],
                 generations: Sequence[Generation], settings: SamplingSettings, cache_dir: Path | None = None,
                 show_progress: bool = True) -> tuple[list[float], dict]:
    """Per completion, sum over its sampled tokens of log pi(y_t) - log pi_ref(y_t): a Monte
    Carlo estimate of KL(pi || pi_ref) whose mean over completions is unbiased (single
    samples may be negative)."""
    policy.check_same_vocabulary(ref)
    keys = [prompt_key(p) for p in prompts]
    name = hashlib.sha256(f"{policy.fingerprint()}:{ref.fingerprint()}:{json.dumps(asdict(settings))}".encode())
    entries, cache = distributed.sharded_cache(
        cache_dir / f"kl-{name.hexdigest()[:16]}.jsonl" if cache_dir else None, JsonlCache)
    known = {k: float(v["kl"]) for k, v in entries.items() if "kl" in v}
    everything = list(dict.fromkeys(k for k in keys if k not in known))
    first = {k: n for n, k in reversed(list(enumerate(keys)))}
    started = time.perf_counter()
    # Chunks of a few batches: progress moves, and an interruption loses one chunk at most.
    chunk = max(1, policy.batch_size)
    chunks = [list(range(n, min(n + chunk, len(everything)))) for n in range(0, len(everything), chunk)]
    todo = distributed.my_part(everything, chunks, [len(generations[first[everything[c[0]]]].token_ids) * len(c)
                                                    for c in chunks])
    with _progress(show_progress) as progress:
        task = progress.add_task(f"{policy.name} vs {ref.name}", total=len(todo), verb="KL")
        for start in range(0, len(todo), chunk):
            part = todo[start: start + chunk]
            rows = [(policy.prompt_ids(prompts[first[k]], settings.max_new_tokens)[0],
                     generations[first[k]].token_ids) for k in part]
            mine = policy.completion_logps(rows, settings.temperature)
            theirs = ref.completion_logps(rows, settings.temperature)
            values = [a - b for a, b in zip(mine, theirs)]
            known.update(zip(part, values))
            if cache:
                cache.append([(k, {"kl": v}) for k, v in zip(part, values)])
            progress.advance(task, len(part))
    if todo is not everything:
        known.update(distributed.gather([(k, known[k]) for k in todo]))
        todo = everything
    seconds = time.perf_counter() - started
    return [known[k] for k in keys], {"computed": len(todo), "from_cache": len(set(keys)) - len(todo),
                                      "seconds": round(seconds, 3)}
