"""The record policy: one bad record never sinks a data set.

Real benchmark files carry a few records nobody can interpret (HH-RLHF transcripts whose
chosen and rejected differ before the last turn, a label that names no output, a row
missing a column), and users cannot edit upstream files. So an adapter that cannot map a
record raises `SkipRecord(reason, detail)`; the loader catches it, counts it per reason in
a `SkipLog`, remembers its id, and goes on. The run's record (results.json "skipped", a
training run's rmbench-run.json "skipped") and the terminal say what was skipped, and
`strict=True` (`--strict`) turns the first skip into an error naming that record. A source
whose every record is skipped is an error either way: that is a wrong file or format, not a
few bad records.

Two kinds of records are left out, and they are kept apart:
- skipped (`SkipRecord`): the record is malformed or cannot be interpreted. A data defect:
  counted under "skipped", and the first one is an error under --strict.
- excluded (`ExcludeRecord`): the record is well formed, but the benchmark's own rules leave
  it out of the score (PPE scores decisive battles only, so a tie is excluded). Counted and
  listed under "excluded" in the same shape, never an error: --strict asks for clean data,
  and this data is clean.

Degenerate but meaningful records are NOT skips: an empty or whitespace-only completion is
a valid (bad) answer and is scored like any other.

How an adapter uses it (rmbench.data.adapters.Adapter subclasses, in any module):

    def build(self, rec):
        ...
        if chosen_prefix != rejected_prefix:
            raise rec.skip("diverging-prefix", "chosen and rejected differ before the last turn")
        if winner == "tie":
            raise ExcludeRecord("tie", "PPE scores decisive battles only", where=rec.where, id=rec.id)

`rec.skip` fills in where the record came from and its id; outside an adapter,
`raise SkipRecord("reason", "what is wrong")` works too and the loader names the record.
Reasons are short stable kebab-case keys (they are record keys); the detail is one human
line. SkipRecord is a DataError, so code that converts a single record without a loader (no
SkipLog to collect it) still fails with one clear line.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from rmbench.errors import DataError

# How many left-out ids a record lists; the count is always complete.
MAX_IDS = 100
# How many of them a terminal line shows.
SHOWN_IDS = 5

# Reasons the built-in adapters use for skips (new adapters may add their own keys).
REASONS = {
    "not-an-object": "the record is not an object with named fields",
    "missing-field": "a field the format needs is missing or null",
    "bad-value": "a field has the wrong type or an impossible value",
    "bad-label": "the label names no answer the format knows",
    "diverging-prefix": "chosen and rejected conversations differ before the judged reply",
    "no-reply": "the conversation does not end with the reply to judge",
    "empty-prompt": "there is no prompt at all",
    "no-losers": "a best-of-N item has no loser to beat",
    "duplicate": "the same id with the same content was already loaded",
}
# Reasons for exclusions: well-formed records the benchmark's own rules leave out.
EXCLUSIONS = {
    "tie": "a human-preference battle the voters called a tie (PPE scores decisive battles only)",
    "no-correct": "none of a prompt's responses is correct: no correct/incorrect pair to compare",
    "no-incorrect": "every response of a prompt is correct: no correct/incorrect pair to compare",
}

log = logging.getLogger("rmbench.data")


class StrictSkipError(DataError):
    """A record --strict refused (it would have been skipped): the run stops at it."""


class SkipRecord(DataError):
    """One record the loader should skip (and count under `reason`) instead of failing."""

    excluded = False  # True for records left out by the benchmark's rules (ExcludeRecord)

    def __init__(self, reason: str, detail: str, *, where: str | None = None, id: str | None = None):
        self.reason, self.detail, self.where, self.id = reason, detail, where, id
        super().__init__(self._text())

    def _text(self) -> str:
        return f"{self.where}: {self.detail}" if self.where else self.detail

    def located(self, where: str, id: str | None) -> SkipRecord:
        """This skip with the record's place and id filled in (kept when already set)."""
        self.where = self.where or where
        self.id = self.id if self.id is not None else id
        self.args = (self._text(),)
        return self

    def strict_error(self) -> StrictSkipError:
        return StrictSkipError(f"{self._text()} (reason: {self.reason}); without --strict this record would be "
                               "skipped and counted")


class ExcludeRecord(SkipRecord):
    """A well-formed record the benchmark's rules leave out of its score (a PPE tie):
    counted and listed apart from skips, and never an error under --strict.

    The rule is about scoring a reward model, not about the prompt: a tie battle's prompt is as
    good a prompt as any. So an adapter may attach the prompt (with its subset and any reference
    answers), and policy evaluation (rmbench.evals.prompts) uses it instead of leaving it out."""

    excluded = True

    def __init__(self, reason: str, detail: str, *, where: str | None = None, id: str | None = None,
                 prompt: list | None = None, subset: str | None = None, references: list[str] | None = None):
        super().__init__(reason, detail, where=where, id=id)
        self.prompt, self.subset, self.references = prompt, subset, list(references or [])


@dataclass
class Tally:
    """Records left out for one cause (skipped, or excluded): per reason, the first ids, and
    the first such record's message per reason."""

    by_reason: Counter = field(default_factory=Counter)
    ids: list[str] = field(default_factory=list)
    first: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(self.by_reason.values())

    def add(self, record: SkipRecord) -> None:
        self.by_reason[record.reason] += 1
        self.first.setdefault(record.reason, str(record))
        if len(self.ids) < MAX_IDS:
            self.ids.append(record.id if record.id is not None else str(record.where))

    def merge(self, other: Tally) -> None:
        self.by_reason.update(other.by_reason)
        for reason, text in other.first.items():
            self.first.setdefault(reason, text)
        self.ids += other.ids[: MAX_IDS - len(self.ids)]

    def to_record(self) -> dict:
        """What a record keeps under "skipped" / "excluded" (stable keys)."""
        return {"count": self.count, "by_reason": dict(sorted(self.by_reason.items())),
                "ids": list(self.ids), "ids_omitted": self.count - len(self.ids),
                "first": dict(sorted(self.first.items()))}


@dataclass
class SkipLog:
    """Records a load (or a whole run, across its sources) left out: skipped ones (`by_reason`,
    `ids`, `first`, `count` are theirs) and, apart, those `excluded` by the benchmark's rules."""

    strict: bool = False
    skipped: Tally = field(default_factory=Tally)
    excluded: Tally = field(default_factory=Tally)
    # Sources a `limit` cut short. Not skips (nothing was wrong with them), but the caller must
    # know the data was not read whole, to call its result partial.
    cut: list[str] = field(default_factory=list)

    @property
    def by_reason(self) -> Counter:
        return self.skipped.by_reason

    @property
    def ids(self) -> list[str]:
        return self.skipped.ids

    @property
    def first(self) -> dict[str, str]:
        return self.skipped.first

    @property
    def count(self) -> int:
        """Skipped records (exclusions are not counted here: see `excluded.count`)."""
        return self.skipped.count

    def add(self, skip: SkipRecord) -> None:
        """Count `skip` (an exclusion apart), or raise it as an error under strict."""
        if skip.excluded:
            self.excluded.add(skip)
            return
        if self.strict:
            raise skip.strict_error() from skip
        self.skipped.add(skip)

    def merge(self, other: SkipLog) -> None:
        self.skipped.merge(other.skipped)
        self.excluded.merge(other.excluded)
        self.cut += other.cut

    def to_record(self) -> dict:
        """What results.json keeps under "skipped" (stable keys)."""
        return self.skipped.to_record()

    def records(self) -> dict:
        """Both keys a run's record keeps: {"skipped": ..., "excluded": ...}."""
        return {"skipped": self.skipped.to_record(), "excluded": self.excluded.to_record()}

    def summary(self) -> str:
        """One plain-text line for terminals and logs ('' when nothing was left out)."""
        return "; ".join(_phrase(kind, tally.count, tally.by_reason)
                         for kind, tally in (("skipped", self.skipped), ("excluded", self.excluded)) if tally.count)

    def warn(self, source: str) -> None:
        """For callers that did not ask for a log: never skip silently."""
        if self.count or self.excluded.count:
            log.warning("%s: %s", source, self.summary())


def _phrase(kind: str, count: int, by_reason: dict, ids: list[str] | None = None, listed_in: str = "") -> str:
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(by_reason.items()))
    text = f"{kind} {count} record{'s' if count != 1 else ''}"
    text += f" by the benchmark's rules ({reasons})" if kind == "excluded" else f" ({reasons})"
    if ids is not None:
        text += ": " + ", ".join(map(str, ids[:SHOWN_IDS])) + (", ..." if count > SHOWN_IDS else "")
        text += f"; ids listed in {listed_in}"
    if kind == "excluded":
        return text + ("; not an error, --strict leaves them out too" if ids is not None else "")
    return text + ("; --strict makes a skip an error" if ids is not None else "; --strict makes this an error")


def notes(record: dict, listed_in: str = "results.json") -> list[str]:
    """Terminal lines about a record's "skipped" and "excluded" keys (each as to_record wrote
    it), with the first ids; [] when nothing was left out. Plain text: ids come from user files."""
    lines = []
    for kind in ("skipped", "excluded"):
        tally = record.get(kind) or {}
        if tally.get("count"):
            lines.append(_phrase(kind, tally["count"], tally["by_reason"], tally["ids"], listed_in))
    return lines
