"""The report as one self-contained HTML page: inline CSS and SVG, no script at all.

A page with no script cannot run one: every string from a record (subset names, ids,
model names, and with --texts the prompts and answers) goes through html.escape, and a
Content-Security-Policy forbids scripts and remote loads anyway, so a `<script>` smuggled
into a data file stays text even if an escape were missed.
"""

from __future__ import annotations

import html
import math

import rmbench.report.svg as svg
from rmbench import __version__
from rmbench.evals.metrics import RM_BENCH_STYLES
from rmbench.report.load import RecordReport

TEXT_CHARS = 1200  # per prompt or answer shown; longer texts say how much was left out

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:960px;color:#111827;
padding:0 1rem}h1{font-size:1.5rem}h2{border-bottom:1px solid #e5e7eb;padding-bottom:.3rem;margin-top:2.2rem}
h3{font-size:1.05rem;margin-top:1.4rem}table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
td,th{border:1px solid #e5e7eb;padding:.25rem .5rem;text-align:right}td.l,th.l{text-align:left}
.note{color:#4b5563;font-size:.88rem}.meta{color:#374151;font-size:.9rem}.figure{display:block;margin:.5rem 0}
pre{white-space:pre-wrap;word-break:break-word;background:#f9fafb;border:1px solid #e5e7eb;padding:.5rem;
font-size:.82rem;max-height:18rem;overflow:auto}.headline{font-size:2rem;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'"


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def pct(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def num(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def to_html(reports: list[RecordReport]) -> str:
    title = "rmbench report: " + ", ".join(r.label for r in reports[:3]) + (" ..." if len(reports) > 3 else "")
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
             f'<meta name="viewport" content="width=device-width, initial-scale=1">'
             f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>"]
    if len(reports) > 1:
        parts.append("<ol>" + "".join(f'<li><a href="#record-{n}">{esc(r.label)}</a> '
                                      f'<span class="note">{esc(r.path)}</span></li>' for n, r in enumerate(reports))
                     + "</ol>")
    parts += [_record(n, r) for n, r in enumerate(reports)]
    parts.append(f'<p class="note">Made by rmbench {esc(__version__)} from the records alone'
                 f"{'' if all(r.examples is None for r in reports) else ' and their data, read again'}.</p>")
    return "".join(parts) + "</body></html>\n"


def _record(n: int, r: RecordReport) -> str:
    rec = r.record
    out = [f'<section id="record-{n}"><h2>{esc(r.label)}</h2>',
           f'<p class="meta">suite {esc(r.suite_name)} v{esc(rec["suite"]["version"])} '
           f'({esc(rec["suite"]["score_rule"])}), model kind {esc(rec["model"].get("kind", "?"))}, '
           f'{len(r.rows)} examples, {r.analysis["comparisons"]} comparisons, made {esc(rec.get("created", "?"))}<br>'
           f'record: {esc(r.path)}</p>']
    out += _scores(rec)
    out += _length(r.analysis)
    out += _calibration(r)
    out += _histogram(r)
    out += _matrices(rec)
    out += _truncation(rec)
    out += _worst(r)
    return "".join(out) + "</section>"


def _scores(rec: dict) -> list[str]:
    out = ["<h3>Scores</h3>", f'<p><span class="headline">{pct(rec.get("score"))}</span> '
           f'<span class="note">headline ({esc(rec.get("score_rule", ""))})</span></p>']
    if rec.get("sections"):
        out.append("<table><tr><th class=l>section</th><th>score</th></tr>" + "".join(
            f"<tr><td class=l>{esc(k)}</td><td>{pct(v)}</td></tr>" for k, v in rec["sections"].items()) + "</table>")
    items = [(name, s.get("accuracy"), *(s.get("ci95") or [None, None])) for name, s in rec["subsets"].items()]
    out.append(svg.interval_bars("Accuracy per subset with 95% bootstrap interval", items))
    out.append('<p class="note">Bars: accuracy per subset; whiskers: 95% bootstrap interval over prompts; '
               "dashed line: chance (50%).</p>")
    return out


def _length(analysis: dict) -> list[str]:
    out = ["<h3>Length bias</h3>"]
    length = analysis.get("length")
    if not length:
        return out + [f'<p class="note">{esc(analysis.get("length_note") or "lengths unavailable")}</p>']
    for unit in ("tokens", "characters"):
        block = length.get(unit)
        if not block:
            continue
        items = [(name, s["longer"]["accuracy"], s["shorter"]["accuracy"],
                  f"longer {pct(s['longer']['share'])}") for name, s in block["subsets"].items()]
        o = block["overall"]
        items.append(("all subsets", o["longer"]["accuracy"], o["shorter"]["accuracy"],
                      f"longer {pct(o['longer']['share'])}"))
        out.append(svg.paired_bars(f"Accuracy when the chosen answer is longer vs shorter ({unit})", items,
                                   ("chosen longer", "chosen shorter")))
        out.append(f"<table><tr><th class=l>subset ({esc(unit)})</th><th>chosen longer</th><th>acc. longer</th>"
                   "<th>acc. shorter</th><th>equal</th><th>bias</th><th>length-controlled acc.</th>"
                   "<th>Spearman(reward, length)</th></tr>")
        for name, s in [*block["subsets"].items(), ("all subsets", o)]:
            out.append(f"<tr><td class=l>{esc(name)}</td><td>{pct(s['longer']['share'])}</td>"
                       f"<td>{pct(s['longer']['accuracy'])}</td><td>{pct(s['shorter']['accuracy'])}</td>"
                       f"<td>{pct(s['equal']['share'])}</td><td>{num(s['bias'], 2)}</td>"
                       f"<td>{pct(s['controlled_accuracy'])}</td><td>{num(s.get('spearman'), 2)}</td></tr>")
        out.append("</table>")
    out.append('<p class="note">Bias = accuracy when the chosen answer is longer minus when it is shorter: +1 always '
               "prefers the longer answer (baseline:length), 0 ignores length. The length-controlled accuracy weighs "
               "the two kinds equally within each subset (equal lengths left out).</p>")
    return out


def _calibration(r: RecordReport) -> list[str]:
    out = ["<h3>Calibration</h3>"]
    calib = r.analysis.get("calibration")
    if calib:
        o = calib["overall"]
        out.append('<div class="grid">' + svg.reliability("Reliability diagram (equal-mass bins)", o["reliability"]))
        out.append("<table><tr><th class=l>subset</th><th>ECE</th><th>Brier</th><th>log-loss</th>"
                   "<th>temperature</th></tr>")
        for name, s in [*calib["subsets"].items(), ("all subsets", o)]:
            t = "separable" if s.get("separable") else num(s["temperature"], 3)
            out.append(f"<tr><td class=l>{esc(name)}</td><td>{num(s['ece'])}</td><td>{num(s['brier'])}</td>"
                       f"<td>{num(s['log_loss'])}</td><td>{t}</td></tr>")
        out.append("</table></div>")
        out.append('<p class="note">P(chosen preferred) = sigmoid(reward margin). ECE: top-label confidence against '
                   f"accuracy in {o['bins']} equal-mass bins. Temperature: the T minimising the log-loss of "
                   "sigmoid(margin / T) on this record, reported only (accuracy is unchanged); '-' when no finite "
                   "T helps.</p>")
    order = r.analysis.get("judge_order")
    if order:
        out.append("<table><tr><th class=l>subset</th><th>comparisons</th><th>decided both orders</th>"
                   "<th>same answer both orders</th><th>unparsed verdicts</th></tr>")
        for name, s in [*order["subsets"].items(), ("all subsets", order["overall"])]:
            out.append(f"<tr><td class=l>{esc(name)}</td><td>{s['comparisons']}</td><td>{s['decided']}</td>"
                       f"<td>{pct(s['consistency'])}</td><td>{s['unparsed']}</td></tr>")
        out.append('</table><p class="note">A pairwise judge is asked each comparison twice, answers swapped; it is '
                   "consistent when it picks the same answer both times.</p>")
    if not calib and not order:
        out.append('<p class="note">No real-valued rewards and no judge verdicts in this record.</p>')
    return out


def _histogram(r: RecordReport) -> list[str]:
    chosen = [float(v) for row in r.rows for v in row.get("chosen_scores") or [] if v is not None]
    rejected = [float(v) for row in r.rows for v in row.get("rejected_scores") or [] if v is not None]
    if not chosen or not rejected:
        return []
    return ["<h3>Rewards of chosen and rejected answers</h3>",
            svg.histograms("Reward histograms: chosen vs rejected", chosen, rejected)]


def _matrices(rec: dict) -> list[str]:
    found = [(name, s["matrix"]) for name, s in rec["subsets"].items() if s.get("matrix")]
    if not found:
        return []
    out = ["<h3>Style matrix (RM-Bench)</h3>", '<div class="grid">']
    for name, matrix in found:
        out.append(f'<div><p class="meta">{esc(name)}</p>'
                   + svg.heat_map(f"{name}: accuracy by chosen style (rows) and rejected style (columns)", matrix,
                                  RM_BENCH_STYLES, RM_BENCH_STYLES) + "</div>")
    out.append('</div><p class="note">Upper triangle: hard (chosen answer plainer than the rejected one); diagonal: '
               "normal; lower triangle: easy.</p>")
    return out


def _truncation(rec: dict) -> list[str]:
    rows = "".join(f"<tr><td class=l>{esc(name)}</td><td>{s.get('n', '-')}</td><td>{s.get('truncated', 0)}</td>"
                   f"<td>{s.get('ties', 0)}</td></tr>" for name, s in rec["subsets"].items())
    return ["<h3>Truncation and ties</h3>", "<table><tr><th class=l>subset</th><th>examples</th>"
            f"<th>examples with a truncated input</th><th>tied comparisons</th></tr>{rows}"
            f"<tr><td class=l>all</td><td></td><td>{rec.get('truncated', 0)}</td><td>{rec.get('ties', 0)}</td></tr>"
            "</table>"]


def _clip(text: str) -> str:
    if len(text) <= TEXT_CHARS:
        return esc(text)
    return esc(text[:TEXT_CHARS]) + f"\n[... {len(text) - TEXT_CHARS} more characters not shown]"


def _prob(p: float) -> str:
    return "< 1e-6" if p < 1e-6 else f"= {p:.3g}"


def _worst(r: RecordReport) -> list[str]:
    worst = r.analysis.get("worst") or []
    out = ["<h3>Worst mistakes</h3>"]
    if not worst:
        return out + ['<p class="note">No comparison lost outright.</p>']
    what = ("largest reward margins for the rejected answer" if not r.judged
            else "comparisons the judge lost in both answer orders")
    out.append(f'<p class="note">The {len(worst)} {what}.'
               + ("" if r.examples else " Texts are not kept in records: rerun with --texts to show them.") + "</p>")
    for w in worst:
        head = (f"{esc(w['subset'])} / {esc(w['id'])}: chosen #{w['chosen']} vs rejected #{w['rejected']}"
                + (f", margin {w['margin']:.4g}, P(chosen) {_prob(w['p_chosen'])}" if "margin" in w else ""))
        out.append(f'<div class="worst"><p class="meta"><b>{head}</b></p>')
        ex = r.examples.get((w["subset"], w["id"])) if r.examples else None
        if ex is not None:
            prompt = "\n\n".join(f"[{m.get('role', '?')}] {m.get('content', '')}" for m in ex.prompt)
            out.append(f"<p class=note>prompt</p><pre>{_clip(prompt)}</pre>"
                       f"<p class=note>chosen</p><pre>{_clip(ex.chosen[w['chosen']])}</pre>"
                       f"<p class=note>rejected</p><pre>{_clip(ex.rejected[w['rejected']])}</pre>")
        out.append("</div>")
    return out
