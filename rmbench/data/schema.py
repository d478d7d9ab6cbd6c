"""The one shape every preference source is turned into.

Harnesses, scorers and trainers only ever see `PreferenceExample`; each upstream format
gets an adapter (rmbench.data.adapters) instead of special cases downstream. A prompt may
carry several chosen and rejected completions (RewardBench 2, RM-Bench), so both sides
are lists; pairwise data simply has one of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rmbench.data.skips import SkipRecord

Message = dict[str, str]  # {"role": "user" | "assistant" | "system", "content": str}
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class PreferenceExample:
    id: str
    subset: str
    prompt: list[Message]
    chosen: list[str]
    rejected: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def validate(self, where: str) -> PreferenceExample:
        """Raise SkipRecord (a DataError) naming `where` if the example cannot be scored.

        Empty or whitespace-only completions are valid: they are (bad) answers that real
        benchmark files contain, and are scored like any other.
        """
        if not self.chosen:
            raise SkipRecord("missing-field", "no chosen completion", where=where, id=self.id)
        if not self.rejected:
            raise SkipRecord("missing-field", "no rejected completion", where=where, id=self.id)
        for side, texts in (("chosen", self.chosen), ("rejected", self.rejected)):
            for text in texts:
                if not isinstance(text, str):
                    raise SkipRecord("bad-value", f"{side} completion is {type(text).__name__}, expected text",
                                     where=where, id=self.id)
        _check_prompt(self.prompt, where, self.id)
        _check_encodable(where, self.id, self.subset, *self.chosen, *self.rejected)
        return self


def _check_prompt(prompt: list[Message], where: str, id: str) -> None:
    if not prompt:
        raise SkipRecord("empty-prompt", "empty prompt", where=where, id=id)
    for message in prompt:
        if message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise SkipRecord("bad-value", f"prompt message {message!r} needs a role in {ROLES} and text content",
                             where=where, id=id)
        _check_encodable(where, id, message["content"])


def _check_encodable(where: str, id: str, *texts: str) -> None:
    """Text that cannot be written as UTF-8 (a lone surrogate from a JSON "\\ud800" escape)
    would break hashing, tokenising and the results files far from its source: refuse it here."""
    for text in (id, *texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            safe_id = id.encode("utf-8", "replace").decode()
            problem = f"text holds a lone surrogate ({text[error.start]!r}), which is not valid Unicode"
            raise SkipRecord("bad-value", problem, where=where, id=safe_id) from None


def _check_completion(completion: object, where: str, id: str) -> None:
    """Any text, even empty: an empty answer is still an answer."""
    if not isinstance(completion, str):
        raise SkipRecord("bad-value", f"completion is {type(completion).__name__}, expected text",
                         where=where, id=id)


@dataclass(frozen=True)
class UnpairedExample:
    """One completion judged good or bad on its own (KTO-style data).

    Kept apart from PreferenceExample because there is nothing to compare against: it
    feeds trainers that learn from unpaired labels, never the pairwise harnesses.
    """

    id: str
    subset: str
    prompt: list[Message]
    completion: str
    label: bool
    meta: dict[str, Any] = field(default_factory=dict)

    def validate(self, where: str) -> UnpairedExample:
        """Raise SkipRecord (a DataError) naming `where` if the example is unusable."""
        _check_prompt(self.prompt, where, self.id)
        _check_completion(self.completion, where, self.id)
        _check_encodable(where, self.id, self.subset, self.completion)
        if not isinstance(self.label, bool):
            raise SkipRecord("bad-value", f"label is {self.label!r}, expected true or false", where=where, id=self.id)
        return self


@dataclass(frozen=True)
class SFTExample:
    """A prompt with one reference completion (instruction-tuning data), for SFT warm-up."""

    id: str
    subset: str
    prompt: list[Message]
    completion: str
    meta: dict[str, Any] = field(default_factory=dict)

    def validate(self, where: str) -> SFTExample:
        """Raise SkipRecord (a DataError) naming `where` if the example is unusable."""
        _check_prompt(self.prompt, where, self.id)
        _check_completion(self.completion, where, self.id)
        _check_encodable(where, self.id, self.subset, self.completion)
        return self
