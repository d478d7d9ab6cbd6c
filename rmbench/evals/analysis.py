"""Beyond accuracy: length bias, calibration and judge order consistency, from scores.jsonl.

Accuracy alone misleads: "pick the longer answer" scores 100% on some preference subsets,
and a reward model can rank well yet be wildly over-confident. Everything here is a pure
function of the per-example rows an evaluation already writes (no model, no data reload),
so a record can be analysed long after it was made, and `rmbench report` and
`rmbench leaderboard --detail` read the same figures that `rmbench eval` stored under
results.json's "analysis" key.

The unit is one comparison: a chosen completion against a rejected one (an RM-Bench example
has 9, a best-of-4 example 3, a plain pair 1). A comparison is won when the chosen reward is
strictly higher (exact ties lose, as in the harness); a pairwise judge's comparison scores its
recorded outcome (1, 0.5 or 0).

Lengths come from `chosen_chars`/`rejected_chars` (and `chosen_tokens`/`rejected_tokens` when
the scorer had a tokenizer) in each row; records written before those fields existed say
"lengths unavailable" rather than guess.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

ECE_BINS = 10
WORST = 10
UNITS = ("tokens", "characters")


@dataclass(frozen=True)
class Comparison:
    subset: str
    id: str
    pair: tuple[int, int]  # (chosen index, rejected index)
    outcome: float  # 1 won, 0 lost, 0.5 judge tie / disagreement
    margin: float | None  # reward(chosen) - reward(rejected); None for pairwise judges
    lengths: dict[str, tuple[int, int]]  # unit -> (chosen length, rejected length)


def comparisons(rows: list[dict]) -> list[Comparison]:
    """Every chosen-vs-rejected comparison in the rows, in order."""
    out = []
    for row in rows:
        judged = "outcomes" in row
        n_chosen = len(row["outcomes"]) if judged else len(row["chosen_scores"])
        n_rejected = len(row["outcomes"][0]) if judged and row["outcomes"] else len(row.get("rejected_scores", []))
        lengths = {unit: (row.get(f"chosen_{_field(unit)}"), row.get(f"rejected_{_field(unit)}")) for unit in UNITS}
        for i in range(n_chosen):
            for j in range(n_rejected):
                if judged:
                    outcome, margin = float(row["outcomes"][i][j]), None
                else:
                    c, r = row["chosen_scores"][i], row["rejected_scores"][j]
                    if c is None or r is None:
                        continue
                    margin = float(c) - float(r)
                    outcome = 1.0 if margin > 0 else 0.0
                have = {unit: (int(c_len[i]), int(r_len[j])) for unit, (c_len, r_len) in lengths.items()
                        if c_len is not None and r_len is not None}
                out.append(Comparison(row["subset"], str(row["id"]), (i, j), outcome, margin, have))
    return out


def _field(unit: str) -> str:
    return "chars" if unit == "characters" else "tokens"


# --------------------------------------------------------------------------------------
# Length bias
# --------------------------------------------------------------------------------------


def length_bias(comps: list[Comparison], unit: str = "characters", rows: list[dict] | None = None) -> dict | None:
    """Accuracy when the chosen answer is longer vs shorter, per subset and overall.

    `bias` = accuracy(chosen longer) - accuracy(chosen shorter): +1 for "prefer the longer
    answer", 0 for a scorer that ignores length, -1 for "prefer the shorter". The
    length-controlled accuracy weighs the two kinds equally within each subset (equal-length
    comparisons are left out of it), so a subset where 90% of chosen answers are longer cannot
    reward a length-loving scorer; overall, subsets count by their comparisons. Spearman
    correlates every completion's reward with its length (real-valued rewards only).
    """
    usable = [c for c in comps if unit in c.lengths]
    if not usable or len(usable) < len(comps):
        return None
    by_subset: dict[str, list[Comparison]] = defaultdict(list)
    for c in usable:
        by_subset[c.subset].append(c)
    subsets = {name: _bias_block(items, unit) for name, items in sorted(by_subset.items())}
    overall = _bias_block(usable, unit)
    weighted = [(s["comparisons"], s["controlled_accuracy"]) for s in subsets.values()
                if s["controlled_accuracy"] is not None]
    overall["controlled_accuracy"] = (_r(sum(n * a for n, a in weighted) / sum(n for n, _ in weighted))
                                      if weighted else None)
    if rows is not None:
        overall["spearman"] = _spearman(rows, unit)
        for name in subsets:
            subsets[name]["spearman"] = _spearman([r for r in rows if r["subset"] == name], unit)
    return {"unit": unit, "overall": overall, "subsets": subsets}


def _bias_block(items: list[Comparison], unit: str) -> dict:
    kinds: dict[str, list[float]] = {"longer": [], "shorter": [], "equal": []}
    for c in items:
        chosen, rejected = c.lengths[unit]
        kind = "longer" if chosen > rejected else "shorter" if chosen < rejected else "equal"
        kinds[kind].append(c.outcome)
    n = len(items)
    block = {"comparisons": n}
    for kind, outcomes in kinds.items():
        block[kind] = {"n": len(outcomes), "share": _r(len(outcomes) / n) if n else None,
                       "accuracy": _r(float(np.mean(outcomes))) if outcomes else None}
    longer, shorter = block["longer"]["accuracy"], block["shorter"]["accuracy"]
    both = longer is not None and shorter is not None
    block["bias"] = _r(longer - shorter) if both else None
    block["controlled_accuracy"] = _r((longer + shorter) / 2) if both else None
    return block


def _spearman(rows: list[dict], unit: str) -> float | None:
    rewards, lengths = [], []
    for row in rows:
        if "chosen_scores" not in row:
            return None
        for side in ("chosen", "rejected"):
            for score, length in zip(row[f"{side}_scores"], row.get(f"{side}_{_field(unit)}") or []):
                if score is not None:
                    rewards.append(float(score))
                    lengths.append(length)
    if len(rewards) < 3 or len(set(rewards)) < 2 or len(set(lengths)) < 2:
        return None
    return _r(float(stats.spearmanr(rewards, lengths).statistic))


# --------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------


def calibration(margins, bins: int = ECE_BINS) -> dict | None:
    """How far P(chosen preferred) = sigmoid(r_chosen - r_rejected) can be trusted.

    ECE uses top-label confidence max(p, 1 - p) against being right (margin > 0; an exact
    tie is p = 0.5 and half right), in equal-mass bins (sorted by confidence, split into
    `bins` groups as equal as possible), so a few extreme margins cannot leave bins empty.
    Brier and log-loss score p against the human label (chosen = 1). The temperature T
    minimising the log-loss of sigmoid(margin / T) is fitted on these same comparisons and
    only reported: it says how far the reward scale is from probabilities, never changes
    accuracy. T is None when no finite temperature helps (the margins carry no signal, or
    every comparison is won and log-loss falls towards 0 as T -> 0: `separable`).
    """
    d = np.asarray([m for m in margins if m is not None], dtype=float)
    if d.size == 0:
        return None
    p = _sigmoid(d)
    confidence = np.maximum(p, 1 - p)
    right = np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))
    order = np.argsort(confidence, kind="stable")
    reliability, ece = [], 0.0
    for idx in np.array_split(order, min(bins, d.size)):
        conf, acc = float(confidence[idx].mean()), float(right[idx].mean())
        ece += idx.size / d.size * abs(acc - conf)
        reliability.append({"n": int(idx.size), "confidence": _r(conf), "accuracy": _r(acc)})
    fit = fit_temperature(d)
    return {"comparisons": int(d.size), "ece": _r(ece), "brier": _r(float(np.mean((1 - p) ** 2))),
            "log_loss": _r(float(np.mean(np.logaddexp(0.0, -d)))), "bins": len(reliability),
            "reliability": reliability, **fit}


def fit_temperature(margins) -> dict:
    """Log-loss of sigmoid(beta * d) is convex in beta = 1/T, so a bounded 1-D search on the
    margins scaled by their median magnitude finds the minimum on any reward scale."""
    d = np.asarray(margins, dtype=float)
    scale = float(np.median(np.abs(d[d != 0]))) if np.any(d != 0) else 0.0
    if scale == 0.0:
        return {"temperature": None, "log_loss_at_temperature": _r(math.log(2)), "separable": False}
    if np.all(d >= 0):
        return {"temperature": None, "log_loss_at_temperature": 0.0, "separable": True}
    x = d / scale
    upper = 1e3

    def loss(beta: float) -> float:
        return float(np.mean(np.logaddexp(0.0, -beta * x)))

    best = optimize.minimize_scalar(loss, bounds=(0.0, upper), method="bounded", options={"xatol": 1e-7})
    beta = float(best.x)
    if beta <= 1e-6:
        return {"temperature": None, "log_loss_at_temperature": _r(math.log(2)), "separable": False}
    return {"temperature": _r(scale / beta), "log_loss_at_temperature": _r(loss(beta)), "separable": False}


def _sigmoid(d: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -d))


# --------------------------------------------------------------------------------------
# Pairwise judges: do both answer orders agree?
# --------------------------------------------------------------------------------------


def order_consistency(rows: list[dict]) -> dict | None:
    """Share of decided comparisons (both orders gave A or B) where the judge picked the same
    answer both times (A then B), per subset and overall, as scoring/judging.py counts it."""
    judged = [r for r in rows if "verdicts" in r]
    if not judged:
        return None
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # consistent, decided, unparsed, comparisons
    for row in judged:
        for grid_row in row["verdicts"]:
            for forward, reverse in grid_row:
                for key in (row["subset"], None):
                    c = counts[key]
                    c[3] += 1
                    c[2] += (forward is None) + (reverse is None)
                    if forward in ("A", "B") and reverse in ("A", "B"):
                        c[1] += 1
                        c[0] += forward != reverse

    def block(c):
        return {"comparisons": c[3], "decided": c[1], "consistent": c[0], "unparsed": c[2],
                "consistency": _r(c[0] / c[1]) if c[1] else None}

    return {"overall": block(counts[None]),
            "subsets": {name: block(c) for name, c in sorted(counts.items(), key=lambda kv: str(kv[0]))
                        if name is not None}}


# --------------------------------------------------------------------------------------
# Worst mistakes and the whole analysis
# --------------------------------------------------------------------------------------


def worst_mistakes(comps: list[Comparison], k: int = WORST) -> list[dict]:
    """The most confident wrong comparisons (largest rejected-over-chosen margin); for judges,
    comparisons both orders lost, in record order."""
    wrong = [c for c in comps if c.outcome == 0.0]
    wrong.sort(key=lambda c: c.margin if c.margin is not None else 0.0)
    out = []
    for c in wrong[:k]:
        item = {"id": c.id, "subset": c.subset, "chosen": c.pair[0], "rejected": c.pair[1]}
        if c.margin is not None:
            item |= {"margin": _r(c.margin), "p_chosen": _r(float(_sigmoid(np.array([c.margin]))[0]))}
        out.append(item)
    return out


def attach_lengths(rows: list[dict], examples, tokenizer=None) -> None:
    """Write each completion's length into its row (examples in the rows' order): characters
    always, tokens too when a tokenizer is at hand (the scorer's own, so tokens mean what the
    model saw, without the chat template around them)."""
    examples = list(examples)
    aligned = len(examples) == len(rows) and all(
        (e.subset, str(e.id)) == (r["subset"], str(r["id"])) for e, r in zip(examples, rows))
    by_key = {(e.subset, str(e.id)): e for e in examples}
    for n, row in enumerate(rows):
        ex = examples[n] if aligned else by_key.get((row["subset"], str(row["id"])))
        if ex is None:
            continue
        for side in ("chosen", "rejected"):
            texts = getattr(ex, side)
            row[f"{side}_chars"] = [len(t) for t in texts]
            if tokenizer is not None:
                row[f"{side}_tokens"] = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def analyze(rows: list[dict], bins: int = ECE_BINS) -> dict:
    """The record's "analysis" block: every section present, null where it does not apply."""
    comps = comparisons(rows)
    length = {unit: length_bias(comps, unit, rows) for unit in UNITS}
    scored = [c for c in comps if c.margin is not None]
    by_subset: dict[str, list[float]] = defaultdict(list)
    for c in scored:
        by_subset[c.subset].append(c.margin)
    calib = None
    if scored:
        calib = {"overall": calibration([c.margin for c in scored], bins),
                 "subsets": {name: calibration(m, bins) for name, m in sorted(by_subset.items())}}
    return {"comparisons": len(comps),
            "length": {unit: block for unit, block in length.items() if block is not None} or None,
            "length_note": None if length["characters"] else "lengths unavailable: the record predates "
                           "chosen_chars/rejected_chars (rerun the eval, or `rmbench report --texts` to reload)",
            "calibration": calib,
            "judge_order": order_consistency(rows),
            "worst": worst_mistakes(comps)}


def _r(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 6)
