"""A causal LM read as a judge through its label probabilities; it never samples.

The judging prompt is put in the model's chat template, the assistant turn is pre-filled
up to the label ("[[" for a pairwise verdict, "Rating:" for a grade), and the verdict is
read from the model's probabilities for the label tokens: one forward pass per request,
deterministic, and the same whatever the batch size (in fp32; see README on bf16).
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Iterator, Sequence
from typing import Any

import rmbench.scoring.formatting as formatting
from rmbench import models
from rmbench.errors import ModelError
from rmbench.scoring.base import Item, ScoredBatch
from rmbench.scoring.batching import plan_batches
from rmbench.scoring.judge.templates import JudgeBase, JudgeTemplate, check_mode, require_mode
from rmbench.scoring.judge.verdicts import JudgeRequest, Verdict

PAIR_PREFILL = "[["
PAIR_LABELS = ("A", "B")
# (prefill, separator before the number): tokenizers differ on whether "Rating: 7" holds
# " 7" or " " + "7", so the first pair whose labels extend the prefix's tokens cleanly wins.
RATING_PREFILLS = (("Rating: ", ""), ("Rating:", " "))
RATING_LABELS = tuple(str(n) for n in range(1, 11))
_SENTINEL = "\u2063RMBENCH-PREFILL\u2063"
# Templates with a thinking switch (Qwen3 and kin) then open the answer with an empty
# reasoning block, so the pre-fill sits where the verdict goes; other templates ignore it.
NO_THINKING = {"enable_thinking": False}


class LocalJudge(JudgeBase):
    """A causal LM read as a judge through its label probabilities (see the module docstring).

    Rows are left-padded with explicit position ids: every row then ends in the same column,
    so the model computes logits for the last few columns only (a vocabulary-sized logit
    row per token would dominate memory), and padding cannot move a row's positions.
    """

    def __init__(self, source: str, *, mode: str = "pairwise", template: str | None = None, dtype: str = "auto",
                 device: str = "auto", max_length: int | None = None, batch_tokens: int | None = None,
                 trust_remote_code: bool = False, seed: int = 0, chat_template: str | None = None):
        # torch and transformers load here, not at import: parsing and the HTTP judge need neither.
        from rmbench.scoring.runtime import default_batch_tokens, dtype_name, model_max_length, pick_device, pick_dtype

        check_mode(mode)
        self.name = source
        self.source = source
        self.mode = mode
        self.seed = seed
        self.template = JudgeTemplate.load(mode, template)
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        loaded = models.load_model(source, "causal_lm", dtype=self.dtype, device=self.device,
                                   trust_remote_code=trust_remote_code, role="the judge")
        self.model, self.tokenizer, resolved = loaded.model, loaded.tokenizer, loaded.resolved
        if chat_template is None and not getattr(self.tokenizer, "chat_template", None):
            chat_template = formatting.RAW  # a base model: plain text is all it knows
        self.template_mode = formatting.setup_template(self.tokenizer, chat_template, source)
        self._generation_prompt_works = self.template_mode != formatting.RAW and _honours_generation_prompt(
            self.tokenizer)
        self.pad_id = next(i for i in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, 0) if i is not None)
        self.max_length = max_length or model_max_length(self.model.config, self.tokenizer)
        self.batch_tokens = batch_tokens or default_batch_tokens(self.device)
        self._keep_arg = _logits_to_keep_argument(self.model)
        if mode == "pairwise":
            self.prefill, self.label_ids = self._pairwise_labels()
        else:
            self.prefill, self.label_ids = self._rating_labels()
            self._branches, self._label_branch, self._extensions = _label_trie(self.label_ids)
        self.truncated = 0
        self.tokens = 0  # prompt tokens run through the model, for throughput figures
        self.unparsed = 0  # always 0: label probabilities always give a verdict
        chat = hashlib.sha256(str(getattr(self.tokenizer, "chat_template", "")).encode()).hexdigest()[:12]
        self._dtype_name = dtype_name(self.dtype)
        self._fingerprint = hashlib.sha256(
            f"judge-local:1:{models.fingerprint(resolved)}:{mode}:{self.template.digest()}:{self._dtype_name}:"
            f"{self.template_mode}:{chat}:{self.max_length}:{self.prefill!r}:{self.label_ids}".encode()
        ).hexdigest()[:16]

    # -- protocol ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "backend": "local", "mode": self.mode, "source": self.source,
                "fingerprint": self._fingerprint, "architecture": type(self.model).__name__,
                "dtype": self._dtype_name, "device": str(self.device), "chat_template": self.template_mode,
                "template": self.template.origin, "prefill": self.prefill, "max_length": self.max_length,
                "batch_tokens": self.batch_tokens, "seed": self.seed, "truncated": self.truncated,
                "unparsed": self.unparsed}

    def plan(self, requests: Sequence[JudgeRequest] | Sequence[Item]) -> tuple[list[list[int]], list[int]]:
        """The batches judge() (pairwise) or score() (rating) cuts, and their tokens. A data-parallel
        run (scoring.distributed) hands each process whole batches of this plan; a union of whole
        batches in plan order is cut into the same batches again, so each request is computed
        beside the same requests as in one process. Counts nothing: the run counts truncation."""
        if self.mode == "pairwise":
            rows, _ = self._prefix_rows([self.template.pairwise(r) for r in requests], extra=0)
            lengths = [len(r) for r in rows]
            batches = plan_batches(lengths, self.batch_tokens)
            return batches, [sum(lengths[i] for i in b) for b in batches]
        longest_branch = max(len(b) for b in self._branches)
        prefixes, _ = self._prefix_rows([self.template.rating(i) for i in requests], extra=longest_branch)
        lengths = [len(p) + longest_branch for p in prefixes]
        batches = plan_batches(lengths, self._rating_budget())
        return batches, [len(self._branches) * sum(lengths[i] for i in b) for b in batches]

    def judge(self, requests: Sequence[JudgeRequest]) -> Iterator[tuple[list[int], list[Verdict]]]:
        require_mode(self, "pairwise", "judge")
        rows, _ = self._encode_prefixes([self.template.pairwise(r) for r in requests], extra=0)
        queries = [(0, self.label_ids[0][0]), (0, self.label_ids[1][0])]
        for batch in plan_batches([len(r) for r in rows], self.batch_tokens):
            logps = self._label_logprobs([rows[i] for i in batch], [queries] * len(batch))
            yield batch, [_pair_verdict(a, b) for a, b in logps]

    def score(self, items: Sequence[Item]) -> Iterator[ScoredBatch]:
        """Rating mode: each completion's expected 1..10 rating under the judge's distribution."""
        require_mode(self, "rating", "score")
        longest_branch = max(len(b) for b in self._branches)
        prefixes, truncated = self._encode_prefixes([self.template.rating(i) for i in items], extra=longest_branch)
        for batch in plan_batches([len(p) + longest_branch for p in prefixes], self._rating_budget()):
            rows, queries = [], []
            for i in batch:
                for branch in self._branches:
                    rows.append(prefixes[i] + list(branch))
                    queries.append([])
            for label, cont in enumerate(self.label_ids):
                branch = self._label_branch[label]
                for n in range(len(batch)):  # token j of the label is read len(branch) - j from the end
                    queries[n * len(self._branches) + branch].extend(
                        (len(self._branches[branch]) - j, tok) for j, tok in enumerate(cont))
            logps = self._label_logprobs(rows, queries)
            scores = [self._expected_rating(logps[n * len(self._branches):(n + 1) * len(self._branches)])
                      for n in range(len(batch))]
            yield ScoredBatch(batch, scores, [truncated[i] for i in batch],
                              tokens=sum(len(r) for r in rows))

    # -- prompt and labels ------------------------------------------------------------------
    def judge_text(self, user_text: str, prefill: str | None = None) -> str:
        """The exact text the model continues: the judging prompt in its chat template, then
        the pre-filled start of the answer, so the next token is the label."""
        prefill = self.prefill if prefill is None else prefill
        if self.template_mode == formatting.RAW:
            return f"{user_text}\n\n{prefill}"
        messages = [{"role": "user", "content": user_text}]
        if self._generation_prompt_works:
            head = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                      **NO_THINKING)
        else:  # a template that ignores add_generation_prompt: render an assistant turn and cut it
            rendered = self.tokenizer.apply_chat_template(
                [*messages, {"role": "assistant", "content": _SENTINEL}], tokenize=False, **NO_THINKING)
            if _SENTINEL not in rendered:
                raise ModelError(f"{self.name}: its chat template neither adds a generation prompt nor shows the "
                                 "assistant's text; pass a chat template that does")
            head = rendered[: rendered.index(_SENTINEL)]
        return head + prefill

    def _encode(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        # Chat templates carry their own BOS; raw text gets the tokenizer's usual specials.
        special = self.template_mode == formatting.RAW
        return self.tokenizer(texts, add_special_tokens=special, truncation=False)["input_ids"]

    def _continuation(self, prefix: str, label: str) -> list[int] | None:
        """The tokens `label` adds after `prefix`, or None when the two merge across the seam
        (then the model would never see the prefix's tokens followed by these)."""
        base, full = self._encode([prefix, prefix + label])
        if len(full) <= len(base) or full[: len(base)] != base:
            return None
        return full[len(base):]

    def _probe_text(self, prefill: str) -> str:
        probe = JudgeRequest([{"role": "user", "content": "Say hello."}], "Hello!", "Hi there.")
        item = Item(probe.prompt, probe.answer_a)
        user = self.template.pairwise(probe) if self.mode == "pairwise" else self.template.rating(item)
        return self.judge_text(user, prefill)

    def _pairwise_labels(self) -> tuple[str, list[list[int]]]:
        prefix = self._probe_text(PAIR_PREFILL)
        conts = [self._continuation(prefix, label) for label in PAIR_LABELS]
        bad = [label for label, c in zip(PAIR_LABELS, conts) if c is None or len(c) != 1]
        if bad:
            raise ModelError(f"{self.name}: the verdict label {bad[0]!r} after {PAIR_PREFILL!r} is not one token in "
                             "this tokenizer, so its probability cannot be read in one step; use mode='rating' or "
                             "an openai: judge")
        if conts[0] == conts[1]:
            raise ModelError(f"{self.name}: the labels A and B map to the same token")
        return PAIR_PREFILL, conts

    def _rating_labels(self) -> tuple[str, list[list[int]]]:
        for prefill, separator in RATING_PREFILLS:
            prefix = self._probe_text(prefill)
            conts = [self._continuation(prefix, separator + label) for label in RATING_LABELS]
            if all(c is not None for c in conts) and len({tuple(c) for c in conts}) == len(conts):
                return prefill, conts
        raise ModelError(f"{self.name}: its tokenizer merges 'Rating:' with the numbers 1..10 in every layout "
                         "tried, so rating probabilities cannot be read; use an openai: judge")

    def _encode_prefixes(self, texts: list[str], extra: int) -> tuple[list[list[int]], list[bool]]:
        """Token rows for the judging texts, cut to leave `extra` tokens for label continuations.
        Cutting keeps the end (the answer and the pre-filled label position) and is counted."""
        rows, truncated = self._prefix_rows(texts, extra)
        self.truncated += sum(truncated)
        return rows, truncated

    def _prefix_rows(self, texts: list[str], extra: int) -> tuple[list[list[int]], list[bool]]:
        limit = max(1, self.max_length - extra)
        rows = self._encode([self.judge_text(t) for t in texts])
        truncated = [len(r) > limit for r in rows]
        return [r[-limit:] for r in rows], truncated

    def _rating_budget(self) -> int:
        """Rating rows per batch: every completion runs once per label branch."""
        return max(1, self.batch_tokens // len(self._branches))

    # -- model ------------------------------------------------------------------------------
    def _label_logprobs(self, rows: list[list[int]], queries: list[list[tuple[int, int]]]) -> list[list[float]]:
        """For each row, log p(token) at each (offset from the row's end, token) query."""
        import torch

        keep = 1 + max(offset for q in queries for offset, _ in q)
        with torch.inference_mode():
            logprobs = self._last_logprobs(rows, keep)
            row_idx = torch.tensor([n for n, q in enumerate(queries) for _ in q], device=logprobs.device)
            pos_idx = torch.tensor([keep - 1 - off for q in queries for off, _ in q], device=logprobs.device)
            tok_idx = torch.tensor([tok for q in queries for _, tok in q], device=logprobs.device)
            flat = logprobs[row_idx, pos_idx, tok_idx].double().cpu().tolist()
        out, start = [], 0
        for q in queries:
            out.append(flat[start:start + len(q)])
            start += len(q)
        return out

    def _last_logprobs(self, rows: list[list[int]], keep: int):
        """Log-softmax over the vocabulary at the last `keep` positions of each left-padded row."""
        import torch

        longest = max(len(r) for r in rows)
        self.tokens += sum(len(r) for r in rows)
        ids = torch.full((len(rows), longest), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), longest), dtype=torch.long)
        for n, row in enumerate(rows):
            ids[n, longest - len(row):] = torch.tensor(row)
            attention[n, longest - len(row):] = 1
        positions = (attention.cumsum(dim=1) - 1).clamp(min=0)  # each row counts from 0 at its first real token
        extra = {self._keep_arg: keep} if self._keep_arg else {}
        out = self.model(input_ids=ids.to(self.device), attention_mask=attention.to(self.device),
                         position_ids=positions.to(self.device), use_cache=False, **extra)
        return out.logits[:, -keep:, :].float().log_softmax(dim=-1)

    def _expected_rating(self, branch_logps: list[list[float]]) -> float:
        """Softmax over the ten labels' sequence log-probs, then the mean rating.

        A label whose tokens begin another's ("1" before "10" where digits are split) would
        also collect the longer label's mass, so that mass is taken out first: the ten
        events are then disjoint.
        """
        per_label = []
        for label, cont in enumerate(self.label_ids):
            branch = self._label_branch[label]
            # queries were appended label by label, so this label's tokens sit at a known offset
            start = sum(len(self.label_ids[m]) for m in range(label) if self._label_branch[m] == branch)
            per_label.append(sum(branch_logps[branch][start:start + len(cont)]))
        exclusive = []
        for label, logp in enumerate(per_label):
            share = sum(math.exp(per_label[m] - logp) for m in self._extensions[label])
            exclusive.append(logp + math.log1p(-share) if share < 1 else -math.inf)
        top = max(exclusive)
        if top == -math.inf:
            return math.nan
        weights = [math.exp(x - top) for x in exclusive]
        return sum(w * int(RATING_LABELS[n]) for n, w in enumerate(weights)) / sum(weights)


def _pair_verdict(logp_a: float, logp_b: float) -> Verdict:
    p_a, p_b = math.exp(logp_a), math.exp(logp_b)
    mass = p_a + p_b
    # Normalised over the two labels in log space, so tiny masses do not underflow to 0/0.
    share_a = 1.0 / (1.0 + math.exp(logp_b - logp_a)) if logp_b - logp_a < 700 else 0.0
    winner = "A" if share_a > 0.5 else "B" if share_a < 0.5 else "tie"
    return Verdict(winner, f"p(A)={share_a:.4f} p(B)={1 - share_a:.4f} mass={mass:.4g}")


def _honours_generation_prompt(tokenizer) -> bool:
    probe = [{"role": "user", "content": "hi"}]
    with_prompt = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True, **NO_THINKING)
    return with_prompt != tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=False,
                                                        **NO_THINKING)


def _logits_to_keep_argument(model) -> str | None:
    """transformers 4.50+ calls it logits_to_keep, 4.45-4.49 num_logits_to_keep; remote code may lack both."""
    params = inspect.signature(model.forward).parameters
    return next((name for name in ("logits_to_keep", "num_logits_to_keep") if name in params), None)


def _label_trie(conts: list[list[int]]):
    """Which extra tokens each label needs fed to the model, shared between labels.

    A label of k tokens needs its first k-1 tokens after the prefix; one row per distinct
    such stem (stems that begin a longer stem are covered by it) scores every label.
    Returns (branches, branch index per label, labels extending each label).
    """
    stems = {tuple(c[:-1]) for c in conts}
    branches = sorted(s for s in stems if not any(o != s and o[: len(s)] == s for o in stems))
    owner = [next(n for n, b in enumerate(branches) if b[: len(c) - 1] == tuple(c[:-1])) for c in conts]
    extensions = [[m for m, other in enumerate(conts) if len(other) > len(c) and other[: len(c)] == c]
                  for c in conts]
    return branches, owner, extensions
