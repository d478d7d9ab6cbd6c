"""The record policy: one bad record never sinks a data set.

Real benchmark files carry a few records nobody can interpret (HH-RLHF transcripts whose
chosen and rejected differ before the last turn, a label that names no output, a row
missing a column), and users cannot edit upstream files. So an adapter that cannot map a
record raises `SkipRecord(reason, detail)`; the loader catches it, counts it per reason in
a `SkipLog`, remembers its id, and goes on. The run's record (results.json "skipped") and
the terminal say what was skipped, and `strict=True` (`--strict`) turns the first skip into
an error naming that record. A source whose every record is skipped is an error either way:
that is a wrong file or format, not a few bad records.

Degenerate but meaningful records are NOT skips: an empty or whitespace-only completion is
a valid (bad) answer and is scored like any other.

How an adapter uses it (rmbench.data.adapters.Adapter subclasses, in any module):

    def build(self, rec):
        ...
        if chosen_prefix != rejected_prefix:
            raise rec.skip("diverging-prefix", "chosen and rejected differ before the last turn")

`rec.skip` fills in where the record came from and its id; outside an adapter,
`raise SkipRecord("reason", "what is wrong")` works too and the loader names the record.
Reasons are short stable kebab-case keys (they are results.json keys); the detail is one
human line. SkipRecord is a DataError, so code that converts a single record without a
loader (no SkipLog to collect it) still fails with one clear line.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from rmbench.errors import DataError

# How many skipped ids a record lists; the count is always complete.
MAX_IDS = 100

# Reasons the built-in adapters use (new adapters may add their own keys).
REASONS = {
    "not-an-object": "the record is not an object with named fields",
    "missing-field": "a field the format needs is missing or null",
    "bad-value": "a field has the wrong type or an impossible value",
    "diverging-prefix": "chosen and rejected conversations differ before the judged reply",
    "no-reply": "the conversation does not end with the reply to judge",
    "empty-prompt": "there is no prompt at all",
    "duplicate": "the same id with the same content was already loaded",
}

log = logging.getLogger("rmbench.data")


class SkipRecord(DataError):
    """One record the loader should skip (and count under `reason`) instead of failing."""

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

    def strict_error(self) -> DataError:
        return DataError(f"{self._text()} (reason: {self.reason}); without --strict this record would be "
                         "skipped and counted")


@dataclass
class SkipLog:
    """Skipped records of one load (or of a whole run, across its sources)."""

    strict: bool = False
    by_reason: Counter = field(default_factory=Counter)
    ids: list[str] = field(default_factory=list)
    first: dict[str, str] = field(default_factory=dict)  # reason -> the first such record's message
    # Sources a `limit` cut short. Not skips (nothing was wrong with them), but the caller must
    # know the data was not read whole, to call its result partial.
    cut: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.by_reason.values())

    def add(self, skip: SkipRecord) -> None:
        """Count `skip`, or raise it as an error under strict."""
        if self.strict:
            raise skip.strict_error() from skip
        self.by_reason[skip.reason] += 1
        self.first.setdefault(skip.reason, str(skip))
        if len(self.ids) < MAX_IDS:
            self.ids.append(skip.id if skip.id is not None else str(skip.where))

    def merge(self, other: SkipLog) -> None:
        self.by_reason.update(other.by_reason)
        for reason, text in other.first.items():
            self.first.setdefault(reason, text)
        self.ids += other.ids[: MAX_IDS - len(self.ids)]
        self.cut += other.cut

    def to_record(self) -> dict:
        """What results.json keeps under "skipped" (stable keys)."""
        return {"count": self.count, "by_reason": dict(sorted(self.by_reason.items())),
                "ids": list(self.ids), "ids_omitted": self.count - len(self.ids),
                "first": dict(sorted(self.first.items()))}

    def summary(self) -> str:
        """One plain-text line for terminals and logs ('' when nothing was skipped)."""
        if not self.count:
            return ""
        parts = ", ".join(f"{reason} {n}" for reason, n in sorted(self.by_reason.items()))
        return f"skipped {self.count} record{'s' if self.count != 1 else ''} ({parts}); --strict makes this an error"

    def warn(self, source: str) -> None:
        """For callers that did not ask for a log: never skip silently."""
        if self.count:
            log.warning("%s: %s", source, self.summary())
