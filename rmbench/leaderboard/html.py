"""The leaderboard as one self-contained HTML page.

One file that opens anywhere, offline, years later: CSS, script and charts are inline
(SVG drawn here, no chart library, no CDN). Model names and paths come from users and from
files anyone can write, so every such string is escaped where it enters the page, and the
data embedded for scripts is JSON with `<`, `>` and `&` written as unicode escapes, so no
name can close the script element or open a tag.
"""

from __future__ import annotations

import html
import json
import math

from rmbench import __version__
from rmbench.leaderboard import compare
from rmbench.leaderboard.render import figure_columns, footer, percent, rank_text, to_dict, with_interval
from rmbench.leaderboard.stats import Board, Estimate, Ranked

PALETTE = ("#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f")
BASELINE_COLOR = "#9ca3af"
LABEL_CHARS = 28


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def embed_json(data) -> str:
    """JSON that is also inert inside <script>: `</script>`, `<!--` and entities cannot form."""
    text = json.dumps(data, ensure_ascii=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                       ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def to_html(boards: list[Board], detail: bool = False) -> str:
    suites = ", ".join(dict.fromkeys(b.group.name for b in boards))
    first = boards[0]
    sections = "\n".join(_board(n, board, detail) for n, board in enumerate(boards))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rmbench leaderboard: {esc(suites)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>rmbench leaderboard</h1>
<p class="meta">{len(boards)} board{"s" if len(boards) != 1 else ""} &middot; 95% bootstrap intervals from
{first.resamples} resamples of prompts (seed {first.seed}) &middot; rmbench {esc(__version__)} &middot;
click a column heading to sort</p>
</header>
<main>
{sections}
</main>
<script type="application/json" id="leaderboard-data">{embed_json(to_dict(boards))}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def _board(n: int, board: Board, detail: bool) -> str:
    group = board.group
    sources = ", ".join(esc(s) for s in group.sources)
    parts = [f'<section class="board" id="board-{n}">', f"<h2>{esc(group.title)}</h2>",
             f'<p class="meta">score rule {esc(group.score_rule)} &middot; data {sources}</p>',
             _table(n, board, detail), f'<p class="rule">{esc(footer(board))} Baselines are grey and marked.</p>']
    heading = "Scores by section" if board.sections else "Scores"
    parts += [f"<h3>{heading}</h3>", '<div class="charts">', *_bar_charts(board), "</div>"]
    curves = _step_charts(board)
    if curves:
        parts += ['<h3>Score versus training step</h3>', '<div class="charts">', *curves, "</div>"]
    if detail:  # which per-subset wins survive Holm, kappa, all-wrong ids, length bias, calibration
        parts.append(compare.to_html(compare.compare_board(board), esc))
    parts.append("</section>")
    return "\n".join(parts)


def _table(n: int, board: Board, detail: bool) -> str:
    columns = figure_columns(board, detail)
    head = ['<th data-type="num" aria-sort="ascending"><button type="button">Rank</button></th>',
            '<th data-type="text"><button type="button">Entry</button></th>',
            '<th data-type="text"><button type="button">Type</button></th>']
    for key, heading, _ in columns:
        kind = "subset" if key.startswith("subset:") else "figure"
        head.append(f'<th data-type="num" data-first="descending" class="{kind}" title="{esc(key)}">'
                    f'<button type="button">{esc(heading)}</button></th>')
    rows = []
    for order, r in enumerate(board.ranked):
        entry = r.entry
        badge = ' <span class="badge">baseline</span>' if entry.is_baseline else ""
        cells = [f'<td data-value="{"" if r.rank is None else r.rank}">{esc(rank_text(r, board))}</td>',
                 f'<td class="entry" data-value="{esc(entry.label)}" title="{esc(entry.path)}">'
                 f"{esc(entry.label)}{badge}</td>",
                 f'<td data-value="{esc(entry.kind)}">{esc(entry.kind)}</td>']
        for _, _, get in columns:
            cells.append(_figure_cell(get(r)))
        css = ' class="baseline"' if entry.is_baseline else ""
        rows.append(f'<tr{css} data-order="{order}">' + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table class="ranking" id="table-{n}">\n<thead><tr>{"".join(head)}</tr></thead>\n'
            f"<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>")


def _figure_cell(est: Estimate) -> str:
    if math.isnan(est.value):
        return '<td data-value="">-</td>'
    interval = "" if math.isnan(est.low) else f'<span class="ci">{percent(est.low)}&ndash;{percent(est.high)}</span>'
    return f'<td data-value="{est.value:.6f}" title="{esc(with_interval(est))}">{percent(est.value)}{interval}</td>'


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "\u2026"


# --------------------------------------------------------------------------------------
# Bars: one small chart per figure (score, each section, RM-Bench styles), CI whiskers
# --------------------------------------------------------------------------------------


def _bar_charts(board: Board) -> list[str]:
    figures = [("Score", lambda r: r.score)]
    figures += [(s, lambda r, s=s: r.sections.get(s)) for s in board.sections]
    figures += [(s, lambda r, s=s: r.extras.get(s)) for s in board.extras]
    return [_bar_chart(title, [(r, get(r)) for r in board.ranked]) for title, get in figures]


def _bar_chart(title: str, items: list[tuple[Ranked, Estimate | None]]) -> str:
    label_w, bar_w, value_w, row_h, top = 190, 200, 44, 20, 28
    width, height = label_w + bar_w + value_w, top + row_h * len(items) + 22
    out = [f'<svg class="bars" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f"<title>{esc(title)}</title>", f'<text x="0" y="16" class="chart-title">{esc(title)}</text>']
    for tick in (0, 0.5, 1):
        x = label_w + tick * bar_w
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 18}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{height - 4}" class="tick" text-anchor="middle">{int(tick * 100)}</text>')
    for i, (r, est) in enumerate(items):
        y = top + i * row_h
        color = BASELINE_COLOR if r.entry.is_baseline else PALETTE[0]
        out.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" class="label">'
                   f"<title>{esc(r.entry.label)}</title>{esc(_short(r.entry.label))}</text>")
        if est is None or math.isnan(est.value):
            out.append(f'<text x="{label_w + 4}" y="{y + 13}" class="tick">not evaluated</text>')
            continue
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{_clip(est.value) * bar_w:.1f}" height="{row_h - 6}" '
                   f'fill="{color}"><title>{esc(r.entry.label)}: {esc(with_interval(est))}</title></rect>')
        if not math.isnan(est.low):
            x1, x2, mid = label_w + _clip(est.low) * bar_w, label_w + _clip(est.high) * bar_w, y + row_h / 2
            out.append(f'<path d="M{x1:.1f} {mid:.1f}H{x2:.1f}M{x1:.1f} {mid - 4:.1f}V{mid + 4:.1f}'
                       f'M{x2:.1f} {mid - 4:.1f}V{mid + 4:.1f}" class="whisker"/>')
        out.append(f'<text x="{label_w + bar_w + 6}" y="{y + 13}" class="value">{percent(est.value)}</text>')
    out.append("</svg>")
    return "".join(out)


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


# --------------------------------------------------------------------------------------
# Curves: score versus step for each training run, the run's baselines as dashed lines
# --------------------------------------------------------------------------------------


def _step_charts(board: Board) -> list[str]:
    runs: dict[str, list[Ranked]] = {}
    for r in board.ranked:
        if r.entry.run is not None:
            runs.setdefault(r.entry.run, []).append(r)
    charts = []
    for n, (run, members) in enumerate(sorted(runs.items())):
        points = sorted((r for r in members if r.entry.step is not None and not math.isnan(r.score.value)),
                        key=lambda r: (r.entry.step, r.entry.label))
        if points:
            lines = [r for r in members if r.entry.step is None and r.entry.is_baseline
                     and not math.isnan(r.score.value)]
            charts.append(_step_chart(run, points, lines, PALETTE[n % len(PALETTE)]))
    return charts


def _step_chart(run: str, points: list[Ranked], lines: list[Ranked], color: str) -> str:
    left, right, top, bottom, plot_w, plot_h = 48, 150, 28, 34, 360, 200
    width, height = left + plot_w + right, top + plot_h + bottom
    values = [v for r in points + lines for v in (r.score.value, r.score.low, r.score.high) if not math.isnan(v)]
    low, high = math.floor(min(values) * 20) / 20, math.ceil(max(values) * 20) / 20  # round to 5 points
    if high - low < 0.1:
        low, high = max(0.0, low - 0.05), min(1.0, high + 0.05)
    every = 0.05 if high - low <= 0.3 else 0.1
    max_step = max(r.entry.step for r in points) or 1

    def x(step: float) -> float:
        return left + plot_w * step / max_step

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    method = f" ({points[0].entry.method})" if points[0].entry.method else ""
    out = [f'<svg class="curve" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f"<title>{esc(run)}: score versus step</title>",
           f'<text x="0" y="16" class="chart-title">{esc(run)}{esc(method)}</text>',
           f'<text x="{left + plot_w}" y="16" text-anchor="end" class="tick">band: 95% interval; hollow: final; '
           'dashed: baselines</text>',
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="plot"/>']
    for k in range(round((high - low) / every) + 1):
        value = low + k * every
        if value > high + 1e-9:
            break
        at = y(value)
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{at:.1f}" y2="{at:.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{at + 4:.1f}" text-anchor="end" class="tick">{percent(value)}</text>')
    for step in sorted({0, max_step // 2, max_step}):
        out.append(f'<text x="{x(step):.1f}" y="{top + plot_h + 16}" text-anchor="middle" class="tick">{step}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 2}" text-anchor="middle" class="tick">step</text>')
    curve = _one_per_step(points)
    band = [r for r in curve if not math.isnan(r.score.low)]
    if len(band) > 1:
        upper = " ".join(f"{x(r.entry.step):.1f},{y(r.score.high):.1f}" for r in band)
        lower = " ".join(f"{x(r.entry.step):.1f},{y(r.score.low):.1f}" for r in reversed(band))
        out.append(f'<polygon points="{upper} {lower}" fill="{color}" class="band"/>')
    if len(curve) > 1:
        path = " ".join(f"{x(r.entry.step):.1f},{y(r.score.value):.1f}" for r in curve)
        out.append(f'<polyline points="{path}" stroke="{color}" class="line"/>')
    for r in points:
        hollow = not any(r is c for c in curve)
        out.append(f'<circle cx="{x(r.entry.step):.1f}" cy="{y(r.score.value):.1f}" r="{5 if hollow else 3.5}" '
                   f'fill="{"white" if hollow else color}" stroke="{color}" class="point">'
                   f"<title>{esc(r.entry.label)} (step {r.entry.step}): {esc(with_interval(r.score))}</title>"
                   "</circle>")
    label_y = -math.inf
    for r in sorted(lines, key=lambda r: -r.score.value):
        ly = y(r.score.value)
        label_y = max(ly + 4, label_y + 12)  # baselines with equal scores: labels stacked, not overprinted
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{ly:.1f}" y2="{ly:.1f}" class="baseline-line">'
                   f"<title>{esc(r.entry.label)}: {esc(with_interval(r.score))}</title></line>"
                   f'<text x="{left + plot_w + 6}" y="{label_y:.1f}" class="tick">'
                   f"{esc(_short(r.entry.record['model']['name']))}</text>")
    out.append("</svg>")
    return "".join(out)


def _one_per_step(points: list[Ranked]) -> list[Ranked]:
    """The line goes through one point per step: a checkpoint folder over `final`, which is
    usually the same weights saved again at the last step (it is still drawn, hollow)."""
    chosen: dict[int, Ranked] = {}
    for r in points:
        step = r.entry.step
        if step not in chosen or chosen[step].entry.label.endswith("/final"):
            chosen[step] = r
    return [chosen[s] for s in sorted(chosen)]


_CSS = """
:root { color-scheme: light; --ink: #111827; --muted: #6b7280; --line: #e5e7eb; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 24px; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 2px; }
h3 { font-size: 15px; margin: 20px 0 6px; } .meta, .rule { color: var(--muted); margin: 2px 0 10px; }
.rule { font-size: 12.5px; max-width: 900px; }
.scroll { overflow-x: auto; }
table.ranking { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.ranking th, table.ranking td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right;
       vertical-align: top; white-space: nowrap; }
table.ranking th:nth-child(2), table.ranking td:nth-child(2),
table.ranking th:nth-child(3), table.ranking td:nth-child(3) { text-align: left; }
table.ranking thead th { position: sticky; top: 0; background: #f9fafb; border-bottom: 2px solid #d1d5db; }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; color: inherit; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; font-size: 10px; }
th[aria-sort="descending"] button::after { content: " \\25BC"; font-size: 10px; }
th.subset { font-weight: 400; color: var(--muted); }
td .ci { display: block; font-size: 11px; color: var(--muted); }
td.entry { max-width: 420px; overflow: hidden; text-overflow: ellipsis; }
tr.baseline td { color: #4b5563; font-style: italic; background: #f9fafb; }
.badge { font-style: normal; font-size: 10.5px; border: 1px solid #d1d5db; border-radius: 8px; padding: 0 6px;
       margin-left: 6px; color: var(--muted); background: white; }
.charts { display: flex; flex-wrap: wrap; gap: 18px 28px; }
svg text { font: 11.5px system-ui, sans-serif; fill: var(--ink); } svg .tick { fill: var(--muted); font-size: 10.5px; }
svg .chart-title { font-weight: 600; font-size: 12.5px; } svg .grid { stroke: var(--line); }
svg .whisker { stroke: var(--ink); stroke-width: 1.2; fill: none; } svg .plot { fill: none; stroke: #d1d5db; }
svg .band { opacity: 0.15; } svg .line { fill: none; stroke-width: 2; }
svg .baseline-line { stroke: #6b7280; stroke-dasharray: 5 4; }
"""

_SCRIPT = """
(function () {
  "use strict";
  function key(cell, numeric) {
    var raw = cell.getAttribute("data-value");
    if (!numeric) { return raw === null ? cell.textContent : raw; }
    return raw === null || raw === "" ? NaN : parseFloat(raw);
  }
  function sortBy(table, column, direction) {
    var heads = table.tHead.rows[0].cells;
    var numeric = heads[column].getAttribute("data-type") === "num";
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    heads[column].setAttribute("aria-sort", direction);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = direction === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var x = key(a.cells[column], numeric), y = key(b.cells[column], numeric), c;
      if (numeric) {
        if (isNaN(x) || isNaN(y)) { c = isNaN(x) === isNaN(y) ? 0 : (isNaN(x) ? 1 : -1); }
        else { c = sign * (x - y); }
      } else { c = sign * x.localeCompare(y); }
      return c || (parseInt(a.getAttribute("data-order"), 10) - parseInt(b.getAttribute("data-order"), 10));
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.ranking"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.querySelector("button").addEventListener("click", function () {
        var now = th.getAttribute("aria-sort");
        var next = now === "ascending" ? "descending" : now === "descending" ? "ascending"
          : (th.getAttribute("data-first") || "ascending");
        sortBy(table, column, next);
      });
    });
  });
})();
"""
