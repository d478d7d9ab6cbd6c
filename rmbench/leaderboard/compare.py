"""Honest comparisons between the entries of a board: which per-subset wins survive correction.

A board with six entries and five subsets invites 75 "A beats B on subset S" claims; at a
5% level, about four of them would look significant by chance alone. So every pair of
entries is compared on every subset with an exact paired test on the per-example outcomes,
and Holm's step-down correction runs over the whole family (all pairs x all subsets), which
holds under any dependence between the tests. Cohen's kappa says how often two entries agree
on each comparison beyond chance (two length-loving scorers "agree" a lot), and the examples
that every entry gets wrong are listed by id: they are where to look for label noise.

The test is the exact sign test on the per-example differences: for examples scored 0/1 it
is exactly McNemar's exact test (the discordant examples, binomial with p = 1/2); for
fractional outcomes (RM-Bench's nine comparisons, a judge's 0.5) an example counts for the
entry whose outcome is higher.
"""

from __future__ import annotations

import math
from itertools import combinations

from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table

from rmbench.evals.analysis import analyze
from rmbench.leaderboard.records import Entry
from rmbench.leaderboard.stats import Board

ALPHA = 0.05
LIST_WRONG = 50  # ids listed in text renderings; JSON lists them all


def exact_mcnemar(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (binomial, p = 1/2)."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(a_only, b_only) + 1)) / 2**n
    return min(1.0, 2 * tail)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1), in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def cohen_kappa(x: list, y: list) -> float | None:
    """Agreement beyond chance between two labelings; None when chance agreement is total
    (both constant and equal: nothing to agree about beyond chance)."""
    n = len(x)
    if n == 0 or n != len(y):
        return None
    labels = set(x) | set(y)
    observed = sum(a == b for a, b in zip(x, y)) / n
    expected = sum((x.count(k) / n) * (y.count(k) / n) for k in labels)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def _comparison_outcomes(row: dict) -> list[float]:
    """Per chosen-vs-rejected comparison: 1 chosen wins, 0 rejected wins, 0.5 neither."""
    if "outcomes" in row:
        return [float(o) for grid in row["outcomes"] for o in grid]
    out = []
    for c in row.get("chosen_scores") or []:
        for r in row.get("rejected_scores") or []:
            out.append(0.5 if c is None or r is None or c == r else float(c > r))
    return out or [float(row["correct"])]


def _by_key(entry: Entry) -> dict[tuple[str, str], dict]:
    return {(row["subset"], str(row["id"])): row for row in entry.rows}


def compare_board(board: Board, alpha: float = ALPHA) -> dict:
    entries = [r.entry for r in board.ranked]
    rows = [_by_key(e) for e in entries]
    keys = sorted(set.intersection(*(set(r) for r in rows))) if rows else []
    tests, pairs = [], []
    for (i, a), (j, b) in combinations(enumerate(entries), 2):
        pair = {"a": a.label, "b": b.label, "subsets": []}
        for subset in board.subsets:
            subset_keys = [k for k in keys if k[0] == subset]
            xa = [float(rows[i][k]["correct"]) for k in subset_keys]
            xb = [float(rows[j][k]["correct"]) for k in subset_keys]
            a_better = sum(p > q for p, q in zip(xa, xb))
            b_better = sum(q > p for p, q in zip(xa, xb))
            test = {"subset": subset, "n": len(subset_keys), "a_better": a_better, "b_better": b_better,
                    "p": exact_mcnemar(a_better, b_better)}
            pair["subsets"].append(test)
            tests.append(test)
        flat_a = [o for k in keys for o in _comparison_outcomes(rows[i][k])]
        flat_b = [o for k in keys for o in _comparison_outcomes(rows[j][k])]
        kappa = cohen_kappa(flat_a, flat_b)
        pair["kappa"] = None if kappa is None else round(kappa, 6)
        pairs.append(pair)
    for test, adjusted in zip(tests, holm([t["p"] for t in tests])):
        test["p_holm"] = adjusted
    surviving, nominal = [], 0
    for pair in pairs:
        for test in pair["subsets"]:
            if test["a_better"] == test["b_better"]:
                test["winner"] = None
                continue
            winner, loser = ((pair["a"], pair["b"]) if test["a_better"] > test["b_better"]
                             else (pair["b"], pair["a"]))
            nominal += test["p"] < alpha
            test["winner"] = winner if test["p_holm"] < alpha else None
            if test["winner"]:
                surviving.append({"subset": test["subset"], "winner": winner, "loser": loser,
                                  "p": test["p"], "p_holm": test["p_holm"]})
    all_wrong = [{"subset": s, "id": i} for s, i in keys if all(float(r[(s, i)]["correct"]) < 0.5 for r in rows)]
    return {"test": "exact McNemar (sign test on per-example outcomes), Holm-corrected over all pairs x subsets",
            "alpha": alpha, "family": len(tests), "nominal_wins": nominal, "surviving": surviving,
            "pairs": pairs, "all_wrong": all_wrong, "examples": len(keys),
            "analysis": {e.label: headline(e) for e in entries}}


def headline(entry: Entry) -> dict:
    """The entry's analysis figures that fit a table row (stored by `rmbench eval`, else computed
    from its rows: old records then have calibration but no lengths)."""
    full = entry.record.get("analysis") or analyze(entry.rows)
    length = (full.get("length") or {}).get("characters") or {}
    overall = length.get("overall") or {}
    calib = (full.get("calibration") or {}).get("overall") or {}
    order = (full.get("judge_order") or {}).get("overall") or {}
    return {"length_bias": overall.get("bias"), "length_controlled_accuracy": overall.get("controlled_accuracy"),
            "chosen_longer_share": (overall.get("longer") or {}).get("share"),
            "spearman_reward_length": overall.get("spearman"), "ece": calib.get("ece"),
            "brier": calib.get("brier"), "log_loss": calib.get("log_loss"), "temperature": calib.get("temperature"),
            "order_consistency": order.get("consistency")}


# --------------------------------------------------------------------------------------
# Text renderings (the JSON rendering is the dict itself)
# --------------------------------------------------------------------------------------

_ANALYSIS_COLUMNS = (("length_bias", "length bias"), ("length_controlled_accuracy", "length-controlled acc."),
                     ("ece", "ECE"), ("brier", "Brier"), ("log_loss", "log-loss"), ("temperature", "T"),
                     ("order_consistency", "order consistency"))


def _num(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(value: float) -> str:
    return f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"


def summary_lines(result: dict) -> list[str]:
    wins = result["surviving"]
    head = (f"{result['nominal_wins']} per-subset wins at p < {result['alpha']} before correction, "
            f"{len(wins)} after Holm over {result['family']} tests ({result['test']}).")
    return [head]


def to_markdown(result: dict, md_escape) -> str:
    lines = ["### Beyond accuracy", "", "| Entry | " + " | ".join(h for _, h in _ANALYSIS_COLUMNS) + " |",
             "|:---|" + "---:|" * len(_ANALYSIS_COLUMNS)]
    for label, figures in result["analysis"].items():
        lines.append(f"| {md_escape(label)} | " + " | ".join(_num(figures[k]) for k, _ in _ANALYSIS_COLUMNS) + " |")
    lines += ["", "Length bias = accuracy when the chosen answer is longer minus when it is shorter (characters); "
              "ECE over equal-mass bins of sigmoid(reward margin).", "", "### Paired comparisons", "",
              md_escape(summary_lines(result)[0]), ""]
    if result["surviving"]:
        lines += ["| Subset | Better | Worse | p | p (Holm) |", "|:---|:---|:---|---:|---:|"]
        lines += [f"| {md_escape(w['subset'])} | {md_escape(w['winner'])} | {md_escape(w['loser'])} | {_p(w['p'])} "
                  f"| {_p(w['p_holm'])} |" for w in result["surviving"]]
        lines.append("")
    lines += ["| Entry A | Entry B | Cohen's kappa |", "|:---|:---|---:|"]
    lines += [f"| {md_escape(p['a'])} | {md_escape(p['b'])} | {_num(p['kappa'])} |" for p in result["pairs"]]
    wrong = result["all_wrong"]
    shown = ", ".join(md_escape(f"{w['subset']}/{w['id']}") for w in wrong[:LIST_WRONG])
    more = f" (and {len(wrong) - LIST_WRONG} more)" if len(wrong) > LIST_WRONG else ""
    lines += ["", f"Examples every entry gets wrong: {len(wrong)} of {result['examples']}"
              + (f": {shown}{more}" if wrong else ""), ""]
    return "\n".join(lines)


def to_rich(result: dict, console: Console) -> None:
    table = Table("entry", *(h for _, h in _ANALYSIS_COLUMNS), title="beyond accuracy", title_justify="left")
    for label, figures in result["analysis"].items():
        table.add_row(rich_escape(label), *(_num(figures[k]) for k, _ in _ANALYSIS_COLUMNS))
    console.print(table)
    console.print(rich_escape(summary_lines(result)[0]), highlight=False)
    if result["surviving"]:
        wins = Table("subset", "better", "worse", "p", "p (Holm)", title="wins that survive correction",
                     title_justify="left")
        for w in result["surviving"]:
            wins.add_row(rich_escape(w["subset"]), rich_escape(w["winner"]), rich_escape(w["loser"]),
                         _p(w["p"]), _p(w["p_holm"]))
        console.print(wins)
    kappa = Table("entry A", "entry B", "kappa", title="agreement (Cohen's kappa, per comparison)",
                  title_justify="left")
    for p in result["pairs"]:
        kappa.add_row(rich_escape(p["a"]), rich_escape(p["b"]), _num(p["kappa"]))
    console.print(kappa)
    wrong = result["all_wrong"]
    shown = ", ".join(f"{w['subset']}/{w['id']}" for w in wrong[:LIST_WRONG])
    console.print(rich_escape(f"examples every entry gets wrong: {len(wrong)} of {result['examples']}"
                              + (f": {shown}" if wrong else "")), highlight=False)


def to_html(result: dict, esc) -> str:
    """Tables for the leaderboard page (`--detail`); every name through `esc`."""
    head = "".join(f"<th>{esc(h)}</th>" for _, h in _ANALYSIS_COLUMNS)
    rows = "".join(f"<tr><td>{esc(label)}</td>" + "".join(f"<td>{_num(f[k])}</td>" for k, _ in _ANALYSIS_COLUMNS)
                   + "</tr>" for label, f in result["analysis"].items())
    parts = ['<h3>Beyond accuracy</h3>', f'<div class="scroll"><table class="comparisons"><thead><tr><th>Entry</th>'
             f"{head}</tr></thead><tbody>{rows}</tbody></table></div>",
             "<h3>Paired comparisons</h3>", f'<p class="rule">{esc(summary_lines(result)[0])}</p>']
    if result["surviving"]:
        wins = "".join(f"<tr><td>{esc(w['subset'])}</td><td>{esc(w['winner'])}</td><td>{esc(w['loser'])}</td>"
                       f"<td>{_p(w['p'])}</td><td>{_p(w['p_holm'])}</td></tr>" for w in result["surviving"])
        parts.append('<div class="scroll"><table class="comparisons"><thead><tr><th>Subset</th><th>Better</th>'
                     f"<th>Worse</th><th>p</th><th>p (Holm)</th></tr></thead><tbody>{wins}</tbody></table></div>")
    kappas = "".join(f"<tr><td>{esc(p['a'])}</td><td>{esc(p['b'])}</td><td>{_num(p['kappa'])}</td></tr>"
                     for p in result["pairs"])
    parts.append('<div class="scroll"><table class="comparisons"><thead><tr><th>Entry A</th><th>Entry B</th>'
                 f"<th>Cohen's kappa</th></tr></thead><tbody>{kappas}</tbody></table></div>")
    wrong = result["all_wrong"]
    shown = ", ".join(esc(f"{w['subset']}/{w['id']}") for w in wrong[:LIST_WRONG])
    parts.append(f'<p class="rule">Examples every entry gets wrong: {len(wrong)} of {result["examples"]}'
                 + (f": {shown}" if wrong else "") + "</p>")
    return "\n".join(parts)
