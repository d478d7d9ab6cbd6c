"""`rmbench import`: per-example outputs that others published, turned into rmbench records.

Benchmarks publish per-example outputs (JudgeBench's outputs/ folder, RewardBench's
per-example score files), and users keep their own scores from other tools. Turning them
into ordinary records (results.json + scores.jsonl, with the suite's data hashes) lets
`rmbench leaderboard` rank them with intervals beside models rmbench scored itself, by the
suite's own rule. The suite's data is loaded (hub or --data-root) so that every imported id
is matched to an example: an id the suite does not have is an error naming it, and the
record's data hashes are those of the data the scores belong to.

Formats:
- `judgebench`: JudgeBench output rows (pair_id, label, judgments: one per answer order with
  `decision` and, for reward models, `judgment.scores`). When both orders carry scores that
  agree (the second is the first swapped: a reward model scores each response once) the
  per-response scores are imported; otherwise the two decisions are imported as a pairwise
  judge's verdicts. Either way JudgeBench's two-order rule scores them.
- `rewardbench`: RewardBench per-example rows (id, scores_chosen / scores_rejected, or
  score_chosen / score_rejected; a bare number or a list).
- `scores`: plain JSONL of {"id", "chosen_scores": [...], "rejected_scores": [...]} and
  optionally "subset" (needed only when an id repeats across subsets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rmbench.data.loading import read_records
from rmbench.data.schema import PreferenceExample
from rmbench.errors import DataError
from rmbench.evals.harness import evaluate
from rmbench.evals.run import EvalRequest, load_examples
from rmbench.evals.suites import load_suite
from rmbench.results import build_record, write_results
from rmbench.scoring.engine import EngineResult
from rmbench.scoring.judging import comparison_outcome

IMPORT_FORMATS = ("judgebench", "rewardbench", "scores")
_AS_VERDICT = {"A>B": "A", "B>A": "B"}


@dataclass
class Imported:
    """One example's evidence: per-completion scores, or verdicts [better as A, better as B]."""

    chosen: list[float] | None = None
    rejected: list[float] | None = None
    verdicts: list | None = None


def import_outputs(format: str, file: str, suite_name: str, out: Path, *, data_root: str | None = None,
                   model: str | None = None, seed: int = 0) -> dict:
    """Read `file`, match it to `suite_name`'s examples, write OUT/results.json + scores.jsonl."""
    if format not in IMPORT_FORMATS:
        raise DataError(f"unknown import format {format!r}; formats: {', '.join(IMPORT_FORMATS)}")
    path = Path(file)
    if not path.is_file():
        raise DataError(f"no such file: {file}")
    records = read_records(path)
    suite = load_suite(suite_name)
    loaded = load_examples(EvalRequest(suite=suite_name, data_root=data_root, show_progress=False), suite)
    examples, sources = (loaded.examples, loaded.sources) if hasattr(loaded, "examples") else loaded
    by_id = _index(examples)
    evidence: dict[int, Imported] = {}
    for number, record in enumerate(records, 1):
        where = f"{file} record {number}"
        if not isinstance(record, dict):
            raise DataError(f"{where}: is {type(record).__name__}, expected an object")
        position = _match(record, by_id, examples, where, suite.name)
        if position in evidence:
            raise DataError(f"{where}: example {examples[position].id!r} was already imported from an earlier record")
        evidence[position] = _READERS[format](record, examples[position], where)
    chosen = sorted(evidence)
    picked = [examples[i] for i in chosen]
    scored = _engine_result([evidence[i] for i in chosen], picked, file)
    summary, rows = evaluate(picked, scored, suite, seed=seed)
    missing = len(examples) - len(picked)
    summary = {"label": suite.name if not missing else f"{suite.name} (partial: {len(picked)} of {len(examples)})",
               "partial": bool(missing), **summary}
    name = model or path.name.removesuffix(".jsonl").removesuffix(".json")
    record = build_record(
        suite={"name": suite.name, "version": suite.version, "manifest": suite.manifest, "score_rule": suite.score},
        data=sources, model={"name": name, "kind": "imported", "import_format": format, "source_file": path.name},
        config={"seed": seed, "imported_from": path.name, "examples_not_in_file": missing},
        summary=summary, timing={"wall_seconds": 0.0})
    write_results(out, record, rows)
    return record


def _index(examples: list[PreferenceExample]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for n, e in enumerate(examples):
        index.setdefault(e.id, []).append(n)
    return index


def _match(record: dict, by_id: dict[str, list[int]], examples: list[PreferenceExample], where: str,
           suite: str) -> int:
    raw = record.get("pair_id", record.get("id"))
    if raw is None:
        raise DataError(f"{where}: no id (pair_id or id) to match to suite {suite}")
    positions = by_id.get(str(raw))
    if not positions:
        raise DataError(f"{where}: id {str(raw)!r} matches no example of suite {suite}; import files of this "
                        "suite's data only")
    if len(positions) > 1:  # the same id in several subsets: the record's subset decides
        named = [p for p in positions if examples[p].subset == record.get("subset")]
        if len(named) != 1:
            raise DataError(f"{where}: id {str(raw)!r} is in several subsets of suite {suite}; add the record's "
                            "\"subset\" to say which")
        return named[0]
    return positions[0]


def _numbers(value: Any, where: str, key: str) -> list[float]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise DataError(f"{where}: {key} must be a number or a list of numbers, not {value!r}")
    if not all(math.isfinite(v) for v in values):
        raise DataError(f"{where}: {key} holds a non-finite score")
    return [float(v) for v in values]


def _judgebench(record: dict, example: PreferenceExample, where: str) -> Imported:
    label = record.get("label")
    if label != example.meta.get("label"):
        raise DataError(f"{where}: label {label!r} differs from the suite's {example.meta.get('label')!r}")
    judgments = record.get("judgments")
    if not isinstance(judgments, list) or len(judgments) not in (1, 2):
        raise DataError(f"{where}: judgments must be a list of one or two judgments (one per answer order)")
    scores = [((j or {}).get("judgment") or {}).get("scores") if isinstance(j, dict) else None for j in judgments]
    if all(isinstance(s, list) and len(s) == 2 for s in scores):
        a, b = _numbers(scores[0], where, "scores")
        if len(scores) == 1 or _numbers(scores[1], where, "scores") == [b, a]:
            better, worse = (a, b) if label == "A>B" else (b, a)
            return Imported([better], [worse])
    if len(judgments) != 2:
        raise DataError(f"{where}: a judge without scores needs both answer orders' decisions")
    decisions = [j.get("decision") if isinstance(j, dict) else None for j in judgments]
    first, second = (_AS_VERDICT.get(d, "tie" if d is not None else None) for d in decisions)
    # rmbench's pair: [better answer shown as A, better answer shown as B]
    pair = [first, second] if label == "A>B" else [second, first]
    return Imported(verdicts=[[pair]])


def _rewardbench(record: dict, example: PreferenceExample, where: str) -> Imported:
    for chosen_key, rejected_key in (("scores_chosen", "scores_rejected"), ("score_chosen", "score_rejected"),
                                     ("chosen_scores", "rejected_scores")):
        if chosen_key in record and rejected_key in record:
            return _sized(Imported(_numbers(record[chosen_key], where, chosen_key),
                                   _numbers(record[rejected_key], where, rejected_key)), example, where)
    raise DataError(f"{where}: no scores_chosen/scores_rejected (or score_chosen/score_rejected) to import")


def _scores(record: dict, example: PreferenceExample, where: str) -> Imported:
    if "chosen_scores" not in record or "rejected_scores" not in record:
        raise DataError(f"{where}: a scores record needs chosen_scores and rejected_scores")
    return _sized(Imported(_numbers(record["chosen_scores"], where, "chosen_scores"),
                           _numbers(record["rejected_scores"], where, "rejected_scores")), example, where)


def _sized(imported: Imported, example: PreferenceExample, where: str) -> Imported:
    if len(imported.chosen) != len(example.chosen) or len(imported.rejected) != len(example.rejected):
        raise DataError(f"{where}: {len(imported.chosen)} chosen and {len(imported.rejected)} rejected scores, but "
                        f"example {example.id!r} has {len(example.chosen)} and {len(example.rejected)} completions")
    return imported


_READERS = {"judgebench": _judgebench, "rewardbench": _rewardbench, "scores": _scores}


def _engine_result(evidence: list[Imported], examples: list[PreferenceExample], file: str) -> EngineResult:
    judged = [e.verdicts is not None for e in evidence]
    if any(judged) and not all(judged):
        raise DataError(f"{file}: some records carry scores and others only decisions; import one kind per file")
    n = len(examples)
    stats = {"scored": 0, "cached": 0, "scoring_seconds": 0.0, "imported": n}
    if all(judged) and evidence:
        verdicts = [e.verdicts for e in evidence]
        outcomes = [[[comparison_outcome(*pair) for pair in line] for line in v] for v in verdicts]
        return EngineResult([[]] * n, [[]] * n, [0] * n, stats, outcomes=outcomes, verdicts=verdicts)
    return EngineResult([e.chosen for e in evidence], [e.rejected for e in evidence], [0] * n, stats)

