"""RewardBench 2's Ties subset score: for each prompt, are all correct answers preferred
over every incorrect one, and by what margin, pooled over a prompt's "ref:" and "tied:"
rows and weighted as upstream weighs the five components (RB2_TIES_WEIGHTS). Its own
module beside evals.metrics: one benchmark's rule, not a general score; it uses metrics'
score conversion (as_scores) so the NaN and shape rules stay in one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rmbench.errors import DataError
from rmbench.evals.metrics import as_scores

# RewardBench 2 Ties: weights of the five components of the subset score.
RB2_TIES_WEIGHTS: dict[str, float] = {
    "tied_accuracy": 0.30,
    "ref_accuracy": 0.30,
    "correctness_preferred": 0.20,
    "correctness_preferred_hard": 0.20,
    "correctness_margin_score": 0.01,
}


@dataclass(frozen=True)
class _TiesPromptStats:
    """One (sample type, prompt id) group of the Ties subset, as upstream summarises it."""

    accurate: bool  # every correct answer strictly above the best incorrect one
    correct_margin: float  # best - worst correct answer; NaN with a single correct answer
    gap: float  # worst correct - best incorrect (the correct_incorrect_margin)


def _ties_prompt_stats(correct: Sequence[float], incorrect: Sequence[float], where: str) -> _TiesPromptStats:
    """Summarise one Ties prompt; upstream cannot score a prompt with an empty side either."""
    correct_arr = as_scores(correct, f"{where}: correct scores")
    incorrect_arr = as_scores(incorrect, f"{where}: incorrect scores")
    gap = float(correct_arr.min() - incorrect_arr.max())
    spread = float(correct_arr.max() - correct_arr.min()) if correct_arr.size > 1 else math.nan
    return _TiesPromptStats(accurate=bool(gap > 0), correct_margin=spread, gap=gap)


def _parse_ties_id(example_id: str) -> tuple[str, int | str]:
    """Split "ref:12" / "tied:12" into (sample type, prompt id).

    Prompt ids are compared as integers when they are integers (upstream calls int()), so
    "ref:12" and "tied:012" pair up; other ids are kept as text.
    """
    kind, sep, prompt = str(example_id).partition(":")
    if not sep or kind not in ("ref", "tied") or not prompt:
        raise DataError(
            f"Ties example id {example_id!r} is not of the form 'ref:<prompt>' or 'tied:<prompt>'"
        )
    try:
        return kind, int(prompt)
    except ValueError:
        return kind, prompt


def _group_ties_examples(
    examples: Iterable[tuple[str, Sequence[float], Sequence[float]]],
) -> dict[tuple[str, int | str], tuple[str, list[float], list[float]]]:
    """Pool the scores of rows that share a (type, prompt id), as upstream does.

    The value keeps the first id seen so per-example results can be keyed by it.
    """
    groups: dict[tuple[str, int | str], tuple[str, list[float], list[float]]] = {}
    for example_id, chosen, rejected in examples:
        key = _parse_ties_id(example_id)
        _, correct, incorrect = groups.setdefault(key, (str(example_id), [], []))
        correct.extend(float(s) for s in np.asarray(chosen, dtype=float).reshape(-1))
        incorrect.extend(float(s) for s in np.asarray(rejected, dtype=float).reshape(-1))
    return groups


def _mean_accuracy(stats: Mapping[object, _TiesPromptStats]) -> float:
    """Mean of `accurate`; 0.0 for an empty group, as upstream returns."""
    return float(np.mean([s.accurate for s in stats.values()])) if stats else 0.0


def _ties_margin_terms(
    ref: Mapping[int | str, _TiesPromptStats], tied: Mapping[int | str, _TiesPromptStats]
) -> tuple[dict[str, float], int, int]:
    """The three margin components over prompt ids present as both "ref" and "tied".

    Returns (terms, number of paired prompts, number of those whose spread is undefined).
    A tied prompt with a single correct answer has no correct-answer spread: upstream puts
    None in a numpy array and its comparisons would raise. Here the spread is NaN instead,
    so the prompt stays in every denominator, counts as *not* preferred (x > NaN is false)
    and contributes 0 to the margin score (nan_to_num); the count says how many prompts
    that was, so nothing is dropped silently. With no paired prompt the three terms are
    NaN (upstream takes the mean of an empty array), and so is the overall score.
    """
    paired = sorted(set(ref) & set(tied), key=lambda pid: (isinstance(pid, str), pid))
    spread = np.array([tied[p].correct_margin for p in paired], dtype=float)
    tied_gap = np.array([tied[p].gap for p in paired], dtype=float)
    hard_gap = np.minimum(np.array([ref[p].gap for p in paired], dtype=float), tied_gap)
    n_undefined = int(np.isnan(spread).sum())
    if not paired:
        names = ("correctness_preferred", "correctness_preferred_hard", "correctness_margin_score")
        return dict.fromkeys(names, math.nan), 0, 0
    with np.errstate(divide="ignore", invalid="ignore"):
        # spread 0 gives +-inf (tanh -> +-1) or 0/0 = NaN (-> 0), exactly as upstream.
        margin = np.nan_to_num(np.tanh(hard_gap / spread - 1.0), nan=0.0)
    terms = {
        "correctness_preferred": float(np.mean(tied_gap > spread)),
        "correctness_preferred_hard": float(np.mean(hard_gap > spread)),
        "correctness_margin_score": float(np.mean(margin)),
    }
    return terms, len(paired), n_undefined


def rb2_ties_score(examples: Iterable[tuple[str, Sequence[float], Sequence[float]]]) -> dict:
    """RewardBench 2 Ties subset score (upstream rewardbench/utils.py, process_single_model).

    `examples` are (id, correct scores, incorrect scores) with ids "ref:<prompt>" (one
    correct answer) or "tied:<prompt>" (several equally correct answers). The subset score
    is not an accuracy: a good model must rank every correct answer above every incorrect
    one *and* keep the correct answers closer to each other than to the incorrect ones:

        overall = 0.30 tied_accuracy + 0.30 ref_accuracy + 0.20 correctness_preferred
                  + 0.20 correctness_preferred_hard + 0.01 correctness_margin_score

    Returns every component, the counts (n_ref, n_tied, n_paired,
    n_undefined_correct_margin) and `per_example`: {first id of each prompt group: 1.0 if
    accurate else 0.0} for scores.jsonl.
    """
    groups = _group_ties_examples(examples)
    ref: dict[int | str, _TiesPromptStats] = {}
    tied: dict[int | str, _TiesPromptStats] = {}
    per_example: dict[str, float] = {}
    for (kind, prompt), (first_id, correct, incorrect) in groups.items():
        stats = _ties_prompt_stats(correct, incorrect, first_id)
        (ref if kind == "ref" else tied)[prompt] = stats
        per_example[first_id] = 1.0 if stats.accurate else 0.0
    terms, n_paired, n_undefined = _ties_margin_terms(ref, tied)
    result: dict = {"ref_accuracy": _mean_accuracy(ref), "tied_accuracy": _mean_accuracy(tied), **terms}
    result["overall"] = float(sum(weight * result[name] for name, weight in RB2_TIES_WEIGHTS.items()))
    result |= {
        "n_ref": len(ref),
        "n_tied": len(tied),
        "n_paired": n_paired,
        "n_undefined_correct_margin": n_undefined,
        "per_example": per_example,
    }
    return result
