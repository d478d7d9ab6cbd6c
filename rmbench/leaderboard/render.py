"""Ranked boards as a terminal table, Markdown, CSV and JSON.

People read percentages with one decimal and an interval beside them; programs read
fractions with the interval in separate fields. Every format carries the footer that says
how ranks were decided, because a shared rank is meaningless without its rule.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table

from rmbench import __version__
from rmbench.leaderboard import compare
from rmbench.leaderboard.stats import CONFIDENCE, Board, Estimate, Ranked

MISSING = Estimate(math.nan, math.nan, math.nan)
FORMATS = ("rich", "md", "csv", "json", "html")


def figure_columns(board: Board, detail: bool) -> list[tuple[str, str, Callable[[Ranked], Estimate]]]:
    """(key, heading, getter) for every figure column: the score, each section, RM-Bench's
    styles, and with `detail` each subset. Shared by every renderer so they never disagree."""
    columns: list[tuple[str, str, Callable[[Ranked], Estimate]]] = [("score", "Score", lambda r: r.score)]
    columns += [(f"section:{s}", s, lambda r, s=s: r.sections.get(s, MISSING)) for s in board.sections]
    columns += [(f"style:{s}", s, lambda r, s=s: r.extras.get(s, MISSING)) for s in board.extras]
    if detail:
        columns += [(f"subset:{s}", s, lambda r, s=s: r.subsets.get(s, MISSING)) for s in board.subsets]
    return columns


def percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def with_interval(estimate: Estimate) -> str:
    if math.isnan(estimate.value):
        return "-"
    if math.isnan(estimate.low):
        return percent(estimate.value)
    return f"{percent(estimate.value)} [{percent(estimate.low)}, {percent(estimate.high)}]"


def rank_text(ranked: Ranked, board: Board) -> str:
    if ranked.rank is None:
        return "-"
    shared = sum(1 for r in board.ranked if r.rank == ranked.rank) > 1
    return f"{ranked.rank}=" if shared else str(ranked.rank)


def footer(board: Board) -> str:
    return f"{board.rule} '=' marks a shared rank. Figures are percentages [95% interval]."


# --------------------------------------------------------------------------------------
# JSON: the full picture, also embedded in the HTML page
# --------------------------------------------------------------------------------------


def board_dict(board: Board) -> dict:
    group = board.group
    entries = []
    for r in board.ranked:
        e = r.entry
        item = {"rank": r.rank, "label": e.label, "type": e.kind, "baseline": e.is_baseline, "run": e.run,
                "step": e.step, "method": e.method, "model": str(e.record["model"]["name"]),
                "model_kind": e.record["model"].get("kind"), "path": str(e.path),
                "score": r.score.as_dict(),
                "sections": {k: v.as_dict() for k, v in r.sections.items()},
                "styles": {k: v.as_dict() for k, v in r.extras.items()},
                "subsets": {k: v.as_dict() for k, v in r.subsets.items()}}
        if r.gap_below is not None:
            item["difference_to_next"] = r.gap_below.as_dict() | {"significant": r.significant_below}
        entries.append(item)
    return {"title": group.title, "suite": group.suite, "partial": group.partial_label is not None,
            "label": group.name, "version": group.version, "score_rule": group.score_rule,
            "data": list(group.data), "sources": list(group.sources), "rule": board.rule,
            "sections": board.sections, "styles": board.extras, "subsets": board.subsets, "entries": entries}


def to_dict(boards: list[Board]) -> dict:
    first = boards[0] if boards else None
    return {"rmbench_version": __version__,
            "bootstrap": {"resamples": first.resamples if first else None, "seed": first.seed if first else None,
                          "confidence": CONFIDENCE, "unit": "prompt"},
            "boards": [board_dict(b) for b in boards]}


def to_json(boards: list[Board], detail: bool = False) -> str:
    data = to_dict(boards)
    if detail:  # paired tests with Holm, kappa, all-wrong ids, length bias and calibration
        for board, item in zip(boards, data["boards"]):
            item["comparisons"] = compare.compare_board(board)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md_escape(text: str) -> str:
    """Names are data, not markup: a `|` would split a cell, a `<` open a tag."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def to_markdown(boards: list[Board], detail: bool = False) -> str:
    parts = []
    for board in boards:
        columns = figure_columns(board, detail)
        header = ["Rank", "Entry", "Type", *(md_escape(h) for _, h, _ in columns)]
        lines = [f"## {md_escape(board.group.title)}", "",
                 "| " + " | ".join(header) + " |",
                 "|" + "|".join(["---:", ":---", ":---"] + ["---:"] * len(columns)) + "|"]
        for r in board.ranked:
            label = md_escape(r.entry.label)
            cells = [rank_text(r, board), f"*{label}*" if r.entry.is_baseline else label, r.entry.kind]
            cells += [with_interval(get(r)) for _, _, get in columns]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", md_escape(footer(board)) + " Baselines in italics.", ""]
        if detail:
            lines.append(compare.to_markdown(compare.compare_board(board), md_escape))
        parts.append("\n".join(lines))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------
# CSV: one row per entry and board, fractions, interval bounds in their own columns
# --------------------------------------------------------------------------------------


def to_csv(boards: list[Board], detail: bool = False) -> str:
    keys: list[str] = []
    for board in boards:
        keys += [k for k, _, _ in figure_columns(board, detail) if k not in keys]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    fixed = ["suite", "version", "data", "rank", "entry", "type", "run", "step", "path"]
    writer.writerow(_cells(fixed + [f"{k}{suffix}" for k in keys for suffix in ("", " low", " high")]))
    for board in boards:
        getters = {k: get for k, _, get in figure_columns(board, detail)}
        for r in board.ranked:
            e = r.entry
            row = [board.group.name, board.group.version, "+".join(board.group.data), r.rank, e.label,
                   e.kind, e.run, e.step, str(e.path)]
            for key in keys:
                est = getters[key](r) if key in getters else MISSING
                row += [_fraction(est.value), _fraction(est.low), _fraction(est.high)]
            writer.writerow(_cells(row))
    return buffer.getvalue()


def _cells(row: list) -> list:
    """Every cell of a row as a spreadsheet will read it: no formulas, whichever column."""
    return ["" if value is None else _cell(value) if isinstance(value, str) else value for value in row]


def _cell(text: str) -> str:
    """Spreadsheets run a cell that starts with = + - @ (or a tab or CR before one) as a
    formula; a model named `=HYPERLINK(...)`, or a data hash or suite name edited into one,
    must stay text. Plain numbers ("-0.5") are left as numbers."""
    if not text or text[0] not in "=+-@\t\r":
        return text
    try:
        float(text)
        return text
    except ValueError:
        return "'" + text


def _fraction(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.6f}"


# --------------------------------------------------------------------------------------
# Terminal
# --------------------------------------------------------------------------------------


def to_rich(boards: list[Board], console: Console, detail: bool = False) -> None:
    for board in boards:
        columns = figure_columns(board, detail)
        table = Table(title=rich_escape(board.group.title), title_justify="left")
        table.add_column("rank", justify="right")
        table.add_column("entry")
        table.add_column("type")
        for _, heading, _ in columns:
            table.add_column(rich_escape(heading), justify="right")
        for r in board.ranked:
            cells = [rank_text(r, board), rich_escape(r.entry.label), r.entry.kind]
            cells += [with_interval(get(r)) for _, _, get in columns]
            table.add_row(*cells, style="dim" if r.entry.is_baseline else None)
        console.print(table)
        console.print(rich_escape(footer(board)) + " Baselines dimmed.", style="dim", highlight=False)
        if detail:
            compare.to_rich(compare.compare_board(board), console)
        console.print()
