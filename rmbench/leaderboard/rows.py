"""Reading scores.jsonl, and checking every line against the scores written on it.

A leaderboard ranks what scores.jsonl says, so scores.jsonl must not be taken on trust:
`correct` is a conclusion drawn from the scores (or judge verdicts) on the same line, and
editing it together with results.json would otherwise rank a model for answers it never
gave. Each line's `correct` is recomputed here with the subset's own metric, by the same
functions the evaluation used, and a mismatch is refused with the file and line. A row
whose id repeats within its subset would be counted twice, so that is refused too.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from rmbench.errors import DataError
from rmbench.evals import metrics, rb2_ties, suite_metrics
from rmbench.scoring.judging import comparison_outcome

SCORES_FILE = "scores.jsonl"
# Metrics whose per-example outcome can be recomputed from a line; a record naming another
# metric was written by a newer (or altered) rmbench and cannot be checked.
CHECKED_METRICS = ("pairwise", "best_of_n", "rm_bench", "rb2_ties", "win_rate", *suite_metrics.SUBSET_METRICS)
_TOLERANCE = 1e-9
_RERUN = "rerun the evaluation"


def read_rows(path: Path, record: dict) -> list[dict]:
    """Per-example rows of the record at `path`, each checked against its own scores."""
    scores = path.parent / SCORES_FILE
    if not scores.is_file():
        raise DataError(f"{path}: no {SCORES_FILE} beside it; the leaderboard needs per-example scores for its "
                        f"intervals: rerun `rmbench eval ... --out {path.parent}`")
    subsets = record["subsets"]
    for name, subset in subsets.items():
        if subset["metric"] not in CHECKED_METRICS:
            raise DataError(f"{path}: subset {name!r} is scored by metric {subset['metric']!r}, which this rmbench "
                            f"cannot check ({', '.join(CHECKED_METRICS)}); {_RERUN} with this rmbench")
    policy = record["suite"]["name"] == "policy"
    rows: list[dict] = []
    lines: dict[tuple[str, str], int] = {}  # (subset, id) -> line number
    try:
        with scores.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                row = _parse(line, f"{scores}, line {number}", subsets, path, policy)
                key = (row["subset"], str(row["id"]))
                if key in lines:
                    raise DataError(f"{scores}, line {number}: id {key[1]!r} of subset {key[0]!r} repeats line "
                                    f"{lines[key]}; an example counted twice would skew every figure: {_RERUN}")
                lines[key] = number
                metric = subsets[row["subset"]]["metric"]
                if metric != "rb2_ties":  # Ties outcomes need the whole subset, checked below
                    where = f"{scores}, line {number}"
                    _check(row, _recomputed(row, metric, where), where, metric)
                rows.append(row)
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{scores}: cannot read it ({err})") from err
    _check_ties(scores, rows, subsets, lines)
    counts = Counter(row["subset"] for row in rows)
    for name, subset in subsets.items():
        if counts[name] != subset["n"]:
            raise DataError(f"{scores}: {counts[name]} rows for subset {name!r} but {path.name} says "
                            f"n={subset['n']}; the two files come from different runs: {_RERUN}")
    return rows


def _parse(line: str, where: str, subsets: dict, path: Path, policy: bool) -> dict:
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, RecursionError, ValueError) as err:
        raise DataError(f"{where}: not valid JSON ({getattr(err, 'msg', err)}); the file is damaged: {_RERUN}") \
            from err
    if not isinstance(row, dict) or "id" not in row or "subset" not in row or "correct" not in row:
        raise DataError(f"{where}: a row needs id, subset and correct; {_RERUN}")
    if not isinstance(row["subset"], str) or row["subset"] not in subsets:
        raise DataError(f"{where}: subset {row['subset']!r} is not in {path.name}; the two files come from "
                        f"different runs: {_RERUN}")
    correct = row["correct"]
    if correct is None and policy:
        raise DataError(f"{path}: this policy was evaluated without a win-rate (no judge, or no baseline policy), "
                        "so there is nothing to rank; rerun it with --judge-rm SCORER and --baseline-policy CKPT")
    if isinstance(correct, bool) or not isinstance(correct, (int, float)) or not math.isfinite(correct) \
            or not 0 <= correct <= 1:
        raise DataError(f"{where}: correct must be a number from 0 to 1, not {correct!r}")
    return row


def _recomputed(row: dict, metric: str, where: str) -> float:
    """The example's outcome from the evidence on its own line, by the evaluation's functions."""
    try:
        if metric == "win_rate":
            return _policy_outcome(row)
        if metric in suite_metrics.SUBSET_METRICS:  # JudgeBench, RMB: their own per-example rules
            return suite_metrics.SUBSET_METRICS[metric].row(row)
        if "outcomes" in row or "verdicts" in row:  # a pairwise judge: outcomes from both-order verdicts
            outcomes = _judged_outcomes(row)
            if metric == "rm_bench":
                return float(metrics.rm_bench_matrix_from_outcomes([outcomes])["per_example_accuracy"][0])
            return float(sum(o for r in outcomes for o in r) / sum(len(r) for r in outcomes))
        chosen, rejected = row["chosen_scores"], row["rejected_scores"]
        if metric == "rm_bench":
            return float(metrics.rm_bench_matrix([chosen], [rejected])["per_example_accuracy"][0])
        outcome = metrics.best_of_n_outcome if metric == "best_of_n" else metrics.pairwise_outcome
        return outcome(chosen, rejected)[0]
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as err:
        raise DataError(f"{where}: no usable scores or verdicts for a {metric} outcome ({err}); {_RERUN}") from err


def _judged_outcomes(row: dict) -> list[list[float]]:
    """Outcomes per (chosen i, rejected j) recomputed from the verdicts, which must match
    the outcomes written beside them."""
    verdicts = row["verdicts"]
    outcomes = [[comparison_outcome(*pair) for pair in line] for line in verdicts]
    for line in verdicts:
        for pair in line:
            if len(pair) != 2 or any(v not in ("A", "B", "tie", None) for v in pair):
                raise ValueError(f"verdict pair {pair!r} is not two of A, B, tie or null")
    if "outcomes" in row and row["outcomes"] != outcomes:
        raise ValueError(f"outcomes {row['outcomes']!r} do not follow from verdicts {verdicts!r}")
    if not outcomes or not all(outcomes):
        raise ValueError("no verdicts")
    return outcomes


def _policy_outcome(row: dict) -> float:
    """A policy's prompt: 1/0.5/0 from the judge-RM's rewards, or from a pairwise judge's
    verdicts; identical answers tie without being judged."""
    reward, baseline = row.get("reward"), row.get("baseline_reward")
    if isinstance(reward, (int, float)) and isinstance(baseline, (int, float)):
        return metrics.win_outcome(float(reward), float(baseline))
    if "verdicts" in row:
        return _judged_outcomes(row)[0][0]
    if "completion" in row and row.get("completion") == row.get("baseline_completion"):
        return 0.5
    raise KeyError("reward and baseline_reward, or verdicts")


def _check(row: dict, expected: float, where: str, metric: str) -> None:
    if abs(float(row["correct"]) - expected) > _TOLERANCE:
        raise DataError(f"{where}: correct is {row['correct']!r} but the scores on this line give {expected:.6g} "
                        f"({metric}); the file was edited or damaged: {_RERUN}")


def _check_ties(scores: Path, rows: list[dict], subsets: dict, lines: dict) -> None:
    """RewardBench 2 Ties: each prompt group's `correct` (all correct answers above every
    incorrect one) from the subset's scores, as the evaluation computed it."""
    for name, subset in subsets.items():
        if subset["metric"] != "rb2_ties":
            continue
        members = [row for row in rows if row["subset"] == name]
        try:
            result = rb2_ties.rb2_ties_score([(str(r["id"]), r["chosen_scores"], r["rejected_scores"])
                                             for r in members])
        except (KeyError, TypeError, ValueError, DataError) as err:
            raise DataError(f"{scores} (subset {name}): the Ties rows have no usable scores ({err}); {_RERUN}") \
                from err
        for row in members:
            where = f"{scores}, line {lines[(name, str(row['id']))]}"
            expected = result["per_example"].get(str(row["id"]))
            if expected is None:
                raise DataError(f"{where}: Ties row {row['id']!r} shares its prompt group with an earlier row; "
                                f"{_RERUN}")
            _check(row, expected, where, "rb2_ties")
