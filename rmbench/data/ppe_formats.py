"""Adapters for PPE's (lmarena, Preference Proxy Evaluations) files as the hub publishes them.

- Human preference (lmarena-ai/PPE-Human-Preference-V1): one Chatbot Arena battle per row,
  question_id, prompt, response_1 / response_2 (the answers of model_a / model_b), winner
  "model_a" | "model_b" | "tie" | "tie (bothbad)", language, category flags. The winner's
  response is chosen. PPE scores decisive battles only, so a tie is excluded by that rule
  (reason "tie": counted and listed under "excluded", never an error under --strict); a
  winner outside those four values is malformed and skipped as "bad-label".
  The subset is the battle's language (PPE breaks accuracy down by it).
- Correctness (lmarena-ai/PPE-{MMLU-Pro,MATH,GPQA,IFEval,MBPP-Plus}-Best-of-K): one prompt
  per row with response_1 .. response_N and `scores`, N booleans (response_i is correct when
  scores[i-1] is true), plus question_id, model_name (the model that sampled them) and
  benchmark columns. The correct responses become the chosen completions and the incorrect
  ones the rejected; their original positions are kept in meta. A row with no correct or no
  incorrect response is well formed but has no pair to compare: excluded ("no-correct" /
  "no-incorrect"), as a tie is. Malformed `scores` (not booleans, not one per response) are skips.

Registered through rmbench.data.suite_formats.register (tried before the generic formats).
"""

from __future__ import annotations

from typing import Any

from rmbench.data.adapters import Adapter
from rmbench.data.schema import PreferenceExample
from rmbench.data.skips import ExcludeRecord
from rmbench.data.suite_formats import METRIC_KEY, register

PPE_WINNERS = {"model_a": 0, "model_b": 1}
PPE_TIES = ("tie", "tie (bothbad)")


def _text(rec, key: str) -> str:
    value = rec.require(key)
    if not isinstance(value, str):
        raise rec.skip("bad-value", f"{key} is {type(value).__name__}, expected text")
    return value


def _exclude(rec, reason: str, detail: str, prompt: list, references: list[str]) -> ExcludeRecord:
    """A well-formed record PPE's rules leave out of its score (see rmbench.data.skips); its prompt
    still serves policy evaluation."""
    return ExcludeRecord(reason, detail, where=rec.where, id=rec.id, prompt=prompt, subset=rec.subset,
                         references=references)


def _own_id(rec, *keys: str) -> None:
    parts = [rec.data.get(k) for k in keys]
    if parts[0] is not None and all(not isinstance(p, (dict, list)) for p in parts):
        rec.id = ":".join(str(p) for p in parts if p is not None)


class PPEHumanAdapter(Adapter):
    """PPE-Human-Preference-V1 battles: question_id, prompt, response_1, response_2, winner, language."""

    name = "ppe-human"

    def detect(self, record: dict) -> bool:
        return {"question_id", "prompt", "response_1", "response_2", "winner"} <= record.keys()

    def convert(self, record: Any, index: int, subset: str | None = None, source: str | None = None):
        if subset is None and isinstance(record, dict):
            language = record.get("language")
            subset = language if isinstance(language, str) and language else None
        return super().convert(record, index, subset, source)

    def build(self, rec) -> PreferenceExample:
        _own_id(rec, "question_id")
        winner = rec.data.get("winner")
        if not isinstance(winner, str) or winner not in (*PPE_WINNERS, *PPE_TIES):
            raise rec.skip("bad-label", f"winner is {winner!r}, expected 'model_a', 'model_b', 'tie' or "
                                        "'tie (bothbad)'")
        # A malformed battle is a skip (an error under --strict) even when it is a tie.
        prompt, responses = rec.prompt("prompt"), [_text(rec, "response_1"), _text(rec, "response_2")]
        if winner in PPE_TIES:  # as a policy prompt: both answers were as good ("tie") or both bad
            raise _exclude(rec, "tie", f"winner is {winner!r}: PPE scores decisive battles only", prompt,
                           responses if winner == "tie" else [])
        chosen = PPE_WINNERS[winner]
        loser = ("model_a", "model_b")[1 - chosen]
        meta = {**rec.meta("prompt", "response_1", "response_2"), METRIC_KEY: "ppe_human",
                "chosen_model": rec.data.get(winner), "rejected_model": rec.data.get(loser)}
        return PreferenceExample(rec.id, rec.subset, prompt, [responses[chosen]], [responses[1 - chosen]], meta)


class PPECorrectnessAdapter(Adapter):
    """PPE *-Best-of-K rows: question_id, prompt, response_1..response_N, scores (N booleans)."""

    name = "ppe-correctness"

    def detect(self, record: dict) -> bool:
        return {"question_id", "prompt", "scores", "response_1"} <= record.keys() and isinstance(
            record.get("scores"), list)

    def build(self, rec) -> PreferenceExample:
        _own_id(rec, "question_id", "model_name")
        labels = rec.require("scores")
        if not isinstance(labels, list) or not labels:
            raise rec.skip("bad-value", "scores must be a non-empty list of booleans, one per response")
        correct, incorrect, correct_at, incorrect_at = [], [], [], []
        for i, label in enumerate(labels, start=1):
            if not isinstance(label, (bool, int)) or label not in (0, 1):
                raise rec.skip("bad-value", f"scores[{i - 1}] is {label!r}, expected a boolean")
            text = _text(rec, f"response_{i}")
            (correct if label else incorrect).append(text)
            (correct_at if label else incorrect_at).append(i)
        if not correct:
            raise _exclude(rec, "no-correct", f"none of the {len(labels)} responses is correct: no correct/incorrect "
                                         "pair to compare", rec.prompt("prompt"), [])
        if not incorrect:
            raise _exclude(rec, "no-incorrect", f"all {len(labels)} responses are correct: no correct/incorrect "
                                           "pair to compare", rec.prompt("prompt"), correct)
        used = ("prompt", "scores", *(f"response_{i}" for i in range(1, len(labels) + 1)))
        meta = {**rec.meta(*used), METRIC_KEY: "ppe_correctness", "correct_responses": correct_at,
                "incorrect_responses": incorrect_at}
        return PreferenceExample(rec.id, rec.subset, rec.prompt("prompt"), correct, incorrect, meta)


PPE_ADAPTERS: tuple[Adapter, ...] = (PPEHumanAdapter(), PPECorrectnessAdapter())

register(*PPE_ADAPTERS)

__all__ = ["PPE_ADAPTERS", "PPE_TIES", "PPE_WINNERS"]
