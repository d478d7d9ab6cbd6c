"""The judging prompt: one template file per mode, filled with the conversation and answers.

Templates are data (rmbench/scoring/judge_templates/*.txt, or the user's own file), so
changing the wording never needs code; what the code guarantees is that the placeholders
a mode needs are there and that filling never substitutes twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rmbench.errors import RmbenchError
from rmbench.scoring.base import Item
from rmbench.scoring.judge.verdicts import JudgeRequest

MODES = ("pairwise", "rating")
PLACEHOLDERS = {"pairwise": ("prompt", "answer_a", "answer_b"), "rating": ("prompt", "answer")}


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
        check_mode(mode)
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


class JudgeBase:
    """What both backends share: a mode, what that mode outputs, and a fingerprint."""

    kind = "judge"
    mode: str
    _fingerprint: str

    @property
    def output(self) -> str:
        """A pairwise judge gives outcomes per comparison, a rating judge a score per completion."""
        return "outcomes" if self.mode == "pairwise" else "scores"

    def fingerprint(self) -> str:
        return self._fingerprint


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise RmbenchError(f"unknown judge mode {mode!r}: use one of {', '.join(MODES)}")


def require_mode(judge, mode: str, call: str) -> None:
    if judge.mode != mode:
        raise RmbenchError(f"{judge.name} was built in {judge.mode} mode; {call}() needs mode={mode!r}")
