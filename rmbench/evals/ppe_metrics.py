"""PPE's (lmarena, Preference Proxy Evaluations) figures from per-response scores.

PPE has two kinds of data. The human-preference set is Chatbot Arena battles (two
responses, a crowd `winner`); a reward model's figure is its accuracy on the decisive
battles (ties are not scored). The correctness sets (MMLU-Pro, MATH, GPQA, IFEval,
MBPP-Plus) give each prompt up to 32 sampled responses with a verified boolean
correctness; from one score per response PPE reports the reward model's accuracy at
telling a correct response from an incorrect one and its best-of-K curve: the expected
correctness of the response it would pick among K samples, for K = 1..32.

PPE's own code (github lmarena/PPE) could not be read where this was written: the
definitions here follow the paper (arXiv 2410.14872), the blog post and the dataset cards,
and docs/metrics.md says, per figure, which source it follows and what is unverified.
These functions import nothing from rmbench, so tests can check them by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Outcome = tuple[float, int]  # (outcome in [0, 1], exact ties)


def correctness_pairwise(correct: Sequence[float], incorrect: Sequence[float]) -> Outcome:
    """One prompt's accuracy: the share of (correct, incorrect) response pairs in which the
    correct response scores strictly higher (an exact tie counts as wrong, as in every other
    rmbench pairwise rule); ties counts the tied pairs."""
    c = np.asarray(correct, dtype=float)[:, None]
    i = np.asarray(incorrect, dtype=float)[None, :]
    if c.size == 0 or i.size == 0:
        raise ValueError("pairwise accuracy needs at least one correct and one incorrect response")
    return float(np.mean(c > i)), int(np.sum(c == i))


def best_of_k(scores: Sequence[float], labels: Sequence[bool], k: int) -> float:
    """Expected correctness of the highest-scored response among K drawn without replacement
    from the prompt's responses, averaged exactly over every one of the C(n, K) draws (no
    sampling noise); responses tied at the top are picked uniformly. A draw's top score is v
    with probability (C(L + m, K) - C(L, K)) / C(n, K), L responses scoring below v and m at
    v, and then each of the m is equally likely to be the pick."""
    n = len(scores)
    if not 1 <= k <= n:
        raise ValueError(f"K={k} needs between 1 and {n} responses")
    return prompt_curve(scores, labels)[k - 1]


def prompt_curve(scores: Sequence[float], labels: Sequence[bool]) -> list[float]:
    """best_of_k for K = 1 .. n of one prompt (the score groups are found once)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=float)
    n = len(s)
    values, inverse = np.unique(s, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(values)).tolist()
    share = (np.bincount(inverse, weights=y, minlength=len(values)) / np.maximum(counts, 1)).tolist()
    below = np.cumsum([0, *counts[:-1]]).tolist()
    curve = []
    for k in range(1, n + 1):
        total = math.comb(n, k)
        curve.append(float(sum((math.comb(b + m, k) - math.comb(b, k)) / total * h
                               for b, m, h in zip(below, counts, share))))
    return curve


def best_of_k_curve(correct: Sequence[Sequence[float]], incorrect: Sequence[Sequence[float]]) -> dict:
    """The best-of-K curve of a set of prompts (each given as its correct and its incorrect
    responses' scores), K = 1 .. the most responses any prompt has; at each K the mean over
    the prompts with at least K responses. Also its maximum (and the K reaching it) and its
    last value. K = 1 is the mean correctness of one random response, the same for any
    reward model."""
    curves = [prompt_curve([*c, *i], [True] * len(c) + [False] * len(i)) for c, i in zip(correct, incorrect)]
    if not curves:
        return {}
    largest = max(len(c) for c in curves)
    curve = [float(np.mean([c[k] for c in curves if len(c) > k])) for k in range(largest)]
    top = int(np.argmax(curve))
    return {"best_of_k": curve, "best_of_k_max": curve[top], "best_of_k_argmax": top + 1,
            "best_of_k_end": curve[-1]}


def mean_curve(curves: Sequence[Sequence[float]]) -> list[float]:
    """Point-wise mean of several benchmarks' curves over the K they all reach."""
    length = min(len(c) for c in curves)
    return [float(np.mean([c[k] for c in curves])) for k in range(length)]


__all__ = ["best_of_k", "best_of_k_curve", "correctness_pairwise", "mean_curve", "prompt_curve"]
