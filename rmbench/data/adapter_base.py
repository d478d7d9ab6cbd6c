"""What every data adapter shares: the Record wrapper (where a record came from, its
resolved id and subset, typed getters whose failures are counted skips) and the Adapter
base class. The adapters themselves, one per upstream format, and the detection order
live in rmbench.data.adapters (and suite_formats, ppe_formats).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from rmbench.data.schema import Message, PreferenceExample, SFTExample, UnpairedExample
from rmbench.data.skips import SkipRecord

Example = PreferenceExample | UnpairedExample | SFTExample

DATA_SUFFIXES = (".jsonl.gz", ".json.gz", ".jsonl", ".json", ".parquet", ".csv")

# What each kind of example is, in the words error messages use.
KIND_NAMES = {
    "preference": "preference pairs (a prompt with chosen and rejected completions)",
    "unpaired": "unpaired/KTO data (one completion per prompt with a true/false label)",
    "sft": "SFT data (one reference completion per prompt, nothing rejected)",
}

_ROLE_NAMES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"
}


def source_stem(source: str) -> str:
    """The file (or hub dataset) name without data suffixes: the default subset name."""
    name = PurePath(source).name
    for suffix in DATA_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def record_keys(record: dict) -> str:
    return ", ".join(sorted(map(str, record))) or "none"


class Record:
    """A raw record with what error messages and defaults need: where it came from, its
    format, its resolved id and subset."""

    def __init__(self, record: Any, adapter: Adapter, index: int, subset: str | None, source: str | None):
        self.where = f"{source} record {index}" if source else f"record {index}"
        if not isinstance(record, dict):
            default = subset or (adapter.subset_from_stem(source_stem(source)) if source else adapter.name)
            raise SkipRecord("not-an-object", f"is {type(record).__name__}, expected an object with named fields",
                             where=self.where, id=f"{default}-{index}")
        self.data = record
        self.format = adapter.name
        column = record.get("subset")
        use_column = subset is None and adapter.subset_column and isinstance(column, str) and bool(column)
        if use_column:
            subset = column
        elif subset is None:
            subset = adapter.subset_from_stem(source_stem(source)) if source else adapter.name
        self.subset = subset
        self.source_subset = None if use_column else column
        self.id = str(record["id"]) if record.get("id") is not None else f"{subset}-{index}"

    def skip(self, reason: str, problem: str) -> SkipRecord:
        """A SkipRecord for this record (raise it): see rmbench.data.skips for the policy."""
        return SkipRecord(reason, problem, where=self.where, id=self.id)

    def fail(self, problem: str, reason: str = "bad-value") -> SkipRecord:
        return self.skip(reason, problem)

    def require(self, key: str) -> Any:
        """The value under `key`; a missing key names itself and the format that wanted it."""
        if self.data.get(key) is None:
            raise self.fail(
                f"missing key {key!r} expected by format {self.format!r} "
                f"(record has keys: {record_keys(self.data)})", "missing-field"
            )
        return self.data[key]

    def meta(self, *used: str) -> dict[str, Any]:
        """Every column the example does not already hold, so nothing upstream is lost."""
        skip = {*used, "id", "subset"}
        meta = {key: value for key, value in self.data.items() if key not in skip}
        if self.source_subset is not None:
            meta["source_subset"] = self.source_subset
        return meta

    def message(self, item: Any, key: str) -> Message:
        """A chat message in either {role, content} or ShareGPT {from, value} spelling."""
        if not isinstance(item, dict):
            raise self.fail(f"{key} holds {type(item).__name__}, expected a message object {{role, content}}")
        role = item.get("role", item.get("from"))
        content = item.get("content", item.get("value"))
        if not isinstance(role, str) or role.lower() not in _ROLE_NAMES:
            raise self.fail(
                f"unknown role {role!r} in {key}; expected one of human/user, gpt/assistant, system"
            )
        if not isinstance(content, str):
            raise self.fail(f"a message in {key} has {type(content).__name__} content, expected text")
        return {"role": _ROLE_NAMES[role.lower()], "content": content}

    def messages(self, value: Any, key: str) -> list[Message]:
        if not isinstance(value, list):
            raise self.fail(f"{key} is {type(value).__name__}, expected a list of messages")
        return [self.message(item, key) for item in value]

    def prompt(self, key: str) -> list[Message]:
        """A prompt given either as plain text (one user turn) or as a list of messages."""
        value = self.require(key)
        if isinstance(value, str):
            return [{"role": "user", "content": value}]
        return self.messages(value, key)

    def final_reply(self, key: str) -> tuple[list[Message], str]:
        """Split a conversation into what came before and its final assistant message."""
        conversation = self.messages(self.require(key), key)
        if not conversation or conversation[-1]["role"] != "assistant":
            raise self.fail(f"{key} must end with an assistant message (the completion)", "no-reply")
        return conversation[:-1], conversation[-1]["content"]

    def completion(self, key: str) -> str:
        """A completion given either as text or as messages ending with the assistant's reply."""
        value = self.require(key)
        return value if isinstance(value, str) else self.final_reply(key)[1]

    def texts(self, key: str) -> list[str]:
        value = self.require(key)
        if not isinstance(value, list):
            raise self.fail(f"{key} is {type(value).__name__}, expected a list of completions")
        return value

    def label(self, key: str) -> bool:
        value = self.require(key)
        if not isinstance(value, bool):
            raise self.fail(f"{key} is {value!r}, expected true or false")
        return value


class Adapter:
    """One upstream format: how to recognise its records and map them to examples."""

    name = ""
    kind = "preference"
    subset_column = False  # whether the record's `subset` column names the rmbench subset

    def detect(self, record: dict) -> bool:
        raise NotImplementedError

    def convert(
        self, record: Any, index: int, subset: str | None = None, source: str | None = None
    ) -> Example:
        """Map one record; `source` (file path or hub id) names it in errors and gives the
        default subset. A record that cannot be interpreted raises SkipRecord (a DataError),
        which the loader counts instead of failing the whole source."""
        rec = Record(record, self, index, subset, source)
        try:
            return self.build(rec).validate(rec.where)
        except SkipRecord as skip:
            raise skip.located(rec.where, rec.id) from None

    def build(self, rec: Record) -> Example:
        raise NotImplementedError

    def subset_from_stem(self, stem: str) -> str:
        return stem


def is_text_list(value: Any, length: int | None = None) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(item, str) for item in value)
        and (length is None or len(value) == length)
    )
