"""`rmbench report`: one record (or a run's records) as a self-contained HTML page and Markdown.

load.py reads the records, their rows and (with texts) their data again; the analysis itself
lives in rmbench.evals.analysis, so the page shows exactly what results.json stores;
svg.py draws the figures, html.py and markdown.py lay them out.
"""

from __future__ import annotations

from pathlib import Path

from rmbench.errors import RmbenchError
from rmbench.report.html import to_html
from rmbench.report.load import RecordReport, load_reports
from rmbench.report.markdown import to_markdown
from rmbench.results import atomic_write

__all__ = ["RecordReport", "load_reports", "to_html", "to_markdown", "write_report"]


def write_report(path: str | Path, out: Path, texts: bool = False, data_root: str | None = None) -> tuple[Path, Path]:
    """The page at `out` and the Markdown summary beside it (same name, .md)."""
    reports = load_reports(path, texts=texts, data_root=data_root)
    if out.suffix.lower() == ".md":
        out = out.with_suffix(".html")
    md = out.with_suffix(".md")
    inputs = {p.resolve() for r in reports for p in (r.path, r.path.with_name("scores.jsonl"))}
    for target in (out, md):
        if target.resolve() in inputs:
            raise RmbenchError(f"--out {out}: that would overwrite the record {target}; name the page e.g. report.html")
    try:
        atomic_write(out, [to_html(reports)])
        atomic_write(md, [to_markdown(reports)])
    except OSError as err:
        raise RmbenchError(f"cannot write the report to {out}: {err.strerror or err}; choose another --out") from err
    return out, md
