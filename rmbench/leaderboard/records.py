"""Finding results records, checking them, and deciding which of them may be ranked together.

A leaderboard is only as honest as its inputs: a results.json whose scores.jsonl is from
another run, or two records scored on different versions of a suite's data, would give
confident-looking numbers that mean nothing. Every such case is refused here with a line
that says what to do, before any statistics run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rmbench.errors import DataError, RmbenchError
from rmbench.leaderboard.rows import SCORES_FILE, read_rows
from rmbench.models import METADATA_FILE
from rmbench.results import SCHEMA_VERSION
from rmbench.runs import RUN_FILE, checkpoint_step, read_run
from rmbench.terminal import errors as console  # notes go to stderr: stdout may be a json or csv board

RESULTS_FILE = "results.json"
# Suites with no manifest, over data of the user's choosing: each data set is its own board.
# "policy" records (rmbench.evals.policy) rank by win-rate against their baseline policy.
AD_HOC_SUITES = ("custom", "policy")
_WHERE_FROM = "pass folders written by `rmbench eval --out` or `rmbench train`"


@dataclass
class Entry:
    """One results record on a board, with what its location says about it."""

    path: Path  # the results.json
    record: dict
    rows: list[dict]
    label: str
    kind: str  # "model", "checkpoint" or "baseline"
    run: str | None = None  # the training run's folder name, when the record belongs to one
    step: int | None = None  # training step of a run's checkpoint (0 for the untrained start)
    method: str | None = None

    @property
    def is_baseline(self) -> bool:
        return self.kind == "baseline"


@dataclass
class Group:
    """Records that share a suite, its version and the exact data: the only ones comparable."""

    suite: str
    version: str
    score_rule: str
    data: tuple[str, ...]  # content hashes of the sources
    sources: tuple[str, ...]
    entries: list[Entry] = field(default_factory=list)
    partial_label: str | None = None  # e.g. "rm-bench (partial: chat, code)": never ranked as the whole suite

    @property
    def name(self) -> str:
        """The suite name this board may wear: a partial run's label, never the bare suite name."""
        return self.partial_label or self.suite

    @property
    def title(self) -> str:
        if self.suite in AD_HOC_SUITES:
            names = ", ".join(Path(s).name or s for s in self.sources)
            prefix = "policies on " if self.suite == "policy" else ""
            part = self.partial_label.removeprefix(self.suite).strip() + " " if self.partial_label else ""
            return f"{prefix}{names} {part}(data {'+'.join(self.data)})"
        return f"{self.name} v{self.version} (data {'+'.join(self.data)})"


def find_records(paths: list[str | Path]) -> list[Path]:
    """results.json files named directly or found under folders, each once, in a stable order."""
    if not paths:
        raise RmbenchError(f"no records given: {_WHERE_FROM}")
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            under = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .cache holds no records
                if RESULTS_FILE in files:
                    under.append(Path(root) / RESULTS_FILE)
            if not under:
                raise DataError(f"{path}: no {RESULTS_FILE} under this folder; {_WHERE_FROM}")
            found.extend(under)
        else:
            raise DataError(f"{path}: no such file or folder")
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def refuse_overwriting_inputs(out: str | Path, paths: list[str | Path]) -> None:
    """`--out` must never land on a file the board is built from: a board written over a
    results.json (or its scores.jsonl, or the run files that label it) destroys the record
    it ranks. Checked before any work, on resolved paths, so a symlink or `..` cannot hide it."""
    target = Path(out)
    if target.is_dir():
        raise RmbenchError(f"--out {target} is a folder; name a file, e.g. {target / 'board.md'}")
    resolved = target.resolve()
    for record in find_records(paths):
        folder = record.parent
        inputs = [record, folder / SCORES_FILE]
        run_dir = folder.parent.parent.parent  # RUN/evals/<checkpoint>/<target>/results.json
        inputs += [run_dir / RUN_FILE, run_dir / folder.parent.name / METADATA_FILE]
        for used in inputs:
            if used.resolve() == resolved:
                raise RmbenchError(f"--out {target} is {used}, an input of this leaderboard; writing there would "
                                   "destroy it: choose another file")


def load_entries(paths: list[str | Path]) -> list[Entry]:
    entries, skipped = [], []
    for path in find_records(paths):
        record = read_record(path)
        if _unrankable_policy(record):
            skipped.append(path)
            console.print(f"[yellow]note:[/] skipped {path}: a policy evaluated without a judge and a baseline "
                          "policy has no win-rate to rank", highlight=False)
            continue
        entries.append(load_entry(path, record))
    if skipped and not entries:
        raise DataError(f"nothing to rank: {len(skipped)} policy record(s) evaluated without a win-rate; rerun "
                        "them with --judge-rm SCORER and --baseline-policy CKPT")
    return entries


def _unrankable_policy(record: dict) -> bool:
    """Policy checkpoints scored only by KL/ROUGE/length (no judge) sit beside ranked records
    in run folders; they are reported, not ranked, and must not sink the whole board."""
    return record["suite"]["name"] == "policy" and record["score"] is None


def load_entry(path: Path, record: dict | None = None) -> Entry:
    record = read_record(path) if record is None else record
    rows = read_rows(path, record)
    model = record["model"]
    untrained = bool(model.get("random_head"))  # a reward head nobody trained: a baseline, not a model
    entry = Entry(path=path, record=record, rows=rows, label=f"{model['name']}{_how_scored(model)}",
                  kind="baseline" if model.get("kind") == "baseline" or untrained else "model")
    _label_from_run(entry)
    return entry


def _how_scored(model: dict) -> str:
    """One checkpoint scored several ways (classifier head, implicit reward, judge) is several
    entries: the label says which, so a board never shows the same name twice for no reason."""
    if model.get("random_head"):
        return " (untrained head)"
    if model.get("kind") == "judge":
        return f" (judge, {model.get('mode', 'pairwise')})"
    if model.get("kind") == "implicit":
        parts = ["implicit", "ref-free" if model.get("reference") in (None, "none") else "vs ref"]
        if model.get("length_normalize"):
            parts.append("per token")
        return f" ({', '.join(parts)})"
    return ""


def read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read it ({err})") from err
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err.msg}, line {err.lineno}); {_WHERE_FROM}") from err
    except (ValueError, RecursionError) as err:  # a 10,000-digit number, arrays nested 200,000 deep
        raise DataError(f"{path}: not an rmbench results record ({type(err).__name__}); {_WHERE_FROM}") from err
    if not isinstance(record, dict) or "schema_version" not in record:
        raise DataError(f"{path}: not an rmbench results record (no schema_version); {_WHERE_FROM}")
    if not isinstance(record["schema_version"], int) or record["schema_version"] > SCHEMA_VERSION:
        raise DataError(f"{path}: results schema {record['schema_version']!r} is newer than this rmbench reads "
                        f"({SCHEMA_VERSION}); upgrade rmbench")
    _require(path, record, "suite", dict, ("name", "version", "score_rule"))
    _require(path, record, "model", dict, ("name",))
    _require(path, record, "data", list, ())
    _require(path, record, "subsets", dict, ())
    if "score" not in record:
        raise DataError(f"{path}: the record has no 'score'; it is incomplete: rerun the evaluation")
    if not record["subsets"]:
        raise DataError(f"{path}: the record has no subsets; rerun the evaluation")
    for name, subset in record["subsets"].items():
        if not isinstance(subset, dict) or not {"n", "accuracy", "metric"} <= set(subset):
            raise DataError(f"{path}: subset {name!r} lacks n, accuracy or metric; rerun the evaluation")
    for n, source in enumerate(record["data"]):
        if not isinstance(source, dict) or not source.get("sha256"):
            raise DataError(f"{path}: data source #{n + 1} has no content hash (sha256), so its data version "
                            "is unknown; rerun the evaluation with this rmbench")
    return record


def _require(path: Path, record: dict, key: str, kind: type, inner: tuple[str, ...]) -> None:
    value = record.get(key)
    if not isinstance(value, kind):
        raise DataError(f"{path}: '{key}' is missing or not a {kind.__name__}; {_WHERE_FROM}")
    missing = [k for k in inner if k not in value]
    if missing:
        raise DataError(f"{path}: '{key}' lacks {', '.join(missing)}; rerun the evaluation with this rmbench")


def _label_from_run(entry: Entry) -> None:
    """A training run lays out RUN/evals/<checkpoint>/<target>/results.json: name and step
    the entry after its checkpoint, so a board reads "dpo/checkpoint-40", not a temp path."""
    checkpoint_dir = entry.path.parent.parent
    run_dir = checkpoint_dir.parent.parent
    if checkpoint_dir.parent.name != "evals" or not (run_dir / RUN_FILE).is_file():
        return
    run_name = run_dir.resolve().name
    run_meta = read_run(run_dir)  # a damaged run file (bad JSON, not an object) is one clear line
    name = checkpoint_dir.name
    entry.run, entry.method = run_name, run_meta.get("method")
    if name == "start":
        entry.label, entry.kind, entry.step = f"{run_name}/start (untrained)", "baseline", 0
    elif entry.kind == "baseline":
        entry.label = f"{entry.label} ({run_name})"
    else:
        entry.label, entry.kind, entry.step = f"{run_name}/{name}", "checkpoint", checkpoint_step(run_dir / name)


def group_entries(entries: list[Entry], suite: str | None = None, split_versions: bool = False) -> list[Group]:
    """One group per (suite, version, data hashes, coverage): records of different data are never
    mixed, and a run over part of a suite (its record says "partial") gets a board of its own,
    titled with what it covered, never one that reads as the whole benchmark.

    Several data versions of one named suite is usually a mistake (an old record beside a
    new one, or a --limit run), so it is an error unless asked for; ad-hoc data ("custom"
    suites) is its own suite per data set and always gets its own board.
    """
    if suite is not None:
        kept = [e for e in entries if e.record["suite"]["name"] == suite]
        if not kept:
            names = sorted({e.record["suite"]["name"] for e in entries})
            raise RmbenchError(f"no records of suite {suite!r} among these; they hold: {', '.join(names)}")
        entries = kept
    groups: dict[tuple, Group] = {}
    for entry in entries:
        info = entry.record["suite"]
        data = tuple(sorted(str(s["sha256"]) for s in entry.record["data"]))
        partial = partial_label(entry.record)
        key = (info["name"], str(info["version"]), data, partial)
        group = groups.get(key)
        if group is None:
            sources = tuple(str(s.get("source", "?")) for s in entry.record["data"])
            group = groups[key] = Group(info["name"], str(info["version"]), info["score_rule"], data, sources,
                                        partial_label=partial)
        if info["score_rule"] != group.score_rule:
            raise RmbenchError(f"{entry.path}: suite {info['name']} scored by rule {info['score_rule']!r}, but "
                               f"{group.entries[0].path} by {group.score_rule!r}; rerun the older evaluation")
        group.entries.append(entry)
    if not split_versions:
        _refuse_mixed_versions(list(groups.values()))
    for group in groups.values():
        _check_same_examples(group)
        _unique_labels(group)
    return sorted(groups.values(), key=lambda g: (g.suite, g.version, g.data, g.partial_label or ""))


def partial_label(record: dict) -> str | None:
    """The label of a record that covers part of its suite, else None. Records written before
    rmbench kept "partial" say it through their --limit."""
    if "partial" in record:
        return (record.get("label") or f"{record['suite']['name']} (partial)") if record["partial"] else None
    limit = (record.get("config") or {}).get("limit")
    return f"{record['suite']['name']} (partial: --limit {limit})" if limit else None


def _refuse_mixed_versions(groups: list[Group]) -> None:
    by_suite: dict[str, list[Group]] = {}
    for group in groups:
        if group.suite not in AD_HOC_SUITES:
            by_suite.setdefault(group.name, []).append(group)
    for name, versions in by_suite.items():
        if len(versions) > 1:
            described = "; ".join(f"v{g.version} data {'+'.join(g.data)} in {g.entries[0].path}"
                                  + (f" and {len(g.entries) - 1} more" if len(g.entries) > 1 else "")
                                  for g in versions)
            raise RmbenchError(f"records of suite {name} come from {len(versions)} different data versions "
                               f"({described}); rank one version at a time, or pass --split-versions for one "
                               "board per version")


def _check_same_examples(group: Group) -> None:
    """Same data hash means same examples; rows that disagree mean a damaged record."""
    first = group.entries[0]
    expected = Counter((row["subset"], str(row["id"])) for row in first.rows)
    for entry in group.entries[1:]:
        if Counter((row["subset"], str(row["id"])) for row in entry.rows) != expected:
            raise DataError(f"{entry.path.parent / SCORES_FILE} and {first.path.parent / SCORES_FILE} hold "
                            "different examples although their records name the same data; rerun one of them")


def _unique_labels(group: Group) -> None:
    """Two records of one model (say, two seeds) must stay tellable apart on the board."""
    counts = Counter(e.label for e in group.entries)
    for entry in group.entries:
        if counts[entry.label] > 1:
            entry.label = f"{entry.label} [{entry.path.parent}]"
