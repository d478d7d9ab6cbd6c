"""Bootstrap intervals for every figure on a board, and ranks that admit ties.

Why resample prompts: the rows of scores.jsonl are prompts, and a prompt's comparisons
(several chosen x rejected, a 3x3 style matrix, a Ties prompt's ref and tied rows) are not
independent of each other; resampling single pairs would make the intervals too narrow.

Why recompute the headline per resample: a suite's score is not a plain mean of examples
(weighted sections, RewardBench's prior sets, RM-Bench's pooled safety matrix, RewardBench
2's Ties formula), so each resample goes through the same rule as the evaluation
(rmbench.evals.harness.headline) and the interval is that of the published number.

Why one set of draws per subset for the whole board: every entry of a board holds the same
examples, so using the same resampled prompts for all of them makes each pair's difference
a paired bootstrap for free; an entry is ranked below only the entries significantly better.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rmbench.errors import DataError, RmbenchError, SuiteError
from rmbench.evals import metrics, rb2_ties
from rmbench.evals.harness import headline
from rmbench.evals.suites import Suite, load_suite
from rmbench.leaderboard.records import AD_HOC_SUITES, SCORES_FILE, Entry, Group

CONFIDENCE = 0.95
MIN_RESAMPLES = 100
_CELLS_PER_CHUNK = 4_000_000  # bounds memory: resamples x prompts x values drawn at once
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95% bootstrap interval (fractions in [0, 1]; NaN when not evaluated)."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict:
        clean = [None if math.isnan(v) else round(v, 6) for v in (self.value, self.low, self.high)]
        return {"value": clean[0], "ci95": clean[1:]}


@dataclass
class Ranked:
    entry: Entry
    rank: int | None  # None: the entry has no score to rank
    score: Estimate
    sections: dict[str, Estimate]
    extras: dict[str, Estimate]  # RM-Bench's hard / normal / easy
    subsets: dict[str, Estimate]
    gap_below: Estimate | None = None  # paired score difference to the next entry down
    significant_below: bool | None = None


@dataclass
class Board:
    group: Group
    ranked: list[Ranked]
    sections: list[str]
    extras: list[str]
    subsets: list[str]
    resamples: int
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def rule(self) -> str:
        """The footer: how ranks and intervals were decided, in one paragraph."""
        return (f"Ranks: 1 + the number of entries significantly better, where better means a paired bootstrap "
                f"difference (the same {self.resamples} resamples of prompts for both, seed {self.seed}) whose 95% "
                f"interval lies above 0; entries that no one separates share a rank. Intervals: 95% percentile "
                f"bootstrap, prompts resampled within each subset, sections and score recomputed by the suite's "
                f"rule ({self.group.score_rule}).")


def rank_group(group: Group, resamples: int = 1000, seed: int = 0) -> Board:
    if resamples < MIN_RESAMPLES:
        raise RmbenchError(f"--resamples must be at least {MIN_RESAMPLES} for a 95% interval, not {resamples}")
    suite = suite_for(group)
    entries = group.entries
    subsets = sorted(entries[0].record["subsets"])
    units = [{name: _units(entry, name) for name in subsets} for entry in entries]
    draws = {name: _resampled_subset(name, [u[name] for u in units], resamples, seed) for name in subsets}

    results = []
    for n, entry in enumerate(entries):
        point = {name: units[n][name].point() for name in subsets}
        sections, score, extra = _headline(suite, point)
        _agree(entry, point, sections, score)
        dist_sections: dict[str, list[float]] = {k: [] for k in sections}
        dist_extras: dict[str, list[float]] = {k: [] for k in extra.get("styles", {})}
        dist_score = []
        for b in range(resamples):
            resampled = {name: draws[name][n][b] for name in subsets}
            b_sections, b_score, b_extra = _headline(suite, resampled)
            dist_score.append(b_score)
            for k in dist_sections:
                dist_sections[k].append(b_sections.get(k, math.nan))
            for k in dist_extras:
                dist_extras[k].append(b_extra["styles"].get(k, math.nan))
        results.append({
            "entry": entry, "dist": np.asarray(dist_score, dtype=float),
            "score": _estimate(score, dist_score),
            "sections": {k: _estimate(v, dist_sections[k]) for k, v in sections.items()},
            "extras": {k: _estimate(v, dist_extras[k]) for k, v in extra.get("styles", {}).items()},
            "subsets": {name: _estimate(point[name]["accuracy"], [d["accuracy"] for d in draws[name][n]])
                        for name in subsets},
        })
    ranked = _rank(results)
    section_names = list(dict.fromkeys(k for r in ranked for k in r.sections))
    extra_names = list(dict.fromkeys(k for r in ranked for k in r.extras))
    return Board(group=group, ranked=ranked, sections=section_names, extras=extra_names, subsets=subsets,
                 resamples=resamples, seed=seed)


def suite_for(group: Group) -> Suite:
    """The suite whose rule recomputes the headline: the record's manifest if it is still
    there, else the packaged one of that name, and only if its version is the record's."""
    info = group.entries[0].record["suite"]
    if group.suite in AD_HOC_SUITES and not info.get("manifest"):
        return Suite(name=group.suite, version=group.version, score=group.score_rule)
    manifest = info.get("manifest")
    try:
        suite = load_suite(manifest if manifest and Path(manifest).is_file() else group.suite)
    except SuiteError as err:
        raise RmbenchError(f"{group.entries[0].path}: suite {group.suite!r} is needed to recompute the score, but its "
                           f"manifest {manifest or ''} is not here and no packaged suite has that name; put the "
                           "manifest back at that path") from err
    if suite.version != group.version or suite.score != group.score_rule:
        raise RmbenchError(f"{group.entries[0].path}: scored with {group.suite} v{group.version} "
                           f"({group.score_rule}), but the manifest here is v{suite.version} ({suite.score}); "
                           "rerun the evaluation with this rmbench")
    return suite


def _headline(suite: Suite, subsets: dict[str, dict]) -> tuple[dict, float, dict]:
    """A policy's win-rate pools every prompt (as rmbench.evals.policy reports it), where a
    suite's headline is a mean of subsets; the two differ as soon as subsets differ in size."""
    if suite.name == "policy":
        total = sum(s["n"] for s in subsets.values())
        return {}, sum(s["accuracy"] * s["n"] for s in subsets.values()) / total, {}
    return headline(suite, subsets)


def _agree(entry: Entry, point: dict, sections: dict, score: float) -> None:
    """Recomputing from scores.jsonl must give the record's own figures, or the two files
    (or the scoring rules) have drifted apart and no interval around them means anything."""
    record = entry.record
    for name, subset in point.items():
        if not _close(subset["accuracy"], record["subsets"][name]["accuracy"]):
            raise DataError(f"{entry.path}: subset {name!r} has accuracy {record['subsets'][name]['accuracy']} but "
                            f"{SCORES_FILE} gives {subset['accuracy']:.6g}; the files disagree: rerun the evaluation")
    for name, value in sections.items():
        if name in record.get("sections", {}) and not _close(value, record["sections"][name]):
            raise DataError(f"{entry.path}: section {name!r} recomputes to {value:.6g}, not the recorded "
                            f"{record['sections'][name]}; rerun the evaluation with this rmbench")
    if not _close(score, record["score"]):
        raise DataError(f"{entry.path}: the score recomputes to {score:.6g}, not the recorded {record['score']}; "
                        "rerun the evaluation with this rmbench")


def _close(a, b) -> bool:
    a = math.nan if a is None else float(a)
    b = math.nan if b is None else float(b)
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= _TOLERANCE


def _estimate(value: float, dist) -> Estimate:
    value = math.nan if value is None else float(value)
    data = np.asarray(dist, dtype=float)
    data = data[~np.isnan(data)]
    if math.isnan(value) or data.size == 0:
        return Estimate(value, math.nan, math.nan)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(data, [tail, 1 - tail])
    return Estimate(value, float(low), float(high))


def _rank(results: list[dict]) -> list[Ranked]:
    """Rank = 1 + the number of entries significantly better (paired difference's 95% interval
    above 0), so ranks never chain: A~B and B~C with A clearly above C leaves C below A. Ties
    follow (1, 1, 3, ...). Entries are listed by rank, then score, then models before baselines,
    then checkpoint-4 before checkpoint-12."""
    def order(r: dict) -> tuple:
        return (-r["score"].value if not math.isnan(r["score"].value) else 0, r["entry"].is_baseline,
                natural_key(r["entry"].label))

    scored = sorted((r for r in results if not math.isnan(r["score"].value)), key=order)
    unscored = sorted((r for r in results if math.isnan(r["score"].value)), key=order)

    def gap(better: dict, worse: dict) -> Estimate:
        return _estimate(better["score"].value - worse["score"].value, better["dist"] - worse["dist"])

    def significant(estimate: Estimate) -> bool:
        return estimate.value > 0 and estimate.low > 0

    ranks = [1 + sum(significant(gap(other, r)) for other in scored[:i]) for i, r in enumerate(scored)]
    # listed by rank, then score: an entry that nothing separates from the top is not shown below one that is
    listing = sorted(range(len(scored)), key=lambda i: (ranks[i], i))
    ranked = []
    for n, i in enumerate(listing):
        r = scored[i]
        ranked.append(Ranked(r["entry"], ranks[i], r["score"], r["sections"], r["extras"], r["subsets"]))
        if n:
            above = scored[listing[n - 1]]
            ranked[-2].gap_below = gap(above, r)
            ranked[-2].significant_below = significant(ranked[-2].gap_below)
    ranked += [Ranked(r["entry"], None, r["score"], r["sections"], r["extras"], r["subsets"]) for r in unscored]
    return ranked


def natural_key(label: str) -> tuple:
    """Sort key that puts step-9 before step-10: digit runs compare as numbers. re.split with a
    group alternates text and digit runs, so each position holds one type and tuples compare."""
    return tuple(int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", label)))


# --------------------------------------------------------------------------------------
# One subset of one entry: its resampling units (prompts) and how a resample is scored
# --------------------------------------------------------------------------------------


class _MeanUnits:
    """Subsets whose accuracy is the mean over prompts of a per-prompt value: pairwise,
    best-of-N, judged outcomes (the `correct` column), and RM-Bench (its 9 matrix cells)."""

    def __init__(self, metric: str, values: np.ndarray, shape: tuple[int, ...] | None = None):
        self.metric, self.values, self.shape = metric, values, shape  # values: (prompts, k)

    @property
    def size(self) -> int:
        return self.values.shape[0]

    def summary(self, mean: np.ndarray) -> dict:
        if self.shape is None:
            return {"accuracy": float(mean[0]), "metric": self.metric, "n": self.size}
        matrix = mean.reshape(self.shape)
        return {"accuracy": float(matrix.mean()), "metric": self.metric, "n": self.size, "matrix": matrix}

    def point(self) -> dict:
        return self.summary(self.values.mean(axis=0))

    def resample(self, draws: np.ndarray) -> list[dict]:
        means = self.values[draws].mean(axis=1)  # (resamples, k)
        return [self.summary(m) for m in means]


class _TiesUnits:
    """RewardBench 2 Ties: a prompt is its "ref:" and "tied:" rows together, and the score
    (accuracy plus margin terms) is recomputed by rb2_ties.rb2_ties_score per resample."""

    metric = "rb2_ties"

    def __init__(self, prompts: list[list[tuple[str, list, list]]]):
        self.prompts = prompts

    @property
    def size(self) -> int:
        return len(self.prompts)

    def _score(self, order) -> dict:
        # Each drawn prompt gets a fresh id so a prompt drawn twice counts twice.
        rows = [(f"{kind}:{k}", chosen, rejected) for k, p in enumerate(order) for kind, chosen, rejected
                in self.prompts[p]]
        return {"accuracy": float(rb2_ties.rb2_ties_score(rows)["overall"]), "metric": self.metric, "n": self.size}

    def point(self) -> dict:
        return self._score(range(self.size))

    def resample(self, draws: np.ndarray) -> list[dict]:
        return [self._score(row) for row in draws]


def _units(entry: Entry, subset: str):
    metric = entry.record["subsets"][subset]["metric"]
    rows = [row for row in entry.rows if row["subset"] == subset]
    where = f"{entry.path.parent / SCORES_FILE} (subset {subset})"
    if metric == "rb2_ties":
        prompts: dict[str, list] = {}
        for row in rows:
            kind, _, prompt = str(row["id"]).partition(":")
            if "chosen_scores" not in row or "rejected_scores" not in row:
                raise DataError(f"{where}: Ties rows need chosen_scores and rejected_scores")
            prompts.setdefault(prompt, []).append((kind, row["chosen_scores"], row["rejected_scores"]))
        return _TiesUnits([prompts[k] for k in sorted(prompts)])
    rows.sort(key=lambda row: str(row["id"]))  # the same order in every entry: draws pair up
    if metric == "rm_bench":
        cells = [_style_cells(row, where) for row in rows]
        return _MeanUnits(metric, np.asarray(cells, dtype=float).reshape(len(rows), -1), (3, 3))
    return _MeanUnits(metric, np.asarray([[float(row["correct"])] for row in rows], dtype=float))


def _style_cells(row: dict, where: str) -> np.ndarray:
    """A prompt's 3x3 outcomes, by the same functions that built the record's matrix."""
    try:
        if "outcomes" in row:
            return np.asarray(metrics.rm_bench_matrix_from_outcomes([row["outcomes"]])["matrix"])
        return np.asarray(metrics.rm_bench_matrix([row["chosen_scores"]], [row["rejected_scores"]])["matrix"])
    except (KeyError, ValueError, TypeError) as err:
        raise DataError(f"{where}: row {row['id']!r} has no 3x3 style scores ({err}); rerun the evaluation") from err


def _resampled_subset(name: str, units: list, resamples: int, seed: int) -> list[list[dict]]:
    """For each entry, `resamples` scored resamples of the subset, all entries drawing the
    same prompts. The generator is keyed by the seed and the subset's name (not its
    position), so adding a subset or an entry changes no other figure."""
    size = units[0].size
    if size == 0:
        raise DataError(f"subset {name!r} has no examples; rerun the evaluation on data that has some")
    if any(u.size != size for u in units):
        raise DataError(f"subset {name!r}: the records hold different numbers of prompts; rerun them on one data set")
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    width = max(u.values.shape[1] if isinstance(u, _MeanUnits) else 1 for u in units)
    chunk = max(1, _CELLS_PER_CHUNK // max(1, size * width))
    out: list[list[dict]] = [[] for _ in units]
    for start in range(0, resamples, chunk):
        draws = rng.integers(0, size, size=(min(chunk, resamples - start), size))
        for n, unit in enumerate(units):
            out[n].extend(unit.resample(draws))
    return out
