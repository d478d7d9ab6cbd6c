"""The report's Markdown summary: the headline figures as text, for a PR, an issue or a log."""

from __future__ import annotations

from rmbench.leaderboard.render import md_escape
from rmbench.report.html import num, pct
from rmbench.report.load import RecordReport


def to_markdown(reports: list[RecordReport]) -> str:
    parts = []
    for r in reports:
        rec, a = r.record, r.analysis
        lines = [f"## {md_escape(r.label)}", "",
                 f"Suite {md_escape(r.suite_name)} v{md_escape(rec['suite']['version'])}, "
                 f"{len(r.rows)} examples, {a['comparisons']} comparisons. Headline: **{pct(rec.get('score'))}**.", "",
                 "| Subset | n | Accuracy [95% CI] | Truncated | Ties |", "|:---|---:|---:|---:|---:|"]
        for name, s in rec["subsets"].items():
            low, high = (s.get("ci95") or [None, None])[:2]
            ci = f" [{pct(low)}, {pct(high)}]" if low is not None else ""
            lines.append(f"| {md_escape(name)} | {s['n']} | {pct(s['accuracy'])}{ci} | {s.get('truncated', 0)} | "
                         f"{s.get('ties', 0)} |")
        lines.append("")
        length = (a.get("length") or {})
        for unit in ("tokens", "characters"):
            block = length.get(unit)
            if not block:
                continue
            lines += [f"Length bias ({unit}):", "",
                      "| Subset | Chosen longer | Acc. longer | Acc. shorter | Bias | Length-controlled | Spearman |",
                      "|:---|---:|---:|---:|---:|---:|---:|"]
            for name, s in [*block["subsets"].items(), ("all subsets", block["overall"])]:
                lines.append(f"| {md_escape(name)} | {pct(s['longer']['share'])} | {pct(s['longer']['accuracy'])} | "
                             f"{pct(s['shorter']['accuracy'])} | {num(s['bias'], 2)} | "
                             f"{pct(s['controlled_accuracy'])} | {num(s.get('spearman'), 2)} |")
            lines.append("")
        if not length:
            lines += [md_escape(a.get("length_note") or "lengths unavailable"), ""]
        calib = (a.get("calibration") or {}).get("overall")
        if calib:
            t = "separable" if calib.get("separable") else num(calib["temperature"])
            lines += [f"Calibration: ECE {num(calib['ece'])} ({calib['bins']} equal-mass bins), Brier "
                      f"{num(calib['brier'])}, log-loss {num(calib['log_loss'])}, fitted temperature {t}.", ""]
        order = (a.get("judge_order") or {}).get("overall")
        if order:
            lines += [f"Judge order consistency: {pct(order['consistency'])} of {order['decided']} decided "
                      f"comparisons; {order['unparsed']} unparsed verdicts.", ""]
        worst = a.get("worst") or []
        if worst:
            ids = ", ".join(md_escape(f"{w['subset']}/{w['id']}") for w in worst)
            lines += [f"Worst mistakes: {ids}", ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)
