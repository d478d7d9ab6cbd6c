"""Load data files, folders and hub datasets into schema examples.

Users bring upstream files as they are, so every failure here is a DataError with one
line that names the file (and line or record) and says what to do; the CLI prints it.
The format is detected from a source's first recognisable record and then held to for
every record, so a stray record is never mapped by a different rule. A record that does not
fit is skipped and counted (rmbench.data.skips), never silently dropped; `strict=True`
makes it an error instead.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from rmbench.data.adapter_base import DATA_SUFFIXES, KIND_NAMES, Example
from rmbench.data.adapters import detect_format, get_adapter, match_format
from rmbench.data.schema import PreferenceExample, SFTExample, UnpairedExample
from rmbench.data.skips import SkipLog, SkipRecord
from rmbench.errors import DataError

# "owner/name" as the hub spells dataset ids; anything else that does not exist is a typo'd path.
_HUB_ID = re.compile(r"^[\w][\w.-]*/[\w.-]+$")
_NEEDS = {
    "preference": "evaluation needs preference pairs (a prompt with chosen and rejected completions)",
    "unpaired": "this loader needs unpaired data (completions with a true/false label)",
    "sft": "this loader needs SFT data (prompts with one reference completion)",
}
_LOADERS = {"preference": "load_preferences", "unpaired": "load_unpaired", "sft": "load_sft"}


def load_preferences(
    source: str, format: str | None = None, subset: str | None = None, split: str | None = None,
    limit: int | None = None, *, strict: bool = False, skips: SkipLog | None = None,
) -> list[PreferenceExample]:
    """Preference pairs (one or more chosen and rejected completions per prompt) for evaluation."""
    return _load(source, "preference", format, subset, split, limit, strict, skips)


def load_unpaired(
    source: str, format: str | None = None, subset: str | None = None, split: str | None = None,
    limit: int | None = None, *, strict: bool = False, skips: SkipLog | None = None,
) -> list[UnpairedExample]:
    """Unpaired completions with a true/false label (KTO-style training data)."""
    return _load(source, "unpaired", format, subset, split, limit, strict, skips)


def load_sft(
    source: str, format: str | None = None, subset: str | None = None, split: str | None = None,
    limit: int | None = None, *, strict: bool = False, skips: SkipLog | None = None,
) -> list[SFTExample]:
    """Prompts with one reference completion (instruction-tuning data)."""
    return _load(source, "sft", format, subset, split, limit, strict, skips)


def _load(
    source: str, kind: str, format: str | None, subset: str | None, split: str | None, limit: int | None,
    strict: bool = False, skips: SkipLog | None = None,
) -> list[Any]:
    """Every loader's body. Skipped records go to `skips` when the caller keeps a log (and
    reports it); otherwise they are logged as a warning here, so a skip is never silent."""
    if format is not None:
        get_adapter(format, source)  # an unknown format fails before any file is read
    if limit is not None and limit < 1:
        raise DataError(f"limit must be a positive number of examples, got {limit}")
    log = SkipLog(strict=strict)
    examples: list[Example] = []
    path = Path(source)
    files = data_files(path) if path.is_dir() else []
    for origin, records in record_sources(str(source), split):
        remaining = None if limit is None else limit - len(examples)
        examples += _convert(records, origin, kind, format, subset, remaining, log)
        if limit is not None and len(examples) >= limit:
            if files and origin != str(files[-1]):
                log.cut.append(str(source))  # files of the folder were never read
            break
    examples = unique_ids(examples, log)
    if skips is not None:
        skips.merge(log)
    else:
        log.warn(str(source))
    return examples


def record_sources(source: str, split: str | None) -> Iterator[tuple[str, list[Any]]]:
    """(name, records) per file; lazy so that `limit` stops reading a folder early."""
    path = Path(source)
    if split is not None and path.exists():
        raise DataError(f"{source}: a split applies to hub datasets only; a local file or folder has none")
    if path.is_dir():
        files = data_files(path)
        if not files:
            raise DataError(f"{source}: folder holds no data files ({', '.join(DATA_SUFFIXES)})")
        for file in files:
            yield str(file), read_records(file)
    elif path.is_file():
        yield source, read_records(path)
    elif _HUB_ID.match(source) and not _data_suffix(path):
        yield source, load_hub_records(source, split)
    else:
        raise DataError(
            f"no such file or folder: {source} "
            "(give a data file, a folder of them, or a hub dataset id like owner/name)"
        )


def data_files(folder: Path) -> list[Path]:
    """The data files directly in `folder`, in name order; a folder with none of its own is a
    benchmark tree (RMB ships RMB_dataset/<set>/<goal>/[<category>/]<scenario>.json) and gives
    its data files at any depth, in path order, hidden folders left out."""
    try:
        children = list(folder.iterdir())
        direct = sorted((child for child in children if child.is_file() and _data_suffix(child)),
                        key=lambda child: child.name)
        if direct or not any(child.is_dir() for child in children):
            return direct
        return sorted((p for p in folder.rglob("*") if p.is_file() and _data_suffix(p)
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts)),
                      key=lambda p: p.relative_to(folder).parts)
    except OSError as error:
        raise DataError(f"{folder}: cannot list the folder ({error.strerror or error})") from error


def _convert(
    records: list[Any], origin: str, kind: str, format: str | None, subset: str | None, limit: int | None,
    log: SkipLog,
) -> list[Example]:
    if not records:
        raise DataError(f"{origin}: holds no records")
    name = format or _detect(records, origin)
    adapter = get_adapter(name)
    if adapter.kind != kind:
        raise DataError(
            f"{origin}: looks like {KIND_NAMES[adapter.kind]} (format {name!r}), but {_NEEDS[kind]}; "
            f"load it with {_LOADERS[adapter.kind]} instead"
        )
    examples: list[Example] = []
    first: SkipRecord | None = None
    for index, record in enumerate(records):
        if limit is not None and len(examples) >= limit:
            log.cut.append(origin)  # a limit, not the data, ended this source
            break
        try:
            examples.append(adapter.convert(record, index, subset, origin))
        except SkipRecord as skip:
            first = first or skip
            log.add(skip)
    if not examples and first is not None:
        left_out = "left out (skipped, or excluded by the benchmark's rules)" if first.excluded else "skipped"
        raise DataError(f"{first}; every record of {origin} was {left_out} for a reason like this one "
                        f"(is it the right file and --format?)")
    return examples


def _detect(records: list[Any], origin: str) -> str:
    """The format of the first record that has a known shape: one malformed leading record
    must not decide (and sink) the whole file."""
    for record in records:
        name = match_format(record)
        if name is not None:
            return name
    return detect_format(records[0], f"{origin} record 0")  # raises, naming the first record


def unique_ids(examples: list[Example], log: SkipLog) -> list[Example]:
    """One example per (subset, id) within `examples` (see UniqueIds)."""
    return UniqueIds(log).keep(examples)


class UniqueIds:
    """One example per (subset, id), so nothing is counted twice, across any number of calls
    (an eval keeps one for all its sources).

    A repeat with the same content is a duplicate: skipped and counted as "duplicate". A
    repeat with different content is a different example that happens to share an id: it
    gets a "#2", "#3"... suffix, since results are keyed by (subset, id) and dropping it
    would silently change what was evaluated.
    """

    def __init__(self, log: SkipLog):
        self.log = log
        self.taken: dict[tuple[str, str], Example] = {}
        self.next_number: dict[tuple[str, str], int] = {}

    def keep(self, examples: list[Example]) -> list[Example]:
        unique = []
        for example in examples:
            key = (example.subset, example.id)
            if key in self.taken and _same_content(self.taken[key], example):
                self.log.add(SkipRecord("duplicate", f"id {example.id!r} in subset {example.subset!r} was already "
                                                     "loaded with the same content; counted once", id=example.id))
                continue
            new_id, number = example.id, self.next_number.get(key, 1)
            while (example.subset, new_id) in self.taken:
                number += 1
                new_id = f"{example.id}#{number}"
            self.next_number[key] = number
            kept = example if new_id == example.id else replace(example, id=new_id)
            self.taken[(example.subset, new_id)] = kept
            unique.append(kept)
        return unique


def _same_content(a: Example, b: Example) -> bool:
    return replace(a, meta={}, id="") == replace(b, meta={}, id="")


def load_hub_records(source: str, split: str | None = None) -> list[dict[str, Any]]:
    """Raw records of a hub dataset (or a local folder laid out as a dataset repository)
    through `datasets.load_dataset`, so hub ids and local copies share one code path."""
    import datasets

    try:
        loaded = datasets.load_dataset(source, split=split)
    except Exception as error:  # the hub stack raises many unrelated types; each means "not loadable"
        message = " ".join(str(error).split())
        raise DataError(
            f"{source}: datasets.load_dataset failed ({type(error).__name__}: {message}); "
            "hub ids need network access, or pass a local copy (a data file or folder)"
        ) from error
    if isinstance(loaded, datasets.DatasetDict):
        if len(loaded) != 1:
            raise DataError(f"{source}: has splits {', '.join(loaded)}; name one with --split")
        loaded = next(iter(loaded.values()))
    return loaded.to_list()


def read_records(path: Path) -> list[Any]:
    """The raw records of one local data file, whatever its supported kind; any problem
    reading it (permissions, a folder, bad bytes, absurd nesting) is one DataError line."""
    suffix = _data_suffix(path)
    if suffix is None:
        raise DataError(f"{path}: unsupported file type; supported: {', '.join(DATA_SUFFIXES)}")
    try:
        if path.is_dir():
            raise DataError(f"{path}: is a folder, expected a data file")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: file is empty")
        return _READERS[suffix](path)
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from error
    except RecursionError as error:
        raise DataError(f"{path}: data is nested too deeply to read") from error


def _data_suffix(path: Path) -> str | None:
    return next((suffix for suffix in DATA_SUFFIXES if path.name.endswith(suffix)), None)


def _read_text(path: Path) -> str:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise DataError(f"{path}: not a readable gzip file ({error})") from error
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error})") from error
    if not text.strip():
        raise DataError(f"{path}: file is empty")
    return text


def _parse_json(text: str, path: Path, line: int | None = None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {line if line is not None else error.lineno}, column {error.colno}"
        raise DataError(f"{path}: invalid JSON at {where}: {error.msg}") from error
    except ValueError as error:  # e.g. an integer past Python's digit limit
        at = f" at line {line}" if line is not None else ""
        raise DataError(f"{path}: unreadable JSON value{at} ({error})") from error
    except RecursionError as error:
        at = f" at line {line}" if line is not None else ""
        raise DataError(f"{path}: JSON nested too deeply to read{at}") from error


def _read_json(path: Path) -> list[Any]:
    data = _parse_json(_read_text(path), path)
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if match_format(data):
            return [data]
        lists = [value for value in data.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
    raise DataError(
        f"{path}: expected a JSON list of records (or an object holding one such list), "
        f"found {type(data).__name__}" + (f" with keys {', '.join(map(str, data))}" if isinstance(data, dict) else "")
    )


def _read_jsonl(path: Path) -> list[Any]:
    records = []
    # split on "\n" only: JSON strings may hold raw U+2028, which splitlines() would cut.
    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        if line.strip():
            records.append(_parse_json(line, path, number))
    return records


def _read_parquet(path: Path) -> list[Any]:
    import pyarrow
    import pyarrow.parquet

    try:
        return pyarrow.parquet.read_table(path).to_pylist()
    except pyarrow.ArrowException as error:
        raise DataError(f"{path}: not a readable parquet file ({error})") from error


def _read_csv(path: Path) -> list[Any]:
    import pyarrow
    import pyarrow.csv

    try:
        return pyarrow.csv.read_csv(path).to_pylist()
    except pyarrow.ArrowException as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from error


_READERS: dict[str, Callable[[Path], list[Any]]] = {
    ".jsonl.gz": _read_jsonl,
    ".json.gz": _read_json,
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".parquet": _read_parquet,
    ".csv": _read_csv,
}
