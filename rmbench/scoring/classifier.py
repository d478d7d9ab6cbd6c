"""Scoring with a sequence-classification reward model (AutoModelForSequenceClassification).

The reward is read from the hidden state of each sequence's last real token, found from
the attention mask, and passed through the model's own head. transformers' built-in
pooling instead looks for the last token that is not the pad id, which reads the wrong
position whenever pad == EOS and the template ends in EOS: the classic source of scores
that change with batch size. Batches are right-padded, so a causal decoder runs without a
mask (runtime.attends_causally) and, with --compile, as one compiled graph.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch

import rmbench.scoring.formatting as formatting
from rmbench import models
from rmbench.errors import ModelError
from rmbench.scoring.base import Item, ScoredBatch
from rmbench.scoring.batching import plan_batches
from rmbench.scoring.runtime import (
    CompiledNetwork,
    attends_causally,
    default_batch_tokens,
    dtype_name,
    model_max_length,
    pick_device,
    pick_dtype,
)


class ClassifierScorer:
    kind = "classifier"

    def __init__(self, source: str, *, dtype: str = "auto", device: str = "auto",
                 chat_template: str | None = None, max_length: int | None = None,
                 batch_tokens: int | None = None, allow_random_head: bool = False,
                 trust_remote_code: bool = False, seed: int = 0, compile: bool = False):
        self.name = source
        self.source = source
        self.seed = seed
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        # one loader (rmbench.models): config read once, pad rule, seeded new head, one error wording
        loaded = models.load_model(source, "classifier", dtype=self.dtype, device=self.device,
                                   trust_remote_code=trust_remote_code, seed=seed)
        model, tokenizer, config, resolved = loaded.model, loaded.tokenizer, loaded.config, loaded.resolved
        missing_head = loaded.missing_head
        self.random_head = bool(missing_head)
        if self.random_head and not allow_random_head:
            raise ModelError(f"{source} is not a reward model: it has no trained reward head ({missing_head[0]} "
                             "missing). Pass --allow-random-head to score with an untrained head.")
        if model.config.num_labels > 2:
            raise ModelError(f"{source} has {model.config.num_labels} output labels; rmbench reads a reward "
                             "from a 1-label (score) or 2-label (log-odds) head")
        self.model = model
        self.tokenizer = tokenizer
        self.template_mode = formatting.setup_template(tokenizer, chat_template, source)
        self.max_length = max_length or model_max_length(config, tokenizer)
        self.batch_tokens = batch_tokens or default_batch_tokens(self.device)
        head = getattr(model, "score", None)
        self._gather_head = isinstance(head, torch.nn.Linear) and hasattr(model, model.base_model_prefix)
        # Unmasked only on the gathered-head path, where rmbench picks the pooled position itself;
        # any other head runs exactly as its model defines it.
        self._unmasked = self._gather_head and attends_causally(model)
        network = getattr(model, model.base_model_prefix) if self._gather_head else model
        self.compiled = compile
        self._network = CompiledNetwork(network, source) if compile else network
        self._fingerprint = hashlib.sha256(
            f"{models.fingerprint(resolved)}:{dtype_name(self.dtype)}:{self.template_mode}:{self.max_length}:"
            f"{seed if self.random_head else ''}{':compiled' if compile else ''}".encode()).hexdigest()[:16]

    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "source": self.source, "fingerprint": self._fingerprint,
                "architecture": type(self.model).__name__, "dtype": dtype_name(self.dtype),
                "device": str(self.device), "chat_template": self.template_mode, "max_length": self.max_length,
                "batch_tokens": self.batch_tokens, "random_head": self.random_head, "compiled": self.compiled}

    def _token_ids(self, items: Sequence[Item]) -> tuple[list[list[int]], list[bool]]:
        token_ids = formatting.tokenize_conversations(
            self.tokenizer, self.template_mode, [(i.prompt, i.completion) for i in items])
        truncated = [len(ids) > self.max_length for ids in token_ids]
        # Keep the end: the completion and the last token the reward is read from.
        return [ids[-self.max_length:] for ids in token_ids], truncated

    def plan(self, items: Sequence[Item]) -> tuple[list[list[int]], list[int]]:
        """The batches score() cuts (indices into items) and their token counts. A data-parallel
        run hands each process whole batches of this plan, and score() on a union of whole
        batches, in plan order, cuts exactly those batches again (a batch closes on its first,
        longest row and its row count alone), so every text is scored beside the same texts
        as in one process."""
        token_ids, _ = self._token_ids(items)
        batches = plan_batches([len(ids) for ids in token_ids], self.batch_tokens)
        return batches, [sum(len(token_ids[i]) for i in batch) for batch in batches]

    def score(self, items: Sequence[Item]) -> Iterator[ScoredBatch]:
        token_ids, truncated = self._token_ids(items)
        for batch in plan_batches([len(ids) for ids in token_ids], self.batch_tokens):
            scores = self.forward([token_ids[i] for i in batch])
            yield ScoredBatch(batch, scores, [truncated[i] for i in batch],
                              tokens=sum(len(token_ids[i]) for i in batch))

    @torch.inference_mode()
    def forward(self, rows: list[list[int]]) -> list[float]:
        longest = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), longest), self.tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(rows), longest), dtype=torch.long)
        for n, row in enumerate(rows):  # right padding: real tokens keep positions 0..len-1
            input_ids[n, : len(row)] = torch.tensor(row)
            attention[n, : len(row)] = 1
        input_ids, attention = input_ids.to(self.device), attention.to(self.device)
        mask = None if self._unmasked else attention
        out = self._network(input_ids=input_ids, attention_mask=mask)
        if self._gather_head:
            last = attention.sum(dim=1) - 1
            logits = self.model.score(out.last_hidden_state[torch.arange(len(rows), device=self.device), last])
        else:
            logits = out.logits
        logits = logits.float()
        rewards = logits[:, 0] if logits.shape[-1] == 1 else logits[:, 1] - logits[:, 0]
        return rewards.cpu().tolist()

