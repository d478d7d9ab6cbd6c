"""From per-completion scores to the figures a benchmark publishes.

Each subset is judged by one metric (declared by the suite, else inferred from the shape
of its examples), then sections and the headline score follow the suite's rule. Every
per-example outcome is kept, so results.json can always be recomputed from scores.jsonl.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from rmbench.data.schema import PreferenceExample
from rmbench.data.suite_formats import METRIC_KEY
from rmbench.errors import DataError, RmbenchError
from rmbench.evals import metrics, rb2_ties, suite_metrics
from rmbench.evals.suites import Suite
from rmbench.scoring.engine import EngineResult


def infer_metric(examples: Sequence[PreferenceExample]) -> str:
    """Shape decides: RewardBench 2's Ties ids -> its Ties score, 3x3 style-ordered -> RM-Bench
    matrix, 1xN -> best-of-N, anything else pairwise over every chosen x rejected. A format
    that declares its benchmark's metric (meta["rmbench_metric"]: JudgeBench, RMB) gets it."""
    declared = {e.meta.get(METRIC_KEY) for e in examples}
    if len(declared) == 1 and None not in declared and declared <= suite_metrics.SUBSET_METRICS.keys():
        return declared.pop()
    if examples and all(e.id.split(":")[0] in ("ref", "tied") for e in examples):
        return "rb2_ties"
    shapes = {(len(e.chosen), len(e.rejected)) for e in examples}
    if shapes == {(3, 3)} and all("styles" in e.meta for e in examples):
        return "rm_bench"
    if all(c == 1 and r > 1 for c, r in shapes):
        return "best_of_n"
    return "pairwise"


def evaluate(examples: Sequence[PreferenceExample], scored: EngineResult, suite: Suite,
             seed: int = 0) -> tuple[dict, list[dict]]:
    by_subset: dict[str, list[int]] = defaultdict(list)
    for n, ex in enumerate(examples):
        by_subset[ex.subset].append(n)

    rows: list[dict] = [{} for _ in examples]
    subsets: dict[str, dict] = {}
    for name, idx in by_subset.items():
        metric = suite.metric_for(name)
        if metric == "auto":
            metric = infer_metric([examples[i] for i in idx])
        subsets[name] = _score_subset(name, metric, idx, examples, scored, rows, seed)

    sections, score, extra = _headline(suite, subsets)
    summary = {"subsets": subsets, "sections": sections, "score": score, "score_rule": suite.score,
               "ties": sum(s["ties"] for s in subsets.values()),
               "truncated": sum(s["truncated"] for s in subsets.values()), **extra}
    return summary, rows


def _score_subset(name, metric, idx, examples, scored: EngineResult, rows, seed) -> dict:
    if scored.outcomes is not None:
        correct, ties, accuracy, extra = _judged_subset(name, metric, [scored.outcomes[i] for i in idx],
                                                        [scored.verdicts[i] for i in idx])
    else:
        correct, ties, accuracy, extra = _scored_subset(name, metric, idx, examples, scored)
    for i, ok, t in zip(idx, correct, ties):
        ex = examples[i]
        row = {"id": ex.id, "subset": ex.subset}
        if scored.outcomes is not None:
            row |= {"outcomes": scored.outcomes[i], "verdicts": scored.verdicts[i]}
        else:
            row |= {"chosen_scores": scored.chosen[i], "rejected_scores": scored.rejected[i]}
        rows[i] = row | {"correct": ok, "ties": t, "truncated": scored.truncated[i]}
    low, high = metrics.bootstrap_ci(np.array(correct), seed=seed) if metric != "rb2_ties" else (None, None)
    return {"n": len(idx), "accuracy": accuracy, "metric": metric, "ci95": [low, high],
            "ties": int(sum(ties)), "truncated": int(sum(1 for i in idx if scored.truncated[i])), **extra}


def _scored_subset(name, metric, idx, examples, scored: EngineResult):
    chosen = [scored.chosen[i] for i in idx]
    rejected = [scored.rejected[i] for i in idx]
    if metric in ("pairwise", "best_of_n"):
        outcome = metrics.pairwise_outcome if metric == "pairwise" else metrics.best_of_n_outcome
        results = [outcome(c, r) for c, r in zip(chosen, rejected)]
        correct = [float(c) for c, _ in results]
        return correct, [t for _, t in results], float(np.mean(correct)), {}
    if metric == "rm_bench":
        if any(len(c) != 3 or len(r) != 3 for c, r in zip(chosen, rejected)):
            raise DataError(f"subset {name}: RM-Bench scoring needs 3 chosen and 3 rejected per example")
        result = metrics.rm_bench_matrix(np.array(chosen), np.array(rejected))
        return _matrix_parts(result)
    if metric == "rb2_ties":
        result = rb2_ties.rb2_ties_score([(examples[i].id, c, r) for i, c, r in zip(idx, chosen, rejected)])
        correct = [float(result["per_example"][examples[i].id]) for i in idx]
        ties = [metrics.pairwise_outcome(c, r)[1] for c, r in zip(chosen, rejected)]
        extra = {k: v for k, v in result.items() if k not in ("overall", "per_example")}
        return correct, ties, float(result["overall"]), extra
    if metric in suite_metrics.SUBSET_METRICS:
        return suite_metrics.SUBSET_METRICS[metric].subset(chosen, rejected)
    raise DataError(f"subset {name}: unknown metric {metric}")


def _judged_subset(name, metric, outcomes, verdicts):
    if metric in suite_metrics.SUBSET_METRICS:
        try:
            return suite_metrics.SUBSET_METRICS[metric].judged_subset(name, outcomes, verdicts)
        except ValueError as err:
            raise RmbenchError(f"{err}; use --judge-mode rating") from err
    if metric == "pairwise":
        correct = [float(np.mean(o)) for o in outcomes]
        ties = [int(np.sum(np.asarray(o) == 0.5)) for o in outcomes]
        return correct, ties, float(np.mean(correct)), {}
    if metric == "rm_bench":
        return _matrix_parts(metrics.rm_bench_matrix_from_outcomes(outcomes))
    raise RmbenchError(f"subset {name} is scored {metric}, which ranks every completion: a pairwise judge "
                       "cannot do that; use --judge-mode rating")


def _matrix_parts(result: dict):
    correct = [float(x) for x in result["per_example_accuracy"]]
    ties = [int(t) for t in result["per_example_ties"]]
    return correct, ties, float(result["average"]), {k: result[k] for k in ("hard", "normal", "easy", "matrix")}


def headline(suite: Suite, subsets: dict[str, dict]) -> tuple[dict, float, dict]:
    """Sections, headline score and extras (RM-Bench styles) from per-subset results.

    Public so that anything recomputing a headline from subsets (the leaderboard's bootstrap
    does, once per resample) follows exactly the rules evaluate() reported. Each subset needs
    "accuracy" and "metric"; RM-Bench subsets also "matrix" and "n".
    """
    return _headline(suite, subsets)


def _headline(suite: Suite, subsets: dict[str, dict]) -> tuple[dict, float, dict]:
    acc = {name: s["accuracy"] for name, s in subsets.items()}
    rule = suite.score if suite.score != "mean" or suite.sections else suite_metrics.default_rule(subsets)
    if rule in suite_metrics.SCORE_RULES:
        return suite_metrics.SCORE_RULES[rule](subsets)
    if suite.score == "rm-bench" or (not suite.sections and subsets
                                     and all(s["metric"] == "rm_bench" for s in subsets.values())):
        return _rm_bench_headline(subsets)
    if suite.sections:
        weights = {s: w for section in suite.sections.values() for s, w in section.items()}
        section_lists = {name: list(members) for name, members in suite.sections.items()}
        sections = metrics.weighted_sections(acc, section_lists, weights)
    else:
        sections = {}
    if suite.score == "rewardbench_v1":
        prior = {k: v for k, v in acc.items() if k in metrics.REWARDBENCH_V1_PRIOR_SUBSETS}
        if prior:
            sections["Prior Sets (0.5 weight)"] = metrics.rewardbench_v1_prior(prior)
        core = {k: v for k, v in sections.items() if k in metrics.REWARDBENCH_V1_FINAL_SECTIONS}
        return sections, metrics.rewardbench_v1_final(core, prior or None), {}
    if suite.score == "rewardbench2":
        return sections, metrics.rewardbench_v2_final(sections), {}
    return sections, _mean(sections.values() if sections else acc.values()), {}


def _rm_bench_headline(subsets: dict[str, dict]) -> tuple[dict, float, dict]:
    """Domains pool their files (safety = refuse + response); unknown names stand alone."""
    try:
        domains = metrics.rm_bench_domain_matrices(subsets)
    except ValueError:  # subsets not named after RM-Bench domains (ad-hoc files)
        domains = {name: {**s, "average": s["accuracy"]} for name, s in subsets.items()}
    sections = {d: r["average"] for d, r in domains.items()}
    styles = {k: _mean(r[k] for r in domains.values()) for k in ("hard", "normal", "easy")}
    return sections, _mean(sections.values()), {"styles": styles}


def _mean(values) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan
