"""What a judge is asked and what it answers: requests, verdicts, and reading replies.

No model and no network here: the shapes every judge backend shares (a `JudgeRequest` in,
a `Verdict` out), the rule that turns two answer orders into one outcome, and the parsers
that read a verdict or a 1..10 rating out of free text. The leaderboard uses the same
outcome rule to recheck recorded verdicts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


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


def comparison_outcome(forward: str | None, reverse: str | None) -> float:
    """One comparison asked in both answer orders. forward: chosen shown as A; reverse:
    chosen shown as B. 1 when both orders pick the chosen answer, 0 when both pick the
    rejected one, 0.5 for anything else (a tie, a disagreement, an unreadable reply)."""
    if forward == "A" and reverse == "B":
        return 1.0
    if forward == "B" and reverse == "A":
        return 0.0
    return 0.5


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
