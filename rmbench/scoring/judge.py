"""LLM-as-a-judge: a language model compares two replies, or grades one, instead of a reward head.

Two backends share one judging prompt (a template file) and one verdict shape:

- `LocalJudge` runs a causal LM in-process and never samples. The judging prompt is put in
  the model's chat template, the assistant turn is pre-filled up to the label ("[[" for a
  pairwise verdict, "Rating:" for a grade), and the verdict is read from the model's
  probabilities for the label tokens. One forward pass per request, deterministic, and the
  same whatever the batch size.
- `OpenAIJudge` sends the prompt to any OpenAI-compatible /v1/chat/completions server (vLLM,
  llama.cpp, TGI, a hosted API) and parses the text that comes back. Junk replies become
  "no verdict" (counted), never an exception: one rambling reply must not end a long run.

Both are `PairwiseJudge`s (pairwise mode) and rmbench `Scorer`s (rating mode, where the
score of a completion is its rating), so the engine can cache and resume them like any
reward model. Comparing in both orders to cancel position bias is the caller's job.
"""

from __future__ import annotations

import hashlib
import http.client
import inspect
import ipaddress
import json
import math
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from rmbench import models
from rmbench.errors import ModelError, RmbenchError
from rmbench.scoring import formatting
from rmbench.scoring.base import Item, ScoredBatch
from rmbench.scoring.batching import plan_batches

MODES = ("pairwise", "rating")
PLACEHOLDERS = {"pairwise": ("prompt", "answer_a", "answer_b"), "rating": ("prompt", "answer")}
OPENAI_PREFIX = "openai:"


# -- requests and verdicts ---------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeRequest:
    """One comparison: which of two answers better continues `prompt` (chat messages)."""

    prompt: list[dict]
    answer_a: str
    answer_b: str

    def key(self) -> str:
        """Content hash, so a cache can skip comparisons already judged."""
        blob = json.dumps([self.prompt, self.answer_a, self.answer_b], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class Verdict:
    winner: str | None  # "A", "B", "tie", or None when no verdict could be read
    raw: str  # the judge's reply, or e.g. "p(A)=0.7100 p(B)=0.2900 mass=0.83" for a local judge


class PairwiseJudge(Protocol):
    name: str
    kind: str  # "judge"

    def fingerprint(self) -> str:
        """Changes whenever a verdict could change: model, mode, template, decoding settings."""

    def describe(self) -> dict[str, Any]:
        """What goes into results.json about this judge."""

    def judge(self, requests: Sequence[JudgeRequest]) -> Iterator[tuple[list[int], list[Verdict]]]:
        """Judge every request once, yielding (indices into requests, verdicts) batches."""


# -- parsing replies ---------------------------------------------------------------------------
#
# Accepted verdict forms (keywords are case-insensitive, whitespace is free):
#   whole reply   "A", "b", "tie", "(A)", "Output (a)", "Assistant B", "Response A."  (may be
#                 wrapped in quotes or **bold**)
#   tier 1        [[A]] [[B]] [[C]] [[tie]]          (C means tie)
#                 \boxed{A}  \boxed{\text{B}}  \boxed{C}
#                 JSON  {"winner": "A"}  (keys winner / verdict / better / preferred / choice;
#                 the value may be any whole-reply form)
#                 "Verdict: B", "Final verdict: Assistant A", "Winner: tie", "Answer: (B)",
#                 "Decision = A"  (a keyword, then ':' or '=')
#   tier 2        "Assistant A is better", "Response (b) was clearly better", "Output B wins",
#                 "A is better", "B wins" (a bare letter must be a capital: "a" is a word),
#                 "Output (a)" anywhere in the text
# Reasoning blocks (<think>...</think>, or an unclosed <think> to the end) are ignored first.
# The first tier with any match decides. If the last non-empty line names exactly one label,
# that is the verdict; otherwise the text must name exactly one label in that tier. Replies
# naming both ("[[A]] or [[B]]", "Assistant A is better ... Assistant B is better"), an
# unknown label ("[[D]]") or nothing usable give None.

_NOUN = r"(?:assistant|output|response|reply|answer|model)"
_LABEL_END = r"(?=\s*(?:$|[.,;:!?)\]}*\"'`]|is\b|was\b|wins\b))"
_WHOLE = re.compile(rf"^\s*(?:{_NOUN}\s*)?[(\[]?\s*(a|b|tie)\s*[)\]]?\s*$", re.IGNORECASE)
_TIER1 = (
    re.compile(r"\[\[\s*(a|b|c|tie)\s*\]\]", re.IGNORECASE),
    re.compile(r"\\boxed\s*\{\s*(?:\\text(?:bf)?\s*\{\s*)?(a|b|c|tie)\s*\}", re.IGNORECASE),
    re.compile(r"\"(?:winner|verdict|better|preferred|choice)\"\s*:\s*\"([^\"\n]{1,40})\"", re.IGNORECASE),
    re.compile(rf"\b(?:final\s+)?(?:verdict|winner|decision|answer|choice)\s*[:=]\s*\**\s*(?:{_NOUN}\s*)?"
               rf"[(\[]?\s*(?:a\s+(?=tie))?(a|b|tie)\b{_LABEL_END}", re.IGNORECASE),
)
_TIER2 = (
    re.compile(rf"\b{_NOUN}\s*[(\[]?\s*(a|b)\s*[)\]]?\s+(?:(?:is|was)\s+(?:(?!not\b)\w+\s+)?(?:the\s+)?"
               r"(?:better|superior|preferred|best|stronger)\b|wins\b)", re.IGNORECASE),
    re.compile(r"\b(A|B)\s+(?:(?i:is|was)\s+(?:(?!not\b)\w+\s+)?(?i:better|superior|preferred)\b|(?i:wins)\b)"),
    re.compile(r"\boutput\s*\(\s*(a|b)\s*\)", re.IGNORECASE),
)


def _label(token: str) -> str | None:
    """Map a captured label to the canonical winner; C is the templates' name for a tie."""
    token = token.strip().lower()
    if token in ("a", "b"):
        return token.upper()
    if token in ("c", "tie"):
        return "tie"
    return _whole_reply_label(token)


def _whole_reply_label(text: str) -> str | None:
    """A reply that is nothing but a label ("B", "Output (a)", "**tie**")."""
    core = text.strip().strip("*_`\"'").strip().rstrip(".!").strip()
    match = _WHOLE.match(core)
    return _label(match.group(1)) if match else None


def _hits(text: str, patterns) -> list[tuple[int, str]]:
    found = []
    for pattern in patterns:
        for match in pattern.finditer(text):
            label = _label(match.group(1))
            if label is not None:
                found.append((match.start(), label))
    return found


def _decide(text: str, hits: list[tuple[int, str]]) -> str | None:
    """The last line's single label, else the text's single label, else no verdict."""
    stripped = text.rstrip()
    last_line = stripped.rfind("\n") + 1
    on_last = {label for pos, label in hits if pos >= last_line}
    if len(on_last) == 1:
        return on_last.pop()
    labels = {label for _, label in hits}
    return labels.pop() if len(labels) == 1 else None


def parse_verdict(text: str) -> str | None:
    """The winner a judge's reply names ("A", "B" or "tie"), or None; the accepted forms are
    listed above. Conservative on purpose: a wrong verdict is worse than a counted blank."""
    text = _without_reasoning(text or "")
    if not text.strip():
        return None
    whole = _whole_reply_label(text)
    if whole is not None:
        return whole
    for tier in (_TIER1, _TIER2):
        hits = _hits(text, tier)
        if hits:
            return _decide(text, hits)
    return None


# Accepted rating forms: "Rating: 7", "rating = 7.5", "Rating: **8**", "Rating: [[7]]",
# "Score: 8.5", "[[7]]" (tier 1); "7/10", "7 out of 10" (tier 2); a reply that is only a
# number. The last match of the first tier that has one is the rating; it must lie in
# 1..10 (else None, even if an earlier match was in range). Reasoning blocks are ignored.
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_RATING_TIER1 = (
    re.compile(rf"\b(?:rating|score)\s*[:=]\s*\**\s*\[*\s*{_NUMBER}", re.IGNORECASE),
    re.compile(rf"\[\[\s*{_NUMBER}\s*\]\]"),
)
_RATING_TIER2 = (re.compile(rf"{_NUMBER}\s*(?:/|out\s+of)\s*10(?![\d.])", re.IGNORECASE),)
_RATING_WHOLE = re.compile(rf"^\s*\**\s*{_NUMBER}\s*\**\s*\.?\s*$")


def parse_rating(text: str) -> float | None:
    """The 1..10 rating a judge's reply gives, or None (forms listed above)."""
    text = _without_reasoning(text or "")
    if not text.strip():
        return None
    whole = _RATING_WHOLE.match(text)
    if whole:
        return _in_range(whole.group(1))
    for tier in (_RATING_TIER1, _RATING_TIER2):
        hits = sorted((m.start(), m.group(1)) for pattern in tier for m in pattern.finditer(text))
        if hits:
            return _in_range(hits[-1][1])
    return None


_REASONING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)


def _without_reasoning(text: str) -> str:
    """Drop a reasoning model's thinking: it weighs both sides and names every label."""
    return _REASONING.sub("", text)


def _in_range(number: str) -> float | None:
    value = float(number)
    return value if 1 <= value <= 10 else None


# -- templates -------------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"\{(prompt|answer_a|answer_b|answer)\}")


def render_conversation(messages: Sequence[dict]) -> str:
    """The conversation as plain "Role: text" turns, so any judge can read who said what."""
    return "\n\n".join(f"{str(m.get('role', 'user')).capitalize()}: {m.get('content', '')}" for m in messages)


@dataclass(frozen=True)
class JudgeTemplate:
    """The judging prompt. Only the named placeholders are replaced, in one pass, so braces in
    the template (JSON examples) or in the texts (code) are left exactly as written, and an
    answer that happens to contain "{answer_b}" is not substituted again."""

    mode: str
    text: str
    origin: str  # "builtin:pairwise", "file:NAME"

    @classmethod
    def load(cls, mode: str, path: str | None = None) -> JudgeTemplate:
        _check_mode(mode)
        if path is None:
            text = resources.files("rmbench.scoring").joinpath(f"judge_templates/{mode}.txt").read_text("utf-8")
            origin = f"builtin:{mode}"
        else:
            file = Path(path).expanduser()
            if not file.is_file():
                raise RmbenchError(f"judge template {path}: no such file")
            text, origin = file.read_text(encoding="utf-8"), f"file:{file.name}"
        missing = [name for name in PLACEHOLDERS[mode] if "{" + name + "}" not in text]
        if missing:
            raise RmbenchError(f"judge template {path or origin} lacks the placeholder "
                               f"{', '.join('{' + m + '}' for m in missing)} that {mode} judging needs")
        return cls(mode, text, origin)

    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def fill(self, **values: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), self.text)

    def pairwise(self, request: JudgeRequest) -> str:
        return self.fill(prompt=render_conversation(request.prompt), answer_a=request.answer_a,
                         answer_b=request.answer_b)

    def rating(self, item: Item) -> str:
        return self.fill(prompt=render_conversation(item.prompt), answer=item.completion)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise RmbenchError(f"unknown judge mode {mode!r}: use one of {', '.join(MODES)}")


def _require_mode(judge, mode: str, call: str) -> None:
    if judge.mode != mode:
        raise RmbenchError(f"{judge.name} was built in {judge.mode} mode; {call}() needs mode={mode!r}")


# -- local judge -----------------------------------------------------------------------------

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


class LocalJudge:
    """A causal LM read as a judge through its label probabilities (see the module docstring).

    Rows are left-padded with explicit position ids: every row then ends in the same column,
    so the model computes logits for the last few columns only (a vocabulary-sized logit
    row per token would dominate memory), and padding cannot move a row's positions.
    """

    kind = "judge"

    def __init__(self, source: str, *, mode: str = "pairwise", template: str | None = None, dtype: str = "auto",
                 device: str = "auto", max_length: int | None = None, batch_tokens: int | None = None,
                 trust_remote_code: bool = False, seed: int = 0, chat_template: str | None = None):
        # torch and transformers load here, not at import: parsing and the HTTP judge need neither.
        from rmbench.scoring.implicit import load_causal_lm
        from rmbench.scoring.runtime import default_batch_tokens, dtype_name, model_max_length, pick_device, pick_dtype

        _check_mode(mode)
        self.name = source
        self.source = source
        self.mode = mode
        self.seed = seed
        self.template = JudgeTemplate.load(mode, template)
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.model, self.tokenizer, resolved = load_causal_lm(source, self.dtype, self.device, trust_remote_code)
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
    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "backend": "local", "mode": self.mode, "source": self.source,
                "fingerprint": self._fingerprint, "architecture": type(self.model).__name__,
                "dtype": self._dtype_name, "device": str(self.device), "chat_template": self.template_mode,
                "template": self.template.origin, "prefill": self.prefill, "max_length": self.max_length,
                "batch_tokens": self.batch_tokens, "seed": self.seed, "truncated": self.truncated,
                "unparsed": self.unparsed}

    def judge(self, requests: Sequence[JudgeRequest]) -> Iterator[tuple[list[int], list[Verdict]]]:
        _require_mode(self, "pairwise", "judge")
        rows, _ = self._encode_prefixes([self.template.pairwise(r) for r in requests], extra=0)
        queries = [(0, self.label_ids[0][0]), (0, self.label_ids[1][0])]
        for batch in plan_batches([len(r) for r in rows], self.batch_tokens):
            logps = self._label_logprobs([rows[i] for i in batch], [queries] * len(batch))
            yield batch, [_pair_verdict(a, b) for a, b in logps]

    def score(self, items: Sequence[Item]) -> Iterator[ScoredBatch]:
        """Rating mode: each completion's expected 1..10 rating under the judge's distribution."""
        _require_mode(self, "rating", "score")
        longest_branch = max(len(b) for b in self._branches)
        prefixes, truncated = self._encode_prefixes([self.template.rating(i) for i in items], extra=longest_branch)
        budget = max(1, self.batch_tokens // len(self._branches))
        for batch in plan_batches([len(p) + longest_branch for p in prefixes], budget):
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
        limit = max(1, self.max_length - extra)
        rows = self._encode([self.judge_text(t) for t in texts])
        truncated = [len(r) > limit for r in rows]
        self.truncated += sum(truncated)
        return [r[-limit:] for r in rows], truncated

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


# -- OpenAI-compatible judge -----------------------------------------------------------------

RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
_TOO_LONG = re.compile(r"context length|context size|context window|maximum context|too long|exceeds",
                       re.IGNORECASE)


@dataclass
class _Reply:
    text: str | None  # None when the server refused this one request
    tokens: int = 0
    error: str = ""


class _RequestRefused(Exception):
    """The server rejected one request for its own sake (too long): that item gets no verdict."""


class OpenAIJudge:
    """A judge behind an OpenAI-compatible chat-completions endpoint.

    Requests run on a bounded thread pool; results come back in request order whatever
    order the server answers in. Transient failures (429, 5xx, dropped connections) are
    retried with exponential backoff; a refused key or a wrong url fails the run at once
    with one line that says what to check. The API key is read from an environment
    variable and never appears in messages or descriptions: server text quoted in an error
    has the key and any "Bearer ..." blanked. Redirects are never followed, because urllib
    would resend the Authorization header to wherever a 3xx points, another host included.
    """

    kind = "judge"

    def __init__(self, model: str, *, url: str, mode: str = "pairwise", template: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", max_tokens: int = 512, temperature: float = 0.0, seed: int = 0,
                 concurrency: int = 4, timeout: float = 60, retries: int = 3, backoff: float = 1.0):
        _check_mode(mode)
        if not model:
            raise RmbenchError("openai: judge needs a model name, as in openai:MODEL")
        parsed = urllib.parse.urlparse(url or "")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RmbenchError(f"judge url {public_url(url or '')!r} is not an http(s) url; pass one like http://127.0.0.1:8000/v1")
        if concurrency < 1 or retries < 0:
            raise RmbenchError("judge concurrency must be at least 1 and retries at least 0")
        self.model = model
        self.name = OPENAI_PREFIX + model
        self.url = url.rstrip("/")
        self.endpoint = self.url + "/chat/completions"
        self.public_endpoint = public_url(self.endpoint)  # what messages print: no user:password@, no ?key=
        self.mode = mode
        self.template = JudgeTemplate.load(mode, template)
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env) or None
        self.max_tokens, self.temperature, self.seed = max_tokens, temperature, seed
        self.concurrency, self.timeout, self.retries, self.backoff = concurrency, timeout, retries, backoff
        self._opener = _opener_for(parsed.hostname or "")
        self.unparsed = 0
        self.failed = 0
        self.tokens = 0
        self._fingerprint = hashlib.sha256(
            f"judge-openai:1:{model}:{self.url}:{mode}:{self.template.digest()}:{max_tokens}:{temperature}:{seed}"
            .encode()).hexdigest()[:16]

    def __repr__(self) -> str:  # the default would be harmless, but keep the key out of any dump
        return f"OpenAIJudge(model={self.model!r}, url={public_url(self.url)!r}, mode={self.mode!r})"

    # -- protocol ---------------------------------------------------------------------------
    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "backend": "openai", "mode": self.mode, "model": self.model,
                "url": public_url(self.url), "fingerprint": self._fingerprint, "template": self.template.origin,
                "max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed,
                "concurrency": self.concurrency, "api_key_env": self.api_key_env,
                "api_key_set": self._api_key is not None, "unparsed": self.unparsed, "failed": self.failed,
                "tokens": self.tokens}

    def judge(self, requests: Sequence[JudgeRequest]) -> Iterator[tuple[list[int], list[Verdict]]]:
        _require_mode(self, "pairwise", "judge")
        for indices, replies in self._complete_all([self.template.pairwise(r) for r in requests]):
            verdicts = []
            for reply in replies:
                if reply.text is None:
                    self.failed += 1
                    verdicts.append(Verdict(None, f"error: {reply.error}"))
                    continue
                winner = parse_verdict(reply.text)
                self.unparsed += winner is None
                verdicts.append(Verdict(winner, reply.text))
            yield indices, verdicts

    def score(self, items: Sequence[Item]) -> Iterator[ScoredBatch]:
        """Rating mode: the parsed rating, NaN (and counted) where none could be read."""
        _require_mode(self, "rating", "score")
        for indices, replies in self._complete_all([self.template.rating(i) for i in items]):
            scores = []
            for reply in replies:
                rating = parse_rating(reply.text) if reply.text is not None else None
                self.failed += reply.text is None
                self.unparsed += reply.text is not None and rating is None
                scores.append(math.nan if rating is None else rating)
            yield ScoredBatch(indices, scores, [False] * len(indices), tokens=sum(r.tokens for r in replies))

    # -- transport --------------------------------------------------------------------------
    def _complete_all(self, prompts: list[str]) -> Iterator[tuple[list[int], list[_Reply]]]:
        """All prompts through the pool, yielded in order in small batches as they finish, so
        a cache can keep each batch and an interruption loses little."""
        if not prompts:
            return
        chunk = max(8, 2 * self.concurrency)
        stop = threading.Event()  # set on error or interruption: workers stop retrying at once
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="rmbench-judge")
        try:
            futures = [pool.submit(self._complete, p, stop) for p in prompts]
            for start in range(0, len(prompts), chunk):
                indices = list(range(start, min(start + chunk, len(prompts))))
                replies = [futures[i].result() for i in indices]
                self.tokens += sum(r.tokens for r in replies)
                yield indices, replies
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def _complete(self, prompt: str, stop: threading.Event) -> _Reply:
        payload = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                   "temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed}
        try:
            body = self._post(json.dumps(payload).encode(), stop)
        except _RequestRefused as refused:
            return _Reply(None, error=str(refused))
        return self._read_completion(body)

    def _post(self, data: bytes, stop: threading.Event) -> bytes:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            wait = self.backoff * 2 ** attempt
            request = urllib.request.Request(self.endpoint, data=data, headers=headers, method="POST")
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return response.read()
            except urllib.error.HTTPError as err:
                detail = self._redact(_error_detail(err))
                self._raise_if_fatal(err, detail)
                last = f"HTTP {err.code}{': ' + detail if detail else ''}"
                wait = _retry_after(err, wait)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                last = self._redact(_reason(err))
            if attempt < self.retries and stop.wait(wait):
                raise RmbenchError("judge run stopped")  # the caller has already gone
        raise RmbenchError(self._gave_up_message(last))

    def _redact(self, text: str) -> str:
        """Servers echo what they were sent: the key and any bearer token never reach a message."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _BEARER.sub(r"\1***", text)

    def _raise_if_fatal(self, err: urllib.error.HTTPError, detail: str) -> None:
        """Errors no retry can fix end the run; a request too long for the model skips that item."""
        status = err.code
        if 300 <= status < 400:
            target = public_url(err.headers.get("Location", "") or "") or "an unnamed place"
            raise RmbenchError(f"judge server {self.public_endpoint} redirected (HTTP {status}) to {target}: rmbench "
                               "does not follow redirects (they could carry the API key to another host); pass the "
                               "final url as --judge-url")
        if status in RETRY_STATUSES or status < 400:
            return
        said = f" ({detail})" if detail else ""
        if status in (401, 403):
            key = "is set" if self._api_key else "is not set"
            raise RmbenchError(f"judge server {self.public_endpoint} refused the request with HTTP {status}{said}: "
                               f"check the API key in ${self.api_key_env} (it {key})")
        if status == 404:
            raise RmbenchError(f"judge server answered HTTP 404 for {self.public_endpoint}{said}: check the url (it "
                               f"should end in /v1) and the model name {self.model!r}")
        if status in (400, 413, 422) and _TOO_LONG.search(detail or ""):
            raise _RequestRefused(f"HTTP {status}{said}")
        raise RmbenchError(f"judge server {self.public_endpoint} rejected the request with HTTP {status}{said}: check "
                           f"the model name {self.model!r} and the judge options")

    def _gave_up_message(self, last: str) -> str:
        attempts = f"{self.retries + 1} attempt{'s' if self.retries else ''}"
        if last.startswith("HTTP 429"):
            return (f"judge server {self.public_endpoint} kept rate-limiting after {attempts} ({last}): lower the "
                    "concurrency")
        if last.startswith("HTTP"):
            return (f"judge server {self.public_endpoint} kept failing after {attempts} ({last}): check the "
                    "server's log")
        return (f"cannot reach the judge server at {self.public_endpoint} after {attempts} ({last}): check that it is "
                "running and that the url is right")

    def _read_completion(self, body: bytes) -> _Reply:
        try:
            data = json.loads(body)
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError) as err:
            text = self._redact(_one_line(body.decode("utf-8", "replace")))[:80]
            raise RmbenchError(f"judge server {self.public_endpoint} did not answer with an OpenAI chat completion "
                               f"({text!r}): check the url") from err
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # content parts, as some servers send
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        usage = data.get("usage") or {}
        tokens = usage.get("total_tokens") if isinstance(usage, dict) else 0
        return _Reply(str(content or ""), tokens=int(tokens or 0))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises the 3xx as an HTTPError: _raise_if_fatal names the Location


_BEARER = re.compile(r"(?i)(bearer\s+|api[_-]?key[\"'=:\s]+)[^\s\"',}]+")


def public_url(url: str) -> str:
    """The url as it may be printed or recorded: no user:password@, no query string."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    netloc = (f"[{host}]" if ":" in host else host) + port
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def _opener_for(host: str):
    """No redirects ever; local servers are reached directly (a proxy set for the internet
    rarely knows 127.0.0.1)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    handlers: list = [_NoRedirects()]
    if loopback:
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error_detail(err: urllib.error.HTTPError) -> str:
    """The server's own explanation, from an OpenAI-style error body when there is one."""
    try:
        body = err.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    try:
        data = json.loads(body)
        error = data.get("error", data) if isinstance(data, dict) else data
        text = error.get("message", "") if isinstance(error, dict) else str(error)
    except ValueError:
        text = body
    return _one_line(str(text))[:160]


def _retry_after(err: urllib.error.HTTPError, default: float) -> float:
    try:
        return min(60.0, max(0.0, float(err.headers.get("Retry-After", ""))))
    except (TypeError, ValueError):
        return default


def _reason(err: Exception) -> str:
    reason = getattr(err, "reason", None) or err
    return _one_line(f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__)


# -- choosing a backend ----------------------------------------------------------------------


def build_judge(spec: str, *, url: str | None = None, mode: str = "pairwise", template: str | None = None,
                **model_options) -> LocalJudge | OpenAIJudge:
    """`openai:MODEL` talks to a server at `url`; anything else is a local checkpoint (folder,
    .gguf or hub id). Options the chosen backend does not take (dtype for a server,
    concurrency for a local model) are ignored, so a caller can pass one set of flags."""
    if spec.startswith(OPENAI_PREFIX):
        if not url:
            raise RmbenchError(f"{spec} is served over HTTP: pass the server's url, e.g. --judge-url "
                               "http://127.0.0.1:8000/v1")
        return OpenAIJudge(spec[len(OPENAI_PREFIX):], url=url, mode=mode, template=template,
                           **_accepted(OpenAIJudge, model_options))
    if url:
        raise RmbenchError(f"a judge url only applies to openai:MODEL judges, not to the local model {spec}")
    return LocalJudge(spec, mode=mode, template=template, **_accepted(LocalJudge, model_options))


def _accepted(cls, options: dict[str, Any]) -> dict[str, Any]:
    names = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in options.items() if k in names}
