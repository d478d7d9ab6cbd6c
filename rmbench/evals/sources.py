"""An eval request's data: every source read once, every record counted once, and an
account of what was left out (skipped records, sources a --limit cut short).

The same file given twice is refused; overlapping sources (a folder and a file inside it)
keep one copy of each identical record and count the rest as "duplicate" skips. A --data
file that is one of the suite's own files, or is named after one of its subsets (as
RewardBench's prior sets are: anthropic_hhh.parquet), is that subset whatever its own
`subset` column says; the column is kept in meta["source_subset"], as upstream keeps it
in `subsubset`, so a prior set can never split and drop out of its section.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from rmbench.data import SkipLog, load_preferences
from rmbench.data.adapter_base import source_stem
from rmbench.data.loading import UniqueIds, data_files
from rmbench.data.schema import PreferenceExample
from rmbench.errors import DataError, RmbenchError
from rmbench.evals.coverage import suite_subsets
from rmbench.evals.request import EvalRequest
from rmbench.evals.suites import Source, Suite, resolve_source, select_sources


@dataclass
class Loaded:
    examples: list[PreferenceExample]
    sources: list[dict]  # one description per source, for the record
    skips: SkipLog = field(default_factory=SkipLog)  # skipped records, and sources cut by --limit


def load_examples(request: EvalRequest, suite: Suite) -> Loaded:
    """Examples plus a description of every source they came from (for the record)."""
    skips = SkipLog(strict=getattr(request, "strict", False))
    loaded: list[tuple[str, str | None, list[PreferenceExample], dict]] = []
    if request.data:
        _refuse_repeats(request.data)
        for source, subset, fmt in _data_sources(suite, request.data, request.split):
            fmt = request.format or fmt
            loaded.append((source, fmt, load_preferences(source, format=fmt, subset=subset, split=request.split,
                                                         limit=request.limit, strict=skips.strict, skips=skips), {}))
    else:
        for src in select_sources(suite, request.subsets):
            if src.generate:
                loaded.append(_generated(src, request.limit, skips))
                continue
            where = resolve_source(src, suite, request.data_root)
            is_local = Path(where).exists()
            loaded.append((where, src.format, load_preferences(where, format=src.format, subset=src.subset,
                                                               split=None if is_local else src.split,
                                                               limit=request.limit, strict=skips.strict,
                                                               skips=skips), {}))
    examples: list[PreferenceExample] = []
    sources = []
    unique = UniqueIds(skips)  # across sources: each record once
    for where, fmt, exs, extra in loaded:
        if request.subsets:
            exs = [e for e in exs if e.subset in request.subsets]
        before = skips.count
        exs = unique.keep(exs)
        examples.extend(exs)
        sources.append({"source": where, "format": fmt or "auto", "n": len(exs),
                        "subsets": sorted({e.subset for e in exs}), "sha256": content_hash(exs),
                        **({"duplicates": skips.count - before} if skips.count > before else {}), **extra})
    if not examples:
        wanted = f" in subsets {request.subsets}" if request.subsets else ""
        raise RmbenchError(f"no examples to evaluate{wanted}: check --data / --subsets")
    return Loaded(examples, sources, skips)


def _refuse_repeats(data: list[str]) -> None:
    """The same source twice would count every record twice: say so instead of deduping quietly."""
    seen: dict[str, str] = {}
    for source in data:
        path = Path(source)
        key = str(path.resolve()) if path.exists() else source
        if key in seen:
            same = "" if seen[key] == source else f" (as {seen[key]!r} and {source!r})"
            raise DataError(f"--data {source} is given twice{same}: each source is evaluated once; pass it once")
        seen[key] = source


def _data_sources(suite: Suite, data: list[str], split: str | None) -> list[tuple[str, str | None, str | None]]:
    """(source, subset, format) per --data source. A folder holding some of the suite's files
    is read file by file, so each of them becomes its suite subset (as --data-root would)."""
    expanded = []
    for source in data:
        files = data_files(Path(source)) if Path(source).is_dir() else []
        if any(_suite_subset(suite, str(file), None) != (None, None) for file in files):
            expanded += [(str(file), *_suite_subset(suite, str(file), None)) for file in files]
        else:
            expanded.append((source, *_suite_subset(suite, source, split)))
    return expanded


def _suite_subset(suite: Suite, source: str, split: str | None) -> tuple[str | None, str | None]:
    """(subset, format) for a --data source that is one of the suite's own files or is named
    after one of its subsets; (None, None) otherwise (the data's own subset column decides)."""
    name = PurePath(source).name
    for src in suite.sources:
        if src.file and PurePath(src.file).name == name:
            return src.subset, src.format
    known = suite_subsets(suite, with_optional=True)
    for candidate in (split, source_stem(source)):
        if candidate and candidate in known:
            return candidate, None
    return None, None


def _generated(src: Source, limit: int | None, skips: SkipLog) -> tuple[str, str, list[PreferenceExample], dict]:
    """A generated source: the record names generator, version, seed, n and split, so the same
    items can be drawn again and records of different draws are never mixed."""
    from rmbench.probes import describe, generate_suite

    examples = generate_suite(src.generate, src.n, seed=src.seed, split=src.split)
    if src.subset:
        examples = [e for e in examples if e.subset == src.subset]
    name = f"generate:{src.generate}"
    if limit and len(examples) > limit:
        skips.cut.append(name)
        examples = examples[:limit]
    return name, "generated", examples, {"generator": describe(src.generate, src.n, src.seed, src.split)}


def content_hash(examples: list[PreferenceExample]) -> str:
    """Identifies the data version: records of different versions must not be mixed."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.id, e.subset, e.prompt, e.chosen, e.rejected], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]
